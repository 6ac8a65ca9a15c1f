/* coroutine.resume and coroutine.wrap as the standard library has them, except that they
   tell the binding which thread runs (shmlua_running_enter), so that Ctrl-C stops a loop
   inside a coroutine as it stops one outside: lua_sethook is per thread, and lua.c only ever
   hooks the main one. Nothing between enter and leave can raise (lua_resume catches what
   the coroutine raises), so the running thread is always given back, at no extra cost. */
#include "coroutines.h"

#include <lauxlib.h>

#include "interrupt.h"

/* Resumes co with the nargs values on top. Returns how many values it yielded or returned,
   moved onto L; or -1 with its error (or why it cannot run) on top of L. */
static int resumerunning(lua_State *L, lua_State *co, int nargs) {
  lua_State *outer;
  int status, nresults;
  if (!lua_checkstack(co, nargs)) {
    lua_pushliteral(L, "too many arguments to resume");
    return -1;
  }
  lua_xmove(L, co, nargs);
  outer = shmlua_running_enter(co);
  status = lua_resume(co, L, nargs, &nresults);
  shmlua_running_leave(co, outer);
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_xmove(co, L, 1);
    return -1;
  }
  if (!lua_checkstack(L, nresults + 1)) {
    lua_pop(co, nresults);
    lua_pushliteral(L, "too many results to resume");
    return -1;
  }
  lua_xmove(co, L, nresults);
  return nresults;
}

/* coroutine.resume(co, ...): true and what co yields or returns, or false and its error. */
static int resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  int n;
  luaL_argexpected(L, co, 1, lua_typename(L, LUA_TTHREAD));
  n = resumerunning(L, co, lua_gettop(L) - 1);
  lua_pushboolean(L, n >= 0);
  if (n < 0)
    n = 1;
  lua_insert(L, -n - 1);
  return n + 1;
}

/* A function made by coroutine.wrap (upvalue 1: its coroutine): resumes it, and raises its
   error, with the caller's position if it is a string, once its to-be-closed variables are
   closed. */
static int wrapped(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int n = resumerunning(L, co, lua_gettop(L)), status;
  if (n >= 0)
    return n;
  status = lua_status(co);
  if (status != LUA_OK && status != LUA_YIELD) { /* it died of this error */
    status = shmlua_running_close(co, L);
    lua_xmove(co, L, 1);
  }
  if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

static int wrap(lua_State *L) {
  lua_State *co;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, wrapped, 1);
  return 1;
}

void shmlua_host_track_coroutines(lua_State *L) {
  static const luaL_Reg tracked[] = {{"resume", resume}, {"wrap", wrap}, {NULL, NULL}};
  if (lua_getglobal(L, "coroutine") == LUA_TTABLE)
    luaL_setfuncs(L, tracked, 0);
  lua_pop(L, 1);
}
