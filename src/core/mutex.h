/* A process-shared mutex that survives the death of its holder (Linux: a robust pthread
   mutex). The next locker is told the owner died (EOWNERDEAD) and holds the lock; it repairs
   what the mutex protects and calls shmlua_mutex_consistent, or unlocks without it and the
   mutex becomes unusable for good (ENOTRECOVERABLE).
   macOS has no robust mutexes: there a holder's death leaves the mutex locked, and lockers
   get ETIMEDOUT at their deadline (documented in the README).
   Errors as error.h says: every call returns 0 or -1 with err; EOWNERDEAD is a -1 that
   holds the lock. Every call fails with ENOTRECOVERABLE, without touching the mutex, when
   another process wrote over its type (glibc). */
#ifndef SHMLUA_MUTEX_H
#define SHMLUA_MUTEX_H

#include <pthread.h>
#include <time.h>

#include "sync_header.h"

typedef struct shmlua_mutex_block {
  shmlua_sync_header header;
  pthread_mutex_t mutex;
} shmlua_mutex_block;

extern const shmlua_sync_type shmlua_mutex_type;

/* Initializes a mutex in shared memory: process-shared, robust, error-checking (relocking
   from the holder is EDEADLK instead of a deadlock). */
int shmlua_mutex_init(pthread_mutex_t *m, shmlua_error *err);

/* init callback for shmlua_sync_block_create of a mutex block (arg unused). */
int shmlua_mutex_block_init(void *addr, const void *arg, shmlua_error *err);

/* Locks, spinning a little before sleeping, until deadline (absolute, CLOCK_MONOTONIC as
   shmlua_deadline makes; NULL waits for ever). 0 (locked), or -1 with err->code
   EOWNERDEAD (locked, the previous owner died), ETIMEDOUT, EDEADLK (this thread holds it),
   ENOTRECOVERABLE, or EINVAL for a mutex that is not valid. */
int shmlua_mutex_lock(pthread_mutex_t *m, const struct timespec *deadline, shmlua_error *err);

/* 0, or -1 with EOWNERDEAD (locked), EBUSY, ENOTRECOVERABLE or EINVAL. */
int shmlua_mutex_trylock(pthread_mutex_t *m, shmlua_error *err);

/* 0, or -1 with EPERM when this thread does not hold it. */
int shmlua_mutex_unlock(pthread_mutex_t *m, shmlua_error *err);

/* After EOWNERDEAD: marks the protected state repaired. 0, or -1 with EINVAL if not in that
   state. */
int shmlua_mutex_consistent(pthread_mutex_t *m, shmlua_error *err);

#endif
