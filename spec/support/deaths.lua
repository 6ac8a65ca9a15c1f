-- Participants killed with SIGKILL at random moments (used by spec/peers_spec.lua):
--   lua5.4 deaths.lua queue KILLS    2 producers and 2 consumers of numbered messages
--   lua5.4 deaths.lua mutex KILLS    3 workers in a critical section guarded by a mutex
--   lua5.4 deaths.lua barrier TRIALS 3 parties, one killed during each trial
--   lua5.4 deaths.lua dict KILLS     3 workers doing a mixed workload on a shm.dict
-- Each kill picks a participant at random after a random pause, and a new one takes its
-- place. Prints "key=value" facts on one line for the spec to check; "hung <who>" if a
-- survivor did not finish in time.
local shm = require "shm"

local what, count = arg[1], tonumber(arg[2])

package.path = "spec/support/?.lua;" .. package.path
local now = require "uptime"

local nap = assert(shm.event())
local function sleep(seconds) nap:wait(seconds) end

-- Waits for a handle; false and kills it if it does not end in time.
local function finish(h, seconds)
  local r = table.pack(h:wait(seconds))
  if r[1] == nil and r[2] == "timeout" then
    h:kill("KILL")
    h:wait()
    return false, "hung"
  end
  return table.unpack(r, 1, r.n)
end

