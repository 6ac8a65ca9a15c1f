-- Parallel sum: several worker processes fill their own part of one shared block, then the
-- parent reads the whole block and adds it up. No copying between processes: every worker
-- writes straight into the same memory.
-- Run: shmlua examples/parallel_sum.lua [workers [count]]   (or lua5.4 -l shm ...)
local shm = require "shm"

local workers = math.tointeger(tonumber(arg and arg[1])) or 4
local count = math.tointeger(tonumber(arg and arg[2])) or 1000000
assert(workers >= 1 and count >= 1 and count <= 2000000, "1 <= count <= 2000000, workers >= 1")

-- One block holds all the numbers, count int64 values; it is unlinked when this script ends.
local m <close> = assert(shm.create(count * 8))
local numbers = m:array("int64")
print(("parent: block %s holds %d numbers (%d bytes); %d workers will fill it")
  :format(m.name, count, m.size, workers))

-- Worker w squares the numbers of its slice into the block and also returns its own sum.
local per = (count + workers - 1) // workers
local handles = {}
for w = 1, workers do
  local first, last = (w - 1) * per + 1, math.min(w * per, count)
  handles[w] = assert(shm.spawn(function()
    local sum = 0
    for i = first, last do
      numbers[i] = i * i
      sum = sum + i * i
    end
    return first, last, sum
  end))
end

local partials = 0
for w, r in ipairs(shm.waitall(handles)) do
  assert(r[1], ("worker %d failed: %s %s"):format(w, r[2], r[3]))
  print(("  worker %d (pid %d) filled numbers %d..%d, partial sum %d")
    :format(w, handles[w].pid, r[2], r[3], r[4]))
  partials = partials + r[4]
end

-- The parent reads back what the workers wrote into the shared block.
local total = 0
for i = 1, count do total = total + numbers[i] end
local expected = count * (count + 1) // 2 * (2 * count + 1) // 3
print(("parent: read the block back: sum of squares 1..%d = %d"):format(count, total))
if total == expected and partials == expected then
  print("ok: the block, the workers' partial sums and n(n+1)(2n+1)/6 agree")
else
  print(("MISMATCH: expected %d, partial sums %d"):format(expected, partials))
  os.exit(1)
end
