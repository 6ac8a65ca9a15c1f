/* Under LuaJIT: element access of buf and typed arrays through FFI (lua/shm/jit.lua, compiled
   into the module by CMake), so loops over a block are compiled instead of calling C. The C
   side tells it each view it makes, and where the block's live address is (block.h), which
   close and the SIGBUS handler clear: no guard covers those loads and stores, so the block
   is watched (fault.h) and a page gone becomes zeros and an error at the next check. */
#include "jit.h"
#include "../core/block.h"
#include "../core/fault.h"
#include "class.h"
#include "parts.h"

#if SHMLUA_IS_LUAJIT
#include "jit_lua.h" /* shmlua_jit_lua: the bytes of lua/shm/jit.lua */

/* Registry key of jit.lua's track function (absent: the C path only). */
static const char track_key;

void shmlua_open_jit(lua_State *L) {
  if (luaL_loadbuffer(L, shmlua_jit_lua, sizeof shmlua_jit_lua, "=shm/jit.lua") != LUA_OK)
    lua_error(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "ffi");
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) { /* a LuaJIT without its FFI keeps the C path */
    lua_pop(L, 2);
    return;
  }
  luaL_getmetatable(L, SHMLUA_BUF_MT);
  luaL_getmetatable(L, SHMLUA_ARRAY_MT);
  lua_call(L, 2, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &track_key);
}

void shmlua_jit_track(lua_State *L, int view, int block, int dtype, size_t offset,
                      size_t count, ptrdiff_t stride) {
  shmlua_block *b = lua_touserdata(L, block);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &track_key);
  if (lua_isnil(L, -1) || !b->live || shmlua_fault_watch(b) != 0) { /* the C path then */
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, view);
  lua_pushvalue(L, block);
  lua_pushlightuserdata(L, (void *)&b->live);
  lua_pushnumber(L, (lua_Number)b->size);
  lua_pushboolean(L, b->readonly);
  if (dtype < 0) {
    lua_call(L, 5, 0);
    return;
  }
  lua_pushnumber(L, (lua_Number)offset);
  lua_pushnumber(L, (lua_Number)count);
  lua_pushinteger(L, dtype);
  lua_pushnumber(L, (lua_Number)stride);
  lua_call(L, 9, 0);
}
#else
void shmlua_open_jit(lua_State *L) {
  (void)L;
}

void shmlua_jit_track(lua_State *L, int view, int block, int dtype, size_t offset,
                      size_t count, ptrdiff_t stride) {
  (void)L, (void)view, (void)block, (void)dtype, (void)offset, (void)count, (void)stride;
}
#endif
