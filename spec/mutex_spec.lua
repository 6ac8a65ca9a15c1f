-- shm.mutex across real processes: forked children (shm.spawn) and separately started
-- lua5.4 processes that attach by name; exact totals under contention, a holder killed
-- with SIGKILL, timeouts, Ctrl-C, and headers that are not what they claim.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

-- Whether another process finds m locked (its trylock says "busy").
local function busy_elsewhere(m)
  return select(3, shm.spawn(function() return m:trylock() end):wait(10)) == "busy"
end

describe("shm.mutex", function()
  it("is created and attached like a block", function()
    local m = track(shm.mutex(H.name("mx")))
    assert.is_true(H.exists(m.name))
    assert.equal("shm.mutex: " .. m.name, tostring(m))
    local a = assert(shm.mutex.attach(m.name))
    assert.equal(m.name, a.name)
    assert.is_true(a:lock())
    assert.same({ nil, "busy" }, { m:trylock() })
    assert.is_true(a:unlock())
    a:close()
    assert.is_true(a.closed)
    assert.matches("%(closed%)", tostring(a))
    assert.error_matches(function() a:lock() end, "is closed")
    local auto = track(shm.mutex())
    assert.matches("^lua_%x+$", auto.name)
  end)

  it("refuses to lock twice or to unlock what it does not hold", function()
    local m = track(shm.mutex())
    assert.is_true(m:lock())
    assert.error_matches(function() m:lock() end, "already locked by this process")
    assert.is_true(m:unlock())
    assert.error_matches(function() m:unlock() end, "not locked by this process")
    assert.error_matches(function() m:consistent() end, "not in the owner%-died state")
  end)

  it("times out while another process holds it", function()
    local m = track(shm.mutex())
    local held, go = track(shm.event()), track(shm.event())
    local child = shm.spawn(function()
      assert(m:lock())
      held:set()
      assert(go:wait(10))
      m:unlock()
      return "done"
    end)
    assert.is_true(held:wait(10))
    local t0 = os.clock()
    assert.same({ nil, "timeout" }, { m:lock(0.1) })
    assert.same({ nil, "busy" }, { m:trylock() })
    go:set()
    assert.same({ true, "done" }, { child:wait(10) })
    assert.is_true(m:lock(5))
    assert.is_true(m:unlock())
    assert.is_true(os.clock() - t0 < 1) -- the timed wait slept, it did not spin
  end)

  it("keeps an exact total: forked and separately started processes x lock/increment/unlock",
    function()
      local m = track(shm.mutex())
      local data = track(shm.create(8))
      local N, M = 3, 3000
      local children = {}
      for i = 1, N do
        children[i] = shm.spawn(function()
          for _ = 1, M do
            m:lock()
            S.bump(data)
            m:unlock()
          end
          return true
        end)
      end
      local others = {}
      for i = 1, 2 do
        others[i] = S.start(S.COUNTER .. [[
          local m = assert(shm.mutex.attach(arg[1]))
          local data = assert(shm.attach(arg[2]))
          for _ = 1, tonumber(arg[3]) do
            m:with(bump, data)
          end
        ]], m.name, data.name, M)
      end
      for _ = 1, M do
        local g = m:guard()
        S.bump(data)
        g:release()
      end
      for _, c in ipairs(children) do assert.same({ true, true }, { c:wait(60) }) end
      for _, o in ipairs(others) do assert.is_true(o:wait(60), S.output(o)) end
      assert.equal((N + 3) * M, S.count(data))
    end)

  it("tells the next locker that a holder killed with SIGKILL died; consistent recovers it",
    function()
      local m = track(shm.mutex())
      local held = track(shm.event())
      local child = shm.spawn(function()
        assert(m:lock())
        held:set()
        while true do end
      end)
      assert.is_true(held:wait(10))
      assert.same({ nil, "timeout" }, { m:lock(0.05) })
      child:kill("KILL")
      assert.same({ nil, "signal", 9 }, { child:wait(10) })
      assert.same({ true, "owner-died" }, { m:lock(5) })
      assert.is_true(m:consistent())
      assert.is_true(m:unlock())
      assert.same({ true }, { m:lock(5) })
      assert.is_true(m:unlock())
    end)

  it("recovers from a separately started process killed while holding it", function()
    local m = track(shm.mutex())
    local held = track(shm.event())
    local other = S.start([[
      local m = assert(shm.mutex.attach(arg[1]))
      assert(m:lock())
      assert(shm.event.attach(arg[2])):set()
      while true do end
    ]], m.name, held.name)
    assert.is_true(held:wait(10), S.output(other))
    other:kill("KILL")
    other:wait(10)
    -- another process (not the one that saw it die) does the recovery
    local out, ok = H.lua([[
      local shm = require "shm"
      local m = assert(shm.mutex.attach(arg[1]))
      print(m:lock(5))
      print(m:consistent())
      m:unlock()
    ]], m.name)
    assert.is_true(ok, out)
    assert.equal("true\towner-died\ntrue\n", out)
    assert.same({ true }, { m:trylock() })
    m:unlock()
  end)

  it("becomes not recoverable when unlocked without consistent after an owner died, and stays"
    .. " so at once for every lock and trylock of every process, also after they exit",
    function()
      local m = track(shm.mutex())
      assert.same({ true }, { shm.spawn(function()
        m:lock()
        os.exit(0) -- ends without unlocking, like a crash for the lock
      end):wait(10) })
      assert.same({ true, "owner-died" }, { m:lock(5) })
      m:unlock()
      local NR = { nil, "not recoverable" }
      local function every_call()
        local t0 = H.now()
        for _ = 1, 3 do
          assert.same(NR, { m:trylock() })
          assert.same(NR, { m:lock(1) })
          assert.same(NR, { m:trylock() })
          assert.same(NR, { m:lock() })
        end
        assert.error_matches(function() m:with(print) end, "not recoverable")
        assert.error_matches(function() m:guard(1) end, "not recoverable")
        assert.is_true(H.now() - t0 < 0.5) -- at once, not after a timeout
      end
      every_call()
      -- a forked child (which can lock for ever if the lock word was left taken)
      local child = shm.spawn(function()
        every_call()
        return true
      end)
      local ok, err = child:wait(10)
      if ok == nil then child:kill("KILL") end
      assert.is_true(ok, tostring(err))
      -- a separately started process, then this one again after it has exited
      local other = S.start([[
        local m = assert(shm.mutex.attach(arg[1]))
        for _ = 1, 3 do
          print(m:trylock())
          print(m:lock(1))
        end
      ]], m.name)
      local done = other:wait(10)
      if not done then other:kill("KILL") end
      assert.is_true(done, S.output(other))
      assert.equal(("nil\tnot recoverable\n"):rep(6), S.output(other))
      every_call()
    end)

  it("with(fn, ...) returns fn's results and unlocks on error", function()
    local m = track(shm.mutex())
    assert.same({ 3, "x" }, { m:with(function(a, b) return a + b, "x" end, 1, 2) })
    assert.error_matches(function() m:with(function() error("boom") end) end, "boom")
    -- the error goes on untouched: the traceback still shows where fn raised it (5.4: the
    -- unlock is a to-be-closed guard; older Luas catch the error, unlock and raise it again)
    local function deep() error("deep boom") end
    local _, trace = xpcall(function() m:with(function() deep() end) end, debug.traceback)
    assert.matches("deep boom", trace)
    if H.lua_version == "5.4" then assert.matches("in %a+ 'deep'", trace) end
    assert.is_true(m:trylock()) -- unlocked by the error
    m:unlock()
    local ok, err = pcall(m.with, m, function() error({ code = 7 }) end)
    assert.is_false(ok)
    assert.same({ code = 7 }, err) -- the error object passes through untouched
  end)

  it("a guard unlocks at the end of its scope, error or not #lua54", function() H.load([[
    local track, shm = ...
    local m = track(shm.mutex())
    do
      local g <close> = m:guard()
      assert.matches("locked", tostring(g))
      assert.same({ true, nil, "busy" },
        { shm.spawn(function() return m:trylock() end):wait(10) })
    end
    assert.is_true(m:trylock())
    m:unlock()
    local ok, err = pcall(function()
      local g <close> = m:guard()
      error("inside", 0)
    end)
    assert.same({ false, "inside" }, { ok, err }) -- the region's own error, not the guard's
    assert.is_true(m:trylock())
    m:unlock()
  ]], "=(guard case)")(track, shm) end)

  it("a guard unlocks when released or collected", function()
    local m = track(shm.mutex())
    local g = m:guard()
    assert.same({ true, nil, "busy" }, { shm.spawn(function() return m:trylock() end):wait(10) })
    g:release()
    assert.matches("released", tostring(g))
    assert.is_true(m:trylock())
    m:unlock()
    g = m:guard()
    g = nil
    collectgarbage()
    collectgarbage()
    assert.is_true(m:trylock())
    m:unlock()
  end)

  it("a guard releases only the lock it took, not one taken after an unlock", function()
    local m = track(shm.mutex())
    if _VERSION == "Lua 5.4" then -- <close> is 5.4 syntax
      assert(load([[
        local m = ...
        do
          local g <close> = m:guard()
          assert(m:unlock())
          assert(m:lock())
        end -- the guard's lock was the first one: this one stays
      ]]))(m)
      assert.is_true(busy_elsewhere(m))
      assert.is_true(m:unlock())
    end
    local g = m:guard()
    assert.is_true(m:unlock())
    assert.is_true(m:lock())
    assert.equal("shm.guard (released)", tostring(g))
    g:release()
    g = nil
    collectgarbage()
    collectgarbage()
    assert.is_true(busy_elsewhere(m))
    assert.is_true(m:unlock()) -- still held: neither release nor collection unlocked it
    -- with: fn that unlocks and locks again keeps its own lock too
    assert.is_true(m:with(function() m:unlock() return m:lock() end))
    assert.is_true(busy_elsewhere(m))
    assert.is_true(m:unlock())
    assert.is_true(m:with(function() return m:unlock() end)) -- released by fn: nothing to do
    assert.is_true(m:trylock())
    assert.is_true(m:unlock())
    -- a cond wait gives the lock up and takes it back: the guard's lock all the same
    local c = track(shm.cond(m))
    g = m:guard()
    assert.same({ nil, "timeout" }, { c:wait(0.01) })
    assert.equal("shm.guard (locked)", tostring(g))
    g:release()
    assert.is_true(m:trylock())
    assert.is_true(m:unlock())
  end)

  it("with(fn) lets fn yield in a coroutine, as pcall does #lua53", function()
    local m = track(shm.mutex())
    local co = coroutine.wrap(function(a)
      return m:with(function(x)
        local y = coroutine.yield(x + 1)
        local z = coroutine.yield(y .. "!")
        return x, y, z
      end, a)
    end)
    assert.equal(2, co(1))
    assert.is_true(busy_elsewhere(m)) -- held while fn is suspended
    assert.equal("b!", co("b"))
    assert.same({ 1, "b", "c" }, { co("c") })
    assert.is_true(m:trylock()) -- unlocked when fn returned
    assert.is_true(m:unlock())
    -- an error after a yield unlocks and goes on as raised
    co = coroutine.wrap(function()
      return m:with(function() coroutine.yield() error({ code = 3 }) end)
    end)
    co()
    local ok, err = pcall(co)
    assert.same({ false, { code = 3 } }, { ok, err })
    assert.is_true(m:trylock())
    assert.is_true(m:unlock())
    if coroutine.close then -- 5.4: closing a suspended coroutine closes the guard
      local suspended = coroutine.create(function() m:with(coroutine.yield) end)
      assert.is_true(coroutine.resume(suspended))
      assert.is_true(busy_elsewhere(m))
      assert.is_true(coroutine.close(suspended))
      assert.is_true(m:trylock())
      assert.is_true(m:unlock())
    end
  end)

  it("with and guard raise when the previous owner died, holding the lock for repair",
    function()
      local m = track(shm.mutex())
      shm.spawn(function()
        m:lock()
        os.exit(0)
      end):wait(10)
      assert.error_matches(function() m:with(print) end, "previous owner died")
      assert.error_matches(function() m:lock() end, "already locked") -- still ours
      assert.is_true(m:consistent())
      assert.is_true(m:unlock())
      assert.is_true(m:with(function() return true end))
    end)

  it("closing a handle that holds the lock releases it", function()
    local m = track(shm.mutex())
    local a = assert(shm.mutex.attach(m.name))
    assert.is_true(a:lock())
    a:close()
    assert.is_true(m:trylock())
    m:unlock()
    local b = assert(shm.mutex.attach(m.name))
    b:lock()
    b = nil
    collectgarbage()
    collectgarbage()
    assert.is_true(m:trylock())
    m:unlock()
  end)

  it("a blocked lock gives way to Ctrl-C (SIGINT) in lua5.4", function()
    local m = track(shm.mutex())
    assert.is_true(m:lock())
    local other = S.start([[
      local m = assert(shm.mutex.attach(arg[1]))
      print("waiting") io.stdout:flush()
      m:lock()
      print("locked")
    ]], m.name)
    assert.is_true(S.asleep(other))
    other:kill("INT")
    assert.same({ nil, "exit", 1 }, { other:wait(5) })
    assert.matches("interrupted!", S.output(other))
    assert.not_matches("locked", S.output(other))
    m:unlock()
  end)
end)

