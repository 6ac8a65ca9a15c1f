-- A pool of worker processes on one queue of tasks: the parent queues ranges of numbers,
-- each worker takes the next range when it is free, finds the longest Collatz chain in it
-- and sends the answer back on a second queue. Faster workers simply take more tasks.
-- Run: shmlua examples/work_queue.lua [workers [limit]]   (or lua5.4 -l shm ...)
local shm = require "shm"

local workers = math.tointeger(tonumber(arg and arg[1])) or 4
local limit = math.tointeger(tonumber(arg and arg[2])) or 300000
assert(workers >= 1 and limit >= 1, "workers >= 1, limit >= 1")
local step = 10000

local function chain(n)
  local len = 1
  while n ~= 1 do
    n = n % 2 == 0 and n // 2 or 3 * n + 1
    len = len + 1
  end
  return len
end

local tasks <close> = assert(shm.queue { messages = 16, bytes = 1024 })
local results <close> = assert(shm.queue { messages = 1024, bytes = 64 * 1024 })

local pool = {}
for w = 1, workers do
  pool[w] = shm.spawn(function()
    local done = 0
    while true do
      local task, why = tasks:pop()
      if not task then
        assert(why == "closed", why)
        return done
      end
      local from, to = string.unpack("<i8i8", task)
      local best, at = 0, from
      for n = from, to do
        local len = chain(n)
        if len > best then best, at = len, n end
      end
      assert(results:push(string.pack("<i8i8i8", from, at, best)))
      done = done + 1
    end
  end)
end

-- The queue holds 16 tasks: push waits while the workers are behind.
local count = 0
for from = 1, limit, step do
  assert(tasks:push(string.pack("<i8i8", from, math.min(from + step - 1, limit))))
  count = count + 1
end
tasks:shutdown() -- the workers finish what is queued, then see "closed"

local best, at = 0, 0
for _ = 1, count do
  local _, n, len = string.unpack("<i8i8i8", assert(results:pop(60)))
  if len > best or (len == best and n < at) then best, at = len, n end
end
for w = 1, workers do
  local ok, done = pool[w]:wait()
  assert(ok, done)
  print(("worker %d did %d of %d tasks"):format(w, done, count))
end
print(("longest Collatz chain below %d starts at %d: %d numbers"):format(limit + 1, at, best))
