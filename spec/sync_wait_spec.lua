-- Waits of every sync object while Lua code runs between their slices: a debug hook (as
-- Ctrl-C's path and finalizers do) that closes the object, or its mutex, must make the wait
-- raise "... is closed", never touch the unmapped block. Each case runs in a forked child,
-- so a crash shows as a signal instead of ending the suite.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

local unpack = table.unpack or unpack -- Lua 5.1 and LuaJIT have only the global

-- Calls method(...) under pcall with a hook that closes victim once method's wait runs Lua
-- code (the hook's call of the function that looks for Ctrl-C, two levels under the hook).
-- With raise, the hook then raises as Ctrl-C's hook does. Returns pcall's results.
local function under_hook(victim, raise, method, ...)
  debug.sethook(function()
    local up = debug.getinfo(3, "f")
    if up and up.func == method then
      debug.sethook()
      victim:close()
      if raise then error("interrupted!", 0) end
    end
  end, "c")
  return pcall(method, ...)
end

-- The same in a forked child; returns what the child's wait returns.
local function close_during(...)
  local args = { n = select("#", ...), ... }
  return shm.spawn(function() return under_hook(unpack(args, 1, args.n)) end):wait(20)
end

local function closed(o) return ("^%s '%s' is closed$"):format(tostring(o):match("^shm%.(%a+)"),
  o.name:gsub("%p", "%%%0")) end

describe("a wait whose object is closed by Lua code run between its slices", function()
  it("raises '... is closed' for semaphore, event, barrier and queue waits", function()
    local s = track(shm.semaphore(0))
    local e = track(shm.event())
    local b = track(shm.barrier(2))
    local empty = track(shm.queue { messages = 1, bytes = 16 })
    local full = track(shm.queue { messages = 1, bytes = 16 })
    assert.is_true(full:push("x"))
    local cases = {
      { s, s.acquire, s, 0.5 },
      { e, e.wait, e, 0.5 },
      { b, b.wait, b, 0.5 },
      { empty, empty.pop, empty, 0.5 },
      { empty, empty.pop, empty }, -- no timeout: it must still end
      { full, full.push, full, "y", 0.5 },
    }
    for _, c in ipairs(cases) do
      local ok, called, msg = close_during(c[1], false, unpack(c, 2))
      assert.is_true(ok, tostring(called))
      assert.is_false(called)
      assert.matches(closed(c[1]), msg)
    end
  end)

  it("raises '... is closed' for mutex lock, with and guard", function()
    local m = track(shm.mutex())
    assert.is_true(m:lock()) -- held by this process: a child's lock waits
    for _, case in ipairs({ { m.lock, m, 0.5 }, { m.with, m, print }, { m.guard, m, 0.5 } }) do
      local ok, called, msg = close_during(m, false, unpack(case))
      assert.is_true(ok, tostring(called))
      assert.same({ false }, { called })
      assert.matches(closed(m), msg)
    end
    m:unlock()
  end)

  it("raises for a cond whose handle or mutex is closed, holding the mutex again if it can",
    function()
      local m = track(shm.mutex())
      local c = track(shm.cond(m))
      -- the cond closed: the mutex is held again, then the error
      assert.same({ true, false, true, true }, { shm.spawn(function()
        assert(m:lock())
        local ok, msg = under_hook(c, false, c.wait, c, 0.5)
        return ok, msg:match(closed(c)) ~= nil, m:unlock()
      end):wait(20) })
      -- its mutex closed: nothing to take back; also when the hook raises (Ctrl-C's path)
      for _, raise in ipairs({ false, true }) do
        assert.same({ true, false, true }, { shm.spawn(function()
          assert(m:lock())
          local ok, msg = under_hook(m, raise, c.wait, c, 0.5)
          return ok, msg == (raise and "interrupted!" or
            ("cond '%s': its mutex is closed"):format(c.name))
        end):wait(20) })
      end
    end)

  it("a barrier closed by a hook that raises, as Ctrl-C's does, leaves without a crash",
    function()
      for _, timeout in ipairs({ 0.5, false }) do
        local b = track(shm.barrier(2))
        assert.same({ true, false, "interrupted!" }, { close_during(b, true, b.wait, b, timeout or nil) })
      end
    end)
end)
