/* Child processes: start them (fork or spawn a program), wait with a timeout, poll, signal,
   and reap or stop them all when this process ends. Every child stays in a registry until it
   is reaped, so none is left a zombie even when nobody waits for it.
   Errors as error.h says: 0 (or a pid) or -1 with err, whose code tells a timeout or a
   signal apart; watch_parent, release and the registry's other calls cannot fail. */
#ifndef SHMLUA_PROC_H
#define SHMLUA_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "result.h"

/* A started child. Read the fields; only the functions below change them. */
typedef struct shmlua_child {
  struct shmlua_child *next, *prev; /* registry links */
  pid_t pid;
  pid_t parent;         /* the process that started it: the only one that may wait for it */
  unsigned long serial; /* how many children its parent had started, itself included */
  bool done;            /* reaped: status is valid */
  bool orphan;          /* nobody holds it any more: freed once reaped */
  bool daemon; /* a pool's worker: at a normal end, sent SIGTERM rather than awaited */
  int status;  /* from waitpid */
  int pidfd;   /* Linux pidfd, readable once the child ended; -1 without one */
  shmlua_result_slot *slot; /* where a forked child sends its result; NULL once read */
  unsigned char *data;      /* what the child sent (shmlua_result_send) */
  size_t len;
} shmlua_child;

/* Forks. In the parent returns the child's pid and sets *out to its record. In the child
   returns 0: the registry is empty there (the parent's children are not its own), SIGTERM is
   not ignored, on Linux it gets SIGTERM when the parent dies, and it may send one result
   with shmlua_result_send (the record's data once waited for). stdio should be flushed by
   the caller first. -1 on failure. */
pid_t shmlua_child_fork(shmlua_child **out, shmlua_error *err);

/* Starts program with argv (NULL-terminated; argv[0] names it), inheriting stdio, with a
   default signal disposition and an empty signal mask. search: look program up in PATH when
   it has no slash. watched: the program is a shmlua interpreter, told in the environment
   (SHMLUA_PARENT_ENV) to stop when this process dies. */
int shmlua_child_spawn(shmlua_child **out, const char *program, char *const argv[],
                       bool search, bool watched, shmlua_error *err);

#define SHMLUA_PARENT_ENV "SHMLUA_PARENT_PID"

/* In a process started with watched = true: arranges SIGTERM when its parent dies (Linux) and
   raises it now if the parent is already gone. Harmless elsewhere; clears the variable so the
   process's own children do not see it. */
void shmlua_child_watch_parent(void);

/* Waits until one of the n children has ended and its result is read: returns 0 and sets
   *which to the first such. deadline: monotonic (shmlua_deadline); NULL waits for ever, a
   passed one looks once without blocking. Else -1 with err->code ETIMEDOUT, EINTR (a
   signal arrived: check for an interrupt and call again) or why it failed. Children must be
   this process's own. */
int shmlua_child_wait(shmlua_child *const *children, size_t n, const struct timespec *deadline,
                      size_t *which, shmlua_error *err);

/* Whether the child has ended and its result has been read. */
static inline bool shmlua_child_finished(const shmlua_child *c) {
  return c->done && !c->slot;
}

/* Sends signo unless the child was already reaped (ESRCH then). */
int shmlua_child_signal(shmlua_child *c, int signo, shmlua_error *err);

/* The caller lets go of the child: freed now if reaped, otherwise reaped later (at the next
   start or wait, or at exit) and freed then. Its result is discarded. */
void shmlua_child_release(shmlua_child *c);

/* At a normal end: waits for every child still running (their results are discarded), after
   sending SIGTERM to the daemons (which would wait for work for ever). Returns
   0, or -1 with EINTR if a signal interrupted it (call again, or terminate_all). */
int shmlua_children_wait_all(shmlua_error *err);

/* How many children are running now; those that ended are reaped. */
size_t shmlua_children_running(void);

/* On an error or a fatal signal: SIGTERM to every child still running, SIGKILL to those
   still there after grace_seconds, and reaps them all. Async-signal-safe. */
void shmlua_children_terminate_all(double grace_seconds);

/* How many children this process has started so far: a mark for
   shmlua_children_terminate_since. */
unsigned long shmlua_children_started(void);

/* shmlua_children_terminate_all for the children started after the mark only (the work of
   one interrupted statement). Async-signal-safe. */
void shmlua_children_terminate_since(unsigned long mark, double grace_seconds);

#endif
