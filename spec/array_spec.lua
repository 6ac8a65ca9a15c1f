-- Typed views m:array(dtype [, pos [, count]]): layout shared with Python's array/struct,
-- element access, bulk methods, value rules, positions, closed and read-only blocks.
local H = require "helper"
local shm = require "shm"

local block = H.block

-- Python's struct codes for each dtype (native sizes, "=" so no padding between items).
local codes = { int8 = "b", uint8 = "B", int16 = "h", uint16 = "H", int32 = "i", uint32 = "I",
  int64 = "q", uint64 = "Q", float32 = "f", float64 = "d" }
local sizes = { int8 = 1, uint8 = 1, int16 = 2, uint16 = 2, int32 = 4, uint32 = 4, int64 = 8,
  uint64 = 8, float32 = 4, float64 = 8 }

describe("m:array", function()
  it("views the block with every NumPy dtype name, as many elements as fit", function()
    local m = block(64)
    for dtype, size in pairs(sizes) do
      local a = m:array(dtype)
      assert.equal(math.floor(64 / size), #a)
      assert.equal(dtype, a.dtype)
    end
    assert.equal(3, #m:array("int32", 5, 3))
    assert.equal(0, #m:array("int8", 65)) -- just past the end: an empty view
    assert.equal(2, #m:array("int64", -16)) -- negative positions count from the end
  end)

  it("writes the bytes string.pack writes, in native layout #lua53", function()
    local m = block(64)
    for dtype, size in pairs(sizes) do
      local a = m:array(dtype, 1, 4)
      local values = dtype:find("float") and { 1.5, -2.25, 0.0, 1e10 } or
          dtype:find("^u") and { 1, 2, 0, 255 } or { 1, -2, 0, 100 }
      if dtype == "float32" then values[4] = 1024.0 end
      a:set(values)
      local packfmt = "=" ..
          ({ int8 = "i1", uint8 = "I1", int16 = "i2", uint16 = "I2", int32 = "i4", uint32 = "I4",
            int64 = "i8", uint64 = "I8", float32 = "f", float64 = "d" })[dtype]:rep(4)
      assert.equal(string.pack(packfmt, table.unpack(values)), m.buf:sub(1, 4 * size), dtype)
      assert.same(values, a:totable())
    end
  end)

  it("rejects positions that are not aligned for the dtype, and counts that do not fit", function()
    local m = block(64)
    assert.error_matches(function() m:array("int32", 3) end, "not aligned for int32")
    assert.error_matches(function() m:array("float64", 5) end, "not aligned for float64")
    assert.error_matches(function() m:array("int64", 9, 8) end, "do not fit in 64 bytes")
    assert.error_matches(function() m:array("int8", 1, -1) end, "count must be >= 0")
    assert.error_matches(function() m:array("int8", 66) end, "out of range")
    assert.error_matches(function() m:array("int8", 0) end, "out of range")
    assert.error_matches(function() m:array("int128") end, "unknown dtype 'int128' %(int8, ")
    assert.error_matches(function() m:array("int8\0") end, "unknown dtype")
    local ok, msg = pcall(m.array, m, ("x"):rep(1048576))
    assert.is_false(ok)
    assert.is_true(#msg < 200, #msg) -- a huge name is not copied into the message
    assert.error_matches(function() m:array("int8", 1.5) end, "number has no integer representation")
  end)
end)

describe("an array", function()
  it("indexes elements 1-based, negative from the end, with range checks", function()
    local m = block(16)
    local a = m:array("int16")
    for i = 1, #a do a[i] = i * 100 end
    assert.same({ 100, 800, 700 }, { a[1], a[-1], a[-2] })
    a[2.0] = 5
    assert.equal(5, a[2])
    for _, i in ipairs({ 0, 10, -9, H.maxinteger, H.mininteger }) do
      assert.error_matches(function() return a[i] end, "index .* out of range")
    end
    for _, i in ipairs({ 0, 9, -9, math.maxinteger, math.mininteger }) do
      assert.error_matches(function() a[i] = 1 end, "index .* out of range")
    end
    assert.is_nil(a[9]) -- #a + 1: where ipairs stops, as on a table or a shm.list
    assert.error_matches(function() return a[1.5] end, "array index must be an integer")
    assert.error_matches(function() return a[true] end, "array index must be an integer")
    assert.is_nil(a["1"]) -- a string key is a field or method name, never an element
    assert.error_matches(function() a["1"] = 1 end, "array index must be an integer")
  end)

  it("works with ipairs and pairs, in index order, for every dtype and an empty view", function()
    local m = block(16)
    for _, dtype in ipairs({ "uint8", "int16", "int32", "float32", "float64", "uint64" }) do
      local a = m:array(dtype)
      for i = 1, #a do a[i] = i end
      for _, iterate in ipairs(H.view_iterators) do
        local keys, values = {}, {}
        for i, v in iterate(a) do
          keys[#keys + 1], values[#values + 1] = i, v
        end
        assert.equal(#a, #keys)
        for i = 1, #a do
          assert.equal(i, keys[i])
          assert.equal(i, values[i])
        end
      end
    end
    local empty = m:array("int8", 17)
    assert.equal(0, #empty)
    assert.is_nil(empty[1])
    for _, iterate in ipairs(H.view_iterators) do
      for _ in iterate(empty) do error("an empty view has no element") end
    end
    m:close()
    assert.error_matches(function() for _ in pairs(m:array("int8")) do end end, "closed")
  end)

  it("rejects integers out of the dtype's range on every write path (no wrapping)", function()
    local m = block(64)
    local limits = { int8 = { -128, 127 }, uint8 = { 0, 255 }, int16 = { -32768, 32767 },
      uint16 = { 0, 65535 }, int32 = { -2147483648, 2147483647 }, uint32 = { 0, 4294967295 } }
    for dtype, r in pairs(limits) do
      local a = m:array(dtype, 1, 4)
      a[1], a[2] = r[1], r[2]
      assert.same({ r[1], r[2] }, { a[1], a[2] })
      a:fill(0)
      for _, bad in ipairs({ r[1] - 1, r[2] + 1 }) do
        local msg = dtype .. " value out of range"
        assert.error_matches(function() a[1] = bad end, msg)
        assert.error_matches(function() a:fill(bad) end, msg)
        assert.error_matches(function() a:set({ 1, bad }) end, msg)
        if dtype:find("32") then
          assert.error_matches(function() a:store(1, bad) end, msg)
          assert.error_matches(function() a:add(1, bad) end, msg)
          assert.error_matches(function() a:cas(1, 0, bad) end, msg)
        end
      end
      assert.same({ 0, 0, 0, 0 }, a:totable()) -- nothing was written by the failed calls
    end
  end)

  it("takes integral floats into integer dtypes and raises for other floats #lua53", function()
    local m = block(16)
    local a = m:array("int32")
    a[1] = 3.0
    assert.equal(3, a[1])
    assert.equal("integer", math.type(a[1]))
    for _, bad in ipairs({ 1.5, 0 / 0, math.huge, -math.huge, 2 ^ 63 }) do
      assert.error_matches(function() a[1] = bad end, "int32 value must be an integer")
    end
    assert.error_matches(function() a[1] = "3" end, "int32 value must be a number, got string")
    assert.error_matches(function() a[1] = nil end, "must be a number, got nil")
  end)

  it("reads uint64 values above 2^63-1 as wrapped Lua integers, as string.unpack 'J' does #lua53", function()
    local m = block(16)
    local u = m:array("uint64")
    u[1] = -1
    assert.equal(-1, u[1])
    assert.equal(string.pack("J", -1), m.buf:sub(1, 8))
    u[2] = H.mininteger
    assert.equal(string.unpack("J", m.buf:sub(9, 16)), u[2])
    local i = m:array("int64")
    i[1] = H.maxinteger
    assert.equal(H.maxinteger, i[1])
  end)

  it("stores floats as float32 or float64, integers converted #lua53", function()
    local m = block(16)
    local f, d = m:array("float32", 1, 2), m:array("float64", 9, 1)
    f[1], f[2], d[1] = 1 / 3, 3, 1 / 3
    assert.equal(string.unpack("f", string.pack("f", 1 / 3)), f[1])
    assert.equal("float", math.type(f[2]))
    assert.equal(1 / 3, d[1])
    f[1] = 1e300 -- too large for float32: infinity, as a C conversion gives
    assert.equal(math.huge, f[1])
  end)

  it("fills, converts to a table and sets ranges with string.sub's position rules", function()
    local m = block(40)
    local a = m:array("int32")
    a:fill(7)
    assert.same({ 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 }, a:totable())
    a:fill(1, 3, 4)
    a:fill(2, -2)
    assert.same({ 7, 7, 1, 1, 7, 7, 7, 7, 2, 2 }, a:totable())
    assert.same({ 1, 1, 7 }, a:totable(3, 5))
    assert.same({ 2 }, a:totable(-1))
    assert.same({}, a:totable(5, 4))
    a:set({ 10, 20, 30 }, 8)
    assert.same({ 10, 20, 30 }, a:totable(8))
    a:set({}, 11) -- nothing, just past the end
    assert.error_matches(function() a:set({ 1, 2 }, 10) end, "2 elements at position 10 do not fit")
    assert.error_matches(function() a:set({ 1, "x" }) end, "must be a number, got string")
    assert.equal(7, a[1]) -- a bad value in the table changed nothing
    assert.error_matches(function() a:set(5) end, "table expected")
  end)

  it("copies another view: overlapping same-dtype views, and converting dtypes #lua53", function()
    local m = block(64)
    local a = m:array("int32", 1, 10)
    a:set({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
    a:copy(m:array("int32", 1, 8), 3) -- overlapping, shifted right: memmove semantics
    assert.same({ 1, 2, 1, 2, 3, 4, 5, 6, 7, 8 }, a:totable())
    a:copy(m:array("int32", 9, 8)) -- shifted left
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8, 7, 8 }, a:totable())
    local d = m:array("float64", 41, 3)
    d:copy(m:array("int32", 1, 3))
    assert.same({ 1.0, 2.0, 3.0 }, d:totable())
    assert.equal("float", math.type(d[1]))
    local small = m:array("int8", 1, 4)
    d[2] = 1000
    assert.error_matches(function() small:copy(d) end, "int8 value out of range")
    d[2] = 2.5
    assert.error_matches(function() small:copy(d) end, "int8 value must be an integer")
    assert.same({ 1, 0, 0, 0 }, small:totable()) -- a failed conversion changed nothing
    assert.error_matches(function() small:copy(a) end, "10 elements at position 1 do not fit in 4")
    assert.error_matches(function() small:copy(m.buf) end, "shm.array expected")
  end)

  it("copies between two mappings of one block without corrupting overlapping data", function()
    local m = assert(shm.create(64))
    local m2 = assert(shm.attach(m.name))
    m:unlink()
    local a = m:array("int32")
    for i = 1, #a do a[i] = i end
    m2:array("int32", 5):copy(m:array("int32", 1, 15)) -- one element to the right
    local want = {}
    for i = 1, 16 do want[i] = i == 1 and 1 or i - 1 end
    assert.same(want, a:totable())
  end)

  it("shows its dtype, length and first elements in tostring", function()
    local m = block(40)
    local a = m:array("int32")
    a:set({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 })
    assert.equal("shm.array: int32[10] {1, 2, 3, 4, 5, 6, 7, 8, ...}", tostring(a))
    assert.equal("shm.array: float64[1] {" .. tostring(0.0) .. "}", tostring(block(8):array("float64")))
    m:close()
    assert.equal("shm.array: int32[10] (closed)", tostring(a))
  end)

  it("keeps its block alive, and raises on every access once the block is closed", function()
    local a = block(16):array("int32")
    collectgarbage()
    collectgarbage()
    a[1] = 5 -- the block is referenced only by the view, and still mapped
    assert.equal(5, a[1])
    local m = block(16)
    local b = m:array("int32")
    m:close()
    assert.error_matches(function() return b[1] end, "block '.*' is closed")
    assert.error_matches(function() b[1] = 1 end, "is closed")
    assert.error_matches(function() return #b end, "is closed")
    assert.error_matches(function() b:fill(0) end, "is closed")
    assert.error_matches(function() b:totable() end, "is closed")
    assert.error_matches(function() b:load(1) end, "is closed")
  end)

  it("raises on every write path of a read-only block, and reads it", function()
    local m = assert(shm.create(16))
    local ro = assert(shm.attach(m.name, { readonly = true }))
    m:unlink()
    m:array("int32")[1] = 42
    local a, w = ro:array("int32"), m:array("int32")
    assert.equal(42, a[1])
    assert.equal(42, a:load(1))
    local writes = {
      function() a[1] = 1 end, function() a:fill(1) end, function() a:set({ 1 }) end,
      function() a:copy(w) end, function() a:store(1, 1) end, function() a:add(1, 1) end,
      function() a:sub(1, 1) end, function() a:band(1, 1) end, function() a:bor(1, 1) end,
      function() a:bxor(1, 1) end, function() a:exchange(1, 1) end,
      function() a:cas(1, 42, 1) end,
    }
    for _, write in ipairs(writes) do
      assert.error_matches(write, "block '.*' is read%-only")
    end
    assert.equal(42, w[1])
    w:copy(a) -- a read-only view is a fine source
  end)
end)

describe("arrays shared with other processes", function()
  it("are written by a lua5.4 child and read by the parent", function()
    local m = assert(shm.create(80))
    local out, ok = H.lua([[
      local m = assert(require("shm").attach(arg[1]))
      local a = m:array("float64")
      for i = 1, #a do a[i] = i / 4 end
    ]], m.name)
    assert.is_true(ok, out)
    local a = m:array("float64")
    for i = 1, 10 do assert.equal(i / 4, a[i]) end
    m:unlink()
  end)

  it("hold the numbers Python's array and memoryview.cast see, in both directions", function()
    local m = assert(shm.create(8 * 8 * 10))
    local pos = 1
    local views = {}
    for dtype in pairs(codes) do
      local a = m:array(dtype, pos, 8)
      for i = 1, 8 do
        a[i] = dtype:find("float") and i / 2 or dtype:find("^u") and i * 3 or -i
      end
      views[#views + 1] = ("%s:%d"):format(dtype, pos - 1)
      pos = pos + 64
    end
    local out, ok = H.python([[
import sys, array
from multiprocessing import shared_memory, resource_tracker
codes = dict(int8="b", uint8="B", int16="h", uint16="H", int32="i", uint32="I",
             int64="q", uint64="Q", float32="f", float64="d")
sm = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(sm._name, "shared_memory")
for spec in sys.argv[2].split(","):
    dtype, offset = spec.split(":")
    offset = int(offset)
    code = codes[dtype]
    size = array.array(code).itemsize
    view = sm.buf[offset:offset + 8 * size].cast(code)
    print(dtype, list(view) == list(array.array(code, bytes(view))), *view)
    for i in range(8):
        view[i] = view[i] * 2  # Python writes, Lua reads back
    view.release()
sm.close()
]], m.name, table.concat(views, ","))
    assert.is_true(ok, out)
    for line in out:gmatch("[^\n]+") do
      local dtype, same, rest = line:match("^(%S+) (%S+) (.*)$")
      assert.equal("True", same)
      local values = {}
      for v in rest:gmatch("%S+") do values[#values + 1] = tonumber(v) end
      for i = 1, 8 do
        local want = dtype:find("float") and i / 2 or dtype:find("^u") and i * 3 or -i
        assert.equal(want, values[i], dtype)
      end
    end
    for _, spec in ipairs(views) do
      local dtype, offset = spec:match("(%w+):(%d+)")
      local a = m:array(dtype, tonumber(offset) + 1, 8)
      for i = 1, 8 do
        local want = dtype:find("float") and i or dtype:find("^u") and i * 6 or -2 * i
        assert.equal(want, a[i], dtype)
      end
    end
    m:unlink()
  end)
end)
