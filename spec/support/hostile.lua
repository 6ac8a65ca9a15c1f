-- A hostile peer (used by spec/peers_spec.lua): lua5.4 hostile.lua KIND MODE SECONDS
-- Makes an object of KIND, starts two users that attach it by name and use it with short
-- timeouts (and attach it again now and then), and a scribbler that writes random bytes
-- over it: over its first 16 bytes (MODE "header": magic, version, kind, size) or anywhere
-- (MODE "whole"). Prints one line per process:
--   user N ok <calls> <outcome>=<count>;...     (outcomes: results and error messages)
--   scribbler ok <writes>
--   <who> died <how> <code> | <who> hung
local shm = require "shm"

local kind, mode, seconds = arg[1], arg[2], tonumber(arg[3])
local T = 0.02 -- every wait is bounded

package.path = "spec/support/?.lua;" .. package.path
local now = require "uptime"

local kinds = {
  block = {
    make = function(name) return shm.create(256, name) end,
    attach = function(name) return shm.attach(name) end,
    use = function(b, i) b.buf[i % 256 + 1] = i % 256; return b.buf:sub(1, 4) end,
  },
  queue = {
    make = function(name) return shm.queue { name = name, messages = 8, bytes = 256 } end,
    attach = function(name) return shm.queue.attach(name) end,
    use = function(q, i)
      if i % 2 == 0 then return q:push(("m%d"):format(i), T) end
      return q:pop(T)
    end,
  },
  dict = {
    make = function(name) return shm.dict { name = name, bytes = 4096 } end,
    attach = function(name) return shm.dict.attach(name) end,
    use = function(d, i)
      local k, r = "k" .. i % 13, i % 6
      if r == 0 and i % 4 == 0 then return d:set(k, { ("t"):rep(i % 50), i, { i % 2 == 0 } }) end
      if r == 0 then return d:set(k, ("v"):rep(i % 50), i % 3 * 0.01) end
      if r == 1 then return d:incr("n", 1, 0) end
      if r == 2 then return d:rpush("l", i) end
      if r == 3 then return d:lpop("l") end
      if r == 4 then return d:delete(k), #d:get_keys(0) end
      return d:get(k)
    end,
  },
  list = {
    make = function(name) return shm.list({ 1, 2.5, "abcdefgh", true, shm.null }, name) end,
    attach = function(name) return shm.list.attach(name) end,
    use = function(l, i)
      local k = i % 5 + 1
      if i % 3 == 0 then l[k] = (i % 2 == 0) and "xy" or i end
      return l[k], l:count(1)
    end,
  },
  mutex = {
    make = function(name) return shm.mutex(name) end,
    attach = function(name) return shm.mutex.attach(name) end,
    use = function(m)
      local ok, how = m:lock(T)
      if ok then m:unlock() end
      return ok, how
    end,
  },
  semaphore = {
    make = function(name) return shm.semaphore(2, name) end,
    attach = function(name) return shm.semaphore.attach(name) end,
    use = function(s)
      local ok, how = s:acquire(T)
      if ok then s:release() end
      return ok, how
    end,
  },
  barrier = {
    make = function(name) return shm.barrier(2, name) end,
    attach = function(name) return shm.barrier.attach(name) end,
    use = function(b, i)
      if i % 10 == 0 then b:reset() end
      return b:wait(T)
    end,
  },
  event = {
    make = function(name) return shm.event(name) end,
    attach = function(name) return shm.event.attach(name) end,
    use = function(e, i)
      if i % 3 == 0 then e:set() elseif i % 3 == 1 then e:clear() end
      return e:wait(T)
    end,
  },
  cond = {
    make = function(name) return shm.cond(assert(shm.mutex(name .. "_m")), name) end,
    attach = function(name) return shm.cond.attach(name) end,
    use = function(c, i)
      local m = c.mutex
      local ok, how = m:lock(T)
      if not ok then return ok, how end
      local r1, r2
      if i % 2 == 0 then c:signal() else r1, r2 = c:wait(T) end
      m:unlock()
      return r1, r2
    end,
  },
}

