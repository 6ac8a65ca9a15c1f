/* Robust process-shared mutexes on pthreads, with a spin before sleeping and deadlines. */
#include "mutex.h"

#include <errno.h>

#include "sync_wait.h"

const shmlua_sync_type shmlua_mutex_type = {SHMLUA_KIND_MUTEX, "mutex",
                                            sizeof(shmlua_mutex_block), NULL};

int shmlua_mutex_init(pthread_mutex_t *m) {
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

#if defined(__GLIBC__)
/* glibc keeps a mutex's type in the shared bytes and trusts it: a peer that scribbles over
   it steers the next lock into priority-inheritance or -protection code whose assertions
   abort the process. So each call first compares it with what shmlua_mutex_init writes
   (read once from a private mutex made the same way) and refuses a changed one. This
   narrows the window to a few instructions; it cannot close it (docs/reliability.md). */
static int our_kind(void) {
  static int kind = -1;
  int k = __atomic_load_n(&kind, __ATOMIC_RELAXED);
  if (k == -1) {
    pthread_mutex_t m;
    if (shmlua_mutex_init(&m) != 0)
      return -1;
    k = m.__data.__kind;
    pthread_mutex_destroy(&m);
    __atomic_store_n(&kind, k, __ATOMIC_RELAXED);
  }
  return k;
}

static int intact(pthread_mutex_t *m) {
  return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) == our_kind();
}
#else
static int intact(pthread_mutex_t *m) {
  (void)m;
  return 1;
}
#endif

int shmlua_mutex_block_init(void *addr, const void *arg, shmlua_error *err) {
  int rc = shmlua_mutex_init(&((shmlua_mutex_block *)addr)->mutex);
  (void)arg;
  return rc == 0 ? 0 : shmlua_fail(err, rc, "pthread_mutex_init");
}

int shmlua_mutex_trylock(pthread_mutex_t *m) {
  return intact(m) ? pthread_mutex_trylock(m) : ENOTRECOVERABLE;
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
    shmlua_nap(&step); /* a signal only makes it look again sooner */
  }
}
#else
static int sleeping_lock(pthread_mutex_t *m, const struct timespec *deadline) {
  return deadline ? pthread_mutex_clocklock(m, CLOCK_MONOTONIC, deadline)
                  : pthread_mutex_lock(m);
}
#endif

int shmlua_mutex_lock(pthread_mutex_t *m, const struct timespec *deadline) {
  for (int i = 0; i < SHMLUA_SPIN_LOOKS; i++) {
    int rc = shmlua_mutex_trylock(m);
    if (rc != EBUSY)
      return rc;
    shmlua_cpu_relax();
  }
  return intact(m) ? sleeping_lock(m, deadline) : ENOTRECOVERABLE;
}

int shmlua_mutex_unlock(pthread_mutex_t *m) {
  return intact(m) ? pthread_mutex_unlock(m) : ENOTRECOVERABLE;
}

int shmlua_mutex_consistent(pthread_mutex_t *m) {
#if defined(__APPLE__)
  (void)m;
  return EINVAL; /* never in the owner-died state */
#else
  return intact(m) ? pthread_mutex_consistent(m) : ENOTRECOVERABLE;
#endif
}
