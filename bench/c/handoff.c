/* The hand-over of a turn through one shared word (handoff.h). */
#include "handoff.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { YIELD_LOOKS = 32, SPIN_NS = 50000, BUSY_NS = 10000 };

static uint32_t load(uint32_t *w) {
  return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pause_once(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void shmlua_cbench_relax(unsigned looks) {
  if (looks % YIELD_LOOKS == 0)
    sched_yield();
  else
    pause_once();
}

void shmlua_cbench_await(uint32_t *w, uint32_t want, int spin, int polite,
                         uint32_t *sleepers) {
  for (int i = 0; i < spin; i++) {
    if (load(w) == want)
      return;
    pause_once();
  }
  for (int64_t start = polite ? monotonic_ns() : 0, last = start, now; polite; last = now) {
    for (int i = 0; i < YIELD_LOOKS; i++) {
      if (load(w) == want)
        return;
      pause_once();
    }
    sched_yield();
    now = monotonic_ns();
    if (now - last >= BUSY_NS || now - start >= SPIN_NS)
      break;
  }
  for (uint32_t v; (v = load(w)) != want;) {
    __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
    if (load(w) == v)
      syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
    __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  }
}

void shmlua_cbench_hand_over(uint32_t *w, uint32_t value, const uint32_t *sleepers) {
  __atomic_store_n(w, value, __ATOMIC_SEQ_CST);
  if (!sleepers || __atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0)
    syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}
