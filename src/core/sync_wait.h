/* Waiting on a shared 32-bit word the way every futex-based object here does: look again a
   few times (spinning) before sleeping, count sleepers so a release with nobody asleep makes
   no system call, and keep an absolute deadline across early returns. */
#ifndef SHMLUA_SYNC_WAIT_H
#define SHMLUA_SYNC_WAIT_H

#include <stdint.h>
#include <time.h>

#include "futex.h" /* shmlua_sync_expired and the other deadline helpers */

/* Looks at a word (or tries a lock) this many times, pausing, before sleeping: longer spins
   cost more than they save on a busy 2-core box. */
enum { SHMLUA_SPIN_LOOKS = 20 };

/* A pause between two looks at a word another process is about to change. */
void shmlua_cpu_relax(void);

/* Waits until *word differs from seen, or a wake, at most until deadline (absolute,
   CLOCK_MONOTONIC; NULL: no limit). Counts itself in *sleepers while in the kernel.
   Returns 0 (changed or woken; callers re-check their condition), ETIMEDOUT or EINTR. */
int shmlua_sync_sleep(uint32_t *word, uint32_t seen, uint32_t *sleepers,
                      const struct timespec *deadline);

/* Wakes up to n sleepers of word, with no system call when *sleepers is 0. Call it after
   changing word. */
void shmlua_sync_wake(uint32_t *word, const uint32_t *sleepers, int n);

/* The other pattern, for state a waiter can peek at without its lock (the queue): the waker
   moves word only when someone sleeps, so a release with nobody asleep writes nothing the
   waiter reads. Waits until ready(ctx) (a few looks, then sleeping on word), at most until
   deadline; returns as shmlua_sync_sleep. ready only reads and may be wrong while a change
   races it: that change's shmlua_sync_signal then finds the sleeper. */
int shmlua_sync_await(int (*ready)(void *ctx), void *ctx, uint32_t *word, uint32_t *sleepers,
                      const struct timespec *deadline);

/* After a change that can make an awaited ready() true: wakes up to n sleepers of word; no
   write and no system call when none sleeps. */
void shmlua_sync_signal(uint32_t *word, uint32_t *sleepers, int n);

/* The earlier of deadline (NULL: none) and now + seconds, in *out; returns out. */
const struct timespec *shmlua_sync_earlier(const struct timespec *deadline, double seconds,
                                           struct timespec *out);

#endif
