/* Children (proc.c): fork with a result (result.c), spawn a program, wait with deadlines, signal,
   terminate (SIGTERM, then SIGKILL after the grace), and a forked child told of its
   parent's death. Real processes and signals throughout. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "check.h"
#include "futex.h"
#include "proc.h"
#include "self.h"

/* Waits for c alone (deadline in seconds); 0, ETIMEDOUT, ... as shmlua_child_wait. */
static int wait_one(shmlua_child *c, double seconds) {
  struct timespec deadline = shmlua_deadline(seconds);
  shmlua_error err;
  size_t which = 99;
  if (shmlua_child_wait(&c, 1, &deadline, &which, &err) != 0)
    return err.code;
  CHECK_INT(which, 0);
  return 0;
}

/* Sends text (len bytes) as the child's result: 0, or -1 with err. */
static int send_text(const char *text, size_t len, shmlua_error *err) {
  struct iovec part = {(void *)text, len};
  return shmlua_result_send(&part, 1, err);
}

/* How many descriptors this process has open whose target's name holds part (NULL: all): a
   result sent by descriptor must leave none behind once its child is collected. -1 without
   /proc/self/fd (then not checked). With peek, only the sockets with a datagram waiting:
   a result whose child was collected must not wait in its region's socket either. */
static int descriptors(const char *part, bool peek) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d))) {
    char target[256], byte;
    ssize_t len;
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd == dirfd(d) ||
        (len = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1)) < 0)
      continue;
    target[len] = '\0';
    if (part && !strstr(target, part))
      continue;
    n += !peek || recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
  }
  closedir(d);
  return n;
}

static int open_descriptors(void) {
  return descriptors(NULL, false);
}

/* Waits until the child has ended, without reaping it: its result is all sent then. */
static bool ended(pid_t pid) {
  siginfo_t info;
  return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) == 0;
}

/* A result of len bytes: in a slot, or in an anonymous file (larger than a slot) whose
   descriptor the parent receives, reads and closes. */
static void fork_with_result(size_t len) {
  shmlua_child *c;
  shmlua_error err;
  char *text = malloc(len);
  int fds = open_descriptors();
  if (!CHECK(text))
    return;
  for (size_t i = 0; i < len; i++)
    text[i] = (char)('a' + i % 26);
  fflush(NULL);
  pid_t pid = shmlua_child_fork(&c, &err);
  if (pid == 0)
    _exit(send_text(text, len, &err) == 0 ? 3 : 4);
  if (CHECK(pid > 0)) {
    CHECK_INT(c->pid, pid);
    CHECK_INT(c->parent, getpid());
    CHECK_ERRNO(wait_one(c, 10), 0);
    CHECK(shmlua_child_finished(c));
    CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 3);
    CHECK(c->len == len && memcmp(c->data, text, len) == 0);
    CHECK_INT(open_descriptors(), fds);
    CHECK_FAILS(shmlua_child_signal(c, SIGTERM, &err), err, ESRCH, "has already ended");
    shmlua_child_release(c);
  }
  free(text);
}

/* A child killed around the send of its descriptor (it stops itself there: the test kills
   it), and one whose result nobody waits for: none leaves a descriptor behind. */
