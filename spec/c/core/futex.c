/* Futex waits (futex.c, sync_wait.c, atomic.c): sleeping on a word of a real shared block
   and being woken from another process, timeouts, signals, and the time helpers. */
#include <limits.h>
#include <signal.h>
#include <stdint.h>

#include "atomic.h"
#include "block.h"
#include "check.h"
#include "futex.h"
#include "sync_wait.h"

/* The shared words: a futex word, a sleeper count, a 64-bit word. */
typedef struct words {
  uint32_t word, sleepers;
  uint64_t wide;
} words;

static void time_helpers(void) {
  struct timespec t = shmlua_timespec(1.5), past, later;
  CHECK_INT(t.tv_sec, 1);
  CHECK_INT(t.tv_nsec, 500000000);
  t = shmlua_timespec(-3);
  CHECK(t.tv_sec == 0 && t.tv_nsec == 0);
  t = shmlua_timespec(0.0 / 0.0);
  CHECK(t.tv_sec == 0 && t.tv_nsec == 0);
  t = shmlua_timespec(1e300); /* saturates */
  CHECK(t.tv_sec == INT_MAX && t.tv_nsec == 0);
  past = shmlua_deadline(0);
  later = shmlua_deadline(60);
  CHECK(shmlua_before(&past, &later));
  CHECK(!shmlua_before(&later, &past));
  CHECK(!shmlua_before(&past, &past));
  CHECK(shmlua_sync_expired(&past));
  CHECK(!shmlua_sync_expired(&later));
  CHECK(!shmlua_sync_expired(NULL));
  t = shmlua_time_left(&past);
  CHECK(t.tv_sec == 0 && t.tv_nsec == 0);
  t = shmlua_time_left(&later);
  CHECK(t.tv_sec >= 58 && t.tv_sec <= 60);
}

static void alone(words *w) {
  struct timespec short_wait = {0, 50 * 1000000L}, deadline;
  double start = check_seconds();
  w->word = 5;
  /* not the value: no sleep */
  CHECK_ERRNO(CODE(shmlua_futex_wait(&w->word, 4, NULL, ERR)), EAGAIN);
  CHECK_ERRNO(CODE(shmlua_futex_wait(&w->word, 5, &short_wait, ERR)), ETIMEDOUT);
  CHECK(check_seconds() - start >= 0.049);
  CHECK_INT(shmlua_futex_wake(&w->word, 1), 0); /* nobody asleep */
  /* shmlua_sync_sleep: a word already changed returns at once; a deadline ends a sleep. */
  CHECK_ERRNO(CODE(shmlua_sync_sleep(&w->word, 4, &w->sleepers, NULL, ERR)), 0);
  start = check_seconds();
  deadline = shmlua_deadline(0.05);
  CHECK_ERRNO(CODE(shmlua_sync_sleep(&w->word, 5, &w->sleepers, &deadline, ERR)), ETIMEDOUT);
  CHECK(check_seconds() - start >= 0.049);
  CHECK_INT(w->sleepers, 0);
  /* a deadline passed */
  CHECK_ERRNO(CODE(shmlua_sync_sleep(&w->word, 5, &w->sleepers, &deadline, ERR)), ETIMEDOUT);
}

/* Waits (bounded) until *count, in shared memory, reaches want. */
static int await_count(const uint32_t *count, uint32_t want) {
  for (int ms = 0; ms < 5000; ms++) {
    if (__atomic_load_n(count, __ATOMIC_SEQ_CST) == want)
      return 1;
    usleep(1000);
  }
  return 0;
}

/* A child sleeps on the word (5 s at most); the parent's wake reaches it across processes:
   the kernel says it woke one sleeper, and the child says its wait ended by a wake. (Linux:
   the polling fallback elsewhere wakes nobody by itself.) */
