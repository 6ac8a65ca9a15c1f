-- shm.dict (issue 16): OpenResty's shared dict between processes. Every method, expiry,
-- least-recently-used eviction order, lists, a random workload checked against a Lua table,
-- counters across processes, and deaths at every instruction of an operation
-- (spec/c/dict_deaths.c). Kill -9 during a mixed workload and a hostile peer: peers_spec.lua.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

local function sleep(s) os.execute("sleep " .. s) end

describe("shm.dict", function()
  it("is a named object: attach, tostring, close, unlink; its header is checked", function()
    local d = track(shm.dict { bytes = 4096, name = H.name("d") })
    assert.equal("shm.dict: " .. d.name, tostring(d))
    assert.is_false(d.closed)
    assert.is_true(d:set("k", "v"))
    local e = assert(shm.dict.attach(d.name))
    assert.equal("v", e:get("k"))
    assert.is_true(e:close())
    assert.is_true(e:close())
    assert.equal("shm.dict: " .. d.name .. " (closed)", tostring(e))
    assert.error_matches(function() e:get("k") end, "dict '" .. d.name .. "' is closed")
    local q = track(shm.queue { messages = 2, bytes = 16 })
    assert.matches("a shmlua queue, not a dict", (select(2, shm.dict.attach(q.name))))
    local b = track(shm.create(4096))
    assert.matches("not a shmlua dict", (select(2, shm.dict.attach(b.name))))
    local none, msg, code = shm.dict.attach(H.name("absent"))
    assert.is_nil(none)
    assert.matches("No such file", msg)
    assert.equal(2, code)
    -- the capacity is at least what was asked; a dict of 2 MiB or more is sharded
    assert.is_true(d:capacity() >= 4096)
    local big = track(shm.dict { bytes = 4194304 })
    assert.is_true(big:capacity() >= 4194304)
    assert.equal(big:capacity(), big:free_space())
  end)

  it("is listed by shm.blocks and shmlua --ls like every object, with this process", function()
    local d = track(shm.dict { bytes = 4096, name = H.name("listed") })
    local f = assert(io.open("/proc/self/stat"))
    local me = tonumber(f:read("*a"):match("^%d+"))
    f:close()
    local row
    for _, b in ipairs(assert(shm.blocks())) do
      if b.name == d.name then row = b end
    end
    assert.is_table(row)
    assert.is_true(row.size > 4096)
    assert.same({ me }, row.pids)
    local out, ok = H.sh(H.quote(H.shmlua) .. " --ls")
    assert.is_true(ok, out)
    assert.matches(d.name, out, 1, true)
  end)

  it("stores nil, booleans, numbers and strings; nil or delete removes", function()
    local d = track(shm.dict { bytes = 8192 })
    assert.same({ true, false }, { d:set("s", "a\0b") })
    d:set("t", true)
    d:set("f", false)
    d:set("i", 42)
    d:set("x", 2.5)
    d:set("e", "")
    assert.equal("a\0b", d:get("s"))
    assert.is_true(d:get("t"))
    assert.is_false(d:get("f"))
    assert.equal(42, d:get("i"))
    assert.equal(2.5, d:get("x"))
    assert.equal("", d:get("e"))
    assert.is_nil(d:get("nope"))
    assert.equal(6, #d)
    assert.equal(6, d:count())
    d:set("s", nil)
    assert.is_nil(d:get("s"))
    assert.same({ true, false }, { d:delete("t") })
    assert.is_true(d:delete("never there"))
    assert.equal(4, #d)
    d:set("s", ("long"):rep(500))
    assert.equal(("long"):rep(500), d:get("s"))
    if _VERSION == "Lua 5.4" then
      assert(load([[
        local d = ...
        d:set("i", 1) d:set("x", 1.0)
        assert(math.type(d:get("i")) == "integer" and math.type(d:get("x")) == "float")
      ]]))(d)
    end
  end)

  it("keys are non-empty strings of up to 64 KiB, any bytes", function()
    local d = track(shm.dict { bytes = 262144 })
    local long = ("k"):rep(65536)
    assert.is_true(d:set(long, 1))
    assert.equal(1, d:get(long))
    assert.is_nil(d:get(long:sub(2)))
    assert.is_true(d:set("\0\1\255", 2))
    assert.equal(2, d:get("\0\1\255"))
    d:set(3, 3)
    assert.equal(3, d:get("3")) -- a number is a key as its string
    assert.error_matches(function() d:get("") end, "empty key")
    assert.error_matches(function() d:set(long .. "k", 1) end, "key longer than 65536 bytes")
    assert.error_matches(function() d:get({}) end, "string expected")
    assert.error_matches(function() d:set("k", print) end,
      "nil, boolean, number, string or table expected, got function")
  end)

  it("add only when absent, replace only when present; safe forms never evict", function()
    local d = track(shm.dict { bytes = 4096 })
    assert.same({ true, false }, { d:add("a", 1) })
    assert.same({ nil, "exists" }, { d:add("a", 2) })
    assert.same({ nil, "exists" }, { d:safe_add("a", 2) })
    assert.same({ nil, "not found" }, { d:replace("b", 1) })
    assert.same({ true, false }, { d:replace("a", 3) })
    assert.equal(3, d:get("a"))
    d:set("gone", 1, 0.01)
    sleep(0.05)
    assert.same({ true, false }, { d:add("gone", 2) }) -- expired counts as absent
    d:set("gone2", 1, 0.01)
    sleep(0.05)
    assert.same({ nil, "not found" }, { d:replace("gone2", 2) })
    assert.same({ nil, "no memory" }, { d:safe_set("huge", ("x"):rep(5000)) })
    assert.same({ nil, "no memory" }, { d:set("huge", ("x"):rep(5000)) }) -- bigger than all
    assert.equal(3, d:get("a")) -- and nothing was evicted for it
  end)

  it("set evicts least recently used entries first (get counts as a use), and says so", function()
    local d = track(shm.dict { bytes = 2048 })
    local value = ("v"):rep(100)
    local n = 0
    repeat
      n = n + 1
      local ok, forcible = d:set("k" .. n, value)
      assert.is_true(ok)
    until forcible or n > 100
    assert.is_nil(d:get("k1")) -- the first one made room for k<n>
    assert.equal(n - 1, #d)
    assert.is_truthy(d:get("k2")) -- now the most recently used
    local ok, forcible = d:set("new", value)
    assert.is_true(ok and forcible)
    assert.is_nil(d:get("k3")) -- the oldest not used since
    assert.is_truthy(d:get("k2"))
    -- expired entries go first, and do not make a set "forcible"
    d:flush_all()
    assert.same({ true, false }, { d:set("after", value) })
    assert.is_nil(d:get("k2"))
    assert.same({ nil, "no memory" }, { d:safe_set("x", ("x"):rep(1900)) })
    -- a full dict: a new value of about the old one's size takes its place, evicting nothing
    local full = track(shm.dict { bytes = 4096 })
    local i = 0
    while full:safe_set("f" .. i, ("a"):rep(300)) do i = i + 1 end
    local held = #full
    assert.same({ true, false }, { full:set("f0", ("b"):rep(296)) })
    assert.same({ true, false }, { full:safe_set("f1", ("c"):rep(300)) })
    assert.equal(held, #full)
    assert.equal(("b"):rep(296), full:get("f0"))
  end)

  it("incr keeps integers integers and floats floats, from an init when absent", function()
    local d = track(shm.dict { bytes = 4096 })
    assert.same({ nil, "not found" }, { d:incr("n", 1) })
    assert.equal(11, d:incr("n", 1, 10))
    assert.equal(8, d:incr("n", -3))
    assert.equal(9.5, d:incr("n", 1.5))
    assert.equal(1.5, d:incr("f", 0.5, 1))
    d:set("s", "12")
    assert.same({ nil, "not a number" }, { d:incr("s", 1) })
    assert.error_matches(function() d:incr("n", "1") end, "number expected")
    assert.error_matches(function() d:incr("n") end, "number expected")
    assert.equal(2, d:incr("t", 1, 1, 0.02))
    assert.is_true(d:ttl("t") > 0)
    sleep(0.05)
    assert.is_nil(d:get("t"))
    if _VERSION == "Lua 5.4" then
      assert(load([[
        local d = ...
        d:set("i", math.maxinteger)
        local v = d:incr("i", 1)
        assert(math.type(v) == "integer" and v == math.mininteger, "wraps as Lua does")
        assert(math.type(d:incr("i", 1.0)) == "float")
        assert(math.type(d:incr("j", 1, 0)) == "integer")
      ]]))(d)
    end
  end)

  it("incr is atomic across processes on the same keys", function()
    local d = track(shm.dict { bytes = 65536 })
    local procs = {}
    for p = 1, 4 do
      procs[p] = S.start([[
        local d = assert(shm.dict.attach(arg[1]))
        for i = 1, 2000 do
          assert(d:incr("c" .. i % 3, 1, 0))
          assert(d:incr("shared", 1, 0))
        end
      ]], d.name)
    end
    for _, p in ipairs(procs) do assert.is_true(p:wait(60), S.output(p)) end
    assert.equal(8000, d:get("shared"))
    assert.equal(8000, d:get("c0") + d:get("c1") + d:get("c2"))
  end)

  it("ttl in seconds to the millisecond; expire, get_stale, flush_all, flush_expired", function()
    local d = track(shm.dict { bytes = 8192 })
    d:set("forever", 1)
    assert.equal(0, d:ttl("forever"))
    assert.same({ nil, "not found" }, { d:ttl("absent") })
    d:set("short", "s", 0.05)
    local left = d:ttl("short")
    assert.is_true(left > 0.02 and left <= 0.05, left)
    assert.equal("s", d:get("short"))
    sleep(0.08)
    assert.is_nil(d:get("short"))
    assert.same({ "s", true }, { d:get_stale("short") })
    assert.same({ 1, false }, { d:get_stale("forever") })
    assert.same({ nil, "not found" }, { d:ttl("short") })
    assert.same({ nil, "not found" }, { d:expire("short", 1) })
    assert.is_true(d:expire("forever", 0.03))
    assert.is_true(d:ttl("forever") > 0)
    sleep(0.05)
    assert.is_nil(d:get("forever"))
    d:set("kept", 1, 10)
    assert.is_true(d:expire("kept", 0))
    assert.equal(0, d:ttl("kept"))
    assert.error_matches(function() d:set("k", 1, -1) end, "ttl must be 0")
    assert.error_matches(function() d:set("k", 1, 0 / 0) end, "ttl must be 0")
    for i = 1, 5 do d:set("x" .. i, i, 0.01) end
    sleep(0.05)
    assert.equal(8, #d) -- expired entries are held until removed
    assert.equal(2, d:flush_expired(2))
    assert.equal(5, d:flush_expired())
    assert.equal(1, #d)
    assert.equal(1, d:get("kept"))
    d:set("a", 1)
    d:flush_all()
    assert.is_nil(d:get("kept"))
    assert.same({ 1, true }, { d:get_stale("a") })
    assert.same({}, d:get_keys())
    assert.equal(2, d:flush_expired())
    assert.equal(0, #d)
    assert.equal(d:capacity(), d:free_space())
  end)

  it("get_keys lists keys not expired, most recently used first, up to max (0: all)",
    function()
      local d = track(shm.dict { bytes = 262144 })
      for i = 1, 1500 do d:set("k" .. i, i) end
      assert.equal(1024, #d:get_keys())
      assert.equal(1500, #d:get_keys(0))
      assert.same({ "k1500", "k1499" }, d:get_keys(2))
      d:get("k7")
      assert.same({ "k7" }, d:get_keys(1))
      d:set("old", 1, 0.01)
      sleep(0.03)
      for _, k in ipairs(d:get_keys(0)) do assert.is_not.equal("old", k) end
      assert.error_matches(function() d:get_keys(-1) end, "must be 0")
      assert.error_matches(function() d:get_keys(1.5) end, "number has no integer representation")
    end)

  it("lists: push at either end, pop from either end, llen; OpenResty's messages", function()
    local d = track(shm.dict { bytes = 65536 })
    assert.equal(1, d:rpush("l", "b"))
    assert.equal(2, d:lpush("l", "a"))
    assert.equal(3, d:rpush("l", 3))
    assert.equal(4, d:rpush("l", 4.5))
    assert.equal(4, d:llen("l"))
    assert.same({ nil, "value is a list" }, { d:get("l") })
    assert.equal("a", d:lpop("l"))
    assert.equal(4.5, d:rpop("l"))
    assert.equal(3, d:rpop("l"))
    assert.equal("b", d:lpop("l"))
    assert.is_nil(d:lpop("l"))
    assert.equal(0, d:llen("l"))
    assert.is_nil(d:get("l")) -- an emptied list is gone
    d:set("s", "x")
    assert.same({ nil, "value not a list" }, { d:lpush("s", 1) })
    assert.same({ nil, "value not a list" }, { d:rpop("s") })
    assert.same({ nil, "value not a list" }, { d:llen("s") })
    assert.error_matches(function() d:lpush("l", true) end, "string or number expected")
    -- a list as a queue, then dropped whole: all its memory comes back
    for i = 1, 500 do d:rpush("q", ("item%d"):format(i)) end
    for i = 1, 250 do assert.equal(("item%d"):format(i), d:lpop("q")) end
    assert.equal(250, d:llen("q"))
    d:delete("q")
    d:delete("s")
    assert.equal(0, #d)
    assert.equal(d:capacity(), d:free_space())
    -- lists expire like any value; a push on an expired one starts a new list
    d:rpush("e", 1)
    d:expire("e", 0.01)
    sleep(0.03)
    assert.equal(0, d:llen("e"))
    assert.equal(1, d:rpush("e", 2))
    assert.equal(2, d:lpop("e"))
    -- a push that does not fit says so and changes nothing
    local small = track(shm.dict { bytes = 1024 })
    local n = 0
    while small:rpush("l", ("x"):rep(50)) do n = n + 1 end
    assert.same({ nil, "no memory" }, { small:rpush("l", ("x"):rep(50)) })
    assert.equal(n, small:llen("l"))
  end)

  it("a random workload matches a Lua table, and every byte comes back", function()
    math.randomseed(7)
    for _, bytes in ipairs { 65536, 4194304 } do
      local d = track(shm.dict { bytes = bytes })
      local model = {}
      for step = 1, 20000 do
        local k = "key" .. math.random(1, 300)
        local r = math.random()
        if r < 0.4 then
          local v = math.random() < 0.5 and math.random(1, 1e6) or ("v"):rep(math.random(0, 90))
          assert.is_true(d:set(k, v))
          model[k] = v
        elseif r < 0.5 then
          d:delete(k)
          model[k] = nil
        elseif r < 0.6 then
          local ok = d:add(k, step)
          assert.equal(model[k] == nil, ok == true)
          if ok then model[k] = step end
        elseif r < 0.7 and type(model[k]) ~= "string" then
          local v = d:incr(k, 2, 0)
          model[k] = (model[k] or 0) + 2
          assert.equal(model[k], v)
        else
          assert.equal(model[k], d:get(k))
        end
      end
      local n = 0
      for k, v in pairs(model) do
        n = n + 1
        assert.equal(v, d:get(k))
      end
      assert.equal(n, #d)
      assert.equal(n, #d:get_keys(0))
      for k in pairs(model) do d:delete(k) end
      assert.equal(0, #d)
      assert.equal(d:capacity(), d:free_space())
    end
  end)

  it("bad arguments raise before anything changes", function()
    assert.error_matches(function() shm.dict { bytes = 10 } end, "capacity in bytes must be")
    assert.error_matches(function() shm.dict { bytes = 1.5 } end, "'bytes' must be an integer")
    assert.error_matches(function() shm.dict { messages = 1 } end, "messages")
    local d = track(shm.dict { bytes = 4096 })
    assert.error_matches(function() d.get(nil, "k") end, "shm.dict expected")
    assert.error_matches(function() d:flush_expired(-1) end, "must be 0")
    assert.error_matches(function() d:expire("k") end, "value expected")
  end)
end)

-- A C program (spec/c/dict_deaths.c), no Lua in it: run with the 5.4 builds only (#lua54).
describe("shm.dict, processes killed at every instruction of an operation #lua54", function()
  it("leave every other key as it was, the operation whole or not at all, no byte lost",
    function()
      -- spec/c/dict_deaths.c single-steps a child through each operation and kills it at
      -- each step in turn (a stride of them where the operation is long)
      local out, ok = H.sh(H.quote(H.build .. "/spec/dict_deaths") .. " 2>&1")
      assert.is_true(ok, out)
      assert.matches("ok\n$", out)
    end)
end)
