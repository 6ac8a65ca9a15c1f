/* C floor of the operations between processes: futex and spinning ping-pong, atomics, a
   robust mutex, a pipe and a bare ring carrying 64-byte messages, 1 MiB messages copied in
   and out of shared memory, fork and posix_spawn. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbench.h"
#include "handoff.h"

enum { MESSAGE = 64, SPIN_LOOKS = SHMLUA_CBENCH_SPIN_LOOKS };

extern char **environ;

static pid_t start_child(void) {
  pid_t pid = fork();
  if (pid < 0)
    shmlua_cbench_die("fork");
  return pid;
}

static void reap(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    shmlua_cbench_die("child failed");
}

/* Ping-pong on one shared word: the parent sets 1, the child answers 0. One round trip per
   operation; the child counts the rounds it saw, which is the check. polite: spin as shmlua
   does, and wake only a counted sleeper; else straight to the futex, waking every time. */
static double pingpong(long n, int polite, int64_t *check) {
  uint32_t *w = (uint32_t *)shmlua_cbench_shared(64), *sleepers = polite ? w + 2 : NULL;
  int spin = polite ? SPIN_LOOKS : 0;
  int64_t t0 = 0;
  pid_t pid = start_child();
  if (pid == 0) {
    for (long i = 0; i <= n; i++) {
      shmlua_cbench_await(w, 1, spin, polite, w + 2);
      w[1]++;
      shmlua_cbench_hand_over(w, 0, sleepers);
    }
    _exit(0);
  }
  for (long i = 0; i <= n; i++) { /* round 0 waits for the child to be running */
    if (i == 1)
      t0 = shmlua_cbench_now();
    shmlua_cbench_hand_over(w, 1, sleepers);
    shmlua_cbench_await(w, 0, spin, polite, w + 2);
  }
  t0 = shmlua_cbench_now() - t0;
  reap(pid);
  *check = (int64_t)w[1] - 1;
  return (double)t0 / (double)n;
}

static double pingpong_futex(long n, long size, char **args, int64_t *check) {
  (void)size, (void)args;
  return pingpong(n, 0, check);
}

static double pingpong_spin(long n, long size, char **args, int64_t *check) {
  (void)size, (void)args;
  return pingpong(n, 1, check);
}

/* Two processes each add 1 n times to one shared counter: time per add, both together. */
static double atomic_add(long n, long size, char **args, int64_t *check) {
  int64_t *word = (int64_t *)shmlua_cbench_shared(64), t0;
  uint32_t *go = (uint32_t *)(word + 4);
  pid_t pid;
  (void)size, (void)args;
  pid = start_child();
  if (pid == 0) {
    shmlua_cbench_await(go, 1, 0, 0, go + 1);
    for (long i = 0; i < n; i++)
      __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
    _exit(0);
  }
  t0 = shmlua_cbench_now();
  shmlua_cbench_hand_over(go, 1, NULL);
  for (long i = 0; i < n; i++)
    __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
  reap(pid);
  t0 = shmlua_cbench_now() - t0;
  *check = *word;
  return (double)t0 / (double)(2 * n);
}

/* Uncontended lock + unlock of a process-shared robust mutex (what shm.mutex is). */
static double lock_unlock(long n, long size, char **args, int64_t *check) {
  pthread_mutex_t *m = (pthread_mutex_t *)shmlua_cbench_shared(sizeof *m);
  pthread_mutexattr_t attr;
  int64_t t0;
  (void)size, (void)args;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(m, &attr);
  t0 = shmlua_cbench_now();
  for (long i = 0; i < n; i++) {
    if (pthread_mutex_lock(m) != 0)
      shmlua_cbench_die("pthread_mutex_lock");
    ++*check;
    pthread_mutex_unlock(m);
  }
  return (double)(shmlua_cbench_now() - t0) / (double)n;
}

static void read_fully(int fd, unsigned char *p, size_t len) {
  while (len > 0) {
    ssize_t got = read(fd, p, len);
    if (got <= 0)
      shmlua_cbench_die("read");
    p += got;
    len -= (size_t)got;
  }
}

/* A child writes messages 0..n of 64 bytes (sequence number first) into a pipe, one write
   each; the parent reads them. Timed from message 0 to message n; the check sums 1..n. */
static double queue(long n, long size, char **args, int64_t *check) {
  unsigned char msg[MESSAGE];
  int fds[2];
  int64_t t0 = 0;
  pid_t pid;
  (void)size, (void)args;
  if (pipe(fds) != 0)
    shmlua_cbench_die("pipe");
  pid = start_child();
  if (pid == 0) {
    close(fds[0]);
    memset(msg, 'x', sizeof msg);
    for (int64_t i = 0; i <= n; i++) {
      memcpy(msg, &i, sizeof i);
      if (write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg)
        _exit(1);
    }
    _exit(0);
  }
  close(fds[1]);
  for (long i = 0; i <= n; i++) {
    int64_t seq;
    read_fully(fds[0], msg, sizeof msg);
    if (i == 0)
      t0 = shmlua_cbench_now();
    memcpy(&seq, msg, sizeof seq);
    *check += seq;
  }
  t0 = shmlua_cbench_now() - t0;
  close(fds[0]);
  reap(pid);
  return (double)t0 / (double)n;
}

enum { SLOTS = 1024 };

/* The bare ring floor: one producer, one consumer, slots of 64 bytes, no lock, no sleep (each
   side spins until it can go on, yielding every 32 looks as shmlua's waits do, so two
   spinners on one CPU do not burn their time slices), indices cached so a side reads the
   other's only when it seems stuck. The same messages and check as queue. */
