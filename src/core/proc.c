/* Child processes and their registry. The registry only holds this process's own children
   and is only relinked with signals blocked, so terminate_all may walk it from a handler. */
#include "proc.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "forked.h"
#include "futex.h"
#include "self.h"
#include "sync_wait.h"

extern char **environ;

static SHMLUA_FORKED_DATA shmlua_child *volatile registry;
static SHMLUA_FORKED_DATA volatile unsigned long started; /* children registered so far */
static SHMLUA_FORKED_DATA size_t orphans; /* registered children nobody holds */

static void block_signals(sigset_t *old) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, old);
}

/* pthread_sigmask, not sigprocmask: glibc's sigprocmask is a wrapper around it in another
   page of code, one more fault in each forked child (a child's first touch of each page of
   code faults). The process is single-threaded wherever the mask matters here. */
SHMLUA_FORKED static void restore_signals(const sigset_t *old) {
  pthread_sigmask(SIG_SETMASK, old, NULL);
}

SHMLUA_FORKED static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

static shmlua_child *new_child(pid_t parent, shmlua_error *err) {
  shmlua_child *c = calloc(1, sizeof *c);
  if (!c) {
    shmlua_fail(err, ENOMEM, "child process");
    return NULL;
  }
  c->parent = parent;
  c->pidfd = -1;
  return c;
}

/* Call once the child is reaped, or for a child that never ran. */
static void free_child(shmlua_child *c) {
  close_fd(&c->pidfd);
  if (c->slot)
    shmlua_result_discard(c->slot);
  free(c->data);
  free(c);
}

/* Call with signals blocked. */
static void register_child(shmlua_child *c) {
  c->serial = ++started;
  c->prev = NULL;
  c->next = registry;
  if (c->next)
    c->next->prev = c;
  registry = c;
}

/* In constant time: a script may hold thousands of finished children, and each start and
   each collected handle would otherwise walk them all. */
static void unregister_child(shmlua_child *c) {
  sigset_t old;
  block_signals(&old);
  if (c->prev || registry == c) {
    if (c->prev)
      c->prev->next = c->next;
    else
      registry = c->next;
    if (c->next)
      c->next->prev = c->prev;
    c->next = c->prev = NULL;
  }
  restore_signals(&old);
}

static void open_pidfd(shmlua_child *c) {
#if defined(SYS_pidfd_open)
  long fd = syscall(SYS_pidfd_open, c->pid, 0);
  c->pidfd = fd >= 0 ? (int)fd : -1; /* an older kernel: waits poll waitpid instead */
#else
  (void)c;
#endif
}

/* Records the child's status if it has ended (async-signal-safe). */
static void try_reap(shmlua_child *c, int options) {
  int status;
  pid_t r;
  if (c->done)
    return;
  do
    r = waitpid(c->pid, &status, options);
  while (r < 0 && errno == EINTR && options == 0);
  if (r == c->pid) {
    c->status = status;
    c->done = true;
  } else if (r < 0 && errno == ECHILD) { /* reaped elsewhere (SIGCHLD set to SIG_IGN) */
    c->status = -1;
    c->done = true;
  }
  if (c->done)
    close_fd(&c->pidfd);
}

/* Frees the children nobody holds any more once they have ended. */
SHMLUA_FORKED static void reap_orphans(void) {
  shmlua_child *c = orphans > 0 ? registry : NULL, *next;
  for (; c; c = next) {
    next = c->next;
    if (c->orphan) {
      try_reap(c, WNOHANG);
      if (c->done) {
        unregister_child(c);
        free_child(c);
        orphans--;
      }
    }
  }
}

/* Reaped first: once it is, its result is all there. */
static int refresh(shmlua_child *c, shmlua_error *err) {
  try_reap(c, WNOHANG);
  if (c->done && c->slot) {
    if (shmlua_result_collect(c->slot, &c->data, &c->len, err))
      return -1;
    c->slot = NULL;
  }
  return 0;
}

/* Up to how many children are waited for with their descriptors on the stack. */
#define FEW_CHILDREN 8

