/* A bounded multi-producer multi-consumer queue of byte strings in shared memory: a ring of
   length-prefixed messages, bounded in messages and in payload bytes, guarded by a robust
   mutex. A message is in the queue once its push has moved the tail, and out once its pop
   has moved the head: a process that dies in between leaves it wholly in or wholly out
   (the next locker recounts the ring), so messages are never torn or duplicated. */
#ifndef SHMLUA_QUEUE_H
#define SHMLUA_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sync_header.h"

#define SHMLUA_QUEUE_MESSAGE_MAX 0xffffffffu /* a message's length is stored in 32 bits */

typedef struct shmlua_queue_block {
  shmlua_sync_header header;
  pthread_mutex_t lock; /* robust: guards everything below but the futex words */
  uint32_t items;       /* futex word: bumped after each push and at shutdown */
  uint32_t space;       /* futex word: bumped after each pop and at shutdown */
  uint32_t pop_sleepers;
  uint32_t push_sleepers;
  uint32_t max_messages;
  uint32_t ended; /* 1 after shutdown */
  uint64_t max_bytes;
  uint64_t ring_size; /* max_bytes + 4 * max_messages: room for every prefix */
  uint64_t head, tail; /* byte positions that only grow; ring offset is pos % ring_size */
  uint64_t count, used; /* messages and payload bytes between head and tail */
  unsigned char ring[];
} shmlua_queue_block;

typedef struct shmlua_queue_limits {
  uint64_t messages; /* 1 .. UINT32_MAX */
  uint64_t bytes;    /* 1 .. SHMLUA_QUEUE_MESSAGE_MAX: payload bytes, prefixes not counted */
} shmlua_queue_limits;

/* A process's handle: the limits are copied at open so a peer cannot change ours. */
typedef struct shmlua_queue {
  shmlua_queue_block *q;
  uint64_t max_bytes, ring_size;
  uint32_t max_messages;
} shmlua_queue;

extern const shmlua_sync_type shmlua_queue_type;

/* Layout size for limits; 0 (with err) when the limits are out of range. */
size_t shmlua_queue_layout_size(const shmlua_queue_limits *limits, shmlua_error *err);

/* init callback: arg is the shmlua_queue_limits. */
int shmlua_queue_init(void *addr, const void *arg, shmlua_error *err);

void shmlua_queue_open(shmlua_queue *h, void *addr);

/* Pushes len bytes. wait = 0 fails with EAGAIN when full (and waits at most 1 s for the
   lock, then ETIMEDOUT); otherwise waits for room until deadline (NULL: no limit). 0, EAGAIN, ETIMEDOUT, EINTR, EPIPE (shut down), EMSGSIZE
   (longer than the byte capacity), ENOTRECOVERABLE. */
int shmlua_queue_push(shmlua_queue *h, const void *data, size_t len, int wait,
                      const struct timespec *deadline);

/* Where a pop copies its message: a buffer of at least len bytes, or NULL (then the pop
   fails with ENOMEM and the message stays). Called with the queue locked: must not block. */
typedef void *(*shmlua_queue_reserve)(void *ud, size_t len);

/* Pops the oldest message into reserve(ud, len), its length in *len. wait as for push.
   0, EAGAIN, ETIMEDOUT, EINTR, EPIPE (shut down and empty), ENOMEM, ENOTRECOVERABLE. */
int shmlua_queue_pop(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud, size_t *len,
                     int wait, const struct timespec *deadline);

/* No more pushes: pushers get EPIPE, poppers get the rest and then EPIPE. Wakes all. */
int shmlua_queue_shutdown(shmlua_queue *h);

uint64_t shmlua_queue_count(const shmlua_queue *h);
int shmlua_queue_ended(const shmlua_queue *h);

#endif
