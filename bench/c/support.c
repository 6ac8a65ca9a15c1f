/* benchclock: a monotonic clock for the Lua side of bench/ (Lua's os.clock is CPU time,
   which misses the time a process sleeps in a wait). benchclock.now() -> seconds. */
#include <lauxlib.h>
#include <lua.h>
#include <time.h>

static int now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

int luaopen_benchclock(lua_State *L) {
  static const luaL_Reg functions[] = {{"now", now}, {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
