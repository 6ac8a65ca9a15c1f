-- shm.complete: what Tab offers at the REPL, found without running anything a script defined.
local H = require "helper"
local shm = require "shm"

local function complete(text, env)
  return table.concat(shm.complete(text, env), " ")
end

describe("shm.complete", function()
  local env

  before_each(function()
    env = { shm = shm, string = string, print = print, pairs = pairs,
      nested = { b = { c = { deep = 1, deeper = 2, other = 3 } } } }
  end)

  it("completes keywords and names of the environment, sorted", function()
    assert.equal("pairs print", complete("p", env))
    assert.equal("while", complete("wh", env))
    assert.equal("else elseif end", complete("e", env))
    assert.equal("x = print", complete("x = pri", env))
    assert.equal("", complete("zzz", env))
    local all = shm.complete("", env)
    assert.equal(22 + 5, #all) -- the keywords and the five names
  end)

  it("uses the globals without an environment", function()
    -- in a child: busted gives each spec file an environment of its own
    local out = H.lua("local shm = require 'shm'\nspec_global = 1\n" ..
      "print(table.concat(shm.complete('spec_gl'), ' '))")
    assert.equal("spec_global\n", out)
  end)

  it("completes fields of tables, along nested paths", function()
    assert.equal("shm.create", complete("shm.cr", env))
    assert.equal("string.find string.format", complete("string.f", env))
    assert.equal("nested.b.c.deep nested.b.c.deeper", complete("nested.b.c.d", env))
    assert.equal("nested.b.c.deep nested.b.c.deeper nested.b.c.other",
      complete("nested.b.c.", env))
    assert.equal("shm.mutex.attach", complete("shm.mutex.", env))
    assert.equal("", complete("nested.none.", env))
  end)

  it("offers only functions after ':', and keys inherited through __index tables", function()
    env.obj = setmetatable({ own = 1, ownmethod = print },
      { __index = setmetatable({ inherited = print }, { __index = { grand = print } }) })
    assert.equal("obj.grand obj.inherited obj.own obj.ownmethod", complete("obj.", env))
    assert.equal("obj:grand obj:inherited obj:ownmethod", complete("obj:", env))
    env.s = "text"
    assert.equal("s:upper", complete("s:up", env)) -- strings: the string library
  end)

  it("offers the methods and documented fields of shmlua objects", function()
    local m = H.block(64)
    local q = shm.queue()
    q:unlink()
    env.m, env.q, env.a = m, q, m:array("int32")
    assert.equal("m.array m.buf m.close m.closed m.name m.readonly m.size m.unlink",
      complete("m.", env))
    assert.equal("m:array m:close m:unlink", complete("m:", env))
    assert.equal("m.buf:byte m.buf:fill m.buf:hexdump m.buf:pack m.buf:sub m.buf:unpack " ..
      "m.buf:write", complete("m.buf:", env))
    assert.equal("q:pop q:pop_many q:push q:push_many q:put q:put_many", complete("q:p", env))
    assert.equal("q.close q.closed q.count", complete("q.c", env))
    assert.equal("q.bytes", complete("q.b", env))
    assert.equal("a:band a:bor a:bxor", complete("a:b", env))
    assert.equal("a.dtype", complete("a.dt", env))
    q:close()
    m:close()
    assert.equal("m.buf:write", complete("m.buf:wr", env)) -- closed: names still known
  end)

  it("never calls an __index function, nor anything else a script defined", function()
    local calls = 0
    local function trap()
      calls = calls + 1
      return setmetatable({}, { __index = trap })
    end
    env.proxy = setmetatable({}, { __index = trap })
    env.udproxy = io.stdout -- a userdata with an __index table: its methods
    assert.equal("", complete("proxy.", env))
    assert.equal("", complete("proxy.x.y", env))
    assert.equal("", complete("proxy:", env))
    local genv = setmetatable({}, { __index = trap })
    assert.equal("and", complete("an", genv))
    assert.equal(0, calls)
    assert.equal("udproxy:write", complete("udproxy:wri", env))
    -- a script's __index put in a shmlua class's metatable is not called either
    local m = H.block(8)
    local mt = getmetatable(m)
    local index = mt.__index
    mt.__index = trap
    env.m = m
    local ok, list = pcall(complete, "m.buf:", env)
    mt.__index = index
    assert.is_true(ok, list)
    assert.equal("", list)
    assert.equal(0, calls)
  end)

  it("evaluates no expression: calls, indexes, numbers and misplaced separators give nothing",
    function()
      for _, text in ipairs({ "print().x", "print():", "nested[1].b", "nested['b'].", "3.f",
        "x = 1.", "nested:b.c", "nested..", "nested.:", ".", ":", "'str'.", "\"s\":" }) do
        assert.equal("", complete(text, env), text)
      end
    end)

  it("raises on bad arguments", function()
    local name = H.pcalled("complete")
    assert.matches("bad argument #1 to " .. name, select(2, pcall(shm.complete)))
    assert.matches("bad argument #1 to " .. name, select(2, pcall(shm.complete, {})))
    assert.matches("bad argument #2 to " .. name .. " %(table expected",
      select(2, pcall(shm.complete, "x", "not a table")))
  end)
end)
