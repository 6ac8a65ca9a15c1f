/* A condition variable in shared memory, tied to a shmlua mutex whose name it records (so
   attaching the condition finds its mutex). Waits may return without a signal: callers
   re-check their predicate, as with pthread condition variables. Errors as error.h says:
   0 or -1 with err; seq and signal cannot fail. */
#ifndef SHMLUA_COND_H
#define SHMLUA_COND_H

#include <stdint.h>
#include <time.h>

#include "name.h"
#include "sync_header.h"

typedef struct shmlua_cond_block {
  shmlua_sync_header header;
  uint32_t seq; /* futex word: bumped by every signal and broadcast */
  uint32_t sleepers;
  char mutex_path[sizeof(shmlua_name)]; /* "/name" of the mutex, NUL-terminated */
} shmlua_cond_block;

extern const shmlua_sync_type shmlua_cond_type;

/* init callback: arg is the mutex's shmlua_name. */
int shmlua_cond_init(void *addr, const void *arg, shmlua_error *err);

/* The value to wait on: read it while holding the mutex, then unlock, then sleep. */
uint32_t shmlua_cond_seq(const shmlua_cond_block *c);

/* Sleeps until a signal after seq was read: 0, or -1 with ETIMEDOUT or EINTR. */
int shmlua_cond_sleep(shmlua_cond_block *c, uint32_t seq, const struct timespec *deadline,
                      shmlua_error *err);

/* Wakes up to n waiters (INT32_MAX: all). */
void shmlua_cond_signal(shmlua_cond_block *c, int n);

/* The recorded mutex name: 0, or -1 (EPROTO) if it is no longer a valid name. */
int shmlua_cond_mutex_name(const shmlua_cond_block *c, shmlua_name *out, shmlua_error *err);

#endif