static void descriptors_not_left(void) {
  static char big[100000];
  shmlua_child *c;
  shmlua_error err;
  pid_t pid;
  int fds = open_descriptors(), status;
  memset(big, 'k', sizeof big);
  /* Marked as sent, killed before the send: the parent looks for the descriptor, finds
     none, and the child has no result. */
  fflush(NULL);
  if ((pid = shmlua_child_fork(&c, &err)) == 0) {
    raise(SIGSTOP);
    _exit(send_text(big, sizeof big, &err) == 0 ? 0 : 1);
  }
  if (CHECK(pid > 0)) {
    CHECK(waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status));
    __atomic_store_n((uint32_t *)c->slot, 2, __ATOMIC_SEQ_CST); /* SENT */
    kill(pid, SIGKILL);
    CHECK_ERRNO(wait_one(c, 10), 0);
    CHECK(WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGKILL);
    CHECK_INT(c->len, 0);
    shmlua_child_release(c);
    CHECK_INT(open_descriptors(), fds);
  }
  /* Sent, then killed: the result it sent is read, the descriptor closed. */
  if ((pid = shmlua_child_fork(&c, &err)) == 0) {
    if (send_text(big, sizeof big, &err) != 0)
      _exit(1);
    raise(SIGSTOP);
    _exit(0);
  }
  if (CHECK(pid > 0)) {
    CHECK(waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status));
    kill(pid, SIGKILL);
    CHECK_ERRNO(wait_one(c, 10), 0);
    CHECK(WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGKILL);
    CHECK(c->len == sizeof big && memcmp(c->data, big, sizeof big) == 0);
    shmlua_child_release(c);
    CHECK_INT(open_descriptors(), fds);
  }
  /* Sent, never waited for: the release drops it once the child is reaped. */
  if ((pid = shmlua_child_fork(&c, &err)) == 0)
    _exit(send_text(big, sizeof big, &err) == 0 ? 0 : 1);
  if (CHECK(pid > 0)) {
    CHECK(ended(pid));
    shmlua_child_release(c);
    for (int i = 0; i < 5000 && shmlua_children_running() > 0; i++)
      usleep(1000);
    CHECK_INT(open_descriptors(), fds);
    CHECK_INT(descriptors("socket:", true), 0);
  }
}

/* A child forked while its parent keeps another child's descriptor (received while it
   looked for a third's) closes its copy: it would hold that result for as long as it
   lives. The files are "memfd:shmlua-result" (Linux), "/dev/shm/shmlua-r.*" elsewhere. */
static void kept_descriptor_not_inherited(void) {
  static char first[3000], second[4000];
  shmlua_child *c1, *c2, *c3;
  shmlua_error err;
  pid_t pid;
  if (open_descriptors() < 0) /* no /proc/self/fd to look at */
    return;
  memset(first, '1', sizeof first);
  memset(second, '2', sizeof second);
  fflush(NULL);
  if ((pid = shmlua_child_fork(&c1, &err)) == 0)
    _exit(send_text(first, sizeof first, &err) == 0 ? 3 : 4);
  if (!CHECK(pid > 0 && ended(pid)))
    return;
  if ((pid = shmlua_child_fork(&c2, &err)) == 0)
    _exit(send_text(second, sizeof second, &err) == 0 ? 3 : 4);
  if (CHECK(pid > 0 && ended(pid))) {
    CHECK_ERRNO(wait_one(c2, 10), 0); /* receives the first child's descriptor on its way */
    CHECK(c2->len == sizeof second && memcmp(c2->data, second, sizeof second) == 0);
    shmlua_child_release(c2);
  }
  CHECK_INT(descriptors("shmlua-r", false), 1);
  if ((pid = shmlua_child_fork(&c3, &err)) == 0)
    _exit(descriptors("shmlua-r", false) == 0 ? 3 : 4);
  if (CHECK(pid > 0)) {
    CHECK_ERRNO(wait_one(c3, 10), 0);
    CHECK(WIFEXITED(c3->status) && WEXITSTATUS(c3->status) == 3);
    shmlua_child_release(c3);
  }
  CHECK_ERRNO(wait_one(c1, 10), 0);
  CHECK(c1->len == sizeof first && memcmp(c1->data, first, sizeof first) == 0);
  shmlua_child_release(c1);
  CHECK_INT(descriptors("shmlua-r", false), 0);
}

/* A process that sends for a slot it took over (here a plain fork() of the parent, told the
   slot of a child since collected) sends too late: the slot's next child has it now, and the
   parent reads that child's result, not the stale one, and closes both descriptors. */
