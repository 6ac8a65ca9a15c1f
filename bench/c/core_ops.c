/* shmlua's own C core driven from C, with no Lua in the way: what the library itself costs
   next to the raw baselines of ipc_ops.c. */
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

/* The queue row with C at both ends: a child pushes messages 0..n of 64 bytes (sequence
   number first) through shmlua_queue_push, the parent pops them, as bench.lua's queue does.
   The queue lives in an anonymous shared mapping (the same layout a named block holds), so
   nothing is left in /dev/shm. Timed from message 0 to message n; the check sums 1..n. */
static double queue_core(long n, long size, char **args, int64_t *check) {
  shmlua_queue_limits limits = {1024, 1024 * MESSAGE};
  shmlua_error err;
  size_t layout = shmlua_queue_layout_size(&limits, &err);
  unsigned char *block = shmlua_cbench_shared(layout), msg[MESSAGE];
  shmlua_queue h;
  int64_t t0 = 0;
  pid_t pid;
  (void)size, (void)args;
  if (shmlua_queue_init(block, &limits, &err) != 0)
    shmlua_cbench_die(err.message);
  shmlua_queue_open(&h, block, layout);
  if ((pid = fork()) < 0)
    shmlua_cbench_die("fork");
  if (pid == 0) {
    memset(msg, 'x', sizeof msg);
    for (int64_t i = 0; i <= n; i++) {
      memcpy(msg, &i, sizeof i);
      if (shmlua_queue_push(&h, msg, sizeof msg, 1, NULL) != 0)
        _exit(1);
    }
    _exit(0);
  }
  for (long i = 0; i <= n; i++) {
    int64_t seq;
    size_t len;
    if (shmlua_queue_pop(&h, into, msg, &len, 1, NULL) != 0 || len != sizeof msg)
      shmlua_cbench_die("shmlua_queue_pop");
    if (i == 0)
      t0 = shmlua_cbench_now();
    memcpy(&seq, msg, sizeof seq);
    *check += seq;
  }
  t0 = shmlua_cbench_now() - t0;
  if (waitpid(pid, NULL, 0) != pid)
    shmlua_cbench_die("waitpid");
  return (double)t0 / (double)n;
}

const shmlua_cbench_op shmlua_cbench_core_ops[] = {{"queue_core", queue_core}, {NULL, NULL}};
