/* A bounded multi-producer multi-consumer queue of byte strings in shared memory: a ring of
   length-prefixed messages, bounded in messages and in payload bytes. Pushers and poppers
   each take their own robust mutex, so a producer and a consumer never wait for each other
   or write the same cache line. A message is in the queue once its push has moved the tail,
   and out once its pop has moved the head: a process that dies in between leaves it wholly
   in or wholly out (the next locker of that end finishes or undoes its counts), so messages
   are never torn or duplicated.
   Errors as error.h says: 0 or -1 with err, whose code tells the outcomes apart (EAGAIN
   full or empty, ETIMEDOUT, EPIPE shut down, ...); open, record, the views' release, drop
   and open, count and ended cannot fail. */
#ifndef SHMLUA_QUEUE_H
#define SHMLUA_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "sync_header.h"

#define SHMLUA_QUEUE_MESSAGE_MAX 0xffffffffu /* a message's length is stored in 32 bits */
#define SHMLUA_QUEUE_PREFIX 4                /* ... in the 4 bytes before it */

/* One end of the queue (the tail pushers write at, or the head poppers read from): its
   lock, on a line of its own that only this end's side writes, then its position and how
   many messages and payload bytes have passed it, on the line the other side reads. pos is
   the commit point; next_* hold the values being committed while armed is non-zero (the
   number of records the move passes), so the next locker after a death mid-commit can
   finish or undo the counts. */
typedef struct shmlua_queue_end {
  union {
    pthread_mutex_t lock; /* robust */
    unsigned char lock_line[64];
  };
  union {
    struct {
      uint64_t pos; /* byte position that only grows; ring offset is pos % ring_size */
      uint64_t messages, bytes;
      uint64_t next_pos, next_messages, next_bytes;
      uint32_t armed;
    };
    unsigned char state_line[64];
  };
} shmlua_queue_end;

/* Limits first (written once), then each end and each futex word on 64-byte lines of its
   own (the unions pad them), so a process spinning on one does not take away the line the
   other side writes. No _Alignas: the layout is also read from buffers aligned to 8. */
typedef struct shmlua_queue_block {
  union {
    struct {
      shmlua_sync_header header;
      uint32_t max_messages;
      uint32_t ended; /* 1 after shutdown (stored under the tail's lock) */
      uint64_t max_bytes;
      uint64_t ring_size; /* max_bytes + 4 * max_messages: room for every prefix */
    };
    unsigned char limits_line[64];
  };
  shmlua_queue_end tail;
  shmlua_queue_end head;
  union {
    struct {
      uint32_t items;        /* futex word: moved after a push when a popper sleeps */
      uint32_t pop_sleeping; /* flag: a popper sleeps (shmlua_sync_await) */
    };
    unsigned char items_line[64];
  };
  union {
    struct {
      uint32_t space;         /* futex word: moved after a pop when a pusher sleeps */
      uint32_t push_sleeping; /* flag: a pusher sleeps */
    };
    unsigned char space_line[64];
  };
  unsigned char ring[];
} shmlua_queue_block;

typedef struct shmlua_queue_limits {
  uint64_t messages; /* 1 .. UINT32_MAX */
  uint64_t bytes;    /* 1 .. SHMLUA_QUEUE_MESSAGE_MAX: payload bytes, prefixes not counted */
} shmlua_queue_limits;

/* A process's handle: the limits are copied at open so a peer cannot change ours. The last
   tail and head counts this process saw are hints: positions and counts only grow, so a
   record before a tail once seen is there to pop, and room once seen is still there. */
typedef struct shmlua_queue {
  shmlua_queue_block *q;
  uint64_t max_bytes, ring_size;
  uint32_t max_messages;
  uint64_t seen_tail, seen_popped, seen_popped_bytes;
  /* Where this process last left each end: a position and its offset in the ring, so that
     the next push (pop) from there finds its offset without a division. Private: a position
     that does not match only costs the division. */
  uint64_t tail_pos, head_pos;
  size_t tail_at, head_at;
  uint64_t views; /* how many views this handle opened; odd while one is open */
  uint64_t view_next, view_bytes; /* the open view's head after it, and its length */
  pid_t view_owner; /* the process that opened it (a forked copy of the handle does not
                       hold its lock) */
} shmlua_queue;

extern const shmlua_sync_type shmlua_queue_type;

/* Layout size for limits in *size; -1 (EINVAL) when the limits are out of range. */
int shmlua_queue_layout_size(const shmlua_queue_limits *limits, size_t *size,
                             shmlua_error *err);

/* init callback: arg is the shmlua_queue_limits. */
int shmlua_queue_init(void *addr, const void *arg, shmlua_error *err);

/* Starts using a created or attached queue mapped over size bytes. */
void shmlua_queue_open(shmlua_queue *h, void *addr, size_t size);

/* The wait argument of the calls below: what they do when they cannot go ahead now. */
enum {
  SHMLUA_QUEUE_TRY = 0,  /* fail with EAGAIN when full (empty); wait at most 1 s for the lock,
                            then ETIMEDOUT */
  SHMLUA_QUEUE_WAIT = 1, /* wait for room (a message) and the lock until deadline */
  /* As TRY, but EBUSY at once when another process holds a lock it needs: the first try of a
     wait, which then needs no deadline (no clock read) when it goes ahead. Its EAGAIN and
     EBUSY come with the message "queue" alone (no strerror text: the caller waits next). */
  SHMLUA_QUEUE_ONCE = 2
};

/* Pushes len bytes, waiting as wait says (deadline: NULL for no limit, only for WAIT). 0,
   or -1 with EAGAIN, ETIMEDOUT, EINTR, EPIPE (shut down), EMSGSIZE (longer than the byte
   capacity), ENOTRECOVERABLE, EBUSY (ONCE only). */
