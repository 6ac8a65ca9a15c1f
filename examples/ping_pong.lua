-- Ping-pong between two processes: a message goes to a child and straight back, many times;
-- the time per round trip is what one hand-off each way costs. Measured for a pair of
-- queues and for a pair of semaphores, in the same run, so compare the two as a ratio
-- (absolute times depend on the machine and on what else runs).
-- Run: shmlua examples/ping_pong.lua [rounds]   (or lua5.4 -l shm ...)
local shm = require "shm"

local rounds = math.tointeger(tonumber(arg and arg[1])) or 20000
assert(rounds >= 1, "rounds >= 1")

local function now()
  local f = assert(io.open("/proc/uptime"))
  local t = f:read("n")
  f:close()
  return t
end

-- Runs `rounds` round trips: the child answers every ping; returns microseconds per trip.
local function measure(ping, pong, send, receive)
  local child = shm.spawn(function()
    for _ = 1, rounds do send(pong, receive(ping)) end
    return true
  end)
  send(ping, "warm-up")
  receive(pong)
  local w0 = now() -- wall time: os.clock would not count the waits
  for i = 2, rounds do
    send(ping, "ping")
    receive(pong)
  end
  local wall = now() - w0
  assert(child:wait())
  return wall * 1e6 / (rounds - 1)
end

local q1 <close> = assert(shm.queue { messages = 1, bytes = 16 })
local q2 <close> = assert(shm.queue { messages = 1, bytes = 16 })
local queue_us = measure(q1, q2, function(q, s) assert(q:push(s)) end,
  function(q) return assert(q:pop()) end)

local s1 <close> = assert(shm.semaphore(0))
local s2 <close> = assert(shm.semaphore(0))
local sem_us = measure(s1, s2, function(s) s:release() end, function(s) s:acquire() end)

print(("round trips: %d"):format(rounds))
print(("queue pair:     %8.2f us per round trip"):format(queue_us))
print(("semaphore pair: %8.2f us per round trip"):format(sem_us))
print(("ratio queue/semaphore: %.2f"):format(queue_us / sem_us))
