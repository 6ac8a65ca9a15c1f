-- shm.pool across real processes: map, imap, imap_unordered, submit and futures; task errors
-- (to that task's caller only), workers killed mid-task (that task fails, no other is lost or
-- run twice, the worker is replaced), maxtasks, init, close, terminate, garbage collection,
-- Ctrl-C in the parent; no children and no names left behind.
local H = require "helper"
local shm = require "shm"
local unpack = table.unpack or unpack

local pools = {}
local function pool(n, opts)
  local p = shm.pool(n, opts)
  pools[#pools + 1] = p
  return p
end
after_each(function()
  for _, p in ipairs(pools) do p:terminate() end
  pools = {}
end)

-- Whether a process with that pid exists (a zombie counts).
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if f then f:close() end
  return f ~= nil
end

local function range(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

-- A pool of one worker, and its results queue attached by name (to take replies off it and
-- put others on, as another writer could).
local function poolandresults(prefix)
  local name = H.name(prefix)
  local p = pool(1, { name = name })
  return p, assert(shm.queue.attach(name .. "-results"))
end

describe("shm.pool", function()
  it("maps a function made after the workers started, results in input order", function()
    local p = pool(2)
    local offset = 1000 -- an upvalue the workers never saw: the function travels
    local function f(x) return x * x + offset end
    for _, chunksize in ipairs({ 1, 3, 1000 }) do
      local r = p:map(f, range(50), chunksize)
      assert.equal(50, r.n)
      for i = 1, 50 do assert.equal(i * i + offset, r[i]) end
    end
    local r = p:map(f, range(1000))
    assert.equal(1000 * 1000 + offset, r[1000])
    assert.same({ n = 0 }, p:map(f, {}))
    local holes = p:map(function(x) if x % 2 == 0 then return x end end, range(6))
    assert.same({ n = 6, [2] = 2, [4] = 4, [6] = 6 }, holes)
    -- a nil input is an input: fn is called with it, also at the end of a chunk
    local none = function(x) if x == nil then return "none" end return x end
    assert.same({ n = 4, 1, 2, "none", 4 }, p:map(none, { 1, 2, nil, 4 }, 3))
    assert.same({ n = 4, 1, "none", "none", 4 }, p:map(none, { 1, nil, nil, 4 }, 2))
    assert.same({ n = 2, { a = { "b" } }, { a = { "b" } } },
      p:map(function() return { a = { "b" } } end, { 1, 2 }))
  end)

  it("fails a map whose chunk is too large for the queues, packed or not, and goes on", function()
    local p = pool(1, { bytes = 4096 })
    local ints, strings = range(2000), {}
    for i = 1, 2000 do strings[i] = "s" .. i end
    local same = function(x) return x end
    for _, inputs in ipairs({ ints, strings }) do
      local ok, err = pcall(p.map, p, same, inputs, 2000)
      assert.is_false(ok)
      assert.matches("pool:map: input #1: task too large for the pool's queues: .*message " ..
        "longer than the queue's 4096 bytes", err)
      local r = p:map(same, inputs, 100) -- chunks that fit
      assert.equal(inputs[2000], r[2000])
    end
  end)

  it("returns a map's results in a table no larger than a list of its length", function()
    -- setting r.n on a table with no room for it rehashed the whole list, which also grew
    -- the list part to the next power of 2 (5000 items took the room of 8192)
    local p = pool(1)
    local inputs = range(5000)
    local function same(x) return x end
    -- the worker and the encoder warmed up, and the stack the pool keeps to make a table of
    -- integer results (two slots a result, made by the first maps, used again by each)
    p:map(same, inputs)
    p:map(same, inputs)
    collectgarbage()
    collectgarbage()
    local base = collectgarbage("count")
    local r = p:map(same, inputs)
    collectgarbage()
    collectgarbage()
    local used = collectgarbage("count") - base
    local list = { unpack(inputs) } -- a list part of exactly 5000
    collectgarbage()
    local listed = collectgarbage("count") - base - used
    assert.equal(5000, r.n)
    assert.is_true(used < 1.2 * listed, ("results %.0f KB, a list %.0f KB"):format(used, listed))
    assert.equal(5000, #list)
  end)

  it("carries chunks of integers packed, and any other list item by item, kinds kept", function()
    local p = pool(2)
    local big = { math.maxinteger or 2 ^ 53, math.mininteger or -2 ^ 53, 0, -1, 255, 256 }
    local same = function(x) return x end
    assert.same({ n = 6, unpack(big) }, p:map(same, big, 3))
    -- a chunk that is not integers only, wherever the odd one is, goes item by item
    for _, odd in ipairs({ 2.5, "3", true, { 4 } }) do
      for at = 1, 4 do
        local t = range(4)
        t[at] = odd
        assert.same({ n = 4, unpack(t) }, p:map(same, t, 4))
      end
    end
    if _VERSION == "Lua 5.4" then -- floats with integer values stay floats, both ways
      local types = assert(load([[
        local p, same = ...
        local r = p:map(same, { 1, 2, 3.0 }, 3)
        local back = p:map(function(x) return x == 3 and 3.0 or x end, { 1, 2, 3 }, 3)
        return math.type(r[1]), math.type(r[3]), math.type(back[2]), math.type(back[3])
      ]]))
      assert.same({ "integer", "float", "integer", "float" }, { types(p, same) })
    end
  end)

  it("keeps every result in place when only some chunks' results are integers", function()
    -- integer results are collected until the map ends (one table made of them all); the
    -- first chunk with any other result sends those collected to the table, and the rest
    -- go there; a map past the collector's size (32768) is not collected
    local function odd(x)
      if x % 10 == 7 then return x + 0.5 end
      if x % 10 == 8 then return nil end
      if x % 10 == 9 then return tostring(x) end
      return x
    end
    local function expected(n, oddfrom)
      local t = { n = n }
      for i = 1, n do t[i] = i >= oddfrom and odd(i) or i end
      return t
    end
    for _, workers in ipairs({ 1, 2 }) do
      local p = pool(workers)
      for _, oddfrom in ipairs({ 1, 5, 13, 25, 100 }) do -- the first odd chunk: 1, 2, 4, 7, none
        local f = function(x) return x >= oddfrom and odd(x) or x end
        assert.same(expected(30, oddfrom), p:map(f, range(30), 4))
      end
      local n = 32769
      local r = p:map(function(x) return x * 2 end, range(n), 8192)
      assert.equal(n, r.n)
      assert.equal(2, r[1])
      assert.equal(2 * n, r[n])
    end
  end)

  it("a reply with more results than its map has fails its task, not the pool", function()
    if math.type == nil then return end -- no integers: results are never packed
    local p, q = poolandresults("poolforged")
    local same = function(x) return x end
    assert.same({ n = 9, unpack(range(9)) }, p:map(same, range(9), 3)) -- tasks 1, 2, 3
    -- the reply of task 5 (the next map's second chunk), packed, with 100 integers
    local forged = { "\183\1[", string.pack("<I4", 3), "i", string.pack("<i8", 5), "t#",
                     string.pack("<I4", 100) }
    for i = 1, 100 do forged[#forged + 1] = string.pack("<i8", i) end
    q:push(table.concat(forged))
    local ok, err = pcall(p.map, p, same, range(9), 3)
    assert.is_false(ok)
    assert.matches("pool:map: input #4: a corrupt reply on the pool's results queue", err, 1,
      true)
    assert.same({ n = 9, unpack(range(9)) }, p:map(same, range(9), 3))
    q:close()
  end)

  it("sends a chunk's integer results packed inside its reply, read back into place", function()
    -- the second chunk's reply is taken off the results queue (by name, as bytes) and put
    -- back: results of integers only are {id, true, the integers packed}, one encoding of
    -- 22 + 8 n bytes (where Lua has integers); any other go as before, a string inside
    -- a table; either is read into place, and a corrupt one is an error, not a crash
    local p, q = poolandresults("poolreply")
    local native = math.type ~= nil
    local big = { math.maxinteger or 2 ^ 53, -1, 0, 7, math.mininteger or -2 ^ 53, 1 }
    local mixed = { 1, 2, 3, 4, 5.5, "6" }
    local same = function(x) return x end
    for _, inputs in ipairs({ big, mixed, big }) do
      local it = p:imap(same, inputs, 3)
      assert.same({ 1, inputs[1] }, { it() })
      local reply = assert(q:pop(10))
      if native and inputs == big then -- a list of 3: id, true, 3 integers
        assert.equal(22 + 8 * 3, #reply)
        assert.equal("[\3\0\0\0", reply:sub(3, 7))
        assert.equal("t#\3\0\0\0", reply:sub(17, 22))
      else -- a table {id, true, "encoded results"}
        assert.equal("{", reply:sub(3, 3))
      end
      q:push(reply)
      local got = {}
      for i, v in it do got[i] = v end
      assert.same({ nil, unpack(inputs, 2) }, got)
    end
    q:close()
  end)

  it("a corrupt reply fails the task it names, or every task in flight if it names none",
    function()
    -- replies taken off the results queue by name and put back damaged, as a hostile writer
    -- could: the task the message names fails (to its caller, with the input's index), and
    -- the pool goes on; a message that names no task may have replaced any reply, so every
    -- task a worker holds fails (none waits for ever), and the real reply is dropped
    local p, q = poolandresults("poolcorrupt")
    local same = function(x) return x end
    local ints, mixed = range(9), { 1, 2, 3, 4, 5.5, "6", 7, 8, 9 }
    for _, inputs in ipairs({ ints, mixed }) do -- results packed in the reply, or not
      local it = p:imap(same, inputs, 3)
      assert.same({ 1, inputs[1] }, { it() })
      q:push(assert(q:pop(10)):sub(1, -2)) -- the second chunk's reply, one byte short
      local ok, err = pcall(function() for _ in it do end end)
      assert.is_false(ok)
      assert.matches("pool:imap: input #4: a corrupt reply on the pool's results queue", err,
        1, true)
      assert.equal("running", p.state)
      assert.same(inputs, { unpack(p:map(same, inputs, 3), 1, 9) })
    end
    local f = p:submit(function() return "late" end)
    local reply = assert(q:pop(10))
    q:push(reply:sub(1, 12)) -- cut inside the id: it names no task
    local ok, kind, msg = f:wait(10)
    assert.same({ nil, "error" }, { ok, kind })
    assert.matches("a corrupt reply on the pool's results queue", msg, 1, true)
    -- garbage naming no task, read while the next task is in flight: that one fails
    local function late() return p:submit(function() return "late" end):wait(10) end
    local function fails()
      local late_ok, late_kind = late()
      assert.same({ nil, "error" }, { late_ok, late_kind })
    end
    q:push("not an encoding at all")
    fails()
    assert.truthy(q:put(42)) -- one value, but no reply
    fails()
    q:push(reply) -- the failed task's real reply: dropped
    assert.same({ true, "late" }, { late() })
    assert.same(ints, { unpack(p:map(same, ints, 3), 1, 9) })
    q:close()
  end)

  it("imap gives (index, result) in input order, imap_unordered each index once", function()
    local p = pool(3)
    local seen = {}
    for i, v in p:imap(function(x) return -x end, range(40), 3) do
      seen[#seen + 1] = i
      assert.equal(-i, v)
    end
    assert.same(range(40), seen)
    local got, count = {}, 0
    for i, v in p:imap_unordered(function(x) return x * 2 end, range(40)) do
      assert.is_nil(got[i])
      got[i] = v
      count = count + 1
    end
    assert.equal(40, count)
    for i = 1, 40 do assert.equal(2 * i, got[i]) end
  end)

  it("submit returns futures: wait, poll, done, timeouts", function()
    local p = pool(2)
    local f = p:submit(function(a, b) return a + b, "sum", nil end, 2, 3)
    assert.same({ true, 5, "sum", nil }, { f:wait(10) })
    assert.is_true(f.done)
    local slow = p:submit(function() os.execute("sleep 0.5") return 1 end)
    assert.same({ nil, "running" }, { slow:poll() })
    assert.is_false(slow.done)
    assert.same({ nil, "timeout" }, { slow:wait(0.05) })
    assert.same({ true, 1 }, { slow:wait(10) })
    assert.same({ true, 1 }, { slow:poll() })
  end)

  it("gives a task's error, with its traceback, to that task's caller only", function()
    local p = pool(2)
    local ok, err = pcall(p.map, p, function(x)
      if x == 7 then error("seven is bad") end
      return x
    end, range(10), 1)
    assert.is_false(ok)
    assert.matches("^pool:map: input #7: .*pool_spec.lua:%d+: seven is bad\nstack traceback:", err)
    local good = p:submit(function() return "fine" end)
    local bad = p:submit(function() error({}) end)
    assert.same({ true, "fine" }, { good:wait(10) })
    local r = { bad:wait(10) }
    assert.same({ nil, "error" }, { r[1], r[2] })
    assert.matches("error object is a table value", r[3], 1, true)
    assert.same({ n = 3, 1, 2, 3 }, p:map(function(x) return x end, { 1, 2, 3 })) -- goes on
    assert.has_error(function()
      for _ in p:imap(function(x) if x == 2 then error("two") end return x end, range(3)) do end
    end)
    ok, err = pcall(p.map, p, function() return io.stdout end, { 1 })
    assert.is_false(ok)
    assert.matches("input #1: result: value #1: " .. H.FILE .. " cannot be sent", err, 1, true)
    assert.error_matches(function() p:map(function() return io.stdout end) end, "table expected")
    -- an input that cannot be sent fails the call at it; the chunks before it ran, the pool goes on
    local inputs = range(10)
    inputs[8] = io.stdout
    ok, err = pcall(p.map, p, function(x) return x end, inputs, 3)
    assert.is_false(ok)
    assert.equals(1, err:find("pool:map: input #8: value #1: " .. H.FILE .. " cannot be sent", 1,
      true))
    -- an error in the middle of a chunk names its input, with the task's frames only
    ok, err = pcall(p.map, p, function(x)
      if x == 7 then error("seven is bad") end
      return x
    end, range(10), 5)
    assert.is_false(ok)
    assert.matches("^pool:map: input #7: .*pool_spec.lua:%d+: seven is bad\nstack traceback:", err)
    assert.is_nil(err:find("pool.lua", 1, true))
    -- a stack overflow in a task names its input at once: the message handler finds the
    -- loop's frame from the bottom of the stack (looked for level by level from the top, it
    -- took minutes); in a child, so that a hang fails the spec instead of stopping the suite
    local h = shm.spawn(function()
      local q = shm.pool(1)
      local function deep(n) return 1 + deep(n + 1) end
      local fine, e = pcall(q.map, q, function(x)
        if x == 3 then return deep(1) end
        return x
      end, range(5), 5)
      q:terminate()
      return fine, e
    end)
    local r = { h:wait(60) }
    if r[1] == nil then -- hung (the spec fails): Ctrl-C, then SIGKILL; names may be left
      h:kill("INT")
      if not h:wait(10) then
        h:kill("KILL")
        h:wait()
      end
    end
    assert.same({ true, false }, { r[1], r[2] })
    assert.matches("^pool:map: input #3: .*stack overflow", r[3])
    -- the same with progress counted after each input, at a chunk's first and last inputs
    for _, bad in ipairs({ 6, 10 }) do
      ok, err = pcall(p.map, p, function(x)
        if x == bad then error("bad one") end
        return x
      end, range(10), { chunksize = 5, progress = true })
      assert.is_false(ok)
      assert.matches("^pool:map: input #" .. bad .. ": .*pool_spec.lua:%d+: bad one\nstack", err)
    end
    assert.same({ n = 3, 2, 3, 4 }, p:map(function(x) return x + 1 end, { 1, 2, 3 }))
  end)

  it("fails only the task a killed worker held, replaces the worker, loses and repeats none",
    function()
      local p = pool(2)
      local m = assert(shm.create(8 * 64)) -- by name to the workers: not unlinked until the end
      local runs, pids = m:array("int64", 1, 32), m:array("int64", 257, 32)
      local futures = {}
      for i = 1, 20 do
        futures[i] = p:submit(function(k)
          runs:add(k, 1)
          if k == 5 then
            pids[k] = tonumber(io.open("/proc/self/stat"):read("*n"))
            local t = os.time() + 30
            while os.time() < t do end
          end
          return k
        end, i)
      end
      local deadline = H.now() + 20
      -- work is handed out while the parent is in a pool call (here: poll)
      while pids[5] == 0 and H.now() < deadline do futures[5]:poll() end
      assert.is_true(pids[5] > 0)
      os.execute("kill -9 " .. pids[5])
      for i = 1, 20 do
        local r = { futures[i]:wait(30) }
        if i == 5 then
          assert.same({ nil, "signal", 9 }, r)
        else
          assert.same({ true, i }, r)
        end
        assert.equal(1, runs[i]) -- each run exactly once
      end
      local r = p:map(function(x) return x + 1 end, range(10)) -- the pool goes on, 2 workers
      assert.equal(11, r[10])
      local exited = p:submit(function() os.exit(3) end)
      assert.same({ nil, "exit", 3 }, { exited:wait(10) })
      assert.equal(4, p:map(function(x) return x end, range(4)).n)
      m:unlink()
      m:close()
    end)

  it("replaces a worker after maxtasks tasks, and runs init once in each", function()
    local p = pool(2, { maxtasks = 2, init = function() _G.initialized = (_G.initialized or 0) + 1 end })
    local pids, inits = {}, {}
    local r = p:map(function()
      return { tonumber(io.open("/proc/self/stat"):read("*n")), _G.initialized }
    end, range(12), 1)
    for i = 1, 12 do
      pids[r[i][1]] = (pids[r[i][1]] or 0) + 1
      inits[#inits + 1] = r[i][2]
    end
    local workers = 0
    for _, n in pairs(pids) do
      workers = workers + 1
      assert.is_true(n <= 2)
    end
    assert.is_true(workers >= 6)
    for _, n in ipairs(inits) do assert.equal(1, n) end
    local failing = shm.pool(1, { init = function() error("no init today") end })
    local ok, err = pcall(failing.map, failing, function(x) return x end, { 1 })
    assert.is_false(ok)
    assert.matches("^shm.pool: init failed in a worker: .*no init today", err)
    assert.error_matches(function() failing:map(function(x) return x end, { 1 }) end,
      "the pool is terminated")
  end)

  it("close finishes what was given, then ends and reaps the workers; names are gone", function()
    local name = H.name("pool")
    local p = shm.pool(2, { name = name })
    assert.is_true(H.exists(name .. "-results"))
    assert.is_true(H.exists(name .. "-tasks1"))
    local pids = p:map(function() return tonumber(io.open("/proc/self/stat"):read("*n")) end,
      range(8), 1)
    local late = p:submit(function() os.execute("sleep 0.2") return "late" end)
    p:close()
    assert.is_true(late.done)
    assert.same({ true, "late" }, { late:wait() })
    for i = 1, 8 do assert.is_false(alive(pids[i])) end
    assert.is_false(H.exists(name .. "-results"))
    assert.is_false(H.exists(name .. "-tasks1"))
    assert.error_matches(function() p:map(print, { 1 }) end, "the pool is closed")
    assert.matches("closed", tostring(p))
  end)

  it("terminate stops running tasks at once; their futures fail", function()
    local p = pool(2)
    local f = p:submit(function()
      local t = os.time() + 30
      while os.time() < t do end
    end)
    local queued = p:submit(function() return 1 end)
    local t0 = H.now()
    p:terminate()
    assert.is_true(H.now() - t0 < 5)
    assert.same({ nil, "terminated" }, { f:wait() })
    assert.same({ nil, "terminated" }, { queued:wait() })
    assert.error_matches(function() p:submit(print) end, "the pool is terminated")
  end)

  it("is terminated by the garbage collector, and refuses bad arguments", function()
    local name = H.name("poolgc")
    local p = shm.pool(1, { name = name })
    local pid = p:submit(function() return tonumber(io.open("/proc/self/stat"):read("*n")) end)
    local _, worker = pid:wait(10)
    if H.lua_version == "5.1" or H.lua_version == "luajit" then -- no __gc on tables there:
      p:terminate() -- the pool must be ended by hand (docs/api.md, Lua versions)
    end
    p, pid = nil, nil
    collectgarbage()
    collectgarbage()
    assert.is_false(alive(worker))
    assert.is_false(H.exists(name .. "-results"))
    for _, bad in ipairs({ 0, -1, 1.5, "2", 100000 }) do
      assert.has_error(function() shm.pool(bad) end)
    end
    assert.error_matches(function() shm.pool(1, { workers = 2 }) end, "unknown option 'workers'")
    assert.error_matches(function() shm.pool(1, { maxtasks = 0 }) end, "maxtasks")
    assert.error_matches(function() shm.pool(1, { init = 1 }) end, "init must be a function")
    local q = pool(1)
    assert.error_matches(function() q:map(function() end, {}, 0) end, "chunksize")
    local file = io.stdout
    assert.error_matches(function() q:submit(function() return file end) end,
      "(upvalue file): " .. H.FILE .. " cannot be sent", nil, true)
  end)

  it("does not keep the shmlua host waiting at the end of a script (workers are daemons)",
    function()
      local t0 = H.now()
      local out, ok = H.run("timeout 20 " .. H.shmlua, [[
        pool = shm.pool(2) -- a global: still there when the script ends
        print(pool:map(function(x) return x + 1 end, { 1, 2 })[2])
      ]])
      assert.equal("3\n", out)
      assert.is_true(ok)
      assert.is_true(H.now() - t0 < 10)
    end)

  it("closes at the end of a <close> scope and shows progress only on a terminal #lua54", function()
    local out = H.lua([[
      local shm = require "shm"
      local pids
      do
        local p <close> = shm.pool(2)
        pids = p:map(function() return tonumber(io.open("/proc/self/stat"):read("*n")) end,
          { 1, 2, 3, 4 }, { chunksize = 1, progress = true })
      end
      for i = 1, 4 do
        local f = io.open("/proc/" .. pids[i] .. "/stat")
        print(f == nil)
        if f then f:close() end
      end
    ]])
    assert.equal("true\ntrue\ntrue\ntrue\n", out) -- nothing on stderr: not a terminal
  end)

  for _, runner in ipairs({ "lua5.4", "shmlua" }) do
  it("a Ctrl-C in the parent (" .. runner .. ") stops the pool's work, leaves no children, no names #lua54",
    function()
      local program = runner == "shmlua" and H.shmlua or "lua5.4"
      local name = H.name("poolint")
      local pidfile = os.tmpname()
      local script = H.tmpfile(([[
        local shm = require "shm"
        local p = shm.pool(2, { name = %q })
        local f = io.open(%q, "w")
        f:write(table.concat(p:map(function()
          return tonumber(io.open("/proc/self/stat"):read("*n"))
        end, { 1, 2, 3, 4, 5, 6 }, 1), " "), "\n")
        f:close()
        local ok, err = pcall(p.map, p, function()
          local t = os.time() + 30
          while os.time() < t do end
        end, { 1, 2, 3 })
        -- still running: what is left of the pool before this process ends
        local left = 0
        for pid in io.open(%q):read("*a"):gmatch("%%d+") do
          if io.open("/proc/" .. pid .. "/stat") then left = left + 1 end
        end
        f = io.open(%q, "w")
        f:write(tostring(ok), "\n", err, "\n", p.state, "\n", left, "\n")
        f:close()
      ]]):format(name, pidfile, pidfile, pidfile .. ".after"))
      local h = assert(shm.exec("sh", "-c", H.env .. "exec " .. program .. " " .. script ..
        " 2>/dev/null"))
      local pids
      local deadline = H.now() + 20
      repeat
        local f = io.open(pidfile)
        pids = f and f:read("*a") or ""
        if f then f:close() end
      until pids:find("\n") or H.now() > deadline
      os.execute("sleep 0.3")
      local t0 = H.now()
      h:kill("INT")
      assert.is_true(h:wait(20))
      assert.is_true(H.now() - t0 < 5)
      local f = assert(io.open(pidfile .. ".after"))
      assert.matches("^false\n[^\n]*interrupted!\nterminated\n0\n$", f:read("*a"))
      f:close()
      os.remove(pidfile .. ".after")
      for pid in pids:gmatch("%d+") do assert.is_false(alive(tonumber(pid))) end
      assert.is_false(H.exists(name .. "-results"))
      assert.is_false(H.exists(name .. "-tasks1"))
      os.remove(script)
      os.remove(pidfile)
    end)
  end
end)
