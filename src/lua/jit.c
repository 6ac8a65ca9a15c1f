/* Under LuaJIT: element access of buf and typed arrays through FFI (lua/shm/jit.lua, compiled
   into the module by CMake), so loops over a block are compiled instead of calling C. */
#include <stdbool.h>
#include <stddef.h>

#include "binding.h"

#if SHMLUA_IS_LUAJIT
#include "jit_lua.h" /* shmlua_jit_lua: the bytes of lua/shm/jit.lua */

/* jit.lua's view of the block; the buf and array layouts are checked in buf.c and array.c. */
_Static_assert(offsetof(shmlua_block, addr) == 0 &&
                   offsetof(shmlua_block, size) == sizeof(void *) &&
                   offsetof(shmlua_block, readonly) == sizeof(void *) + sizeof(size_t) &&
                   sizeof(bool) == 1,
               "lua/shm/jit.lua mirrors shmlua_block");

void shmlua_open_jit(lua_State *L) {
  /* A LuaJIT without its FFI keeps the C metamethods. */
  if (luaL_loadbuffer(L, shmlua_jit_lua, sizeof shmlua_jit_lua, "=shm/jit.lua") != LUA_OK)
    lua_error(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "ffi");
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pop(L, 2); /* the error and the chunk */
    return;
  }
  luaL_getmetatable(L, SHMLUA_BUF_MT);
  luaL_getmetatable(L, SHMLUA_ARRAY_MT);
  lua_pushlightuserdata(L, (void *)shmlua_buf_tagclass());
  lua_pushlightuserdata(L, (void *)shmlua_array_tagclass());
  lua_call(L, 4, 0);
}
#else
void shmlua_open_jit(lua_State *L) {
  (void)L;
}
#endif
