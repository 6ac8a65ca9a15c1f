/* Fuzz target: the bytes a child process sends back to its parent and the messages q:get
   decodes (src/lua/serial.c), which a broken or hostile peer may fill with anything: tables,
   shmlua objects by name, functions (keyed bytecode), modules by name. Decoding must push
   exactly the values it reports, or nothing and -1; a Lua error (out of memory, too many
   values, an object that cannot be attached, a function without the family's key) is
   allowed, a crash is not. The module is loaded, so objects and modules are looked up. */
#include <stdint.h>

#include <lauxlib.h>
#include <lualib.h>

#include "binding.h"
#include "luashm.h"
#include "require.h"

static lua_State *L;

static int decode(lua_State *S) {
  const char *data = lua_touserdata(S, 1);
  size_t size = (size_t)lua_tointeger(S, 2);
  int top = lua_gettop(S), n = shmlua_deserialize(S, data, size);
  REQUIRE(n == -1 ? lua_gettop(S) == top : lua_gettop(S) == top + n);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *bytes = fuzz_block(data, size);
  if (!L) {
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "shm", luaopen_shm, 1);
    lua_pop(L, 1);
  }
  lua_pushcfunction(L, decode);
  lua_pushlightuserdata(L, bytes);
  lua_pushinteger(L, (lua_Integer)size);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK)
    lua_pop(L, 1); /* a Lua error is a valid answer */
  lua_gc(L, LUA_GCCOLLECT);
  free(bytes);
  return 0;
}
