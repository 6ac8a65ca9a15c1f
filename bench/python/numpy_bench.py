"""NumPy side of bench/'s whole-array rows (bench/driver.lua runs it with /usr/bin/python3,
which Debian's python3-numpy is for): the NumPy call a Python user makes on an array that
lives in a multiprocessing.shared_memory block. Usage: numpy_bench.py OP N; prints
"ns_per_op check" as bench.py does."""
import os
import sys
import time
from multiprocessing import shared_memory

import numpy as np

REPS = 5
now = time.process_time_ns if os.environ.get("SHMLUA_BENCH_CLOCK") == "cpu" else time.perf_counter_ns
blocks = []


def shared(n):
    """n float64 on a fresh shared block, zeroed (so its pages are in, as on the other sides)."""
    m = shared_memory.SharedMemory(create=True, size=n * 8)
    blocks.append(m)
    a = np.ndarray((n,), dtype=np.float64, buffer=m.buf)
    a[:] = 0
    return a


def ascending(n):
    a = shared(n)
    a[:] = np.arange(1, n + 1, dtype=np.float64)
    return a


def timed(n, reps, fn):
    t0 = now()
    for _ in range(reps):
        out = fn()
    return (now() - t0) / (n * reps), out


def arr_sum(n):
    a = ascending(n)
    return timed(n, REPS, lambda: np.sum(a))


def arr_sum_step2(n):
    a = ascending(n)
    return timed(n // 2, REPS, lambda: a[::2].sum())


def arr_dot(n):
    a, b = ascending(n), shared(n)
    b[:] = 1
    return timed(n, REPS, lambda: np.dot(a, b))


def arr_argmin(n):
    a = shared(n)
    a[:] = np.abs(np.arange(n) - n // 3)
    ns, pos = timed(n, REPS, lambda: np.argmin(a))
    return ns, pos + 1


def arr_add(n):
    a, b = ascending(n), shared(n)
    b[:] = 1

    def add():
        nonlocal a
        a += b
    ns, _ = timed(n, REPS, add)
    return ns, a.sum()


def arr_cumsum(n):
    a = shared(n)
    spent = 0
    for _ in range(REPS):
        a[:] = 1
        t0 = now()
        np.cumsum(a, out=a)
        spent += now() - t0
    return spent / (n * REPS), a.sum()


def arr_sort(n):
    a = shared(n)
    a[:] = np.arange(n, dtype=np.int64) * 7919 % n
    ns, _ = timed(n, 1, a.sort)
    return ns, a[-1] + a[n // 2]


def main():
    ns, check = globals()[sys.argv[1]](int(sys.argv[2]))
    print("%.3f %d" % (ns, int(check)))
    for m in blocks:
        m.close()
        m.unlink()


if __name__ == "__main__":
    main()
