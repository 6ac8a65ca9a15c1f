/* The queue (queue.c) through its public functions only, in a real shared block: limits,
   order, full and empty, a message too long, the first try of a wait (EBUSY while another
   process holds the lock), and a consumer in another process that waits,
   gets every message in order, then sees the shutdown. (Deaths mid-commit: queue_deaths.) */
#include "queue.h"
#include "check.h"
#include "futex.h"

enum { MESSAGES = 8, BYTES = 64, STREAM = 200 };

static void *into(void *buffer, size_t len) {
  (void)len;
  return buffer;
}

static void *nowhere(void *ud, size_t len) {
  (void)ud;
  (void)len;
  return NULL;
}

static void limits(void) {
  shmlua_queue_limits none = {0, BYTES}, empty = {MESSAGES, 0}, ok = {MESSAGES, BYTES};
  shmlua_error err;
  size_t size = 0;
  CHECK_FAILS(shmlua_queue_layout_size(&none, &size, &err), err, EINVAL, "messages");
  CHECK_FAILS(shmlua_queue_layout_size(&empty, &size, &err), err, EINVAL, "bytes");
  CHECK(shmlua_queue_layout_size(&ok, &size, &err) == 0);
  CHECK(size >= sizeof(shmlua_queue_block) + BYTES);
}

static void alone(shmlua_queue *h) {
  char got[BYTES + 1], big[BYTES + 1];
  struct timespec deadline;
  size_t len;
  CHECK_ERRNO(CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR)), EAGAIN);
  CHECK_FAILS(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR), *ERR, EAGAIN, "queue: ");
  deadline = shmlua_deadline(0.02);
  CHECK_ERRNO(CODE(shmlua_queue_pop(h, into, got, &len, 1, &deadline, ERR)), ETIMEDOUT);
  memset(big, 'b', sizeof big);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, big, BYTES + 1, 0, NULL, ERR)), EMSGSIZE);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "one", 3, 0, NULL, ERR)), 0);
  /* an empty message is one */
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "", 0, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "three", 5, 0, NULL, ERR)), 0);
  CHECK_INT(shmlua_queue_count(h), 3);
  /* no buffer: it stays */
  CHECK_ERRNO(CODE(shmlua_queue_pop(h, nowhere, NULL, &len, 0, NULL, ERR)), ENOMEM);
  CHECK_INT(shmlua_queue_count(h), 3);
  if (CHECK(CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR)) == 0))
    CHECK(len == 3 && memcmp(got, "one", 3) == 0);
  if (CHECK(CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR)) == 0))
    CHECK_INT(len, 0);
  if (CHECK(CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR)) == 0))
    CHECK(len == 5 && memcmp(got, "three", 5) == 0);
  /* Full by messages, then (after emptying) by bytes. */
  for (int i = 0; i < MESSAGES; i++)
    CHECK_ERRNO(CODE(shmlua_queue_push(h, "m", 1, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "m", 1, 0, NULL, ERR)), EAGAIN);
  deadline = shmlua_deadline(0.02);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "m", 1, 1, &deadline, ERR)), ETIMEDOUT);
  while (CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR)) == 0)
    ;
  CHECK_INT(shmlua_queue_count(h), 0);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, big, BYTES, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "m", 1, 0, NULL, ERR)), EAGAIN);
  CHECK_ERRNO(CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR)), 0);
  CHECK_INT(len, BYTES);
}

/* A child attaches by name and pops with waits; the parent pushes STREAM numbered messages
   through a queue of MESSAGES, waiting for room, then shuts it down. */
/* A pop that glances at a long message (in_place_from bytes and more, in one piece) leaves
   it in and unlocked; taking it out fails once another pop took it. */
static void glances(shmlua_queue *h) {
  shmlua_queue other;
  shmlua_queue_glance g;
  char got[BYTES], wide[40];
  size_t len;
  shmlua_queue_open(&other, h->q, sizeof *h->q + h->ring_size);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "0123456789", 10, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_pop_or_glance(h, into, got, &len, 8, &g, 0, NULL, ERR)), 0);
  CHECK(g.data && len == 10 && g.len == 10 && memcmp(g.data, "0123456789", 10) == 0);
  CHECK_INT(shmlua_queue_count(h), 1);
  CHECK_ERRNO(CODE(shmlua_queue_take_glanced(h, &g, ERR)), 0);
  CHECK_INT(shmlua_queue_count(h), 0);
  /* shorter: copied as by a pop */
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "short", 5, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_pop_or_glance(h, into, got, &len, 8, &g, 0, NULL, ERR)), 0);
  CHECK(!g.data && len == 5 && memcmp(got, "short", 5) == 0);
  /* taken by another pop meanwhile */
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "abcdefghij", 10, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_pop_or_glance(h, into, got, &len, 8, &g, 0, NULL, ERR)), 0);
  CHECK(g.data != NULL);
  CHECK_ERRNO(CODE(shmlua_queue_pop(&other, into, got, &len, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_take_glanced(h, &g, ERR)), EAGAIN);
  CHECK_INT(shmlua_queue_count(h), 0);
  /* wrapped around the ring's end: copied */
  while (h->q->tail.pos % h->ring_size + SHMLUA_QUEUE_PREFIX + sizeof wide <= h->ring_size) {
    CHECK_ERRNO(CODE(shmlua_queue_push(h, "m", 1, 0, NULL, ERR)), 0);
    CHECK_ERRNO(CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, ERR)), 0);
  }
  memset(wide, 'w', sizeof wide);
  CHECK_ERRNO(CODE(shmlua_queue_push(h, wide, sizeof wide, 0, NULL, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_queue_pop_or_glance(h, into, got, &len, 8, &g, 0, NULL, ERR)), 0);
  CHECK(!g.data && len == sizeof wide && memcmp(got, wide, sizeof wide) == 0);
}

