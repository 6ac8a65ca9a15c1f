/* Robust process-shared mutexes on pthreads, with a spin before sleeping and deadlines. */
#include "mutex.h"

#include <errno.h>

#include "sync_wait.h"

enum { SPIN_TRIES = 20 }; /* as sync_wait.c: a short spin, then sleep */

/* Without it a header claiming fewer bytes than the layout would be used past them. */
static int check(const void *bytes, size_t size, shmlua_error *err) {
  (void)bytes;
  return shmlua_sync_check_size(&shmlua_mutex_type, size, sizeof(shmlua_mutex_block), err);
}

const shmlua_sync_type shmlua_mutex_type = {SHMLUA_KIND_MUTEX, "mutex", check};

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

int shmlua_mutex_block_init(void *addr, const void *arg, shmlua_error *err) {
  int rc = shmlua_mutex_init(&((shmlua_mutex_block *)addr)->mutex);
  (void)arg;
  return rc == 0 ? 0 : shmlua_fail(err, rc, "pthread_mutex_init");
}

int shmlua_mutex_trylock(pthread_mutex_t *m) {
  return pthread_mutex_trylock(m);
}

#if defined(__APPLE__)
/* No timed lock on macOS: poll with growing sleeps up to 1 ms. */
static int sleeping_lock(pthread_mutex_t *m, const struct timespec *deadline) {
  struct timespec step = {0, 1000};
  for (;;) {
    int rc = pthread_mutex_trylock(m);
    if (rc != EBUSY)
      return rc;
    if (deadline) {
      struct timespec left = shmlua_time_left(deadline);
      if (left.tv_sec == 0 && left.tv_nsec == 0)
        return ETIMEDOUT;
    }
    nanosleep(&step, NULL);
    if (step.tv_nsec < 1000000L)
      step.tv_nsec *= 2;
  }
}
#else
static int sleeping_lock(pthread_mutex_t *m, const struct timespec *deadline) {
  return deadline ? pthread_mutex_clocklock(m, CLOCK_MONOTONIC, deadline)
                  : pthread_mutex_lock(m);
}
#endif

int shmlua_mutex_lock(pthread_mutex_t *m, const struct timespec *deadline) {
  for (int i = 0; i < SPIN_TRIES; i++) {
    int rc = pthread_mutex_trylock(m);
    if (rc != EBUSY)
      return rc;
    shmlua_cpu_relax();
  }
  return sleeping_lock(m, deadline);
}

int shmlua_mutex_unlock(pthread_mutex_t *m) {
  return pthread_mutex_unlock(m);
}

int shmlua_mutex_consistent(pthread_mutex_t *m) {
#if defined(__APPLE__)
  (void)m;
  return EINVAL; /* never in the owner-died state */
#else
  return pthread_mutex_consistent(m);
#endif
}
