/* Waiting on a shared 32-bit word the way every futex-based object here does: look again for
   a while (spinning politely) before sleeping, count sleepers so a release with nobody asleep
   makes no system call, and keep an absolute deadline across early returns. Errors as
   error.h says: the sleeps return 0 or -1 with err (ETIMEDOUT, EINTR); the spin answers
   whether it saw the change; the rest cannot fail. */
#ifndef SHMLUA_SYNC_WAIT_H
#define SHMLUA_SYNC_WAIT_H

#include <stdint.h>
#include <time.h>

#include "futex.h" /* shmlua_sync_expired and the other deadline helpers */

/* A lock is tried this many times, pausing, before sleeping; a waiter always looks at least
   this many times. */
enum { SHMLUA_SPIN_LOOKS = 20 };

/* Past those looks a waiter goes on looking, calling sched_yield every SHMLUA_YIELD_LOOKS
   looks, for at most shmlua_spin_ns() nanoseconds of its time, before it sleeps: a peer that
   answers within that (a ping-pong, a steady stream) is seen at memory speed instead of after
   a futex sleep and a wake-up of a halted CPU (tens of microseconds on a VM), and the yields
   let a peer that shares the CPU run. A yield that let another process run (it took over
   SHMLUA_YIELD_BUSY_NS) without the awaited change ends the spin too: more processes want
   the CPUs than there are, and spinners would only take turns. 50 us by default;
   SHMLUA_SPIN_US in the environment (read once per process) sets it, 0 keeping only the
   short spin. */
enum { SHMLUA_YIELD_LOOKS = 32, SHMLUA_SPIN_US_DEFAULT = 50, SHMLUA_SPIN_US_MAX = 10000 };
enum { SHMLUA_YIELD_BUSY_NS = 10000 };
long shmlua_spin_ns(void);

/* A pause between two looks at a word another process is about to change. */
void shmlua_cpu_relax(void);

/* Waits until *word differs from seen, or a wake, at most until deadline (absolute,
   CLOCK_MONOTONIC; NULL: no limit). Counts itself in *sleepers while in the kernel.
   Returns 0 (changed or woken; callers re-check their condition), or -1 with err->code
   ETIMEDOUT or EINTR. */
int shmlua_sync_sleep(uint32_t *word, uint32_t seen, uint32_t *sleepers,
                      const struct timespec *deadline, shmlua_error *err);

/* Wakes up to n sleepers of word, with no system call when *sleepers is 0. Call it after
   changing word. */
void shmlua_sync_wake(uint32_t *word, const uint32_t *sleepers, int n);

/* Spins (as above) until ready(ctx), at most until deadline: 1 once ready, 0 when the spin
   ended first (then sleep). */
int shmlua_sync_spin(int (*ready)(void *ctx), void *ctx, const struct timespec *deadline);

/* The other pattern, for state a waiter can peek at without its lock (the queue): the waker
   moves word only when someone sleeps, so a release with nobody asleep writes nothing the
   waiter reads. Waits until ready(ctx) (spinning, then sleeping on word), at most until
   deadline; returns as shmlua_sync_sleep. ready only reads and may be wrong while a change
   races it: that change's shmlua_sync_signal then finds the sleeper.
   *sleeping is a flag, not a count: a sleeper sets it, and the first signal after that takes
   it (an atomic exchange) and wakes every sleeper with one system call. A woken sleeper that
   must sleep again sets it again. So a burst of changes while a woken sleeper is still on
   its way back to a CPU makes one FUTEX_WAKE, not one each. */
int shmlua_sync_await(int (*ready)(void *ctx), void *ctx, uint32_t *word, uint32_t *sleeping,
                      const struct timespec *deadline, shmlua_error *err);

/* After a change that can make an awaited ready() true: wakes every sleeper of word if the
   flag says one sleeps; no write and no system call otherwise. */
void shmlua_sync_signal(uint32_t *word, uint32_t *sleeping);

/* The earlier of deadline (NULL: none) and now + seconds, in *out; returns out. */
const struct timespec *shmlua_sync_earlier(const struct timespec *deadline, double seconds,
                                           struct timespec *out);

#endif
