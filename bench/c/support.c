/* benchsupport: what the Lua side of bench/ needs beyond the standard library.
   now(): seconds on the monotonic clock (os.clock is CPU time and misses sleeps);
   cpu(): seconds of CPU time of this process (for single-process loops: less noisy when
   other work shares the cores); probe(): a userdata whose __index returns the key and whose
   __newindex adds the value to a sum (probesum(p) reads it), and whose methods do nothing:
   about the least a C metamethod can do, so the floor under buf[i] and m:lock() here. */
#include <lauxlib.h>
#include <lua.h>
#include <time.h>

static int seconds(lua_State *L, clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int now(lua_State *L) {
  return seconds(L, CLOCK_MONOTONIC);
}

static int cpu(lua_State *L) {
  return seconds(L, CLOCK_PROCESS_CPUTIME_ID);
}

static int nop(lua_State *L) {
  (void)L;
  return 0;
}

/* A string key is a method that does nothing: p:lock() is the floor of a method call. */
static int probe_index(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING)
    lua_pushcfunction(L, nop);
  else
    lua_settop(L, 2);
  return 1;
}

static int probe_newindex(lua_State *L) {
  *(lua_Integer *)lua_touserdata(L, 1) += lua_tointeger(L, 3);
  return 0;
}

static int probesum(lua_State *L) {
  lua_pushinteger(L, *(lua_Integer *)luaL_checkudata(L, 1, "benchsupport.probe"));
  return 1;
}

static int probe(lua_State *L) {
  *(lua_Integer *)lua_newuserdatauv(L, sizeof(lua_Integer), 0) = 0;
  if (luaL_newmetatable(L, "benchsupport.probe")) {
    lua_pushcfunction(L, probe_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, probe_newindex);
    lua_setfield(L, -2, "__newindex");
  }
  lua_setmetatable(L, -2);
  return 1;
}

int luaopen_benchsupport(lua_State *L) {
  static const luaL_Reg functions[] = {{"now", now}, {"cpu", cpu}, {"probe", probe},
                                            {"probesum", probesum}, {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
