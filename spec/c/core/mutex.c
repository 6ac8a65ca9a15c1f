/* The robust mutex (mutex.c) in a real shared block (sync_header.c): exclusion between
   processes, the errors of a misuse, and a holder that dies (kill -9, exit): EOWNERDEAD,
   then consistent, or ENOTRECOVERABLE for good. */
#include <signal.h>

#include "check.h"
#include "futex.h"
#include "mutex.h"
#include "queue.h"
#include "sync_wait.h"

static shmlua_mutex_block *mutex_block(shmlua_block *b, const shmlua_name *n) {
  shmlua_error err;
  if (!CHECK(shmlua_sync_block_create(b, &shmlua_mutex_type, n, sizeof(shmlua_mutex_block),
                                      NULL, shmlua_mutex_block_init, NULL, &err) == 0))
    return NULL;
  return (shmlua_mutex_block *)b->addr;
}

/* Locks with a deadline, so that a broken mutex fails the test rather than hanging it. */
static int lock(pthread_mutex_t *m) {
  struct timespec deadline = shmlua_deadline(5);
  return CODE(shmlua_mutex_lock(m, &deadline, ERR));
}

/* The header is checked on attach: the right kind attaches, anything else is EPROTO. */
static void attach_checks(const shmlua_name *mutex_name) {
  shmlua_name plain = check_name();
  shmlua_block b;
  shmlua_error err;
  if (CHECK(shmlua_sync_block_attach(&b, &shmlua_mutex_type, mutex_name, &err) == 0))
    shmlua_block_close(&b);
  CHECK_FAILS(shmlua_sync_block_attach(&b, &shmlua_queue_type, mutex_name, &err), err, EPROTO,
              "a shmlua mutex, not a queue");
  if (!CHECK(shmlua_block_create(&b, &plain, 4096, NULL, &err) == 0))
    return;
  memset(b.addr, 0xff, 64); /* no header: refused at once, not waited for */
  shmlua_block_close(&b);
  CHECK_FAILS(shmlua_sync_block_attach(&b, &shmlua_mutex_type, &plain, &err), err, EPROTO,
              "not a shmlua mutex");
  shmlua_unlink(&plain, &err);
}

/* Misuse by the holder and by others. */
static void errors(pthread_mutex_t *m) {
  pid_t pid;
  CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), EPERM);
  CHECK_ERRNO(CODE(shmlua_mutex_consistent(m, ERR)), EINVAL); /* not in the owner-died state */
  CHECK_ERRNO(lock(m), 0);
  CHECK_ERRNO(lock(m), EDEADLK);
  CHECK_ERRNO(CODE(shmlua_mutex_trylock(m, ERR)), EDEADLK);
  if ((pid = check_fork()) == 0) {
    struct timespec deadline = shmlua_deadline(0.05);
    double start = check_seconds();
    CHECK_ERRNO(CODE(shmlua_mutex_trylock(m, ERR)), EBUSY);
    CHECK_FAILS(shmlua_mutex_trylock(m, ERR), *ERR, EBUSY, "mutex: "); /* a message too */
    CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), EPERM);
    CHECK_ERRNO(CODE(shmlua_mutex_lock(m, &deadline, ERR)), ETIMEDOUT);
    CHECK(check_seconds() - start >= 0.049); /* it waited up to its deadline */
    check_child_exit();
  }
  CHECK(check_exited(pid, 0));
  CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), 0);
}

/* Two processes, each attaching both blocks by name, add to a plain counter in a second
   block under the lock: no increment is lost. */
static void exclusion(const shmlua_name *n) {
  enum { ROUNDS = 20000 };
  shmlua_name counter_name = check_name();
  shmlua_block counter;
  shmlua_error err;
  pid_t pids[2];
  if (!CHECK(shmlua_block_create(&counter, &counter_name, sizeof(uint64_t), NULL, &err) == 0))
    return;
  for (int k = 0; k < 2; k++)
    if ((pids[k] = check_fork()) == 0) {
      shmlua_block b, cb;
      if (!CHECK(shmlua_sync_block_attach(&b, &shmlua_mutex_type, n, &err) == 0) ||
          !CHECK(shmlua_block_attach(&cb, &counter_name, false, &err) == 0))
        check_child_exit();
      pthread_mutex_t *m = &((shmlua_mutex_block *)b.addr)->mutex;
      volatile uint64_t *c = (volatile uint64_t *)cb.addr;
      for (int i = 0; i < ROUNDS; i++) {
        if (lock(m) != 0)
          _exit(2);
        uint64_t v = *c;
        if (i % 64 == 0)
          shmlua_cpu_relax();
        *c = v + 1;
        shmlua_mutex_unlock(m, NULL);
      }
      check_child_exit();
    }
  CHECK(check_exited(pids[0], 0));
  CHECK(check_exited(pids[1], 0));
  CHECK_INT(*(volatile uint64_t *)counter.addr, 2 * ROUNDS);
  shmlua_unlink(&counter_name, &err);
  shmlua_block_close(&counter);
}

