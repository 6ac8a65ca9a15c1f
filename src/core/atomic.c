/* Atomic read-modify-write and a 64-bit wait built on the 32-bit futex. */
#include "atomic.h"

#include <errno.h>

#include "futex.h"

/* How long a 64-bit sleeper may miss a change of the high half only (see atomic.h). */
#define WAIT64_SLICE_NS 5000000L

/* One function per width from one body: the builtins are generic over the pointer type. */
#define RMW_BODY(p, op, v)                                                                    \
  switch (op) {                                                                               \
  case SHMLUA_ATOMIC_ADD:                                                                     \
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);                                        \
  case SHMLUA_ATOMIC_SUB:                                                                     \
    return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST);                                        \
  case SHMLUA_ATOMIC_AND:                                                                     \
    return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST);                                        \
  case SHMLUA_ATOMIC_OR:                                                                      \
    return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);                                         \
  case SHMLUA_ATOMIC_XOR:                                                                     \
    return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST);                                        \
  case SHMLUA_ATOMIC_EXCHANGE:                                                                \
  default:                                                                                    \
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);                                       \
  }

uint32_t shmlua_atomic_rmw32(uint32_t *p, shmlua_atomic_op op, uint32_t v){RMW_BODY(p, op, v)}

uint64_t shmlua_atomic_rmw64(uint64_t *p, shmlua_atomic_op op, uint64_t v) {
  RMW_BODY(p, op, v)
}

bool shmlua_atomic_cas32(uint32_t *p, uint32_t *expected, uint32_t desired) {
  return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}

bool shmlua_atomic_cas64(uint64_t *p, uint64_t *expected, uint64_t desired) {
  return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}

/* The 32-bit half of *p that holds the low bits, whatever the byte order. */
static uint32_t *low_half(uint64_t *p) {
  const union {
    uint16_t word;
    unsigned char first;
  } probe = {1};
  return (uint32_t *)p + (probe.first ? 0 : 1);
}

int shmlua_atomic_wait64(uint64_t *p, uint64_t expected, const struct timespec *timeout,
                         shmlua_error *err) {
  struct timespec slice = {0, WAIT64_SLICE_NS};
  shmlua_error mine;
  if (!err)
    err = &mine; /* its code decides below */
  if (__atomic_load_n(p, __ATOMIC_SEQ_CST) != expected)
    return shmlua_failcode(err, EAGAIN, "atomic wait");
  if (timeout && timeout->tv_sec == 0 && timeout->tv_nsec < slice.tv_nsec)
    slice = *timeout;
  if (shmlua_futex_wait(low_half(p), (uint32_t)expected, &slice, err) == 0)
    return 0;
  /* Equal at our look, different later: a change during the wait, whose waker may have come
     before the sleep began. */
  if (err->code == EAGAIN ||
      (err->code == ETIMEDOUT && __atomic_load_n(p, __ATOMIC_SEQ_CST) != expected))
    return 0;
  return -1;
}

int shmlua_atomic_wake64(uint64_t *p, int count) {
  return shmlua_futex_wake(low_half(p), count);
}
