-- The experimenter's tools: buf:hexdump (checked against the real xxd reading /dev/shm),
-- shm.watch, and the shmlua flags --dump and --watch.
local H = require "helper"
local shm = require "shm"

-- A block filled with every byte value, in an order that is not simply ascending.
local function scrambled(size)
  local m = assert(shm.create(size, H.name("hex")))
  for i = 1, size do m.buf[i] = (i * 37 + 11) % 256 end
  return m
end

local function xxd(name, skip, len)
  local args = skip and ("-s %d -l %d "):format(skip, len) or ""
  return (H.sh("xxd " .. args .. "/dev/shm/" .. name))
end

describe("buf:hexdump", function()
  it("prints the whole block exactly as xxd prints its /dev/shm file", function()
    local m <close> = scrambled(100)
    local dump = m.buf:hexdump()
    assert.equal(xxd(m.name), dump)
    assert.equal(7, select(2, dump:gsub("\n", "")))
    m:unlink()
  end)

  it("takes a range with string.sub's rules, offsets still counted from the block's start",
    function()
      local m <close> = scrambled(300)
      assert.equal(xxd(m.name, 3, 41), m.buf:hexdump(4, 44))
      assert.equal(xxd(m.name, 280, 20), m.buf:hexdump(-20))
      assert.equal(xxd(m.name, 0, 300), m.buf:hexdump(-1000, 1000))
      assert.equal(xxd(m.name, 299, 1), m.buf:hexdump(300, 300))
      m:unlink()
    end)

  it("shows printable ASCII as itself and everything else as a dot", function()
    local m <close> = assert(shm.create(8, H.name("hex")))
    m.buf:write(1, "A\0~\127 z\255\n")
    assert.equal("00000000: 4100 7e7f 207a ff0a                      A.~. z..\n",
      m.buf:hexdump())
    m:unlink()
  end)

  it("returns an empty string for an empty range", function()
    local m <close> = scrambled(10)
    assert.equal("", m.buf:hexdump(5, 4))
    assert.equal("", m.buf:hexdump(11))
    m:unlink()
  end)

  it("raises on a closed block and on positions that are not integers", function()
    local m <close> = scrambled(10)
    m:unlink()
    assert.has_error(function() m.buf:hexdump(1.5) end,
      "bad argument #1 to 'hexdump' (integer expected, got float)")
    assert.has_error(function() m.buf:hexdump("x") end)
    m:close()
    assert.has_error(function() m.buf:hexdump() end, "block '" .. m.name .. "' is closed")
  end)
end)
