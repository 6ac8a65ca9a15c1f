/* The message queue: a ring of [u32 length][payload] records under a robust mutex; futex
   words with sleeper counts tell the other side something changed. */
#include "queue.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "futex.h"
#include "mutex.h"
#include "sync_wait.h"

enum { PREFIX = 4 };

/* How long the forms that do not wait (try_push, try_pop, shutdown) still wait for the lock:
   a holder keeps it for one copy, so only a stopped process or a broken lock takes longer. */
static const double LOCK_SECONDS = 1.0;

static int check(const void *bytes, size_t size, shmlua_error *err) {
  const shmlua_queue_block *q = bytes;
  if (size < sizeof *q)
    return shmlua_failf(err, EPROTO, "queue layout of %zu bytes is too small", size);
  if (q->max_messages == 0 || q->max_bytes == 0 || q->max_bytes > SHMLUA_QUEUE_MESSAGE_MAX ||
      q->ring_size != q->max_bytes + (uint64_t)PREFIX * q->max_messages ||
      q->ring_size != size - offsetof(shmlua_queue_block, ring))
    return shmlua_failf(err, EPROTO, "queue limits do not match its size");
  if (q->head > q->tail || q->tail - q->head > q->ring_size || q->count > q->max_messages ||
      q->used > q->max_bytes || q->ended > 1)
    return shmlua_failf(err, EPROTO, "queue state out of range");
  return 0;
}

const shmlua_sync_type shmlua_queue_type = {SHMLUA_KIND_QUEUE, "queue", check};

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
  int rc = shmlua_mutex_init(&q->lock);
  if (rc != 0)
    return shmlua_fail(err, rc, "pthread_mutex_init");
  q->max_messages = (uint32_t)l->messages;
  q->max_bytes = l->bytes;
  q->ring_size = l->bytes + PREFIX * l->messages;
  return 0;
}