static void stale_descriptor_closed(void) {
  static char stale[5000], fresh[6000];
  shmlua_child *a, *b;
  shmlua_result_slot *slot;
  shmlua_error err;
  int go_a[2], go_g[2], go_b[2], fds = open_descriptors();
  pid_t pid, late;
  char byte;
  memset(stale, 's', sizeof stale);
  memset(fresh, 'f', sizeof fresh);
  if (!CHECK(pipe(go_a) == 0 && pipe(go_g) == 0 && pipe(go_b) == 0))
    return;
  fflush(NULL);
  if ((pid = shmlua_child_fork(&a, &err)) == 0) {
    close(go_a[1]);
    _exit(read(go_a[0], &byte, 1) == 0 ? 0 : 1); /* sends nothing */
  }
  if (!CHECK(pid > 0))
    return;
  slot = a->slot; /* the record forgets it once the result is read */
  if ((late = check_fork()) == 0) {
    shmlua_result_inherit(slot);
    close(go_a[1]); /* or a would not end */
    close(go_g[1]);
    if (read(go_g[0], &byte, 1) != 1 || send_text(stale, sizeof stale, &err) != 0)
      _exit(1);
    _exit(0);
  }
  close(go_a[1]);
  close(go_g[0]);
  CHECK_ERRNO(wait_one(a, 10), 0);
  CHECK_INT(a->len, 0);
  shmlua_child_release(a);
  if ((pid = shmlua_child_fork(&b, &err)) == 0)
    _exit(read(go_b[0], &byte, 1) == 1 && send_text(fresh, sizeof fresh, &err) == 0 ? 3 : 4);
  if (CHECK(pid > 0)) {
    CHECK(b->slot == slot); /* the one a had */
    CHECK(write(go_g[1], "", 1) == 1 && check_exited(late, 0));
    CHECK(write(go_b[1], "", 1) == 1);
    CHECK_ERRNO(wait_one(b, 10), 0);
    CHECK(WIFEXITED(b->status) && WEXITSTATUS(b->status) == 3);
    CHECK(b->len == sizeof fresh && memcmp(b->data, fresh, sizeof fresh) == 0);
    shmlua_child_release(b);
  }
  close(go_a[0]);
  close(go_g[1]);
  close(go_b[0]);
  close(go_b[1]);
  CHECK_INT(open_descriptors(), fds);
}

/* A parent with no descriptor free when its child's arrives (the kernel drops it): the wait
   fails with EMFILE, again if asked again (the result is gone), and the release leaves
   nothing. Every number below the child's pidfd taken, and the limit at that number, so
   that the reap's close of the pidfd frees none the receive may use. */
static void descriptor_lost_to_fd_limit(void) {
  static char big[5000];
  struct rlimit old, limit;
  shmlua_child *c;
  shmlua_error err;
  int fds = open_descriptors(), held[64], n = 0, fd;
  pid_t pid;
  fflush(NULL);
  if ((pid = shmlua_child_fork(&c, &err)) == 0)
    _exit(send_text(big, sizeof big, &err) == 0 ? 3 : 4);
  if (!CHECK(pid > 0 && ended(pid)))
    return;
  if (c->pidfd >= 0 && CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0)) {
    limit = old;
    limit.rlim_cur = (rlim_t)c->pidfd;
    CHECK(setrlimit(RLIMIT_NOFILE, &limit) == 0);
    while (n < 64 && (fd = dup(2)) >= 0)
      held[n++] = fd;
    CHECK(n < 64 && errno == EMFILE);
    CHECK_ERRNO(wait_one(c, 10), EMFILE);
    CHECK_ERRNO(wait_one(c, 10), EMFILE);
    while (n > 0)
      close(held[--n]);
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    CHECK_ERRNO(wait_one(c, 10), EMFILE);
  }
  shmlua_child_release(c);
  shmlua_children_running(); /* reaps it if the case was skipped */
  CHECK_INT(open_descriptors(), fds);
  CHECK_INT(descriptors("socket:", true), 0);
}

/* A result larger than a slot that no file can hold (here past RLIMIT_FSIZE, as memory
   running out would be): the send fails with the reason, and a short result (the error,
   for shm.spawn) can still be sent. */
