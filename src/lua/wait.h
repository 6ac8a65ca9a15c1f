/* Blocking waits (wait.c): timeouts as arguments, and the loop that lets Ctrl-C through a
   wait in C. The synchronization objects, a:wait and process handles wait this way. */
#ifndef SHMLUA_WAIT_H
#define SHMLUA_WAIT_H

#include <time.h>

#include "compat.h"

/* Optional timeout in seconds at arg: NULL (nil: no limit) or deadline, filled. */
const struct timespec *shmlua_opttimeout(lua_State *L, int arg, struct timespec *deadline);
/* The same checks without reading the clock, for calls that try once before they wait:
   NULL (no limit) or seconds, filled; shmlua_sync_wait_for makes the deadline if a wait
   comes. Inline for the common call, which gives no timeout: one lua_gettop, no call. */
const double *shmlua_checkseconds(lua_State *L, int arg, double *seconds);
static inline const double *shmlua_optseconds(lua_State *L, int arg, double *seconds) {
  return lua_gettop(L) < arg ? NULL : shmlua_checkseconds(L, arg, seconds);
}

/* One blocking step of a wait, until deadline: returns 0, an errno, or EINTR. */
typedef int (*shmlua_sync_op)(void *ctx, const struct timespec *deadline);

/* Runs op until it returns something other than EINTR, letting Ctrl-C raise in between.
   A signal that lands outside the wait's system call gives no EINTR, so op is run in short
   slices (sliced: op gets a deadline at most 0.1 s away) or returns EINTR now and then by
   itself (not sliced: it needs the real deadline, as a barrier, which breaks at it).
   undo (may be NULL) is called with ctx before an interrupt error leaves. */
int shmlua_sync_wait(lua_State *L, shmlua_sync_op op, void *ctx,
                     const struct timespec *deadline, int sliced, void (*undo)(void *ctx));
/* The sliced wait of a call whose first try, made before any clock read, could not go
   ahead: the deadline seconds (NULL: none, as shmlua_optseconds read them) from now. */
int shmlua_sync_wait_for(lua_State *L, shmlua_sync_op op, void *ctx, const double *seconds);

/* Pushes nil, what ("timeout", "closed", ...): the documented failure of a wait. Returns 2. */
int shmlua_sync_fail(lua_State *L, const char *what);

#endif
