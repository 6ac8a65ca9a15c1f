/* coroutine.resume and the functions of coroutine.wrap, telling the binding which thread
   runs (shmlua_running_enter), so that Ctrl-C stops a loop inside a coroutine as it stops
   one outside: lua_sethook is per thread, and lua.c only ever hooks the main one. Each is
   the standard function (upvalue 1) called under lua_pcall, so the running thread is given
   back whatever happens. */
#include "coroutines.h"

#include <lauxlib.h>

#include "binding.h"

/* The standard function with the arguments, while co runs. */
static int callrunning(lua_State *L, lua_State *co) {
  int status;
  lua_State *outer;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  outer = shmlua_running_enter(co);
  status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  shmlua_running_leave(co, outer);
  if (status == LUA_OK)
    return lua_gettop(L);
  /* The position the standard wrap adds; it saw only this C function as its caller. */
  if (status != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

static int resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  return callrunning(L, co);
}

/* Upvalues: the standard wrap's function, its coroutine. */
static int wrapped(lua_State *L) {
  return callrunning(L, lua_tothread(L, lua_upvalueindex(2)));
}

static int wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  if (lua_getupvalue(L, 1, 1) && lua_type(L, -1) == LUA_TTHREAD)
    lua_pushcclosure(L, wrapped, 2);
  else /* not the standard library's wrap: leave its function as it is */
    lua_settop(L, 1);
  return 1;
}

/* Replaces coroutine[name] by f with the standard function as its upvalue. */
static void replace(lua_State *L, const char *name, lua_CFunction f) {
  lua_getfield(L, -1, name);
  if (lua_type(L, -1) == LUA_TFUNCTION)
    lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
}

void shmlua_host_track_coroutines(lua_State *L) {
  if (lua_getglobal(L, "coroutine") == LUA_TTABLE) {
    replace(L, "resume", resume);
    replace(L, "wrap", wrap);
  }
  lua_pop(L, 1);
}
