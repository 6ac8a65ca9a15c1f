"""Python 3 side of bench/: each operation with the standard library only
(multiprocessing.shared_memory, memoryview, memoryview.cast, multiprocessing's Semaphore,
Lock, Value, Queue and Process). Usage: bench.py OP N [SIZE [ARG...]]; prints
"ns_per_op check" (bench/driver.lua checks it)."""
import multiprocessing as mp
import os
import sys
import time
from multiprocessing import shared_memory

SMALL = 4096
PATTERN = 251
SAMPLE_STRIDE = 4093
# SHMLUA_BENCH_CLOCK=cpu: this process's CPU time (single-process loops); else wall time.
now = time.process_time_ns if os.environ.get("SHMLUA_BENCH_CLOCK") == "cpu" else time.perf_counter_ns


def create_loop(n, size):
    check = 0
    t0 = now()
    for _ in range(n):
        m = shared_memory.SharedMemory(create=True, size=size)
        check += m.buf[0] == 0
        m.close()
        m.unlink()
    return (now() - t0) / n, check


def create(n, size, args):
    return create_loop(n, SMALL)


def create_lazy(n, size, args):
    return create_loop(n, size)


def attach(n, size, args):
    owner = shared_memory.SharedMemory(create=True, size=SMALL)
    owner.buf[0] = 1
    check = 0
    t0 = now()
    for _ in range(n):
        m = shared_memory.SharedMemory(owner.name)
        check += m.buf[0]
        m.close()
    spent = now() - t0
    owner.close()
    owner.unlink()
    return spent / n, check


def block(size):
    m = shared_memory.SharedMemory(create=True, size=size)
    return m


def release(m, *views):
    for v in views:
        v.release()
    m.close()
    m.unlink()


