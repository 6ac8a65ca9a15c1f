-- The operations bench/driver.lua measures, in table order. Each runs as OP N [SIZE] in
-- every implementation (lua: bench/lua/bench.lua, python: bench/python/bench.py, c:
-- shmlua_cbench, floor: bench.lua's plain-table version), each timing itself and printing
-- "ns_per_op check"; `check` must equal expect(n, size) or the run fails.
-- floor: also run in plain Lua tables ("floor"); probe: also through C metamethods that do
-- nothing ("probe": the least a userdata's element access or method call costs; for the
-- queue, a bare ring behind the same calls). impls: another operation name per side (false:
-- the side has none); runners: which side's program runs a side (the C core's rows).
-- wall: the operation spans processes, so it is timed on the wall clock; the others are timed
-- in CPU time of the measuring process (less noisy while other work shares the cores).
-- targets: shmlua's time divided by the other side's must not exceed max.
local MiB = 1024 * 1024
local PATTERN, SAMPLE_STRIDE = 251, 4093

local function count(n) return n end
local function triangle(n) return n * (n + 1) // 2 end

-- Sum of k % 251 for k = 0 .. n-1 (the byte pattern's sum).
local function pattern_sum(n)
  local full, rest = n // PATTERN, n % PATTERN
  return full * (PATTERN * (PATTERN - 1) // 2) + rest * (rest - 1) // 2
end

-- The sampled checksum of a bulk transfer (bytes k % 251 at every 4093rd offset).
local function sample_sum(_, size)
  local sum = 0
  for k = 0, size - 1, SAMPLE_STRIDE do sum = sum + k % PATTERN end
  return sum
end


local faster_than_python = { vs = "python", max = 0.5 }
local five_x_python = { vs = "python", max = 0.2 }
local within_2x_floor = { vs = "floor", max = 2 }

-- An element-access row: a 10 MiB block of elements of width bytes, also looped over a
-- plain table and through the probe.
local function element(id, label, width, expect, probe_expect)
  return { id = id, label = label, n = 10 * MiB // width, smoke = 64 * 1024 // width,
    unit = "element", floor = true, probe = true, expect = expect, probe_expect = probe_expect,
    targets = { faster_than_python, within_2x_floor } }
end

-- A whole-array row: one call over 10M float64 in a shared block (unit: element), against
-- the plain C loop over the same memory and NumPy's call on an array in a
-- multiprocessing.shared_memory block (run with /usr/bin/python3: driver.lua's "numpy").
local within_1_5x_c = { vs = "c", max = 1.5 }
local numpy_or_faster = { vs = "python", max = 1 }
local function whole(id, label, expect, why, n)
  n = n or 10000000
  return { id = id, label = label, n = n, smoke = 4096, unit = "element", expect = expect,
    runners = { python = "numpy" }, targets = { numpy_or_faster, within_1_5x_c }, why = why }
end

-- The fork-per-call parallel sum (wall time: it forks) and, in the same run, the one-core sum
-- beside it, on 100M float64; NumPy sums on one core in both rows, C as c says.
local function parallel_sum(id, label, lua, c, why)
  local row = whole(id, label, triangle, why, 100000000)
  row.wall, row.impls = true, { lua = lua, python = "arr_sum", c = c }
  row.targets = nil -- issue 14's parallel figure is held by the warm pool's rows below
  return row
end

local ops = {
  { id = "create", label = "create+close+unlink 4 KiB", n = 2000, smoke = 20,
    expect = count, targets = { faster_than_python, { vs = "c", max = 1.3 } },
    why = "C: shm_open O_EXCL, fchmod, posix_fallocate, mmap, munmap, close, shm_unlink" },
  { id = "create_bare", label = "  vs bare syscalls", n = 2000, smoke = 20,
    impls = { lua = "create", python = "create" }, expect = count,
    why = "C: shm_open, ftruncate, mmap, munmap, close, shm_unlink (what Python does)" },
  { id = "create_lazy", label = "create+close+unlink 1 GiB, reserve = false", n = 200,
    smoke = 5, size = 1 << 30, expect = count,
    targets = { { vs = "python", max = 1 }, { vs = "c", max = 1.3 } },
    why = "nothing reserved, nothing touched but a hole; C: shm_open, fchmod, ftruncate, mmap, munmap, close, shm_unlink" },
  { id = "attach", label = "attach+close 4 KiB", n = 2000, smoke = 20,
    expect = count, targets = { faster_than_python, { vs = "c", max = 1.3 } } },
  element("byte_read", "buf[i] read-sum 10 MiB", 1, pattern_sum, triangle),
  element("byte_write", "buf[i] = v 10 MiB", 1, function(n) return n // 256 * 32640 end),
  element("i64_read", "int64 a[i] read-sum 10 MiB", 8, triangle),
  element("i64_write", "int64 a[i] = v 10 MiB", 8, triangle),
  element("f64_read", "float64 a[i] read-sum 10 MiB", 8, triangle),
  element("f64_write", "float64 a[i] = v 10 MiB", 8, triangle),
  whole("arr_sum", "a:sum() 10M float64", triangle, "NumPy: np.sum(a); C: s += a[k]"),
  whole("arr_sum_step2", "a:view(1, -1, 2):sum()", function(n) return (n // 2) * (n // 2) end,
    "NumPy: a[::2].sum(); C: s += a[k], k += 2 (per element summed)"),
  parallel_sum("arr_par_sum", "shm.parallel(2, a, sum) 100M", "arr_par_sum", "arr_sum",
    "2 forked workers, c:sum() on half each; NumPy: np.sum(a), C: s += a[k] (one core); "
      .. "no target: new processes pay for mapping every page of their chunk (performance.md)"),
  parallel_sum("arr_sum_100m", "  vs a:sum() 100M, one core", "arr_sum", "arr_sum_core",
    "the one-core time the parallel sum should halve (wall time, as the row above); C: "
      .. "the core's a:sum() kernel called from C on one thread, the one-thread side of the "
      .. "row below's C floor"),
  { id = "arr_pool_sum", label = "pool:parallel(a, sum) 100M, warm", n = 100000000,
    smoke = 4096, unit = "element", expect = triangle, wall = true, probe = true,
    probe_expect = triangle, runners = { python = "numpy" },
    impls = { python = "arr_sum", c = "arr_sum_2threads" },
    targets = { { vs = "c", max = 1.25, name = "C 2 threads" } },
    why = "shm.pool(2) started and the array sent once before the timed calls (the workers "
      .. "keep their halves mapped); C __index column: a:sum() on one core in the same "
      .. "process run (the probe side); NumPy: one-core sum; C: the core's sum kernel on two "
      .. "threads, a half each (the row above has it on one thread: the ratio is what two "
      .. "cores gain when one already keeps the memory busy)" },
  { id = "arr_pool_loop", label = "pool:parallel(a, Lua loop) 4M, warm", n = 4000000,
    smoke = 4096, unit = "element", expect = triangle, wall = true, probe = true,
    probe_expect = triangle, impls = { python = false, c = false },
    targets = { { vs = "probe", max = 0.6, name = "1-core" } },
    why = "work bound by the processor: fn sums its chunk with a Lua loop (c[i] per "
      .. "element); C __index column: the same loop over the whole array on one core" },
  whole("arr_dot", "a:dot(b) 10M float64", triangle, "NumPy: np.dot(a, b); C: s += a[k] * b[k]"),
  whole("arr_argmin", "a:min() (value, position)", function(n) return n // 3 + 1 end,
    "NumPy: np.argmin(a); C: one compare-and-keep loop"),
  whole("arr_add", "a:cadd(b) 10M float64", function(n) return triangle(n) + 5 * n end,
    "NumPy: a += b; C: a[k] += b[k]"),
  whole("arr_cumsum", "a:cumsum() 10M float64", triangle,
    "NumPy: np.cumsum(a, out=a); C: a[k] = s += a[k]"),
  whole("arr_sort", "a:sort() 10M float64", function(n) return n - 1 + n // 2 end,
    "NumPy: a.sort() (introsort); C: qsort with a comparison function"),
  { id = "bulk_write", label = "write 256 MiB string", n = 8, smoke = 1, size = 256 * MiB,
    smoke_size = MiB, unit = "copy", expect = sample_sum,
    targets = { { vs = "python", max = 1 }, { vs = "c", max = 1 / 0.9 } } },
  { id = "bulk_read", label = "read 256 MiB as string", n = 4, smoke = 1, size = 256 * MiB,
    smoke_size = MiB, unit = "copy", expect = sample_sum,
    targets = { { vs = "python", max = 1 }, { vs = "c", max = 1 / 0.9 } },
    why = "a fresh string: every page of it is faulted in (all three sides)" },
  { id = "bulk_copy", label = "copy block to block 256 MiB", n = 8, smoke = 1,
    size = 256 * MiB, smoke_size = MiB, unit = "copy", expect = sample_sum,
    targets = { { vs = "python", max = 1 }, { vs = "c", max = 1 / 0.9 } } },
  { id = "pingpong_sem", wall = true, label = "ping-pong, 2 semaphores", n = 20000,
    smoke = 200, unit = "round trip", expect = count, targets = { five_x_python },
    why = "C: futex wait/wake on one word, no spin; Python: 2 multiprocessing.Semaphore" },
  { id = "pingpong_spin", wall = true, label = "  vs C spinning the same way", n = 20000,
    smoke = 200, impls = { lua = "pingpong_sem", python = false },
    unit = "round trip", expect = count, targets = { { vs = "c", max = 2 } }, probe = true,
    why = "C: one word, 20 looks, then looks with sched_yield every 32 for up to 50 us, then "
      .. "futex with a sleeper count (what shmlua's waits do); C __index: the same Lua calls "
      .. "on one bare shared word (the interpreter's floor)" },
  { id = "pingpong_sem_matched", wall = true, label = "  the same, floors in the same processes",
    n = 20000, smoke = 200, impls = { python = false, c = false }, unit = "round trip",
    expect = count, targets = { { vs = "c", max = 2 } },
    why = "slices of the semaphore ping-pong, C's spinning one (behind one Lua call) and the "
      .. "bare word's Lua calls (C __index column) in turn between one pair of processes: "
      .. "the three in whatever placement the host gave that pair" },
  { id = "pingpong_event", wall = true, label = "ping-pong, 2 events", n = 20000, smoke = 200,
    impls = { python = "pingpong_sem", c = "pingpong_sem" }, unit = "round trip",
    expect = count, targets = { five_x_python } },
  { id = "pingpong_event_spin", wall = true, label = "  vs C spinning the same way",
    n = 20000, smoke = 200, impls = { lua = "pingpong_event", python = false, c = "pingpong_spin" },
    unit = "round trip", expect = count, targets = { { vs = "c", max = 2 } } },
  { id = "pingpong_event_matched", wall = true,
    label = "  the same, floors in the same processes", n = 20000, smoke = 200,
    impls = { python = false, c = false }, unit = "round trip", expect = count,
    targets = { { vs = "c", max = 2 } }, why = "as pingpong_sem_matched, with 2 events" },
  { id = "pingpong_crowd", wall = true, label = "ping-pong, 4 pairs on 2 cores", n = 5000,
    smoke = 50, unit = "round trip", expect = function(n) return 4 * n end, probe = true,
    env = { probe = "SHMLUA_SPIN_US=0" }, impls = { python = false, c = false },
    targets = { { vs = "probe", max = 1.5, name = "no-spin" } },
    why = "8 processes, 4 semaphore pairs, time per round trip of all pairs together; "
      .. "C __index column: the same with SHMLUA_SPIN_US=0 (no spin past 20 looks)" },
  { id = "atomic_add", wall = true, label = "atomic add, 2 processes", n = 1000000, smoke = 1000,
    expect = function(n) return 2 * n end, targets = { faster_than_python },
    why = "Python has no atomics: Value under its lock" },
  { id = "lock_unlock", label = "mutex lock+unlock", n = 1000000, smoke = 1000,
    probe = true, expect = count, targets = { faster_than_python },
    why = "C: robust process-shared pthread mutex; Python: multiprocessing.Lock" },
  { id = "queue", wall = true, label = "queue 64-byte messages", n = 200000, smoke = 500,
    unit = "message", expect = triangle, probe = true,
    targets = { faster_than_python, { vs = "c", max = 1 }, { vs = "probe", max = 1.1 } },
    why = "C: one write and one read of a pipe per message; C __index: a bare ring" },
  { id = "queue_view", wall = true, label = "  read in place (view)", n = 200000, smoke = 500,
    unit = "message", expect = triangle, impls = { python = false, c = "queue" },
    why = "q:view(), v:unpack of the sequence number, release (by <close>); C: the pipe" },
  { id = "queue_batch", wall = true, label = "  push_many/pop_many, 64 a call", n = 200000,
    smoke = 500, unit = "message", expect = triangle, impls = { python = false, c = "queue" },
    probe = true, targets = { { vs = "c", max = 0.5 }, { vs = "probe", max = 1.1 } },
    why = "each message still built with string.pack and read with string.unpack; C: the pipe; "
      .. "C __index: the bare ring's push_many/pop_many" },
  { id = "queue_batch_raw", wall = true, label = "  the same, messages not built in Lua",
    n = 200000, smoke = 500, unit = "message", expect = triangle, probe = true,
    impls = { python = false, c = "queue" },
    targets = { { vs = "c", max = 0.2 }, { vs = "probe", max = 1.1 } },
    why = "64 messages made once and pushed again and again, none parsed; C: the pipe; "
      .. "C __index: the bare ring's push_many/pop_many" },
  { id = "queue_core", wall = true, label = "  C at both ends", n = 200000, smoke = 500,
    unit = "message", expect = triangle, runners = { lua = "c" },
    impls = { python = false, c = "queue" }, targets = { { vs = "c", max = 0.25 } },
    why = "shmlua: its C core's queue, no Lua, one message per call; C: the same pipe" },
  { id = "queue_core_batch", wall = true, label = "  C at both ends, 64 a call", n = 200000,
    smoke = 500, unit = "message", expect = triangle, runners = { lua = "c" },
    impls = { python = false, c = "queue" }, targets = { { vs = "c", max = 0.25 } },
    why = "shmlua_queue_push_many / pop_many; C: the same pipe" },
  { id = "queue_ring", wall = true, label = "  C at both ends vs a bare C ring", n = 200000,
    smoke = 500, unit = "message", expect = triangle, runners = { lua = "c" },
    impls = { lua = "queue_core", python = false, c = "queue_ring" },
    targets = { { vs = "c", max = 5 } },
    why = "C: one producer, one consumer, 64-byte slots, no lock, spinning with sched_yield" },
  { id = "queue_big", wall = true, label = "queue 1 MiB messages", n = 2000, smoke = 3,
    size = MiB, smoke_size = 64 * 1024, unit = "message", expect = triangle,
    impls = { python = false, c = "big" }, targets = { { vs = "c", max = 1 / 0.8 } },
    probe = true,
    why = "C: memcpy into one of two shared slots, memcpy out (one copy in, one out); "
      .. "C __index: a bare ring of two slots, each message a new Lua string from its slot" },
  { id = "queue_big_view", wall = true, label = "  read in place (view)", n = 2000, smoke = 3,
    size = MiB, smoke_size = 64 * 1024, unit = "message", expect = triangle,
    impls = { python = false, c = "big" }, targets = { { vs = "c", max = 1 / 0.8 } },
    why = "q:view(): #v and v:unpack of 8 bytes in place, then released: no copy out" },
  { id = "queue_big_core", wall = true, label = "  C at both ends", n = 2000, smoke = 3,
    size = MiB, smoke_size = 64 * 1024, unit = "message", expect = triangle,
    runners = { lua = "c" }, impls = { lua = "queue_core", python = false, c = "big" },
    targets = { { vs = "c", max = 1 / 0.8 } } },
  { id = "dict_set", label = "dict set 16 B key, 32 B value", n = 100000, smoke = 200,
    expect = count, probe = true,
    targets = { { vs = "python", max = 0.01 }, { vs = "c", max = 3 } },
    why = "Python: Manager().dict(), on the wall clock (its server does the work); "
      .. "C: robust mutex, hash lookup, memcpy; C __index column: the Lua part alone "
      .. "(dict_set_lua below)" },
  { id = "dict_get", label = "dict get 16 B key, 32 B value", n = 100000, smoke = 200,
    expect = count, probe = true,
    targets = { { vs = "python", max = 0.01 }, { vs = "c", max = 3 } },
    why = "as for set" },
  { id = "dict_set_lua", label = "  set: the Lua part alone", n = 100000, smoke = 200,
    expect = count, impls = { lua = "probe_dict_set", python = false, c = "dict_set" },
    why = "the same loop on support.dictpart, an object whose set does what any set "
      .. "from Lua must: the method found through a metatable of its own whose __index "
      .. "is a methods table (as a shm object's), the object, key and value checked, "
      .. "true and forcible returned; no lock, no lookup, no copy. C: the C floor of set" },
  { id = "dict_get_lua", label = "  get: the Lua part alone", n = 100000, smoke = 200,
    expect = count, impls = { lua = "probe_dict_get", python = false, c = "dict_get" },
    why = "as above, and the result a fresh Lua string pushed from C memory holding the "
      .. "stored value's 32 bytes (Lua 5.4 hashes each byte of a short string to intern "
      .. "it). C: the C floor of get" },
  { id = "dict_set_2p", wall = true, label = "  set, 2 processes, own keys", n = 1000000,
    smoke = 200, expect = function(n) return 2 * n end, impls = { python = false, c = false },
    why = "ns per set of both together (half the row above: perfect scaling); 16 shards" },
  { id = "dict_set_2p_one_lock", wall = true, label = "  same, one lock (dict < 2 MiB)",
    n = 1000000, smoke = 200, expect = function(n) return 2 * n end,
    impls = { python = false, c = false }, why = "the same two processes on one shard" },
  { id = "dict_set_2p_cpu", label = "  CPU per set, 16 shards", n = 1000000, smoke = 200,
    expect = function(n) return 2 * n end, impls = { python = false, c = false },
    why = "the same two processes: CPU time of one of them per set of its own" },
  { id = "dict_set_2p_one_lock_cpu", label = "  CPU per set, one lock", n = 1000000,
    smoke = 200, expect = function(n) return 2 * n end, impls = { python = false, c = false },
    why = "as above on one shard: what sharing the lock adds" },
  { id = "queue_values", wall = true, label = "queue put/get small table", n = 200000,
    smoke = 500, unit = "message", expect = triangle, floor = true,
    impls = { c = false }, targets = { faster_than_python, within_2x_floor },
    why = "{seq, 'abc', 2.5, ok = true}; floor: push/pop of a string as long as its encoding; " ..
      "Python: the same dict through multiprocessing.Queue" },
  { id = "queue_values_batch", wall = true, label = "  put_many/get_many, 64 a call",
    n = 200000, smoke = 500, unit = "message", expect = triangle, floor = true,
    impls = { c = false, python = false }, targets = { within_2x_floor },
    why = "the same tables in batches; floor: push_many/pop_many of strings as long as " ..
      "their encoding, built and read with string.pack/unpack" },
  { id = "pool_map", wall = true, label = "pool:map 10,000 tiny tasks", n = 20, smoke = 2,
    size = 10000, smoke_size = 100, unit = "map", floor = true, impls = { c = false },
    expect = function(n, size) return n * size end,
    targets = { { vs = "python", max = 0.2 } },
    why = "2 workers started and 30 maps made before the clock (both sides), x * 2 + 1 over " ..
      "1..size; floor: the same loop in one process; Python: Pool(2).map" },
  { id = "spawn_fn", wall = true, label = "start+wait forked function", n = 300, smoke = 3,
    unit = "process", expect = function(n) return 7 * n end,
    targets = { faster_than_python, { vs = "c", max = 2 } },
    why = "C: fork, _exit, waitpid; Python: Process (fork) start+join" },
  { id = "spawn_script", wall = true, label = "start+wait script", n = 30, smoke = 2, unit = "process",
    expect = function(n) return 7 * n end, targets = { faster_than_python },
    why = "C: posix_spawn of the same interpreter; Python: Process (spawn) start+join" },
}

return ops
