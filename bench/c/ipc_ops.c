/* C floor of the operations between processes: futex and spinning ping-pong, atomics, a
   robust mutex, a pipe carrying 64-byte messages, fork and posix_spawn. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cbench.h"

enum { MESSAGE = 64, SPIN_LOOKS = 20 }; /* as shmlua's waits */

extern char **environ;

static uint32_t load(uint32_t *w) {
  return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static void futex_wait(uint32_t *w, uint32_t expected) {
  syscall(SYS_futex, w, FUTEX_WAIT, expected, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w) {
  syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Waits until *w == want: spins up to spin times, then sleeps on the futex. */
static void await(uint32_t *w, uint32_t want, int spin) {
  for (int i = 0; i < spin; i++) {
    if (load(w) == want)
      return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  for (uint32_t v; (v = load(w)) != want;)
    futex_wait(w, v);
}

static void hand_over(uint32_t *w, uint32_t value, int wake) {
  __atomic_store_n(w, value, __ATOMIC_RELEASE);
  if (wake)
    futex_wake(w);
}

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
   operation; the child counts the rounds it saw, which is the check. */
static double pingpong(long n, int spin, int wake, int64_t *check) {
  uint32_t *w = (uint32_t *)shmlua_cbench_shared(64);
  int64_t t0 = 0;
  pid_t pid = start_child();
  if (pid == 0) {
    for (long i = 0; i <= n; i++) {
      await(w, 1, spin);
      w[1]++;
      hand_over(w, 0, wake);
    }
    _exit(0);
  }
  for (long i = 0; i <= n; i++) { /* round 0 waits for the child to be running */
    if (i == 1)
      t0 = shmlua_cbench_now();
    hand_over(w, 1, wake);
    await(w, 0, spin);
  }
  t0 = shmlua_cbench_now() - t0;
  reap(pid);
  *check = (int64_t)w[1] - 1;
  return (double)t0 / (double)n;
}

static double pingpong_futex(long n, long size, char **args, int64_t *check) {
  (void)size, (void)args;
  return pingpong(n, 0, 1, check);
}

static double pingpong_spin(long n, long size, char **args, int64_t *check) {
  (void)size, (void)args;
  return pingpong(n, SPIN_LOOKS, 1, check);
}

/* Two processes each add 1 n times to one shared counter: time per add, both together. */
static double atomic_add(long n, long size, char **args, int64_t *check) {
  int64_t *word = (int64_t *)shmlua_cbench_shared(64), t0;
  uint32_t *go = (uint32_t *)(word + 4);
  pid_t pid;
  (void)size, (void)args;
  pid = start_child();
  if (pid == 0) {
    await(go, 1, 0);
    for (long i = 0; i < n; i++)
      __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
    _exit(0);
  }
  t0 = shmlua_cbench_now();
  hand_over(go, 1, 1);
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

const shmlua_cbench_op shmlua_cbench_ipc_ops[] = {
    {"pingpong_sem", pingpong_futex}, {"pingpong_spin", pingpong_spin},
    {"atomic_add", atomic_add},       {"lock_unlock", lock_unlock},
    {"queue", queue},                 {"spawn_fn", fork_wait},
    {"spawn_script", spawn_wait},     {NULL, NULL}};
