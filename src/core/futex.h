/* Sleeping on a 32-bit word in shared memory and waking sleepers, across processes.
   Linux: the futex system call (no private flag, so it works on MAP_SHARED memory).
   Elsewhere: a polling fallback that sleeps in growing steps (wake cannot count sleepers).
   Errors as error.h says: the waits return 0 or -1 with err->code telling why; the wakes
   and the clock functions cannot fail. */
#ifndef SHMLUA_FUTEX_H
#define SHMLUA_FUTEX_H

#include <stdint.h>
#include <time.h>

#include "error.h"

/* Sleeps while *word == expected, at most timeout (relative; NULL: no limit).
   Returns 0 when woken (possibly spuriously: callers re-check their condition), else -1
   with err->code EAGAIN if *word != expected on entry, ETIMEDOUT, or EINTR when a signal
   arrived. */
int shmlua_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *timeout,
                      shmlua_error *err);

/* Wakes up to count sleepers on word (INT32_MAX for all); returns how many were woken
   (0 on the polling fallback, where sleepers notice by themselves). */
int shmlua_futex_wake(uint32_t *word, int count);

/* Seconds (>= 0, may be fractional) to a timespec; huge values saturate. */
struct timespec shmlua_timespec(double seconds);

/* Monotonic clock now, and the time left until deadline (zero if passed). */
struct timespec shmlua_now(void);
struct timespec shmlua_time_left(const struct timespec *deadline);
/* Whether a is strictly earlier than b, and whether deadline (NULL: never) has passed. */
int shmlua_before(const struct timespec *a, const struct timespec *b);
int shmlua_sync_expired(const struct timespec *deadline);
struct timespec shmlua_deadline(double seconds);
/* As shmlua_deadline from a clock that may lag a few milliseconds but costs a third as much
   (Linux's coarse clock): for periodic wakeups such as wait slices, not for users' timeouts. */
struct timespec shmlua_deadline_coarse(double seconds);

#if !defined(__linux__)
/* The polling fallbacks' pause: sleeps *step, then doubles it up to 1 ms (start it at
   {0, 1000}). 0, or -1 (EINTR) when a signal cut the sleep short. */
int shmlua_nap(struct timespec *step, shmlua_error *err);
#endif

#endif
