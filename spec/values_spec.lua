-- Lua values on queues (q:put / q:get) and in shm.spawn results, between real processes:
-- every kind of data, shmlua objects by reference, functions with upvalues, what cannot be
-- sent, and corrupt or hostile messages (an error for that get, never a crash).
local H = require "helper"
local S = require "sync_helper"
local shm = require "shm"

local track, cleanup = S.tracker()
after_each(cleanup)

-- Runs source in a fresh lua5.4 (not a fork) with `qin` and `qout` attached by name; it
-- must end. Returns its output.
local function echo_process(qin, qout, source)
  local h = S.start(("local qin = assert(shm.queue.attach(%q))\n" ..
    "local qout = assert(shm.queue.attach(%q))\n"):format(qin.name, qout.name) .. source)
  local ok, how, code = h:wait(30)
  assert(ok, S.output(h) .. tostring(how) .. " " .. tostring(code))
  return S.output(h)
end

local function queues()
  return track(shm.queue { messages = 64, bytes = 1024 * 1024 }),
    track(shm.queue { messages = 64, bytes = 1024 * 1024 })
end

describe("q:put and q:get", function()
  it("carry data of every kind through another process and back, kinds kept", function()
    local qin, qout = queues()
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    -- integers and floats are apart only from Lua 5.3 on (math.type); the child is lua5.4
    local values = {
      true, false, 0, -1, math.maxinteger or 2 ^ 53, math.mininteger or -2 ^ 53, 1.5, -0.5,
      1 / 0, -1 / 0,
      "", table.concat(all), ("x"):rep(100000),
      { 1, 2, 3, { 4, { 5 } }, x = { y = { z = "deep" } }, [1.5] = "float key", [true] = 1 },
    }
    for _, v in ipairs(values) do assert.is_true(qin:put(v)) end
    assert.is_true(qin:put(0 / 0))
    assert.is_true(qin:put(nil))
    local out = echo_process(qin, qout, [[
      for i = 1, 16 do
        local v, err = qin:get(5)
        assert(err == nil, err)
        io.write(type(v) == "number" and (math.type and math.type(v) or "float") or type(v), " ")
        qout:put(v)
      end
    ]])
    local ints = math.type and "integer integer integer integer " or "float float float float "
    assert.equal("boolean boolean " .. ints .. "float float float float " ..
      "string string string table float nil ", out)
    for _, v in ipairs(values) do
      local got = qout:get(1)
      assert.same(v, got)
      if math.type and type(v) == "number" then assert.equal(math.type(v), math.type(got)) end
    end
    local nan = qout:get(1)
    assert.is_true(nan ~= nan)
    local v, err = qout:get(1)
    assert.is_nil(v)
    assert.is_nil(err) -- a nil value, not a failure
    assert.same({ nil, "empty" }, { qout:try_get() })
    assert.same({ nil, "timeout" }, { qout:get(0.01) })
  end)

  it("carry shmlua objects by name: the same object, read-only kept, views kept", function()
    local qin, qout = queues()
    local m = track(shm.create(64))
    local ro = track(shm.attach(m.name, { readonly = true }))
    local view = m:array("int32", 9, 4)
    local l = track(shm.list({ 1, "two", shm.null }))
    local objects = {
      m, ro, view, l, track(shm.mutex()), track(shm.semaphore(3)), track(shm.event()),
      track(shm.barrier(2)), qin, shm.null,
    }
    local mu = track(shm.mutex())
    objects[#objects + 1] = track(shm.cond(mu))
    for _, o in ipairs(objects) do assert.is_true(qin:put(o)) end
    local out = echo_process(qin, qout, [[
      local m, ro, view, l = qin:get(), qin:get(), qin:get(), qin:get()
      m.buf[1] = 65
      print(m.size, ro.readonly, pcall(function() ro.buf[1] = 1 end))
      print(view.dtype, #view, view[1])
      view[1] = 77
      print(l[1], l[2], l[3] == shm.null)
      local mutex, sem, ev, bar, q, null, cond = qin:get(), qin:get(), qin:get(), qin:get(),
        qin:get(), qin:get(), qin:get()
      print(sem.value, ev.isset, bar.parties, null == shm.null, cond.mutex.name)
      ev:set()
      assert(mutex:lock())
      mutex:unlock()
      qout:put({ mutex.name, q.name, m.name })
    ]])
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^64\ttrue\tfalse\t.*read%-only", lines[1])
    assert.equal("int32\t4\t0", lines[2])
    assert.equal("1\ttwo\ttrue", lines[3])
    assert.equal(("3\tfalse\t2\ttrue\t%s"):format(mu.name), lines[4])
    assert.equal(65, m.buf[1])
    assert.equal(77, view[1]) -- the same memory, at the view's offset
    assert.is_true(objects[7].isset)
    assert.same({ objects[5].name, qin.name, m.name }, qout:get(1))
  end)

  it("carry a dict by reference", function()
    local q = track(shm.queue())
    local d = track(shm.dict())
    assert(d:set("k", "v"))
    local h = shm.spawn(function()
      local got = assert(q:get(5))
      assert(got:set("from child", 1))
      return got.name, got:get("k")
    end)
    q:put(d)
    assert.same({ true, d.name, "v" }, { h:wait(30) })
    assert.equal(1, d:get("from child"))
  end)

  it("carry views of every layout: strided, reversed, 2-D", function()
    local q = track(shm.queue())
    local m = track(shm.create(80))
    local a = m:array("int64")
    for i = 1, 10 do a[i] = i end
    local h = shm.spawn(function()
      local out = {}
      for i = 1, 3 do
        local v = assert(q:get(5))
        out[i] = table.concat(v:totable(), ",") .. " " .. table.concat(v.shape, "x")
      end
      return out
    end)
    q:put(a:view(1, -1, 2))
    q:put(a:view(2, 7, -2))
    q:put(a:reshape(2, 5))
    local ok, out = h:wait(30)
    assert.is_true(ok)
    assert.same({ "1,3,5,7,9 5", "7,5,3 3", "1,2,3,4,5,6,7,8,9,10 2x5" }, out)
  end)

  it("refuse what cannot be sent, saying where, and send nothing", function()
    local q = track(shm.queue { messages = 4, bytes = 4096 })
    local t = { a = { b = {} } }
    t.a.b.c = t
    assert.error_matches(function() q:put(t) end,
      'value #1 at ["a"]["b"]["c"]: a table that contains itself', nil, true)
    assert.error_matches(function() q:put({ 1, { io.stdout } }) end,
      "value #1 at [2][1]: " .. H.FILE .. " cannot be sent", nil, true)
    assert.error_matches(function() q:put(coroutine.create(function() end)) end, "a thread cannot be sent")
    local closed = shm.create(8)
    closed:close()
    assert.error_matches(function() q:put(closed) end, "a closed block cannot be sent")
    assert.equal(0, q.count)
    local deep = {}
    for _ = 1, 150 do deep = { deep } end
    assert.error_matches(function() q:put(deep) end, "nested over 100 levels")
  end)

  it("refuse a corrupt or hostile message with an error for that get, never a crash", function()
    local q = track(shm.queue { messages = 64, bytes = 1024 * 1024 })
    local good = { 1, "two", { 3.5 } }
    q:put(good)
    local encoded = q:pop()
    local bad = {
      "", "x", encoded:sub(1, 1) .. "\2" .. encoded:sub(3), -- wrong version
      encoded:sub(1, -2), -- truncated
      encoded .. "\0", -- a tag that does not exist
      encoded:sub(1, 2) .. "{" .. ("\255"):rep(8), -- huge counts, no end
      encoded:sub(1, 2) .. "s" .. ("\255"):rep(8) .. "abc", -- a length past the end
      encoded:sub(1, 2) .. "r\0\0\0\0", -- a reference to no function
      encoded:sub(1, 2) .. "F" .. ("\0"):rep(16) .. "\27Lua", -- bytecode with no key
      encoded:sub(1, 2) .. "o\5\0\0\0\0\0\0\0block" .. "\2\0\0\0\0\0\0\0/x\0", -- a bad name
      encoded:sub(1, 2) .. "o\4\0\0\0\0\0\0\0evil\1\0\0\0\0\0\0\0x\0", -- an unknown kind
      encoded:sub(1, 2) .. "Mxx", -- a module name cut short
      encoded:sub(1, 2) .. "#\255\255\255\127" .. ("\0"):rep(16), -- more integers than bytes
      encoded:sub(1, 2) .. "#\2\0\0\0" .. ("\0"):rep(15), -- the second cut short
    }
    for _, s in ipairs(bad) do
      assert.is_true(q:push(s))
      local ok = pcall(q.get, q)
      assert.is_false(ok)
    end
    -- random damage to a valid message, in a child so that a crash would show as a signal
    local h = shm.spawn(function()
      for _ = 1, 20000 do
        local s = encoded
        for _ = 1, math.random(1, 4) do
          local at = math.random(1, #s)
          s = s:sub(1, at - 1) .. string.char(math.random(0, 255)) .. s:sub(at + 1)
        end
        q:push(s)
        pcall(q.get, q)
      end
      return true
    end)
    assert.same({ true, true }, { h:wait(60) })
    q:put(good)
    assert.same(good, q:get())
    if string.pack then -- a pool's packed list of integers (the encoding is native-endian)
      q:push(encoded:sub(1, 2) .. "#" .. string.pack("=I4i8i8", 2, 7, math.mininteger))
      assert.same({ 7, math.mininteger }, q:get())
      -- more than a Lua stack holds (they are decoded one by one then)
      local huge = track(shm.queue { messages = 2, bytes = 9 * 1024 * 1024 })
      local n = 1000001
      huge:push(encoded:sub(1, 2) .. "#" .. string.pack("=I4", n) .. string.pack("=i8", 3):rep(n))
      local t = huge:get()
      assert.same({ n, 3, 3 }, { #t, t[1], t[n] })
    end
  end)

  -- Decoding allocates, and any allocation may run a finalizer: one that closes the queue
  -- freed the bytes being decoded (ASan: heap-use-after-free in the decoder).
  it("decode whole even when a finalizer run by the decoding closes the queue", function()
    if _VERSION == "Lua 5.1" then return end -- no finalizers on tables (LuaJIT too)
    local q = track(shm.queue { messages = 4, bytes = 1048576 })
    local t = {}
    for i = 1, 2000 do -- long strings: the decoding allocates enough to make collection steps
      t[i] = ("string %d "):format(i) .. ("x"):rep(100)
    end
    local closed_inside, in_get, rounds, current = false, false, 0, nil
    local meta = { __gc = function()
      if in_get and not closed_inside then
        closed_inside = true
        current:close()
      end
    end }
    -- a collection step at every allocation, whatever an earlier spec set
    local pause, stepmul = collectgarbage("setpause", 0), collectgarbage("setstepmul", 100)
    while not closed_inside and rounds < (_VERSION == "Lua 5.4" and 2000 or 300) do
      rounds = rounds + 1
      current = assert(shm.queue.attach(q.name))
      assert(q:put(t))
      -- garbage with finalizers, which the steps run a few at a time, after garbage of a
      -- random size (where a collection cycle stands when the get starts varies)
      for _ = 1, math.random(1, 300) do local _ = {} end
      for _ = 1, 100 do setmetatable({}, meta) end
      in_get = true
      local ok, got = pcall(current.get, current)
      in_get = false
      -- 5.2 copies a string after a collection step: the message is then gone, and says so
      if ok then assert.same(t, got) else assert.matches("is closed", got) end
      current:close()
      while q:try_get() ~= nil do end -- the message a closed handle did not take
    end
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", stepmul)
    -- 5.2 and 5.3 run finalizers at other points of their cycles, in a suite's heap too
    -- seldom inside the read: there the rounds check what they catch
    if _VERSION == "Lua 5.4" then assert.is_true(closed_inside) end
  end)

  it("refuse a function from a process of another family, unloaded", function()
    local q = track(shm.queue { messages = 4, bytes = 65536 })
    local k = 42
    local source = ("local shm = require 'shm'\nlocal q = assert(shm.queue.attach(%q))\n" ..
      "local ok, f = pcall(q.get, q)\nprint(ok, ok and f() or f)\n"):format(q.name)
    local path = H.tmpfile(source)
    q:put(function() return k end)
    local other = H.sh(("%sSHMLUA_KEY=00000000000000000000000000000001 " .. H.lua_exe .. " %s 2>&1"):format(
      H.env, path))
    q:put(function() return k end)
    local same = H.sh(("%s%s %s 2>&1"):format(H.env, H.lua_exe, path)) -- inherits this one's key
    os.remove(path)
    assert.matches("^false\t.*outside this family", other)
    assert.equal("true\t42\n", same)
  end)
end)

describe("functions that travel", function()
  it("run in a process that did not fork after they were made, with every kind of upvalue",
    function()
      local qin, qout = queues()
      local m = track(shm.create(16))
      local counter = m:array("int64")
      local number, text, list = 6, "six", { 1, 2, { 3 } }
      local floor, format = math.floor, string.format
      local function helper(x) return x * number end
      local function fact(n) if n <= 1 then return 1 end return n * fact(n - 1) end
      local fns = {
        function() return number, text, list[3][1] end,   -- data upvalues
        function() counter:add(1, 5) return counter.dtype end, -- a shmlua object
        function() return helper(7) end,                   -- a Lua function
        function() return fact(5) end,                     -- a recursive local function
        function() return floor(2.5), format("%03d", 7) end, -- C functions by name
        function() return type(print), _VERSION end,      -- _ENV: the receiver's globals
        function() return shm.version, string.rep("a", 3) end, -- modules by name
        function(a, b) return a .. b end,                  -- arguments
      }
      for _, f in ipairs(fns) do assert.is_true(qin:put(f)) end
      local out = echo_process(qin, qout, [[
        for i = 1, 8 do
          local f = assert(qin:get(5))
          qout:put({ f(i == 8 and "x" or nil, i == 8 and "y" or nil) })
        end
        print(type(undefined_global))
      ]])
      assert.equal("nil\n", out)
      assert.same({ 6, "six", 3 }, qout:get(1))
      assert.same({ "int64" }, qout:get(1))
      assert.equal(5, counter[1])
      assert.same({ 42 }, qout:get(1))
      assert.same({ 120 }, qout:get(1))
      assert.same({ 2, "007" }, qout:get(1))
      assert.same({ "function", _VERSION }, qout:get(1))
      assert.same({ shm.version, "aaa" }, qout:get(1))
      assert.same({ "xy" }, qout:get(1))
    end)

  it("refuse an upvalue that cannot be sent, naming it", function()
    local q = track(shm.queue { messages = 4, bytes = 65536 })
    local file = io.stdout
    local co = coroutine.create(function() end)
    assert.error_matches(function() q:put(function() return file end) end,
      "value #1 at (upvalue file): " .. H.FILE .. " cannot be sent", nil, true)
    assert.error_matches(function() q:put({ f = function() return co end }) end,
      'value #1 at ["f"](upvalue co): a thread cannot be sent', nil, true)
    assert.error_matches(function() q:put(coroutine.wrap(function() end)) end,
      "a C function (not a field of a loaded module)", nil, true)
    assert.equal(0, q.count)
  end)

  it("come back from shm.spawn, as shmlua objects do", function()
    local made = track(shm.create(32))
    local ok, f, block = shm.spawn(function()
      local base = 10
      return function(x) return x + base end, made
    end):wait()
    assert.is_true(ok)
    assert.equal(15, f(5))
    assert.equal(made.name, block.name)
  end)
end)
