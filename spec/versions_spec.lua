-- What differs between the Luas the module is built for (docs/api.md, "Lua versions"), and
-- LuaJIT's FFI element access (lua/shm/jit.lua). Runs on every Lua; the expectations say
-- which.
local H = require "helper"
local shm = require "shm"

local block = H.block

-- Little-endian bytes of 2^60 + 1, which a double cannot hold.
local BIG = "\1\0\0\0\0\0\0\16"

describe("numbers without native integers (5.1, 5.2, LuaJIT)", function()
  it("int64 and uint64 take and give exact integers up to 2^53 and raise beyond", function()
    local m = block(32)
    local i64, u64 = m:array("int64", 1, 2), m:array("uint64", 17, 2)
    i64[1], u64[1] = 2 ^ 53, 2 ^ 53
    i64[2] = -2 ^ 53
    assert.same({ 2 ^ 53, -2 ^ 53, 2 ^ 53 }, { i64[1], i64[2], u64[1] })
    m.buf:write(1, BIG)
    m.buf:write(17, BIG)
    if H.native_integers then
      i64[2] = 2 ^ 60 -- an exact float: stored as that integer
      assert.equal(2 ^ 60, i64[2])
      assert.equal(1152921504606846977, i64[1]) -- written as bytes: 2^60 + 1 exactly
    else
      for _, a in ipairs({ i64, u64 }) do
        assert.error_matches(function() return a[1] end, "beyond 2^53", 1, true)
        assert.error_matches(function() return a:load(1) end, "beyond 2^53", 1, true)
        assert.error_matches(function() a[2] = 2 ^ 54 end, "beyond 2^53", 1, true)
        assert.error_matches(function() a:store(2, 2 ^ 54) end, "beyond 2^53", 1, true)
        assert.error_matches(function() m:array("int32")[1] = 2 ^ 60 end, "out of range")
      end
      assert.equal(BIG, m.buf:sub(1, 8)) -- nothing was rounded or written
    end
    -- results computed in C obey the same rule: a sum beyond 2^53 raises where it cannot
    -- be exact
    local two = m:array("int64", 1, 2)
    two[1], two[2] = 2 ^ 52, 2 ^ 52 + 2
    if H.native_integers then
      assert.equal(2 ^ 53 + 2, two:sum())
    else
      assert.error_matches(function() return two:sum() end, "beyond 2^53", 1, true)
    end
    assert.error_matches(function() m:array("int8", 2 ^ 60) end,
      H.native_integers and "out of range" or "number has no integer representation")
  end)
end)

