/* Liveness of another process: /proc/<pid>/stat on Linux, sysctl on macOS, kill(pid, 0)
   where neither answers. */
#include "liveness.h"

#include <errno.h>
#include <signal.h>

#if defined(__linux__)
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The state letter and start time of pid from /proc/<pid>/stat: 1, or 0 if it cannot be
   read. The command name (field 2) may hold spaces and parentheses: the fields after it
   start past the last ')'. */
static int look(pid_t pid, char *state, uint64_t *started) {
  char path[32], text[1024];
  const char *p;
  ssize_t n;
  int fd;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
    return 0;
  do
    n = read(fd, text, sizeof text - 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0)
    return 0;
  text[n] = '\0';
  if (!(p = strrchr(text, ')')) || p[1] != ' ' || !p[2])
    return 0;
  *state = p[2];
  /* starttime is field 22: the 20th after the name, the state being the 1st */
  p += 2;
  for (int field = 1; field < 20; field++)
    if (!(p = strchr(p, ' ')))
      return 0;
    else
      p++;
  *started = 0;
  for (; *p >= '0' && *p <= '9'; p++)
    *started = *started * 10 + (uint64_t)(*p - '0');
  return 1;
}

#elif defined(__APPLE__)
#include <sys/sysctl.h>

static int look(pid_t pid, char *state, uint64_t *started) {
  struct kinfo_proc info;
  size_t len = sizeof info;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
  if (sysctl(mib, 4, &info, &len, NULL, 0) != 0 || len == 0)
    return 0; /* len 0: no such process; kill below says so too */
  *state = info.kp_proc.p_stat == SZOMB ? 'Z' : 'R';
  *started = (uint64_t)info.kp_proc.p_starttime.tv_sec * 1000000u +
             (uint64_t)info.kp_proc.p_starttime.tv_usec;
  return 1;
}

#else
static int look(pid_t pid, char *state, uint64_t *started) {
  (void)pid;
  (void)state;
  (void)started;
  return 0;
}
#endif

uint64_t shmlua_process_started(pid_t pid) {
  char state;
  uint64_t started;
  return look(pid, &state, &started) ? started : 0;
}

int shmlua_process_alive(pid_t pid, uint64_t started) {
  char state;
  uint64_t now_started;
  int saved = errno, alive;
  if (look(pid, &state, &now_started))
    alive = state != 'Z' && state != 'X' && (started == 0 || now_started == started);
  else
    alive = kill(pid, 0) == 0 || errno != ESRCH;
  errno = saved;
  return alive;
}
