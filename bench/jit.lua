-- LuaJIT's element rows: buf[i] and typed a[i] loops through shmlua's FFI path, the same
-- loops over a LuaJIT table, and the C floor as a scalar loop (-O2 -fno-tree-vectorize).
-- Usage: luajit bench/jit.lua BUILD [RUNS [N]] (bench/jit builds BUILD for LuaJIT, Release).
-- Prints the median ns per element of each side, the spread (min..max) of shmlua's runs,
-- and shmlua's time over the C loop's, which issue 17 wants at most 2: the median of the
-- runs' ratios (each run times the three sides one after another) and their spread. The
-- spread is wide by nature: each run compiles its loop anew, and where LuaJIT places it
-- (a short loop that crosses a 64-byte line or not) moves a write loop by up to 1.5x.
local build, runs, n = arg[1], tonumber(arg[2] or 7), tonumber(arg[3] or 10 * 1024 * 1024)
package.cpath = build .. "/?.so;" .. build .. "/bench/?.so;" .. package.cpath
local shm = require "shm"
local support = require "benchsupport"
local now = support.cpu

local function per(t0, count) return (now() - t0) * 1e9 / count end

local function block(bytes)
  local m = assert(shm.create(bytes))
  m:unlink()
  m.buf:fill(0) -- mapped, as the C side's memory is
  return m
end

-- Each row gets loops of its own (a new function each time): LuaJIT compiles a loop for the
-- types it saw there, and a loop that meets several dtypes runs through side traces.
local function newsum()
  return loadstring([[
    local a, count = ...
    local s = 0
    for i = 1, count do s = s + a[i] end
    return s]])
end

local sum

-- Times the sum over a (filled with value(i) first): ns per element, the sum.
local function timed_sum(a, c, value)
  for i = 1, c do a[i] = value(i) end
  local t0 = now()
  local s = sum(a, c)
  return per(t0, c), s
end

-- Times a[i] = expr for i = 1..c, a loop of its own: ns per element, the sum.
local function timed_fill(a, c, expr)
  local fill = loadstring(("local a, c = ... for i = 1, c do a[i] = %s end"):format(expr))
  local t0 = now()
  fill(a, c)
  return per(t0, c), sum(a, c)
end

local function zeros(c)
  local t = {}
  for i = 1, c do t[i] = 0 end
  return t
end

local function pattern(i) return (i - 1) % 251 end
local function index(i) return i end

-- Each: id (the C side's op), label, element width, then the shmlua and the table sides,
-- function(count) -> ns per element, check.
local rows = {
  { "byte_read", "buf[i] read-sum", 1,
    function(c) return timed_sum(block(c).buf, c, pattern) end,
    function(c) return timed_sum({}, c, pattern) end },
  { "byte_write", "buf[i] = v", 1,
    function(c) return timed_fill(block(c).buf, c, "i % 256") end,
    function(c) return timed_fill(zeros(c), c, "i % 256") end },
}
for _, d in ipairs({ { "i64", "int64" }, { "f64", "float64" } }) do
  rows[#rows + 1] = { d[1] .. "_read", d[2] .. " a[i] read-sum", 8,
    function(c) return timed_sum(block(c * 8):array(d[2]), c, index) end,
    function(c) return timed_sum({}, c, index) end }
  rows[#rows + 1] = { d[1] .. "_write", d[2] .. " a[i] = v", 8,
    function(c) return timed_fill(block(c * 8):array(d[2]), c, "i") end,
    function(c) return timed_fill(zeros(c), c, "i") end }
end

local function cloop(op, c)
  -- CPU time, as the Lua sides measure (support.cpu): a preempted C run is not slower
  local p = assert(io.popen(("SHMLUA_BENCH_CLOCK=cpu %s/bench/shmlua_cbench_scalar %s %d"):format(
    build, op, c)))
  local ns, check = p:read("*a"):match("^(%S+) (%S+)")
  p:close()
  return tonumber(ns), tonumber(check)
end

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

print(("%-24s %10s %12s %10s %16s %10s %12s"):format("LuaJIT " .. jit.version:match("%S+$"),
  "shmlua ns", "(min..max)", "table ns", "C -O2 scalar ns", "shmlua/C", "(min..max)"))
local worst = 0
for _, r in ipairs(rows) do
  local id, label, width, lua_side, table_side = r[1], r[2], r[3], r[4], r[5]
  sum = newsum()
  local count = math.floor(n / width)
  local L, T, C, R = {}, {}, {}, {}
  for k = 1, runs do -- interleaved, so drifts of the machine hit every side alike
    local ns, check = lua_side(count)
    local tns, tcheck = table_side(count)
    local cns, ccheck = cloop(id, count)
    assert(check == tcheck and check == ccheck, ("%s: checks differ: %s %s %s"):format(
      id, tostring(check), tostring(tcheck), tostring(ccheck)))
    L[k], T[k], C[k], R[k] = ns, tns, cns, ns / cns
    collectgarbage()
  end
  local lo, hi = math.min(unpack(L)), math.max(unpack(L))
  local ratio = median(R)
  worst = math.max(worst, ratio)
  print(("%-24s %10.3f %12s %10.3f %16.3f %10.2f %12s"):format(label, median(L),
    ("%.2f..%.2f"):format(lo, hi), median(T), median(C), ratio,
    ("%.2f..%.2f"):format(math.min(unpack(R)), math.max(unpack(R)))))
end
print(("worst shmlua/C: %.2f (issue 17 asks at most 2)"):format(worst))
