-- A lock-free counter shared by several processes. Each worker bumps two counters in one
-- int64 array: one with a plain read-then-write (a[1] = a[1] + 1), which loses updates when
-- workers collide, and one with the atomic a:add, which never does. When a worker is done it
-- adds to a "done" counter and notifies; the parent sleeps in a:wait until all are done.
-- Run: shmlua examples/atomic_counter.lua [workers [iterations]]
local shm = require "shm"

local PLAIN, ATOMIC, DONE = 1, 2, 3

if arg[1] == "worker" then
  local m = assert(shm.attach(arg[2]))
  local a = m:array("int64")
  for _ = 1, tonumber(arg[3]) do
    a[PLAIN] = a[PLAIN] + 1 -- another process may write between the read and the write
    a:add(ATOMIC, 1)
  end
  a:add(DONE, 1)
  a:notify(DONE)
  m:close()
  return
end

local workers = math.tointeger(tonumber(arg[1])) or 4
local iterations = math.tointeger(tonumber(arg[2])) or 200000
local m <close> = assert(shm.create(3 * 8))
local a = m:array("int64")
print(("%d workers x %d increments on %s"):format(workers, iterations, m.name))

local interpreter = arg[-1] or "lua5.4"
local children = {}
for w = 1, workers do -- io.popen starts each process at once; they run side by side
  children[w] = assert(io.popen(("%s %s worker %s %d"):format(interpreter, arg[0], m.name,
    iterations)))
end

-- Sleep until every worker has counted itself done (wait returns when notified, or when
-- the value is no longer the one we saw).
local done = a:load(DONE)
while done < workers do
  a:wait(DONE, done, 10)
  done = a:load(DONE)
end
for _, child in ipairs(children) do assert(child:close(), "a worker failed") end

local want = workers * iterations
print(("plain counter:  %d (%d updates lost)"):format(a[PLAIN], want - a[PLAIN]))
print(("atomic counter: %d (expected %d)"):format(a[ATOMIC], want))
assert(a[ATOMIC] == want)
