-- shm.event and shm.cond across real processes: waits, timeouts, a set that is not missed
-- even when cleared at once, a condition variable guarding a shared counter.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

describe("shm.event", function()
  it("is set, cleared and waited for", function()
    local e = track(shm.event(H.name("ev")))
    assert.is_false(e.isset)
    assert.same({ nil, "timeout" }, { e:wait(0.05) })
    assert.is_true(e:set())
    assert.is_true(e.isset)
    assert.is_true(e:wait())
    assert.is_true(e:wait(0))
    assert.is_true(e:clear())
    assert.is_false(e.isset)
    assert.equal("shm.event: " .. e.name, tostring(e))
  end)

  it("wakes every waiting process, forked or started separately", function()
    local e = track(shm.event())
    local waiters = {}
    for i = 1, 3 do waiters[i] = shm.spawn(function() return e:wait(10) end) end
    local other = S.start([[
      local e = assert(shm.event.attach(arg[1]))
      assert(e:wait(10))
    ]], e.name)
    for i = 1, 3 do assert.is_true(S.asleep(waiters[i])) end
    assert.is_true(S.asleep(other))
    e:set()
    for i = 1, 3 do assert.same({ true, true }, { waiters[i]:wait(10) }) end
    assert.is_true(other:wait(10), S.output(other))
  end)

  it("a waiter sees a set even if it was cleared again before the waiter woke", function()
    local e, ready = track(shm.event()), track(shm.event())
    local waiter = shm.spawn(function()
      ready:set()
      return e:wait(10)
    end)
    assert.is_true(ready:wait(10))
    assert.is_true(S.asleep(waiter)) -- in e:wait: a set and clear before it would be missed
    e:set()
    e:clear()
    assert.same({ true, true }, { waiter:wait(10) })
  end)
end)

describe("shm.cond", function()
  it("records its mutex: attach finds it, or checks the one given", function()
    local m = track(shm.mutex(H.name("cm")))
    local c = track(shm.cond(m, H.name("cv")))
    assert.equal(m, c.mutex)
    local a = assert(shm.cond.attach(c.name))
    assert.equal(m.name, a.mutex.name)
    local b = assert(shm.cond.attach(c.name, m))
    assert.equal(m, b.mutex)
    local other = track(shm.mutex())
    assert.error_matches(function() shm.cond.attach(c.name, other) end,
      "goes with mutex '" .. m.name .. "'")
    assert.error_matches(function() shm.cond() end, "shm.mutex expected")
  end)

  it("wait needs the mutex held, and holds it again when it returns", function()
    local m = track(shm.mutex())
    local c = track(shm.cond(m))
    assert.error_matches(function() c:wait(0.01) end, "needs its mutex locked")
    m:lock()
    assert.same({ nil, "timeout" }, { c:wait(0.05) })
    assert.error_matches(function() m:lock() end, "already locked") -- held again
    m:unlock()
  end)

  it("a timed-out wait whose relock finds the owner died says both", function()
    local m = track(shm.mutex())
    local c = track(shm.cond(m))
    m:lock()
    -- takes the mutex once the wait lets it go, and ends holding it
    local taker = shm.spawn(function() return m:lock(10) end)
    assert.same({ nil, "timeout", "owner-died" }, { c:wait(0.3) })
    assert.same({ true, true }, { taker:wait(10) })
    assert.is_true(m:consistent())
    m:unlock()
  end)

  it("takes the mutex back before a Ctrl-C in the wait raises", function()
    local m = track(shm.mutex())
    local c = track(shm.cond(m))
    local waiter = S.start([[
      local m = assert(shm.mutex.attach(arg[1]))
      local c = assert(shm.cond.attach(arg[2], m))
      m:lock()
      print("waiting") io.stdout:flush()
      -- times out while the spec holds the mutex, then must take it back
      local _, err = pcall(c.wait, c, 0.3)
      print(err, select(2, m:trylock())) -- "busy": held by this process again
    ]], m.name, c.name)
    assert.is_truthy(S.eventually(function() return S.output(waiter):match("waiting") end))
    assert.is_true(m:lock(10)) -- the waiter let it go
    H.sh("sleep 0.5") -- its wait has timed out: it waits for the mutex now
    assert.is_true(S.asleep(waiter))
    waiter:kill("INT")
    H.sh("sleep 0.3")
    assert.same({ nil, "running" }, { waiter:poll() }) -- still waiting for the mutex
    m:unlock()
    assert.is_true(waiter:wait(10))
    assert.matches("interrupted!%s+busy", S.output(waiter))
  end)

  it("guards a shared state: consumers wait for items producers add", function()
    local m = track(shm.mutex())
    local c = track(shm.cond(m))
    local items = track(shm.create(8))
    local N = 200
    local consumers = {}
    for i = 1, 2 do
      consumers[i] = shm.spawn(function()
        local got = 0
        for _ = 1, N do
          m:lock()
          while S.count(items) == 0 do assert(c:wait(10)) end
          items:array("int64", 1, 1)[1] = S.count(items) - 1
          got = got + 1
          m:unlock()
        end
        return got
      end)
    end
    local producer = S.start(S.COUNTER .. [[
      local c = assert(shm.cond.attach(arg[1]))
      local items = assert(shm.attach(arg[2]))
      for _ = 1, tonumber(arg[3]) do
        c.mutex:with(bump, items)
        c:signal()
      end
    ]], c.name, items.name, 2 * N)
    assert.is_true(producer:wait(30), S.output(producer))
    for i = 1, 2 do assert.same({ true, N }, { consumers[i]:wait(30) }) end
    assert.equal(0, S.count(items))
  end)

  it("Ctrl-C in a wait takes the mutex back before the error leaves", function()
    local m = track(shm.mutex())
    local c = track(shm.cond(m))
    local other = S.start([[
      local c = assert(shm.cond.attach(arg[1]))
      c.mutex:lock()
      print("waiting") io.stdout:flush()
      local ok, err = pcall(c.wait, c)
      print(ok, err)
      print(c.mutex:trylock()) -- nil busy: this process holds it again
      c.mutex:unlock()
    ]], c.name)
    assert.is_true(S.asleep(other))
    assert.is_true(m:trylock()) -- free while the other waits
    m:unlock()
    other:kill("INT")
    assert.is_true(other:wait(5), S.output(other))
    assert.matches("false\t[^\n]*interrupted!\nnil\tbusy\n", S.output(other))
    assert.same({ true }, { m:lock(5) })
    m:unlock()
  end)

  it("broadcast wakes every waiter", function()
    local m = track(shm.mutex())
    local c = track(shm.cond(m))
    local flag = track(shm.event())
    local waiters = {}
    for i = 1, 3 do
      waiters[i] = shm.spawn(function()
        m:lock()
        while not flag.isset do assert(c:wait(10)) end
        m:unlock()
        return i
      end)
    end
    for i = 1, 3 do assert.is_true(S.asleep(waiters[i])) end
    m:with(function() flag:set() end)
    c:broadcast()
    for i = 1, 3 do assert.same({ true, i }, { waiters[i]:wait(10) }) end
  end)
end)
