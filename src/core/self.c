#include "self.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "forked.h"

#if defined(__GLIBC__)
/* 0 until asked for, and again in each forked child (on the page such a child writes). */
static SHMLUA_FORKED_DATA pid_t kept;
static pthread_once_t hooking = PTHREAD_ONCE_INIT;
static bool hooked; /* without the handler (no memory for it) nothing is kept */

SHMLUA_FORKED static void forget(void) {
  __atomic_store_n(&kept, 0, __ATOMIC_RELAXED);
}

static void hook(void) {
  hooked = pthread_atfork(NULL, NULL, forget) == 0;
}

pid_t shmlua_self(void) {
  pid_t pid = __atomic_load_n(&kept, __ATOMIC_RELAXED);
  if (pid == 0) {
    pthread_once(&hooking, hook);
    pid = getpid();
    if (hooked)
      __atomic_store_n(&kept, pid, __ATOMIC_RELAXED);
  }
  return pid;
}
#else
/* Elsewhere an unloaded module's handler would stay registered (glibc drops a library's
   handlers when it is unloaded), and getpid may cost no system call. */
pid_t shmlua_self(void) {
  return getpid();
}
#endif
