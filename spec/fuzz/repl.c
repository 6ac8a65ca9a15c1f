/* Fuzz target: what a person types at the REPL and what a script gives the printer. The
   bytes are the text shm.complete and shm.help read, and a recipe for tables (nesting,
   cycles, odd keys) that shm.inspect prints with small limits. A Lua error is a valid
   answer; a crash, a non-string result or a call of a script's __index function is not. */
#include <stdint.h>

#include <lauxlib.h>
#include <lualib.h>

#include "introspect.h"
#include "lua_input.h"
#include "luashm.h"

static int trapped; /* the __index function of the environment's proxy ran */

static int trap(lua_State *S) {
  (void)S;
  trapped = 1;
  return 0;
}

/* An environment for completion: nested tables, the module, and a proxy that must not be
   called. */
static void pushenv(lua_State *S) {
  lua_newtable(S);
  luaL_requiref(S, "shm", luaopen_shm, 0);
  lua_setfield(S, -2, "shm");
  lua_newtable(S);
  lua_newtable(S);
  lua_pushinteger(S, 1);
  lua_setfield(S, -2, "deep");
  lua_setfield(S, -2, "b");
  lua_setfield(S, -2, "nest");
  lua_newtable(S);
  lua_newtable(S);
  lua_pushcfunction(S, trap);
  lua_setfield(S, -2, "__index");
  lua_setmetatable(S, -2);
  lua_setfield(S, -2, "proxy");
}

/* Tables made by the bytes: each byte picks an action on a list of tables made so far. */
static void pushtables(lua_State *S, const unsigned char *p, size_t n) {
  int list;
  lua_Integer count = 1;
  lua_newtable(S);
  list = lua_gettop(S);
  lua_newtable(S);
  lua_rawseti(S, list, 1);
  for (size_t i = 0; i + 2 < n; i += 3) {
    lua_Integer target = 1 + p[i + 1] % count, other = 1 + p[i + 2] % count;
    lua_rawgeti(S, list, target);
    switch (p[i] % 6) {
    case 0: /* a new table inside */
      lua_newtable(S);
      lua_pushvalue(S, -1);
      lua_rawseti(S, list, ++count);
      lua_rawseti(S, -2, (lua_Integer)lua_rawlen(S, -2) + 1);
      break;
    case 1: /* a link to any table made so far: cycles and shared tables */
      lua_pushlstring(S, (const char *)p + i, 3);
      lua_rawgeti(S, list, other);
      lua_rawset(S, -3);
      break;
    case 2: /* a string key of odd bytes */
      lua_pushlstring(S, (const char *)p + i + 1, 2);
      lua_pushinteger(S, p[i]);
      lua_rawset(S, -3);
      break;
    case 3: /* a number key, maybe a float */
      lua_pushnumber(S, (lua_Number)p[i + 1] / (p[i + 2] % 4 + 1) - 64);
      lua_pushboolean(S, p[i + 2] & 1);
      lua_rawset(S, -3);
      break;
    case 4: /* a table as a key */
      lua_rawgeti(S, list, other);
      lua_pushlstring(S, (const char *)p + i, 3);
      lua_rawset(S, -3);
      break;
    default: /* a boolean key */
      lua_pushboolean(S, p[i + 1] & 1);
      lua_pushnumber(S, p[i + 2] * 0.5);
      lua_rawset(S, -3);
    }
    lua_pop(S, 1);
  }
  lua_rawgeti(S, list, 1);
}

static int run(lua_State *S) {
  const unsigned char *data = lua_touserdata(S, 1);
  size_t size = (size_t)lua_tointeger(S, 2), half = size / 2;
  lua_pushcfunction(S, shmlua_complete);
  lua_pushlstring(S, (const char *)data, half);
  pushenv(S);
  lua_call(S, 2, 1);
  REQUIRE(lua_istable(S, -1) && !trapped);
  lua_pushcfunction(S, shmlua_help);
  lua_pushlstring(S, (const char *)data, half);
  lua_call(S, 1, 2);
  REQUIRE(lua_type(S, -2) == LUA_TSTRING || lua_type(S, -1) == LUA_TSTRING);
  lua_pushcfunction(S, shmlua_inspect);
  pushtables(S, data + half, size - half);
  lua_createtable(S, 0, 3);
  lua_pushinteger(S, size ? data[0] % 8 : 0);
  lua_setfield(S, -2, "depth");
  lua_pushinteger(S, size > 1 ? data[1] % 64 : 0);
  lua_setfield(S, -2, "items");
  lua_pushinteger(S, size > 2 ? data[2] % 100 : 0);
  lua_setfield(S, -2, "width");
  lua_call(S, 2, 1);
  REQUIRE(lua_type(S, -1) == LUA_TSTRING);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  trapped = 0;
  fuzz_lua_call(run, data, size);
  return 0;
}
