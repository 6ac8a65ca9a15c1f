/* Spin politely, then futex sleep with a sleeper count or flag; deadlines on the monotonic
   clock. */
#include "sync_wait.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>

#include "futex.h"

void shmlua_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

long shmlua_spin_ns(void) {
  static long cached = -1;
  long ns = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (ns < 0) {
    const char *text = getenv("SHMLUA_SPIN_US");
    long us = SHMLUA_SPIN_US_DEFAULT;
    char *end;
    if (text && *text) {
      long v = strtol(text, &end, 10);
      if (*end == '\0' && v >= 0)
        us = v < SHMLUA_SPIN_US_MAX ? v : SHMLUA_SPIN_US_MAX;
    }
    ns = us * 1000;
    __atomic_store_n(&cached, ns, __ATOMIC_RELAXED);
  }
  return ns;
}

static long elapsed_ns(const struct timespec *from, const struct timespec *to) {
  return (long)(to->tv_sec - from->tv_sec) * 1000000000L + (to->tv_nsec - from->tv_nsec);
}

int shmlua_sync_spin(int (*ready)(void *ctx), void *ctx, const struct timespec *deadline) {
  long budget = shmlua_spin_ns();
  struct timespec start, last, now;
  for (int i = 0; i < SHMLUA_SPIN_LOOKS; i++) {
    if (ready(ctx))
      return 1;
    shmlua_cpu_relax();
  }
  if (budget == 0)
    return 0;
  start = last = shmlua_now();
  for (;;) {
    for (int i = 0; i < SHMLUA_YIELD_LOOKS; i++) {
      if (ready(ctx))
        return 1;
      shmlua_cpu_relax();
    }
    sched_yield(); /* a peer on this CPU runs now, not at the end of our time slice */
    if (ready(ctx))
      return 1;
    now = shmlua_now();
    /* Another process ran in that yield and it was not the one we wait for: the CPUs are
       oversubscribed, and spinning on would only take turns with other spinners. */
    if (elapsed_ns(&last, &now) >= SHMLUA_YIELD_BUSY_NS ||
        elapsed_ns(&start, &now) >= budget || (deadline && !shmlua_before(&now, deadline)))
      return 0;
    last = now;
  }
}

const struct timespec *shmlua_sync_earlier(const struct timespec *deadline, double seconds,
                                           struct timespec *out) {
  *out = shmlua_deadline_coarse(seconds); /* every blocking call computes one: keep it cheap */
  if (deadline && shmlua_before(deadline, out))
    *out = *deadline;
  return out;
}

/* The sleep after a spin that saw nothing: marks itself asleep (mark), asks ready() once
   more and sleeps on word unless it changed. A change made before the mark is seen by that
   look; one made after finds the mark (shmlua_sync_wake, shmlua_sync_signal) and moves the
   word off seen, so the kernel does not let us sleep (each side's fence or seq_cst access
   orders its store before its load). */
static int sleep_marked(int (*ready)(void *ctx), void *ctx, uint32_t *word, uint32_t *mark,
                        int counted, const struct timespec *deadline, shmlua_error *err) {
  struct timespec left;
  shmlua_error mine;
  uint32_t seen;
  int rc = 0;
  if (shmlua_sync_spin(ready, ctx, deadline))
    return 0;
  if (shmlua_sync_expired(deadline))
    return shmlua_failcode(err, ETIMEDOUT, "wait");
  if (deadline)
    left = shmlua_time_left(deadline);
  seen = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  if (counted)
    __atomic_add_fetch(mark, 1, __ATOMIC_SEQ_CST);
  else
    __atomic_store_n(mark, 1, __ATOMIC_SEQ_CST);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!ready(ctx))
    rc = shmlua_futex_wait(word, seen, deadline ? &left : NULL, &mine);
  if (counted)
    __atomic_sub_fetch(mark, 1, __ATOMIC_SEQ_CST);
  if (rc == 0 || mine.code == EAGAIN) /* EAGAIN: it changed before the sleep */
    return 0;
  return shmlua_failcode(err, mine.code, "wait");
}

int shmlua_sync_await(int (*ready)(void *ctx), void *ctx, uint32_t *word, uint32_t *sleeping,
                      const struct timespec *deadline, shmlua_error *err) {
  return sleep_marked(ready, ctx, word, sleeping, 0, deadline, err);
}

typedef struct watched {
  const uint32_t *word;
  uint32_t seen;
} watched;

static int changed(void *ctx) {
  const watched *w = ctx;
  return __atomic_load_n(w->word, __ATOMIC_SEQ_CST) != w->seen;
}

/* The word is the state itself: ready once it is no longer what the caller saw. */
int shmlua_sync_sleep(uint32_t *word, uint32_t seen, uint32_t *sleepers,
                      const struct timespec *deadline, shmlua_error *err) {
  watched w = {word, seen};
  return sleep_marked(changed, &w, word, sleepers, 1, deadline, err);
}

void shmlua_sync_signal(uint32_t *word, uint32_t *sleeping) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  /* Looked at before it is taken: with nobody asleep the line is only read. */
  if (__atomic_load_n(sleeping, __ATOMIC_SEQ_CST) != 0 &&
      __atomic_exchange_n(sleeping, 0, __ATOMIC_SEQ_CST) != 0) {
    __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
    shmlua_futex_wake(word, INT_MAX);
  }
}

void shmlua_sync_wake(uint32_t *word, const uint32_t *sleepers, int n) {
  if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0)
    shmlua_futex_wake(word, n);
}
