/* Sequentially consistent atomic operations on 32- and 64-bit words in shared memory, and
   sleeping on a 64-bit word (32-bit words sleep with futex.h directly). Errors as error.h
   says: only the wait can fail (0 or -1 with err); the others return their value. */
#ifndef SHMLUA_ATOMIC_H
#define SHMLUA_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

typedef enum shmlua_atomic_op {
  SHMLUA_ATOMIC_ADD,
  SHMLUA_ATOMIC_SUB,
  SHMLUA_ATOMIC_AND,
  SHMLUA_ATOMIC_OR,
  SHMLUA_ATOMIC_XOR,
  SHMLUA_ATOMIC_EXCHANGE,
} shmlua_atomic_op;

/* Applies op with v to *p (arithmetic wraps modulo 2^32 or 2^64); returns the old value. */
uint32_t shmlua_atomic_rmw32(uint32_t *p, shmlua_atomic_op op, uint32_t v);
uint64_t shmlua_atomic_rmw64(uint64_t *p, shmlua_atomic_op op, uint64_t v);

/* Stores desired if *p == *expected and returns true; otherwise returns false. Either way
   *expected receives the value found. */
bool shmlua_atomic_cas32(uint32_t *p, uint32_t *expected, uint32_t desired);
bool shmlua_atomic_cas64(uint64_t *p, uint64_t *expected, uint64_t desired);

/* Sleeps while *p == expected, as shmlua_futex_wait does for 32-bit words (same results). The
   kernel sleeps on 32-bit words only, so this sleeps on the low half of *p and wakes up at
   least every few milliseconds to look at the whole value: a change confined to the high half
   just before the sleep began would otherwise go unnoticed. Because of those looks it may
   fail with ETIMEDOUT before timeout has passed; callers loop on their own deadline. */
int shmlua_atomic_wait64(uint64_t *p, uint64_t expected, const struct timespec *timeout,
                         shmlua_error *err);

/* Wakes up to count sleepers of shmlua_atomic_wait64 on p; returns how many were woken. */
int shmlua_atomic_wake64(uint64_t *p, int count);

#endif
