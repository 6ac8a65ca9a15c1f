/* An event (a flag processes wait for) in shared memory. The futex word holds the flag in
   bit 0 and a count of sets above it, so a waiter that saw the flag clear returns when a set
   happened meanwhile, even if a clear followed before it woke. Errors as error.h says: only
   the wait can fail (0 or -1 with err); the others cannot. */
#ifndef SHMLUA_EVENT_H
#define SHMLUA_EVENT_H

#include <stdint.h>
#include <time.h>

#include "sync_header.h"

typedef struct shmlua_event_block {
  shmlua_sync_header header;
  uint32_t state;
  uint32_t sleepers;
} shmlua_event_block;

extern const shmlua_sync_type shmlua_event_type;

/* Sets the flag and wakes every waiter (no system call when none sleeps). */
void shmlua_event_set(shmlua_event_block *e);
void shmlua_event_clear(shmlua_event_block *e);
int shmlua_event_isset(const shmlua_event_block *e);

/* The state to wait from: read it once, before the first wait. */
uint32_t shmlua_event_state(const shmlua_event_block *e);

/* Returns 0 once the flag is set, or was set after state seen was read; -1 with ETIMEDOUT
   or EINTR (call again with the same seen). */
int shmlua_event_wait(shmlua_event_block *e, uint32_t seen, const struct timespec *deadline,
                      shmlua_error *err);

#endif
