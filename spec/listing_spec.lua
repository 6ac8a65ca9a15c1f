-- shm.blocks() and shm.remove(): what a user needs after a crash left blocks behind.
local H = require "helper"
local shm = require "shm"

local function mypid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = tonumber(f:read("*a"):match("^%d+"))
  f:close()
  return pid
end

local function find(name)
  for _, b in ipairs(assert(shm.blocks())) do
    if b.name == name then return b end
  end
end

local function has(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

describe("shm.blocks", function()
  it("lists a block with its size, mode, owner, age and the processes mapping it", function()
    local m = assert(shm.create(12345, nil, { mode = tonumber("640", 8) }))
    local b = assert(find(m.name))
    assert.equal(12345, b.size)
    assert.equal(tonumber("640", 8), b.mode)
    assert.equal(tonumber((H.sh("id -u"))), b.uid)
    assert.is_true(b.age >= 0 and b.age < 10, b.age)
    assert.same({ mypid() }, b.pids)
    m:close()
    assert.same({}, find(m.name).pids) -- still there, mapped by nobody
    m:unlink()
    assert.is_nil(find(m.name))
  end)

  it("is sorted by name and lists blocks made by another program (Python)", function()
    local name = H.name("ls")
    H.python(([[
from multiprocessing import shared_memory
m = shared_memory.SharedMemory(name=%q, create=True, size=100)
m.close()
from multiprocessing import resource_tracker
resource_tracker.unregister(m._name, "shared_memory")
]]):format(name))
    local list = assert(shm.blocks())
    for i = 2, #list do assert.is_true(list[i - 1].name < list[i].name) end
    local b = assert(find(name))
    assert.is_true(b.size >= 100)
    assert.same({}, b.pids)
    assert.is_true(shm.remove(name))
  end)

  it("shows the pids of other processes that map a block now", function()
    local m = assert(shm.create(8))
    local h = shm.spawn(function()
      local mine = assert(shm.attach(m.name))
      m:close() -- only the child's own mapping remains in the child
      mine.buf[1] = 1
      while mine.buf[2] == 0 do end
    end)
    while m.buf[1] == 0 do end
    local pids = find(m.name).pids
    assert.equal(2, #pids)
    assert.is_true(has(pids, mypid()))
    assert.is_true(has(pids, h.pid))
    m.buf[2] = 1
    assert.is_true(h:wait())
    assert.same({ mypid() }, find(m.name).pids)
    m:unlink()
  end)

  it("does not count a mapping of an unlinked block for a new block of that name", function()
    local name = H.name("ls")
    local old = assert(shm.create(8, name))
    old:unlink()
    local new = assert(shm.create(16, name))
    new:close()
    assert.same({}, find(name).pids)
    new:unlink()
  end)
  -- In a mount namespace of its own (root only), /dev/shm and /proc can be replaced.
  local function isolated(mounts, source)
    local path = H.tmpfile(source)
    local out, ok = H.sh("unshare -m sh -c " .. H.quote(("%s && %s" .. H.lua_exe .. " %s"):format(mounts, H.env,
      path)) .. " 2>&1")
    os.remove(path)
    return out, ok
  end

  it("lists nothing in an empty /dev/shm", function()
    local out, ok = isolated("mount -t tmpfs tmpfs /dev/shm", [[
      local shm = require "shm"
      print(#assert(shm.blocks()))
    ]])
    if not ok and out:match("unshare") then return pending("no mount namespace: " .. out) end
    assert.equal("0\n", out)
  end)

  it("lists blocks with no pids where /proc does not exist", function()
    local out, ok = isolated("mount -t tmpfs tmpfs /dev/shm && mount -t tmpfs tmpfs /proc", [[
      local shm = require "shm"
      local m = assert(shm.create(64))
      local list = assert(shm.blocks())
      print(#list, list[1].name == m.name, list[1].size, #list[1].pids)
    ]])
    if not ok and out:match("unshare") then return pending("no mount namespace: " .. out) end
    -- (a sanitized build complains on stderr, without /proc, after the script's output)
    assert.matches("^1\ttrue\t64\t0\n", (out:gsub("==%d+==[^\n]*\n", "")))
  end)
end)

describe("shm.remove", function()
  it("removes the given names", function()
    local a = assert(shm.create(8))
    local b = assert(shm.create(8))
    assert.is_true(shm.remove(a.name, "/" .. b.name))
    assert.is_false(H.exists(a.name))
    assert.is_false(H.exists(b.name))
    assert.equal(0, a.buf[1]) -- mappings stay usable
  end)

  it("removes what it can and reports each failure with the first errno", function()
    local a = assert(shm.create(8))
    local missing1, missing2 = H.name("gone"), H.name("gone")
    local ok, msg, code = shm.remove(missing1, a.name, missing2)
    assert.is_nil(ok)
    assert.equal(("%s: No such file or directory; %s: No such file or directory"):format(
      missing1, missing2), msg)
    assert.equal(2, code)
    assert.is_false(H.exists(a.name))
  end)

  it("gives up ownership, so the creator's exit has nothing left to unlink", function()
    local name = H.name("rm")
    local out, ok = H.lua([[
      local shm = require "shm"
      local m = assert(shm.create(8, arg[1]))
      assert(shm.remove(arg[1]))
      local again = assert(shm.create(8, arg[1], { keep = true })) -- someone else's now
      print("ok")
    ]], name)
    assert.is_true(ok, out)
    assert.is_true(H.exists(name)) -- not unlinked by the first creator's exit
    assert.is_true(shm.remove(name))
  end)

  it("checks every name before removing any", function()
    local a = assert(shm.create(8))
    assert.error_matches(function() shm.remove(a.name, "bad/name") end, "bad argument #2")
    assert.is_true(H.exists(a.name))
    assert.error_matches(function() shm.remove() end, "string expected")
    a:unlink()
  end)
end)
