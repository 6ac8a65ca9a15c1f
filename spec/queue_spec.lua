-- shm.queue across real processes: several producers and consumers moving numbered messages
-- (none lost, none duplicated, order kept per producer), bounds in messages and bytes,
-- timeouts, shutdown, and a producer or consumer killed in the middle.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

-- Messages moved by the big test: 1e6 by default (about 2.5 s here, 8 s under ASan);
-- SHMLUA_QUEUE_MESSAGES sets another count.
local TOTAL = tonumber(os.getenv("SHMLUA_QUEUE_MESSAGES")) or 1000000

local track, cleanup = S.tracker()
after_each(cleanup)

describe("shm.queue", function()
  it("pushes and pops byte strings in order, within its bounds", function()
    local q = track(shm.queue { messages = 3, bytes = 10 })
    assert.equal(3, q.messages)
    assert.equal(10, q.bytes)
    assert.equal(0, q.count)
    assert.is_true(q:push("abc"))
    assert.is_true(q:push(""))
    assert.is_true(q:try_push("a\0b\255"))
    assert.same({ nil, "full" }, { q:try_push("x") }) -- 3 messages
    assert.equal(3, q.count)
    assert.equal("abc", q:pop())
    assert.same({ nil, "full" }, { q:try_push("1234567") }) -- 4 + 7 bytes > 10
    assert.is_true(q:try_push("123456"))
    assert.equal("", q:pop())
    assert.equal("a\0b\255", q:try_pop())
    assert.equal("123456", q:pop(0))
    assert.same({ nil, "empty" }, { q:try_pop() })
    assert.same({ nil, "timeout" }, { q:pop(0.05) })
    assert.error_matches(function() q:push(("x"):rep(11)) end, "longer than the queue's 10 bytes")
    assert.equal("shm.queue: " .. q.name, tostring(q))
  end)

  -- #lua53: 5.1, 5.2 and LuaJIT keep the popped strings' memory (16-17 MiB there)
  it("gives back the memory a large message needed once it is popped #lua53", function()
    if not io.open("/proc/self/status") then
      return pending("needs /proc/self/status (RssAnon)")
    end
    -- In a fresh lua5.4: private memory (RssAnon) after popping a 40 MiB message and then a
    -- small one, the popped strings collected. The pop's copy must not stay with the handle
    -- once the message is made, or (wrapped around the ring's end: copied through a buffer
    -- kept for the next large one) once a small one comes.
    -- (ASan keeps freed memory in quarantine: this child asks for none.)
    local script = H.tmpfile([[
      local shm = require "shm"
      local function anon()
        for line in io.lines("/proc/self/status") do
          local kb = line:match("^RssAnon:%s*(%d+)")
          if kb then return tonumber(kb) end
        end
      end
      local big = 40 * 1024 * 1024
      local q = assert(shm.queue { messages = 2, bytes = big })
      q:unlink()
      if arg[1] == "wrapped" then -- the big one starts 6 bytes in, 8 bytes from the end
        assert(q:push("ab"))
        assert(q:pop() == "ab")
      end
      collectgarbage()
      local before = anon()
      assert(q:push(("x"):rep(big)))
      assert(#q:pop() == big)
      assert(q:push("small"))
      assert(q:pop() == "small")
      collectgarbage()
      collectgarbage()
      print(anon() - before)
    ]])
    local asan = os.getenv("ASAN_OPTIONS")
    for _, where in ipairs { "whole", "wrapped" } do
      local out, ok = H.sh(("%s%s%s %s %s 2>&1"):format(H.env, asan and
        ("ASAN_OPTIONS=%s "):format(H.quote(asan .. ":quarantine_size_mb=0")) or "", H.lua_exe,
        script, where))
      assert.is_true(ok, out)
      local grown = tonumber(out)
      assert.is_true(grown ~= nil and grown < 8 * 1024, where .. ": " .. out) -- KiB: << 40 MiB
    end
    os.remove(script)
  end)

  it("wraps around its ring many times without tearing a message", function()
    local q = track(shm.queue { messages = 5, bytes = 37 })
    local expected = {}
    for i = 1, 2000 do
      local s = ("%d:"):format(i):rep(i % 7 + 1):sub(1, 30)
      while not q:try_push(s) do assert.equal(table.remove(expected, 1), q:pop()) end
      expected[#expected + 1] = s
    end
    while #expected > 0 do assert.equal(table.remove(expected, 1), q:pop()) end
  end)

  -- Messages over the 64 KiB a handle keeps for its pops, in one piece or wrapped around the
  -- ring's end, by pop, timed pop and try_pop; and a pop while this handle holds a view.
  it("pops large messages exactly, wrapped around its ring or not", function()
    local q = track(shm.queue { messages = 4, bytes = 300000 })
    local expected = {}
    for i = 1, 40 do
      local s = ("<%d>"):format(i):rep(70000 + 3001 * i):sub(1, 65537 + 4099 * i)
      while not q:try_push(s) do
        local want = table.remove(expected, 1)
        local got = #expected % 2 == 0 and q:pop() or q:try_pop()
        assert.equal(#want, #got)
        assert.is_true(want == got)
      end
      expected[#expected + 1] = s
    end
    while #expected > 0 do assert.is_true(table.remove(expected, 1) == q:pop(1)) end
    assert.same({ nil, "empty" }, { q:try_pop() })
    assert.same({ nil, "timeout" }, { q:pop(0.01) })
    assert.equal(0, q.count)
    q:push(("y"):rep(100000))
    local v = q:view()
    assert.error_matches(function() q:pop() end, "deadlock")
    v:release()
    assert.equal(0, q.count)
  end)

  -- A large message's string is made straight from the ring with the queue unlocked, and
  -- its allocation may run a finalizer that pops the very message being copied: that pop
  -- gets it and this one the next, none lost or taken twice.
  it("pops large messages whole while finalizers use the same queue", function()
    if _VERSION == "Lua 5.1" then return end -- no finalizers on tables (LuaJIT too)
    local q = track(shm.queue { messages = 64, bytes = 64 * 80000 })
    local by_finalizer, failures, sent = {}, {}, {}
    local meta = {}
    function meta.__gc()
      local ok, got, why = pcall(q.try_pop, q)
      if ok and got then
        by_finalizer[#by_finalizer + 1] = got
      elseif not ok or why ~= "empty" then
        failures[#failures + 1] = tostring(got) .. " " .. tostring(why)
      end
    end
    local pause, stepmul = collectgarbage("setpause", 0), collectgarbage("setstepmul", 100)
    local popped = {}
    for round = 1, 15 do
      for i = 1, 32 do
        local s = ("%02d:%02d:"):format(round, i):rep(12000)
        sent[#sent + 1] = s
        assert.is_true(q:push(s))
      end
      for _ = 1, 40 do setmetatable({}, meta) end
      while true do
        local m = q:try_pop()
        if not m then break end
        popped[#popped + 1] = m
      end
    end
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", stepmul)
    collectgarbage()
    assert.same({}, failures)
    if _VERSION == "Lua 5.4" then assert.is_true(#by_finalizer > 0) end
    for _, m in ipairs(by_finalizer) do popped[#popped + 1] = m end
    table.sort(popped)
    assert.equal(#sent, #popped)
    for k = 1, #sent do assert.is_true(sent[k] == popped[k], k) end
    assert.equal(0, q.count)
  end)

  -- A large message's string is made from the ring by hand: the collector must still count
  -- it, or a loop of large pops makes garbage it never comes for. In a fresh process: how
  -- far a heap grows before a collection depends on what it held before.
  it("lets the collector keep pace with a loop of large pops", function()
    local out, ok = H.lua([[
      local shm = require "shm"
      local q = assert(shm.queue { messages = 2, bytes = 2 * 1048576 })
      q:unlink()
      local m, peak = ("q"):rep(1048576), 0
      for _ = 1, 200 do
        assert(q:push(m))
        assert(#q:pop() == 1048576)
        peak = math.max(peak, collectgarbage("count"))
      end
      print(peak)
    ]])
    assert.is_true(ok, out)
    assert.is_true(tonumber(out) < 48 * 1024, out) -- KiB; 200 MiB if the strings were not counted
  end)

  it("is attached by name from another process, which sees the same messages", function()
    local q = track(shm.queue { name = H.name("q"), messages = 8, bytes = 256 })
    q:push("from the parent")
    local out, ok = H.lua([[
      local shm = require "shm"
      local q = assert(shm.queue.attach(arg[1]))
      print(q.messages, q.bytes, q.count, q:pop())
      q:push("from the child")
    ]], q.name)
    assert.is_true(ok, out)
    assert.equal("8\t256\t1\tfrom the parent\n", out)
    assert.equal("from the child", q:pop())
  end)

  it("blocks a pusher while full and a popper while empty, until the other side acts",
    function()
      local q = track(shm.queue { messages = 1, bytes = 16 })
      local popper = shm.spawn(function() return q:pop(10) end)
      assert.is_true(S.asleep(popper))
      q:push("wake up")
      assert.same({ true, "wake up" }, { popper:wait(10) })
      q:push("one")
      local pusher = shm.spawn(function() return q:push("two", 10) end)
      assert.is_true(S.asleep(pusher))
      assert.equal(1, q.count)
      assert.equal("one", q:pop())
      assert.same({ true, true }, { pusher:wait(10) })
      assert.equal("two", q:pop(1))
      assert.is_true(q:push("x", 0))
      assert.same({ nil, "timeout" }, { q:push("y", 0.05) })
    end)

  -- A push wakes every sleeping popper; the ones that lose the message sleep again until
  -- their own deadline: a later message still reaches them, and the last times out at the
  -- time it asked for, neither early nor a whole timeout after the push that woke it.
  it("a popper that loses a message to another waits out the rest of its timeout",
    function()
      local q = track(shm.queue { messages = 4, bytes = 64 })
      local TIMEOUT = 1.5
      local poppers = {}
      for i = 1, 3 do
        poppers[i] = shm.spawn(function()
          local started = H.now()
          local msg, err = q:pop(TIMEOUT)
          return msg or err, started, H.now()
        end)
      end
      for i = 1, 3 do assert.is_true(S.asleep(poppers[i])) end
      os.execute("sleep 0.3")
      q:push("first")
      os.execute("sleep 0.3")
      q:push("second")
      local pushed = H.now()
      local got, span = {}, {}
      for i = 1, 3 do
        local ok, what, started, ended = poppers[i]:wait(10)
        assert.is_true(ok, tostring(what))
        got[#got + 1], span[what] = what, { started, ended }
      end
      table.sort(got)
      assert.same({ "first", "second", "timeout" }, got)
      local started, ended = span.timeout[1], span.timeout[2]
      -- /proc/uptime counts in hundredths
      assert.is_true(ended - started >= TIMEOUT - 0.02, "timed out early: " .. ended - started)
      assert.is_true(ended - pushed < TIMEOUT - 0.25,
        "the loser's wait started again at a push: " .. ended - pushed)
      assert.equal(0, q.count)
    end)

  it("shutdown: pushes are refused, pops drain what is left, then every popper sees the end",
    function()
      local q = track(shm.queue { messages = 4, bytes = 64 })
      local waiters = {}
      for i = 1, 3 do waiters[i] = shm.spawn(function() return q:pop(10) end) end
      for i = 1, 3 do assert.is_true(S.asleep(waiters[i])) end
      q:push("last")
      q:shutdown()
      assert.is_true(q.ended)
      assert.same({ nil, "closed" }, { q:push("late") })
      assert.same({ nil, "closed" }, { q:try_push("late") })
      local got = {}
      for i = 1, 3 do
        local r = { waiters[i]:wait(10) }
        got[#got + 1] = r[2] or r[3]
      end
      table.sort(got)
      assert.same({ "closed", "closed", "last" }, got)
      assert.same({ nil, "closed" }, { q:pop() })
      assert.same({ nil, "closed" }, { q:try_pop() })
    end)

  it(("moves %d numbered messages between 3 producers and 3 consumers exactly"):format(TOTAL),
    function()
      local q = track(shm.queue { messages = 512, bytes = 64 * 1024 })
      local P, C = 3, 3
      local per = math.floor(TOTAL / P)
      local producers, consumers = {}, {}
      for c = 1, C do
        consumers[c] = shm.spawn(function()
          -- per producer: count, sum and sum of squares of the numbers seen, and whether
          -- each producer's numbers came in increasing order
          local count, sum, sq, last, ordered = {}, {}, {}, {}, true
          for p = 1, P do count[p], sum[p], sq[p], last[p] = 0, 0, 0, 0 end
          local pop = q.pop
          while true do
            local msg = pop(q)
            if not msg then break end
            local p, n = msg:match("^(%d+) (%d+)$")
            p, n = tonumber(p), tonumber(n)
            count[p], sum[p], sq[p] = count[p] + 1, sum[p] + n, sq[p] + n * n
            if n <= last[p] then ordered = false end
            last[p] = n
          end
          return count, sum, sq, ordered
        end)
      end
      for p = 1, P do
        producers[p] = shm.spawn(function()
          local push = q.push
          for n = 1, per do push(q, p .. " " .. n) end
          return true
        end)
      end
      for p = 1, P do assert.same({ true, true }, { producers[p]:wait(120) }) end
      q:shutdown()
      local count, sum, sq = {}, {}, {}
      for p = 1, P do count[p], sum[p], sq[p] = 0, 0, 0 end
      for c = 1, C do
        local r = { consumers[c]:wait(120) }
        assert.is_true(r[1], tostring(r[3]))
        assert.is_true(r[5], "a consumer saw a producer's messages out of order")
        for p = 1, P do
          count[p], sum[p], sq[p] = count[p] + r[2][p], sum[p] + r[3][p], sq[p] + r[4][p]
        end
      end
      for p = 1, P do
        assert.equal(per, count[p])
        assert.equal(math.floor(per * (per + 1) / 2), sum[p])
        if H.native_integers then -- beyond 2^53: exact only in integers
          local want = 0
          for n = 1, per do want = want + n * n end
          assert.equal(want, sq[p])
        end
      end
      assert.equal(0, q.count)
    end)

  it("stays whole when producers and consumers are killed with SIGKILL mid-stream",
    function()
      local q = track(shm.queue { messages = 64, bytes = 4096 })
      local last = { 0, 0 } -- per producer, the last number popped
      -- Several rounds, so that kills land inside an end's lock too (then the next locker
      -- of that end is told the owner died and settles its counts).
      for round = 1, 5 do
        local victims = {}
        for p = 1, 2 do
          victims[#victims + 1] = shm.spawn(function()
            local n = last[p]
            while true do
              n = n + 1
              local body = ("%d:%d:"):format(p, n) .. ("x"):rep(n % 50)
              q:push(body .. ("%08x"):format(#body))
            end
          end)
        end
        for _ = 1, 2 do
          victims[#victims + 1] = shm.spawn(function()
            while true do q:pop() end
          end)
        end
        os.execute("sleep " .. 0.05 * round)
        for _, v in ipairs(victims) do v:kill("KILL") end
        for _, v in ipairs(victims) do assert.same({ nil, "signal", 9 }, { v:wait(10) }) end
        -- What is left is whole messages, in order per producer, none seen twice; drained
        -- until empty, as S.killed_midstream says why (not for q.count messages).
        for msg in function() return q:try_pop() end do
          local body, sum = msg:sub(1, -9), msg:sub(-8)
          assert.equal(("%08x"):format(#body), sum)
          local p, n = body:match("^(%d):(%d+):x*$")
          p, n = tonumber(p), tonumber(n)
          assert.is_true(n > last[p])
          last[p] = n
        end
        assert.same({ nil, "empty" }, { q:try_pop() })
      end
      assert.is_true(q:push("still works"))
      assert.equal("still works", q:pop())
    end)

  it("a process killed while copying a message leaves it whole",
    function()
      -- Copying 16 MiB takes milliseconds, so these kills land inside the copies: a
      -- pusher's under the tail's lock (the next locker is told the owner died and settles
      -- that end), a popper's into its string with no lock held (the message is taken out
      -- only after it) or, for one wrapped around the ring's end, under the head's lock.
      local q = track(shm.queue { messages = 4, bytes = 50331648 })
      local big = ("m"):rep(16777216)
      for _ = 1, 3 do
        local producer = shm.spawn(function() while true do q:push(big) end end)
        local consumer = shm.spawn(function() while true do q:pop() end end)
        os.execute("sleep 0.1")
        producer:kill("KILL")
        consumer:kill("KILL")
        producer:wait(10)
        consumer:wait(10)
        for _ = 1, q.count do assert.equal(big, q:try_pop()) end
        assert.same({ nil, "empty" }, { q:try_pop() })
      end
      assert.is_true(q:push("after"))
      assert.equal("after", q:pop())
    end)

  it("a push or pop (one message or a batch) killed at each point of its commit leaves the message wholly in or out",
    function()
      -- spec/c/queue_deaths.c: a child leaves an end as a death at that point would, holding
      -- its robust lock; the next push and pops settle it, then the queue is filled to its
      -- exact capacity and emptied.
      local out, ok = H.sh(H.quote(H.programs .. "/queue_deaths") .. " 2>&1")
      assert.is_true(ok, out)
      assert.equal(table.concat({
        "push killed after arming: message dropped",
        "push killed after its counts: message dropped",
        "push killed after moving the tail: message kept",
        "push killed before disarming: message kept",
        "pop killed after arming: message kept",
        "pop killed after moving the head: message dropped",
        "pop killed before disarming: message dropped",
        "batch push killed after arming: batch dropped",
        "batch push killed after its counts: batch dropped",
        "batch push killed after moving the tail: batch kept",
        "batch push killed before disarming: batch kept",
        "batch pop killed after arming: batch kept",
        "batch pop killed after moving the head: batch dropped",
        "batch pop killed before disarming: batch dropped",
        "ok", "" }, "\n"), out)
    end)

  it("a pop waiting in lua5.4 gives way to Ctrl-C (SIGINT), again and again", function()
    local q = track(shm.queue())
    for _ = 1, 3 do
      local other = S.start([[
        local q = assert(shm.queue.attach(arg[1]))
        print("waiting") io.stdout:flush()
        print(q:pop())
      ]], q.name)
      assert.is_true(S.asleep(other))
      other:kill("INT")
      assert.same({ nil, "exit", 1 }, { other:wait(5) })
      assert.matches("interrupted!", S.output(other))
    end
    assert.is_true(q:push("still there for the next one"))
    assert.equal(1, q.count)
  end)

  it("checks its options", function()
    assert.error_matches(function() shm.queue { messages = 0 } end, "capacity in messages")
    assert.error_matches(function() shm.queue { bytes = 0 } end, "capacity in bytes")
    assert.error_matches(function() shm.queue { bytes = 1.5 } end, "must be an integer")
    assert.error_matches(function() shm.queue { size = 1 } end, "unknown option 'size'")
    assert.error_matches(function() shm.queue { name = "a/b" } end, "invalid name")
    local q = track(shm.queue())
    assert.equal(1024, q.messages)
    assert.error_matches(function() q:push({}) end, "string expected")
    assert.error_matches(function() q:pop(-1) end, "non%-negative")
  end)
end)
