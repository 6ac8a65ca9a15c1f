/* A counting semaphore in shared memory (futex word = the count). A process that dies
   holding units does not give them back: semaphores have no owners. Errors as error.h says:
   0 or -1 with err; the value and the init callback cannot fail. */
#ifndef SHMLUA_SEMAPHORE_H
#define SHMLUA_SEMAPHORE_H

#include <stdint.h>
#include <time.h>

#include "sync_header.h"

#define SHMLUA_SEMAPHORE_MAX 0x7fffffffu

typedef struct shmlua_semaphore_block {
  shmlua_sync_header header;
  uint32_t value;
  uint32_t sleepers;
} shmlua_semaphore_block;

extern const shmlua_sync_type shmlua_semaphore_type;

/* init callback: arg points to the uint32_t start value (<= SHMLUA_SEMAPHORE_MAX). */
int shmlua_semaphore_init(void *addr, const void *arg, shmlua_error *err);

/* Takes one unit: 0, or -1 with EAGAIN if none is free. */
int shmlua_semaphore_tryacquire(shmlua_semaphore_block *s, shmlua_error *err);

/* Takes one unit, waiting until deadline (NULL: no limit): 0, or -1 with ETIMEDOUT or
   EINTR. */
int shmlua_semaphore_acquire(shmlua_semaphore_block *s, const struct timespec *deadline,
                             shmlua_error *err);

/* Gives back n units (waking up to n sleepers): 0, or -1 with EOVERFLOW past
   SHMLUA_SEMAPHORE_MAX (then nothing changes). */
int shmlua_semaphore_release(shmlua_semaphore_block *s, uint32_t n, shmlua_error *err);

uint32_t shmlua_semaphore_value(const shmlua_semaphore_block *s);

#endif