describe("iterating views", function()
  -- ipairs follows __index from 5.3 on and takes __ipairs on 5.2; pairs takes __pairs from
  -- 5.2 on. 5.1's and LuaJIT's (Debian's is built without LUAJIT_ENABLE_LUA52COMPAT) take
  -- neither and refuse a userdata: a numeric for over #v walks a view on every Lua.
  it("walks buf, arrays and lists with ipairs and pairs where this Lua allows, #v always",
    function()
      local m = block(4)
      m.buf:write(1, "\1\2\3\4")
      local l = assert(shm.list({ 1, 2, 3, 4 }))
      l:unlink()
      for _, v in ipairs({ m.buf, m:array("uint8"), l }) do
        local seen = {}
        for i = 1, #v do seen[i] = v[i] end
        assert.same({ 1, 2, 3, 4 }, seen)
        for _, iterate in ipairs({ ipairs, pairs }) do
          local walks = H.lua_version ~= "5.1" and H.lua_version ~= "luajit"
          local ok, got = pcall(function()
            local t = {}
            for i, x in iterate(v) do t[i] = x end
            return t
          end)
          if walks then
            assert.is_true(ok, got)
            assert.same({ 1, 2, 3, 4 }, got)
          else
            assert.is_false(ok)
            assert.matches("table expected, got userdata", got)
          end
        end
      end
      l:close()
      m:close()
    end)
end)

describe("element access", function()
  -- Under LuaJIT these loops are compiled traces over FFI; a block closed after the loop got
  -- hot must still raise, never be read.
  it("raises once the block is closed, also from a hot loop", function()
    local m = block(4096)
    local b, a = m.buf, m:array("int32")
    local function run()
      local s = 0
      for i = 1, 1024 do
        b[4 * i - 3] = i % 256
        a[i] = i
        s = s + a[i] + (b[4 * i - 3] + b[4 * i - 2] * 256)
      end
      return s
    end
    local want = 0
    for i = 1, 1024 do want = want + 2 * i end -- a[i] = i overwrites b's bytes: b[i] is read after
    for _ = 1, 200 do assert.equal(want, run() - 0) end
    m:close()
    for _, f in ipairs({ run, function() return b[1] end, function() b[1] = 1 end,
      function() return a[1] end, function() a[1] = 1 end }) do
      assert.error_matches(f, "is closed")
    end
  end)

  it("raises when the loop itself closes the block, after it got hot", function()
    for _, kind in ipairs({ "buf", "int32", "float64" }) do
      local m = block(8 * 4096)
      local v = kind == "buf" and m.buf or m:array(kind)
      local function run(closeat)
        local s = 0
        for i = 1, 4096 do
          if i == closeat then m:close() end
          v[i] = i % 200
          s = s + v[i]
        end
        return s
      end
      for _ = 1, 100 do run(nil) end -- compiled by now under LuaJIT
      assert.error_matches(function() run(3000) end, "is closed")
      assert.error_matches(function() return v[1] end, "is closed", nil, kind)
    end
  end)

  it("refuses writes through a read-only view from a hot loop", function()
    local m = assert(shm.create(64))
    local r = assert(shm.attach(m.name, { readonly = true }))
    m:unlink()
    local rb, ra = r.buf, r:array("uint8")
    for _ = 1, 200 do
      for i = 1, 64 do assert.equal(0, rb[i] + ra[i]) end
    end
    assert.error_matches(function() rb[1] = 1 end, "read%-only")
    assert.error_matches(function() ra[1] = 1 end, "read%-only")
    assert.equal(0, m.buf[1])
    r:close()
    m:close()
  end)

  -- Views of views carry a byte stride (negative when reversed): LuaJIT's FFI path must step
  -- by it, as C does, and a closed block must still raise through them.
  it("follows strided, reversed and reshaped views, also from a hot loop", function()
    for _, dtype in ipairs({ "uint8", "int32", "float64" }) do
      local m = block(8 * 64)
      local a = m:array(dtype, 1, 64)
      for i = 1, 64 do a[i] = i end
      local every3, back, grid = a:view(2, 40, 3), a:view(1, 64, -5), a:reshape(8, 8)
      local function run()
        local s = 0
        for i = 1, #every3 do s = s + every3[i] end
        for i = 1, #back do s = s + back[i] * 1000 end
        for i = 1, #grid do s = s + grid[i] * 1000000 end
        return s
      end
      local want = 0
      for i = 2, 40, 3 do want = want + i end
      for i = 64, 1, -5 do want = want + i * 1000 end
      want = want + 2080 * 1000000
      for _ = 1, 200 do assert.equal(want, run(), dtype) end -- compiled by now under LuaJIT
      assert.equal(13, #every3)
      assert.equal(64, back[1])
      assert.equal(59, back[2])
      for i = 1, #every3 do every3[i] = 100 end -- writes land on the elements named, only
      for i = 1, #back do back[i] = back[i] + 0 end
      local seen = {}
      for i = 1, 8 do seen[i] = a[i] end
      assert.same({ 1, 100, 3, 4, 100, 6, 7, 100 }, seen, dtype)
      assert.equal(100, a[38])
      assert.equal(39, a[39])
      m:close()
      assert.error_matches(run, "is closed")
      assert.error_matches(function() every3[1] = 1 end, "is closed")
    end
  end)

  -- LuaJIT's path checks indices and values with expressions of its own (integer compares
  -- for a loop's index, tobit and band for values), handing the rest to C: every edge must
  -- land where C's rules (written out here) put it, in compiled code too.
  it("takes exactly the indices and values C takes, also from a hot loop", function()
    local values = { 0, 1, -1, 0.5, -0.5, 127, 128, -128, -129, 255, 256, 32767, 32768,
      -32768, -32769, 65535, 65536, 2 ^ 31 - 1, 2 ^ 31, -2 ^ 31, -2 ^ 31 - 1, 2 ^ 32 - 1,
      2 ^ 32, 2 ^ 32 + 0.5, 2 ^ 52 + 0.5, 2 ^ 53, 2 ^ 53 + 2, -2 ^ 53, -2 ^ 53 - 2, 2 ^ 60,
      2 ^ 63, 1 / 0, -1 / 0, 0 / 0, "x", true }
    local range = { int8 = { -128, 127 }, uint8 = { 0, 255 }, int16 = { -32768, 32767 },
      uint16 = { 0, 65535 }, int32 = { -2 ^ 31, 2 ^ 31 - 1 }, uint32 = { 0, 2 ^ 32 - 1 } }
    -- 64-bit elements: integers as this Lua holds them (C takes negatives for uint64 too)
    local wide = H.native_integers and { -2 ^ 63, 2 ^ 63 - 1024 } or { -2 ^ 53, 2 ^ 53 }
    range.int64, range.uint64 = wide, wide
    local function integral(x) return x == x and x % 1 == 0 and x > -1 / 0 and x < 1 / 0 end
    local function set(v, i, x) v[i] = x end
    local function get(v, i) return v[i] end
    local m = block(64)
    for _, dtype in ipairs({ "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
      "uint64", "float32", "float64", "buf" }) do
      local v = dtype == "buf" and m.buf or m:array(dtype, 1, 4)
      local n = #v
      local r = dtype == "buf" and range.uint8 or range[dtype]
      for _ = 1, 30 do -- compiled after a few rounds under LuaJIT
        for _, i in ipairs({ 1, n, 0, n + 1, -1, -n, -n - 1, 1.5, 2 ^ 31, 2 ^ 31 + 1,
          2 ^ 32 + 1, 2 ^ 53, 0 / 0, 1 / 0, -1 / 0, "1", -0.0, 2 ^ 31 - 1, -2 ^ 31,
          -2 ^ 31 + 1, -2 ^ 31 - 1, 2 ^ 32, 2 ^ 32 - 1, 2 ^ 32 + n, 1 - 2 ^ 32 }) do
          local index_ok = type(i) == "number" and integral(i) and i >= -n and i <= n and i ~= 0
          -- v[#v + 1] reads nil (ipairs stops there), so does a name that is no method
          local read_ok = index_ok or i == n + 1 or type(i) == "string"
          local ok, msg = pcall(get, v, i)
          ok = ok or tostring(msg):find("beyond 2^53", 1, true) ~= nil -- a uint64 -1 (5.1)
          assert.equal(read_ok, ok, ("%s[%s]: %s"):format(dtype, tostring(i), tostring(msg)))
          for _, x in ipairs(values) do
            local value_ok = type(x) == "number" and (not r or integral(x) and x >= r[1]
              and x <= r[2])
            ok, msg = pcall(set, v, i, x)
            assert.equal(index_ok and value_ok, ok, ("%s[%s] = %s: %s"):format(dtype,
              tostring(i), tostring(x), tostring(msg)))
            if ok and x == x and (dtype ~= "float32" or x % 1 == 0 and x > -2 ^ 24 and x < 2 ^ 24)
              and not (dtype == "uint64" and x < 0) then -- (that one reads back beyond 2^53)
              assert.equal(x, get(v, i), ("%s[%s] read back"):format(dtype, tostring(i)))
            end
          end
        end
      end
    end
  end)

  -- LuaJIT checks a 32-bit index with one unsigned compare of i - 1 with the length: a
  -- compiled loop's index is such an integer, and whether its range starts at 1 or below
  -- changes the code (LuaJIT then sign-extends it first). Each loop runs until the index
  -- leaves the view, which must raise C's error there, once compiled too.
  it("stops a compiled loop at either end of a view, whatever its range", function()
    local m = block(64)
    local views = { buf = m.buf, int8 = m:array("int8"), float64 = m:array("float64"),
      every2 = m:array("int16"):view(1, 32, 2) }
    for name, v in pairs(views) do
      local n = #v
      local done
      local function up(first, last)
        for i = first, last do
          v[i] = i % 100
          done = done + 1
        end
      end
      local function down(first, last)
        for i = first, last, -1 do
          v[i] = i % 100
          done = done + 1
        end
      end
      -- loop, its bounds, how many writes pass before the index leaves the view
      local runs = { { up, 1, n, n }, { up, 1, n + 3, n }, { up, 0, n, 0 },
        { up, -2 ^ 31, -2 ^ 31 + 3, 0 }, { up, n + 1, n + 4, 0 }, { down, n, 1, n },
        { down, n, -3, n }, { down, n + 2, 1, 0 }, { down, 2 ^ 31 - 1, 2 ^ 31 - 4, 0 } }
      for round = 1, 30 do -- compiled after a few rounds under LuaJIT
        for _, r in ipairs(runs) do
          done = 0
          local ok, msg = pcall(r[1], r[2], r[3])
          local what = ("%s: %d..%d, round %d"):format(name, r[2], r[3], round)
          assert.equal(r[4], done, what)
          assert.equal(r[4] == r[3] - r[2] + 1 or r[4] == r[2] - r[3] + 1, ok, what)
          if not ok then assert.matches("out of range", msg, 1, true, what) end
        end
      end
      for i = 1, n do assert.equal(i % 100, v[i], name) end
    end
    m:close()
  end)

  -- Beyond 2^31 elements the index is no 32-bit integer: the FFI path compares doubles there.
  it("reaches the elements of a view longer than 2^31, also from a hot loop", function()
    local size = 2 ^ 31 + 8192
    local m = assert(shm.create(size, nil, { reserve = false })) -- no storage until written
    m:unlink()
    local b, a = m.buf, m:array("uint16", 1, size / 2 - 4096) -- a ends where b's loop starts
    local n = #a
    for _ = 1, 100 do
      for i = size - 300, size do b[i] = i % 256 end
      for i = n - 100, n do a[i] = i % 65536 end
    end
    for i = size - 300, size do assert.equal(i % 256, b[i]) end
    for i = n - 100, n do assert.equal(i % 65536, a[i]) end
    assert.equal((n - 1) % 65536, a[-2])
    b[2 ^ 31 + 1] = 7
    assert.equal(7, b[2 ^ 31 + 1])
    assert.is_nil(b[size + 1])
    assert.error_matches(function() return b[size + 2] end, "out of range")
    assert.error_matches(function() a[n + 1] = 1 end, "out of range")
    m:close()
  end)

  it("under LuaJIT goes through FFI, and int64/uint64 also take int64_t and uint64_t cdata",
    function()
      if H.lua_version ~= "luajit" then return end
      local ffi = require "ffi"
      local m = block(16)
      assert.equal("Lua", debug.getinfo(debug.getmetatable(m.buf).__index).what)
      assert.equal("Lua", debug.getinfo(debug.getmetatable(m:array("int8")).__newindex).what)
      local i64, u64 = m:array("int64", 1, 1), m:array("uint64", 9, 1)
      i64[1] = ffi.new("int64_t", 2 ^ 52) * 256 + 1 -- 2^60 + 1: a number could not carry it
      u64[1] = ffi.new("uint64_t", 2 ^ 52) * 256 + 1
      assert.equal(BIG .. BIG, m.buf:sub(1, 16))
      assert.error_matches(function() return i64[1] end, "beyond 2^53", 1, true)
      assert.error_matches(function() m:array("int32")[1] = ffi.new("int64_t", 1) end,
        "must be a number")
      -- a userdata given the buf's metatable is refused, as C refuses it; so is an array
      -- given a buf's metamethod (it wrote a byte of its block) and a buf given an array's
      local a = m:array("float64")
      local bufmt, arraymt = debug.getmetatable(m.buf), debug.getmetatable(a)
      assert.error_matches(function() bufmt.__newindex(a, 1, 7) end, "shm.buf expected")
      assert.error_matches(function() return bufmt.__index(a, 1) end, "shm.buf expected")
      assert.error_matches(function() arraymt.__newindex(m.buf, 1, 7) end, "shm.array expected")
      assert.error_matches(function() return arraymt.__index(m.buf, 1) end,
        "shm.array expected")
      assert.equal(BIG .. BIG, m.buf:sub(1, 16))
      local fake = io.tmpfile()
      assert.error_matches(function() debug.getmetatable(m.buf).__index(fake, 1) end,
        "shm.buf expected")
      fake:close()
    end)
end)