def byte_read(n, size, args):
    m = block(n)
    buf = m.buf
    buf[:] = (bytes(range(PATTERN)) * (n // PATTERN + 1))[:n]
    s = 0
    t0 = now()
    for i in range(n):
        s += buf[i]
    spent = now() - t0
    release(m)
    return spent / n, s


def byte_write(n, size, args):
    # Writes i & 255 at 0-based i; n is a multiple of 256, so the sum equals that of the
    # 1-based loops of the other sides.
    m = block(n)
    buf = m.buf
    t0 = now()
    for i in range(n):
        buf[i] = i & 255
    spent = now() - t0
    check = sum(bytes(buf))
    release(m)
    return spent / n, check


def typed(n, code):
    m = block(n * 8)
    return m, m.buf.cast(code)


def typed_read(n, code):
    m, a = typed(n, code)
    for i in range(n):
        a[i] = i + 1
    s = 0
    t0 = now()
    for i in range(n):
        s += a[i]
    spent = now() - t0
    release(m, a)
    return spent / n, int(s)


def typed_write(n, code):
    m, a = typed(n, code)
    t0 = now()
    for i in range(n):
        a[i] = i  # a float64 stores it as a double, as Lua's a[i] = i does
    spent = now() - t0
    check = int(sum(a)) + n  # the 1-based sides write 1..n
    release(m, a)
    return spent / n, check


def i64_read(n, size, args):
    return typed_read(n, "q")


def i64_write(n, size, args):
    return typed_write(n, "q")


def f64_read(n, size, args):
    return typed_read(n, "d")


def f64_write(n, size, args):
    return typed_write(n, "d")


def pattern(size):
    return (bytes(range(PATTERN)) * (size // PATTERN + 1))[:size]


def sample(data, size):
    return sum(data[k] for k in range(0, size, SAMPLE_STRIDE))


def bulk_write(n, size, args):
    src = pattern(size)
    m = block(size)
    m.buf[:] = bytes(size)  # prefault, as the other sides do
    t0 = now()
    for _ in range(n):
        m.buf[:] = src
    spent = now() - t0
    check = sample(m.buf, size)
    release(m)
    return spent / n, check


def bulk_read(n, size, args):
    m = block(size)
    m.buf[:] = pattern(size)
    spent = 0
    for _ in range(n):
        t0 = now()
        copy = bytes(m.buf)
        spent += now() - t0
        check = sample(copy, size)
        del copy
    release(m)
    return spent / n, check


def bulk_copy(n, size, args):
    src, dst = block(size), block(size)
    src.buf[:] = pattern(size)
    dst.buf[:] = bytes(size)
    t0 = now()
    for _ in range(n):
        dst.buf[:] = src.buf
    spent = now() - t0
    check = sample(dst.buf, size)
    release(src)
    release(dst)
    return spent / n, check


def ponger(n, ping, pong, count):
    for _ in range(n + 1):
        ping.acquire()
        count.value += 1
        pong.release()


def pingpong_sem(n, size, args):
    ping, pong = mp.Semaphore(0), mp.Semaphore(0)
    count = mp.Value("q", 0, lock=False)
    p = mp.Process(target=ponger, args=(n, ping, pong, count))
    p.start()
    ping.release()  # round 0 waits for the child to be running
    pong.acquire()
    t0 = now()
    for _ in range(n):
        ping.release()
        pong.acquire()
    spent = now() - t0
    p.join()
    return spent / n, count.value - 1


def adder(n, counter, go):
    go.wait()
    for _ in range(n):
        with counter.get_lock():
            counter.value += 1


def atomic_add(n, size, args):
    # The stdlib has no atomics: a shared Value under its lock is Python's way.
    counter, go = mp.Value("q", 0), mp.Event()
    p = mp.Process(target=adder, args=(n, counter, go))
    p.start()
    t0 = now()
    go.set()
    adder(n, counter, go)
    p.join()
    return (now() - t0) / (2 * n), counter.value


def lock_unlock(n, size, args):
    lock = mp.Lock()
    check = 0
    t0 = now()
    for _ in range(n):
        lock.acquire()
        check += 1
        lock.release()
    return (now() - t0) / n, check


DICT_KEYS = 1024


def dict_keys():
    return [b"key%013d" % i for i in range(DICT_KEYS)]


# A Manager's work is done in its server process, which this process's CPU time would leave
# out: its dict is timed on the wall clock whatever SHMLUA_BENCH_CLOCK says.
def dict_set(n, size, args):
    with mp.Manager() as manager:
        d, keys, value, check = manager.dict(), dict_keys(), b"v" * 32, 0
        t0 = time.perf_counter_ns()
        for i in range(n):
            d[keys[i % DICT_KEYS]] = value
            check += 1
        return (time.perf_counter_ns() - t0) / n, check


def dict_get(n, size, args):
    with mp.Manager() as manager:
        d, keys, check = manager.dict(), dict_keys(), 0
        for k in keys:
            d[k] = b"v" * 32
        t0 = time.perf_counter_ns()
        for i in range(n):
            if d.get(keys[i % DICT_KEYS]) is not None:
                check += 1
        return (time.perf_counter_ns() - t0) / n, check


def producer(n, q):
    pad = b"x" * 56
    for i in range(n + 1):
        q.put(i.to_bytes(8, "little") + pad)


def stream(n, target, seq):
    """A child (target) puts messages 0..n on a Queue; timed from message 0 to message n; the
    check sums their sequence numbers (seq reads one)."""
    q = mp.Queue()
    p = mp.Process(target=target, args=(n, q))
    p.start()
    check = 0
    for i in range(n + 1):
        msg = q.get()
        if i == 0:
            t0 = now()
        check += seq(msg)
    spent = now() - t0
    p.join()
    return spent / n, check


def queue(n, size, args):
    return stream(n, producer, lambda msg: int.from_bytes(msg[:8], "little"))


def value_producer(n, q):
    for i in range(n + 1):
        q.put({1: i, 2: "abc", 3: 2.5, "ok": True})


def queue_values(n, size, args):
    return stream(n, value_producer, lambda t: t[1])


def tiny(x):
    return x * 2 + 1


# Untimed maps first, as on the Lua side (bench.lua's POOL_WARM_MAPS).
POOL_WARM_MAPS = 30


def pool_map(n, size, args):
    inputs = list(range(1, size + 1))
    check = 0
    with mp.get_context("fork").Pool(2) as p:
        for _ in range(POOL_WARM_MAPS):
            p.map(tiny, inputs)
        t0 = now()
        for _ in range(n):
            r = p.map(tiny, inputs)
            check += r[-1] - 1 - size
        spent = now() - t0
    return spent / n, check


def exit7():
    sys.exit(7)


def start_join(n, context):
    ctx = mp.get_context(context)
    check = 0
    t0 = now()
    for _ in range(n):
        p = ctx.Process(target=exit7)
        p.start()
        p.join()
        check += p.exitcode
    return (now() - t0) / n, check


def spawn_fn(n, size, args):
    return start_join(n, "fork")


def spawn_script(n, size, args):
    # A fresh interpreter that imports this file, as a started script is a fresh shmlua.
    return start_join(n, "spawn")


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def stage(name, path=None):
    obj = os.stat(path).st_blocks // 2 if path else "-"
    print("stage", name, status_kb("VmRSS"), status_kb("RssShmem"), obj)


def memory(n, size, args):
    stage("start")
    m = shared_memory.SharedMemory(create=True, size=size)
    path = "/dev/shm/" + m.name
    stage("create", path)
    other = shared_memory.SharedMemory(m.name)
    stage("attach", path)
    buf, obuf = m.buf, other.buf
    for k in range(0, size, 4096):
        buf[k] = 1
    stage("touch", path)
    check = sum(obuf[k] for k in range(0, size, 4096))
    stage("read", path)
    del buf, obuf
    other.close()
    m.close()
    m.unlink()
    stage("close")  # unlinked and unmapped: the object and its pages are gone
    return 0, check


def main():
    op = globals()[sys.argv[1]]
    n = int(sys.argv[2])
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    ns, check = op(n, size, sys.argv[4:])
    print("%.3f %d" % (ns, check))


if __name__ == "__main__":
    main()
