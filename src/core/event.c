/* Event: a flag plus a count of sets in one futex word. */
#include "event.h"

#include <errno.h>

#include "sync_wait.h"

const shmlua_sync_type shmlua_event_type = {SHMLUA_KIND_EVENT, "event",
                                            sizeof(shmlua_event_block), NULL};

void shmlua_event_set(shmlua_event_block *e) {
  uint32_t s = __atomic_load_n(&e->state, __ATOMIC_RELAXED);
  do
    if (s & 1u)
      return;
  while (!__atomic_compare_exchange_n(&e->state, &s, (s + 2u) | 1u, 1, __ATOMIC_SEQ_CST,
                                      __ATOMIC_RELAXED));
  shmlua_sync_wake(&e->state, &e->sleepers, 0x7fffffff);
}

void shmlua_event_clear(shmlua_event_block *e) {
  __atomic_and_fetch(&e->state, ~1u, __ATOMIC_SEQ_CST);
}

int shmlua_event_isset(const shmlua_event_block *e) {
  return (int)(__atomic_load_n(&e->state, __ATOMIC_ACQUIRE) & 1u);
}

uint32_t shmlua_event_state(const shmlua_event_block *e) {
  return __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
}

int shmlua_event_wait(shmlua_event_block *e, uint32_t seen, const struct timespec *deadline,
                      shmlua_error *err) {
  for (;;) {
    uint32_t now = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
    if ((now & 1u) || (now >> 1) != (seen >> 1))
      return 0;
    if (shmlua_sync_sleep(&e->state, now, &e->sleepers, deadline, err) != 0)
      return -1;
  }
}