-- An outcome in a few words: error messages without names or numbers, results by type.
local function outcome(ok, a, b)
  if not ok then
    return "error: " .. tostring(a):gsub("'[^']*'", "'x'"):gsub("%d+", "N"):sub(1, 90)
  end
  local function show(v)
    if type(v) == "string" then return v:match("^%a[%a%- ]*$") and #v <= 20 and v or "string" end
    if math.type(v) then return math.type(v) end
    if type(v) == "table" then return "table" end
    return tostring(v)
  end
  return show(a) .. "," .. show(b)
end

local ready = assert(shm.semaphore(0)) -- released by each user once attached

local function user(name, stop)
  local k = kinds[kind]
  local seen, calls, h = {}, 0, nil
  while not h and now() < stop do -- the scribbler may have spoiled the header already
    local ok, got, msg = pcall(k.attach, name)
    h = ok and got
    if not h then
      local o = "first attach " .. outcome(false, ok and msg or got)
      seen[o] = (seen[o] or 0) + 1
    end
  end
  if h then ready:release() end
  while h and now() < stop do
    calls = calls + 1
    local o = outcome(pcall(k.use, h, calls))
    seen[o] = (seen[o] or 0) + 1
    if calls % 50 == 0 then -- attach again: the header is checked each time
      local ok, again, msg = pcall(k.attach, name)
      o = "attach " .. (ok and (again and "ok" or outcome(false, msg)) or outcome(false, again))
      seen[o] = (seen[o] or 0) + 1
      if ok and again then pcall(again.close, again) end
    end
  end
  if h then pcall(h.close, h) end
  local list = {}
  for o, n in pairs(seen) do list[#list + 1] = o .. "=" .. n end
  table.sort(list)
  return calls, table.concat(list, ";")
end

local function scribbler(name, stop)
  local b = assert(shm.attach(name))
  local nap = assert(shm.event())
  local span = mode == "header" and math.min(16, b.size) or b.size
  -- Not the robust-list links glibc keeps in a locked mutex (bytes 25..40 of each mutex on
  -- x86-64: at 17 in a mutex or barrier, at 65 and 193 in a queue, at 65 in a small dict):
  -- overwriting them crashes
  -- the holder at unlock, whatever shmlua does (docs/reliability.md, peers_spec.lua shows it).
  local links = {}
  local locks = { mutex = { 17 }, barrier = { 17 }, queue = { 65, 193 }, dict = { 65 } }
  for _, lock in ipairs(locks[kind] or {}) do
    for at = lock + 24, lock + 39 do links[at] = true end
  end
  local writes = 0
  -- the users attach first (or give up), then their objects go bad under them
  ready:acquire(5)
  ready:acquire(5)
  while now() < stop do
    for _ = 1, 4 do
      local at = math.random(1, span)
      if not links[at] then b.buf[at] = math.random(0, 255) end
    end
    writes = writes + 4
    nap:wait(0.0005)
  end
  nap:unlink()
  return writes
end

local name = ("spec_hostile_%s_%d"):format(kind, math.random(1, 1e9))
local object = assert(kinds[kind].make(name))
local stop = now() + seconds
local procs = {
  { "user 1", shm.spawn(user, name, stop) },
  { "user 2", shm.spawn(user, name, stop) },
  { "scribbler", shm.spawn(scribbler, name, stop) },
}
for _, p in ipairs(procs) do
  local who, h = p[1], p[2]
  local r = table.pack(h:wait(seconds + 10))
  if r[1] then
    print(who .. " ok " .. table.concat(r, " ", 2, r.n))
  elseif r[2] == "timeout" then
    h:kill("KILL")
    h:wait()
    print(who .. " hung")
  else
    print(("%s died %s %s"):format(who, tostring(r[2]), tostring(r[3])))
  end
end
if kind == "cond" then shm.remove(name .. "_m") end
object:unlink()
ready:unlink()