void shmlua_queue_open(shmlua_queue *h, void *addr) {
  h->q = addr;
  h->max_bytes = h->q->max_bytes;
  h->ring_size = h->q->ring_size;
  h->max_messages = h->q->max_messages;
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

/* After a holder died (or the state was found inconsistent): count the whole records from
   head to tail again, and drop anything past the last whole one. */
static void recount(shmlua_queue *h) {
  shmlua_queue_block *q = h->q;
  uint64_t pos = q->head, tail = q->tail, n = 0, used = 0;
  if (pos > tail || tail - pos > h->ring_size)
    pos = tail = 0;
  for (int64_t len; pos < tail && n < h->max_messages && (len = record_at(h, pos, tail)) >= 0;
       n++) {
    pos += PREFIX + (uint64_t)len;
    used += (uint64_t)len;
  }
  if (q->head > pos)
    q->head = pos;
  q->tail = pos;
  q->count = n;
  q->used = used;
  q->ended = q->ended != 0;
}

static int lock(shmlua_queue *h, const struct timespec *deadline) {
  int rc = shmlua_mutex_lock(&h->q->lock, deadline);
  if (rc == EOWNERDEAD) {
    recount(h);
    shmlua_mutex_consistent(&h->q->lock);
    rc = 0;
  }
  return rc;
}

static int push_locked(shmlua_queue *h, const void *data, size_t len) {
  shmlua_queue_block *q = h->q;
  uint32_t prefix = (uint32_t)len;
  if (q->ended)
    return EPIPE;
  if (q->count >= h->max_messages || q->used > h->max_bytes - len)
    return EAGAIN;
  ring_put(h, q->tail, &prefix, PREFIX);
  ring_put(h, q->tail + PREFIX, data, len);
  /* The tail store is the commit point: a death before it leaves the message out. */
  __atomic_store_n(&q->tail, q->tail + PREFIX + len, __ATOMIC_RELEASE);
  q->count++;
  q->used += len;
  return 0;
}

static int pop_locked(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud, size_t *len) {
  shmlua_queue_block *q = h->q;
  int64_t n;
  void *dst;
  if (q->head == q->tail)
    return q->ended ? EPIPE : EAGAIN;
  if ((n = record_at(h, q->head, q->tail)) < 0) {
    recount(h); /* a peer wrote over the state: keep what can still be read */
    if ((n = record_at(h, q->head, q->tail)) < 0)
      return q->ended ? EPIPE : EAGAIN;
  }
  if ((dst = reserve(ud, (size_t)n)) == NULL)
    return ENOMEM;
  ring_get(h, q->head + PREFIX, dst, (size_t)n);
  /* The head store is the commit point: a death before it leaves the message in. */
  __atomic_store_n(&q->head, q->head + PREFIX + (uint64_t)n, __ATOMIC_RELEASE);
  q->count = q->count > 0 ? q->count - 1 : 0;
  q->used = q->used >= (uint64_t)n ? q->used - (uint64_t)n : 0;
  *len = (size_t)n;
  return 0;
}

/* Tells the other side: push wakes one popper (one message feeds one); pop wakes every
   pusher, since the room it made may fit several small messages. */
static void notify(uint32_t *word, uint32_t *sleepers, int n) {
  __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
  shmlua_sync_wake(word, sleepers, n);
}

/* Runs one push or pop (locked) with the queue locked, again each time the other side
   changes sleep_word, until it does not report EAGAIN (or at once if !wait). On success it
   tells the other side through tell_word. */
typedef struct side {
  uint32_t *sleep_word, *sleepers;  /* where this side waits */
  uint32_t *tell_word, *told;       /* where the other side waits */
  int wakes;
} side;

static int transfer(shmlua_queue *h, int (*locked)(shmlua_queue *, void *), void *ctx,
                    const side *s, int wait, const struct timespec *deadline) {
  struct timespec brief;
  const struct timespec *lockby = deadline;
  if (!wait) {
    brief = shmlua_deadline_coarse(LOCK_SECONDS);
    lockby = &brief;
  }
  for (;;) {
    uint32_t seen = __atomic_load_n(s->sleep_word, __ATOMIC_SEQ_CST);
    int rc = lock(h, lockby);
    if (rc != 0)
      return rc;
    rc = locked(h, ctx);
    shmlua_mutex_unlock(&h->q->lock);
    if (rc == 0)
      notify(s->tell_word, s->told, s->wakes);
    if (rc != EAGAIN || !wait)
      return rc;
    if ((rc = shmlua_sync_sleep(s->sleep_word, seen, s->sleepers, deadline)) != 0)
      return rc;
  }
}

typedef struct pushing {
  const void *data;
  size_t len;
} pushing;

static int push_step(shmlua_queue *h, void *ctx) {
  pushing *p = ctx;
  return push_locked(h, p->data, p->len);
}

int shmlua_queue_push(shmlua_queue *h, const void *data, size_t len, int wait,
                      const struct timespec *deadline) {
  shmlua_queue_block *q = h->q;
  pushing p = {data, len};
  side s = {&q->space, &q->push_sleepers, &q->items, &q->pop_sleepers, 1};
  if (len > h->max_bytes)
    return EMSGSIZE;
  return transfer(h, push_step, &p, &s, wait, deadline);
}

typedef struct popping {
  shmlua_queue_reserve reserve;
  void *ud;
  size_t *len;
} popping;

static int pop_step(shmlua_queue *h, void *ctx) {
  popping *p = ctx;
  return pop_locked(h, p->reserve, p->ud, p->len);
}

int shmlua_queue_pop(shmlua_queue *h, shmlua_queue_reserve reserve, void *ud, size_t *len,
                     int wait, const struct timespec *deadline) {
  shmlua_queue_block *q = h->q;
  popping p = {reserve, ud, len};
  side s = {&q->items, &q->pop_sleepers, &q->space, &q->push_sleepers, 0x7fffffff};
  return transfer(h, pop_step, &p, &s, wait, deadline);
}

int shmlua_queue_shutdown(shmlua_queue *h) {
  struct timespec lockby = shmlua_deadline_coarse(LOCK_SECONDS);
  int rc = lock(h, &lockby);
  if (rc != 0)
    return rc;
  h->q->ended = 1;
  shmlua_mutex_unlock(&h->q->lock);
  notify(&h->q->items, &h->q->pop_sleepers, 0x7fffffff);
  notify(&h->q->space, &h->q->push_sleepers, 0x7fffffff);
  return 0;
}

uint64_t shmlua_queue_count(const shmlua_queue *h) {
  return __atomic_load_n(&h->q->count, __ATOMIC_ACQUIRE);
}

int shmlua_queue_ended(const shmlua_queue *h) {
  return __atomic_load_n(&h->q->ended, __ATOMIC_ACQUIRE) != 0;
}
