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
      -- a userdata given the buf's metatable is refused, as C refuses it
      local fake = io.tmpfile()
      assert.error_matches(function() debug.getmetatable(m.buf).__index(fake, 1) end,
        "shm.buf expected")
      fake:close()
    end)
end)
