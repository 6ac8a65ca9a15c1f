-- Atomics on int32/uint32/int64/uint64 arrays: every operation's result, exact totals from
-- several processes hammering one element, and wait/notify across processes (with timeouts
-- and Ctrl-C).
local H = require "helper"
local shm = require "shm"
local S = require "sync_helper"

local block = H.block

-- The shell command that runs source in lua5.4 with args; the script file removes itself.
local function command(source, ...)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("os.remove(arg[0])\n", source)
  f:close()
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.quote(a) end
  return ("%s" .. H.lua_exe .. " %s %s 2>&1"):format(H.env, path, table.concat(args, " "))
end

-- Runs n copies of source at the same time; waits for all, returns their output and whether
-- every one succeeded.
local function parallel(n, source, ...)
  local cmd = {}
  for i = 1, n do cmd[i] = "( " .. command(source, ...) .. " || echo FAILED ) &" end
  local out = H.sh(table.concat(cmd, " ") .. " wait")
  return out, not out:find("FAILED")
end

-- Starts source in the background; returns a pipe to read its output from at the end.
local function background(source, ...)
  return assert(io.popen(command(source, ...)))
end

describe("atomic operations", function()
  for _, dtype in ipairs({ "int32", "uint32", "int64", "uint64" }) do
    it("on " .. dtype .. " return the old value and store the new one", function()
      local m = block(16)
      local a = m:array(dtype)
      a:store(1, 10)
      assert.equal(10, a:load(1))
      assert.equal(10, a:add(1, 5))
      assert.equal(15, a:sub(1, 3))
      assert.equal(12, a:band(1, 6))
      assert.equal(4, a:bor(1, 3))
      assert.equal(7, a:bxor(1, 5))
      assert.equal(2, a:exchange(1, 9))
      assert.same({ false, 9 }, { a:cas(1, 8, 1) })
      assert.same({ true, 9 }, { a:cas(1, 9, 1) })
      assert.equal(1, a[1])
      assert.equal(0, a:load(-1))
      assert.error_matches(function() a:load(math.floor(3 * 8 / #a) + 9) end, "out of range")
      assert.error_matches(function() a:add(1, 1.5) end, "must be an integer")
      assert.equal(a[1.0], a:load(1.0)) -- the index is read as a[i] reads it
      assert.error_matches(function() a:add(1.5, 1) end, "index must be an integer")
      assert.error_matches(function() a:load("1") end, "integer expected, got string")
    end)
  end

  it("wrap around on overflow of add and sub (stored values are range-checked) #lua53", function()
    local m = block(24)
    local i32, u32, i64 = m:array("int32", 1, 1), m:array("uint32", 5, 1), m:array("int64", 9, 2)
    i32[1] = 2147483647
    i32:add(1, 1)
    assert.equal(-2147483648, i32[1])
    u32:sub(1, 1)
    assert.equal(4294967295, u32[1])
    i64[1] = H.maxinteger
    i64:add(1, 1)
    assert.equal(H.mininteger, i64[1])
  end)

  it("are refused on other dtypes", function()
    local m = block(16)
    for _, dtype in ipairs({ "int8", "uint8", "int16", "uint16", "float32", "float64" }) do
      assert.error_matches(function() m:array(dtype):add(1, 1) end,
        "atomics need an int32, uint32, int64 or uint64 array, not " .. dtype)
    end
  end)

  for _, dtype in ipairs({ "int32", "int64" }) do
    it("give an exact total when 4 processes add 250000 times each to one " .. dtype, function()
      local m = assert(shm.create(64))
      local out, ok = parallel(4, [[
        local m = assert(require("shm").attach(arg[1]))
        local a = m:array(arg[2])
        for _ = 1, 250000 do a:add(2, 1) end
        for _ = 1, 1000 do a:sub(3, 1) end
      ]], m.name, dtype)
      m:unlink()
      assert.is_true(ok, out)
      assert.same({ 0, 1000000, -4000 }, m:array(dtype):totable(1, 3))
    end)
  end

  it("give an exact total when 4 processes each add 1e6 times (int32)", function()
    local m = assert(shm.create(4))
    local out, ok = parallel(4, [[
      local a = assert(require("shm").attach(arg[1])):array("int32")
      for _ = 1, 1000000 do a:add(1, 1) end
    ]], m.name)
    m:unlink()
    assert.is_true(ok, out)
    assert.equal(4000000, m:array("int32")[1])
  end)

  it("give an exact total when 4 forked children (shm.spawn) each add 1e6 times", function()
    local m = block(8)
    local a = m:array("int64") -- the children inherit the mapping and the view
    local handles = {}
    for w = 1, 4 do
      handles[w] = assert(shm.spawn(function()
        for _ = 1, 1000000 do a:add(1, 1) end
        return a:load(1)
      end))
    end
    for _, r in ipairs(shm.waitall(handles)) do
      assert.is_true(r[1], tostring(r[3]))
      assert.is_true(r[2] >= 1000000 and r[2] <= 4000000)
    end
    assert.equal(4000000, a[1])
  end)

  it("cas loops from 3 processes never lose an update #lua53", function()
    local m = assert(shm.create(8))
    local out, ok = parallel(3, [[
      local a = assert(require("shm").attach(arg[1])):array("uint64")
      for _ = 1, 20000 do
        local old = a:load(1)
        while true do
          local swapped, found = a:cas(1, old, old * 3 + 1) -- not commutative with add
          if swapped then break end
          old = found
        end
      end
    ]], m.name)
    m:unlink()
    assert.is_true(ok, out)
    -- 60000 applications of x -> 3x + 1 from 0, in any order, wrapping modulo 2^64
    local want = 0
    for _ = 1, 60000 do want = want * 3 + 1 end
    assert.equal(want, m:array("uint64")[1])
  end)
end)

local now = H.now

describe("wait and notify", function()
  for _, dtype in ipairs({ "int32", "uint32", "int64", "uint64" }) do
    it("on " .. dtype .. " return 'not-equal' at once and 'timed-out' after the timeout", function()
      local m = block(16)
      local a = m:array(dtype, 9, 1)
      a[1] = 5
      assert.equal("not-equal", a:wait(1, 4))
      local t0 = now()
      assert.equal("timed-out", a:wait(1, 5, 0.2))
      local waited = now() - t0
      assert.is_true(waited >= 0.19 and waited < 2, waited) -- the clock ticks every 10 ms
      assert.equal("timed-out", a:wait(1, 5, 0))
      assert.equal(0, a:notify(1)) -- nobody waits
      assert.error_matches(function() a:wait(1, 5, -1) end, "timeout must be")
      -- the timeout is read as every wait reads it (shmlua_opttimeout): a numeric string too
      assert.equal("timed-out", a:wait(1, 5, "0.01"))
      assert.error_matches(function() a:wait(1, 5, "soon") end, "number expected")
      assert.error_matches(function() a:wait(1, 5, {}) end, "number expected")
      assert.error_matches(function() a:notify(1, -1) end, "count must be >= 0")
    end)

    it("on " .. dtype .. " wake a sleeping process, which reports 'ok'", function()
      local m = assert(shm.create(16))
      local child = background([[
        local a = assert(require("shm").attach(arg[1])):array(arg[2])
        a:store(2, 1) -- about to sleep
        io.write(a:wait(1, 0, 10), " ", a:load(1))
      ]], m.name, dtype)
      local a = m:array(dtype)
      while a:load(2) == 0 do end
      -- Until the child sleeps, notify wakes nobody; the value stays 0, so only a notify
      -- can end its wait before the 10 s timeout.
      local woken, deadline = 0, now() + 10
      repeat woken = a:notify(1) until woken > 0 or now() > deadline
      local out = child:read("*a")
      child:close()
      m:unlink()
      assert.equal(1, woken)
      assert.equal("ok 0", out)
    end)

    it("on " .. dtype .. " hand a token back and forth 2000 times without a lost wake-up", function()
      local m = assert(shm.create(16))
      local source = [[
        local a = assert(require("shm").attach(arg[1])):array(arg[2])
        local me, other = tonumber(arg[3]), 1 - tonumber(arg[3])
        for _ = 1, 1000 do
          while a:load(1) ~= me do a:wait(1, other, 10) end
          a:store(1, other)
          a:notify(1)
        end
      ]]
      local one = background(source, m.name, dtype, 1)
      local out, ok = H.lua(source, m.name, dtype, 0)
      local out1 = one:read("*a")
      local ok1 = one:close()
      m:unlink()
      assert.is_true(ok and ok1, out .. out1)
      assert.equal(0, m:array(dtype)[1])
    end)
  end

  it("wakes a forked child (shm.spawn) waiting for a value to change", function()
    local m = block(8)
    local a = m:array("int32")
    local h = assert(shm.spawn(function()
      a:store(2, 1)
      local results = {}
      while a:load(1) == 0 do results[#results + 1] = a:wait(1, 0, 10) end
      return a:load(1), table.concat(results, " ")
    end))
    while a:load(2) == 0 do end
    a:store(1, 42)
    a:notify(1)
    local ok, value, results = h:wait(20)
    assert.is_true(ok, tostring(value))
    assert.equal(42, value)
    assert.matches("^[a-z -]*$", results) -- "ok", or "not-equal" if the store came first
    assert.not_matches("timed%-out", results)
  end)

  it("on int64 notices a change of the high half alone within milliseconds", function()
    local m = assert(shm.create(16))
    local child = background([[
      local a = assert(require("shm").attach(arg[1])):array("int64")
      a:store(2, io.open("/proc/self/stat"):read("*n"))
      io.write(a:wait(1, 0, 20), " ", a:load(1))
    ]], m.name)
    local a = m:array("int64")
    while a:load(2) == 0 do end
    assert.is_true(S.asleep({ pid = a:load(2) })) -- a change before the sleep is "not-equal"
    local t0 = now()
    a:store(1, 4294967296) -- the low half, where the kernel sleeps, stays 0; no notify either
    local out = child:read("*a")
    child:close()
    m:unlink()
    assert.equal("ok " .. (4294967296), out)
    assert.is_true(now() - t0 < 5, "took " .. now() - t0)
  end)

  for _, dtype in ipairs({ "int32", "int64" }) do
    it("on " .. dtype .. " is interrupted by Ctrl-C (SIGINT) in lua5.4: 'interrupted!'", function()
      local m = assert(shm.create(16))
      local child = background([[
        local a = assert(require("shm").attach(arg[1])):array(arg[2])
        a:store(2, io.open("/proc/self/stat"):read("*n"))
        print(a:wait(1, 0, 30)) -- prints "timed-out" after 30 s if the signal were swallowed
      ]], m.name, dtype)
      local a = m:array(dtype)
      while a:load(2) == 0 do end
      -- asleep in the futex, so the signal cannot land in lua5.4's own hook instead
      assert.is_true(S.asleep({ pid = a:load(2) }))
      local t0 = now()
      H.sh("kill -INT " .. a:load(2))
      local out = child:read("*a")
      child:close()
      m:unlink()
      assert.matches("interrupted!", out)
      assert.is_true(now() - t0 < 10) -- at once, but the machine may be busy
    end)
  end

end)
