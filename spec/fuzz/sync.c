/* Fuzz target: the headers of synchronization objects (src/core/sync_header.c and each
   kind's layout check) as a peer may leave them. The first byte picks the kind the block is
   attached as; the rest is the block. What passes is then used the way an attacher would,
   with only non-blocking calls. The process-shared pthread mutex inside some layouts is
   re-initialized first: its bytes belong to the C library, not to a format of ours. A queue
   is also made correctly, opened, and then overwritten, as a peer could do after attach. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "barrier.h"
#include "cond.h"
#include "event.h"
#include "mutex.h"
#include "queue.h"
#include "require.h"
#include "semaphore.h"

static const shmlua_sync_type *const types[] = {
    &shmlua_mutex_type, &shmlua_semaphore_type, &shmlua_barrier_type,
    &shmlua_event_type, &shmlua_cond_type,      &shmlua_queue_type,
};

/* The pop buffer: kept in *ud for the caller to free; none for an absurd length. */
static void *reserve(void *ud, size_t len) {
  void **got = ud;
  return *got = len <= 4096 ? malloc(len ? len : 1) : NULL;
}

/* Takes up to 4 records at once, one view and one glance, and walks what they give: every
   record within the copy, every view and glance within the ring. */
static void batch_and_view(shmlua_queue *h) {
  static const shmlua_queue_message two[] = {{"one", 3}, {"and two", 7}};
  unsigned char copy[256];
  size_t count, total, at = 0, len, pushed, seen = 0;
  const void *data;
  void *got = NULL;
  shmlua_queue_view v;
  shmlua_queue_glance g;
  shmlua_error err;
  if (shmlua_queue_pop_many(h, 4, copy, sizeof copy, &count, &total, 0, NULL, NULL) == 0) {
    while (shmlua_queue_record(copy, total, &at, &data, &len))
      seen++;
    REQUIRE(seen == count && at == total && total <= sizeof copy);
  }
  if (shmlua_queue_peek(h, &v, 0, NULL, NULL) == 0) {
    REQUIRE(v.part[0] >= h->q->ring && v.part[0] + v.len[0] <= h->q->ring + h->ring_size);
    REQUIRE(v.len[1] == 0 || v.part[1] + v.len[1] <= h->q->ring + h->ring_size);
    shmlua_queue_view_release(h, &v);
  }
  if (shmlua_queue_pop_or_glance(h, reserve, &got, &len, 4, &g, 0, NULL, NULL) == 0 &&
      g.data) {
    REQUIRE(g.len == len && g.data >= h->q->ring && g.data + len <= h->q->ring + h->ring_size);
    (void)shmlua_queue_take_glanced(h, &g, NULL);
  }
  free(got);
  int rc = shmlua_queue_push_many(h, two, 2, &pushed, 0, NULL, &err);
  REQUIRE(rc == 0 || err.code == EAGAIN || err.code == EPIPE || err.code == EMSGSIZE);
}

/* Pops and pushes through handle h: every access stays in the ring h was opened with. */
static void pop_and_push(shmlua_queue *h) {
  static const char message[] = "a message of some bytes";
  for (int round = 0; round < 3; round++) {
    int wait = round == 1 ? SHMLUA_QUEUE_ONCE : SHMLUA_QUEUE_TRY; /* the binding's first try */
    size_t len;
    void *got = NULL;
    shmlua_error err;
    int rc = shmlua_queue_pop(h, reserve, &got, &len, wait, NULL, NULL);
    (void)rc;
    free(got);
    rc = shmlua_queue_push(h, message, (size_t)round * 7 % sizeof message, wait, NULL, &err);
    REQUIRE(rc == 0 || err.code == EAGAIN || err.code == EPIPE || err.code == EMSGSIZE);
    batch_and_view(h);
  }
  (void)shmlua_queue_count(h);
  REQUIRE(shmlua_queue_shutdown(h, NULL) == 0);
}