static void result_file_refused(void) {
  static char big[5000];
  shmlua_child *c;
  shmlua_error err;
  pid_t pid;
  fflush(NULL);
  if ((pid = shmlua_child_fork(&c, &err)) == 0) {
    struct rlimit small = {2000, 2000};
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &small) != 0 || send_text(big, sizeof big, &err) == 0 ||
        err.code != EFBIG || !strstr(err.message, "a result of 5000 bytes could not be sent"))
      _exit(4);
    _exit(send_text("refused", 7, &err) == 0 ? 3 : 5);
  }
  if (!CHECK(pid > 0))
    return;
  CHECK_ERRNO(wait_one(c, 10), 0);
  CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 3);
  CHECK(c->len == 7 && memcmp(c->data, "refused", 7) == 0);
  shmlua_child_release(c);
}

/* A plain fork() of the parent (another library's) inherits the records of the parent's
   children, whose slots lie in memory it shares with the parent, and the region's socket:
   its waits and its end must not free the slots or take their descriptors. */
static void plain_fork_leaves_parent_slots(void) {
  static char big[5000];
  shmlua_child *c;
  shmlua_error err;
  pid_t pid, other;
  int status;
  memset(big, 'p', sizeof big);
  fflush(NULL);
  if ((pid = shmlua_child_fork(&c, &err)) == 0)
    _exit(send_text(big, sizeof big, &err) == 0 ? 3 : 4);
  if (!CHECK(pid > 0))
    return;
  CHECK(ended(pid)); /* sent, not yet read */
  if ((other = check_fork()) == 0) {
    shmlua_error e;
    CHECK_INT(shmlua_children_running(), 0); /* not its children: reaped elsewhere */
    CHECK_ERRNO(CODE(shmlua_children_wait_all(&e)), 0);
    shmlua_children_terminate_all(0);
    shmlua_child_release(c);
    check_child_exit();
  }
  CHECK(waitpid(other, &status, 0) == other && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_ERRNO(wait_one(c, 10), 0);
  CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 3);
  CHECK(c->len == sizeof big && memcmp(c->data, big, sizeof big) == 0);
  shmlua_child_release(c);
}

/* A grandchild forked without shmlua (no exec) runs the child's code: its send goes nowhere,
   so it can neither replace the child's result nor write into a slot given to a later
   child; and nothing it holds keeps the wait from ending with the child. */
static void grandchild_sends_nothing(void) {
  for (int sends = 0; sends <= 1; sends++) {
    shmlua_child *c;
    shmlua_error err;
    int hold[2], sent[2];
    double t0;
    pid_t pid;
    if (!CHECK(pipe(hold) == 0 && pipe(sent) == 0))
      return;
    fflush(NULL);
    if ((pid = shmlua_child_fork(&c, &err)) == 0) {
      char byte;
      close(hold[1]);
      if (fork() == 0) { /* sends first, then lives until the test closes hold[1] */
        if (send_text("grandchild", 10, &err) != 0 || write(sent[1], "", 1) != 1)
          _exit(1);
        _exit(read(hold[0], &byte, 1) == 0 ? 0 : 1);
      }
      if (read(sent[0], &byte, 1) != 1)
        _exit(4);
      _exit(!sends || send_text("hello, parent", 13, &err) == 0 ? 3 : 4);
    }
    close(hold[0]);
    close(sent[0]);
    close(sent[1]);
    if (CHECK(pid > 0)) {
      t0 = check_seconds();
      CHECK_ERRNO(wait_one(c, 10), 0);
      CHECK(check_seconds() - t0 < 5);
      CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 3);
      CHECK_INT(c->len, sends ? 13 : 0);
      CHECK(!sends || memcmp(c->data, "hello, parent", 13) == 0);
      shmlua_child_release(c);
    }
    close(hold[1]); /* the grandchild ends */
  }
}

