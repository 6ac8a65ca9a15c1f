/* Functions run in child processes, and their handles (proc.c), for shm.spawn, shm.map and
   shm.pool. */
#ifndef SHMLUA_SPAWN_H
#define SHMLUA_SPAWN_H

#include <stddef.h>
#include <time.h>

#include "../core/proc.h"
#include "compat.h"

/* Replaces the error object at the top of L by text, as lua.c does: a string, __tostring's
   result, or what type it is. Returns it. */
const char *shmlua_errortext(lua_State *L);
/* Calls the function below the nargs arguments on top in a coroutine of its own, so an
   error's traceback shows only its frames. 1: the results replace function and arguments;
   0: one string does, the error with that traceback. */
int shmlua_calltraced(lua_State *L, int nargs);
/* The same in the coroutine co, which must be fresh or have finished its last call: a caller
   with many calls reuses one (it is reset after an error). */
int shmlua_calltraced_in(lua_State *L, lua_State *co, int nargs);
/* Forks a child that calls the function below the nargs arguments on top of the stack and
   sends back what it returns. In the parent, replaces function and arguments by the child's
   handle and returns the child; on failure pops them and returns NULL with err. */
shmlua_child *shmlua_spawnfn(lua_State *L, int nargs, shmlua_error *err);
/* The child of the process handle at arg, which must be this process's own (raises
   otherwise). */
shmlua_child *shmlua_checkchild(lua_State *L, int arg);
/* Pushes what waiting for a finished child gives: true and its values, or nil and "exit",
   "signal" or "error" with a code, signal number or message. Returns the count. */
int shmlua_pushresults(lua_State *L, const shmlua_child *c);
/* How a finished child ended, as shmlua_pushresults tells it: for a caller that words it its
   own way (shm.map) without reading the words back. */
typedef enum shmlua_ending {
  SHMLUA_ENDED_VALUES, /* it sent values (true, values...) */
  SHMLUA_ENDED_OK,     /* exit 0, nothing sent (true) */
  SHMLUA_ENDED_ERROR,  /* it sent an error, or its status was lost (nil, "error", message) */
  SHMLUA_ENDED_SIGNAL, /* nil, "signal", number */
  SHMLUA_ENDED_EXIT    /* another exit code: nil, "exit", code */
} shmlua_ending;
typedef struct shmlua_childend {
  shmlua_ending how;
  int number;          /* SIGNAL: the signal; EXIT: the code */
  const char *message; /* ERROR: len bytes, in the child's record or static */
  size_t len;
} shmlua_childend;
shmlua_childend shmlua_child_ended(const shmlua_child *c);
/* shmlua_child_wait that lets Ctrl-C interrupt it and raises on system errors: 0 (*which
   has ended) or ETIMEDOUT. */
int shmlua_waitchildren(lua_State *L, shmlua_child *const *children, size_t n,
                        const struct timespec *deadline, size_t *which);

#endif