local facts = {}
local function fact(k, v) facts[#facts + 1] = k .. "=" .. tostring(v) end

-- A message that shows whether it arrived whole: its fields, a checksum, then filler.
local function message(p, inc, seq)
  local head = ("%d:%d:%d"):format(p, inc, seq)
  local sum = 0
  for i = 1, #head do sum = (sum * 31 + head:byte(i)) % 1000003 end
  return ("%s:%d:%s"):format(head, sum, ("abcdefghij"):rep(seq % 7))
end

local function parse(m)
  local p, inc, seq, sum, fill = m:match("^(%d+):(%d+):(%d+):(%d+):(%a*)$")
  if not p then return nil end
  if message(tonumber(p), tonumber(inc), tonumber(seq)) ~= m then return nil end
  return tonumber(p), tonumber(inc), tonumber(seq), tonumber(sum), fill
end

local runs = {}

runs.queue = function()
  local q = assert(shm.queue { messages = 16, bytes = 1024 })
  local stop, drained = assert(shm.event()), assert(shm.event())
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local function producer(p, inc)
    local qh = assert(shm.queue.attach(q.name))
    local st = assert(shm.event.attach(stop.name))
    local seq = 1
    while not st.isset do
      local ok, why = qh:push(message(p, inc, seq), 0.2)
      if ok then seq = seq + 1 elseif why ~= "timeout" then error(why) end
    end
  end
  local function consumer(c, inc)
    local qh = assert(shm.queue.attach(q.name))
    local dr = assert(shm.event.attach(drained.name))
    local f = assert(io.open(("%s/c%d_%d"):format(dir, c, inc), "w"))
    while true do
      local m, why = qh:pop(0.05)
      if m then
        f:write(m, "\n")
        f:flush()
      elseif why == "timeout" then
        if dr.isset then break end
      else
        error(why)
      end
    end
    f:close()
  end
  local roles = { { producer, 1 }, { producer, 2 }, { consumer, 1 }, { consumer, 2 } }
  local running, inc, kills = {}, {}, { producer = 0, consumer = 0 }
  for i, r in ipairs(roles) do
    inc[i] = 1
    running[i] = shm.spawn(r[1], r[2], 1)
  end
  for _ = 1, count do
    sleep(math.random() * 0.03)
    local i = math.random(#roles)
    running[i]:kill("KILL")
    running[i]:wait()
    local role = roles[i][1] == producer and "producer" or "consumer"
    kills[role] = kills[role] + 1
    inc[i] = inc[i] + 1
    running[i] = shm.spawn(roles[i][1], roles[i][2], inc[i])
  end
  sleep(0.2)
  stop:set()
  for i = 1, 2 do
    local ok, how = finish(running[i], 10)
    if not ok then fact("hung", "producer" .. i .. ":" .. tostring(how)) end
  end
  drained:set()
  for i = 3, 4 do
    local ok, how = finish(running[i], 10)
    if not ok then fact("hung", "consumer" .. i - 2 .. ":" .. tostring(how)) end
  end
  -- What arrived: every line whole, each message once, each producer's order kept.
  local seen, torn, cut, dups, disorder, received = {}, 0, 0, 0, 0, 0
  local top = {}
  local p = io.popen("ls " .. dir)
  for file in p:lines() do
    local last = {}
    local f = assert(io.open(dir .. "/" .. file, "rb"))
    local log = f:read("a")
    f:close()
    -- A consumer killed inside its write(2) may have written only the part of its line
    -- before a page boundary (Linux stops a write between pages for SIGKILL): a last line
    -- without its newline is that, not a torn message.
    if log ~= "" and log:sub(-1) ~= "\n" then
      cut = cut + 1
      log = log:match("^(.*\n)") or ""
    end
    for line in log:gmatch("([^\n]*)\n") do
      local pid, pinc, seq = parse(line)
      if not pid then
        torn = torn + 1
      else
        received = received + 1
        local key = pid .. ":" .. pinc
        if seen[key .. ":" .. seq] then dups = dups + 1 end
        seen[key .. ":" .. seq] = true
        if (last[key] or 0) >= seq then disorder = disorder + 1 end
        last[key] = seq
        top[key] = math.max(top[key] or 0, seq)
      end
    end
  end
  p:close()
  local gaps = 0
  for key, max in pairs(top) do
    for seq = 1, max do
      if not seen[key .. ":" .. seq] then gaps = gaps + 1 end
    end
  end
  os.execute("rm -rf " .. dir)
  fact("received", received)
  fact("torn", torn)
  fact("cut", cut)
  fact("duplicates", dups)
  fact("disorder", disorder)
  fact("gaps", gaps)
  fact("producer_kills", kills.producer)
  fact("consumer_kills", kills.consumer)
  fact("left", q.count)
  for _, o in ipairs { q, stop, drained } do o:unlink() end
end

runs.mutex = function()
  local m = assert(shm.mutex())
  local b = assert(shm.create(64))
  local stop = assert(shm.event())
  -- state[1]: processes inside; [2]: sections done; [3]: owner-died seen; [4]: two inside;
  -- [5]: other failures
  local function worker()
    local mh = assert(shm.mutex.attach(m.name))
    local st = assert(shm.event.attach(stop.name))
    local state = assert(shm.attach(b.name)):array("int64")
    while not st.isset do
      local ok, how = mh:lock(2)
      if not ok then
        state:add(5, 1)
      else
        if how == "owner-died" then
          state:add(3, 1)
          state:store(1, 0) -- the repair: whoever died inside is not inside any more
          mh:consistent()
        end
        if state:add(1, 1) ~= 0 then state:add(4, 1) end
        state[2] = state[2] + 1 -- not atomic: only the lock keeps it right
        state:sub(1, 1)
        mh:unlock()
      end
    end
  end
  local running = {}
  for i = 1, 3 do running[i] = shm.spawn(worker) end
  for _ = 1, count do
    sleep(math.random() * 0.02)
    local i = math.random(3)
    running[i]:kill("KILL")
    running[i]:wait()
    running[i] = shm.spawn(worker)
  end
  sleep(0.1)
  stop:set()
  for i = 1, 3 do
    local ok, how, detail = finish(running[i], 10)
    if not ok then fact("hung", "worker" .. i .. ":" .. tostring(how) .. ":" .. tostring(detail)) end
  end
  local state = b:array("int64")
  fact("kills", count)
  fact("sections", state[2])
  fact("owner_died", state[3])
  fact("two_inside", state[4])
  fact("failures", state[5])
  for _, o in ipairs { m, b, stop } do o:unlink() end
end

runs.barrier = function()
  local told, worst, rounds = 0, 0, 0
  for _ = 1, count do
    local b = assert(shm.barrier(3))
    local function party()
      local bh = assert(shm.barrier.attach(b.name))
      local n = 0
      while true do
        local r, why = bh:wait(5)
        if not r then return why, n, now() end
        n = n + 1
      end
    end
    local ps = { shm.spawn(party), shm.spawn(party), shm.spawn(party) }
    sleep(0.02 + math.random() * 0.05)
    local victim = math.random(3)
    ps[victim]:kill("KILL")
    local killed = now()
    ps[victim]:wait()
    for i, h in ipairs(ps) do
      if i ~= victim then
        local ok, why, n, at = finish(h, 10)
        if ok and why == "broken" then
          told = told + 1
          worst = math.max(worst, at - killed)
          rounds = rounds + n
        else
          fact("party", tostring(ok) .. ":" .. tostring(why))
        end
      end
    end
    b:unlink()
  end
  fact("trials", count)
  fact("told_broken", told)
  fact("rounds", rounds)
  fact("worst_seconds", ("%.3f"):format(worst))
end

-- Kills one of the workers made by spawn(i) (i: its place, 1..nworkers) count times at random
-- moments, replacing each; then sets stop and waits for the last ones.
local function kill_loop(spawn, stop, nworkers)
  local running = {}
  for i = 1, nworkers do running[i] = spawn(i) end
  for _ = 1, count do
    sleep(math.random() * 0.02)
    local i = math.random(nworkers)
    running[i]:kill("KILL")
    running[i]:wait()
    running[i] = spawn(i)
  end
  stop:set()
  for i = 1, nworkers do
    local ok, how = finish(running[i], 10)
    if not ok then fact("hung", "worker" .. i .. ":" .. tostring(how)) end
  end
end

-- Units have no owner: a holder killed takes its unit with it, but none is ever made.
runs.semaphore = function()
  local s, stop = assert(shm.semaphore(2)), assert(shm.event())
  kill_loop(function()
    return shm.spawn(function()
      local sh = assert(shm.semaphore.attach(s.name))
      local st = assert(shm.event.attach(stop.name))
      while not st.isset do
        if sh:acquire(0.05) then sh:release() end
      end
    end)
  end, stop, 3)
  fact("kills", count)
  fact("value", s.value)
  s:unlink(); stop:unlink()
end

-- A waiter killed in its wait changes nothing for the others.
runs.event = function()
  local e, stop = assert(shm.event()), assert(shm.event())
  local b = assert(shm.create(64))
  local setter = shm.spawn(function()
    local eh, st = assert(shm.event.attach(e.name)), assert(shm.event.attach(stop.name))
    while not st.isset do
      eh:set()
      nap:wait(0.001)
      eh:clear()
      nap:wait(0.001)
    end
    eh:set() -- the last waits end too
  end)
  kill_loop(function()
    return shm.spawn(function()
      local eh, st = assert(shm.event.attach(e.name)), assert(shm.event.attach(stop.name))
      -- [1]: waits that ended with the flag set, [2]: waits that timed out
      local wakes = assert(shm.attach(b.name)):array("int64")
      while not st.isset do
        if eh:wait(0.5) then wakes:add(1, 1) else wakes:add(2, 1) end
      end
    end)
  end, stop, 3)
  finish(setter, 10)
  local wakes = b:array("int64")
  fact("kills", count)
  fact("wakes", wakes[1])
  fact("timeouts", wakes[2])
  for _, o in ipairs { e, stop, b } do o:unlink() end
end

-- Three workers on keys of their own (strings, tables, counters, a list) and one counter they
-- share, each writing what it is about to do ("? op key value") and that it did it ("!") to a
-- log of its own. After the kills, every key must hold a value the logs allow: the operation a
-- worker was killed in may have happened or not, everything before it did. Then deleting
-- every key must give back every byte.
runs.dict = function()
  local d = assert(shm.dict { bytes = 4 * 1048576 }) -- sharded, and never full: no evictions
  local stop = assert(shm.event())
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local function worker(w, inc)
    local dh = assert(shm.dict.attach(d.name))
    local st = assert(shm.event.attach(stop.name))
    local f = assert(io.open(("%s/w%d_%03d"):format(dir, w, inc), "w"))
    local seq = 0
    while not st.isset do
      seq = seq + 1
      local r, op, key, value = math.random()
      if r < 0.35 then -- a string, or a table holding one (told apart by a T)
        op = r < 0.2 and "set" or "tset"
        key, value = ("w%d:s%d"):format(w, math.random(20)),
          ("%s%d.%d.%d.%s"):format(op == "tset" and "T" or "", w, inc, seq, ("x"):rep(seq % 40))
      elseif r < 0.45 then
        op, key, value = "delete", ("w%d:s%d"):format(w, math.random(20)), "-"
      elseif r < 0.65 then
        op, key, value = "incr", ("w%d:c%d"):format(w, math.random(5)), "1"
      elseif r < 0.77 then
        op, key, value = "rpush", ("w%d:l"):format(w), ("%d.%d"):format(inc, seq)
      elseif r < 0.9 then
        op, key, value = "lpop", ("w%d:l"):format(w), "-"
      else
        op, key, value = "shared", "total", "1"
      end
      f:write("? ", op, " ", key, " ", value, "\n")
      f:flush()
      if op == "set" then assert(dh:set(key, value))
      elseif op == "tset" then assert(dh:set(key, { value, { seq } }))
      elseif op == "delete" then assert(dh:delete(key))
      elseif op == "incr" or op == "shared" then assert(dh:incr(key, 1, 0))
      elseif op == "rpush" then assert(dh:rpush(key, value))
      else dh:lpop(key) end
      f:write("!\n")
      f:flush()
    end
    f:close()
  end
  local incarnations = { 0, 0, 0 }
  kill_loop(function(w)
    incarnations[w] = incarnations[w] + 1
    return shm.spawn(worker, w, incarnations[w])
  end, stop, 3)
  -- Each key's possible values (lists as "a,b,c"), replaying the logs of each worker in order.
  local possible, done_total, uncertain_total, ops = {}, 0, 0, 0
  local function apply(op, key, value, states)
    local out = {}
    for s in pairs(states) do
      local n
      if op == "set" or op == "tset" then n = value
      elseif op == "delete" then n = "nil"
      elseif op == "incr" then n = tostring((tonumber(s) or 0) + 1)
      elseif op == "rpush" then n = s == "nil" and value or s .. "," .. value
      else n = s:match("^[^,]*,(.*)$") or "nil" end
      out[n] = true
    end
    return out
  end
  local files = {}
  local p = io.popen("ls " .. dir)
  for file in p:lines() do files[#files + 1] = file end
  p:close()
  table.sort(files) -- each worker's incarnations in the order they ran
  for _, file in ipairs(files) do
    local pending
    for line in io.lines(dir .. "/" .. file) do
      if line == "!" then
        if pending then
          ops = ops + 1
          if pending[1] == "shared" then done_total = done_total + 1
          else possible[pending[2]] = apply(pending[1], pending[2], pending[3],
            possible[pending[2]] or { ["nil"] = true }) end
        end
        pending = nil
      else
        pending = { line:match("^%? (%S+) (%S+) (%S+)$") }
      end
    end
    if pending and pending[1] then -- killed in this one: it happened or not
      if pending[1] == "shared" then uncertain_total = uncertain_total + 1
      else
        local before = possible[pending[2]] or { ["nil"] = true }
        local after = apply(pending[1], pending[2], pending[3], before)
        for s in pairs(before) do after[s] = true end
        possible[pending[2]] = after
      end
    end
  end
  os.execute("rm -rf " .. dir)
  local wrong, keys = 0, 0
  for key, states in pairs(possible) do
    local got
    if key:match(":l$") then
      local items = {}
      repeat
        local v = d:lpop(key)
        items[#items + 1] = v
      until v == nil
      got = #items > 0 and table.concat(items, ",") or "nil"
    else
      local v = d:get(key)
      got = v == nil and "nil" or type(v) == "table" and v[1] or tostring(v)
    end
    if not states[got] then
      wrong = wrong + 1
      local allowed = {}
      for s in pairs(states) do allowed[#allowed + 1] = s:sub(1, 60) end
      io.stderr:write(("%s is %s, allowed: %s\n"):format(key, got:sub(1, 60),
        table.concat(allowed, " ")))
    end
    keys = keys + 1
    d:delete(key)
  end
  local total = d:get("total") or 0
  d:delete("total")
  fact("kills", count)
  fact("ops", ops)
  fact("keys", keys)
  fact("wrong", wrong)
  fact("total_ok", total >= done_total and total <= done_total + uncertain_total)
  fact("left", #d)
  fact("lost_bytes", d:capacity() - d:free_space())
  d:unlink()
  stop:unlink()
end

runs[what]()
nap:unlink()
print(table.concat(facts, " "))