static void spawn_programs(void) {
  char *const exit7[] = {"sh", "-c", "exit 7", NULL};
  char *const nothing[] = {"no-such-program-here", NULL};
  shmlua_child *c;
  shmlua_error err;
  if (CHECK(shmlua_child_spawn(&c, "/bin/sh", exit7, false, false, &err) == 0)) {
    CHECK_ERRNO(wait_one(c, 10), 0);
    CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 7);
    CHECK_INT(c->len, 0); /* a spawned program sends no result */
    shmlua_child_release(c);
  }
  if (CHECK(shmlua_child_spawn(&c, "sh", exit7, true, false, &err) == 0)) { /* from PATH */
    CHECK_ERRNO(wait_one(c, 10), 0);
    CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 7);
    shmlua_child_release(c);
  }
  CHECK_FAILS(shmlua_child_spawn(&c, "no-such-program-here", nothing, true, false, &err), err,
              ENOENT, "no-such-program-here: No such file or directory");
}

/* A running child: the wait ends at its deadline; a signal ends the child. The program
   starts with SIGTERM's default action even though this process ignores it. */
static void deadlines_and_signals(void) {
  char *const sleeper[] = {"sleep", "30", NULL};
  double start;
  shmlua_child *c;
  shmlua_error err;
  signal(SIGTERM, SIG_IGN);
  if (!CHECK(shmlua_child_spawn(&c, "sleep", sleeper, true, false, &err) == 0)) {
    signal(SIGTERM, SIG_DFL);
    return;
  }
  signal(SIGTERM, SIG_DFL);
  start = check_seconds();
  CHECK_ERRNO(wait_one(c, 0.05), ETIMEDOUT);
  CHECK(check_seconds() - start >= 0.049);
  CHECK(!c->done);
  CHECK_INT(shmlua_children_running(), 1);
  CHECK(shmlua_child_signal(c, SIGTERM, &err) == 0);
  CHECK_ERRNO(wait_one(c, 10), 0);
  CHECK(WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGTERM);
  CHECK_INT(shmlua_children_running(), 0);
  shmlua_child_release(c);
}

/* Of several children the wait returns the first to end. */
static void first_of_several(void) {
  char *const slow[] = {"sleep", "30", NULL}, *const quick[] = {"true", NULL};
  shmlua_child *c[2];
  shmlua_error err;
  struct timespec deadline = shmlua_deadline(10);
  size_t which = 99;
  if (!CHECK(shmlua_child_spawn(&c[0], "sleep", slow, true, false, &err) == 0))
    return;
  if (CHECK(shmlua_child_spawn(&c[1], "true", quick, true, false, &err) == 0)) {
    CHECK_ERRNO(CODE(shmlua_child_wait(c, 2, &deadline, &which, ERR)), 0);
    CHECK_INT(which, 1);
    shmlua_child_release(c[1]);
  }
  shmlua_child_signal(c[0], SIGKILL, &err);
  shmlua_child_release(c[0]); /* reaped later, by the next wait or count */
  for (int i = 0; i < 1000 && shmlua_children_running() > 0; i++)
    usleep(1000);
  CHECK_INT(shmlua_children_running(), 0);
}

