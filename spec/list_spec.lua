-- shm.list: CPython's ShareableList layout, read and written from Lua and Python, with the
-- checks Python lacks (UTF-8 byte capacity, strict bounds, validated headers).
local H = require "helper"
local shm = require "shm"

-- Python's view of a list: its items, one repr per line, then its format.
local PY_DUMP = [[
import sys
from multiprocessing import shared_memory, resource_tracker
sl = shared_memory.ShareableList(name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")  # not Python's to unlink (gh-82300)
for v in sl:
    print(repr(v))
print(sl.format)
sl.shm.close()
]]

describe("shm.list", function()
  it("holds integers, floats, booleans, strings and shm.null, in Python's layout #lua53", function()
    local l = assert(shm.list({ "howdy", "HoWdY", -273.154, 100, shm.null, true, 42 }))
    assert.equal(7, #l)
    assert.equal("8s8sdqxxxxxx?xxxxxxxx?q", l.format)
    assert.same({ "howdy", "HoWdY", -273.154, 100, shm.null, true, 42 },
      { l[1], l[2], l[3], l[4], l[5], l[6], l[7] })
    assert.equal("integer", math.type(l[4]))
    assert.equal("float", math.type(l[3]))
    local m = assert(shm.attach(l.name))
    assert.equal(191, m.size) -- Python's documented example is 191 bytes too
    assert.matches("^lua_", l.name)
    assert.equal("shm.list: " .. l.name .. ' (7 items) {"howdy", "HoWdY", -273.154, 100, '
      .. 'shm.null, true, 42}', tostring(l))
    local long = assert(shm.list({ ("x"):rep(30), "\27[2J", 3, 4, 5, 6, 7, 8, 9 }))
    long:unlink()
    assert.equal("shm.list: " .. long.name .. ' (9 items) {"' .. ("x"):rep(24)
      .. '...", "\\033[2J", 3, 4, 5, 6, 7, 8, ...}', tostring(long))
    long:close()
    l:unlink()
  end)

  it("is byte for byte what Python's ShareableList makes of the same values", function()
    local values = { "howdy", -273.154, 100, shm.null, true, false, 42, "héllo wörld!", "" }
    local l = assert(shm.list(values))
    local mine = assert(shm.attach(l.name)).buf:sub(1)
    l:unlink()
    local out, ok = H.python([[
import sys
from multiprocessing import shared_memory
sl = shared_memory.ShareableList(['howdy', -273.154, 100, None, True, False, 42, 'héllo wörld!', ''])
sys.stdout.write(bytes(sl.shm.buf).hex())
sl.shm.close()
sl.shm.unlink()
]])
    assert.is_true(ok, out)
    assert.equal(out, (mine:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
  end)

  it("is read and written by Python, and sees Python's writes", function()
    local l = assert(shm.list({ "howdy", 1.5, 7, shm.null, true, "ééééééé", "\255\0x" }))
    local out, ok = H.python(PY_DUMP .. [[
sl = shared_memory.ShareableList(name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")
sl[0] = "hi"; sl[1] = None; sl[2] = -2**63; sl[3] = 2.5; sl[4] = False; sl[5] = "ünï"
sl.shm.close()
]], l.name)
    assert.is_true(ok, out)
    -- 7 two-byte characters get 16 bytes here (Python would give 8 and cut the string),
    -- and a string that is not UTF-8 is bytes for Python
    assert.equal(table.concat({ "'howdy'", "1.5", "7", "None", "True", "'ééééééé'",
      "b'\\xff\\x00x'", "8sdqxxxxxx?xxxxxxxx?16s8s", "" }, "\n"), out)
    assert.same({ "hi", shm.null, 2.5, false, "ünï" }, { l[1], l[2], l[4], l[5], l[6] })
    if H.native_integers then
      assert.equal(math.mininteger, l[3])
    else -- a double would round it: refused instead
      assert.error_matches(function() return l[3] end, "beyond 2^53", 1, true)
    end
    l:unlink()
  end)

  it("attaches a list Python made, reads it and writes what Python then reads", function()
    local name = H.name("pylist")
    local out, ok = H.python([[
import sys
from multiprocessing import shared_memory, resource_tracker
sl = shared_memory.ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42], name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")  # the Lua side unlinks it
sl.shm.close()
]], name)
    assert.is_true(ok, out)
    local l = assert(shm.list.attach(name))
    finally(function() l:unlink() end)
    assert.same({ "howdy", "HoWdY", -273.154, 100, shm.null, true, 42 },
      { l[1], l[2], l[3], l[4], l[5], l[6], l[7] })
    assert.equal("8s8sdqxxxxxx?xxxxxxxx?q", l.format)
    l[1], l[2], l[3], l[4], l[5], l[6], l[7] = 1, "bytes\254", "text", shm.null, 0.25, "x", nil
    out, ok = H.python(PY_DUMP, name)
    assert.is_true(ok, out)
    assert.equal(table.concat({ "1", "b'bytes\\xfe'", "'text'", "None", "0.25", "'x'", "None",
      "q8s8sxxxxxx?xd8sxxxxxx?x", "" }, "\n"), out)
  end)
end)

describe("a list's items", function()
  it("are indexed 1-based and negative from the end; reading #l+1 gives nil for ipairs", function()
    local l = assert(shm.list({ 10, 20, 30 }))
    l:unlink()
    assert.same({ 30, 20, 10 }, { l[-1], l[-2], l[-3] })
    assert.is_nil(l[4])
    for _, iterate in ipairs(H.view_iterators) do
      local seen = {}
      for i, v in iterate(l) do seen[#seen + 1] = { i, v } end
      assert.same({ { 1, 10 }, { 2, 20 }, { 3, 30 } }, seen)
    end
    for _, i in ipairs({ 0, 5, -4, H.mininteger, H.maxinteger }) do
      assert.error_matches(function() return l[i] end, "index .* out of range")
    end
    for _, i in ipairs({ 0, 4, -4 }) do
      assert.error_matches(function() l[i] = 1 end, "index .* out of range")
    end
    assert.error_matches(function() return l[1.5] end, "list index must be an integer")
    assert.error_matches(function() l.x = 1 end, "list index must be an integer")
    l[2.0] = "two"
    assert.equal("two", l[2])
  end)

  it("take strings up to their slot's size in UTF-8 bytes; a longer one changes nothing", function()
    local l = assert(shm.list({ "abc", 1 }))
    local m = assert(shm.attach(l.name))
    l:unlink()
    local before = m.buf:sub(1)
    assert.error_matches(function() l[1] = "123456789" end,
      "a string of 9 bytes does not fit in list item 1 %(8 bytes%)")
    assert.error_matches(function() l[2] = "ééééé" end, "10 bytes does not fit")
    assert.equal(before, m.buf:sub(1))
    l[1] = "12345678"
    l[2] = "ü"
    assert.same({ "12345678", "ü" }, { l[1], l[2] })
    assert.equal("8s8s", l.format)
    l[1] = "a\0" -- Python strips trailing NULs when reading; so does shm.list
    assert.equal("a", l[1])
  end)

  it("count and find values by Lua's raw equality", function()
    local l = assert(shm.list({ 1, 2.0, "2", 2, shm.null, true }))
    l:unlink()
    assert.equal(2, l:count(2))
    assert.equal(1, l:count("2"))
    assert.equal(1, l:count(shm.null))
    assert.equal(0, l:count(false))
    assert.equal(2, l:index(2))
    assert.equal(6, l:index(true))
    assert.is_nil(l:index(99))
    assert.error_matches(function() l:count() end, "value expected")
  end)

  it("refuse values Python's list cannot hold, before any block is made", function()
    local name = H.name("refused")
    assert.error_matches(function() shm.list({ 1, {} }, name) end,
      "list values are integers, floats, booleans, strings or shm.null, not table")
    assert.error_matches(function() shm.list({ print }, name) end, "not function")
    assert.error_matches(function() shm.list("abc", name) end, "table expected")
    assert.error_matches(function() shm.list({}, "a/b") end, "bad argument #2")
    assert.is_false(H.exists(name))
    local l = assert(shm.list({ 1 }))
    l:unlink()
    assert.error_matches(function() l[1] = {} end, "not table")
  end)
end)

describe("shm.null", function()
  it("is one value that prints as shm.null and stands for None", function()
    assert.equal("shm.null", tostring(shm.null))
    assert.equal("userdata", type(shm.null))
    local l = assert(shm.list({ shm.null, 1 }))
    l:unlink()
    assert.is_true(rawequal(shm.null, l[1]))
    l[2] = nil -- assigning nil stores None too
    assert.equal(shm.null, l[2])
  end)
end)

describe("a list's block", function()
  it("is created with shm.create's rules: name, options, errors as nil, message, errno", function()
    local name = H.name("list")
    local l = assert(shm.list({ 1 }, name, { mode = 0640 }))
    assert.equal(name, l.name)
    local _, msg, code = shm.list({ 2 }, name)
    assert.matches("File exists", msg)
    assert.equal(17, code)
    assert.error_matches(function() shm.list({ 1 }, nil, { bogus = 1 }) end, "unknown option")
    assert.is_false(l.closed)
    assert.is_true(l:unlink())
    local ok, _, errno = l:unlink()
    assert.is_nil(ok)
    assert.equal(2, errno)
    assert.is_true(l:close())
    assert.is_true(l.closed)
    assert.equal("shm.list: " .. name .. " (closed)", tostring(l))
    assert.error_matches(function() return l[1] end, "is closed")
    assert.error_matches(function() return #l end, "is closed")
    assert.error_matches(function() l[1] = 1 end, "is closed")
  end)

  it("is owned like a block: unlinked when its creating process exits, unless kept", function()
    local out, ok = H.lua([[
      local shm = require "shm"
      io.write(shm.list({ 1 }).name, " ", shm.list({ 2 }, nil, { keep = true }).name)
    ]])
    assert.is_true(ok, out)
    local owned, kept = out:match("(%S+) (%S+)")
    assert.is_false(H.exists(owned))
    assert.is_true(H.exists(kept))
    local l = assert(shm.list.attach(kept))
    l:unlink()
    assert.equal(2, l[1])
  end)

  it("attached read-only raises on writes", function()
    local l = assert(shm.list({ 1, "a" }))
    local ro = assert(shm.list.attach(l.name, { readonly = true }))
    l:unlink()
    assert.equal("a", ro[2])
    assert.error_matches(function() ro[1] = 2 end, "is read%-only")
  end)
end)

describe("shm.list.attach", function()
  -- A block laid out by hand: count, offsets, data, formats, codes.
  local function handmade(count, offsets, data, formats, codes)
    local parts = { string.pack("=j", count) }
    for _, o in ipairs(offsets) do parts[#parts + 1] = string.pack("=j", o) end
    parts[#parts + 1] = data
    for _, f in ipairs(formats) do parts[#parts + 1] = string.pack("c8", f) end
    for _, c in ipairs(codes) do parts[#parts + 1] = string.pack("b", c) end
    local bytes = table.concat(parts)
    local m = assert(shm.create(#bytes))
    m.buf:write(1, bytes)
    return m
  end

  local function refuses(pattern, ...)
    local m = handmade(...)
    finally(function() m:unlink() end)
    assert.error_matches(function() shm.list.attach(m.name) end, pattern)
  end

  it("accepts a well-formed hand-made list #lua53", function()
    local m = handmade(2, { 0, 8, 24 }, string.pack("=j c16", 5, "hello"),
      { "q", "16s" }, { 0, 1 })
    local l = assert(shm.list.attach(m.name))
    m:unlink()
    assert.same({ 5, "hello" }, { l[1], l[2] })
  end)

  it("raises for corrupt or hostile headers instead of reading outside the block #lua53", function()
    local q = string.pack("=j", 1)
    refuses("too small", 0, {}, "", {}, {})
    refuses("%-1 items cannot fit", -1, { 0 }, "", {}, {})
    refuses("items cannot fit", 1099511627776, { 0, 8 }, q, { "q" }, { 0 })
    refuses("first offset is 8, not 0", 1, { 8, 16 }, q .. q, { "q" }, { 0 })
    refuses("out of order or outside", 2, { 0, 8, 4 }, q .. q, { "q", "q" }, { 0, 0 })
    refuses("out of order or outside", 1, { 0, 1125899906842624 }, q, { "q" }, { 0 })
    refuses("out of order or outside", 1, { 0, 12 }, q .. q, { "q" }, { 0 })
    refuses("unknown packing format", 1, { 0, 8 }, q, { "i" }, { 0 })
    refuses("unknown packing format", 1, { 0, 8 }, q, { "q\0q" }, { 0 })
    refuses("unknown packing format", 1, { 0, 8 }, q, { "08s" }, { 1 })
    refuses("type code 1 does not match format 'q'", 1, { 0, 8 }, q, { "q" }, { 1 })
    refuses("type code 0 does not match format 'xxxxxx%?x'", 1, { 0, 8 }, q, { "xxxxxx?x" }, { 0 })
    refuses("type code 7 does not match format '8s'", 1, { 0, 8 }, q, { "8s" }, { 7 })
    refuses("format '16s' is larger than its slot of 8 bytes", 1, { 0, 8 }, q, { "16s" }, { 1 })
  end)

  it("keeps checking items, since another process may corrupt them after attaching #lua53", function()
    local l = assert(shm.list({ 1, "abc" }))
    local m = assert(shm.attach(l.name))
    l:unlink()
    m.buf:write(8 * 4 + 16 + 1, "zz") -- item 1's format
    assert.error_matches(function() return l[1] end, "list item 1: unknown packing format")
    assert.error_matches(function() return l.format end, "unknown packing format")
    assert.equal("abc", l[2])
    m.buf:pack(25, "=j", 1000) -- item 2's end offset, past the data area
    assert.error_matches(function() return l[2] end, "list item 2: bad offsets")
    assert.error_matches(function() l[2] = "x" end, "list item 2: bad offsets")
    l[1] = 5 -- a write gives item 1 a fresh format
    assert.equal(5, l[1])
  end)

  it("returns nil, message, errno for a missing name", function()
    local ok, msg, code = shm.list.attach(H.name("missing"))
    assert.is_nil(ok)
    assert.matches("No such file", msg)
    assert.equal(2, code)
    assert.error_matches(function() shm.list.attach(5) end, "string expected")
  end)
end)
