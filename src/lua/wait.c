/* Blocking waits: timeouts as arguments, and waits in C that let Ctrl-C through. */
#include <errno.h>

#include "../core/futex.h"
#include "../core/sync_wait.h"
#include "argcheck.h"
#include "compat.h"
#include "interrupt.h"
#include "wait.h"

static const double SLICE_SECONDS = 0.1; /* how often a pthread wait looks for Ctrl-C */

/* An argument that is there: nil (no limit) or a number of seconds. */
const double *shmlua_checkseconds(lua_State *L, int arg, double *seconds) {
  lua_Number t;
  if (lua_isnil(L, arg))
    return NULL;
  t = luaL_checknumber(L, arg);
  luaL_argcheck(L, t >= 0, arg, "timeout must be a non-negative number of seconds");
  *seconds = (double)t;
  return seconds;
}

const struct timespec *shmlua_opttimeout(lua_State *L, int arg, struct timespec *deadline) {
  double t;
  if (!shmlua_optseconds(L, arg, &t))
    return NULL;
  *deadline = shmlua_deadline(t);
  return deadline;
}

static int raise_interrupt(lua_State *L) {
  shmlua_checkinterrupt(L);
  return 0;
}

/* After EINTR: lets a pending Ctrl-C raise, running undo first when there is one. */
static void interrupted(lua_State *L, void (*undo)(void *), void *ctx) {
  if (!undo) {
    shmlua_checkinterrupt(L);
    return;
  }
  lua_pushcfunction(L, raise_interrupt);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    undo(ctx);
    lua_error(L);
  }
}

int shmlua_sync_wait(lua_State *L, shmlua_sync_op op, void *ctx,
                     const struct timespec *deadline, int sliced, void (*undo)(void *ctx)) {
  for (;;) {
    struct timespec slice;
    int rc = op(ctx, sliced ? shmlua_sync_earlier(deadline, SLICE_SECONDS, &slice) : deadline);
    if (sliced && rc == ETIMEDOUT && !shmlua_sync_expired(deadline))
      rc = EINTR; /* a slice ended: same as an interruption, then go on */
    if (rc != EINTR)
      return rc;
    interrupted(L, undo, ctx);
  }
}

int shmlua_sync_wait_for(lua_State *L, shmlua_sync_op op, void *ctx, const double *seconds) {
  struct timespec deadline;
  if (seconds)
    deadline = shmlua_deadline(*seconds);
  return shmlua_sync_wait(L, op, ctx, seconds ? &deadline : NULL, 1, NULL);
}

int shmlua_sync_fail(lua_State *L, const char *what) {
  luaL_pushfail(L);
  lua_pushstring(L, what);
  return 2;
}