/* Milliseconds for poll, rounded up so a wait never ends before its deadline. */
static int poll_ms(struct timespec t) {
  long long ms = (long long)t.tv_sec * 1000 + (t.tv_nsec + 999999) / 1000000;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

int shmlua_child_wait(shmlua_child *const *children, size_t n, const struct timespec *deadline,
                      size_t *which, shmlua_error *err) {
  /* A few children's descriptors on the stack: a page of malloc's that the parent writes
     while a child it just forked lives is a copy-on-write fault. */
  struct pollfd few[FEW_CHILDREN], *fds = few;
  int rc = -1, step_ms = 1;
  if (n == 0 || n > SIZE_MAX / sizeof *fds)
    return shmlua_fail(err, EINVAL, "waiting for children");
  if (n > FEW_CHILDREN && !(fds = malloc(n * sizeof *fds)))
    return shmlua_fail(err, ENOMEM, "waiting for children");
  reap_orphans();
  for (bool spun = false;; spun = true) {
    nfds_t nfds = 0;
    bool polling = false;
    int timeout = -1;
    for (size_t i = 0; i < n; i++) {
      shmlua_child *c = children[i];
      /* A lone child's pidfd tells whether it has ended: its first look (a waitpid that
         finds nothing while it starts) is left to the end, unless the deadline has passed,
         when the look is all there is. */
      bool by_end = n == 1 && !spun && c->pidfd >= 0;
      if ((!by_end || shmlua_sync_expired(deadline)) && refresh(c, err))
        goto out;
      if (shmlua_child_finished(c)) {
        *which = i;
        rc = 0;
        goto out;
      }
      if (c->pidfd >= 0)
        fds[nfds++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
      else
        polling = true;
    }
    if (shmlua_sync_expired(deadline)) {
      shmlua_failcode(err, ETIMEDOUT, "waiting for children");
      goto out;
    }
    if (deadline)
      timeout = poll_ms(shmlua_time_left(deadline));
    /* Without a pidfd nothing signals the end of a child: look again in growing steps. */
    if (polling && (timeout < 0 || timeout > step_ms)) {
      timeout = step_ms;
      if (step_ms < 32)
        step_ms *= 2;
    }
    if (poll(fds, nfds, timeout) < 0) {
      if (errno == EINTR)
        shmlua_failcode(err, EINTR, "waiting for children");
      else
        shmlua_fail(err, errno, "poll");
      goto out;
    }
  }
out:
  if (fds != few)
    free(fds);
  return rc;
}

/* Whether SIGTERM is ignored (as under nohup). */
static bool term_ignored(void) {
  struct sigaction term;
  return sigaction(SIGTERM, NULL, &term) == 0 && term.sa_handler == SIG_IGN;
}

/* Call with signals blocked, so a pending SIGTERM raised here is delivered on restore.
   SIGTERM is how this process is told to end (its parent died, or is ending it): inherited
   ignored (ignored: term_ignored() in this process, or in its parent just before fork), it
   would end nothing, so it gets its default action back. */
SHMLUA_FORKED static void die_with_parent(pid_t parent, bool ignored) {
  if (ignored) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTERM, &dfl, NULL);
  }
#if defined(__linux__)
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) /* it died before prctl took effect */
    raise(SIGTERM);
#else
  (void)parent; /* macOS has no PDEATHSIG: a child outlives a parent killed by SIGKILL */
#endif
}

/* In a new forked child: the inherited records are the parent's children, not ours. The
   records stay allocated, since the parent's handles copied into this process point to
   them (their `parent` field says they are not ours). ignored: whether SIGTERM was
   ignored in the parent at the fork. */
SHMLUA_FORKED static void become_child(pid_t parent, shmlua_result_slot *slot, bool ignored) {
  for (shmlua_child *c = registry; c; c = c->next)
    close_fd(&c->pidfd);
  registry = NULL;
  orphans = 0;
  shmlua_result_inherit(slot);
  die_with_parent(parent, ignored);
}

SHMLUA_FORKED pid_t shmlua_child_fork(shmlua_child **out, shmlua_error *err) {
  pid_t parent = shmlua_self(), pid;
  shmlua_child *c;
  sigset_t old;
  bool ignored;
  reap_orphans();
  if (!(c = new_child(parent, err)))
    return -1;
  if (!(c->slot = shmlua_result_take(parent, err))) {
    free_child(c);
    return -1;
  }
  block_signals(&old);
  /* Asked here, not in the child: each page the child touches first costs it a fault, and
     sigaction's code would be one more (the disposition cannot change in between: signals
     are blocked). */
  ignored = term_ignored();
  pid = fork();
  if (pid < 0) {
    int code = errno;
    restore_signals(&old);
    free_child(c);
    return shmlua_fail(err, code, "fork");
  }
  if (pid == 0) {
    /* c, the parent's record of this child, stays allocated as the other inherited records
       do: freeing it would write to malloc's pages, and each first write to a page still
       shared with the parent is a copy-on-write fault (3 of them here, about 2 us each). */
    become_child(parent, c->slot, ignored);
    restore_signals(&old);
    return 0;
  }
  c->pid = pid;
  open_pidfd(c);
  register_child(c);
  restore_signals(&old);
  *out = c;
  return pid;
}

/* environ without any SHMLUA_PARENT_ENV, plus var; NULL without memory. */
static char **environ_with(char *var) {
  size_t n = 0, k = 0, keylen = strlen(SHMLUA_PARENT_ENV "=");
  char **env;
  while (environ[n])
    n++;
  if (!(env = malloc((n + 2) * sizeof *env)))
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], SHMLUA_PARENT_ENV "=", keylen) != 0)
      env[k++] = environ[i];
  env[k++] = var;
  env[k] = NULL;
  return env;
}

