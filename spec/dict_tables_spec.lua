-- Tables as shm.dict values (issue 16, through issue 15's serialiser): stored as copies in
-- serial.c's encoding under a value type of their own, decoded anew by each get, across
-- forked and separately started processes, shmlua objects inside by reference. What cannot
-- be encoded raises and changes nothing; incr and lists refuse tables; the encoding's bytes
-- count against the capacity; a stored encoding written over by a peer is an error for that
-- get, never a crash.
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

describe("shm.dict with table values", function()
  -- Bytes of t's encoding: what q:put sends, measured with a view of the message.
  local function encoded_length(t)
    local q = shm.queue { messages = 2, bytes = 65536 }
    assert(q:put(t))
    local v = assert(q:view())
    local n = #v
    v:release()
    q:unlink()
    q:close()
    return n
  end

  it("every store takes a table and get returns a copy, kinds kept", function()
    local d = track(shm.dict { bytes = 65536 })
    local t = { 1, 2.5, "a\0b", true, false, { nested = { deeper = "yes" } },
      [10] = "hole", [-1] = 0, [2.5] = "float key", [true] = "boolean key", s = "" }
    assert.same({ true, false }, { d:set("set", t) })
    assert.same({ true, false }, { d:safe_set("safe_set", t) })
    assert.same({ true, false }, { d:add("add", t) })
    assert.same({ nil, "exists" }, { d:add("add", {}) })
    assert.same({ true, false }, { d:safe_add("safe_add", t) })
    assert.same({ nil, "exists" }, { d:safe_add("safe_add", {}) })
    assert.same({ nil, "not found" }, { d:replace("absent", t) })
    d:set("replace", "a string first")
    assert.same({ true, false }, { d:replace("replace", t) })
    for _, k in ipairs { "set", "safe_set", "add", "safe_add", "replace" } do
      assert.same(t, d:get(k))
    end
    assert.same({}, (d:set("empty", {}) and d:get("empty")))
    if _VERSION == "Lua 5.4" then
      assert(load([[
        local d = ...
        d:set("kinds", { 1, 1.0, math.maxinteger, 0.0 / 0.0 })
        local got = d:get("kinds")
        assert(math.type(got[1]) == "integer" and math.type(got[2]) == "float")
        assert(got[3] == math.maxinteger and got[4] ~= got[4])
      ]]))(d)
    end
    -- a table is replaced by a string and back, and deleted as any value
    d:set("set", "now a string")
    assert.equal("now a string", d:get("set"))
    d:set("set", { "a table again" })
    assert.same({ "a table again" }, d:get("set"))
    assert.is_true(d:delete("set"))
    assert.is_nil(d:get("set"))
    d:set("set", t)
    d:set("set", nil)
    assert.is_nil(d:get("set"))
  end)

  it("is a copy: each get decodes a new table; changing one changes nothing stored", function()
    local d = track(shm.dict { bytes = 8192 })
    local t = { list = { 1, 2, 3 } }
    d:set("k", t)
    t.list[1] = "changed after set"
    local a, b = d:get("k"), d:get("k")
    assert.are_not.equal(a, b)
    assert.are_not.equal(a.list, b.list)
    a.list[2] = "changed after get"
    assert.same({ list = { 1, 2, 3 } }, b)
    assert.same({ list = { 1, 2, 3 } }, d:get("k"))
    -- metatables are not stored, as on queues
    d:set("m", setmetatable({ 1 }, { __index = function() return "meta" end }))
    local m = d:get("m")
    assert.is_nil(getmetatable(m))
    assert.is_nil(m.anything)
  end)

  it("decodes whole even when a finalizer run by the decoding closes the dict", function()
    if _VERSION == "Lua 5.1" then return end -- no finalizers on tables (LuaJIT too)
    local d = track(shm.dict { bytes = 65536 })
    local t = {}
    for i = 1, 200 do t[i] = ("string %d of a table longer than the stack buffer"):format(i) end
    d:set("k", t)
    local e = assert(shm.dict.attach(d.name))
    local got
    collectgarbage("setpause", 0) -- a collection step at every allocation
    while not e.closed do
      setmetatable({}, { __gc = function() e:close() end })
      got = e:get("k")
    end
    collectgarbage("setpause", 200)
    assert.same(t, got)
  end)

  it("rewrites a table of the same size in place, and keeps ttl, get_stale and LRU", function()
    local d = track(shm.dict { bytes = 8192 })
    d:set("k", { 1, 2, 3 })
    local free = d:free_space()
    d:set("k", { 4, 5, 6 }) -- same encoded size: the entry's chunk is reused
    assert.equal(free, d:free_space())
    assert.same({ 4, 5, 6 }, d:get("k"))
    d:set("k", { 7, 8, 9 }, 0.05)
    assert.is_true(d:ttl("k") > 0)
    os.execute("sleep 0.1")
    assert.is_nil(d:get("k"))
    local stale, is_stale = d:get_stale("k")
    assert.same({ 7, 8, 9 }, stale)
    assert.is_true(is_stale)
    d:set("fresh", { "f" })
    assert.same({ { "f" }, false }, { d:get_stale("fresh") })
    assert.same({ "fresh" }, d:get_keys())
  end)

  it("a string stays a string byte for byte, even one that looks like an encoding", function()
    local d = track(shm.dict { bytes = 8192 })
    local q = track(shm.queue { messages = 2, bytes = 4096 })
    q:put({ "x" })
    local v = assert(q:view())
    local bytes = v:sub()
    v:release()
    d:set("s", bytes)
    assert.equal("string", type(d:get("s")))
    assert.equal(bytes, d:get("s"))
    d:set("t", { "x" })
    assert.same({ "x" }, d:get("t"))
  end)

  it("crosses processes: set in a fork, read here; set here, read by a separate process",
    function()
      local d = track(shm.dict { bytes = 65536 })
      local h = shm.spawn(function()
        assert(d:set("from child", { pid = "child", list = { 1, 2, { 3 } } }))
        return true
      end)
      assert.same({ true, true }, { h:wait(30) })
      assert.same({ pid = "child", list = { 1, 2, { 3 } } }, d:get("from child"))
      d:set("from parent", { "a\0b", 2.5, { k = true } })
      local p = S.start(([[
        local d = assert(shm.dict.attach(%q))
        local t = d:get("from parent")
        print(t[1] == "a\0b", t[2], t[3].k)
        assert(d:set("back", { seen = #t }))
      ]]):format(d.name))
      assert.is_true((p:wait(30)))
      assert.equal("true\t2.5\ttrue\n", S.output(p))
      assert.same({ seen = 3 }, d:get("back"))
    end)

  it("carries shmlua objects by reference: each get attaches them by name", function()
    local d = track(shm.dict { bytes = 65536 })
    local q = track(shm.queue { messages = 4, bytes = 4096 })
    local m = track(shm.create(64))
    local a = m:array("int32", 5, 3) -- a view keeps its dtype, offset and count
    local other = track(shm.dict { bytes = 4096 })
    d:set("objects", { queue = q, view = a, dict = other, readonly = shm.attach(m.name,
      { readonly = true }) })
    local h = shm.spawn(function()
      local t = d:get("objects")
      t.view[1] = 77
      assert(t.queue:put({ from = "child", readonly = t.readonly.readonly }))
      assert(t.dict:set("child was here", { true }))
      return t.view.dtype, #t.view
    end)
    assert.same({ true, "int32", 3 }, { h:wait(30) })
    assert.equal(77, a[1])
    assert.same({ from = "child", readonly = true }, q:get(5))
    assert.same({ true }, other:get("child was here"))
    -- in a separate process too
    local p = S.start(([[
      local t = assert(shm.dict.attach(%q)):get("objects")
      assert(t.queue:put(t.view[1] + 1))
      print(t.queue.name, t.dict.name)
    ]]):format(d.name))
    assert.is_true((p:wait(30)))
    assert.equal(q.name .. "\t" .. other.name .. "\n", S.output(p))
    assert.equal(78, q:get(5))
    -- here, a get attaches again: an object unlinked meanwhile is the serialiser's error
    d:set("gone", { track(shm.queue { messages = 2, bytes = 64, name = H.name("gone") }) })
    local gone = d:get("gone")[1]
    gone:unlink()
    assert.error_matches(function() d:get("gone") end, "cannot attach the queue")
  end)

  it("carries functions within a family of processes, as queues do", function()
    local d = track(shm.dict { bytes = 65536 })
    local k = 40
    d:set("f", { add = function(n) return n + k end })
    assert.equal(42, d:get("f").add(2))
    local source = ("local t = assert(shm.dict.attach(%q)):get('f')\nprint(t.add(2))\n"):format(
      d.name)
    local path = H.tmpfile("local shm = require 'shm'\n" .. source)
    local same = H.sh(("%s%s %s 2>&1"):format(H.env, H.lua_exe, path))
    local outside = H.sh(("%sSHMLUA_KEY=00000000000000000000000000000001 %s %s 2>&1"):format(
      H.env, H.lua_exe, path))
    os.remove(path)
    assert.equal("42\n", same)
    assert.matches("outside this family", outside)
  end)

  it("refuses what cannot be encoded, naming where, and changes nothing", function()
    local d = track(shm.dict { bytes = 8192 })
    d:set("k", { "old" })
    d:set("other", "kept")
    local free, count = d:free_space(), d:count()
    local cycle = { inner = {} }
    cycle.inner.back = cycle
    local cases = {
      { cycle, 'at %["inner"%]%["back"%]: a table that contains itself cannot be sent' },
      { { co = coroutine.create(function() end) }, 'at %["co"%]: a thread cannot be sent' },
      { { 1, { io.stdout } }, "at %[2%]%[1%]: a userdata.* cannot be sent" },
      { { f = string.gmatch("", "") }, 'at %["f"%]: a C function %(not a field of a loaded' },
      { { closed = (function() local q = shm.queue(); q:unlink(); q:close(); return q end)() },
        'at %["closed"%]: a closed queue cannot be sent' },
    }
    for _, method in ipairs { "set", "safe_set", "add", "safe_add", "replace" } do
      for _, case in ipairs(cases) do
        local key = (method == "replace") and "k" or "new"
        assert.error_matches(function() d[method](d, key, case[1]) end, case[2])
        assert.same({ "old" }, d:get("k"))
        assert.is_nil(d:get("new"))
        assert.equal("kept", d:get("other"))
        assert.equal(count, d:count())
        assert.equal(free, d:free_space())
      end
    end
    -- a bare userdata or function is still not a value: put it in a table
    assert.error_matches(function() d:set("u", io.stdout) end,
      "nil, boolean, number, string or table expected, got userdata")
    assert.error_matches(function() d:set("f", print) end,
      "nil, boolean, number, string or table expected, got function")
  end)

  it("incr on a table is not a number; lists take only strings and numbers", function()
    local d = track(shm.dict { bytes = 8192 })
    d:set("t", { 1 })
    assert.same({ nil, "not a number" }, { d:incr("t", 1) })
    assert.same({ nil, "not a number" }, { d:incr("t", 1, 0) })
    assert.same({ 1 }, d:get("t"))
    assert.error_matches(function() d:lpush("l", { 1 }) end,
      "to 'lpush' %(string or number expected, got table%)")
    assert.error_matches(function() d:rpush("l", {}) end,
      "to 'rpush' %(string or number expected, got table%)")
    assert.is_nil(d:get("l"))
    assert.equal(0, d:llen("l"))
    assert.same({ nil, "value not a list" }, { d:lpush("t", "x") })
    assert.same({ nil, "value not a list" }, { d:lpop("t") })
    d:rpush("l", "x")
    assert.same({ nil, "value is a list" }, { d:get("l") })
    assert.same({ true, false }, { d:set("l", { "a table now" }) })
    assert.same({ "a table now" }, d:get("l"))
  end)

  it("counts the encoding's bytes against the capacity, as a string of that length", function()
    local t = { name = "x", list = { 1, 2, 3, 4.5 }, flags = { a = true, b = false } }
    local n = encoded_length(t)
    local a = track(shm.dict { bytes = 4096 })
    local b = track(shm.dict { bytes = 4096 })
    local free = a:free_space()
    a:set("key", t)
    b:set("key", ("s"):rep(n))
    assert.is_true(a:free_space() < free)
    assert.equal(b:free_space(), a:free_space())
    -- a table whose encoding cannot fit is "no memory", as a long string is
    local big = {}
    for i = 1, 1000 do big[i] = i end
    assert.is_true(encoded_length(big) > a:capacity())
    assert.same({ nil, "no memory" }, { a:safe_set("big", big) })
    assert.same({ nil, "no memory" }, { a:set("big", big) })
    assert.same(t, a:get("key")) -- nothing evicted for it
    -- and tables evict least recently used entries as strings do
    local c = track(shm.dict { bytes = 2048 })
    local i, forcible = 0, false
    while not forcible do
      i = i + 1
      forcible = select(2, c:set("t" .. i, { ("v"):rep(100) }))
    end
    assert.is_nil(c:get("t1"))
    assert.same({ ("v"):rep(100) }, c:get("t" .. i))
  end)
end)

describe("a table stored in a dict, written over by a peer", function()
  -- The stored encoding's first byte, found through a plain attach of the dict's block: the
  -- key is 16 bytes, so the value starts right after it (values are 8-byte aligned).
  local function stored(d, key, marker)
    local raw = track(shm.attach(d.name))
    local all = raw.buf:sub(1, raw.size)
    local at = assert(all:find(key, 1, true)) + #key
    assert.equal(at, all:find("\183\1", at, true)) -- the encoding's magic and version
    local mark = assert(all:find(marker, at, true))
    return raw.buf, at, mark
  end

  it("is an error for that get (dict damaged), never a crash; other keys unharmed", function()
    local d = track(shm.dict { bytes = 8192 })
    local key = "table-key-16byte"
    d:set(key, { "MARKER", n = 5, inner = { 1, 2 } })
    d:set("neighbour", { "fine" })
    local buf, at, mark = stored(d, key, "MARKER")
    local function damaged() return "dict '" .. d.name .. "': dict damaged" end
    local saved = buf:sub(at, mark + 5)
    buf[at] = 0 -- the magic
    assert.error_matches(function() d:get(key) end, damaged(), 1, true)
    assert.error_matches(function() d:get_stale(key) end, damaged(), 1, true)
    buf[at] = 0xB7
    buf[at + 1] = 9 -- a version this build does not read
    assert.error_matches(function() d:get(key) end, damaged(), 1, true)
    buf[at + 1] = 1
    assert.same({ "MARKER", n = 5, inner = { 1, 2 } }, d:get(key))
    buf[at + 2] = string.byte("i") -- an integer where the table was: not one table
    assert.error_matches(function() d:get(key) end, damaged(), 1, true)
    for i = 1, #saved do buf[at + i - 1] = saved:byte(i) end
    assert.same({ "fine" }, d:get("neighbour"))
    -- random bytes at random places: each get returns a table or raises, nothing else
    math.randomseed(16)
    local outcomes = {}
    for _ = 1, 2000 do
      local where = at + math.random(0, #saved - 1)
      buf[where] = math.random(0, 255)
      if math.random(2) == 1 then buf[at + math.random(0, #saved - 1)] = math.random(0, 255) end
      local ok, got = pcall(d.get, d, key)
      assert.is_true(ok and type(got) == "table" or type(got) == "string", tostring(got))
      if not ok then
        assert.is_nil(got:match("attempt to"), got)
        outcomes[got:match("dict damaged") or got] = true
      end
      for i = 1, #saved do buf[at + i - 1] = saved:byte(i) end
    end
    assert.is_true(outcomes["dict damaged"])
    assert.same({ "MARKER", n = 5, inner = { 1, 2 } }, d:get(key))
    assert.same({ "fine" }, d:get("neighbour"))
  end)

  it("its value type is what a get goes by: a type this build does not know is damage",
    function()
      local d = track(shm.dict { bytes = 8192 })
      local key = "table-key-16byte"
      d:set(key, { "MARKER" })
      local buf, at = stored(d, key, "MARKER")
      local type_at = at - #key - 8 -- the entry's type word, just before its key
      assert.equal(6, buf[type_at]) -- the encoded type, after the list's 5
      buf[type_at] = 4 -- a string: the encoding's bytes, as they are
      assert.equal("\183\1", d:get(key):sub(1, 2))
      buf[type_at] = 7 -- a type of a later build (as 6 is to a build before tables)
      assert.error_matches(function() d:get(key) end, "dict '" .. d.name .. "': dict damaged",
        1, true)
      buf[type_at] = 6
      assert.same({ "MARKER" }, d:get(key))
    end)
end)