int shmlua_queue_push(shmlua_queue *h, const void *data, size_t len, int wait,
                      const struct timespec *deadline, shmlua_error *err);

typedef struct shmlua_queue_message {
  const void *data;
  size_t len;
} shmlua_queue_message;

/* Pushes messages[0 .. count) in order, as many as fit now, under one lock and one commit:
   0 with *pushed >= 1 of them in, or a failure as push's for the first (wait: for room for
   it), none in. A message too long stops the batch before it (it fails when it comes first). */
int shmlua_queue_push_many(shmlua_queue *h, const shmlua_queue_message *messages, size_t count,
                           size_t *pushed, int wait, const struct timespec *deadline,
                           shmlua_error *err);

/* Where a pop copies its message: a buffer of at least len bytes, or NULL (then the pop
   fails with ENOMEM and the message stays). Called with the queue locked: must not block. */
typedef void *(*shmlua_queue_reserve)(void *ud, size_t len);

/* Pops the oldest message into reserve(ud, len), its length in *len. wait as for push.
   0, or -1 with EAGAIN, ETIMEDOUT, EINTR, EPIPE (shut down and empty), ENOMEM,
   ENOTRECOVERABLE, EBUSY (ONCE only). */
int shmlua_queue_pop(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud, size_t *len,
                     int wait, const struct timespec *deadline, shmlua_error *err);

/* Pops up to max (>= 1) of the oldest messages under one lock and one commit, as many as are
   there and fit in buffer (waiting as pop does only while there are none): their records,
   each a native uint32_t length then the payload, copied back to back into buffer (*total
   bytes of its capacity); *count messages. Fails as pop does, none taken; ENOBUFS when the
   first record alone does not fit (*total: the capacity it needs). shmlua_queue_record reads
   the copy. */
int shmlua_queue_pop_many(shmlua_queue *h, size_t max, void *buffer, size_t capacity,
                          size_t *count, size_t *total, int wait,
                          const struct timespec *deadline, shmlua_error *err);

/* The record at *at in a pop_many copy of total bytes: its payload in *data and length in
   *len, *at moved past it: 1, or 0 at the end (*at == total). Inline: the Lua side calls it
   for every message it makes a string of. */
static inline int shmlua_queue_record(const void *copy, size_t total, size_t *at,
                                      const void **data, size_t *len) {
  const unsigned char *p = copy;
  uint32_t n;
  if (*at >= total || total - *at < SHMLUA_QUEUE_PREFIX)
    return 0;
  memcpy(&n, p + *at, SHMLUA_QUEUE_PREFIX);
  if (n > total - *at - SHMLUA_QUEUE_PREFIX)
    return 0;
  *data = p + *at + SHMLUA_QUEUE_PREFIX;
  *len = n;
  *at += SHMLUA_QUEUE_PREFIX + (size_t)n;
  return 1;
}

/* Zero-copy receive. The oldest message, left in the ring: part[0] (len[0] bytes) then, when
   it wraps around the ring's end, part[1] (len[1] bytes, else 0). The head's lock stays
   held, so the bytes stay put and no other popper moves past them, until
   shmlua_queue_view_release takes the message out (and lets pushers reuse its room) or
   shmlua_queue_view_drop leaves it in; a process that dies meanwhile leaves it in. One view
   per handle at a time (this process holds the lock: its own pop or view fails with
   EDEADLK). wait, deadline and failures as for pop. */
typedef struct shmlua_queue_view {
  const unsigned char *part[2];
  size_t len[2];
  uint64_t id; /* h->views when it was opened: a stale view shows as id != h->views */
} shmlua_queue_view;

int shmlua_queue_peek(shmlua_queue *h, shmlua_queue_view *v, int wait,
                      const struct timespec *deadline, shmlua_error *err);

/* For a caller whose copy out must be made by someone else (as a Lua string is, by Lua): a
   pop that only glances at a message of in_place_from bytes or more lying in one piece
   (not wrapped around the ring's end), leaving it in and the queue unlocked; else as
   shmlua_queue_pop. The glance (data not NULL) shows where its bytes are: they stay put
   while no pop takes it, so a copy made from them, then shmlua_queue_take_glanced, is a
   pop. *len: the message's length either way. */
typedef struct shmlua_queue_glance {
  const unsigned char *data;
  size_t len;
  uint64_t pos;   /* the head at the message */
  size_t at_next; /* the ring offset after it */
} shmlua_queue_glance;

int shmlua_queue_pop_or_glance(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud,
                               size_t *len, size_t in_place_from, shmlua_queue_glance *g,
                               int wait, const struct timespec *deadline, shmlua_error *err);
/* Takes the glanced message out: 0, or -1 with EAGAIN when a pop took it meanwhile (a copy
   made from the glance may be torn: drop it and pop again), or the lock's errors. */
int shmlua_queue_take_glanced(shmlua_queue *h, const shmlua_queue_glance *g,
                              shmlua_error *err);
/* Whether v is the view h has open now. */
int shmlua_queue_view_open(const shmlua_queue *h, const shmlua_queue_view *v);
/* Takes the viewed message out and unlocks the head (nothing if v is not open, or in a
   forked child of the process that opened it, which does not hold the lock). */
void shmlua_queue_view_release(shmlua_queue *h, const shmlua_queue_view *v);
/* Unlocks the head leaving the message in, if h has a view open (before unmapping). */
void shmlua_queue_view_drop(shmlua_queue *h);

/* No more pushes: pushers get EPIPE, poppers get the rest and then EPIPE. Wakes all. */
int shmlua_queue_shutdown(shmlua_queue *h, shmlua_error *err);

uint64_t shmlua_queue_count(const shmlua_queue *h);
int shmlua_queue_ended(const shmlua_queue *h);

#endif