/* A child takes the lock and ends as told: killed (-9) or exit() while holding it. */
static void holder_dies(pthread_mutex_t *m, int killed) {
  int ready;
  pid_t pid;
  if ((pid = check_fork_ready(&ready)) == 0) {
    if (lock(m) != 0)
      _exit(2);
    check_say_ready(ready);
    if (!killed)
      exit(0);
    pause();
    _exit(0);
  }
  if (!CHECK(pid > 0))
    return;
  CHECK(check_await_ready(ready));
  if (killed)
    kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static void owner_death(pthread_mutex_t *m) {
  holder_dies(m, 1);
  CHECK_ERRNO(lock(m), EOWNERDEAD); /* locked, by us now */
  CHECK_ERRNO(CODE(shmlua_mutex_trylock(m, ERR)), EDEADLK);
  CHECK_ERRNO(CODE(shmlua_mutex_consistent(m, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), 0);
  CHECK_ERRNO(lock(m), 0); /* repaired: an ordinary lock again */
  CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), 0);
  holder_dies(m, 0);
  CHECK_ERRNO(CODE(shmlua_mutex_trylock(m, ERR)), EOWNERDEAD);
  CHECK_ERRNO(CODE(shmlua_mutex_consistent(m, ERR)), 0);
  CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), 0);
}

/* A locker asleep when the holder is killed wakes with the lock. */
static void sleeper_gets_it(pthread_mutex_t *m) {
  int ready;
  pid_t holder, waiter;
  if ((holder = check_fork_ready(&ready)) == 0) {
    if (lock(m) != 0)
      _exit(2);
    check_say_ready(ready);
    pause();
    _exit(0);
  }
  if (!CHECK(holder > 0))
    return;
  CHECK(check_await_ready(ready));
  if ((waiter = check_fork()) == 0) {
    struct timespec deadline = shmlua_deadline(10);
    CHECK_ERRNO(CODE(shmlua_mutex_lock(m, &deadline, ERR)), EOWNERDEAD);
    CHECK_ERRNO(CODE(shmlua_mutex_consistent(m, ERR)), 0);
    CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), 0);
    check_child_exit();
  }
  usleep(50000); /* let it go to sleep in the kernel */
  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0);
  CHECK(check_exited(waiter, 0));
}

/* Unlocked after EOWNERDEAD without consistent: unusable for every process, for good. */
static void not_recoverable(pthread_mutex_t *m) {
  pid_t pid;
  holder_dies(m, 1);
  CHECK_ERRNO(lock(m), EOWNERDEAD);
  CHECK_ERRNO(CODE(shmlua_mutex_unlock(m, ERR)), 0);
  CHECK_ERRNO(lock(m), ENOTRECOVERABLE);
  CHECK_ERRNO(CODE(shmlua_mutex_trylock(m, ERR)), ENOTRECOVERABLE);
  if ((pid = check_fork()) == 0) {
    struct timespec deadline = shmlua_deadline(1);
    CHECK_ERRNO(CODE(shmlua_mutex_lock(m, &deadline, ERR)), ENOTRECOVERABLE);
    check_child_exit();
  }
  CHECK(check_exited(pid, 0));
}

int main(void) {
  shmlua_name n;
  shmlua_block b;
  shmlua_mutex_block *mb;
  shmlua_error err;
  check_test = "mutex";
  n = check_name();
  if (!(mb = mutex_block(&b, &n)))
    return check_done();
  attach_checks(&n);
  errors(&mb->mutex);
  exclusion(&n);
  owner_death(&mb->mutex);
  sleeper_gets_it(&mb->mutex);
  not_recoverable(&mb->mutex);
  shmlua_unlink(&n, &err);
  shmlua_block_close(&b);
  return check_done();
}
