-- q:view(): the oldest message read in place, released explicitly, by <close> or by the
-- collector; across the ring's end; across processes; under SIGKILL of its holder.
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

describe("shm.queue views", function()
  -- A child that views q's next message (waiting up to 10 s) and returns its bytes.
  local function view_in_child(q)
    return shm.spawn(function()
      local v = assert(q:view(10))
      local s = v:sub()
      v:release()
      return s
    end)
  end

  it("read the message in place like a string, and take it out when released #lua53", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    q:push(string.pack("<i4 z", 1234, "name"))
    q:push("second")
    local v = assert(q:view())
    assert.equal(9, #v)
    assert.same({ 1234, "name", 10 }, { v:unpack("<i4 z") })
    assert.same({ "name", 10 }, { v:unpack("z", 5) })
    assert.equal("name", v:sub(5, -2))
    assert.same({ 110, 97 }, { v:byte(5, 6) })
    assert.equal(2, q.count)
    assert.matches("9 bytes", tostring(v))
    v:release()
    assert.equal(1, q.count)
    assert.equal("second", q:pop())
    assert.equal("shm.view: released", tostring(v))
    v:release() -- again: nothing
  end)

  it("raises when used after its release", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    q:push("abc")
    local v = assert(q:view())
    v:release()
    for _, f in ipairs {
      function() return #v end, function() return v:sub(1) end,
      function() return v:byte(1) end, function() return v:unpack("b") end,
    } do
      assert.error_matches(f, "used after its release")
    end
    assert.error_matches(function() return v.sub(nil) end, "shm.view expected")
  end)

  it("reads a message that wraps around the ring's end exactly as the string #lua53", function()
    local q = track(shm.queue { messages = 2, bytes = 40 }) -- a ring of 48 bytes
    local msg = "0123456789abcdefghijklmnopqrstu" -- 31 bytes
    for shift = 0, 47 do
      q:push(("s"):rep(shift % 36))
      q:pop()
      q:push(msg)
      local v = assert(q:view())
      assert.equal(#msg, #v)
      for i = -#msg - 1, #msg + 1, 3 do
        for j = -#msg - 1, #msg + 1, 5 do assert.equal(msg:sub(i, j), v:sub(i, j)) end
        assert.same({ msg:byte(i, i + 4) }, { v:byte(i, i + 4) })
      end
      for pos = 1, #msg - 3 do
        assert.same({ string.unpack("<i4", msg, pos) }, { v:unpack("<i4", pos) })
      end
      assert.same({ string.unpack("c31", msg) }, { v:unpack("c31") })
      assert.error_matches(function() v:unpack("c32") end, "data string too short")
      v:release()
      assert.equal(0, q.count)
    end
  end)

  it("is released by <close> and by the collector #lua54", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    q:push_many({ "a", "b" })
    assert(load([[
      local q = ...
      do local v <close> = assert(q:view()) assert(v:sub() == "a") end
    ]]))(q)
    assert.equal(1, q.count)
    do local _ = assert(q:view()) end
    collectgarbage()
    collectgarbage()
    assert.equal(0, q.count)
  end)

  it("holds other poppers off until released; a pop of its own process fails", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    q:push_many({ "first", "second" })
    local v = assert(q:view())
    assert.error_matches(function() q:pop(0.1) end, "deadlock")
    assert.error_matches(function() q:view() end, "deadlock")
    local popper = shm.spawn(function() return q:pop(10) end)
    assert.is_true(S.asleep(popper))
    assert.equal("first", v:sub())
    v:release()
    assert.same({ true, "second" }, { popper:wait(10) })
    -- its room goes back to pushers
    local pusher = shm.spawn(function() return q:push_many({ "1", "2", "3", "4" }, 1, -1, 10) end)
    assert.same({ true, 4 }, { pusher:wait(10) })
  end)

  it("is its process's own: a process forked while it is open can view", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    q:push_many({ "first", "second" })
    local v = assert(q:view())
    local viewer = view_in_child(q)
    assert.is_true(S.asleep(viewer))
    v:release()
    local ok, got, err = viewer:wait(10)
    assert.is_true(ok, err)
    assert.equal("second", got)
  end)

  it("leaves the message in when its queue is closed, or its process killed", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    local other = assert(shm.queue.attach(q.name))
    other:push("kept")
    local v = assert(other:view())
    other:close()
    assert.error_matches(function() return #v end, "used after its release")
    assert.equal("kept", q:pop(1))
    q:push("kept again")
    local ready, never = track(shm.semaphore(0)), track(shm.event())
    local holder = shm.spawn(function()
      local w = assert(q:view())
      assert(w:sub() == "kept again")
      ready:release()
      while true do never:wait() end -- hang on to it
    end)
    assert.is_true(ready:acquire(10))
    holder:kill("KILL")
    holder:wait(10)
    assert.equal("kept again", q:pop(5))
    assert.equal(0, q.count)
  end)

  it("is not released by a forked child, which does not hold the lock", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    q:push_many({ "viewed", "next" })
    local v = assert(q:view())
    local child = shm.spawn(function()
      v:release()
      q:close()
      return true
    end)
    assert.same({ true, true }, { child:wait(10) })
    assert.equal(2, q.count)
    assert.equal("viewed", v:sub())
    v:release()
    assert.equal(1, q.count)
    assert.equal("next", q:pop(1))
  end)

  it("waits for a message like pop, and says timeout or closed", function()
    local q = track(shm.queue { messages = 4, bytes = 64 })
    assert.same({ nil, "timeout" }, { q:view(0.05) })
    local viewer = view_in_child(q)
    assert.is_true(S.asleep(viewer))
    q:push("hi")
    assert.same({ true, "hi" }, { viewer:wait(10) })
    q:shutdown()
    assert.same({ nil, "closed" }, { q:view() })
    assert.error_matches(function() q:view(-1) end, "non%-negative")
  end)
end)
