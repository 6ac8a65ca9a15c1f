-- pool:parallel and the blocks a pool's workers keep between tasks, across real processes:
-- results in chunk order, chunk sizes, strided and read-only views, a view sent again found
-- mapped (no new faults, one mapping), a name unlinked or made again between calls never
-- served stale (and its memory let go by idle workers), a worker killed mid-call, bad
-- arguments; nothing left in /dev/shm.
local H = require "helper"
local shm = require "shm"

local pools, blocks = {}, {}
local prefix -- every name made here starts with it
local function pool(n)
  local p = shm.pool(n, { name = prefix .. "-pool" .. #pools })
  pools[#pools + 1] = p
  return p
end
-- A block with a name (the workers attach by name), unlinked in after_each.
local function named(size, name)
  local m = assert(shm.create(size, name or prefix .. "-block" .. #blocks))
  blocks[#blocks + 1] = m
  return m
end
before_each(function() prefix = H.name("ppool") end)
after_each(function()
  for _, p in ipairs(pools) do p:terminate() end
  for _, m in ipairs(blocks) do
    m:unlink()
    m:close()
  end
  pools, blocks = {}, {}
  for name in pairs(H.dev_shm()) do
    assert.is_nil(name:find(prefix, 1, true), name .. " left in /dev/shm")
  end
end)

local function stat(field) -- a field of /proc/self/stat: 1 the pid, 10 minor faults
  local f = assert(io.open("/proc/self/stat"))
  local s = f:read("*a")
  f:close()
  if field == 1 then return tonumber(s:match("^%d+")) end
  local rest = s:match("%) (.*)$")
  local k = 3
  for word in rest:gmatch("%S+") do
    if k == field then return tonumber(word) end
    k = k + 1
  end
end

-- In a worker: its pid and how many of its mappings are of /dev/shm/name (deleted or not).
local function mappings(name)
  local f = assert(io.open("/proc/self/maps"))
  local count, deleted = 0, 0
  for line in f:lines() do
    if line:find("/dev/shm/" .. name, 1, true) then
      count = count + 1
      if line:find("(deleted)", 1, true) then deleted = deleted + 1 end
    end
  end
  f:close()
  return count, deleted
end

describe("pool:parallel", function()
  it("runs fn on as many contiguous chunks as workers, results in order, as shm.parallel's",
    function()
      local p = pool(3)
      local m = named(8 * 10)
      local a = m:array("float64"):arange(1)
      local r = p:parallel(a, function(c) return { #c, c[1], c[#c], c:sum() } end)
      assert.same({ n = 3, { 4, 1, 4, 10 }, { 3, 5, 7, 18 }, { 3, 8, 10, 27 } }, r)
      -- the same chunks as shm.parallel's
      local forked = shm.parallel(3, a, function(c) return { #c, c[1], c[#c], c:sum() } end)
      assert.same(forked, r)
      -- fewer elements than workers: fewer chunks; none: one empty chunk
      assert.same({ 1, 1, n = 2 }, p:parallel(a:view(1, 2), function(c) return #c end))
      assert.same({ 0, n = 1 }, p:parallel(a:view(1, 0), function(c) return #c end))
      -- the workers write in place; the first result of each call only
      local firsts = p:parallel(a, function(c) c:cmul(2) return c[1], "dropped" end)
      assert.same({ 2, 10, 16, n = 3 }, firsts)
      assert.equal(110, a:sum())
    end)

  it("works on strided, reversed and 2-D column views", function()
    local p = pool(2)
    local m = named(8 * 12)
    local a = m:array("int64"):arange(1)
    assert.same({ { 1, 3, 5 }, { 7, 9, 11 }, n = 2 },
      p:parallel(a:view(1, -1, 2), function(c) return c:totable() end))
    assert.same({ { 12, 11, 10, 9, 8, 7 }, { 6, 5, 4, 3, 2, 1 }, n = 2 },
      p:parallel(a:view(1, -1, -1), function(c) return c:totable() end))
    local col = a:reshape(4, 3):col(2) -- 2, 5, 8, 11
    assert.same({ 7, 19, n = 2 }, p:parallel(col, function(c) return c:sum() end))
    p:parallel(col, function(c) c:fill(0) end)
    assert.same({ 1, 0, 3, 4, 0, 6, 7, 0, 9, 10, 0, 12 }, a:totable())
  end)

  it("keeps a read-only view read-only in the workers, a writable one writable", function()
    local p = pool(1)
    local m = named(64)
    local ro = assert(shm.attach(m.name, { readonly = true })):array("int64")
    local rw = m:array("int64")
    local function write(c)
      local ok, err = pcall(function() c[1] = 7 end)
      return { ok, (err and tostring(err):match("read%-only") ~= nil) or false }
    end
    -- in either order, the worker keeping what it attached first
    assert.same({ { false, true }, n = 1 }, p:parallel(ro, write))
    assert.same({ { true, false }, n = 1 }, p:parallel(rw, write))
    assert.same({ { false, true }, n = 1 }, p:parallel(ro, write))
    assert.equal(7, rw[1])
    assert.error_matches(function() ro[1] = 1 end, "read%-only") -- the parent's, as it was
  end)

  it("finds a view sent again mapped: no new page faults, one mapping", function()
    if not io.open("/proc/self/stat") then return pending("no /proc") end
    local p = pool(2)
    local m = named(64 * 1024 * 1024)
    local a = m:array("float64")
    a:fill(1)
    local function sum(c)
      local before = stat(10) -- minflt
      local s = c:sum()
      return { s, stat(10) - before, (mappings(m.name)) }
    end
    local first = p:parallel(a, sum)
    assert.equal(#a, first[1][1] + first[2][1])
    assert.is_true(first[1][2] > 100 and first[2][2] > 100) -- 2048 pages each, fault-around
    for _ = 1, 3 do
      local again = p:parallel(a, sum)
      for k = 1, 2 do
        assert.equal(first[k][1], again[k][1])
        assert.is_true(again[k][2] < first[k][2] / 10, "faults " .. again[k][2])
        assert.equal(1, again[k][3])
      end
    end
  end)

  it("never serves a name unlinked and made again between calls from the old mapping",
    function()
      local p = pool(2)
      local name = prefix .. "-remade"
      local m = named(8 * 100, name)
      m:array("float64"):fill(1)
      local a = m:array("float64")
      local function look(c) return { c:sum(), mappings(name) } end
      local before = p:parallel(a, look)
      assert.same({ { 50, 1, 0 }, { 50, 1, 0 }, n = 2 }, before)
      -- made again, same name and size, other contents
      m:unlink()
      m:close()
      blocks[#blocks] = nil
      local again = named(8 * 100, name)
      again:array("float64"):fill(2)
      -- the old object is not kept: one mapping, of the new one (not "(deleted)")
      assert.same({ { 100, 1, 0 }, { 100, 1, 0 }, n = 2 }, p:parallel(again:array("float64"), look))
      -- a function whose upvalue is a view of it: found again, not stale, after a remake
      local w = again:array("float64", 1, 1)
      local function scaled(c) return c:sum() * w[1] end
      assert.same({ 200, 200, n = 2 }, p:parallel(again:array("float64"), scaled))
      again:unlink()
      again:close()
      blocks[#blocks] = nil
      local third = named(8 * 100, name)
      third:array("float64"):fill(3)
      w = third:array("float64", 1, 1)
      assert.same({ 450, 450, n = 2 }, p:parallel(third:array("float64"), scaled))
      -- unlinked and not made again: an error, never the old memory
      third:unlink()
      local ok, err = pcall(p.parallel, p, third:array("float64"), function(c) return c:sum() end)
      assert.is_false(ok)
      assert.matches("pool:parallel: chunk #1: cannot attach the array '" .. name, err, 1, true)
      third:close()
      blocks[#blocks] = nil
      assert.same({ 1, n = 1 }, p:map(function(x) return x end, { 1 })) -- the pool goes on
    end)

  it("lets go of a block unlinked while the workers are idle", function()
    if not io.open("/proc/self/maps") then return pending("no /proc") end
    local p = pool(2)
    local m = named(8 * 100)
    local a = m:array("float64")
    local pids = p:parallel(a, function() return stat(1) end)
    local function mapped(pid)
      local f = io.open("/proc/" .. pid .. "/maps")
      local s = f and f:read("*a") or ""
      if f then f:close() end
      return s:find("/dev/shm/" .. m.name, 1, true) ~= nil
    end
    assert.is_true(mapped(pids[1]) and mapped(pids[2]))
    m:unlink()
    local deadline = H.now() + 10
    while (mapped(pids[1]) or mapped(pids[2])) and H.now() < deadline do
      os.execute("sleep 0.1")
    end
    assert.is_false(mapped(pids[1]) or mapped(pids[2]))
    m:close()
    blocks[#blocks] = nil
  end)

  it("fails the call clearly when a worker is killed mid-call; the pool goes on", function()
    local p = pool(2)
    local m = named(8 * 64)
    local a = m:array("int64"):arange(1)
    local ok, err = pcall(p.parallel, p, a, function(c)
      if c[1] == 33 then os.execute("kill -9 " .. stat(1)) end
      return c:sum()
    end)
    assert.is_false(ok)
    assert.matches("pool:parallel: chunk #2: the worker was killed by signal 9", err, 1, true)
    assert.equal(2, p.n)
    assert.same({ 528, 1552, n = 2 }, p:parallel(a, function(c) return c:sum() end))
  end)

  it("gives a chunk's error with its traceback; refuses bad arguments", function()
    local p = pool(2)
    local m = named(64)
    local a = m:array("int64")
    local ok, err = pcall(p.parallel, p, a, function(c)
      if c[1] == 0 and #c == 4 then error("boom") end
    end)
    assert.is_false(ok)
    assert.matches("^pool:parallel: chunk #1: .*boom\nstack traceback", err)
    assert.error_matches(function() p:parallel({}, print) end,
      "bad argument #1 to 'parallel' %(shm.array expected, got table%)")
    assert.error_matches(function() p:parallel(a, 1) end, "bad argument #2 %(function expected%)")
    local closed = assert(shm.create(64))
    local view = closed:array("int64")
    closed:unlink()
    closed:close()
    local closedok, closederr = pcall(p.parallel, p, view, print)
    assert.is_false(closedok)
    assert.matches("^block '.*' is closed$", closederr)
    p:close()
    assert.error_matches(function() p:parallel(a, print) end, "the pool is closed")
  end)
end)

describe("a pool's kept blocks", function()
  it("serve submit's arguments too; an argument that cannot be sent or attached fails clearly",
    function()
      local p = pool(1)
      local m = named(64)
      local a = m:array("int64"):arange(1)
      local function look(v) return v:sum(), (mappings(m.name)) end
      for _ = 1, 3 do assert.same({ true, 36, 1 }, { p:submit(look, a):wait(30) }) end
      local ok, err = pcall(p.submit, p, look, a, io.stdout)
      assert.is_false(ok)
      assert.matches("pool:submit: arguments: value #2: a userdata", err, 1, true)
      local gone = named(64)
      local view = gone:array("int64")
      gone:unlink()
      local r = { p:submit(look, view):wait(30) }
      assert.same({ nil, "error" }, { r[1], r[2] })
      assert.matches("cannot attach the array", r[3], 1, true)
      assert.same({ true, 36, 1 }, { p:submit(look, a):wait(30) }) -- the pool goes on
    end)
end)
