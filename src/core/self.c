#include "self.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "forked.h"

/* 0 until asked for, and again in each forked child (on the page such a child writes). */
static SHMLUA_FORKED_DATA volatile pid_t kept;
static pthread_once_t hooking = PTHREAD_ONCE_INIT;
static bool hooked; /* without the handler (no memory for it) nothing is kept */

SHMLUA_FORKED static void forget(void) {
  kept = 0;
}

static void hook(void) {
  hooked = pthread_atfork(NULL, NULL, forget) == 0;
}

pid_t shmlua_self(void) {
  pid_t pid = kept;
  if (pid == 0) {
    pthread_once(&hooking, hook);
    pid = getpid();
    if (hooked)
      kept = pid;
  }
  return pid;
}
