-- q:put_many and q:get_many: batches of Lua values, across real processes, with the
-- signatures and results of push_many and pop_many and the guarantees of put and get.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

describe("shm.queue value batches", function()
  it("carry values of every kind through a fresh process and back, kinds kept", function()
    local qin = track(shm.queue { messages = 64, bytes = 1024 * 1024 })
    local qout = track(shm.queue { messages = 64, bytes = 1024 * 1024 })
    local m = track(shm.create(64))
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    local values = {
      true, false, 0, -1, math.maxinteger or 2 ^ 53, 1.5, 1 / 0, -1 / 0, "", table.concat(all),
      { 1, 2, { 3, { 4 } }, x = { y = "deep" }, [1.5] = "float key" }, m,
    }
    assert.equal(12, qin:put_many(values))
    assert.is_true(qin:put(nil))
    local h = S.start(([[
      local qin = assert(shm.queue.attach(%q))
      local qout = assert(shm.queue.attach(%q))
      local t, got = {}, 0
      local kinds = {}
      while got < 13 do
        local n = assert(qin:get_many(t, 13 - got, 10))
        for k = 1, n do
          local v = t[k]
          kinds[#kinds + 1] = type(v) == "number" and math.type and math.type(v) or type(v)
          if v == nil then assert(qout:put(nil)) else assert(qout:put_many(t, k, k) == 1) end
        end
        got = got + n
      end
      io.write(table.concat(kinds, " "))
    ]]):format(qin.name, qout.name))
    assert.same({ true }, { h:wait(30) })
    local ints = math.type and "integer integer integer " or "number number number "
    local floats = math.type and "float float float " or "number number number "
    assert.equal("boolean boolean " .. ints .. floats .. "string string table userdata nil",
      S.output(h))
    local back, got = {}, 0
    while got < 13 do
      local t = {}
      local n = assert(qout:get_many(t, 13, 10))
      for k = 1, n do back[got + k] = t[k] end
      got = got + n
    end
    for k = 1, 11 do assert.same(values[k], back[k]) end
    assert.is_nil(back[13])
    back[12]:array("int32")[1] = 77 -- the same block, attached by name
    assert.equal(77, m:array("int32")[1])
  end)

  it("put_many takes t[i..j] as string.sub does; get_many fills t from t[1], leaves the rest",
    function()
      local q = track(shm.queue { messages = 16, bytes = 4096 })
      assert.equal(3, q:put_many({ { 1 }, "b", 3.5 }))
      assert.equal(2, q:put_many({ 1, 2, 3, 4 }, 2, 3))
      assert.equal(2, q:put_many({ "x", "y", "z" }, -2))
      assert.equal(0, q:put_many({ "x" }, 2))
      assert.equal(0, q:put_many({}))
      local t = { "old1", "old2", "old3", "old4", "old5", "old6", "old7", "old8" }
      assert.equal(2, q:get_many(t, 2))
      assert.same({ { 1 }, "b", "old3" }, { t[1], t[2], t[3] })
      assert.equal(5, q:get_many(t, 100))
      assert.same({ 3.5, 2, 3, "y", "z", "old6", "old7", "old8" }, t)
      assert.same({ nil, "timeout" }, { q:get_many(t, 1, 0.05) })
      assert.same({ nil, "timeout" }, { q:get_many(t, 1, 0) })
    end)

  it("put_many stops at the timeout with the count that went in, or nil when none did",
    function()
      local q = track(shm.queue { messages = 3, bytes = 4096 })
      assert.same({ 3, "timeout" }, { q:put_many({ 1, 2, 3, 4, 5 }, 1, -1, 0.05) })
      assert.same({ nil, "timeout" }, { q:put_many({ 6 }, 1, 1, 0) })
      assert.equal(3, q.count)
      q:shutdown()
      assert.same({ nil, "closed" }, { q:put_many({ 7 }) })
      local t = {}
      assert.equal(3, q:get_many(t, 10))
      assert.same({ nil, "closed" }, { q:get_many(t, 10) })
    end)

  it("a value that cannot be sent or is too long raises, naming it, before any goes in",
    function()
      local q = track(shm.queue { messages = 8, bytes = 64 })
      local file = io.stdout
      assert.error_matches(function() q:put_many({ 1, 2, file }) end,
        "t[3]: " .. H.FILE .. " cannot be sent", nil, true)
      assert.error_matches(function() q:put_many({ 1, { a = { file } } }) end,
        't[2] at ["a"][1]: ' .. H.FILE .. " cannot be sent", nil, true)
      local t = {}
      t[1] = t
      assert.error_matches(function() q:put_many({ 1, t }) end, "t[2] at [1]: a table that contains itself",
        nil, true)
      assert.error_matches(function() q:put_many({ 1, ("x"):rep(100) }) end,
        "t[2]: its encoding is longer than the queue's 64 bytes", nil, true)
      assert.error_matches(function() q:put_many("abc") end, "table expected")
      assert.error_matches(function() q:put_many({ 1 }, 1, 1, -1) end, "non%-negative")
      assert.error_matches(function() q:get_many({}, 0) end, "count must be at least 1")
      assert.error_matches(function() q:get_many(nil, 1) end, "table expected")
      assert.error_matches(function() q:get_many({}, "x") end, "number expected")
      assert.equal(0, q.count)
      q:close()
      assert.error_matches(function() q:put_many({ 1 }) end, "closed")
      assert.error_matches(function() q:get_many({}, 1) end, "closed")
    end)

  it("a message that is not a value is an error for that get_many, the values before it kept",
    function()
      local q = track(shm.queue { messages = 8, bytes = 256 })
      q:put_many({ "a", "b" })
      q:push("raw bytes")
      q:put("after")
      local t = {}
      assert.error_matches(function() q:get_many(t, 10) end,
        "message 3 of the 4 taken is not one value")
      assert.same({ "a", "b" }, t)
      q:push(("\183\1{"):rep(3)) -- the header, then a table cut short
      assert.error_matches(function() q:get_many(t, 10) end, "not one value")
      assert.equal(0, q.count)
    end)

  it("moves numbered values between batch and single producers and consumers exactly",
    function()
      local q = track(shm.queue { messages = 256, bytes = 64 * 1024 })
      S.exact_batches(q, 10000, function(p, n) return { p, n = n } end,
        function(v) return v[1], v.n end, { "put_many", "get_many", "put", "get" })
    end)

  it("stays whole when batch producers and consumers are killed with SIGKILL mid-stream",
    function()
      local q = track(shm.queue { messages = 64, bytes = 8192 })
      S.killed_midstream(q, 4, function(p, n)
        return { p = p, n = n, pad = ("x"):rep(n % 50) }
      end, function(v)
        assert.equal(("x"):rep(v.n % 50), v.pad)
        return v.p, v.n
      end, q.put_many, q.get_many)
      assert.same({ nil, "empty" }, { q:try_get() })
      assert.equal(1, q:put_many({ "still works" }))
      assert.equal("still works", q:get())
    end)
end)
