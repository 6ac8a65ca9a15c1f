-- The byte view m.buf: indexing, length, sub/byte/write/fill, closed and read-only blocks.
local H = require "helper"
local shm = require "shm"

local function block(size)
  local m = assert(shm.create(size))
  m:unlink() -- stays mapped until closed; nothing to clean up later
  return m
end

describe("buf", function()
  it("is the same object each time and has the block's size as length", function()
    local m = block(10)
    assert.equal(m.buf, m.buf)
    assert.equal(rawequal(m.buf, m.buf), true)
    assert.equal(10, #m.buf)
    assert.equal("shm.buf: " .. m.name .. " (10 bytes)", tostring(m.buf))
  end)

  it("indexes bytes 1-based, negative from the end", function()
    local m = block(4)
    local b = m.buf
    b[1], b[2], b[3], b[4] = 10, 20, 30, 40
    assert.same({ 10, 20, 30, 40 }, { b[1], b[2], b[3], b[4] })
    assert.same({ 40, 30, 20, 10 }, { b[-1], b[-2], b[-3], b[-4] })
    b[-1] = 255
    assert.equal(255, b[4])
    b[2.0] = 7 -- a float with an integer value is that integer, as in tables
    assert.equal(7, b[2])
  end)

  it("raises 'index out of range' outside the block, but reads #buf + 1 as nil", function()
    local m = block(4)
    for _, i in ipairs({ 0, 6, -5, H.maxinteger, H.mininteger }) do
      assert.error_matches(function() return m.buf[i] end, "index .* out of range")
    end
    for _, i in ipairs({ 0, 5, -5, math.maxinteger, math.mininteger }) do
      assert.error_matches(function() m.buf[i] = 1 end, "index .* out of range")
    end
    assert.is_nil(m.buf[5]) -- where ipairs stops, as on a table or a shm.list
    assert.is_nil(m.buf[5.0])
  end)

  it("works with ipairs and pairs, in index order", function()
    local m = block(4)
    m.buf:write(1, "\1\2\3\4")
    for _, iterate in ipairs(H.view_iterators) do
      local keys, values = {}, {}
      for i, v in iterate(m.buf) do
        keys[#keys + 1], values[#values + 1] = i, v
      end
      assert.same({ 1, 2, 3, 4 }, keys)
      assert.same({ 1, 2, 3, 4 }, values)
    end
    m:close()
    for _, iterate in ipairs(H.view_iterators) do
      assert.error_matches(function() for _ in iterate(m.buf) do end end, "closed")
    end
  end)

  it("raises for keys that are not integers", function()
    local m = block(4)
    assert.error_matches(function() return m.buf[1.5] end, "must be an integer")
    assert.error_matches(function() m.buf[1.5] = 1 end, "must be an integer")
    assert.error_matches(function() m.buf["1"] = 1 end, "must be an integer")
    assert.error_matches(function() return m.buf[true] end, "must be an integer")
    assert.error_matches(function() return m.buf[0 / 0] end, "must be an integer")
    assert.is_nil(m.buf["1"]) -- a string key is a method name, never element 1
  end)

  it("raises for values that are not bytes", function()
    local m = block(4)
    for _, v in ipairs({ -1, 256, 1.5, "1", true, 0 / 0, math.huge }) do
      assert.error_matches(function() m.buf[1] = v end, "0 to 255")
    end
    assert.error_matches(function() m.buf[1] = nil end, "0 to 255")
    assert.equal(0, m.buf[1])
  end)

  it("sub and byte follow string.sub and string.byte exactly", function()
    local s = "0123456789"
    local m = block(#s)
    m.buf:write(1, s)
    local positions = { -12, -11, -10, -5, -1, 0, 1, 2, 5, 9, 10, 11, 100,
      H.mininteger, H.maxinteger }
    if H.lua_version == "luajit" then -- its string.sub cuts positions to 32 bits: no reference
      positions[#positions], positions[#positions - 1] = nil, nil
    end
    for _, i in ipairs(positions) do
      assert.equal(s:sub(i), m.buf:sub(i))
      assert.same({ s:byte(i) }, { m.buf:byte(i) })
      for _, j in ipairs(positions) do
        assert.equal(s:sub(i, j), m.buf:sub(i, j), ("sub(%d, %d)"):format(i, j))
        assert.same({ s:byte(i, j) }, { m.buf:byte(i, j) }, ("byte(%d, %d)"):format(i, j))
      end
    end
    assert.same({ s:byte() }, { m.buf:byte() })
  end)

  it("write copies a string in and returns the next position", function()
    local m = block(8)
    assert.equal(4, m.buf:write(1, "abc"))
    assert.equal(9, m.buf:write(-2, "yz"))
    assert.equal(9, m.buf:write(9, "")) -- an empty string fits just past the end
    assert.equal("abc\0\0\0yz", m.buf:sub(1))
    assert.error_matches(function() m.buf:write(7, "xyz") end, "do not fit")
    assert.error_matches(function() m.buf:write(0, "x") end, "out of range")
    assert.error_matches(function() m.buf:write(1.5, "x") end, "integer")
    assert.error_matches(function() m.buf:write(1, {}) end, "string expected")
    assert.equal("abc\0\0\0yz", m.buf:sub(1))
  end)

  it("fill sets a range with sub's rules", function()
    local m = block(6)
    m.buf:fill(65)
    assert.equal("AAAAAA", m.buf:sub(1))
    m.buf:fill(66, 2, 3)
    m.buf:fill(67, -2)
    m.buf:fill(68, 4, 2) -- empty range
    assert.equal("ABBACC", m.buf:sub(1))
    m.buf:fill(69, 7) -- past the end: empty
    m.buf:fill(69, H.maxinteger, H.mininteger)
    m.buf:fill(69, H.mininteger, 1) -- a start before the first byte is byte 1
    m.buf:fill(70, -1, H.maxinteger) -- an end past the last byte is the last
    assert.equal("EBBACF", m.buf:sub(1))
    assert.error_matches(function() m.buf:fill(256) end, "0 to 255")
  end)

  it("refuses every use once its block is closed, also through an old reference", function()
    local m = block(8)
    local b = m.buf
    m:close()
    for name, f in pairs({
      index = function() return b[1] end,
      newindex = function() b[1] = 1 end,
      len = function() return #b end,
      sub = function() return b:sub(1) end,
      byte = function() return b:byte(1) end,
      write = function() return b:write(1, "x") end,
      fill = function() return b:fill(1) end,
    }) do
      assert.error_matches(f, "block '" .. m.name .. "' is closed", nil, true, name)
    end
    assert.equal("shm.buf: " .. m.name .. " (closed)", tostring(b))
    assert.equal(m.buf, b)
  end)

  it("does not crash when its metamethods are called with other values", function()
    local m = block(8)
    local mt = debug.getmetatable(m.buf)
    assert.is_false((pcall(mt.__index, io.stdout, 1)))
    assert.is_false((pcall(mt.__newindex, {}, 1, 1)))
    assert.is_false((pcall(mt.__len, m)))
    assert.is_false((pcall(m.buf.sub, m, 1)))
  end)

  it("does not take another userdata given its metatable for a buf", function()
    local m = block(8)
    local f = io.tmpfile() -- a userdata of the same size as a buf
    local saved = debug.getmetatable(f)
    debug.setmetatable(f, debug.getmetatable(m.buf))
    local results = {}
    for _, use in ipairs({ function() return f[1] end, function() f[1] = 1 end,
      function() return #f end, function() return m.buf.sub(f, 1) end }) do
      results[#results + 1] = select(2, pcall(use))
    end
    debug.setmetatable(f, saved)
    f:close()
    for _, err in ipairs(results) do assert.matches("shm.buf expected", err) end
    assert.equal(4, #results)
  end)
end)
