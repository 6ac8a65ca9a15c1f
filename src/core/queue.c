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
#include "sync_wait.h"

enum { PREFIX = 4 };

/* Each end fits its two padded lines (a pthread mutex is 40 bytes on Linux x86-64, 64 on
   macOS), so the lines after it stay where the layout comment says. */
_Static_assert(sizeof(shmlua_queue_end) <= 128, "a queue end outgrew its two cache lines");

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
static int check(const void *bytes, size_t size, shmlua_error *err) {
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
      head_bytes > load(&q->tail.bytes) || q->head.armed > 1 || q->tail.armed > 1 ||
      q->ended > 1)
    return shmlua_failf(err, EPROTO, "queue state out of range");
  return 0;
}

const shmlua_sync_type shmlua_queue_type = {SHMLUA_KIND_QUEUE, "queue", 0, check};

size_t shmlua_queue_layout_size(const shmlua_queue_limits *l, shmlua_error *err) {
  if (l->messages < 1 || l->messages > UINT32_MAX) {
    shmlua_failf(err, EINVAL, "capacity in messages must be 1..%u", UINT32_MAX);
    return 0;
  }
  if (l->bytes < 1 || l->bytes > SHMLUA_QUEUE_MESSAGE_MAX) {
    shmlua_failf(err, EINVAL, "capacity in bytes must be 1..%u", SHMLUA_QUEUE_MESSAGE_MAX);
    return 0;
  }
  return offsetof(shmlua_queue_block, ring) + l->bytes + PREFIX * l->messages;
}

int shmlua_queue_init(void *addr, const void *arg, shmlua_error *err) {
  shmlua_queue_block *q = addr;
  const shmlua_queue_limits *l = arg;
  int rc = shmlua_mutex_init(&q->tail.lock);
  if (rc == 0)
    rc = shmlua_mutex_init(&q->head.lock);
  if (rc != 0)
    return shmlua_fail(err, rc, "pthread_mutex_init");
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
}

/* Copies into / out of the ring at a position, wrapping at the end. */
static void ring_put(const shmlua_queue *h, uint64_t pos, const void *src, size_t len) {
  size_t at = (size_t)(pos % h->ring_size), first = (size_t)h->ring_size - at;
  if (first >= len)
    memcpy(h->q->ring + at, src, len);
  else {
    memcpy(h->q->ring + at, src, first);
    memcpy(h->q->ring, (const unsigned char *)src + first, len - first);
  }
}

static void ring_get(const shmlua_queue *h, uint64_t pos, void *dst, size_t len) {
  size_t at = (size_t)(pos % h->ring_size), first = (size_t)h->ring_size - at;
  if (first >= len)
    memcpy(dst, h->q->ring + at, len);
  else {
    memcpy(dst, h->q->ring + at, first);
    memcpy((unsigned char *)dst + first, h->q->ring, len - first);
  }
}

/* The length of the record at pos if it is whole and within tail; -1 otherwise. */
static int64_t record_at(const shmlua_queue *h, uint64_t pos, uint64_t tail) {
  uint32_t len;
  if (pos > tail || tail - pos < PREFIX)
    return -1;
  ring_get(h, pos, &len, PREFIX);
  if (len > h->max_bytes || tail - pos - PREFIX < len)
    return -1;
  return len;
}

/* Moving an end: the new values are written down (armed) before any of them is stored, so a
   locker after a death can tell what was under way. */
static void arm_to(shmlua_queue_end *e, uint64_t pos, uint64_t messages, uint64_t bytes) {
  e->next_pos = pos;
  e->next_messages = messages;
  e->next_bytes = bytes;
  __atomic_store_n(&e->armed, 1, __ATOMIC_RELEASE);
}

/* Past one record of len bytes. */
static void arm(shmlua_queue_end *e, size_t len) {
  arm_to(e, e->pos + PREFIX + len, e->messages + 1, e->bytes + len);
}

/* The tail's counts move before its position, so a popper never takes a message the counts
   do not hold yet; the head's move after its position, so a pusher never counts on room the
   ring has not given back yet. */
static void move_tail(shmlua_queue_end *e) {
  store(&e->messages, e->next_messages);
  store(&e->bytes, e->next_bytes);
  store(&e->pos, e->next_pos); /* the commit: a death before it leaves the message out */
  __atomic_store_n(&e->armed, 0, __ATOMIC_RELEASE);
}

static void move_head(shmlua_queue_end *e) {
  store(&e->pos, e->next_pos); /* the commit: a death before it leaves the message in */
  store(&e->bytes, e->next_bytes);
  store(&e->messages, e->next_messages);
  __atomic_store_n(&e->armed, 0, __ATOMIC_RELEASE);
}

