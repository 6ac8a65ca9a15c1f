-- A producer and several consumers: one process produces work items into a shared queue,
-- three others take them as they come; each consumer writes its answers into a shared block
-- at the item's place. The parent checks that every item was done exactly once.
-- Run: shmlua examples/producer_consumers.lua [items [consumers]]   (or lua5.4 -l shm ...)
local shm = require "shm"

local items = math.tointeger(tonumber(arg and arg[1])) or 2000
local consumers = math.tointeger(tonumber(arg and arg[2])) or 3
assert(items >= 1 and consumers >= 1, "items >= 1, consumers >= 1")

-- The work: is n prime? Slow enough that the consumers share it out.
local function isprime(n)
  if n < 2 then return false end
  for d = 2, math.floor(math.sqrt(n)) do
    if n % d == 0 then return false end
  end
  return true
end

local queue <close> = assert(shm.queue { messages = 64 }) -- full at 64: the producer waits
-- Per item: how many times it was done (atomically counted) and the answer (1 prime, 0 not).
local answers <close> = assert(shm.create(items * 8))
local times, prime = answers:array("int32", 1, items), answers:array("int32", items * 4 + 1, items)

local producer = shm.spawn(function()
  for i = 1, items do
    assert(queue:push(string.pack("i4i4", i, 1000003 + 2 * i))) -- item i is a number to test
  end
  queue:shutdown() -- no more items: consumers finish what is left, then see "closed"
  return items
end)

local workers = {}
for c = 1, consumers do
  workers[c] = shm.spawn(function() -- returns how many items this consumer did
    local done = 0
    while true do
      local msg, why = queue:pop()
      if not msg then
        assert(why == "closed", why)
        return done
      end
      local i, n = string.unpack("i4i4", msg)
      prime[i] = isprime(n) and 1 or 0
      times:add(i, 1)
      done = done + 1
    end
  end)
end

print(("producer (pid %d) queues %d numbers; %d consumers test them for primality")
  :format(producer.pid, items, consumers))
local produced = select(2, assert(producer:wait()))
local total = 0
for c, r in ipairs(shm.waitall(workers)) do
  assert(r[1], ("consumer %d failed: %s %s"):format(c, r[2], r[3]))
  print(("  consumer %d (pid %d) did %d items"):format(c, workers[c].pid, r[2]))
  total = total + r[2]
end

local primes, wrong = 0, 0
for i = 1, items do
  if times[i] ~= 1 then wrong = wrong + 1 end
  if prime[i] == (isprime(1000003 + 2 * i) and 1 or 0) then
    primes = primes + prime[i]
  else
    wrong = wrong + 1
  end
end
print(("parent: %d produced, %d consumed, %d primes found, %d wrong"):format(produced, total,
  primes, wrong))
if produced ~= items or total ~= items or wrong > 0 then os.exit(1) end
print("ok: every item was done exactly once, and right")
