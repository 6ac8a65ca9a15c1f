-- buf:pack / buf:unpack: string.pack's format language on a block, with string.pack's exact
-- bytes and string.unpack's exact results, alignment relative to the block's start, and
-- range checks.
local H = require "helper"
local shm = require "shm"

local block = H.block

describe("buf:pack", function()
  it("writes string.pack's bytes at a position and returns the next position #lua53", function()
    local m = block(64)
    local fmt = "<i4 >I2 d s1 z j B"
    local values = { -5, 513, 2.5, "hi", "zed", H.mininteger, 255 }
    local packed = string.pack(fmt, table.unpack(values))
    assert.equal(#packed + 3, m.buf:pack(3, fmt, table.unpack(values)))
    assert.equal(packed, m.buf:sub(3, 2 + #packed))
    assert.equal(0, m.buf[2]) -- nothing before the position
    local got = { m.buf:unpack(fmt, 3) }
    assert.equal(#packed + 3, table.remove(got))
    assert.same(values, got)
  end)

  it("aligns '!' options relative to the block's start, as string.unpack does #lua53", function()
    local m = block(64)
    assert.equal(10, m.buf:pack(3, "!4 b i4 b", 1, 2, 3))
    -- as if the block were the string being built: byte 3, padding to 5, int at 5..8
    assert.equal(string.pack("!4 xx b i4 b", 1, 2, 3):sub(3), m.buf:sub(3, 9))
    assert.same({ 1, 2, 3, 10 }, { m.buf:unpack("!4 b i4 b", 3) })
    assert.same({ 2, 9 }, { m.buf:unpack("!4 Xi4 i4", 4) })
    m.buf:pack(17, "!8 b Xi8 j", 1, 99)
    assert.same({ 1, 99, 33 }, { m.buf:unpack("!8 b Xi8 j", 17) })
  end)

  it("accepts positions 1..#buf+1 and negative ones, and raises outside #lua53", function()
    local m = block(8)
    assert.equal(9, m.buf:pack(-4, "i4", 7))
    assert.same({ 7, 9 }, { m.buf:unpack("i4", 5) })
    assert.same({ 9 }, { m.buf:unpack("", 9) })
    assert.equal(9, m.buf:pack(9, ""))
    for _, pos in ipairs({ 0, 10, -9, H.mininteger }) do
      assert.error_matches(function() m.buf:pack(pos, "b", 1) end, "out of range")
      assert.error_matches(function() m.buf:unpack("b", pos) end, "out of range")
    end
    assert.error_matches(function() m.buf:pack(1.5, "b", 1) end, "number has no integer representation")
    assert.error_matches(function() m.buf:unpack("b", "1") end, "integer expected, got string")
  end)

  it("raises when the values do not fit, and writes nothing #lua53", function()
    local m = block(8)
    m.buf:fill(7)
    assert.error_matches(function() m.buf:pack(5, "i4 b", 1, 2) end,
      "5 bytes at position 5 do not fit in 8 bytes")
    assert.equal(("\7"):rep(8), m.buf:sub(1))
  end)

  it("reports string.pack's errors against its own arguments #lua53", function()
    local m = block(16)
    assert.error_matches(function() m.buf:pack(1, "y", 1) end, "invalid format option 'y'")
    assert.error_matches(function() m.buf:pack(1, "i4 i4", 1, "x") end,
      "bad argument #4 to 'pack' %(number expected, got string%)")
    assert.error_matches(function() m.buf:pack(1, "i1", 300) end,
      "bad argument #3 to 'pack' %(integer overflow%)")
    assert.error_matches(function() m.buf:pack(1, "i17", 1) end, "out of limits")
    assert.error_matches(function() m.buf:pack(1, {}) end, "string expected, got table")
    assert.error_matches(function() m.buf:unpack({}) end, "string expected, got table")
    m.buf:fill(0x55) -- a 9th byte that is not a sign extension
    assert.error_matches(function() m.buf:unpack("i9") end,
      "9%-byte integer does not fit into Lua Integer")
  end)
end)

describe("buf:unpack", function()
  it("returns string.unpack's values and the next position #lua53", function()
    local m = block(32)
    m.buf:write(1, string.pack("i4 z s2", 42, "hello", "world"))
    assert.same({ 42, "hello", "world", 18 }, { m.buf:unpack("i4 z s2") })
    assert.same({ "hello", 11 }, { m.buf:unpack("z", 5) })
  end)

  it("raises when the block ends before the values do #lua53", function()
    local m = block(16)
    m.buf:fill(65)
    assert.error_matches(function() m.buf:unpack("c17") end, "the block ends before the values do")
    assert.error_matches(function() m.buf:unpack("z") end, "the block ends before the values do")
    m.buf:pack(1, "s1", "abc")
    m.buf[1] = 200 -- a length prefix pointing past the end
    assert.error_matches(function() m.buf:unpack("s1") end, "the block ends before the values do")
  end)

  it("reads values far into a large block without copying the whole block #lua53", function()
    local m = block(1048576)
    m.buf:fill(66)
    m.buf[-1] = 0
    local s, nextpos = m.buf:unpack("z", 5)
    assert.equal((1048576) - 5, #s)
    assert.equal((1048576) + 1, nextpos)
    m.buf:pack((1048576) - 7, "d", 0.5)
    assert.same({ 0.5, (1048576) + 1 }, { m.buf:unpack("d", -8) })
  end)
end)

describe("pack and unpack", function()
  it("raise on a closed block, and pack raises on a read-only one #lua53", function()
    local m = assert(shm.create(8))
    local ro = assert(shm.attach(m.name, { readonly = true }))
    m:unlink()
    m.buf:pack(1, "i4", 12)
    assert.same({ 12, 5 }, { ro.buf:unpack("i4") })
    assert.error_matches(function() ro.buf:pack(1, "i4", 1) end, "is read%-only")
    m:close()
    assert.error_matches(function() m.buf:pack(1, "i4", 1) end, "is closed")
    assert.error_matches(function() m.buf:unpack("i4") end, "is closed")
  end)

  it("share records with another Lua process and with Python's struct #lua53", function()
    local m = assert(shm.create(64))
    m.buf:pack(1, "=i4 d z", -7, 1.25, "lua")
    local out, ok = H.lua([[
      local m = assert(require("shm").attach(arg[1]))
      print(m.buf:unpack("=i4 d z"))
      m.buf:pack(33, "=I2 f", 65535, 0.5)
    ]], m.name)
    assert.is_true(ok, out)
    assert.equal("-7\t1.25\tlua\t17\n", out)
    out, ok = H.python([[
import struct, sys
from multiprocessing import shared_memory, resource_tracker
sm = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(sm._name, "shared_memory")
print(*struct.unpack_from("=id", sm.buf, 0), *struct.unpack_from("=Hf", sm.buf, 32))
struct.pack_into("=q", sm.buf, 48, -123456789012)
sm.close()
]], m.name)
    assert.is_true(ok, out)
    assert.equal("-7 1.25 65535 0.5\n", out)
    assert.same({ -123456789012, 57 }, { m.buf:unpack("=i8", 49) })
    m:unlink()
  end)
end)