/* After the holder of e's lock died: a move it committed gets its counts. One it did not
   commit gets the tail's counts back (a tail is only moved past one record, counts first);
   the head's have not moved yet (they follow its position), whatever it was moving past. */
static void settle(shmlua_queue_end *e, int is_tail) {
  if (!e->armed)
    return;
  if (e->pos == e->next_pos) {
    store(&e->messages, e->next_messages);
    store(&e->bytes, e->next_bytes);
  } else if (is_tail) {
    store(&e->messages, e->next_messages - 1);
    store(&e->bytes, e->next_bytes - (e->next_pos - e->pos - PREFIX));
  }
  e->armed = 0;
}

static int lock(shmlua_queue_block *q, shmlua_queue_end *e, const struct timespec *deadline) {
  int rc = shmlua_mutex_lock(&e->lock, deadline);
  if (rc == EOWNERDEAD) {
    settle(e, e == &q->tail);
    shmlua_mutex_consistent(&e->lock);
    rc = 0;
  }
  return rc;
}

/* Whether len more bytes fit, with head counts popped and popped_bytes (any older reading
   of them only shows less room). A count that cannot be right shows no room. */
static int fits(const shmlua_queue *h, uint64_t popped, uint64_t popped_bytes, size_t len) {
  const shmlua_queue_end *t = &h->q->tail;
  uint64_t pushed = load(&t->messages), pushed_bytes = load(&t->bytes);
  return popped <= pushed && pushed - popped < h->max_messages && popped_bytes <= pushed_bytes &&
         pushed_bytes - popped_bytes <= h->max_bytes - len;
}

static int push_locked(shmlua_queue *h, const void *data, size_t len) {
  shmlua_queue_block *q = h->q;
  uint32_t prefix = (uint32_t)len;
  if (q->ended)
    return EPIPE;
  if (!fits(h, h->seen_popped, h->seen_popped_bytes, len)) {
    h->seen_popped = load(&q->head.messages);
    h->seen_popped_bytes = load(&q->head.bytes);
    if (!fits(h, h->seen_popped, h->seen_popped_bytes, len))
      return EAGAIN;
  }
  arm(&q->tail, len);
  ring_put(h, q->tail.pos, &prefix, PREFIX);
  ring_put(h, q->tail.pos + PREFIX, data, len);
  move_tail(&q->tail);
  return 0;
}

/* A head that no record starts at (a peer wrote over the ring or the positions): give up what
   cannot be read and start again empty at the tail, taken with its lock for counts that
   match it (the only place both locks are held: head's first, so no lock order can cross).
   Armed and moved as a pop moves the head, so a death midway is settled like one. The tail
   lock is waited for as long as the pop may wait for its own; failing that, the pop fails
   with the lock's error instead of coming back to a head it still cannot read. */
static int skip_to_tail(shmlua_queue_block *q, const struct timespec *lockby) {
  int rc = lock(q, &q->tail, lockby);
  if (rc != 0)
    return rc;
  arm_to(&q->head, q->tail.pos, q->tail.messages, q->tail.bytes);
  move_head(&q->head);
  shmlua_mutex_unlock(&q->tail.lock);
  return EAGAIN; /* empty now */
}

static int pop_locked(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud, size_t *len,
                      const struct timespec *lockby) {
  shmlua_queue_block *q = h->q;
  uint64_t head = q->head.pos;
  int64_t n;
  void *dst;
  if (head >= h->seen_tail) {
    h->seen_tail = load(&q->tail.pos);
    if (head == h->seen_tail) {
      if (!__atomic_load_n(&q->ended, __ATOMIC_ACQUIRE))
        return EAGAIN;
      /* ended is stored under the tail's lock: every push before it shows by now */
      h->seen_tail = load(&q->tail.pos);
      if (head == h->seen_tail)
        return EPIPE;
    }
  }
  if ((n = record_at(h, head, h->seen_tail)) < 0) {
    h->seen_tail = 0;
    return skip_to_tail(q, lockby);
  }
  if ((dst = reserve(ud, (size_t)n)) == NULL)
    return ENOMEM;
  arm(&q->head, (size_t)n);
  ring_get(h, head + PREFIX, dst, (size_t)n);
  move_head(&q->head);
  *len = (size_t)n;
  return 0;
}

/* One direction of the queue, seen from the side that may have to wait: its end, how it
   peeks, where it sleeps, and where the other side sleeps. A push wakes one popper (one
   message feeds one); a pop wakes every pusher, since the room it made may fit several. */
