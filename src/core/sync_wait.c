/* Spin, then futex sleep with a sleeper count; deadlines on the monotonic clock. */
#include "sync_wait.h"

#include <errno.h>

#include "futex.h"

void shmlua_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

const struct timespec *shmlua_sync_earlier(const struct timespec *deadline, double seconds,
                                           struct timespec *out) {
  *out = shmlua_deadline_coarse(seconds); /* every blocking call computes one: keep it cheap */
  if (deadline && shmlua_before(deadline, out))
    *out = *deadline;
  return out;
}

int shmlua_sync_await(int (*ready)(void *ctx), void *ctx, uint32_t *word, uint32_t *sleepers,
                      const struct timespec *deadline) {
  struct timespec left;
  uint32_t seen;
  int rc = 0;
  for (int i = 0; i < SHMLUA_SPIN_LOOKS; i++) {
    if (ready(ctx))
      return 0;
    shmlua_cpu_relax();
  }
  if (shmlua_sync_expired(deadline))
    return ETIMEDOUT;
  if (deadline)
    left = shmlua_time_left(deadline);
  seen = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  /* Counted, then ready() asked again: a change made before the count is seen by that look,
     one made after finds the count (shmlua_sync_signal, shmlua_sync_wake) and moves the word
     off seen, so the kernel does not let us sleep (each side's fence or seq_cst access
     orders its store before its load). */
  __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!ready(ctx))
    rc = shmlua_futex_wait(word, seen, deadline ? &left : NULL);
  __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  return rc == EAGAIN ? 0 : rc;
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
                      const struct timespec *deadline) {
  watched w = {word, seen};
  return shmlua_sync_await(changed, &w, word, sleepers, deadline);
}

void shmlua_sync_signal(uint32_t *word, uint32_t *sleepers, int n) {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0) {
    __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
    shmlua_futex_wake(word, n);
  }
}

void shmlua_sync_wake(uint32_t *word, const uint32_t *sleepers, int n) {
  if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0)
    shmlua_futex_wake(word, n);
}
