/* Liveness (liveness.c): a zombie is dead though kill(pid, 0) still finds it, a reaped pid
   is dead, a stopped process is alive, a wrong start time is another process, and a
   command name full of spaces and parentheses does not confuse the reading of /proc. */
#include <signal.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "check.h"
#include "liveness.h"

static void self(void) {
  uint64_t started = shmlua_process_started(getpid());
  CHECK(started != 0);
  CHECK_INT(shmlua_process_alive(getpid(), 0), 1);
  CHECK_INT(shmlua_process_alive(getpid(), started), 1);
  CHECK_INT(shmlua_process_alive(getpid(), started + 1), 0); /* a reused pid */
}

/* A child that has exited and not been reaped. */
static void zombie(void) {
  siginfo_t info;
  pid_t pid;
  uint64_t started;
  if ((pid = check_fork()) == 0)
    _exit(0);
  started = shmlua_process_started(pid); /* alive or already a zombie: the same time */
  /* Wait for the end without reaping: the zombie stays. */
  CHECK(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) == 0);
  CHECK(kill(pid, 0) == 0); /* what kill alone would say */
  CHECK_INT(shmlua_process_alive(pid, 0), 0);
  CHECK_INT(shmlua_process_alive(pid, started), 0);
  CHECK(check_exited(pid, 0));
  CHECK_INT(shmlua_process_alive(pid, 0), 0); /* reaped: gone */
  CHECK_INT(shmlua_process_started(pid), 0);
}

/* A stopped child is alive; its start time does not change with its name. */
static void stopped_and_renamed(void) {
  int go[2], done[2];
  uint64_t before;
  char c;
  pid_t pid;
  if (!CHECK(pipe(go) == 0) || !CHECK(pipe(done) == 0))
    return;
  if ((pid = check_fork()) == 0) {
    if (read(go[0], &c, 1) != 1)
      _exit(2);
#if defined(__linux__)
    prctl(PR_SET_NAME, "a) b (c) 1 2 3"); /* fields after the first ')' shift */
#endif
    if (write(done[1], "", 1) != 1)
      _exit(2);
    for (;;)
      pause();
  }
  close(go[0]);
  close(done[1]);
  before = shmlua_process_started(pid);
  CHECK(before != 0);
  CHECK(write(go[1], "", 1) == 1 && read(done[0], &c, 1) == 1);
  CHECK_INT(shmlua_process_started(pid), before);
  CHECK_INT(shmlua_process_alive(pid, before), 1);
  kill(pid, SIGSTOP);
  CHECK_INT(shmlua_process_alive(pid, before), 1);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  CHECK_INT(shmlua_process_alive(pid, before), 0);
  close(go[1]);
  close(done[0]);
}

int main(void) {
  check_test = "liveness";
  self();
  zombie();
  stopped_and_renamed();
  return check_done();
}
