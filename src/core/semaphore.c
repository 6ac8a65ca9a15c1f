/* Counting semaphore: compare-and-swap on the count, futex sleep when it is zero. */
#include "semaphore.h"

#include <errno.h>

#include "sync_wait.h"

/* So a release's n, at most the maximum, is a valid wake count. */
_Static_assert(SHMLUA_SEMAPHORE_MAX <= INT32_MAX, "semaphore maximum outgrew a wake count");

static int check_layout(const void *bytes, size_t size, shmlua_error *err) {
  const shmlua_semaphore_block *s = bytes;
  (void)size; /* t->size, checked already */
  if (s->value > SHMLUA_SEMAPHORE_MAX)
    return shmlua_failf(err, EPROTO, "semaphore value %u out of range", (unsigned)s->value);
  return 0;
}

const shmlua_sync_type shmlua_semaphore_type = {SHMLUA_KIND_SEMAPHORE, "semaphore",
                                                sizeof(shmlua_semaphore_block), check_layout};

int shmlua_semaphore_init(void *addr, const void *arg, shmlua_error *err) {
  (void)err;
  ((shmlua_semaphore_block *)addr)->value = *(const uint32_t *)arg;
  return 0;
}

/* Whether a unit was free and is ours now. */
static int take(shmlua_semaphore_block *s) {
  uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
  while (v > 0)
    if (__atomic_compare_exchange_n(&s->value, &v, v - 1, 1, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED))
      return 1;
  return 0;
}

int shmlua_semaphore_tryacquire(shmlua_semaphore_block *s, shmlua_error *err) {
  return take(s) ? 0 : shmlua_failcode(err, EAGAIN, "semaphore");
}

int shmlua_semaphore_acquire(shmlua_semaphore_block *s, const struct timespec *deadline,
                             shmlua_error *err) {
  while (!take(s))
    if (shmlua_sync_sleep(&s->value, 0, &s->sleepers, deadline, err) != 0)
      return -1;
  return 0;
}

int shmlua_semaphore_release(shmlua_semaphore_block *s, uint32_t n, shmlua_error *err) {
  uint32_t v = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
  if (n == 0)
    return 0; /* nothing to give, nobody to wake */
  do
    if (n > SHMLUA_SEMAPHORE_MAX - v)
      return shmlua_failcode(err, EOVERFLOW, "semaphore");
  while (!__atomic_compare_exchange_n(&s->value, &v, v + n, 1, __ATOMIC_SEQ_CST,
                                      __ATOMIC_RELAXED));
  shmlua_sync_wake(&s->value, &s->sleepers, (int)n);
  return 0;
}

uint32_t shmlua_semaphore_value(const shmlua_semaphore_block *s) {
  return __atomic_load_n(&s->value, __ATOMIC_RELAXED);
}
