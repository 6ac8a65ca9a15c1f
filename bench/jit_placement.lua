-- Where LuaJIT places a compiled loop, and what that costs: compiles COPIES copies of the
-- byte write loop of bench/jit.lua (buf[i] = i % 256) in one process, each after a trace
-- of another size so that each starts elsewhere, and prints ns per element by where the
-- loop starts in its 64-byte line (LuaJIT starts loops at multiples of 16), with the loop's
-- length in bytes. See docs/performance.md, "LuaJIT's element access".
-- Usage: luajit bench/jit_placement.lua BUILD [COPIES] (BUILD as bench/jit builds it).
local build, copies = arg[1], tonumber(arg[2] or 24)
package.cpath = build .. "/?.so;" .. build .. "/bench/?.so;" .. package.cpath
local shm = require "shm"
local jutil = require "jit.util"
local now = require("benchsupport").cpu
local n = 10 * 1024 * 1024

local m = assert(shm.create(n))
m:unlink()
local buf = m.buf
buf:fill(0)

local last -- the trace compiled last
local function stopped(what, trace) if what == "stop" then last = trace end end
jit.attach(stopped, "trace")

local by_start, length = {}, nil
for k = 1, copies do
  local terms = {}
  for j = 1, k do terms[j] = "x" .. j % 7 end
  local shift = loadstring(([[local x0, x1, x2, x3, x4, x5, x6 = 0, 1, 2, 3, 4, 5, 6
    local s = 0
    for i = 1, 200 do s = s + i * (%s) end
    return s]]):format(table.concat(terms, " + ")))
  shift()
  local fill = loadstring("local a, c = ... for i = 1, c do a[i] = i % 256 end")
  fill(buf, n) -- compiles it
  local mcode, addr, loop = jutil.tracemc(last)
  local best = math.huge
  for _ = 1, 3 do
    local t0 = now()
    fill(buf, n)
    best = math.min(best, now() - t0)
  end
  local start = (addr + loop) % 64
  by_start[start] = by_start[start] or {}
  table.insert(by_start[start], ("%.3f"):format(best * 1e9 / n))
  -- the loop runs from its start to its backward branch; after it, an exit jump of 5 bytes
  length = #mcode - loop - 5
end
jit.attach(stopped)
m:close()
print(("loop of %d bytes, ns per element by where it starts in its 64-byte line:"):format(length))
for start = 0, 48, 16 do
  print(("  %2d: %s"):format(start, table.concat(by_start[start] or {}, " ")))
end
