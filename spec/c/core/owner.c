/* Ownership (owner.c): a process unlinks at exit the blocks it made, and only those: not
   after _exit or kill -9, not with keep, not its parent's, not a name made again by another
   process; and from a signal handler through shmlua_owner_cleanup. */
#include <fcntl.h>
#include <signal.h>

#include "block.h"
#include "check.h"
#include "owner.h"

/* How a child that made a block ends. */
typedef enum { BY_EXIT, BY_UNDERSCORE_EXIT, BY_SIGKILL } ending;

/* A child makes n (keep as given) and ends as told; 1 if it did so. */
static int child_makes(const shmlua_name *n, bool keep, ending how) {
  int ready, status;
  pid_t pid;
  if ((pid = check_fork_ready(&ready)) == 0) {
    shmlua_create_opts opts = {0600, keep};
    shmlua_block b;
    shmlua_error err;
    if (shmlua_block_create(&b, n, 64, &opts, &err) != 0)
      _exit(2);
    check_say_ready(ready);
    if (how == BY_EXIT)
      exit(0);
    if (how == BY_UNDERSCORE_EXIT)
      _exit(0);
    pause();
    _exit(0);
  }
  if (!CHECK(pid > 0))
    return 0;
  if (!CHECK(check_await_ready(ready))) {
    waitpid(pid, NULL, 0);
    return 0;
  }
  if (how == BY_SIGKILL)
    kill(pid, SIGKILL);
  CHECK(waitpid(pid, &status, 0) == pid);
  return how == BY_SIGKILL ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                           : WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void endings(void) {
  shmlua_name n = check_name();
  shmlua_error err;
  if (CHECK(child_makes(&n, false, BY_EXIT)))
    CHECK(!check_shm_exists(&n)); /* exit() runs the cleanup */
  n = check_name();
  if (CHECK(child_makes(&n, true, BY_EXIT)))
    CHECK(check_shm_exists(&n)); /* keep: not owned */
  shmlua_unlink(&n, &err);
  n = check_name();
  if (CHECK(child_makes(&n, false, BY_UNDERSCORE_EXIT)))
    CHECK(check_shm_exists(&n)); /* nothing runs after _exit ... */
  shmlua_unlink(&n, &err);
  n = check_name();
  if (CHECK(child_makes(&n, false, BY_SIGKILL)))
    CHECK(check_shm_exists(&n)); /* ... nor after kill -9 */
  shmlua_unlink(&n, &err);
}

/* A forked child inherits the list of owned names but never unlinks its parent's. */
static void parents_block(void) {
  shmlua_name n = check_name();
  shmlua_block b;
  shmlua_error err;
  pid_t pid;
  if (!CHECK(shmlua_block_create(&b, &n, 64, NULL, &err) == 0))
    return;
  if ((pid = check_fork()) == 0)
    exit(0);
  CHECK(check_exited(pid, 0));
  CHECK(check_shm_exists(&n));
  shmlua_unlink(&n, &err);
  shmlua_block_close(&b);
}

/* The name removed and made again by another process (here the parent) while the child
   runs: at its exit the child leaves the new object alone. So does one whose owned name was
   unlinked through the core (ownership given up) and then made again. */
static void made_again(int by_core_unlink) {
  shmlua_name n = check_name();
  shmlua_create_opts keep = {0600, true};
  shmlua_block b;
  shmlua_error err;
  int made[2], go[2];
  char c;
  pid_t pid;
  if (!CHECK(pipe(made) == 0) || !CHECK(pipe(go) == 0))
    return;
  if ((pid = check_fork()) == 0) {
    if (shmlua_block_create(&b, &n, 64, NULL, &err) != 0)
      _exit(2);
    if (by_core_unlink && shmlua_unlink(&n, &err) != 0)
      _exit(2);
    if (write(made[1], "", 1) != 1 || read(go[0], &c, 1) != 1)
      _exit(2);
    exit(0);
  }
  close(made[1]);
  close(go[0]);
  if (CHECK(read(made[0], &c, 1) == 1)) {
    shm_unlink(n.path); /* a no-op when the child did it */
    CHECK(shmlua_block_create(&b, &n, 128, &keep, &err) == 0);
  }
  CHECK(write(go[1], "", 1) == 1);
  CHECK(check_exited(pid, 0));
  if (CHECK(check_shm_exists(&n))) {
    shmlua_unlink(&n, &err);
    shmlua_block_close(&b);
  }
  close(made[0]);
  close(go[1]);
}

static void cleanup_now(int signo) {
  shmlua_owner_cleanup();
  _exit(128 + signo);
}

/* What a host does on a fatal signal: cleanup from the handler, then _exit. Two blocks, one
   of them forgotten (shmlua_owner_forget): only the other goes. */
static void from_a_handler(void) {
  shmlua_name owned = check_name(), forgotten = check_name();
  int ready;
  pid_t pid;
  if ((pid = check_fork_ready(&ready)) == 0) {
    shmlua_block a, b;
    shmlua_error err;
    signal(SIGTERM, cleanup_now);
    if (shmlua_block_create(&a, &owned, 64, NULL, &err) != 0 ||
        shmlua_block_create(&b, &forgotten, 64, NULL, &err) != 0)
      _exit(2);
    shmlua_owner_forget(forgotten.path);
    check_say_ready(ready);
    for (;;)
      pause();
  }
  if (!CHECK(pid > 0))
    return;
  if (CHECK(check_await_ready(ready)))
    kill(pid, SIGTERM);
  CHECK(check_exited(pid, 128 + SIGTERM));
  CHECK(!check_shm_exists(&owned));
  CHECK(check_shm_exists(&forgotten));
  shm_unlink(owned.path);
  shm_unlink(forgotten.path);
}

/* Called directly, it unlinks at once and forgets: a second call and the exit do nothing. */
static void cleanup_twice(void) {
  shmlua_name n = check_name();
  shmlua_block b;
  shmlua_error err;
  pid_t pid;
  if ((pid = check_fork()) == 0) {
    if (!CHECK(shmlua_block_create(&b, &n, 64, NULL, &err) == 0))
      check_child_exit();
    shmlua_owner_cleanup();
    CHECK(!check_shm_exists(&n));
    /* Made again by someone else, it is not ours: neither the second call nor exit
       removes it. */
    CHECK(shm_open(n.path, O_CREAT | O_EXCL | O_RDWR, 0600) >= 0);
    shmlua_owner_cleanup();
    CHECK(check_shm_exists(&n));
    fflush(NULL);
    exit(check_failures ? 1 : 0);
  }
  CHECK(check_exited(pid, 0));
  CHECK(check_shm_exists(&n));
  shm_unlink(n.path);
}

int main(void) {
  check_test = "owner";
  endings();
  parents_block();
  made_again(0);
  made_again(1);
  from_a_handler();
  cleanup_twice();
  return check_done();
}
