-- A script that starts scripts. The starter makes one block, then starts worker scripts with
-- shm.run: each a fresh shmlua process (posix_spawn, not a fork of this one), which shares
-- nothing with the starter but what it attaches by name. Each worker adds up the squares of
-- its share of 1..N into its own int64 slot of the block; the starter waits for them all and
-- adds the slots up.
-- Run: shmlua examples/starter.lua [WORKERS [N]]
local shm = require "shm"

if arg[1] == "worker" then -- started by the starter: worker NAME SLOT FIRST LAST
  local name, slot, first, last = arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5])
  local m <close> = assert(shm.attach(name))
  local sum = 0
  for k = first, last do sum = sum + k * k end
  m:array("int64")[slot] = sum
  print(("worker %d attached %s: squares of %d..%d"):format(slot, name, first, last))
  return
end

local workers = math.tointeger(tonumber(arg[1])) or 4
local n = math.tointeger(tonumber(arg[2])) or 1000000
local m <close> = assert(shm.create(workers * 8))
local slots = m:array("int64")

local handles = {}
for w = 1, workers do
  local first, last = (w - 1) * n // workers + 1, w * n // workers
  handles[w] = assert(shm.run(arg[0], "worker", m.name, w, first, last))
end
for w, result in ipairs(shm.waitall(handles)) do
  assert(result[1], ("worker %d failed: %s %s"):format(w, result[2], result[3]))
end

local total = 0
for w = 1, workers do total = total + slots[w] end
local expected = n * (n + 1) * (2 * n + 1) // 6
print(("starter: %d scripts added the squares of 1..%d: %d (expected %d)"):format(workers, n,
  total, expected))
assert(total == expected, "the workers' sums are wrong")
-- m is owned by the starter: unlinked when this script ends (the workers only attached).