describe("attaching a sync object", function()
  it("refuses blocks that are not what they claim, with a clear error", function()
    local name = H.name("bad")
    local b = track(shm.create(256, name))
    local function attach() return (select(2, shm.mutex.attach(name))) end
    assert.matches(name .. ": not a shmlua mutex", attach())
    b.buf:write(1, "garbage!garbage!garbage!")
    assert.matches("not a shmlua mutex", attach())
    local q = track(shm.queue { messages = 4, bytes = 64 })
    assert.matches("a shmlua queue, not a mutex", (select(2, shm.mutex.attach(q.name))))
    -- a real header copied into a block of the wrong size, then the wrong version
    local m = track(shm.mutex())
    local raw = assert(shm.attach(m.name))
    local header = raw.buf:sub(1, 16)
    local short = track(shm.create(32, H.name("short")))
    short.buf:write(1, header)
    assert.matches("claims %d+ bytes, block has 32", (select(2, shm.mutex.attach(short.name))))
    local small = track(shm.create(8, H.name("small")))
    small.buf:write(1, header:sub(1, 8))
    assert.matches("too small", (select(2, shm.mutex.attach(small.name))))
    raw.buf:write(5, "\99\0")
    local _, msg, code = shm.mutex.attach(m.name)
    assert.matches("layout version 99", msg)
    assert.equal(71, code) -- EPROTO
    assert.same({ nil, "nothing_here_" .. name .. ": No such file or directory", 2 },
      { shm.mutex.attach("nothing_here_" .. name) })
  end)

  it("refuses a queue whose limits or positions were overwritten, and random bytes",
    function()
      local q = track(shm.queue { messages = 4, bytes = 64 })
      local raw = assert(shm.attach(q.name))
      local layout = raw.buf:sub(1, 448)
      -- offsets (native order, x86-64 glibc): 16 max_messages, 64 the tail's lock, 128 its
      -- position, 192 the head's lock, 256 its position (each lock on a line of its own)
      raw:array("uint32", 17, 1)[1] = 0
      assert.matches("queue limits do not match", (select(2, shm.queue.attach(q.name))))
      raw.buf:write(1, layout)
      raw:array("uint64", 257, 1)[1] = 1099511627776
      assert.matches("queue state out of range", (select(2, shm.queue.attach(q.name))))
      raw.buf:write(1, layout)
      assert.is_truthy(shm.queue.attach(q.name))
      -- Random bytes over every kind's layout, the header kept or not: an object or an error,
      -- never a crash. (Only attach: a lock made of random bytes may look held for ever.)
      math.randomseed(42)
      local kinds = { "mutex", "semaphore", "barrier", "event", "cond", "queue" }
      local made_of = {
        mutex = function() return shm.mutex() end,
        semaphore = function() return shm.semaphore(1) end,
        barrier = function() return shm.barrier(2) end,
        event = function() return shm.event() end,
        cond = function() return shm.cond(track(shm.mutex())) end,
        queue = function() return shm.queue { messages = 2, bytes = 16 } end,
      }
      for _, kind in ipairs(kinds) do
        local o = track(made_of[kind]())
        local r = assert(shm.attach(o.name))
        local good = r.buf:sub(1, #r.buf)
        local refused = 0
        for _ = 1, 100 do
          local keep = math.random(0, 2) * 8 -- 0, 8 or 16 bytes of the header kept
          for i = keep + 1, math.min(#r.buf, 160) do r.buf[i] = math.random(0, 255) end
          local a, err = shm[kind].attach(o.name)
          assert.is_true(a ~= nil or type(err) == "string")
          if a then a:close() else refused = refused + 1 end
          r.buf:write(1, good)
        end
        assert.is_true(refused > 0, kind) -- a random magic number is never taken
      end
    end)

  it("checks arguments", function()
    assert.error_matches(function() shm.mutex(42) end, "bad argument #1")
    assert.error_matches(function() shm.mutex(nil, { bogus = 1 }) end, "unknown option 'bogus'")
    assert.error_matches(function() shm.mutex.attach("a/b") end, "invalid name")
    assert.error_matches(function() shm.queue.attach("x", { readonly = true }) end,
      "unknown option 'readonly'")
    local m = track(shm.mutex())
    assert.error_matches(function() m:lock(-1) end, "non%-negative")
    assert.error_matches(function() m:lock("soon") end, "number expected")
  end)
end)
