/* The message queue: a ring of [u32 length][payload] records between two ends, each with its
   own robust mutex. Pushers only write the tail's lines and read the head's counts; poppers
   only write the head's lines and read the tail's position. A side that finds nothing to do
   peeks until the other side changes something, then sleeps on its futex word, which the
   other side moves only when it has a sleeper to wake. */
#include "queue.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "futex.h"
#include "mutex.h"
#include "self.h"
#include "sync_wait.h"

enum { PREFIX = SHMLUA_QUEUE_PREFIX };

/* Each end's lock fits its padded line (a pthread mutex is 40 bytes on Linux x86-64, 64 on
   macOS), and so does its state, so the lines after them stay where the layout says. */
_Static_assert(sizeof(pthread_mutex_t) <= 64, "a queue end's lock outgrew its cache line");
_Static_assert(sizeof(shmlua_queue_end) == 128, "a queue end outgrew its two cache lines");

/* How long the forms that do not wait (try_push, try_pop, shutdown) still wait for the lock:
   a holder keeps it for one copy, so only a stopped process or a broken lock takes longer. */
static const double LOCK_SECONDS = 1.0;

static uint64_t load(const uint64_t *p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store(uint64_t *p, uint64_t v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The head is read before the tail: both only grow and the head never passes the tail, so
   a live queue read in this order always passes, whatever runs meanwhile. */
static int check_layout(const void *bytes, size_t size, shmlua_error *err) {
  const shmlua_queue_block *q = bytes;
  uint64_t head_pos, head_messages, head_bytes;
  if (size < sizeof *q)
    return shmlua_failf(err, EPROTO, "queue layout of %zu bytes is too small", size);
  if (q->max_messages == 0 || q->max_bytes == 0 || q->max_bytes > SHMLUA_QUEUE_MESSAGE_MAX ||
      q->ring_size != q->max_bytes + (uint64_t)PREFIX * q->max_messages ||
      q->ring_size != size - offsetof(shmlua_queue_block, ring))
    return shmlua_failf(err, EPROTO, "queue limits do not match its size");
  head_pos = load(&q->head.pos);
  head_messages = load(&q->head.messages);
  head_bytes = load(&q->head.bytes);
  if (head_pos > load(&q->tail.pos) || head_messages > load(&q->tail.messages) ||
      head_bytes > load(&q->tail.bytes) || q->head.armed > q->max_messages ||
      q->tail.armed > q->max_messages || q->ended > 1)
    return shmlua_failf(err, EPROTO, "queue state out of range");
  return 0;
}

const shmlua_sync_type shmlua_queue_type = {SHMLUA_KIND_QUEUE, "queue", 0, check_layout};

int shmlua_queue_layout_size(const shmlua_queue_limits *l, size_t *size, shmlua_error *err) {
  if (l->messages < 1 || l->messages > UINT32_MAX)
    return shmlua_failf(err, EINVAL, "capacity in messages must be 1..%u", UINT32_MAX);
  if (l->bytes < 1 || l->bytes > SHMLUA_QUEUE_MESSAGE_MAX)
    return shmlua_failf(err, EINVAL, "capacity in bytes must be 1..%u",
                        SHMLUA_QUEUE_MESSAGE_MAX);
  *size = offsetof(shmlua_queue_block, ring) + l->bytes + PREFIX * l->messages;
  return 0;
}

int shmlua_queue_init(void *addr, const void *arg, shmlua_error *err) {
  shmlua_queue_block *q = addr;
  const shmlua_queue_limits *l = arg;
  if (shmlua_mutex_init(&q->tail.lock, err) != 0 || shmlua_mutex_init(&q->head.lock, err) != 0)
    return -1;
  q->max_messages = (uint32_t)l->messages;
  q->max_bytes = l->bytes;
  q->ring_size = l->bytes + PREFIX * l->messages;
  return 0;
}

void shmlua_queue_open(shmlua_queue *h, void *addr, size_t size) {
  uint64_t room = size - offsetof(shmlua_queue_block, ring); /* > PREFIX once checked */
  h->q = addr;
  /* A peer may rewrite the limits between the attach's check and here: whatever they say
     now, the ring stays within the mapping and a message shorter than the ring. */
  h->ring_size = h->q->ring_size;
  if (h->ring_size <= PREFIX || h->ring_size > room)
    h->ring_size = room;
  h->max_bytes = h->q->max_bytes;
  if (h->max_bytes > h->ring_size - PREFIX)
    h->max_bytes = h->ring_size - PREFIX;
  h->max_messages = h->q->max_messages;
  if (h->max_messages == 0)
    h->max_messages = 1;
  h->seen_tail = h->seen_popped = h->seen_popped_bytes = 0;
  h->tail_pos = h->head_pos = 0;
  h->tail_at = h->head_at = 0;
  h->views = h->view_next = h->view_bytes = 0;
  h->view_owner = 0;
}

/* The ring offset of pos: at_seen when pos is pos_seen (where this process last left that
   end), else by a division. */
static size_t offset(const shmlua_queue *h, uint64_t pos, uint64_t pos_seen, size_t at_seen) {
  return pos == pos_seen ? at_seen : (size_t)(pos % h->ring_size);
}

/* The ring's bytes and size, in locals for the copy loops (a memcpy may write anything a
   char pointer reaches, so fields read through the handle would be read again after each). */
typedef struct ring {
  unsigned char *bytes;
  size_t size;
} ring;

static ring ring_of(const shmlua_queue *h) {
  ring r = {h->q->ring, (size_t)h->ring_size};
  return r;
}

/* The offset len bytes (at most the ring's size) after at. */
static size_t advance(ring r, size_t at, size_t len) {
  return len < r.size - at ? at + len : at + len - r.size;
}

/* Copies len bytes (at most the ring's size) into / out of the ring at offset at, wrapping at
   the end; returns the offset after them. */
static size_t ring_put(ring r, size_t at, const void *src, size_t len) {
  size_t first = r.size - at;
  if (first > len) {
    memcpy(r.bytes + at, src, len);
    return at + len;
  }
  memcpy(r.bytes + at, src, first);
  memcpy(r.bytes, (const unsigned char *)src + first, len - first);
  return len - first;
}

static size_t ring_get(ring r, size_t at, void *dst, size_t len) {
  size_t first = r.size - at;
  if (first > len) {
    memcpy(dst, r.bytes + at, len);
    return at + len;
  }
  memcpy(dst, r.bytes + at, first);
  memcpy((unsigned char *)dst + first, r.bytes, len - first);
  return len - first;
}

/* The length of the record at pos (ring offset at) if it is whole, within tail and at most
   max_bytes; -1 otherwise. */
static int64_t record_at(ring r, uint64_t pos, size_t at, uint64_t tail, uint64_t max_bytes) {
  uint32_t len;
  if (pos > tail || tail - pos < PREFIX)
    return -1;
  ring_get(r, at, &len, PREFIX);
  if (len > max_bytes || tail - pos - PREFIX < len)
    return -1;
  return len;
}

/* Where an end moves to: its position and its counts there. */
typedef struct place {
  uint64_t pos, messages, bytes;
} place;

/* Moving an end past records records: the new values are written down (armed) before any
   of them is stored, so a locker after a death can tell what was under way. */
static void arm_to(shmlua_queue_end *e, place to, uint32_t records) {
  e->next_pos = to.pos;
  e->next_messages = to.messages;
  e->next_bytes = to.bytes;
  __atomic_store_n(&e->armed, records, __ATOMIC_RELEASE);
}

/* The tail's counts move before its position, so a popper never takes a message the counts
   do not hold yet; the head's move after its position, so a pusher never counts on room the
   ring has not given back yet. Both store the values armed, from the caller's copy (the
   armed ones would be read back after each atomic store). */
static void move_tail(shmlua_queue_end *e, place to) {
  store(&e->messages, to.messages);
  store(&e->bytes, to.bytes);
  store(&e->pos, to.pos); /* the commit: a death before it leaves the messages out */
  __atomic_store_n(&e->armed, 0, __ATOMIC_RELEASE);
}

/* Arms the head's move and makes it (a pop copies its records before it moves the head). */
static void move_head(shmlua_queue_end *e, place to, uint32_t records) {
  arm_to(e, to, records);
  store(&e->pos, to.pos); /* the commit: a death before it leaves the messages in */
  store(&e->bytes, to.bytes);
  store(&e->messages, to.messages);
  __atomic_store_n(&e->armed, 0, __ATOMIC_RELEASE);
}

/* After the holder of e's lock died: a move it committed gets its counts. One it did not
   commit gets the tail's counts back (the tail moves past armed records, counts first, and
   every record has its prefix); the head's have not moved yet (they follow its position),
   whatever it was moving past. */
static void settle(shmlua_queue_end *e, int is_tail) {
  if (!e->armed)
    return;
  if (e->pos == e->next_pos) {
    store(&e->messages, e->next_messages);
    store(&e->bytes, e->next_bytes);
  } else if (is_tail) {
    store(&e->messages, e->next_messages - e->armed);
    store(&e->bytes, e->next_bytes - (e->next_pos - e->pos - (uint64_t)PREFIX * e->armed));
  }
  e->armed = 0;
}

/* A lock deadline that means: do not wait at all (EBUSY while another process holds it). */
static const struct timespec at_once;

/* 0 or an errno: the file's own steps answer with errnos, the public calls fill err. */
static int lock_end(shmlua_queue_block *q, shmlua_queue_end *e,
                    const struct timespec *deadline) {
  shmlua_error err;
  if ((deadline == &at_once ? shmlua_mutex_trylock(&e->lock, &err)
                            : shmlua_mutex_lock(&e->lock, deadline, &err)) == 0)
    return 0;
  if (err.code != EOWNERDEAD)
    return err.code;
  settle(e, e == &q->tail);
  shmlua_mutex_consistent(&e->lock, NULL);
  return 0;
}

/* Whether len more bytes fit after pushed messages of pushed_bytes, with head counts popped
   and popped_bytes (any older reading of them only shows less room). A count that cannot be
   right shows no room. */
static int fits(const shmlua_queue *h, uint64_t popped, uint64_t popped_bytes, uint64_t pushed,
                uint64_t pushed_bytes, size_t len) {
  return popped <= pushed && pushed - popped < h->max_messages &&
         popped_bytes <= pushed_bytes && pushed_bytes - popped_bytes <= h->max_bytes - len;
}

/* How many of messages[from .. count) fit after pushed messages of pushed_bytes more (the
   bytes they add in *bytes), with the head counts this process saw last. */
static size_t fitting(const shmlua_queue *h, const shmlua_queue_message *m, size_t count,
                      size_t from, uint64_t pushed, uint64_t *bytes) {
  size_t k = from;
  while (k < count && m[k].len <= h->max_bytes &&
         fits(h, h->seen_popped, h->seen_popped_bytes, pushed + k, *bytes, m[k].len))
    *bytes += m[k++].len;
  return k;
}

/* The copies under the lock are inlined into their steps twice each, whatever the
   compiler's estimate: once with the common case's argument a constant. */
#if defined(__GNUC__)
#define TWICE static inline __attribute__((always_inline))
#else
#define TWICE static inline
#endif

/* Inlined into push_step for a single message (count a constant 1: its loops one pass,
   nothing kept on the stack across the copy) and for batches. */
TWICE int push_locked(shmlua_queue *h, const shmlua_queue_message *m, size_t count,
                      size_t *pushed) {
  shmlua_queue_block *q = h->q;
  shmlua_queue_end *t = &q->tail;
  uint64_t bytes = t->bytes;
  place to;
  size_t k, at;
  ring r = ring_of(h);
  if (q->ended)
    return EPIPE;
  if ((k = fitting(h, m, count, 0, t->messages, &bytes)) < count) {
    /* room only grows: fresher head counts let the batch go on where it stopped */
    h->seen_popped = load(&q->head.messages);
    h->seen_popped_bytes = load(&q->head.bytes);
    k = fitting(h, m, count, k, t->messages, &bytes);
  }
  if (k == 0)
    return EAGAIN; /* a first message too long was refused before the lock */
  to = (place){t->pos + (uint64_t)PREFIX * k + (bytes - t->bytes), t->messages + k, bytes};
  at = offset(h, t->pos, h->tail_pos, h->tail_at);
  arm_to(t, to, (uint32_t)k);
  for (size_t i = 0; i < k; i++) {
    uint32_t prefix = (uint32_t)m[i].len;
    at = ring_put(r, at, &prefix, PREFIX);
    at = ring_put(r, at, m[i].data, m[i].len);
  }
  h->tail_pos = to.pos;
  h->tail_at = at;
  move_tail(t, to);
  *pushed = k;
  return 0;
}

/* A head that no record starts at (a peer wrote over the ring or the positions): give up what
   cannot be read and start again empty at the tail, taken with its lock for counts that
   match it (the only place both locks are held: head's first, so no lock order can cross).
   Armed and moved as a pop moves the head, so a death midway is settled like one. The tail
   lock is waited for as long as the pop may wait for its own; failing that, the pop fails
   with the lock's error instead of coming back to a head it still cannot read. */
static int skip_to_tail(shmlua_queue_block *q, const struct timespec *lockby) {
  int rc = lock_end(q, &q->tail, lockby);
  if (rc != 0)
    return rc;
  move_head(&q->head, (place){q->tail.pos, q->tail.messages, q->tail.bytes}, 1);
  shmlua_mutex_unlock(&q->tail.lock, NULL);
  return EAGAIN; /* empty now */
}

/* What a pop asks for: one message, its payload into reserve(ud, len) (buffer NULL), or
   (glance set) where it is when it has at least in_place_from bytes in one piece; or up to
   max whole records into buffer, as many as fit in capacity; or (view set) where the oldest
   message is, the head left as it is and locked. */
typedef struct pop_request {
  shmlua_queue *h;
  shmlua_queue_reserve reserve;
  void *ud, *buffer;
  size_t capacity, max, *count, *len;
  shmlua_queue_view *view;
  shmlua_queue_glance *glance;
  size_t in_place_from;
} pop_request;

/* What a step returns when it succeeds without a change to wake the other side for: with its
   end left locked (a view), or unlocked (a glance). */
enum { STEP_HELD = -1, STEP_UNCHANGED = -2 };

/* pop_many's copy: up to max whole records from head (ring offset *at, both moved past
   them) into buffer, as many as there are before *tail (read again when reached) and fit in
   capacity; their count (0: none readable at head), their bytes in *span and payload bytes
   in *payload. -1 when the first alone does not fit (*span: what it needs). */
static int64_t copy_records(const shmlua_queue *h, uint64_t head, uint64_t *tail, size_t *at,
                            unsigned char *buffer, size_t capacity, size_t max, uint64_t *span,
                            uint64_t *payload) {
  const shmlua_queue_block *q = h->q;
  ring r = ring_of(h);
  uint64_t max_bytes = h->max_bytes, end = *tail, taken = 0, bytes = 0;
  size_t k = 0, from = *at;
  int64_t n;
  while (k < max) {
    if (head + taken == end && (end = load(&q->tail.pos)) == head + taken)
      break;
    if ((n = record_at(r, head + taken, from, end, max_bytes)) < 0)
      break;
    /* A live queue holds at most a ring's worth; past that a peer wrote the positions (the
       first record always fits: max_bytes leaves room for its prefix). */
    if (taken + PREFIX + (uint64_t)n > r.size)
      break;
    if (taken + PREFIX + (uint64_t)n > capacity) {
      if (k > 0)
        break;
      *span = PREFIX + (uint64_t)n;
      return -1;
    }
    /* the prefix as read here, not as the ring holds it now: a peer writing over the ring
       meanwhile can change payload bytes, never the copy's framing */
    memcpy(buffer + taken, &(uint32_t){(uint32_t)n}, PREFIX);
    from = ring_get(r, advance(r, from, PREFIX), buffer + taken + PREFIX, (size_t)n);
    k++;
    taken += PREFIX + (uint64_t)n;
    bytes += (uint64_t)n;
  }
  *tail = end;
  *at = from;
  *span = taken;
  *payload = bytes;
  return (int64_t)k;
}

/* Inlined into pop_step as push_locked is: batches is 0 in the copy for the pops that take
   one message (no buffer: a pop, a glance or a view). */
TWICE int pop_locked(pop_request *p, const struct timespec *lockby, int batches) {
  shmlua_queue *h = p->h;
  shmlua_queue_block *q = h->q;
  shmlua_queue_end *e = &q->head;
  ring r = ring_of(h);
  uint64_t head = e->pos, tail = h->seen_tail, span, payload;
  size_t at;
  int64_t k;
  void *dst;
  if (head >= tail) {
    h->seen_tail = tail = load(&q->tail.pos);
    if (head == tail) {
      if (!__atomic_load_n(&q->ended, __ATOMIC_ACQUIRE))
        return EAGAIN;
      /* ended is stored under the tail's lock: every push before it shows by now */
      h->seen_tail = tail = load(&q->tail.pos);
      if (head == tail)
        return EPIPE;
    }
  }
  at = offset(h, head, h->head_pos, h->head_at);
  if (batches && p->buffer) {
    k = copy_records(h, head, &tail, &at, p->buffer, p->capacity, p->max, &span, &payload);
    h->seen_tail = tail;
    if (k < 0) {
      *p->len = (size_t)span;
      return ENOBUFS;
    }
    *p->count = (size_t)k;
    *p->len = (size_t)span;
  } else {
    /* one message (a pop or a view): its payload stays where it is until copied out */
    int64_t n = record_at(r, head, at, tail, h->max_bytes);
    k = n >= 0;
    payload = (uint64_t)n;
    span = PREFIX + payload;
    at = advance(r, at, PREFIX);
  }
  if (k == 0) {
    h->seen_tail = 0;
    return skip_to_tail(q, lockby);
  }
  if (p->view) {
    size_t first = r.size - at;
    p->view->part[0] = r.bytes + at;
    p->view->len[0] = payload < first ? (size_t)payload : first;
    p->view->part[1] = r.bytes;
    p->view->len[1] = (size_t)payload - p->view->len[0];
    h->view_next = head + span;
    h->view_bytes = payload;
    h->view_owner = shmlua_self();
    p->view->id = ++h->views;
    return STEP_HELD;
  }
  if (p->glance && payload >= p->in_place_from && payload <= r.size - at) {
    p->glance->data = r.bytes + at;
    p->glance->len = (size_t)payload;
    p->glance->pos = head;
    p->glance->at_next = advance(r, at, (size_t)payload);
    *p->len = (size_t)payload;
    return STEP_UNCHANGED;
  }
  if (!(batches && p->buffer)) {
    if ((dst = p->reserve(p->ud, (size_t)payload)) == NULL)
      return ENOMEM;
    at = ring_get(r, at, dst, (size_t)payload);
    *p->len = (size_t)payload;
  }
  move_head(e, (place){head + span, e->messages + (uint64_t)k, e->bytes + payload},
            (uint32_t)k);
  h->head_pos = head + span;
  h->head_at = at;
  return 0;
}

/* One direction of the queue, seen from the side that may have to wait: its end, how it
   peeks, where it sleeps, and where the other side sleeps. Wakes wake every sleeper of a
   side (shmlua_sync_signal): a pop may make room for several pushes, a batch of pushes feed
   several poppers. Two constant ones, pushing and popping: places are offsets in the block,
   so a call builds nothing. */
typedef struct side {
  size_t end;
  int (*step)(void *ctx, const struct timespec *lockby); /* lockby: as for lock_end() */
  int (*ready)(void *ctx);
  size_t sleep_word, sleeping; /* where this side waits */
  size_t tell_word, told;      /* where the other side waits */
} side;

#define BLOCK_FIELD(q, offset, type) ((type *)(void *)((unsigned char *)(q) + (offset)))

/* transfer's failure. The first try of a wait that cannot go ahead now (ONCE: EAGAIN, EBUSY)
   tells its code alone, with "queue" for message: its caller looks only at the code and
   goes on to wait, and strerror's text (a catalogue lookup for the locale) cost more than
   the rest of the try, about 650 instructions, on every pop that found the queue empty. */
static int failed(shmlua_error *err, int rc, int wait) {
  if (wait == SHMLUA_QUEUE_ONCE && (rc == EAGAIN || rc == EBUSY) && err) {
    err->code = rc;
    memcpy(err->message, "queue", sizeof "queue");
    return -1;
  }
  return shmlua_failcode(err, rc, "queue");
}

/* Runs step with the end locked, then, while it reports EAGAIN and wait is set, waits until
   ready() says the other side changed something and runs it again. On success it wakes the
   other side if it sleeps, unless the step holds the end (STEP_HELD, a view): then the end
   stays locked and nobody is woken yet. 0 or -1 with err. */
static int transfer(shmlua_queue_block *q, const side *s, void *ctx, int wait,
                    const struct timespec *deadline, shmlua_error *err) {
  shmlua_queue_end *end = BLOCK_FIELD(q, s->end, shmlua_queue_end);
  struct timespec brief;
  const struct timespec *lockby = deadline;
  if (wait == SHMLUA_QUEUE_ONCE)
    lockby = &at_once;
  else if (wait == SHMLUA_QUEUE_TRY) {
    brief = shmlua_deadline_coarse(LOCK_SECONDS);
    lockby = &brief;
  }
  for (;;) {
    int rc = lock_end(q, end, lockby);
    if (rc == 0) {
      if ((rc = s->step(ctx, lockby)) == STEP_HELD)
        return 0;
      shmlua_mutex_unlock(&end->lock, NULL);
    }
    if (rc == STEP_UNCHANGED)
      return 0;
    if (rc == 0) {
      shmlua_sync_signal(BLOCK_FIELD(q, s->tell_word, uint32_t),
                         BLOCK_FIELD(q, s->told, uint32_t));
      return 0;
    }
    if (rc != EAGAIN || wait != SHMLUA_QUEUE_WAIT)
      return failed(err, rc, wait);
    if (shmlua_sync_await(s->ready, ctx, BLOCK_FIELD(q, s->sleep_word, uint32_t),
                          BLOCK_FIELD(q, s->sleeping, uint32_t), deadline, err) != 0)
      return -1;
  }
}

typedef struct push_request {
  shmlua_queue *h;
  const shmlua_queue_message *m;
  size_t count, *pushed;
} push_request;

static int push_step(void *ctx, const struct timespec *lockby) {
  push_request *p = ctx;
  (void)lockby;
  if (p->count == 1)
    return push_locked(p->h, p->m, 1, p->pushed);
  return push_locked(p->h, p->m, p->count, p->pushed);
}

static int push_ready(void *ctx) {
  push_request *p = ctx;
  const shmlua_queue_block *q = p->h->q;
  return __atomic_load_n(&q->ended, __ATOMIC_ACQUIRE) ||
         fits(p->h, load(&q->head.messages), load(&q->head.bytes), load(&q->tail.messages),
              load(&q->tail.bytes), p->m[0].len);
}

static const side pushing = {offsetof(shmlua_queue_block, tail),
                             push_step,
                             push_ready,
                             offsetof(shmlua_queue_block, space),
                             offsetof(shmlua_queue_block, push_sleeping),
                             offsetof(shmlua_queue_block, items),
                             offsetof(shmlua_queue_block, pop_sleeping)};

/* Both push calls, inlined into each (a single push is most of the traffic). */
static inline int push(shmlua_queue *h, const shmlua_queue_message *messages, size_t count,
                       size_t *pushed, int wait, const struct timespec *deadline,
                       shmlua_error *err) {
  push_request p = {h, messages, count, pushed};
  *pushed = 0;
  if (count == 0)
    return 0;
  if (messages[0].len > h->max_bytes)
    return shmlua_failcode(err, EMSGSIZE, "queue");
  return transfer(h->q, &pushing, &p, wait, deadline, err);
}

int shmlua_queue_push_many(shmlua_queue *h, const shmlua_queue_message *messages, size_t count,
                           size_t *pushed, int wait, const struct timespec *deadline,
                           shmlua_error *err) {
  return push(h, messages, count, pushed, wait, deadline, err);
}

int shmlua_queue_push(shmlua_queue *h, const void *data, size_t len, int wait,
                      const struct timespec *deadline, shmlua_error *err) {
  shmlua_queue_message m = {data, len};
  size_t pushed;
  return push(h, &m, 1, &pushed, wait, deadline, err);
}

static int pop_step(void *ctx, const struct timespec *lockby) {
  pop_request *p = ctx;
  if (!p->buffer)
    return pop_locked(p, lockby, 0);
  return pop_locked(p, lockby, 1);
}

static int pop_ready(void *ctx) {
  const shmlua_queue_block *q = ((pop_request *)ctx)->h->q;
  return load(&q->head.pos) != load(&q->tail.pos) ||
         __atomic_load_n(&q->ended, __ATOMIC_ACQUIRE);
}

static const side popping = {offsetof(shmlua_queue_block, head),
                             pop_step,
                             pop_ready,
                             offsetof(shmlua_queue_block, items),
                             offsetof(shmlua_queue_block, pop_sleeping),
                             offsetof(shmlua_queue_block, space),
                             offsetof(shmlua_queue_block, push_sleeping)};

static int pop(pop_request *p, int wait, const struct timespec *deadline, shmlua_error *err) {
  return transfer(p->h->q, &popping, p, wait, deadline, err);
}

int shmlua_queue_pop(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud, size_t *len,
                     int wait, const struct timespec *deadline, shmlua_error *err) {
  pop_request p = {h, reserve, ud, NULL, 0, 1, NULL, len, NULL, NULL, 0};
  return pop(&p, wait, deadline, err);
}

int shmlua_queue_pop_or_glance(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud,
                               size_t *len, size_t in_place_from, shmlua_queue_glance *g,
                               int wait, const struct timespec *deadline, shmlua_error *err) {
  pop_request p = {h, reserve, ud, NULL, 0, 1, NULL, len, NULL, g, in_place_from};
  g->data = NULL;
  return pop(&p, wait, deadline, err);
}

/* With the head locked: moves it to next past one message of bytes, unlocks it, and wakes
   pushers waiting for the room given back (a view's release, a glance's take). */
static void take_one(shmlua_queue *h, uint64_t next, uint64_t bytes) {
  shmlua_queue_end *e = &h->q->head;
  move_head(e, (place){next, e->messages + 1, e->bytes + bytes}, 1);
  shmlua_mutex_unlock(&e->lock, NULL);
  shmlua_sync_signal(&h->q->space, &h->q->push_sleeping);
}

/* The glanced message is still the oldest while the head has not moved: its bytes stayed
   put (a pusher reuses only what a pop gave back), so a copy made meanwhile is whole. */
int shmlua_queue_take_glanced(shmlua_queue *h, const shmlua_queue_glance *g,
                              shmlua_error *err) {
  shmlua_queue_block *q = h->q;
  shmlua_queue_end *e = &q->head;
  struct timespec lockby = shmlua_deadline_coarse(LOCK_SECONDS);
  int rc = lock_end(q, e, &lockby);
  if (rc != 0)
    return shmlua_failcode(err, rc, "queue");
  if (e->pos != g->pos) {
    shmlua_mutex_unlock(&e->lock, NULL);
    return shmlua_failcode(err, EAGAIN, "queue");
  }
  h->head_pos = g->pos + PREFIX + g->len;
  h->head_at = g->at_next;
  take_one(h, h->head_pos, g->len);
  return 0;
}

int shmlua_queue_pop_many(shmlua_queue *h, size_t max, void *buffer, size_t capacity,
                          size_t *count, size_t *total, int wait,
                          const struct timespec *deadline, shmlua_error *err) {
  pop_request p = {h, NULL, NULL, buffer, capacity, max, count, total, NULL, NULL, 0};
  *count = *total = 0;
  if (max == 0)
    return 0;
  return pop(&p, wait, deadline, err);
}

int shmlua_queue_peek(shmlua_queue *h, shmlua_queue_view *v, int wait,
                      const struct timespec *deadline, shmlua_error *err) {
  size_t len;
  pop_request p = {h, NULL, NULL, NULL, 0, 1, NULL, &len, v, NULL, 0};
  if (h->views % 2) {
    if (h->view_owner == shmlua_self())
      return shmlua_failcode(err, EDEADLK, "queue"); /* one open already: its lock is ours */
    h->views++; /* a forked copy of the handle: that view and its lock are the parent's */
  }
  return pop(&p, wait, deadline, err);
}

int shmlua_queue_view_open(const shmlua_queue *h, const shmlua_queue_view *v) {
  return h->views % 2 && v->id == h->views;
}

static void view_end(shmlua_queue *h, int take) {
  h->views++;
  if (h->view_owner != shmlua_self())
    return; /* a copy made by fork: the lock is the parent's */
  if (take)
    take_one(h, h->view_next, h->view_bytes);
  else
    shmlua_mutex_unlock(&h->q->head.lock, NULL);
}

void shmlua_queue_view_release(shmlua_queue *h, const shmlua_queue_view *v) {
  if (shmlua_queue_view_open(h, v))
    view_end(h, 1);
}

void shmlua_queue_view_drop(shmlua_queue *h) {
  if (h->views % 2)
    view_end(h, 0);
}

int shmlua_queue_shutdown(shmlua_queue *h, shmlua_error *err) {
  shmlua_queue_block *q = h->q;
  struct timespec lockby = shmlua_deadline_coarse(LOCK_SECONDS);
  int rc = lock_end(q, &q->tail, &lockby);
  if (rc != 0)
    return shmlua_failcode(err, rc, "queue");
  __atomic_store_n(&q->ended, 1, __ATOMIC_RELEASE);
  shmlua_mutex_unlock(&q->tail.lock, NULL);
  shmlua_sync_signal(&q->items, &q->pop_sleeping);
  shmlua_sync_signal(&q->space, &q->push_sleeping);
  return 0;
}

uint64_t shmlua_queue_count(const shmlua_queue *h) {
  uint64_t popped = load(&h->q->head.messages), pushed = load(&h->q->tail.messages);
  return pushed < popped ? 0 : pushed - popped;
}

int shmlua_queue_ended(const shmlua_queue *h) {
  return __atomic_load_n(&h->q->ended, __ATOMIC_ACQUIRE) != 0;
}
