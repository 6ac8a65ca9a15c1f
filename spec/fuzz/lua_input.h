/* For fuzz targets that run Lua: calls fn(bytes, size) in a protected call of one lua_State
   kept across inputs, bytes a heap copy of the input (fuzz_block). A Lua error is a valid
   answer; what fn REQUIREs, ASan and UBSan are the checks. */
#ifndef SHMLUA_FUZZ_LUA_INPUT_H
#define SHMLUA_FUZZ_LUA_INPUT_H

#include <lauxlib.h>

#include "require.h"

static inline void fuzz_lua_call(lua_CFunction fn, const unsigned char *data, size_t size) {
  static lua_State *L;
  unsigned char *bytes = fuzz_block(data, size);
  if (!L)
    L = luaL_newstate();
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, bytes);
  lua_pushinteger(L, (lua_Integer)size);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK)
    lua_pop(L, 1);
  lua_gc(L, LUA_GCCOLLECT);
  free(bytes);
}

#endif
