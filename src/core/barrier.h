/* A reusable barrier for a fixed number of parties, in shared memory. It breaks (and every
   waiter gets EPIPE) when a party times out or is interrupted, or when a member process
   died without having arrived in the current round. Members are the processes that opened
   the barrier (create, attach or a first arrival after fork); one that exits normally
   leaves at exit. The table of members has room for every party and
   SHMLUA_BARRIER_OTHERS more (processes that attach without waiting); one more is refused
   (EUSERS). Death is noticed with shmlua_process_alive (a zombie is dead; a reused pid is
   told apart by its start time), so members must share a pid namespace; elsewhere only
   timeouts break the barrier.
   Errors as error.h says: 0 or -1 with err, whose code tells the outcomes apart; close,
   leave_all, break and isbroken cannot fail. */
#ifndef SHMLUA_BARRIER_H
#define SHMLUA_BARRIER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "sync_header.h"

#define SHMLUA_BARRIER_OTHERS 64 /* member slots beyond one per party */

typedef struct shmlua_barrier_member {
  int32_t pid;            /* 0: free slot */
  uint32_t handles;       /* open handles of that process */
  uint32_t arrived_round; /* generation + 1 of the round it last arrived in */
  uint32_t reserved;
  uint64_t started; /* its start time (shmlua_process_started), so a reused pid is not it */
} shmlua_barrier_member;

typedef struct shmlua_barrier_block {
  shmlua_sync_header header;
  pthread_mutex_t lock; /* robust: guards everything below but the futex words */
  uint32_t wake;        /* futex word: bumped when a round ends or the barrier breaks */
  uint32_t sleepers;
  uint32_t parties;
  uint32_t arrived;
  uint32_t generation;   /* rounds ended, broken ones included */
  uint32_t broken;       /* 1 from a break until reset */
  uint32_t broken_round; /* generation + 1 of the last broken round, 0 if none */
  uint32_t slots;        /* member slots in the table: parties + SHMLUA_BARRIER_OTHERS */
  shmlua_barrier_member members[];
} shmlua_barrier_block;

/* A process's handle on a mapped barrier. */
typedef struct shmlua_barrier {
  shmlua_barrier_block *b; /* NULL when closed */
  uint32_t parties, slots; /* copied at open: another process cannot change ours */
  pid_t joined;            /* the pid holding a member slot through this handle, or 0 */
  struct shmlua_barrier *next;
} shmlua_barrier;

extern const shmlua_sync_type shmlua_barrier_type;

/* Layout size for a barrier of parties (>= 1) in *size; -1 (EINVAL) if that is too many. */
int shmlua_barrier_layout_size(uint32_t parties, size_t *size, shmlua_error *err);

/* init callback: arg points to the uint32_t number of parties (>= 1). */
int shmlua_barrier_init(void *addr, const void *arg, shmlua_error *err);

/* Starts using a created or attached barrier block mapped over size bytes at addr: joins it
   as a member. 0, or -1 with EUSERS when every member slot is taken by a live process
   (then h is not open). (A lock that cannot be taken leaves it open without a slot, as
   before a first arrival.) */
int shmlua_barrier_open(shmlua_barrier *h, void *addr, size_t size, shmlua_error *err);

/* Leaves the barrier (call before unmapping); harmless when already closed. */
void shmlua_barrier_close(shmlua_barrier *h);

/* Leaves every barrier this process joined and has not closed: what its exit handler does,
   for a process that ends with _exit (shm.spawn's children). */
void shmlua_barrier_leave_all(void);

/* Arrives in the current round. On 0, *round is the round to await and *index the arrival
   order (1..parties; parties means this arrival ended the round, nothing to await).
   -1 with EPIPE if the barrier is broken, ETIMEDOUT, ENOTRECOVERABLE, EUSERS (this process
   is not a member yet, a forked child, and every slot is taken). */
int shmlua_barrier_arrive(shmlua_barrier *h, const struct timespec *deadline, uint32_t *round,
                          uint32_t *index, shmlua_error *err);

/* Waits for the round to end: 0, or -1 with EPIPE (broken), ETIMEDOUT (this party broke
   it), EINTR (a signal, or a check for dead members found none: still waiting; call again,
   or shmlua_barrier_break), so a caller gets control back every 50 ms. */
int shmlua_barrier_await(shmlua_barrier *h, uint32_t round, const struct timespec *deadline,
                         shmlua_error *err);

/* Breaks round if it is still going on: its waiters get EPIPE, and so do arrivals until a
   reset. */
void shmlua_barrier_break(shmlua_barrier *h, uint32_t round);

/* Makes a broken barrier usable again (waiters of the broken round already got EPIPE). */
int shmlua_barrier_reset(shmlua_barrier *h, shmlua_error *err);

int shmlua_barrier_isbroken(const shmlua_barrier *h);

#endif
