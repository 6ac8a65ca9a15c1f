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

describe("shm.blocks entries", function()
  -- Objects made here, unlinked at the end of each test.
  local made
  before_each(function() made = {} end)
  after_each(function()
    for _, o in ipairs(made) do
      o:unlink()
      o:close()
    end
  end)
  local function keep(o)
    made[#made + 1] = assert(o)
    return o
  end

  -- The entry of name, polled until check(entry) holds (a child needs a moment to block).
  local function entry_when(name, check)
    local deadline = H.now() + 10
    while true do
      local b = find(name)
      if check(b) or H.now() > deadline then return b end
      os.execute("sleep 0.02")
    end
  end

  it("say what each block is, from its header: block, list or the sync object's kind", function()
    local objects = {
      block = keep(shm.create(64)), list = keep(shm.list { 1, "two" }),
      mutex = keep(shm.mutex()), semaphore = keep(shm.semaphore(2)),
      barrier = keep(shm.barrier(3)), event = keep(shm.event()),
      queue = keep(shm.queue { messages = 4, bytes = 64 }),
    }
    objects.cond = keep(shm.cond(objects.mutex))
    for kind, o in pairs(objects) do assert.equal(kind, find(o.name).kind, kind) end
    -- An empty list is 16 zero bytes: it could as well be a fresh block, and says so.
    assert.equal("block", find(keep(shm.list {}).name).kind)
  end)

  -- Whether /dev/shm keeps user extended attributes (tmpfs: Linux 6.6 and later), where
  -- shmlua records a block's creator; without them the creator is unknown (nil).
  local probe = "/dev/shm/" .. H.name("xattr")
  local xattrs = H.sh(("touch %s && %s -c %s 2>/dev/null; rm -f %s"):format(probe,
    "/usr/bin/python3", H.quote(("import os; os.setxattr(%q, 'user.x', b'1'); print('yes')")
      :format(probe)), probe)):match("yes") ~= nil

  it("have no creator where the file system keeps no extended attributes", function()
    if xattrs then return end
    local m = keep(shm.create(8))
    assert.is_nil(find(m.name).creator)
  end)

  it("give the creating pid and whether it still runs", function()
    if not xattrs then return end -- see the test above
    local m = keep(shm.create(8))
    local b = find(m.name)
    assert.equal(mypid(), b.creator)
    assert.is_true(b.alive)
    local h = shm.spawn(function()
      return assert(shm.create(8, nil, { keep = true })).name
    end)
    local ok, name = h:wait()
    assert.is_true(ok)
    b = find(name)
    assert.equal(h.pid, b.creator)
    assert.is_false(b.alive)
    assert.is_true(shm.remove(name))
  end)

  it("count a zombie creator (ended, not yet reaped) as gone", function()
    if not xattrs then return end
    local h = shm.spawn(function() assert(shm.create(8, nil, { keep = true })) end)
    local name
    local deadline = H.now() + 10
    repeat -- the child has made its block and ended, but nobody reaped it
      for _, b in ipairs(assert(shm.blocks())) do
        if b.creator == h.pid then name = b.name end
      end
      local f = io.open("/proc/" .. h.pid .. "/stat")
      local zombie = f and f:read("*a"):match("%) Z ")
      if f then f:close() end
    until (name and zombie) or H.now() > deadline
    assert.is_false(find(name).alive)
    h:wait()
    assert.is_true(shm.remove(name))
  end)

  it("give no creator for a block made by another program (Python)", function()
    local name = H.name("py")
    H.python(([[
from multiprocessing import shared_memory, resource_tracker
m = shared_memory.SharedMemory(name=%q, create=True, size=8)
resource_tracker.unregister(m._name, "shared_memory")
]]):format(name))
    local b = assert(find(name))
    assert.equal("block", b.kind)
    assert.is_nil(b.creator)
    assert.is_nil(b.state)
    assert.is_true(shm.remove(name))
  end)

  it("show a mutex's holder, also a dead one", function()
    local m = keep(shm.mutex())
    local b = find(m.name)
    assert.is_false(b.locked)
    assert.equal("unlocked", b.state)
    m:lock()
    b = find(m.name)
    assert.equal(mypid(), b.holder)
    assert.equal("locked by " .. mypid(), b.state)
    m:unlock()
    local h = shm.spawn(function() m:lock() os.exit(0) end) -- dies holding it
    h:wait()
    b = find(m.name)
    assert.equal(h.pid, b.holder)
    assert.is_true(b.owner_died)
    assert.equal("locked by " .. h.pid .. " (died holding it)", b.state)
    assert.same({ true, "owner-died" }, { m:lock() })
    assert.equal("locked by " .. mypid() .. " (after its owner died, not yet consistent)",
      find(m.name).state)
    m:unlock() -- without consistent(): unusable for good
    b = find(m.name)
    assert.is_true(b.not_recoverable)
    assert.equal("not recoverable", b.state)
  end)

  it("show a queue's messages, a semaphore's value and who waits", function()
    local q = keep(shm.queue { messages = 4, bytes = 64 })
    q:push("a")
    q:push("b")
    local b = find(q.name)
    assert.equal(2, b.messages)
    assert.equal("2 messages", b.state)
    q:shutdown()
    assert.equal("2 messages, shut down", find(q.name).state)
    local s = keep(shm.semaphore(0))
    local waiter = shm.spawn(function() return s:acquire(20) end)
    b = entry_when(s.name, function(e) return e.waiters == 1 end)
    assert.equal(0, b.value)
    assert.equal("value 0, 1 waiting", b.state)
    s:release()
    assert.is_true(waiter:wait())
    local e = keep(shm.event())
    e:set()
    assert.is_true(find(e.name).set)
    local r = keep(shm.barrier(2))
    assert.equal("0 of 2 arrived", find(r.name).state)
  end)

  it("print as one readable line", function()
    local m = keep(shm.mutex())
    m:lock()
    local made = xattrs and ", made by " .. mypid() or ""
    assert.equal(("shm.blocks: %s (mutex, %d bytes%s, locked by %d)"):format(m.name,
      find(m.name).size, made, mypid()), tostring(find(m.name)))
    m:unlock()
    local plain = keep(shm.create(8, H.name("line") .. "\27[2J"))
    assert.equal(("shm.blocks: %s (block, 8 bytes%s)"):format(
      plain.name:gsub("\27", "\\033"), made), tostring(find(plain.name)))
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
