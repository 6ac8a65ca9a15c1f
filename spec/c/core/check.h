/* The checks of the core's C tests (spec/c/core): each failed check prints where and what,
   and check_done() turns the count into the exit status, so ctest reports the test failed.
   A forked child that checks ends with check_child_exit(), its status telling the parent. */
#ifndef SHMLUA_CHECK_H
#define SHMLUA_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "name.h"

static int check_failures;

static inline int check_report(int ok, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  if (ok)
    return 1;
  check_failures++;
  fprintf(stderr, "%s:%d: FAIL ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 0;
}

/* Each evaluates its arguments once and returns whether the check held. */
#define CHECK(cond) check_report((cond) ? 1 : 0, __FILE__, __LINE__, "%s", #cond)
#define CHECK_INT(got, want)                                                                  \
  do {                                                                                        \
    long long got_ = (long long)(got), want_ = (long long)(want);                             \
    check_report(got_ == want_, __FILE__, __LINE__, "%s is %lld, expected %lld", #got, got_,  \
                 want_);                                                                      \
  } while (0)
/* An errno-style result: 0 or an errno value, shown by name. */
#define CHECK_ERRNO(got, want)                                                                \
  do {                                                                                        \
    int got_ = (got), want_ = (want);                                                         \
    check_report(got_ == want_, __FILE__, __LINE__, "%s gave %d (%s), expected %d (%s)",      \
                 #got, got_, strerror(got_), want_, strerror(want_));                         \
  } while (0)
/* Where checked core calls leave their error (ERR as their err argument), and such a call's
   outcome as an errno: 0 when it returned 0, else the code it left there (the core's rule:
   0, or -1 with err filled). */
static inline shmlua_error *check_error(void) {
  static shmlua_error err;
  return &err;
}
#define ERR check_error()
#define CODE(call) ((call) == 0 ? 0 : check_error()->code)
#define CHECK_STR(got, want)                                                                  \
  do {                                                                                        \
    const char *got_ = (got), *want_ = (want);                                                \
    check_report(strcmp(got_, want_) == 0, __FILE__, __LINE__,                                \
                 "%s is \"%s\", expected \"%s\"", #got, got_, want_);                         \
  } while (0)
/* A core call that fails: it returned -1 and err holds code and a message containing part. */
#define CHECK_FAILS(call, err, want_code, part)                                               \
  do {                                                                                        \
    int rc_ = (call);                                                                         \
    check_report(                                                                             \
        rc_ == -1 && (err).code == (want_code) && strstr((err).message, (part)), __FILE__,    \
        __LINE__, "%s gave %d, code %d, \"%s\"; expected -1, code %d, \"%s\"", #call, rc_,    \
        rc_ == -1 ? (err).code : 0, rc_ == -1 ? (err).message : "", (want_code), (part));     \
  } while (0)

/* fork() with stdio flushed first; the child starts with no failures of its own. */
static inline pid_t check_fork(void) {
  pid_t pid;
  fflush(NULL);
  pid = fork();
  if (pid == 0)
    check_failures = 0;
  return pid;
}

/* A fork whose child says when it is ready: the child gets the write end in *fd and calls
   check_say_ready(*fd); the parent gets the read end and calls check_await_ready(*fd), which
   is 1 once the child said so, 0 if it ended first. -1 if the pipe or fork failed. */
static inline pid_t check_fork_ready(int *fd) {
  int ends[2];
  pid_t pid;
  if (pipe(ends) != 0)
    return -1;
  pid = check_fork();
  close(ends[pid == 0 ? 0 : 1]);
  *fd = ends[pid == 0 ? 1 : 0];
  if (pid < 0)
    close(*fd);
  return pid;
}

static inline void check_say_ready(int fd) {
  if (write(fd, "", 1) != 1)
    _exit(2);
  close(fd);
}

static inline int check_await_ready(int fd) {
  char c;
  ssize_t n = read(fd, &c, 1);
  close(fd);
  return n == 1;
}

/* The monotonic clock in seconds. */
static inline double check_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Ends a forked child: status 0 if all its checks held (no atexit handlers run). */
static inline void check_child_exit(void) {
  fflush(NULL);
  _exit(check_failures ? 1 : 0);
}

/* Waits for pid; 1 if it exited with status want. */
static inline int check_exited(pid_t pid, int want) {
  int status;
  if (waitpid(pid, &status, 0) != pid)
    return 0;
  if (WIFSIGNALED(status))
    fprintf(stderr, "child %ld killed by signal %d\n", (long)pid, WTERMSIG(status));
  return WIFEXITED(status) && WEXITSTATUS(status) == want;
}

/* A name for this test's objects: ctest_<test>_<pid>_<n>, so parallel runs never meet. */
static const char *check_test = "core";

static inline shmlua_name check_name(void) {
  static int counter;
  char text[64];
  shmlua_name n;
  shmlua_error err;
  snprintf(text, sizeof text, "ctest_%s_%ld_%d", check_test, (long)getpid(), ++counter);
  if (shmlua_name_check(&n, text, strlen(text), &err) != 0)
    abort();
  return n;
}

/* Whether /dev/shm has the object of name n. */
static inline int check_shm_exists(const shmlua_name *n) {
  char path[sizeof n->path + 16];
  struct stat st;
  snprintf(path, sizeof path, "/dev/shm%s", n->path);
  return lstat(path, &st) == 0;
}

/* Fails for every object of this process's test left in /dev/shm, and removes it. */
static inline void check_shm_clean(pid_t pid) {
  char prefix[64];
  struct dirent *e;
  DIR *d = opendir("/dev/shm");
  size_t len = (size_t)snprintf(prefix, sizeof prefix, "ctest_%s_%ld_", check_test, (long)pid);
  if (!d)
    return;
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, prefix, len) == 0) {
      char path[300];
      check_report(0, __FILE__, __LINE__, "left in /dev/shm: %s", e->d_name);
      snprintf(path, sizeof path, "/%s", e->d_name);
      shm_unlink(path);
    }
  closedir(d);
}

/* The end of main: /dev/shm clean, then the verdict. */
static inline int check_done(void) {
  check_shm_clean(getpid());
  if (check_failures) {
    fprintf(stderr, "%s: %d checks failed\n", check_test, check_failures);
    return 1;
  }
  printf("%s: ok\n", check_test);
  return 0;
}

#endif
