-- Faults (issue 7): a full /dev/shm, and running out of fds, address space and maps. Each is
-- made real in a child process (a private tmpfs over /dev/shm in a mount namespace, or
-- resource limits), which must end normally: an error is a Lua value, never a signal.
local H = require "helper"

-- Runs Lua source in lua5.4, its shell command passed through wrap (limits, a namespace);
-- stdout and status.
local function child(wrap, source)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  local out, ok, how, code = H.sh(wrap(H.env .. H.lua_exe .. " " .. path) .. " 2>&1")
  os.remove(path)
  return out, ok, how, code
end

local function plain(cmd) return cmd end

-- A private tmpfs of the given size over /dev/shm for the command (a mount namespace: root).
local function namespace(size)
  return function(cmd)
    return "unshare -m sh -c " .. H.quote("mount -t tmpfs -o size=" .. size ..
      " tmpfs /dev/shm && " .. cmd)
  end
end

local function ulimit(flags, wrap)
  return function(cmd) return (wrap or plain)("ulimit " .. flags .. " && " .. cmd) end
end

local can_unshare = H.sh("unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /dev/shm' 2>&1 && echo yes")
local namespace_ok = can_unshare:match("yes\n$") ~= nil
local sanitized = (os.getenv("LD_PRELOAD") or ""):match("asan") ~= nil

-- The fds of the running process (the listing's own pipe left out).
local count_fds = [[
local function fds()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*l"):match("^%d+")
  f:close()
  local p = io.popen("own=$(readlink /proc/$$/fd/1); for f in /proc/" .. pid ..
    "/fd/*; do t=$(readlink $f); [ -n \"$t\" ] && [ \"$t\" != \"$own\" ] && echo $f; done | wc -l")
  local n = tonumber(p:read("*a"))
  p:close()
  return n
end
]]

describe("a full /dev/shm", function()
  local function full(source)
    if not namespace_ok then
      pending("needs a private mount namespace (unshare -m as root): " .. can_unshare)
      return
    end
    local out, ok, how, code = child(namespace("1m"), "local shm = require 'shm'\n" .. source)
    assert.is_true(ok, ("child ended by %s %s:\n%s"):format(how, code, out))
    return out
  end

  it("makes create return nil, 'No space left on device', 28 and never SIGBUS", function()
    local out = full [[
      local m, msg, code = shm.create(4194304, "big")
      assert(m == nil and code == 28 and msg == "big: No space left on device", msg)
      assert(io.open("/dev/shm/big") == nil, "a failed create left its name")
      print("ok")
    ]]
    if out then assert.equal("ok\n", out) end
  end)

  it("takes a block that fits exactly, touched to the last byte, and refuses one more byte", function()
    local out = full [[
      local m = assert(shm.create(1048576, "exact"))
      m.buf:fill(0xab)
      assert(m.buf[-1] == 0xab and m.buf[1] == 0xab)
      local extra, msg, code = shm.create(1, "extra")
      assert(extra == nil and code == 28, msg)
      m:unlink()
      m:close()
      local again = assert(shm.create(1048576, "again")) -- the space came back
      again:unlink()
      print("ok")
    ]]
    if out then assert.equal("ok\n", out) end
  end)

  it("fills up with small blocks, then errors; every block stays usable", function()
    local out = full [[
      local blocks, n = {}, 0
      while true do
        local m, msg, code = shm.create(4096)
        if not m then
          assert(code == 28 and msg:match("No space left on device$"), msg)
          break
        end
        n = n + 1
        m.buf:fill(n % 256)
        blocks[n] = m
      end
      for i, m in ipairs(blocks) do assert(m.buf[4096] == i % 256) end
      print(n)
    ]]
    if out then assert.equal("256\n", out) end -- 1 MiB of 4 KiB pages
  end)

  it("makes lists, queues and sync objects fail the same way", function()
    local out = full [[
      local filler = assert(shm.create((1048576) - 4096, "filler"))
      local function fails(what, obj, msg, code)
        assert(obj == nil and code == 28, what .. ": " .. tostring(msg))
        assert(msg:match("No space left on device"), msg)
      end
      fails("list", shm.list({ ("x"):rep(8000) }, "l"))
      fails("queue", shm.queue { bytes = 65536, name = "q" })
      local small = {}
      for i = 1, 64 do -- one page each: the last page goes, then they fail
        local m, msg, code = shm.mutex("m" .. i)
        if not m then fails("mutex", m, msg, code); break end
        small[i] = m
      end
      assert(#small == 1, #small)
      for _, kind in ipairs { "event", "semaphore", "barrier" } do
        local args = kind == "event" and { "o" } or { 1, "o" }
        fails(kind, shm[kind]((table.unpack or unpack)(args)))
      end
      assert(io.open("/dev/shm/l") == nil and io.open("/dev/shm/q") == nil)
      print("ok")
    ]]
    if out then assert.equal("ok\n", out) end
  end)
end)

describe("limits", function()
  it("keeps 10,000 blocks open at once in one process without an fd per block", function()
    local out, ok = child(namespace_ok and namespace("256m") or plain, count_fds .. [[
      local shm = require "shm"
      local before = fds()
      local made, attached = {}, {}
      for i = 1, 10000 do
        made[i] = assert(shm.create(4096))
        made[i].buf[1] = i % 256
      end
      for i = 1, 10000 do attached[i] = assert(shm.attach(made[i].name)) end
      for i = 1, 10000 do assert(attached[i].buf[1] == i % 256) end
      print(before, fds())
      for i = 1, 10000 do made[i]:unlink() end
    ]])
    assert.is_true(ok, out)
    local before, after = out:match("^(%d+)%s+(%d+)")
    assert.equal(before, after, out)
  end)

  it("running out of fds is nil, 'Too many open files', 24", function()
    local out, ok = child(ulimit("-n 12"), [[
      local shm = require "shm"
      local keep, f = {}, nil
      repeat -- use up the fds
        f = io.open("/dev/null")
        keep[#keep + 1] = f
      until not f
      local m, msg, code = shm.create(64)
      assert(m == nil and code == 24 and msg:match("Too many open files$"), msg)
      local a, amsg, acode = shm.attach("anything")
      assert(a == nil and acode == 24, amsg)
      print("ok")
    ]])
    assert.is_true(ok, out)
    assert.equal("ok\n", out)
  end)

  it("running out of address space is nil, 'Cannot allocate memory', 12, and leaves nothing",
    function()
      if sanitized then
        pending("AddressSanitizer reserves terabytes of address space: no RLIMIT_AS under it")
        return
      end
      local out, ok = child(ulimit("-v 400000", namespace_ok and namespace("2g")), [[
        local shm = require "shm"
        local m, msg, code = shm.create(1073741824, "huge")
        assert(m == nil and code == 12 and msg == "huge: Cannot allocate memory", msg)
        assert(io.open("/dev/shm/huge") == nil, "a failed create left its name")
        local blocks, n = {}, 0
        while true do
          local b, bmsg, bcode = shm.create(16777216)
          if not b then
            assert(bcode == 12, bmsg)
            break
          end
          n = n + 1
          blocks[n] = b
        end
        assert(n > 5 and n < 30, n)
        blocks = nil
        collectgarbage()
        assert(shm.create(16777216)) -- the space came back with the collection
        print("ok")
      ]])
      assert.is_true(ok, out)
      assert.equal("ok\n", out)
    end)
end)