typedef struct ring {
  uint64_t head, cached_tail;
  unsigned char pad1[48];
  uint64_t tail, cached_head;
  unsigned char pad2[48];
  unsigned char slot[SLOTS][MESSAGE];
} ring;

static double queue_ring(long n, long size, char **args, int64_t *check) {
  ring *r = (ring *)shmlua_cbench_shared(sizeof(ring));
  unsigned char msg[MESSAGE];
  int64_t t0 = 0;
  pid_t pid;
  (void)size, (void)args;
  if ((pid = start_child()) == 0) {
    memset(msg, 'x', sizeof msg);
    for (int64_t i = 0; i <= n; i++) {
      uint64_t t = r->tail;
      for (unsigned looks = 1; t - r->cached_head == SLOTS; looks++)
        if ((r->cached_head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE)) + SLOTS == t)
          shmlua_cbench_relax(looks);
      memcpy(msg, &i, sizeof i);
      memcpy(r->slot[t % SLOTS], msg, MESSAGE);
      __atomic_store_n(&r->tail, t + 1, __ATOMIC_RELEASE);
    }
    _exit(0);
  }
  for (long i = 0; i <= n; i++) {
    uint64_t h = r->head;
    int64_t seq;
    for (unsigned looks = 1; h == r->cached_tail; looks++)
      if ((r->cached_tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE)) == h)
        shmlua_cbench_relax(looks);
    memcpy(msg, r->slot[h % SLOTS], MESSAGE);
    __atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
    if (i == 0)
      t0 = shmlua_cbench_now();
    memcpy(&seq, msg, sizeof seq);
    *check += seq;
  }
  t0 = shmlua_cbench_now() - t0;
  reap(pid);
  return (double)t0 / (double)n;
}

/* The floor of a big message: a child copies messages 0..n of size bytes (sequence number
   first) with memcpy into two shared slots in turn, the parent copies each out into its own
   buffer: one copy in, one out, the two overlapping as a queue with room for two lets
   them, handed over by a flag per slot (waited for as shmlua waits). Timed from message 0
   to n; the check sums the sequence numbers. */
static double big_copy(long n, long size, char **args, int64_t *check) {
  unsigned char *shared = shmlua_cbench_shared(2 * (size_t)size + 64),
                *mine = malloc((size_t)size), *out = malloc((size_t)size);
  uint32_t *full = (uint32_t *)shared; /* full[0], full[1]: the slots; full[2..3]: sleepers */
  int64_t t0 = 0;
  pid_t pid;
  (void)args;
  if (!mine || !out)
    shmlua_cbench_die("malloc");
  memset(mine, 'x', (size_t)size);
  memset(out, 0, (size_t)size);
  if ((pid = start_child()) == 0) {
    for (int64_t i = 0; i <= n; i++) {
      uint32_t *slot = full + i % 2;
      memcpy(mine, &i, sizeof i);
      shmlua_cbench_await(slot, 0, SPIN_LOOKS, 1, slot + 2);
      memcpy(shared + 64 + (size_t)(i % 2) * (size_t)size, mine, (size_t)size);
      shmlua_cbench_hand_over(slot, 1, slot + 2);
    }
    _exit(0);
  }
  for (long i = 0; i <= n; i++) {
    uint32_t *slot = full + i % 2;
    int64_t seq;
    shmlua_cbench_await(slot, 1, SPIN_LOOKS, 1, slot + 2);
    memcpy(out, shared + 64 + (size_t)(i % 2) * (size_t)size, (size_t)size);
    shmlua_cbench_hand_over(slot, 0, slot + 2);
    if (i == 0)
      t0 = shmlua_cbench_now();
    memcpy(&seq, out, sizeof seq);
    *check += seq;
  }
  t0 = shmlua_cbench_now() - t0;
  reap(pid);
  free(mine);
  free(out);
  return (double)t0 / (double)n;
}

/* Start + wait of a forked child that exits with 7 at once; the check sums exit codes. */
static double fork_wait(long n, long size, char **args, int64_t *check) {
  int64_t t0 = shmlua_cbench_now();
  (void)size, (void)args;
  for (long i = 0; i < n; i++) {
    int status;
    pid_t pid = start_child();
    if (pid == 0)
      _exit(7);
    if (waitpid(pid, &status, 0) != pid)
      shmlua_cbench_die("waitpid");
    *check += WEXITSTATUS(status);
  }
  return (double)(shmlua_cbench_now() - t0) / (double)n;
}

/* Start + wait of a program (args: the program and its arguments) that exits with 7. */
static double spawn_wait(long n, long size, char **args, int64_t *check) {
  int64_t t0 = shmlua_cbench_now();
  (void)size;
  for (long i = 0; i < n; i++) {
    int status;
    pid_t pid;
    if ((errno = posix_spawn(&pid, args[0], NULL, NULL, args, environ)) != 0)
      shmlua_cbench_die(args[0]);
    if (waitpid(pid, &status, 0) != pid)
      shmlua_cbench_die("waitpid");
    *check += WEXITSTATUS(status);
  }
  return (double)(shmlua_cbench_now() - t0) / (double)n;
}

const shmlua_cbench_op shmlua_cbench_ipc_ops[] = {{"pingpong_sem", pingpong_futex},
                                                  {"pingpong_spin", pingpong_spin},
                                                  {"atomic_add", atomic_add},
                                                  {"lock_unlock", lock_unlock},
                                                  {"queue", queue},
                                                  {"queue_ring", queue_ring},
                                                  {"big", big_copy},
                                                  {"spawn_fn", fork_wait},
                                                  {"spawn_script", spawn_wait},
                                                  {NULL, NULL}};
