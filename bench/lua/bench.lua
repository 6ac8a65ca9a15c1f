-- shmlua side of bench/, and the Lua floor (plain tables in the same interpreter).
-- Usage: lua5.4 bench/lua/bench.lua OP N [SIZE [ARG...]]; prints "ns_per_op check" as the
-- Python and C sides do (bench/driver.lua checks it).
local shm = require "shm"
local support = require "benchsupport"
-- SHMLUA_BENCH_CLOCK=cpu: this process's CPU time (single-process loops); else wall time.
local now = os.getenv("SHMLUA_BENCH_CLOCK") == "cpu" and support.cpu or support.now

local SMALL, PATTERN, SAMPLE_STRIDE = 4096, 251, 4093

-- Seconds to nanoseconds per operation.
local function per(seconds, n) return seconds * 1e9 / n end

local ops = {}

-- create + close + unlink of a block of size bytes, n times.
local function create_loop(n, size, opts)
  local check = 0
  local t0 = now()
  for _ = 1, n do
    local m = assert(shm.create(size, nil, opts))
    if m.buf[1] == 0 then check = check + 1 end
    m:close()
    assert(m:unlink())
  end
  return per(now() - t0, n), check
end

function ops.create(n) return create_loop(n, SMALL) end

-- reserve = false: the pages of a big block are neither reserved nor touched (one read of a
-- hole maps the shared zero page).
function ops.create_lazy(n, size) return create_loop(n, size, { reserve = false }) end

function ops.attach(n)
  local owner <close> = assert(shm.create(SMALL))
  owner.buf[1] = 1
  local name, check = owner.name, 0
  local t0 = now()
  for _ = 1, n do
    local m = assert(shm.attach(name))
    check = check + m.buf[1]
    m:close()
  end
  local spent = now() - t0
  owner:unlink()
  return per(spent, n), check
end