/* terminate_all: SIGTERM, and SIGKILL for a child that ignores it once the grace is over. */
static void terminate_all(void) {
  char *const obedient[] = {"sleep", "30", NULL};
  char *const stubborn[] = {"sh", "-c", "trap '' TERM; echo >&9; exec sleep 30", NULL};
  shmlua_child *a, *b;
  shmlua_error err;
  double start;
  int ready[2];
  char c;
  if (!CHECK(pipe(ready) == 0))
    return;
  fcntl(ready[0], F_SETFD, FD_CLOEXEC);
  fcntl(ready[1], F_SETFD, FD_CLOEXEC);
  if (!CHECK(shmlua_child_spawn(&a, "sleep", obedient, true, false, &err) == 0))
    return;
  /* The shell says when SIGTERM is ignored (on descriptor 9), then becomes sleep, which
     keeps it ignored: nothing of it outlives the SIGKILL. */
  if (dup2(ready[1], 9) != 9 ||
      !CHECK(shmlua_child_spawn(&b, "/bin/sh", stubborn, false, false, &err) == 0)) {
    shmlua_children_terminate_all(0);
    return;
  }
  close(9);
  close(ready[1]);
  CHECK(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  start = check_seconds();
  shmlua_children_terminate_all(0.2);
  CHECK(a->done && WIFSIGNALED(a->status) && WTERMSIG(a->status) == SIGTERM);
  CHECK(b->done && WIFSIGNALED(b->status) && WTERMSIG(b->status) == SIGKILL);
  CHECK(check_seconds() - start >= 0.19); /* the grace was given */
  CHECK_INT(shmlua_children_running(), 0);
  shmlua_child_release(a);
  shmlua_child_release(b);
}

/* A forked child gets SIGTERM when its parent dies. This process becomes a subreaper so the
   orphan comes back to it to be waited for. */
static void parent_death(void) {
#if defined(__linux__)
  int ready[2], status;
  pid_t middle, grandchild = 0;
  if (!CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) || !CHECK(pipe(ready) == 0))
    return;
  if ((middle = check_fork()) == 0) {
    shmlua_child *c;
    shmlua_error err;
    int started[2];
    char byte;
    pid_t pid;
    if (pipe(started) != 0 || (pid = shmlua_child_fork(&c, &err)) < 0)
      _exit(2);
    if (pid == 0) {
      if (write(started[1], "", 1) != 1)
        _exit(2);
      for (;;)
        pause();
    }
    /* Once the child runs: its pid to the test, and end without waiting for it. */
    if (read(started[0], &byte, 1) != 1 || write(ready[1], &pid, sizeof pid) != sizeof pid)
      _exit(2);
    _exit(0);
  }
  close(ready[1]);
  CHECK(check_exited(middle, 0));
  if (CHECK(read(ready[0], &grandchild, sizeof grandchild) == sizeof grandchild)) {
    pid_t r = 0;
    for (int ms = 0; ms < 5000 && (r = waitpid(grandchild, &status, WNOHANG)) == 0; ms++)
      usleep(1000);
    if (!CHECK(r == grandchild)) { /* still running: no SIGTERM came */
      kill(grandchild, SIGKILL);
      waitpid(grandchild, &status, 0);
    }
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  close(ready[0]);
#endif
}

/* The kept process id (self.c) is forgotten in the child of a fork made by anyone through
   the C library, not only by shmlua_child_fork: there a child's record names the process
   that started it, and a record inherited from the parent is known as not ours. */
static void kept_pid_after_fork(void) {
  shmlua_child *inherited, *c;
  shmlua_error err;
  pid_t middle, pid;
  CHECK_INT(shmlua_self(), getpid());
  fflush(NULL);
  if ((pid = shmlua_child_fork(&inherited, &err)) == 0)
    _exit(0);
  if (!CHECK(pid > 0))
    return;
  if ((middle = check_fork()) == 0) { /* a plain fork, as another library makes one */
    CHECK_INT(shmlua_self(), getpid());
    CHECK(inherited->parent != shmlua_self());
    fflush(NULL);
    if ((pid = shmlua_child_fork(&c, &err)) == 0)
      _exit(shmlua_self() == getpid() ? 5 : 6);
    if (CHECK(pid > 0)) {
      CHECK_INT(c->parent, getpid());
      CHECK_ERRNO(wait_one(c, 10), 0);
      CHECK(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 5);
      shmlua_child_release(c);
    }
    shmlua_child_release(inherited); /* only frees the copy: the child is the parent's */
    check_child_exit();
  }
  CHECK(check_exited(middle, 0));
  CHECK_INT(shmlua_self(), getpid());
  CHECK_ERRNO(wait_one(inherited, 10), 0);
  shmlua_child_release(inherited);
}

int main(void) {
  check_test = "proc";
  kept_pid_after_fork();
  fork_with_result(13);
  fork_with_result(1000); /* a slot's room, whole */
  fork_with_result(3 << 20);
  descriptors_not_left();
  kept_descriptor_not_inherited();
  stale_descriptor_closed();
  descriptor_lost_to_fd_limit();
  result_file_refused();
  plain_fork_leaves_parent_slots();
  grandchild_sends_nothing();
  spawn_programs();
  deadlines_and_signals();
  first_of_several();
  terminate_all();
  parent_death();
  CHECK_ERRNO(CODE(shmlua_children_wait_all(ERR)), 0);
  return check_done();
}
