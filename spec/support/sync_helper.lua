-- For the sync specs: separately started lua5.4 processes (not forks) that attach objects by
-- name, and a 64-bit counter in a plain block that only a lock keeps exact.
local H = require "helper"
local shm = require "shm"

local S = {}

local scripts = {}
local outputs = setmetatable({}, { __mode = "k" }) -- process handle -> its output file

-- Starts `lua5.4 -` on source with args, as a process handle of its own (shm.exec), its
-- output in a file. The pid is the interpreter's: `sh -c exec` keeps it.
function S.start(source, ...)
  local path, out = os.tmpname(), os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("local shm = require 'shm'\n", source)
  f:close()
  scripts[#scripts + 1] = path
  scripts[#scripts + 1] = out
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.quote(a) end
  local h = assert(shm.exec("sh", "-c", ("%sexec " .. H.lua_exe .. " %s %s >%s 2>&1"):format(H.env, path,
    table.concat(args, " "), out)))
  outputs[h] = out
  return h
end

-- What a process started by S.start printed.
function S.output(h)
  local f = assert(io.open(outputs[h]))
  local s = f:read("*a")
  f:close()
  return s
end

-- Objects a spec makes: track(o) asserts o and remembers it; cleanup() (for after_each)
-- unlinks and closes them all and removes the temporary files S.start made.
function S.tracker()
  local made = {}
  local function track(o)
    made[#made + 1] = assert(o)
    return o
  end
  local function cleanup()
    for _, o in ipairs(made) do
      o:unlink()
      o:close()
    end
    made = {}
    for _, path in ipairs(scripts) do os.remove(path) end
    scripts = {}
  end
  return track, cleanup
end

-- Lua source of a counter in a block's first 8 bytes (non-atomic read-modify-write).
S.COUNTER = [[
local function bump(block)
  local a = block:array("int64", 1, 1)
  a[1] = a[1] + 1
end
local function count(block) return block:array("int64", 1, 1)[1] end
]]
local counter = H.load(S.COUNTER .. "return bump, count")
S.bump, S.count = counter()

-- Waits (polling) until f() is true or seconds pass; returns f()'s last value.
function S.eventually(f, seconds)
  local deadline = os.time() + (seconds or 10)
  local v = f()
  while not v and os.time() <= deadline do
    os.execute("sleep 0.02")
    v = f()
  end
  return v
end

-- Waits until process h sleeps in a futex (the wait a spec is about to act on), so the
-- spec does not act before the process got there. Without /proc (macOS), a pause instead.
function S.asleep(h)
  local path = "/proc/" .. h.pid .. "/wchan"
  local probe = io.open(path)
  if not probe then
    os.execute("sleep 0.2")
    return true
  end
  probe:close()
  return S.eventually(function()
    local f = io.open(path)
    local wchan = f and f:read("*a") or ""
    if f then f:close() end
    return wchan:find("futex", 1, true) ~= nil
  end)
end

-- Three producers and three consumers of `per` numbered messages each through q: producers
-- 1 and 2 and consumers 1 and 2 use the batch methods (consumer c takes up to 7c at a
-- time), the third of each the single ones; every message must arrive once, each producer's
-- in order. make(p, n): producer p's n-th message; read(msg): p, n again. m: the names of
-- the methods, {push_many, pop_many, push, pop} (or put_many...).
function S.exact_batches(q, per, make, read, m)
  local assert = require "luassert"
  local P = 3
  local procs = {}
  for c = 1, 3 do
    procs[c] = shm.spawn(function()
      local count, sum, last, ordered, t = {}, {}, {}, true, {}
      for p = 1, P do count[p], sum[p], last[p] = 0, 0, 0 end
      local function seen(msg)
        local p, n = read(msg)
        count[p], sum[p] = count[p] + 1, sum[p] + n
        if n <= last[p] then ordered = false end
        last[p] = n
      end
      while true do
        if c == 3 then
          local msg, err = q[m[4]](q)
          if err then break end
          seen(msg)
        else
          local n = q[m[2]](q, t, 7 * c)
          if not n then break end
          for k = 1, n do seen(t[k]) end
        end
      end
      return count, sum, ordered
    end)
  end
  local producers = {}
  for p = 1, P do
    producers[p] = shm.spawn(function()
      local batch = {}
      for n = 1, per, 50 do
        for k = 0, 49 do batch[k + 1] = make(p, n + k) end
        if p == 3 then
          for k = 1, 50 do assert(q[m[3]](q, batch[k])) end
        else
          assert(q[m[1]](q, batch) == 50)
        end
      end
      return true
    end)
  end
  for p = 1, P do assert.same({ true, true }, { producers[p]:wait(120) }) end
  q:shutdown()
  local count, sum = { 0, 0, 0 }, { 0, 0, 0 }
  for c = 1, 3 do
    local r = { procs[c]:wait(120) }
    assert.is_true(r[1], tostring(r[3]))
    assert.is_true(r[4], "a consumer saw a producer's messages out of order")
    for p = 1, P do count[p], sum[p] = count[p] + r[2][p], sum[p] + r[3][p] end
  end
  for p = 1, P do
    assert.equal(per, count[p])
    assert.equal(per * (per + 1) / 2, sum[p])
  end
end

-- Rounds of two batch producers and two batch consumers on q, killed with SIGKILL mid-stream
-- (for push_many/pop_many and put_many/get_many): after each round what is left must be
-- whole, each producer's messages in order. make(p, n): producer p's n-th message;
-- read(msg): p, n again, asserting the message whole; push_many, pop_many: the queue's
-- batch methods to use.
function S.killed_midstream(q, rounds, make, read, push_many, pop_many)
  local assert = require "luassert"
  local last = { 0, 0 }
  for round = 1, rounds do
    local victims = {}
    for p = 1, 2 do
      victims[#victims + 1] = shm.spawn(function()
        local n, batch = last[p], {}
        while true do
          for k = 1, 10 do
            n = n + 1
            batch[k] = make(p, n)
          end
          local done = 0
          while done < 10 do done = done + push_many(q, batch, done + 1) end
        end
      end)
    end
    for _ = 1, 2 do
      victims[#victims + 1] = shm.spawn(function()
        local t = {}
        while true do pop_many(q, t, 16) end
      end)
    end
    os.execute("sleep " .. 0.05 * round)
    for _, v in ipairs(victims) do v:kill("KILL") end
    for _, v in ipairs(victims) do assert.same({ nil, "signal", 9 }, { v:wait(10) }) end
    -- Drained until empty, not for q.count messages: a consumer killed after it moved the
    -- head but before it counted leaves the count too high until the next pop takes the
    -- lock and settles it (queue.c, settle); what the count said then is gone already.
    local t = {}
    while true do
      local n, why = pop_many(q, t, 64, 0)
      if not n then
        assert.equal("timeout", why)
        break
      end
      for k = 1, n do
        local p, m = read(t[k])
        assert.is_true(m > last[p])
        last[p] = m
      end
    end
    assert.equal(0, q.count)
  end
end

return S
