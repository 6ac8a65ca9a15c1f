-- shm.inspect: values as the REPL prints them, and as scripts may print them.
local H = require "helper"
local shm = require "shm"
local I = shm.inspect

-- Lua 5.4 spells 1.0 "1.0", older versions "1".
local one_float = tostring(1.0)

describe("shm.inspect", function()
  it("shows scalars as tostring does, strings quoted and escaped", function()
    assert.equal("nil", I(nil))
    assert.equal("true", I(true))
    assert.equal("42", I(42))
    assert.equal("-1.5", I(-1.5))
    assert.equal(one_float, I(1.0))
    assert.equal("math.huge", I(1 / 0))
    assert.equal("-math.huge", I(-1 / 0))
    assert.equal("0/0", I(0 / 0))
    assert.equal('"plain"', I("plain"))
    assert.equal('"a\\nb\\tc\\\\d\\r\\000\\001\\127"', I("a\nb\tc\\d\r\0\1\127"))
    assert.equal([['say "hi"']], I('say "hi"'))        -- the quote that needs no escape
    assert.equal([["it's \"x\""]], I("it's \"x\""))    -- both: double quotes, escaped
    assert.equal('"\\0001"', I("\0" .. "1"))           -- three digits: a digit may follow
    assert.equal('"h\195\169"', I("h\195\169"))        -- UTF-8 stays as it is
    assert.matches("^function: ", I(print))
  end)

  it("reads back what it prints: strings and tables of plain values", function()
    local value = { 1, 2.5, "x\n\0y", { "nested", ["key with space"] = true }, name = "n",
      ["end"] = 1, [10] = false, [-3] = "neg" }
    local again = assert((loadstring or load)("return " .. I(value)))()
    assert.same(value, again)
  end)

  it("shows a table as a constructor: the sequence, then sorted keys", function()
    assert.equal("{}", I({}))
    assert.equal('{1, 2, 3, name = "x", nested = {a = {}}}',
      I({ 1, 2, 3, name = "x", nested = { a = {} } }))
    -- numbers (by value), then strings (by bytes), then booleans; keywords and other
    -- strings that are not names are bracketed
    assert.equal('{"a", "b", [-1] = 5, [1.5] = 0, [4] = 3, ["a b"] = 1, ["end"] = 2, ' ..
      'z = 1, [true] = 0}',
      I({ "a", "b", z = 1, [4] = 3, [-1] = 5, [1.5] = 0, ["a b"] = 1, ["end"] = 2,
        [true] = 0 }, { width = 200 }))
    assert.equal('{[2] = "hole"}', I({ [2] = "hole" }))
  end)

  it("shows a cycle as a back-reference to the table it returns to", function()
    local t = { "first" }
    t.self = t
    assert.equal('<1>{"first", self = <table 1>}', I(t))
    local a, b = {}, {}
    a.b, b.a = b, a
    assert.equal("<1>{b = {a = <table 1>}}", I(a))
    local outer = { inner = {} }
    outer.inner.up, outer.inner.me = outer, outer.inner
    -- labels are numbered as the back-references are found
    assert.equal("<2>{inner = <1>{me = <table 1>, up = <table 2>}}", I(outer))
    -- a table met twice, but not inside itself, is shown twice
    local shared = { 1 }
    assert.equal("{{1}, {1}}", I({ shared, shared }))
  end)

  it("cuts at the depth and after the items, with a count of what is left out", function()
    local deep = { a = { b = { c = { d = { e = { f = 1 } } } } } }
    assert.equal("{a = {b = {c = {d = {e = {" .. "\226\128\166" .. " 1 more}}}}}}", I(deep))
    assert.equal("{a = {" .. "\226\128\166" .. " 1 more}}", I(deep, { depth = 1 }))
    assert.equal("{" .. "\226\128\166" .. " 1 more}", I(deep, { depth = 0 }))
    assert.equal("{}", I({}, { depth = 0 }))
    assert.equal("{1, 2, " .. "\226\128\166" .. " 3 more}", I({ 1, 2, 3, 4, 5 }, { items = 2 }))
    assert.equal("{a = 1, " .. "\226\128\166" .. " 2 more}", I({ a = 1, b = 2, c = 3 },
      { items = 1 }))
  end)

  it("shows 10,000 elements as the first 100 packed in lines, and the count of the rest", function()
    local big = {}
    for i = 1, 10000 do big[i] = i end
    local text = I(big)
    local lines = {}
    for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal("{", lines[1])
    assert.equal("}", lines[#lines])
    assert.matches("^  1, 2, 3, ", lines[2])
    assert.matches(" 99, 100, " .. "\226\128\166" .. " 9900 more$", lines[#lines - 1])
    for i = 2, #lines - 1 do assert.is_true(#lines[i] <= 80, lines[i]) end
    assert.is_nil(text:find("101"))
    assert.is_true(#lines < 12)
  end)

  it("builds long texts whole: thousands of entries on lines of their own", function()
    local value = {}
    for i = 1, 3000 do value[("key_%04d"):format(i)] = ("%050d"):format(i) end
    local text = I(value, { items = 3000 })
    assert.is_true(#text > 150000)
    assert.same(value, assert((loadstring or load)("return " .. text))())
    assert.is_string(I(_G, { depth = 10, items = 1000 }))
  end)

  it("breaks what does not fit in the width: keyed entries and tables on lines of their own",
    function()
      local t = { { name = "one", size = 1 }, { name = "two", size = 2 }, total = 3 }
      assert.equal('{{name = "one", size = 1}, {name = "two", size = 2}, total = 3}', I(t))
      assert.equal(table.concat({
        "{",
        '  {name = "one", size = 1},',
        '  {name = "two", size = 2},',
        "  total = 3",
        "}" }, "\n"), I(t, { width = 40 }))
      assert.equal(table.concat({
        "{",
        "  {",
        '    name = "one",',
        "    size = 1",
        "  },",
        "  {",
        '    name = "two",',
        "    size = 2",
        "  },",
        "  total = 3",
        "}" }, "\n"), I(t, { width = 20 }))
    end)

  it("reads tables raw: no metamethod but __tostring runs", function()
    local calls = 0
    local function count() calls = calls + 1 error("a metamethod ran") end
    local t = setmetatable({ 1, x = 2 }, { __index = count, __newindex = count, __len = count,
      __pairs = count, __call = count, __eq = count, __lt = count, __le = count })
    assert.equal("{1, x = 2}", I(t))
    assert.equal(0, calls)
    local object = setmetatable({}, { __tostring = function() return "OBJECT" end })
    assert.equal("OBJECT", I(object))
    assert.equal("{OBJECT, [OBJECT] = 1}", I({ object, [object] = 1 }))
    assert.has_error(function()
      I(setmetatable({}, { __tostring = function() error("tostring failed") end }))
    end, nil)
  end)

  it("shows shmlua objects by their tostring", function()
    local m = H.block(64)
    local a = m:array("int8", 1, 4)
    assert.equal(("{%s, %s, %s}"):format(tostring(m), tostring(m.buf), tostring(a)),
      I({ m, m.buf, a }, { width = 200 }))
    assert.matches("^shm%.block: ", I(m))
    m:close()
    assert.matches("%(closed%)$", I(m))
  end)

  it("stops opening tables at 100 levels, whatever the depth asked", function()
    local chain = {}
    local node = chain
    for _ = 1, 1000 do
      node.next = {}
      node = node.next
    end
    local text = I(chain, { depth = 1000000, width = 1000000 })
    local _, opened = text:gsub("{next = ", "")
    assert.equal(100, opened)
  end)

  it("raises on bad options", function()
    for _, opts in ipairs({ "x", 1, { depth = -1 }, { items = -1 }, { width = -1 },
      { depth = 1.5 }, { depth = "1" }, { colour = true } }) do
      local ok, msg = pcall(I, {}, opts)
      assert.is_false(ok)
      assert.matches("bad argument #2 to " .. H.pcalled("inspect"), msg)
    end
    assert.matches("unknown option 'colour'", select(2, pcall(I, {}, { colour = true })))
    assert.matches("bad argument #1 to " .. H.pcalled("inspect") .. " %(value expected%)",
      select(2, pcall(I)))
  end)
end)
