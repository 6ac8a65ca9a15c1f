/* Whether another process is still alive. kill(pid, 0) is not enough: it succeeds on a
   zombie (a process that ended but that its parent has not reaped yet, as when the parent
   is busy waiting with it on a barrier), and on an unrelated process that got the pid
   after the first one was reaped. Here a zombie is dead, and a start time recorded while
   the process was known alive tells a reused pid apart. Nothing here fails (error.h's
   rule): what cannot be known is an answer of its own (0 for a start time). */
#ifndef SHMLUA_LIVENESS_H
#define SHMLUA_LIVENESS_H

#include <stdint.h>
#include <sys/types.h>

/* When pid started, in a unit of the system's own (Linux: clock ticks since boot, from
   /proc; macOS: microseconds, from sysctl); 0 when it cannot be known. */
uint64_t shmlua_process_started(pid_t pid);

/* 1 if pid is a live process (not a zombie) that started at started (0: any start time);
   0 if it is gone. Where neither /proc nor sysctl can tell (another pid namespace, /proc
   hidden), kill(pid, 0) decides, zombies counting as alive there. */
int shmlua_process_alive(pid_t pid, uint64_t started);

#endif