/* A queue that passed the checks. */
static void use_queue(void *addr, size_t size) {
  shmlua_queue_block *q = addr;
  shmlua_queue h;
  REQUIRE(shmlua_mutex_init(&q->tail.lock, NULL) == 0);
  REQUIRE(shmlua_mutex_init(&q->head.lock, NULL) == 0);
  shmlua_queue_open(&h, addr, size);
  pop_and_push(&h);
}

/* Copies src over the layout at dst from offset from, up to to (both within size). */
static void overwrite(unsigned char *dst, const uint8_t *src, size_t size, size_t from,
                      size_t to) {
  if (to > size)
    to = size;
  if (from < to)
    memcpy(dst + from, src + from, to - from);
}

/* A correct queue (limits from the first two bytes) overwritten by a peer with the rest of
   the input (all but its two locks), after it was opened or (odd first byte: the peer was
   quicker than the attach) between its check and its opening: the handle's limits must keep
   every access inside the ring, whatever the block says now. */
static void scribbled_queue(const uint8_t *data, size_t size) {
  shmlua_queue_limits limits;
  shmlua_queue h;
  shmlua_error err;
  shmlua_queue_block *q;
  size_t layout, tail_lock = offsetof(shmlua_queue_block, tail.lock),
                 head_lock = offsetof(shmlua_queue_block, head.lock);
  if (size < 2)
    return;
  limits.messages = 1 + data[0] % 8;
  limits.bytes = 1 + data[1] % 64;
  REQUIRE(shmlua_queue_layout_size(&limits, &layout, &err) == 0);
  q = calloc(1, layout);
  REQUIRE(q != NULL);
  REQUIRE(shmlua_queue_init(q, &limits, &err) == 0);
  int opened_first = data[0] % 2 == 0;
  if (opened_first)
    shmlua_queue_open(&h, q, layout);
  data += 2;
  size = size - 2 < layout ? size - 2 : layout;
  overwrite((unsigned char *)q, data, size, 0, tail_lock);
  overwrite((unsigned char *)q, data, size, tail_lock + sizeof q->tail.lock, head_lock);
  overwrite((unsigned char *)q, data, size, head_lock + sizeof q->head.lock, layout);
  if (!opened_first)
    shmlua_queue_open(&h, q, layout);
  pop_and_push(&h);
  free(q);
}

static void use(const shmlua_sync_type *t, void *addr, size_t size) {
  switch (t->kind) {
  case SHMLUA_KIND_SEMAPHORE:
    if (shmlua_semaphore_tryacquire(addr, NULL) == 0)
      REQUIRE(shmlua_semaphore_release(addr, 1, NULL) == 0);
    break;
  case SHMLUA_KIND_EVENT:
    shmlua_event_set(addr);
    REQUIRE(shmlua_event_isset(addr));
    shmlua_event_clear(addr);
    break;
  case SHMLUA_KIND_COND: {
    shmlua_name name, again;
    shmlua_error err;
    REQUIRE(shmlua_cond_mutex_name(addr, &name, &err) == 0);
    REQUIRE(shmlua_name_check(&again, name.path, strlen(name.path), NULL) == 0);
    shmlua_cond_signal(addr, 1);
    break;
  }
  case SHMLUA_KIND_BARRIER: {
    shmlua_barrier h;
    REQUIRE(shmlua_mutex_init(&((shmlua_barrier_block *)addr)->lock, NULL) == 0);
    if (shmlua_barrier_open(&h, addr, size, NULL) == 0) {
      (void)shmlua_barrier_isbroken(&h);
      shmlua_barrier_close(&h);
    }
    break;
  }
  case SHMLUA_KIND_QUEUE:
    use_queue(addr, size);
    break;
  default:
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const shmlua_sync_type *t;
  unsigned char *block;
  shmlua_error err;
  if (size < 1)
    return 0;
  t = types[data[0] % (sizeof types / sizeof types[0])];
  block = fuzz_block(data + 1, size - 1);
  if (shmlua_sync_validate(t, block, size - 1, &err) == 0)
    use(t, block, size - 1);
  else
    REQUIRE_MESSAGE(&err);
  free(block);
  if (t->kind == SHMLUA_KIND_QUEUE)
    scribbled_queue(data + 1, size - 1);
  return 0;
}