-- size bytes laid out as byte k (0-based) = k % 251.
local function pattern(size)
  local base = {}
  for k = 0, PATTERN - 1 do base[#base + 1] = string.char(k) end
  return (table.concat(base):rep(size // PATTERN + 1)):sub(1, size)
end

-- Sum of the bytes at 0-based offsets 0, 4093, 8186, ... of anything indexable by get.
local function sample(get, size)
  local sum = 0
  for k = 1, size, SAMPLE_STRIDE do sum = sum + get(k) end
  return sum
end

local function block(size)
  local m = assert(shm.create(size))
  m.buf:fill(0) -- map the pages into this process, as the other sides do
  return m
end

local function drop(m)
  m:close()
  m:unlink()
end

local function sum_buf(b, n)
  local s = 0
  for i = 1, n do s = s + b[i] end
  return s
end

function ops.byte_read(n)
  local m = block(n)
  local b = m.buf
  b:write(1, pattern(n))
  local t0 = now()
  local s = sum_buf(b, n)
  local spent = now() - t0
  drop(m)
  return per(spent, n), s
end

function ops.byte_write(n)
  local m = block(n)
  local b = m.buf
  local t0 = now()
  for i = 1, n do b[i] = i & 255 end
  local spent = now() - t0
  local check = sum_buf(b, n)
  drop(m)
  return per(spent, n), check
end

local function typed(n, dtype)
  local m = block(n * 8)
  return m, m:array(dtype)
end

local function typed_read(n, dtype)
  local m, a = typed(n, dtype)
  for i = 1, n do a[i] = i end
  local t0 = now()
  local s = sum_buf(a, n)
  local spent = now() - t0
  drop(m)
  return per(spent, n), math.tointeger(s) or s
end

local function typed_write(n, dtype)
  local m, a = typed(n, dtype)
  local t0 = now()
  for i = 1, n do a[i] = i end
  local spent = now() - t0
  local s = sum_buf(a, n)
  drop(m)
  return per(spent, n), math.tointeger(s) or s
end

function ops.i64_read(n) return typed_read(n, "int64") end
function ops.i64_write(n) return typed_write(n, "int64") end
function ops.f64_read(n) return typed_read(n, "float64") end
function ops.f64_write(n) return typed_write(n, "float64") end

-- The whole-array rows: one method call over n float64 (bench/ops.lua says the data and
-- the checks; the C and NumPy sides do the same).
local REPS = 5

local function floats(n)
  local m = block(n * 8)
  return m, m:array("float64")
end

-- Times reps calls of fn; per element of n.
local function timed(n, reps, fn)
  local t0 = now()
  local out
  for _ = 1, reps do out = fn() end
  return per(now() - t0, n * reps), out
end

local function finish(m, ns, check)
  drop(m)
  return ns, math.tointeger(check) or check
end

function ops.arr_sum(n)
  local m, a = floats(n)
  a:arange(1)
  return finish(m, timed(n, REPS, function() return a:sum() end))
end

-- Two forked workers, each summing a half (wall time: the driver's row says so).
function ops.arr_par_sum(n)
  local m, a = floats(n)
  a:arange(1)
  return finish(m, timed(n, REPS, function()
    local sums = shm.parallel(2, a, function(chunk) return chunk:sum() end)
    return sums[1] + sums[2]
  end))
end

-- A pool of 2 started, and the array sent to it once, before the timed calls: a user
-- calling pool:parallel again and again on one array (each worker keeps its half mapped).
local function pool_parallel(n, fn)
  local m, a = floats(n)
  a:arange(1)
  local pool = shm.pool(2)
  pool:parallel(a, fn)
  local ns, check = timed(n, REPS, function()
    local sums = pool:parallel(a, fn)
    return sums[1] + sums[2]
  end)
  pool:close()
  return finish(m, ns, check)
end

function ops.arr_pool_sum(n)
  return pool_parallel(n, function(chunk) return chunk:sum() end)
end

-- Its probe side: the one-core a:sum() it should beat, timed as that row is (wall time).
ops.probe_arr_pool_sum = ops.arr_sum

-- Work bound by the processor rather than the memory: a Lua loop over the elements.
local function loop_sum(chunk)
  local s = 0
  for i = 1, #chunk do s = s + chunk[i] end
  return s
end

function ops.arr_pool_loop(n)
  return pool_parallel(n, loop_sum)
end

function ops.probe_arr_pool_loop(n)
  local m, a = floats(n)
  a:arange(1)
  return finish(m, timed(n, REPS, function() return loop_sum(a) end))
end

function ops.arr_sum_step2(n)
  local m, a = floats(n)
  a:arange(1)
  return finish(m, timed(n // 2, REPS, function() return a:view(1, -1, 2):sum() end))
end

-- The two-array rows: a = 1, 2, ..., n and b all ones, each in a block of its own; times
-- fn(a, b) and checks what check(a, fn's result) gives.
local function two_arrays(n, fn, check)
  local m, a = floats(n)
  local m2, b = floats(n)
  a:arange(1)
  b:fill(1)
  local ns, out = timed(n, REPS, function() return fn(a, b) end)
  drop(m2)
  return finish(m, ns, check(a, out))
end

function ops.arr_dot(n)
  return two_arrays(n, function(a, b) return a:dot(b) end, function(_, dot) return dot end)
end

function ops.arr_argmin(n)
  local m, a = floats(n)
  a:arange(-(n // 3)):abs()
  return finish(m, timed(n, REPS, function() return select(2, a:min()) end))
end

function ops.arr_add(n)
  return two_arrays(n, function(a, b) a:cadd(b) end, function(a) return a:sum() end)
end

function ops.arr_cumsum(n)
  local m, a = floats(n)
  local spent = 0
  for _ = 1, REPS do
    a:fill(1)
    local t0 = now()
    a:cumsum()
    spent = spent + (now() - t0)
  end
  return finish(m, per(spent, n * REPS), a:sum())
end

function ops.arr_sort(n)
  local m, a = floats(n)
  a:arange(0, 7919)
  for i = 1, n do a[i] = a[i] % n end -- k * 7919 mod n, untimed
  local ns = timed(n, 1, function() a:sort() end)
  return finish(m, ns, a[n] + a[n // 2 + 1])
end

-- The Lua floor: the same loops over a plain table.
local function table_of(n, value)
  local t = {}
  for i = 1, n do t[i] = value(i) end
  return t
end

function ops.floor_byte_read(n)
  local t = table_of(n, function(i) return (i - 1) % PATTERN end)
  local t0 = now()
  local s = sum_buf(t, n)
  return per(now() - t0, n), s
end

function ops.floor_byte_write(n)
  local t = table_of(n, function() return 0 end)
  local t0 = now()
  for i = 1, n do t[i] = i & 255 end
  local spent = now() - t0
  return per(spent, n), sum_buf(t, n)
end

local function floor_read(n, one)
  local t = table_of(n, function(i) return i * one end)
  local t0 = now()
  local s = sum_buf(t, n)
  return per(now() - t0, n), math.tointeger(s)
end

local function floor_write(n, one)
  local t = table_of(n, function() return 0 * one end)
  local t0 = now()
  for i = 1, n do t[i] = i * one end
  local spent = now() - t0
  return per(spent, n), math.tointeger(sum_buf(t, n))
end

function ops.floor_i64_read(n) return floor_read(n, 1) end
function ops.floor_i64_write(n) return floor_write(n, 1) end
function ops.floor_f64_read(n) return floor_read(n, 1.0) end
-- Floats computed in the loop, as the float64 array converts each integer it stores.
function ops.floor_f64_write(n) return floor_write(n, 1.0) end

-- The floor of any C metamethod (bench/c/support.c's probe), in the same loops.
function ops.probe_byte_read(n) -- the probe returns the key: the check is 1 + ... + n
  local t0 = now()
  local s = sum_buf(support.probe(), n)
  return per(now() - t0, n), s
end

function ops.probe_byte_write(n)
  local p = support.probe()
  local t0 = now()
  for i = 1, n do p[i] = i & 255 end
  return per(now() - t0, n), support.probesum(p)
end

local function probe_write(n)
  local p = support.probe()
  local t0 = now()
  for i = 1, n do p[i] = i end
  return per(now() - t0, n), support.probesum(p)
end

ops.probe_i64_read, ops.probe_f64_read = ops.probe_byte_read, ops.probe_byte_read
ops.probe_i64_write, ops.probe_f64_write = probe_write, probe_write

function ops.bulk_write(n, size)
  local src, m = pattern(size), block(size)
  local b = m.buf
  local t0 = now()
  for _ = 1, n do b:write(1, src) end
  local spent = now() - t0
  local check = sample(function(k) return b[k] end, size)
  drop(m)
  return per(spent, n), check
end

function ops.bulk_read(n, size)
  local m = block(size)
  local b, spent, check = m.buf, 0, nil
  b:write(1, pattern(size))
  for _ = 1, n do
    collectgarbage() -- free the previous copy first, as Python and C do
    local t0 = now()
    local copy = b:sub(1, size)
    spent = spent + (now() - t0)
    check = sample(function(k) return copy:byte(k) end, size)
  end
  drop(m)
  return per(spent, n), check
end

-- Block to block without a Lua string in between: byte arrays' copy is a memmove.
function ops.bulk_copy(n, size)
  local src, dst = block(size), block(size)
  src.buf:write(1, pattern(size))
  local from, to = src:array("uint8"), dst:array("uint8")
  local t0 = now()
  for _ = 1, n do to:copy(from) end
  local spent = now() - t0
  local check = sample(function(k) return dst.buf[k] end, size)
  drop(src)
  drop(dst)
  return per(spent, n), check
end

-- Ping-pong: the parent gives the turn, the child gives it back; one round trip per operation.
-- The child returns how many rounds it saw (round 0 waits for it to be running).
local function pingpong(n, give, take, child_give, child_take)
  local child = assert(shm.spawn(function()
    local seen = 0
    for _ = 0, n do
      child_take()
      seen = seen + 1
      child_give()
    end
    return seen
  end))
  give()
  take()
  local t0 = now()
  for _ = 1, n do
    give()
    take()
  end
  local spent = now() - t0
  local ok, seen = child:wait()
  assert(ok, seen)
  return per(spent, n), seen - 1
end

-- A ping-pong row over two semaphores, or two events, given to run (pingpong, or
-- pingpong_matched below) as its sides. With events, each side clears the event it waited
-- for before it sets the other's.
local function semaphores(run)
  return function(n)
    local ping <close> = assert(shm.semaphore(0))
    local pong <close> = assert(shm.semaphore(0))
    return run(n, function() ping:release() end, function() pong:acquire() end,
      function() pong:release() end, function() ping:acquire() end)
  end
end

local function events(run)
  return function(n)
    local go <close> = assert(shm.event())
    local done <close> = assert(shm.event())
    return run(n, function() go:set() end, function() done:wait() done:clear() end,
      function() done:set() end, function() go:wait() go:clear() end)
  end
end

ops.pingpong_sem = semaphores(pingpong)
ops.pingpong_event = events(pingpong)

-- The same round trips over one bare shared word (bench/c/support.c) behind the same Lua
-- calls: what the interpreter's side of a ping-pong costs with no semaphore behind it.
function ops.probe_pingpong_spin(n)
  local w = support.word()
  return pingpong(n, function() w:set(1) end, function() w:await(0) end,
    function() w:set(0) end, function() w:await(1) end)
end

-- A ping-pong (give, take: the parent's side; child_give, child_take: the child's), its Lua
-- floor (probe_pingpong_spin's calls on a bare word) and the C floor (the C row's loop,
-- behind one call: w:handoff) between the same two processes, in slices taken in turn: the
-- three share whatever placement the host gives the pair, and whatever it changes during
-- the run, which separate pairs of processes do not. One untimed round trip of each first.
-- The floors' times are returned as paired.
local MATCHED_SLICES = 10
local function pingpong_matched(n, give, take, child_give, child_take)
  local w = support.word()
  local function turns(first, second)
    return function(k) for _ = 1, k do first() second() end end
  end
  local mine = {
    c = function(k) w:handoff(k, true) end,
    probe = turns(function() w:set(1) end, function() w:await(0) end),
    lua = turns(give, take),
  }
  local theirs = {
    c = function(k) w:handoff(k, false) end,
    probe = turns(function() w:await(1) end, function() w:set(0) end),
    lua = turns(child_take, child_give),
  }
  local order, m = { "c", "probe", "lua" }, n // MATCHED_SLICES
  local child = assert(shm.spawn(function()
    for slice = 0, MATCHED_SLICES do
      for _, kind in ipairs(order) do theirs[kind](slice == 0 and 1 or m) end
    end
    return m * MATCHED_SLICES
  end))
  local spent = { c = 0, probe = 0, lua = 0 }
  for slice = 0, MATCHED_SLICES do
    for _, kind in ipairs(order) do
      local t0 = now()
      mine[kind](slice == 0 and 1 or m)
      if slice > 0 then spent[kind] = spent[kind] + now() - t0 end
    end
  end
  local ok, rounds = child:wait()
  assert(ok, rounds)
  return per(spent.lua, rounds), rounds,
    { c = per(spent.c, rounds), probe = per(spent.probe, rounds) }
end

ops.pingpong_sem_matched = semaphores(pingpong_matched)
ops.pingpong_event_matched = events(pingpong_matched)

-- 4 semaphore ping-pong pairs at once (8 processes on the machine's cores): time per round
-- trip of all pairs together; the check counts every pair's rounds. The parent only starts
-- them (all at once, behind a gate) and waits.
function ops.pingpong_crowd(n)
  local gate <close> = assert(shm.semaphore(0))
  local pairs_, procs = 4, {}
  for _ = 1, pairs_ do
    local ping <close> = assert(shm.semaphore(0))
    local pong <close> = assert(shm.semaphore(0))
    procs[#procs + 1] = assert(shm.spawn(function()
      gate:acquire()
      for _ = 1, n do ping:release() pong:acquire() end
      return n
    end))
    procs[#procs + 1] = assert(shm.spawn(function()
      for _ = 1, n do ping:acquire() pong:release() end
      return 0
    end))
  end
  local t0 = now()
  gate:release(pairs_)
  local check = 0
  for _, proc in ipairs(procs) do
    local ok, v = proc:wait()
    assert(ok, v)
    check = check + v
  end
  return per(now() - t0, pairs_ * n), check
end
ops.probe_pingpong_crowd = ops.pingpong_crowd -- run with SHMLUA_SPIN_US=0 (ops.lua's env)

-- Two processes add 1 n times each to one int64; element 2 is the starting gun.
function ops.atomic_add(n)
  local m = block(64)
  local a = m:array("int64")
  local child = assert(shm.spawn(function()
    while a:load(2) == 0 do a:wait(2, 0) end
    for _ = 1, n do a:add(1, 1) end
  end))
  local t0 = now()
  a:store(2, 1)
  a:notify(2)
  for _ = 1, n do a:add(1, 1) end
  assert(child:wait())
  local spent = now() - t0
  local check = a:load(1)
  drop(m)
  return per(spent, 2 * n), check
end

local function lock_loop(n, mutex)
  local check = 0
  local t0 = now()
  for _ = 1, n do
    mutex:lock()
    check = check + 1
    mutex:unlock()
  end
  return per(now() - t0, n), check
end

function ops.lock_unlock(n)
  local mutex <close> = assert(shm.mutex())
  return lock_loop(n, mutex)
end

-- The same calls on methods that do nothing: the floor of a method call on a userdata.
function ops.probe_lock_unlock(n) return lock_loop(n, support.probe()) end

-- A child sends messages 0..n into q (send(q, i)); the parent takes them (receive(q) gives
-- a message's sequence number); timed from message 0 to message n; the check sums the
-- sequence numbers.
local function stream(n, q, send, receive)
  local child = assert(shm.spawn(function()
    for i = 0, n do assert(send(q, i)) end
  end))
  local check, t0 = 0, nil
  for i = 0, n do
    local seq = receive(q)
    if i == 0 then t0 = now() end
    check = check + seq
  end
  local spent = now() - t0
  assert(child:wait())
  return per(spent, n), check
end

-- Strings of length bytes (64 by default), the sequence number first.
local function strings(length)
  local pad = ("x"):rep((length or 64) - 8)
  return function(q, i) return q:push(string.pack("<i8", i) .. pad) end
end

local function sequence(q) return (string.unpack("<i8", assert(q:pop()))) end

function ops.queue(n)
  local q <close> = assert(shm.queue({ messages = 1024, bytes = 1024 * 64 }))
  return stream(n, q, strings(), sequence)
end

-- The same two processes over a bare ring (bench/c/support.c): the Lua side's own cost.
function ops.probe_queue(n) return stream(n, support.ring(), strings(), sequence) end

-- The queue row's stream, each message read in place (q:view) instead of popped.
function ops.queue_view(n)
  local q <close> = assert(shm.queue({ messages = 1024, bytes = 1024 * 64 }))
  return stream(n, q, strings(), function(qq)
    local v <close> = assert(qq:view())
    return (v:unpack("<i8"))
  end)
end

local BATCH = 64

-- The stream in batches of up to BATCH messages through q: push_many of a table the child
-- fills (next gives message i, or reuses what the table holds when it gives nil), pop_many
-- into one reused table; read(msg, i) gives message i's sequence number. values: put_many
-- and get_many instead.
local function stream_batch(n, q, next_message, read, values)
  local push_many, pop_many = q.push_many, q.pop_many
  if values then push_many, pop_many = q.put_many, q.get_many end
  local child = assert(shm.spawn(function()
    local batch, i = {}, 0
    while i <= n do
      local k = math.min(BATCH, n - i + 1)
      for j = 1, k do batch[j] = next_message(i + j - 1, batch[j]) end
      local done = 0
      while done < k do done = done + assert(push_many(q, batch, done + 1, k)) end
      i = i + k
    end
  end))
  local got, check, seen, t0 = {}, 0, 0, nil
  while seen <= n do
    local k = assert(pop_many(q, got, BATCH))
    if not t0 then t0 = now() end
    for j = 1, k do check = check + read(got[j], seen + j - 1) end
    seen = seen + k
  end
  local spent = now() - t0
  assert(child:wait())
  return per(spent, n + 1), check
end

local function small_queue() return assert(shm.queue({ messages = 1024, bytes = 1024 * 64 })) end

-- Each message built with string.pack and read with string.unpack.
local function batch_packed(n, q)
  local pad = ("x"):rep(56)
  return stream_batch(n, q, function(i) return string.pack("<i8", i) .. pad end,
    function(msg) return (string.unpack("<i8", msg)) end)
end

-- Messages made once (any 64 bytes), counted by their place in the stream.
local function batch_raw(n, q)
  local made = ("x"):rep(64)
  return stream_batch(n, q, function(_, old) return old or made end,
    function(_, i) return i end)
end

function ops.queue_batch(n)
  local q <close> = small_queue()
  return batch_packed(n, q)
end

function ops.queue_batch_raw(n)
  local q <close> = small_queue()
  return batch_raw(n, q)
end

-- The same two streams over the bare ring's push_many/pop_many: the Lua side's own cost.
function ops.probe_queue_batch(n) return batch_packed(n, support.ring()) end
function ops.probe_queue_batch_raw(n) return batch_raw(n, support.ring()) end

-- Big messages: the child pushes one string of size bytes into q again and again; the parent
-- pops them (take: the pop, returning the message's length); the check adds each message's
-- place in the stream when its length is right.
local function stream_big(n, size, q, take)
  local msg = ("x"):rep(size)
  local child = assert(shm.spawn(function()
    for _ = 0, n do assert(q:push(msg)) end
  end))
  local check, t0 = 0, nil
  for i = 0, n do
    local len = take(q)
    if i == 0 then t0 = now() end
    if len == size then check = check + i end
  end
  local spent = now() - t0
  assert(child:wait())
  return per(spent, n), check
end

local function big_queue(size) return assert(shm.queue({ messages = 16, bytes = 4 * size })) end
local function pop_length(q) return #q:pop() end

function ops.queue_big(n, size)
  local q <close> = big_queue(size)
  return stream_big(n, size, q, pop_length)
end

-- The same over a bare ring of two slots (as the C floor's two): one copy in, and each
-- message a new Lua string made straight from its slot, one copy out.
function ops.probe_queue_big(n, size)
  return stream_big(n, size, support.ring(2, size), pop_length)
end

-- Read in place through a view: its length and a header's worth of bytes, no copy out.
function ops.queue_big_view(n, size)
  local q <close> = big_queue(size)
  return stream_big(n, size, q, function(queue)
    local v <close> = assert(queue:view())
    assert(v:unpack("c8") == "xxxxxxxx")
    return #v
  end)
end

-- The dict rows: 1024 keys of 16 bytes ("key" and 13 digits), values of 32 bytes.
local DICT_KEYS = 1024
local function dict_keys(prefix)
  local keys = {}
  for i = 0, DICT_KEYS - 1 do keys[i + 1] = ("%s%013d"):format(prefix or "key", i) end
  return keys
end

local function dict_sets(d, keys, n)
  local value, check = ("v"):rep(32), 0
  for i = 1, n do
    if d:set(keys[i % DICT_KEYS + 1], value) then check = check + 1 end
  end
  return check
end

function ops.dict_set(n)
  local d <close> = assert(shm.dict { bytes = 4 << 20 })
  local keys = dict_keys()
  local t0 = now()
  local check = dict_sets(d, keys, n)
  local spent = now() - t0
  d:unlink()
  return per(spent, n), check
end

-- n gets of the cycled keys; the check counts the values found.
local function dict_gets(d, keys, n)
  local check = 0
  for i = 1, n do
    if d:get(keys[i % DICT_KEYS + 1]) then check = check + 1 end
  end
  return check
end

function ops.dict_get(n)
  local d <close> = assert(shm.dict { bytes = 4 << 20 })
  local keys = dict_keys()
  dict_sets(d, keys, DICT_KEYS)
  local t0 = now()
  local check = dict_gets(d, keys, n)
  local spent = now() - t0
  d:unlink()
  return per(spent, n), check
end

-- The same loops on support.dictpart: the method call, the checks of the object and the
-- arguments, and for get a 32-byte string pushed from C; no lock, no lookup, no copy under a
-- lock. What a get or set from Lua 5.4 costs whatever the dict does.
local function dict_part(n, loop)
  local p, keys = support.dictpart(("v"):rep(32)), dict_keys()
  local t0 = now()
  local check = loop(p, keys, n)
  return per(now() - t0, n), check
end

function ops.probe_dict_set(n) return dict_part(n, dict_sets) end
function ops.probe_dict_get(n) return dict_part(n, dict_gets) end

-- Two processes setting n keys each, each on keys of its own, timed together: with bytes
-- >= 2 MiB the dict has shards with locks of their own; below, one lock for all. On the
-- wall clock, ns per set of both; in CPU time, the CPU this process spent per set of its
-- own (what contention adds, even when the two seldom run at once on a busy machine).
local function dict_pair(n, bytes)
  local d <close> = assert(shm.dict { bytes = bytes })
  local go = assert(shm.event())
  local function worker(prefix)
    local dh = assert(shm.dict.attach(d.name))
    assert(go:wait(10))
    return dict_sets(dh, dict_keys(prefix), n)
  end
  local child = assert(shm.spawn(worker, "kez"))
  local t0 = now()
  go:set()
  local check = worker("key")
  local _, other = assert(child:wait())
  local spent = now() - t0
  d:unlink()
  go:unlink()
  return per(spent, now == support.cpu and n or 2 * n), check + other
end

function ops.dict_set_2p(n) return dict_pair(n, 16 << 20) end
function ops.dict_set_2p_one_lock(n) return dict_pair(n, 1 << 20) end
ops.dict_set_2p_cpu, ops.dict_set_2p_one_lock_cpu = ops.dict_set_2p, ops.dict_set_2p_one_lock

-- A child puts tables {seq, "abc", 2.5, ok = true} for seq = 0..n; the parent gets them.
function ops.queue_values(n)
  local q <close> = assert(shm.queue({ messages = 1024, bytes = 1024 * 64 }))
  return stream(n, q, function(qq, i) return qq:put({ i, "abc", 2.5, ok = true }) end,
    function(qq) return assert(qq:get())[1] end)
end

-- The floor of queue_values: push/pop of a string as long as the table's encoding.
function ops.floor_queue_values(n)
  local q <close> = assert(shm.queue({ messages = 1024, bytes = 1024 * 64 }))
  assert(q:put({ 0, "abc", 2.5, ok = true }))
  return stream(n, q, strings(#q:pop()), sequence)
end

-- queue_values in batches: put_many of the tables, get_many into one reused table.
function ops.queue_values_batch(n)
  local q <close> = small_queue()
  return stream_batch(n, q, function(i) return { i, "abc", 2.5, ok = true } end,
    function(t) return t[1] end, true)
end

-- Its floor: push_many/pop_many of strings as long as the tables' encoding, built and read
-- with string.pack/unpack as queue_batch's.
function ops.floor_queue_values_batch(n)
  local pad
  do
    local q <close> = assert(shm.queue({ messages = 4, bytes = 1024 }))
    assert(q:put({ 0, "abc", 2.5, ok = true }))
    pad = ("x"):rep(#q:pop() - 8)
  end
  local q <close> = small_queue()
  return stream_batch(n, q, function(i) return string.pack("<i8", i) .. pad end,
    function(msg) return (string.unpack("<i8", msg)) end)
end

-- Maps made before the clock, on both sides: a pool's processes grow their heaps during their
-- first maps (the parent faults 20-60 pages a map for about 25 maps of 10,000, then none), a
-- cost of the start like the pool's own start, which is not timed either.
local POOL_WARM_MAPS = 30

-- n maps of x * 2 + 1 over 1..size on a pool of 2 workers started (and warmed) before the
-- clock.
function ops.pool_map(n, size)
  local p <close> = shm.pool(2)
  local inputs, check = {}, 0
  for i = 1, size do inputs[i] = i end
  local function f(x) return x * 2 + 1 end
  for _ = 1, POOL_WARM_MAPS do p:map(f, inputs) end -- the function reaches the workers too
  local t0 = now()
  for _ = 1, n do
    local r = p:map(f, inputs)
    check = check + r[size] - 1 - size
  end
  return per(now() - t0, n), check
end

function ops.floor_pool_map(n, size)
  local inputs, check = {}, 0
  for i = 1, size do inputs[i] = i end
  local function f(x) return x * 2 + 1 end
  local function map()
    local r = {}
    for i = 1, size do r[i] = f(inputs[i]) end
    return r
  end
  for _ = 1, POOL_WARM_MAPS do map() end
  local t0 = now()
  for _ = 1, n do check = check + map()[size] - 1 - size end
  return per(now() - t0, n), check
end

-- Start + wait of a forked function that returns 7 (through its result slot).
function ops.spawn_fn(n)
  local check = 0
  local t0 = now()
  for _ = 1, n do
    local ok, v = shm.spawn(function() return 7 end):wait()
    check = check + (ok and v or 0)
  end
  return per(now() - t0, n), check
end

-- Start + wait of a script (args[1], which exits with 7) in a fresh shmlua.
function ops.spawn_script(n, _, args)
  local check = 0
  local t0 = now()
  for _ = 1, n do
    local _, how, code = assert(shm.run(args[1])):wait()
    check = check + (how == "exit" and code or 0)
  end
  return per(now() - t0, n), check
end

-- Operation 9: resident memory stage by stage ("stage NAME VmRSS RssShmem object", KiB).
local function status_kb(field)
  for line in io.lines("/proc/self/status") do
    local v = line:match("^" .. field .. ":%s*(%d+)")
    if v then return tonumber(v) end
  end
  return -1
end

local function object_kb(name)
  local p = assert(io.popen("stat -c %b /dev/shm/" .. name))
  local blocks = tonumber(p:read("l"))
  p:close()
  return blocks // 2
end

function ops.memory(_, size)
  local function stage(what, name)
    print("stage", what, status_kb("VmRSS"), status_kb("RssShmem"), name and object_kb(name) or "-")
  end
  stage("start")
  local m = assert(shm.create(size))
  local name = m.name
  stage("create", name)
  local other = assert(shm.attach(name))
  stage("attach", name)
  local b, ob, check = m.buf, other.buf, 0
  for k = 1, size, 4096 do b[k] = 1 end
  stage("touch", name)
  for k = 1, size, 4096 do check = check + ob[k] end
  stage("read", name)
  other:close()
  m:close()
  m:unlink()
  stage("close") -- unlinked and unmapped: the object and its pages are gone
  return 0, check
end

local op = ops[arg[1]]
if not op then
  io.stderr:write("usage: bench.lua OP N [SIZE [ARG...]] (unknown or missing OP)\n")
  os.exit(2)
end
local ns, check, paired = op(tonumber(arg[2]), tonumber(arg[3] or 0),
  table.move(arg, 4, #arg, 1, {}))
-- times measured with this one in the same processes (ops.lua's paired rows)
for side, paired_ns in pairs(paired or {}) do print(("paired %s %.3f"):format(side, paired_ns)) end
print(("%.3f %s"):format(ns, math.tointeger(check) or check))