typedef struct side {
  shmlua_queue_block *q;
  shmlua_queue_end *end;
  int (*step)(void *ctx, const struct timespec *lockby); /* lockby: as for lock() */
  int (*ready)(void *ctx);
  uint32_t *sleep_word, *sleepers; /* where this side waits */
  uint32_t *tell_word, *told;      /* where the other side waits */
  int wakes;
} side;

/* Runs step with the end locked, then, while it reports EAGAIN and wait is set, waits until
   ready() says the other side changed something and runs it again. On success it wakes the
   other side if it sleeps. On failure with something still ready, this call may have taken
   the one wake meant for it (a push wakes one popper): it passes the wake on. */
static int transfer(const side *s, void *ctx, int wait, const struct timespec *deadline) {
  struct timespec brief;
  const struct timespec *lockby = deadline;
  if (!wait) {
    brief = shmlua_deadline_coarse(LOCK_SECONDS);
    lockby = &brief;
  }
  for (;;) {
    int rc = lock(s->q, s->end, lockby);
    if (rc == 0) {
      rc = s->step(ctx, lockby);
      shmlua_mutex_unlock(&s->end->lock);
    }
    if (rc == 0)
      shmlua_sync_signal(s->tell_word, s->told, s->wakes);
    else if (rc != EAGAIN && s->ready(ctx))
      shmlua_sync_signal(s->sleep_word, s->sleepers, 1);
    if (rc != EAGAIN || !wait)
      return rc;
    if ((rc = shmlua_sync_await(s->ready, ctx, s->sleep_word, s->sleepers, deadline)) != 0)
      return rc;
  }
}

typedef struct pushing {
  shmlua_queue *h;
  const void *data;
  size_t len;
} pushing;

static int push_step(void *ctx, const struct timespec *lockby) {
  pushing *p = ctx;
  (void)lockby;
  return push_locked(p->h, p->data, p->len);
}

static int push_ready(void *ctx) {
  pushing *p = ctx;
  const shmlua_queue_block *q = p->h->q;
  return __atomic_load_n(&q->ended, __ATOMIC_ACQUIRE) ||
         fits(p->h, load(&q->head.messages), load(&q->head.bytes), p->len);
}

int shmlua_queue_push(shmlua_queue *h, const void *data, size_t len, int wait,
                      const struct timespec *deadline) {
  shmlua_queue_block *q = h->q;
  pushing p = {h, data, len};
  side s = {q, &q->tail, push_step, push_ready, &q->space, &q->push_sleepers,
            &q->items, &q->pop_sleepers, 1};
  if (len > h->max_bytes)
    return EMSGSIZE;
  return transfer(&s, &p, wait, deadline);
}

typedef struct popping {
  shmlua_queue *h;
  shmlua_queue_reserve reserve;
  void *ud;
  size_t *len;
} popping;

static int pop_step(void *ctx, const struct timespec *lockby) {
  popping *p = ctx;
  return pop_locked(p->h, p->reserve, p->ud, p->len, lockby);
}

static int pop_ready(void *ctx) {
  const shmlua_queue_block *q = ((popping *)ctx)->h->q;
  return load(&q->head.pos) != load(&q->tail.pos) ||
         __atomic_load_n(&q->ended, __ATOMIC_ACQUIRE);
}

int shmlua_queue_pop(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud, size_t *len,
                     int wait, const struct timespec *deadline) {
  shmlua_queue_block *q = h->q;
  popping p = {h, reserve, ud, len};
  side s = {q, &q->head, pop_step, pop_ready, &q->items, &q->pop_sleepers,
            &q->space, &q->push_sleepers, 0x7fffffff};
  return transfer(&s, &p, wait, deadline);
}

int shmlua_queue_shutdown(shmlua_queue *h) {
  shmlua_queue_block *q = h->q;
  struct timespec lockby = shmlua_deadline_coarse(LOCK_SECONDS);
  int rc = lock(q, &q->tail, &lockby);
  if (rc != 0)
    return rc;
  __atomic_store_n(&q->ended, 1, __ATOMIC_RELEASE);
  shmlua_mutex_unlock(&q->tail.lock);
  shmlua_sync_signal(&q->items, &q->pop_sleepers, 0x7fffffff);
  shmlua_sync_signal(&q->space, &q->push_sleepers, 0x7fffffff);
  return 0;
}

uint64_t shmlua_queue_count(const shmlua_queue *h) {
  uint64_t popped = load(&h->q->head.messages), pushed = load(&h->q->tail.messages);
  return pushed < popped ? 0 : pushed - popped;
}

int shmlua_queue_ended(const shmlua_queue *h) {
  return __atomic_load_n(&h->q->ended, __ATOMIC_ACQUIRE) != 0;
}
