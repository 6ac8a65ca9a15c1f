-- The fast path of the sync objects and the queue: with nobody waiting, taking and giving
-- back makes no system call at all (the waiter counts say there is no one to wake).
local H = require "helper"

describe("sync objects nobody waits on", function()
  it("lock, release, set, signal, push and pop (one, a long one or a batch) without a single futex call", function()
    local lines, out, ok = H.strace("-e trace=futex,write", [[
      local shm = require "shm"
      local m, s, e, q = shm.mutex(), shm.semaphore(1), shm.event(), shm.queue()
      local c, b = shm.cond(m), shm.barrier(1)
      local batch, got, long = { "a", "b" }, {}, ("l"):rep(100000) -- long: made from the ring
      local function round()
        m:lock() c:signal() c:broadcast() m:unlock()
        m:with(function() end)
        s:acquire() s:release()
        e:set() e:clear()
        q:push("x") q:pop()
        q:push(long) q:pop()
        q:push_many(batch) q:pop_many(got, 2)
        b:wait()
      end
      -- Warmed up first: LuaJIT's compiler unwinds its own aborted traces with libgcc, whose
      -- first unwind initializes itself once (a pthread_once: one futex wake), nothing of ours.
      for _ = 1, 300 do round() end
      io.stderr:write("BEGIN\n")
      for _ = 1, 1000 do round() end
      io.stderr:write("END\n")
      for _, o in ipairs { m, s, e, q, c, b } do o:unlink() end
    ]])
    if not lines then return pending("strace cannot trace here (missing or no ptrace)") end
    assert.is_true(ok, out)
    local inside = assert(lines:match("BEGIN(.-)END"), lines)
    assert.equal(0, select(2, inside:gsub("futex%(", "")), inside)
  end)

  it("views a message and releases it without a single system call", function()
    local lines, out, ok = H.strace("", [[
      local shm = require "shm"
      local q = shm.queue()
      local function round()
        q:push("message")
        local v = q:view()
        assert(#v == 7)
        v:release()
      end
      for _ = 1, 300 do round() end
      io.stderr:write("BEGIN\n")
      for _ = 1, 1000 do round() end
      io.stderr:write("END\n")
      q:unlink()
    ]])
    if not lines then return pending("strace cannot trace here (missing or no ptrace)") end
    assert.is_true(ok, out)
    local inside = assert(lines:match("BEGIN[^\n]*\n(.-)[^\n]*END"), lines)
    -- the collector's memory may come and go, and LuaJIT's machine code be made writable and
    -- back; nothing else may cross into the kernel
    local memory = { brk = 1, mmap = 1, munmap = 1, madvise = 1, mremap = 1, mprotect = 1 }
    for name in inside:gmatch("%d+ +([%w_]+)%(") do
      assert.truthy(memory[name], inside)
    end
  end)
end)