int shmlua_child_spawn(shmlua_child **out, const char *program, char *const argv[],
                       bool search, bool watched, shmlua_error *err) {
  char var[sizeof SHMLUA_PARENT_ENV + 24], **env = environ;
  posix_spawnattr_t attr;
  sigset_t none, all, old;
  shmlua_child *c;
  int rc;
  reap_orphans();
  if (!(c = new_child(shmlua_self(), err)))
    return -1;
  if (watched) {
    snprintf(var, sizeof var, "%s=%ld", SHMLUA_PARENT_ENV, (long)c->parent);
    if (!(env = environ_with(var))) {
      free_child(c);
      return shmlua_fail(err, ENOMEM, program);
    }
  }
  if ((rc = posix_spawnattr_init(&attr)) != 0) {
    free_child(c);
    if (env != environ)
      free(env);
    return shmlua_fail(err, rc, program);
  }
  /* The program starts clean: whatever this process blocks or handles is not its concern. */
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  block_signals(&old);
  rc = search ? posix_spawnp(&c->pid, program, NULL, &attr, argv, env)
              : posix_spawn(&c->pid, program, NULL, &attr, argv, env);
  if (rc == 0) {
    open_pidfd(c);
    register_child(c);
  }
  restore_signals(&old);
  posix_spawnattr_destroy(&attr);
  if (env != environ)
    free(env);
  if (rc != 0) {
    free_child(c);
    return shmlua_fail(err, rc, program);
  }
  *out = c;
  return 0;
}

void shmlua_child_watch_parent(void) {
  const char *value = getenv(SHMLUA_PARENT_ENV);
  sigset_t old;
  pid_t parent;
  if (!value)
    return;
  parent = (pid_t)strtol(value, NULL, 10);
  unsetenv(SHMLUA_PARENT_ENV);
  block_signals(&old);
  die_with_parent(parent, term_ignored());
  restore_signals(&old);
}

int shmlua_child_signal(shmlua_child *c, int signo, shmlua_error *err) {
  /* Until it is reaped the pid cannot be reused, so kill reaches the right process. */
  if (c->done)
    return shmlua_failf(err, ESRCH, "process %ld has already ended", (long)c->pid);
  if (kill(c->pid, signo))
    return shmlua_fail(err, errno, "kill");
  return 0;
}

void shmlua_child_release(shmlua_child *c) {
  if (c->parent != shmlua_self()) { /* a copy inherited through fork: not in our registry */
    free(c->data);
    free(c);
    return;
  }
  try_reap(c, WNOHANG);
  if (c->done) {
    unregister_child(c);
    free_child(c);
  } else { /* reaped by a later waitpid(WNOHANG): no descriptor needs to stay open */
    close_fd(&c->pidfd);
    c->orphan = true;
    orphans++;
  }
}

SHMLUA_FORKED int shmlua_children_wait_all(shmlua_error *err) {
  for (shmlua_child *c = registry; c; c = c->next) {
    if (c->daemon && !c->done)
      kill(c->pid, SIGTERM);
    while (!c->done) {
      int status;
      pid_t r = waitpid(c->pid, &status, 0);
      if (r < 0 && errno == EINTR)
        return shmlua_failcode(err, EINTR, "waiting for children");
      c->status = r == c->pid ? status : -1;
      c->done = true;
      close_fd(&c->pidfd);
    }
    if (c->slot) { /* nobody will read it now */
      shmlua_result_discard(c->slot);
      c->slot = NULL;
    }
  }
  reap_orphans();
  return 0;
}

size_t shmlua_children_running(void) {
  size_t n = 0;
  reap_orphans();
  for (shmlua_child *c = registry; c; c = c->next) {
    try_reap(c, WNOHANG);
    n += !c->done;
  }
  return n;
}

unsigned long shmlua_children_started(void) {
  return started;
}

void shmlua_children_terminate_since(unsigned long mark, double grace_seconds) {
  struct timespec deadline = shmlua_deadline(grace_seconds), nap = {0, 5000000};
  int saved = errno;
  bool running = false;
  for (shmlua_child *c = registry; c; c = c->next)
    if (c->serial > mark && !c->done) {
      kill(c->pid, SIGTERM);
      running = true;
    }
  while (running) {
    bool expired = shmlua_sync_expired(&deadline); /* before the look, so one follows it */
    running = false;
    for (shmlua_child *c = registry; c; c = c->next)
      if (c->serial > mark) {
        try_reap(c, WNOHANG);
        running = running || !c->done;
      }
    if (!running || expired)
      break;
    nanosleep(&nap, NULL);
  }
  for (shmlua_child *c = registry; c; c = c->next)
    if (c->serial > mark && !c->done) {
      kill(c->pid, SIGKILL);
      try_reap(c, 0);
    }
  errno = saved;
}

void shmlua_children_terminate_all(double grace_seconds) {
  shmlua_children_terminate_since(0, grace_seconds);
}
