/* Robust process-shared mutexes on pthreads, with a spin before sleeping and deadlines. */
#include "mutex.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#endif

#include "futex.h"
#include "sync_wait.h"

const shmlua_sync_type shmlua_mutex_type = {SHMLUA_KIND_MUTEX, "mutex",
                                            sizeof(shmlua_mutex_block), NULL};

/* The initialisation of shmlua_mutex_init: 0 or an errno. */
static int init(pthread_mutex_t *m) {
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc != 0)
    return rc;
  rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0)
    rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#if !defined(__APPLE__) /* macOS lacks robust mutexes (see mutex.h) */
  if (rc == 0)
    rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
#endif
  if (rc == 0)
    rc = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  return rc;
}

int shmlua_mutex_init(pthread_mutex_t *m, shmlua_error *err) {
  int rc = init(m);
  return rc == 0 ? 0 : shmlua_fail(err, rc, "pthread_mutex_init");
}

#if defined(__GLIBC__)
/* glibc keeps a mutex's type in the shared bytes and trusts it: a peer that scribbles over
   it steers the next lock into priority-inheritance or -protection code whose assertions
   abort the process. So each call first compares it with what shmlua_mutex_init writes
   (read once from a private mutex made the same way) and refuses a changed one. This
   narrows the window to a few instructions; it cannot close it (docs/reliability.md). */
static int kind = -1;

/* The first call's work, out of line: inlined (its mutex on the stack), it made every lock
   and unlock save and restore six registers. glibc builds with GCC or clang: the attributes
   are known. */
__attribute__((noinline, cold)) static int learn_kind(void) {
  pthread_mutex_t m;
  int k;
  if (init(&m) != 0)
    return -1;
  k = m.__data.__kind;
  pthread_mutex_destroy(&m);
  __atomic_store_n(&kind, k, __ATOMIC_RELAXED);
  return k;
}

static int our_kind(void) {
  int k = __atomic_load_n(&kind, __ATOMIC_RELAXED);
  return k != -1 ? k : learn_kind();
}

static int intact(pthread_mutex_t *m) {
  return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) == our_kind();
}

/* glibc marks a robust mutex unlocked without pthread_mutex_consistent with this owner
   (its PTHREAD_MUTEX_NOTRECOVERABLE). */
static int unrecoverable(pthread_mutex_t *m) {
  return __atomic_load_n(&m->__data.__owner, __ATOMIC_RELAXED) == INT_MAX - 1;
}
#else
static int intact(pthread_mutex_t *m) {
  (void)m;
  return 1;
}

static int unrecoverable(pthread_mutex_t *m) {
  (void)m;
  return 0;
}
#endif

#if defined(__GLIBC__) && defined(__linux__)
/* glibc's pthread_mutex_trylock (2.36 at least) takes a not-recoverable robust mutex to look
   at it, then returns ENOTRECOVERABLE without giving it back: this thread's id stays in the
   lock word, and as the mutex is not on the thread's robust list either, it stays locked
   even after the process exits. Hands it back as an unlock would. (Only reached when the
   mutex turned not recoverable between the check before the call and the call.) */
static void give_back(pthread_mutex_t *m) {
  int self = (int)gettid();
  int word = __atomic_load_n(&m->__data.__lock, __ATOMIC_ACQUIRE);
  if ((word & FUTEX_TID_MASK) != self)
    return; /* a glibc that does not have the bug */
  if (__atomic_compare_exchange_n(&m->__data.__lock, &word, 0, 0, __ATOMIC_RELEASE,
                                  __ATOMIC_RELAXED) &&
      (word & FUTEX_WAITERS))
    shmlua_futex_wake((uint32_t *)&m->__data.__lock, 1);
}
#else
static void give_back(pthread_mutex_t *m) {
  (void)m;
}
#endif

int shmlua_mutex_block_init(void *addr, const void *arg, shmlua_error *err) {
  (void)arg;
  return shmlua_mutex_init(&((shmlua_mutex_block *)addr)->mutex, err);
}

/* Whether glibc may be given m: its type is still ours and it is not marked not
   recoverable (then the answer is known, and trylock would wedge it: give_back). */
static int usable(pthread_mutex_t *m) {
  return intact(m) && !unrecoverable(m);
}

/* shmlua_mutex_trylock's work, answering with the errno (the lock's loop tries again). */
static int try_lock(pthread_mutex_t *m) {
  int rc;
  if (!usable(m))
    return ENOTRECOVERABLE;
  rc = pthread_mutex_trylock(m);
  if (rc == ENOTRECOVERABLE)
    give_back(m);
  return rc;
}

int shmlua_mutex_trylock(pthread_mutex_t *m, shmlua_error *err) {
  int rc = try_lock(m);
  return rc == 0 ? 0 : shmlua_failcode(err, rc, "mutex");
}

#if defined(__APPLE__)
/* No timed lock on macOS: poll with growing sleeps up to 1 ms. */
static int sleeping_lock(pthread_mutex_t *m, const struct timespec *deadline) {
  struct timespec step = {0, 1000};
  for (;;) {
    int rc = pthread_mutex_trylock(m);
    if (rc != EBUSY)
      return rc;
    if (shmlua_sync_expired(deadline))
      return ETIMEDOUT;
    shmlua_nap(&step, NULL); /* a signal only makes it look again sooner */
  }
}
#else
static int sleeping_lock(pthread_mutex_t *m, const struct timespec *deadline) {
  return deadline ? pthread_mutex_clocklock(m, CLOCK_MONOTONIC, deadline)
                  : pthread_mutex_lock(m);
}
#endif

int shmlua_mutex_lock(pthread_mutex_t *m, const struct timespec *deadline, shmlua_error *err) {
  int rc = EBUSY;
  for (int i = 0; i < SHMLUA_SPIN_LOOKS && rc == EBUSY; i++) {
    rc = try_lock(m);
    if (rc == EBUSY)
      shmlua_cpu_relax();
  }
  if (rc == EBUSY)
    rc = usable(m) ? sleeping_lock(m, deadline) : ENOTRECOVERABLE;
  return rc == 0 ? 0 : shmlua_failcode(err, rc, "mutex");
}

int shmlua_mutex_unlock(pthread_mutex_t *m, shmlua_error *err) {
  int rc = intact(m) ? pthread_mutex_unlock(m) : ENOTRECOVERABLE;
  return rc == 0 ? 0 : shmlua_failcode(err, rc, "mutex");
}

int shmlua_mutex_consistent(pthread_mutex_t *m, shmlua_error *err) {
#if defined(__APPLE__)
  int rc = EINVAL; /* never in the owner-died state */
  (void)m;
#else
  int rc = intact(m) ? pthread_mutex_consistent(m) : ENOTRECOVERABLE;
#endif
  return rc == 0 ? 0 : shmlua_failcode(err, rc, "mutex");
}
