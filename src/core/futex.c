/* Sleeping on a shared 32-bit word: futex on Linux, polling elsewhere. */
#include "futex.h"

#include <errno.h>
#include <limits.h>

static struct timespec timespec_add(struct timespec a, struct timespec b) {
  a.tv_sec += b.tv_sec;
  a.tv_nsec += b.tv_nsec;
  if (a.tv_nsec >= 1000000000L) {
    a.tv_sec++;
    a.tv_nsec -= 1000000000L;
  }
  return a;
}

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int shmlua_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout,
                      shmlua_error *err) {
  if (syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, NULL, 0) == 0)
    return 0;
  return shmlua_failcode(err, errno == EWOULDBLOCK ? EAGAIN : errno, "futex wait");
}

int shmlua_futex_wake(uint32_t *word, int count) {
  long n = syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
  return n < 0 ? 0 : (int)n;
}

#else

int shmlua_nap(struct timespec *step, shmlua_error *err) {
  int interrupted = nanosleep(step, NULL) != 0 && errno == EINTR;
  if (step->tv_nsec < 1000000L)
    step->tv_nsec *= 2;
  return interrupted ? shmlua_failcode(err, EINTR, "nanosleep") : 0;
}

int shmlua_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout,
                      shmlua_error *err) {
  struct timespec deadline, step = {0, 1000};
  if (timeout)
    deadline = timespec_add(shmlua_now(), *timeout);
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != expected)
    return shmlua_failcode(err, EAGAIN, "futex wait");
  for (;;) {
    if (shmlua_nap(&step, err) != 0)
      return -1;
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != expected)
      return 0;
    if (timeout && shmlua_sync_expired(&deadline))
      return shmlua_failcode(err, ETIMEDOUT, "futex wait");
  }
}

int shmlua_futex_wake(uint32_t *word, int count) {
  (void)word;
  (void)count;
  return 0;
}
#endif

struct timespec shmlua_timespec(double seconds) {
  struct timespec ts;
  if (!(seconds > 0)) /* also NaN */
    seconds = 0;
  if (seconds >= (double)INT_MAX) {
    ts.tv_sec = INT_MAX;
    ts.tv_nsec = 0;
  } else {
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec > 999999999L)
      ts.tv_nsec = 999999999L;
  }
  return ts;
}

struct timespec shmlua_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts;
}

struct timespec shmlua_deadline(double seconds) {
  return timespec_add(shmlua_now(), shmlua_timespec(seconds));
}

struct timespec shmlua_deadline_coarse(double seconds) {
  struct timespec now;
#if defined(CLOCK_MONOTONIC_COARSE)
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
#else
  now = shmlua_now();
#endif
  return timespec_add(now, shmlua_timespec(seconds));
}

struct timespec shmlua_time_left(const struct timespec *deadline) {
  struct timespec now = shmlua_now(), left;
  left.tv_sec = deadline->tv_sec - now.tv_sec;
  left.tv_nsec = deadline->tv_nsec - now.tv_nsec;
  if (left.tv_nsec < 0) {
    left.tv_sec--;
    left.tv_nsec += 1000000000L;
  }
  if (left.tv_sec < 0)
    left.tv_sec = left.tv_nsec = 0;
  return left;
}

int shmlua_before(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int shmlua_sync_expired(const struct timespec *deadline) {
  struct timespec now;
  if (!deadline)
    return 0;
  now = shmlua_now();
  return !shmlua_before(&now, deadline);
}