static void across_processes(shmlua_queue *h, const shmlua_name *n) {
  pid_t pid;
  if ((pid = check_fork()) == 0) {
    shmlua_block b;
    shmlua_queue mine;
    shmlua_error err;
    char got[BYTES + 1], want[32];
    size_t len;
    int rc = 0, i;
    if (!CHECK(shmlua_sync_block_attach(&b, &shmlua_queue_type, n, &err) == 0))
      check_child_exit();
    shmlua_queue_open(&mine, b.addr, b.size);
    for (i = 0;; i++) {
      struct timespec deadline = shmlua_deadline(10);
      if ((rc = CODE(shmlua_queue_pop(&mine, into, got, &len, 1, &deadline, ERR))) != 0)
        break;
      snprintf(want, sizeof want, "message %d", i);
      if (!CHECK(len == strlen(want) && memcmp(got, want, len) == 0))
        break;
    }
    CHECK_ERRNO(rc, EPIPE); /* shut down and empty */
    CHECK_INT(i, STREAM);
    shmlua_block_close(&b);
    check_child_exit();
  }
  for (int i = 0; i < STREAM; i++) {
    struct timespec deadline = shmlua_deadline(10);
    char text[32];
    int len = snprintf(text, sizeof text, "message %d", i);
    CHECK_ERRNO(CODE(shmlua_queue_push(h, text, (size_t)len, 1, &deadline, ERR)), 0);
  }
  CHECK_ERRNO(CODE(shmlua_queue_shutdown(h, ERR)), 0);
  CHECK(shmlua_queue_ended(h));
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "late", 4, 0, NULL, ERR)), EPIPE);
  CHECK(check_exited(pid, 0));
}

/* SHMLUA_QUEUE_ONCE, a wait's first try: while another process holds an end's lock (a view
   holds the head's) it fails with EBUSY at once instead of waiting, and the other end goes
   ahead; the holder itself gets EDEADLK, as from any wait. */
static void once(shmlua_queue *h, const shmlua_name *n) {
  shmlua_queue_view v;
  char got[BYTES + 1];
  size_t len;
  pid_t pid;
  CHECK_ERRNO(CODE(shmlua_queue_push(h, "held", 4, SHMLUA_QUEUE_ONCE, NULL, ERR)), 0);
  if (!CHECK(CODE(shmlua_queue_peek(h, &v, SHMLUA_QUEUE_ONCE, NULL, ERR)) == 0))
    return;
  CHECK_ERRNO(CODE(shmlua_queue_pop(h, into, got, &len, SHMLUA_QUEUE_ONCE, NULL, ERR)),
              EDEADLK);
  if ((pid = check_fork()) == 0) {
    shmlua_block b;
    shmlua_queue mine;
    shmlua_error err;
    if (!CHECK(shmlua_sync_block_attach(&b, &shmlua_queue_type, n, &err) == 0))
      check_child_exit();
    shmlua_queue_open(&mine, b.addr, b.size);
    CHECK_ERRNO(CODE(shmlua_queue_pop(&mine, into, got, &len, SHMLUA_QUEUE_ONCE, NULL, ERR)),
                EBUSY);
    CHECK_ERRNO(CODE(shmlua_queue_push(&mine, "more", 4, SHMLUA_QUEUE_ONCE, NULL, ERR)), 0);
    shmlua_block_close(&b);
    check_child_exit();
  }
  CHECK(check_exited(pid, 0));
  shmlua_queue_view_release(h, &v); /* takes "held" */
  if (CHECK(CODE(shmlua_queue_pop(h, into, got, &len, SHMLUA_QUEUE_ONCE, NULL, ERR)) == 0))
    CHECK(len == 4 && memcmp(got, "more", 4) == 0);
  CHECK_ERRNO(CODE(shmlua_queue_pop(h, into, got, &len, SHMLUA_QUEUE_ONCE, NULL, ERR)),
              EAGAIN);
  CHECK_STR(check_error()->message, "queue"); /* the code alone: no strerror lookup */
}

int main(void) {
  shmlua_queue_limits lim = {MESSAGES, BYTES};
  shmlua_name n;
  shmlua_block b;
  shmlua_queue h;
  shmlua_error err;
  size_t layout = 0;
  check_test = "queue";
  n = check_name();
  limits();
  CHECK(shmlua_queue_layout_size(&lim, &layout, &err) == 0);
  if (!CHECK(shmlua_sync_block_create(&b, &shmlua_queue_type, &n, layout, NULL,
                                      shmlua_queue_init, &lim, &err) == 0))
    return check_done();
  shmlua_queue_open(&h, b.addr, b.size);
  CHECK(!shmlua_queue_ended(&h));
  alone(&h);
  glances(&h);
  once(&h, &n);
  across_processes(&h, &n);
  shmlua_unlink(&n, &err);
  shmlua_block_close(&b);
  return check_done();
}
