/* shmlua's own C core driven from C, with no Lua in the way: what the library itself costs
   next to the raw baselines of ipc_ops.c. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbench.h"
#include "queue.h"

enum { MESSAGE = 64 };

/* Where a pop copies its message: the caller's buffer (every message here is 64 bytes). */
static void *into(void *buffer, size_t len) {
  (void)len;
  return buffer;
}

/* A queue in an anonymous shared mapping (the same layout a named block holds), so nothing
   is left in /dev/shm: room for 1024 messages of size bytes, or for 4 big ones. */
static shmlua_queue *shared_queue(shmlua_queue *h, size_t size) {
  shmlua_queue_limits limits = {1024, size <= MESSAGE ? 1024 * MESSAGE : 4 * size};
  shmlua_error err;
  size_t layout = 0;
  unsigned char *block;
  if (shmlua_queue_layout_size(&limits, &layout, &err) != 0)
    shmlua_cbench_die(err.message);
  block = shmlua_cbench_shared(layout);
  if (shmlua_queue_init(block, &limits, &err) != 0)
    shmlua_cbench_die(err.message);
  shmlua_queue_open(h, block, layout);
  return h;
}

static void finish(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    shmlua_cbench_die("child failed");
}

/* The queue rows with C at both ends: a child pushes messages 0..n of size bytes (64 if 0;
   sequence number first) through shmlua_queue_push, the parent pops them, as bench.lua's
   queue does. Timed from message 0 to message n; the check sums 1..n. */
static double stream(long n, size_t size, int64_t *check) {
  unsigned char *msg = malloc(size);
  shmlua_queue h;
  int64_t t0 = 0;
  pid_t pid;
  if (!msg)
    shmlua_cbench_die("malloc");
  shared_queue(&h, size);
  if ((pid = fork()) < 0)
    shmlua_cbench_die("fork");
  if (pid == 0) {
    memset(msg, 'x', size);
    for (int64_t i = 0; i <= n; i++) {
      memcpy(msg, &i, sizeof i);
      if (shmlua_queue_push(&h, msg, size, 1, NULL, NULL) != 0)
        _exit(1);
    }
    _exit(0);
  }
  for (long i = 0; i <= n; i++) {
    int64_t seq;
    size_t len;
    if (shmlua_queue_pop(&h, into, msg, &len, 1, NULL, NULL) != 0 || len != size)
      shmlua_cbench_die("shmlua_queue_pop");
    if (i == 0)
      t0 = shmlua_cbench_now();
    memcpy(&seq, msg, sizeof seq);
    *check += seq;
  }
  t0 = shmlua_cbench_now() - t0;
  finish(pid);
  free(msg);
  return (double)t0 / (double)n;
}

static double queue_core(long n, long size, char **args, int64_t *check) {
  (void)args;
  return stream(n, size > 0 ? (size_t)size : MESSAGE, check);
}

enum { BATCH = 64 };

/* The same stream in batches: the child pushes up to BATCH messages per
   shmlua_queue_push_many call (what went in is dropped from the batch), the parent takes up
   to BATCH per shmlua_queue_pop_many. */
static double queue_core_batch(long n, long size, char **args, int64_t *check) {
  static unsigned char msgs[BATCH][MESSAGE], got[BATCH * (MESSAGE + 4)];
  shmlua_queue_message batch[BATCH];
  shmlua_queue h;
  int64_t t0 = 0;
  long seen = 0;
  pid_t pid;
  (void)size, (void)args;
  shared_queue(&h, MESSAGE);
  if ((pid = fork()) < 0)
    shmlua_cbench_die("fork");
  if (pid == 0) {
    for (int64_t next = 0; next <= n;) {
      size_t k = 0, pushed;
      for (int64_t i = next; i <= n && k < BATCH; i++, k++) {
        memset(msgs[k], 'x', MESSAGE);
        memcpy(msgs[k], &i, sizeof i);
        batch[k].data = msgs[k];
        batch[k].len = MESSAGE;
      }
      if (shmlua_queue_push_many(&h, batch, k, &pushed, 1, NULL, NULL) != 0)
        _exit(1);
      next += (int64_t)pushed;
    }
    _exit(0);
  }
  while (seen <= n) {
    size_t count, total, at = 0, len;
    const void *data;
    if (shmlua_queue_pop_many(&h, BATCH, got, sizeof got, &count, &total, 1, NULL, NULL) != 0)
      shmlua_cbench_die("shmlua_queue_pop_many");
    if (seen == 0)
      t0 = shmlua_cbench_now();
    while (shmlua_queue_record(got, total, &at, &data, &len)) {
      int64_t seq;
      if (len != MESSAGE)
        shmlua_cbench_die("shmlua_queue_record");
      memcpy(&seq, data, sizeof seq);
      *check += seq;
      seen++;
    }
  }
  t0 = shmlua_cbench_now() - t0;
  finish(pid);
  return (double)t0 / (double)(n + 1);
}

const shmlua_cbench_op shmlua_cbench_core_ops[] = {
    {"queue_core", queue_core}, {"queue_core_batch", queue_core_batch}, {NULL, NULL}};
