-- A method that allocates (a userdata, a growing luaL_Buffer, a string) or calls Lua can run
-- the collector, and a finalizer of some other object may close the block right then. The
-- method must not go on with the address it had before: a clean "is closed" error or a
-- correct result, never a read or write of unmapped memory.
--
-- Each case runs in a child lua5.4 whose collector, once the heap grows 4% past its last
-- size, runs a whole cycle (finalizers included) at the next allocation: a full collection,
-- then a finalizer that closes the block becomes garbage, then `pad` bytes are allocated,
-- then the call. Sweeping pad moves that cycle, and with it the finalizer, across every
-- allocation the call makes. The child counts the calls during which the block got closed,
-- so a case that never hits its call cannot pass.
local H = require "helper"

-- prepare(shm) returns what the finalizer closes and what call gets; check(res) judges a
-- result that is not an error.
local driver = [[
local shm = require "shm"
local prepare = function(shm) %s end
local call = function(x) %s end
local check = function(res) %s end
if _VERSION == "Lua 5.4" then
  collectgarbage("incremental", 104, 1000)
else
  collectgarbage("setpause", 104)
  collectgarbage("setstepmul", 1000)
end
-- An object whose collection runs fn (5.1 and LuaJIT run __gc of userdata only).
local function finalized(fn)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = fn
    return p
  end
  return setmetatable({}, { __gc = fn })
end
local during, before = 0, 0
for pad = 0, 1048576, 8 do
  local owner, x = prepare(shm)
  collectgarbage()
  finalized(function() owner:close() end)
  local padding = string.rep("x", pad)
  local open = not owner.closed
  before = open and 0 or before + 1
  if before > 64 then break end -- pad alone now reaches the cycle: nothing more to sweep
  local ok, res = pcall(call, x)
  if open and owner.closed then during = during + 1 end
  if ok then
    assert(check(res), "wrong result: " .. tostring(res))
  else
    assert(tostring(res):find("is closed", 1, true), "unexpected error: " .. tostring(res))
  end
  owner:close()
  padding = nil
end
print("closed during the call: " .. during)
]]

local function block(size)
  return ("local m = assert(shm.create(%d)); m:unlink(); "):format(size)
end

-- without: Luas whose collector the sweep does not bring to run inside this call.
local function survives(prepare, call, check, without)
  if H.lua_version == "luajit" then -- its collector rarely runs at the allocation aimed at
    return pending("the sweep needs a collector paced as PUC Lua's")
  end
  if without == H.lua_version then
    return pending("the sweep never brings Lua " .. without .. "'s collector into this call")
  end
  local out = H.lua(driver:format(prepare, call, check))
  local during = tonumber(out:match("closed during the call: (%d+)"))
  assert(during, "the child did not finish:\n" .. out)
  assert.is_true(during > 0, "the finalizer never ran during the call")
end

describe("a finalizer that closes the block while a method runs", function()
  it("a:copy between dtypes (scratch allocation) raises or copies", function()
    survives(block(65536) .. [[
      local a, b = m:array("float64", 1, 2048), m:array("int32", 16385, 2048)
      b:fill(7)
      return m, { a, b } ]],
      "x[1]:copy(x[2]); return x[1][2048]",
      "return res == 7")
  end)

  it("tostring(a) (string building) raises or shows the elements", function()
    survives(block(64) .. [[
      local a = m:array("float64")
      a:fill(1 / 3)
      return m, a ]],
      "return tostring(x)",
      [[return res:find("^shm%.array: float64%[8%] {0%.333") or
                res == "shm.array: float64[8] (closed)"]], "5.2")
  end)

  it("a:totable (table allocation) raises or returns the elements", function()
    survives(block(4096) .. [[
      local a = m:array("int8")
      a:fill(5)
      return m, a ]],
      "return x:totable()",
      "return #res == 4096 and res[1] == 5 and res[4096] == 5")
  end)

  it("buf:hexdump (growing output) raises or dumps everything", function()
    survives(block(4096) .. "m.buf:fill(65); return m, m.buf",
      "return x:hexdump()",
      [[local _, lines = res:gsub("\n", "")
        return lines == 256 and res:find("AAAAAAAAAAAAAAAA\n$") ~= nil]])
  end)

  it("buf:pack (string.pack allocates) raises or writes #lua53", function()
    survives(block(4096) .. "return m, m.buf",
      [[local after = x:pack(1, "i4s4", 7, string.rep("y", 200))
        return after == 209 and x:unpack("i4") == 7]],
      "return res == true")
  end)

  it("buf:unpack retrying with a larger window raises or reads #lua53", function()
    survives(block(4096) .. "m.buf:fill(66); return m, m.buf",
      "return x:unpack('c600', 1)",
      "return res == string.rep('B', 600)")
  end)

  it("l.format (growing output) raises or lists every format", function()
    survives([[
      local values = {}
      for i = 1, 1500 do values[i] = i end
      local l = assert(shm.list(values)); l:unlink()
      return l, l ]],
      "return x.format",
      "return res == string.rep('q', 1500)", "5.2")
  end)

  it("l:count and l:index (each item pushed) raise or count", function()
    survives([[
      local values = {}
      for i = 1, 300 do values[i] = ("item %d"):format(i) end
      local l = assert(shm.list(values)); l:unlink()
      return l, l ]],
      "return x:count('none') + (x:index('item 300') or 0)",
      "return res == 300")
  end)
end)

describe("a hook that closes the block while a:wait sleeps", function()
  -- Between slices a:wait lets a pending hook run (for Ctrl-C); any hook runs there, and
  -- may close the block.
  it("raises instead of reading the unmapped element", function()
    for _, dtype in ipairs({ "int32", "int64" }) do
      local out = H.lua(([[
        local shm = require "shm"
        local m = assert(shm.create(64)); m:unlink()
        local a = m:array(%q)
        debug.sethook(function()
          if debug.getinfo(3, "f") and debug.getinfo(3, "f").func == a.wait then m:close() end
        end, "c")
        local ok, err = pcall(a.wait, a, 1, 0, 0.5)
        debug.sethook()
        print(ok, err, m.closed)
      ]]):format(dtype))
      assert.matches("^false\t.*is closed\ttrue\n$", out, nil, dtype)
    end
  end)
end)
