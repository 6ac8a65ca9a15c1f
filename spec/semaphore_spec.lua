-- shm.semaphore across real processes: counting, timeouts, release(n) waking several, a
-- semaphore as a cross-process limit on concurrency.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

describe("shm.semaphore", function()
  it("counts: acquire takes, release gives back, value shows the count", function()
    local s = track(shm.semaphore(2, H.name("sem")))
    assert.equal(2, s.value)
    assert.is_true(s:acquire())
    assert.is_true(s:tryacquire())
    assert.is_false(s:tryacquire())
    assert.same({ nil, "timeout" }, { s:acquire(0.05) })
    assert.is_true(s:release(3))
    assert.equal(3, s.value)
    local a = assert(shm.semaphore.attach(s.name))
    assert.equal(3, a.value)
    assert.equal("shm.semaphore: " .. s.name, tostring(a))
  end)

  it("checks its arguments and its upper bound", function()
    assert.error_matches(function() shm.semaphore(-1) end, "value must be")
    assert.error_matches(function() shm.semaphore(1.5) end, "number has no integer representation")
    assert.error_matches(function() shm.semaphore() end, "integer expected")
    local s = track(shm.semaphore(2147483647))
    assert.error_matches(function() s:release() end, "exceed")
    assert.equal(2147483647, s.value)
    assert.error_matches(function() s:release(0) end, "count must be")
  end)

  it("wakes waiting processes, as many as released", function()
    local s = track(shm.semaphore(0))
    local done = track(shm.semaphore(0))
    local waiters = {}
    for i = 1, 4 do
      waiters[i] = shm.spawn(function()
        assert(s:acquire(10))
        done:release()
        return i
      end)
    end
    for i = 1, 4 do assert.is_true(S.asleep(waiters[i])) end
    assert.is_true(s:release(3))
    for _ = 1, 3 do assert.is_true(done:acquire(10)) end
    assert.same({ nil, "timeout" }, { done:acquire(0.2) }) -- the fourth still waits
    s:release()
    assert.is_true(done:acquire(10))
    for i = 1, 4 do assert.same({ true, i }, { waiters[i]:wait(10) }) end
    assert.equal(0, s.value)
  end)

  it("limits how many processes are inside at once", function()
    local s = track(shm.semaphore(2))
    local inside = track(shm.create(8))
    local m = track(shm.mutex())
    local peak = track(shm.create(8))
    local go, never = track(shm.event()), track(shm.event())
    local workers = {}
    local function work()
      go:wait(10) -- all start together
      for _ = 1, 30 do
        s:acquire()
        m:with(function()
          S.bump(inside)
          if S.count(inside) > S.count(peak) then S.bump(peak) end
        end)
        never:wait(0.002) -- stay inside a moment, so the others pile up at the semaphore
        m:with(function() inside:array("int64", 1, 1)[1] = S.count(inside) - 1 end)
        s:release()
      end
      return true
    end
    for i = 1, 4 do workers[i] = shm.spawn(work) end
    go:set()
    for i = 1, 4 do assert.same({ true, true }, { workers[i]:wait(30) }) end
    assert.equal(2, S.count(peak))
    assert.equal(0, S.count(inside))
    assert.equal(2, s.value)
  end)

  it("is shared with separately started processes by name", function()
    local s = track(shm.semaphore(0))
    local other = S.start([[
      local s = assert(shm.semaphore.attach(arg[1]))
      assert(s:acquire(10))
      s:release(5)
    ]], s.name)
    os.execute("sleep 0.05")
    s:release()
    assert.is_true(other:wait(10), S.output(other))
    assert.equal(5, s.value)
  end)
end)
