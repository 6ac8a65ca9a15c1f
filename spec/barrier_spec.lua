-- shm.barrier across real processes: many rounds where nobody runs ahead, timeouts that
-- break the barrier for everyone, a member killed with SIGKILL or interrupted with Ctrl-C,
-- members that leave cleanly, reset.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

-- Lua source: round r of party i writes r in slot i of a block, waits, then checks that no
-- slot is behind r (a barrier that let anyone through early would show it).
local ROUNDS = [[
local function rounds(b, slots, i, parties, n)
  local slot = slots:array("uint32")
  for r = 1, n do
    slot[i] = r
    local index, err = b:wait(20)
    if not index then return nil, err .. " in round " .. r end
    for j = 1, parties do
      local seen = slot[j]
      if seen < r then return nil, ("party %d behind in round %d"):format(j, r) end
    end
  end
  return true
end
]]
local rounds = H.load(ROUNDS .. "return rounds")()

describe("shm.barrier", function()
  it("lets a round through only when all parties arrived, for many rounds", function()
    local parties, n = 4, 300
    local b = track(shm.barrier(parties, H.name("bar")))
    local slots = track(shm.create(4 * parties))
    assert.equal(parties, b.parties)
    local forked = {}
    for i = 2, 3 do forked[#forked + 1] = shm.spawn(rounds, b, slots, i, parties, n) end
    local other = S.start(ROUNDS .. [[
      local b = assert(shm.barrier.attach(arg[1]))
      assert(rounds(b, assert(shm.attach(arg[2])), 4, tonumber(arg[3]), tonumber(arg[4])))
    ]], b.name, slots.name, parties, n)
    assert.same({ true }, { rounds(b, slots, 1, parties, n) })
    for _, h in ipairs(forked) do assert.same({ true, true }, { h:wait(30) }) end
    assert.is_true(other:wait(30), S.output(other))
    assert.is_false(b.broken)
  end)

  it("numbers the arrivals of a round; the last one gets parties", function()
    local b = track(shm.barrier(3))
    local hs = {}
    for i = 1, 2 do hs[i] = shm.spawn(function() return b:wait(10) end) end
    for i = 1, 2 do assert.is_true(S.asleep(hs[i])) end -- both arrived: this one is last
    assert.equal(3, b:wait(10))
    local got = {}
    for i = 1, 2 do got[i] = select(2, hs[i]:wait(10)) end
    table.sort(got)
    assert.same({ 1, 2 }, got)
    local one = track(shm.barrier(1))
    assert.equal(1, one:wait())
    assert.equal(1, one:wait())
  end)

  it("a timeout breaks the round for every waiter; reset makes it usable again", function()
    local b = track(shm.barrier(3))
    local other = shm.spawn(function() return b:wait(10) end)
    assert.is_true(S.asleep(other)) -- arrived, so the timeout must wake it
    assert.same({ nil, "timeout" }, { b:wait(0.1) })
    assert.same({ true, nil, "broken" }, { other:wait(10) })
    assert.is_true(b.broken)
    assert.same({ nil, "broken" }, { b:wait(1) }) -- arrivals too, until a reset
    assert.is_true(b:reset())
    assert.is_false(b.broken)
    local again = shm.spawn(function() return b:wait(10) end)
    local third = shm.spawn(function() return b:wait(10) end)
    assert.is_number(b:wait(10))
    assert.is_true((again:wait(10)))
    assert.is_true((third:wait(10)))
  end)

  it("a member killed with SIGKILL breaks the round the others wait in", function()
    local b = track(shm.barrier(3))
    local go = track(shm.event())
    local helper = shm.spawn(function()
      for _ = 1, 5 do b:wait(20) end
      return b:wait(20) -- round 6
    end)
    local victim = shm.spawn(function()
      for _ = 1, 5 do b:wait(20) end
      go:wait() -- never set: it will not come to round 6
    end)
    for _ = 1, 5 do assert.is_number(b:wait(20)) end
    victim:kill("KILL")
    victim:wait(10)
    local t0 = os.time()
    assert.same({ nil, "broken" }, { b:wait(20) })
    assert.same({ true, nil, "broken" }, { helper:wait(20) })
    assert.is_true(os.time() - t0 <= 2) -- noticed quickly, not at the 20 s timeout
  end)

  it("a party killed while its parent, a party too, waits breaks the round at once, though"
    .. " the parent has not reaped it (a zombie)", function()
    local b = track(shm.barrier(2))
    local go = track(shm.event())
    local child = shm.spawn(function()
      assert(b:wait(20))
      go:wait() -- never set: it will not come to round 2
    end)
    assert.is_number(b:wait(20))
    assert.is_true(S.asleep(child))
    child:kill("KILL") -- not waited for: a zombie until round 2 is over
    local t0 = H.now()
    assert.same({ nil, "broken" }, { b:wait(10) })
    assert.is_true(H.now() - t0 < 0.5, H.now() - t0) -- within ~50 ms, not at the timeout
    assert.same({ nil, "signal", 9 }, { child:wait(10) })
  end)

  it("a live process that only has a dead member's pid is not that member", function()
    -- What pid reuse looks like: the member's slot names a pid that is alive, but that
    -- started at another time. Made here by changing the slot's start time.
    if not string.pack then return pending("string.pack: Lua 5.3 or later") end
    local b = track(shm.barrier(2))
    local go = track(shm.event())
    local child = shm.spawn(function()
      assert(b:wait(20))
      go:wait(30)
    end)
    assert.is_number(b:wait(20))
    local raw = assert(shm.attach(b.name))
    local members = #raw.buf - (2 + 64) * 24 -- fixed part, then 24-byte slots
    local found = false
    for at = members + 1, #raw.buf, 24 do
      if string.unpack("=i4", raw.buf:sub(at, at + 3)) == child.pid then
        local started = string.unpack("=I8", raw.buf:sub(at + 16, at + 23))
        assert.is_true(started > 0)
        raw.buf:write(at + 16, string.pack("=I8", started + 1))
        found = true
      end
    end
    raw:close()
    assert.is_true(found)
    local t0 = H.now()
    assert.same({ nil, "broken" }, { b:wait(10) })
    assert.is_true(H.now() - t0 < 0.5, H.now() - t0)
    go:set()
    assert.is_true((child:wait(10)))
  end)

  it("tracks a member per party and 64 more: a death among more than 64 is seen, and one"
    .. " process more is refused with a clear error", function()
    -- 66 parties, all forked children: 65 attach first, then the last one does and dies
    -- before round 2, as the 67th member (the parent is one too).
    local n = 66
    local b = track(shm.barrier(n))
    local joined = track(shm.semaphore(0))
    local go = track(shm.event())
    local parties = {}
    local function party(victim)
      return shm.spawn(function()
        local mine = assert(shm.barrier.attach(b.name))
        joined:release()
        assert(mine:wait(30))
        if victim then
          joined:release() -- arrived in round 1: its death will be about round 2
          go:wait()
        end
        return mine:wait(10)
      end)
    end
    for i = 1, n - 1 do parties[i] = party(false) end
    for _ = 1, n - 1 do assert.is_true(joined:acquire(30)) end
    local victim = party(true)
    assert.is_true(joined:acquire(30))
    assert.is_true(joined:acquire(30))
    victim:kill("KILL")
    for i = 1, n - 1 do assert.same({ true, nil, "broken" }, { parties[i]:wait(30) }) end
    victim:wait(10)
    -- a barrier of 1 party has 65 slots: the parent and 64 children fill them
    local small = track(shm.barrier(1))
    local holders = {}
    for i = 1, 64 do
      holders[i] = shm.spawn(function()
        local mine = assert(shm.barrier.attach(small.name))
        joined:release()
        go:wait(30)
        return mine.parties
      end)
    end
    for _ = 1, 64 do assert.is_true(joined:acquire(30)) end
    local refused = { shm.spawn(function() return shm.barrier.attach(small.name) end):wait(10) }
    assert.same({ true, nil,
      small.name .. ": all 65 member slots are taken by live processes (one per party and 64"
      .. " more)", 87 }, refused)
    go:set()
    for i = 1, 64 do assert.same({ true, 1 }, { holders[i]:wait(30) }) end
    -- they left when they ended: room again
    assert.is_true(shm.spawn(function()
      return assert(shm.barrier.attach(small.name)).parties == 1
    end):wait(10))
  end)

  it("a separately started member killed before its first arrival breaks the round",
    function()
      local b = track(shm.barrier(2))
      local other = S.start([[
        local b = assert(shm.barrier.attach(arg[1]))
        print("attached") io.stdout:flush()
        while true do end
      ]], b.name)
      assert.is_truthy(S.eventually(function() return S.output(other):match("attached") end))
      other:kill("KILL")
      other:wait(10)
      assert.same({ nil, "broken" }, { b:wait(20) })
    end)

  it("a member that ends normally (even without closing) does not break later rounds",
    function()
      local b = track(shm.barrier(2))
      local first = S.start([[
        local b = assert(shm.barrier.attach(arg[1]))
        for _ = 1, 3 do assert(b:wait(20)) end
        os.exit(0) -- no close, no garbage collection: the exit handler leaves
      ]], b.name)
      for _ = 1, 3 do assert.is_number(b:wait(20)) end
      assert.is_true(first:wait(10), S.output(first))
      local closing = shm.spawn(function()
        for _ = 1, 3 do b:wait(20) end
        b:close() -- closing leaves at once
        return true
      end)
      for _ = 1, 3 do assert.is_number(b:wait(20)) end
      assert.same({ true, true }, { closing:wait(10) })
      -- without closing: a forked child ends with _exit, and leaves just before it,
      -- whether its function returns or raises
      local returning = shm.spawn(function()
        for _ = 1, 3 do assert(b:wait(20)) end
        return true
      end)
      for _ = 1, 3 do assert.is_number(b:wait(20)) end
      assert.same({ true, true }, { returning:wait(10) })
      local failing = shm.spawn(function()
        assert(b:wait(20))
        error("after one round")
      end)
      assert.is_number(b:wait(20))
      assert.is_nil((failing:wait(10)))
      local last = shm.spawn(function() return b:wait(20) end)
      os.execute("sleep 0.2") -- several member checks happen meanwhile
      assert.is_number(b:wait(20))
      assert.is_true((last:wait(10)))
      assert.is_false(b.broken)
    end)

  it("Ctrl-C of a waiting lua5.4 breaks the round for the others", function()
    local b = track(shm.barrier(3))
    local other = S.start([[
      local b = assert(shm.barrier.attach(arg[1]))
      print("waiting") io.stdout:flush()
      b:wait()
    ]], b.name)
    assert.is_truthy(S.eventually(function() return S.output(other):match("waiting") end))
    local waiter = shm.spawn(function() return b:wait(20) end)
    assert.is_true(S.asleep(other)) -- arrived: interrupted before, it would break nothing
    other:kill("INT")
    assert.same({ nil, "exit", 1 }, { other:wait(10) })
    assert.matches("interrupted!", S.output(other))
    assert.same({ true, nil, "broken" }, { waiter:wait(10) })
  end)

  it("checks its arguments", function()
    assert.error_matches(function() shm.barrier(0) end, "parties must be")
    assert.error_matches(function() shm.barrier() end, "integer expected")
    -- the create options every block-backed object shares, with the block's messages
    assert.error_matches(function() shm.barrier(2, nil, { mode = 1048576 }) end,
      "bad argument #3 .*mode must be permission bits %(0..0x0fff%)")
    assert.error_matches(function() shm.barrier(2, nil, { typo = 1 }) end,
      "bad argument #3 .*unknown option 'typo'")
    assert.error_matches(function() shm.barrier(2, "a/b") end, "bad argument #2")
    local b = track(shm.barrier(2))
    assert.error_matches(function() b:wait(-1) end, "non%-negative")
  end)
end)