static void wake_across_fork(words *w) {
#if defined(__linux__)
  double start = check_seconds();
  int woken = 0;
  pid_t pid;
  w->word = 0;
  if ((pid = check_fork()) == 0) {
    struct timespec limit = {5, 0};
    CHECK_ERRNO(CODE(shmlua_futex_wait(&w->word, 0, &limit, ERR)), 0);
    check_child_exit();
  }
  /* Wake without changing the word, until the kernel finds the sleeper. */
  while (!woken && check_seconds() - start < 5) {
    woken = shmlua_futex_wake(&w->word, 1);
    usleep(1000);
  }
  CHECK_INT(woken, 1);
  CHECK(check_exited(pid, 0));
  CHECK(check_seconds() - start < 4);
#else
  (void)w;
#endif
}

/* The same through sync_wait: the sleeper counts itself, the parent changes the word and
   wakes; the child sees the new value. */
static void sleep_and_wake(words *w) {
  pid_t pid;
  w->word = 0;
  w->sleepers = 0;
  if ((pid = check_fork()) == 0) {
    struct timespec deadline = shmlua_deadline(5);
    CHECK_ERRNO(CODE(shmlua_sync_sleep(&w->word, 0, &w->sleepers, &deadline, ERR)), 0);
    CHECK_INT(__atomic_load_n(&w->word, __ATOMIC_SEQ_CST), 1);
    check_child_exit();
  }
  CHECK(await_count(&w->sleepers, 1));
  __atomic_store_n(&w->word, 1, __ATOMIC_SEQ_CST);
  shmlua_sync_wake(&w->word, &w->sleepers, 1);
  CHECK(check_exited(pid, 0));
  CHECK_INT(w->sleepers, 0);
}

static void on_signal(int signo) {
  (void)signo;
}

/* A signal ends a sleep with EINTR (a handler without SA_RESTART, as lua.c installs). */
static void interrupted(words *w) {
  double start = check_seconds();
  int status = 0;
  pid_t pid;
  w->word = 0;
  if ((pid = check_fork()) == 0) {
    struct sigaction sa;
    struct timespec limit = {10, 0};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    __atomic_store_n(&w->sleepers, 1, __ATOMIC_SEQ_CST);
    CHECK_ERRNO(CODE(shmlua_futex_wait(&w->word, 0, &limit, ERR)), EINTR);
    check_child_exit();
  }
  CHECK(await_count(&w->sleepers, 1));
  /* Again until it ends: one signal may land before the child is in the kernel. */
  while (waitpid(pid, &status, WNOHANG) == 0 && check_seconds() - start < 9) {
    kill(pid, SIGUSR1);
    usleep(20000);
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(check_seconds() - start < 9);
  w->sleepers = 0;
}

/* A 64-bit wait sees a change in the high half alone (the kernel sleeps on the low one). */
static void wide_high_half(words *w) {
  double start = check_seconds();
  pid_t pid;
  w->wide = 7;
  w->sleepers = 0;
  if ((pid = check_fork()) == 0) {
    struct timespec limit = {5, 0}, deadline = shmlua_deadline(5);
    __atomic_store_n(&w->sleepers, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&w->wide, __ATOMIC_SEQ_CST) == 7 && !shmlua_sync_expired(&deadline))
      CODE(shmlua_atomic_wait64(&w->wide, 7, &limit, ERR));
    CHECK(__atomic_load_n(&w->wide, __ATOMIC_SEQ_CST) == ((uint64_t)1 << 32 | 7));
    check_child_exit();
  }
  CHECK(await_count(&w->sleepers, 1));
  usleep(20000);
  CHECK_INT(shmlua_atomic_rmw64(&w->wide, SHMLUA_ATOMIC_ADD, (uint64_t)1 << 32), 7);
  CHECK(check_exited(pid, 0));
  CHECK(check_seconds() - start < 4);
}

int main(void) {
  shmlua_name n;
  shmlua_block b;
  shmlua_error err;
  check_test = "futex";
  n = check_name();
  time_helpers();
  if (!CHECK(shmlua_block_create(&b, &n, sizeof(words), NULL, &err) == 0))
    return check_done();
  alone((words *)b.addr);
  wake_across_fork((words *)b.addr);
  sleep_and_wake((words *)b.addr);
  interrupted((words *)b.addr);
  wide_high_half((words *)b.addr);
  shmlua_unlink(&n, &err);
  shmlua_block_close(&b);
  return check_done();
}
