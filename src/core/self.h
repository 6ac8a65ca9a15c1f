/* This process's id, kept: getpid is a system call in glibc >= 2.25, asked for at each start
   of a child, each wait for one and each release of its handle. A handler pthread_atfork
   runs in the child of every fork() made through the C library (by shmlua or anyone else)
   forgets it there. A child made another way either runs no code of this process (vfork,
   posix_spawn, system, popen: it execs or exits at once) or bypasses the C library's fork
   (_Fork, a raw clone), where the kept id would be the parent's: such a child must not run
   Lua with this module. Kept with glibc only (self.c says why). Not async-signal-safe the
   first time: a signal handler calls getpid. */
#ifndef SHMLUA_SELF_H
#define SHMLUA_SELF_H

#include <sys/types.h>

pid_t shmlua_self(void);

#endif
