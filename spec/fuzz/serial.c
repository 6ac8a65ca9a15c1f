/* Fuzz target: the bytes a child process sends back to its parent and the messages q:get
   and q:get_many decode (src/lua/serial.c), which a broken or hostile peer may fill with
   anything: tables, shmlua objects by name, functions (keyed bytecode), modules by name.
   Decoding must push exactly the values it reports, or nothing and -1; a Lua error (out of
   memory, too many values, an object that cannot be attached, a function without the
   family's key) is allowed, a crash is not. The same bytes also go through the decoding of
   a pool's chunk results into a table (shmlua_deserialize_into), which pushes nothing,
   through the parent's reading of a reply with its results packed (shmlua_deserialize_packed,
   then the integers it points at into a table), through a pool worker's reading of a task in
   place (shmlua_deserialize_flat, which pushes one table or nothing), through the reading of
   the task id a corrupt reply names (shmlua_first_integer), and through a pool worker's
   decoding that keeps the blocks it attaches in a table (one kept for the whole run, so
   blocks found there are used again). The module is loaded, so objects and modules are
   looked up. */
#include <stdint.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua_input.h"
#include "luashm.h"
#include "serial.h"

static void still(lua_State *S, void *ctx) { /* the bytes stay: nothing to check */
  (void)S;
  (void)ctx;
}

static int decode(lua_State *S) {
  const char *data = lua_touserdata(S, 1);
  size_t size = (size_t)lua_tointeger(S, 2);
  int top, n;
  if (lua_getfield(S, LUA_REGISTRYINDEX, "fuzz.shm") == LUA_TNIL) { /* once per state */
    luaL_openlibs(S);
    luaL_requiref(S, "shm", luaopen_shm, 1);
    lua_setfield(S, LUA_REGISTRYINDEX, "fuzz.shm");
  }
  lua_settop(S, 2);
  top = lua_gettop(S);
  n = shmlua_deserialize(S, data, size);
  REQUIRE(n == -1 ? lua_gettop(S) == top : lua_gettop(S) == top + n);
  lua_settop(S, 2);
  lua_newtable(S);
  shmlua_deserialize_into(S, data, size, 3, 0);
  REQUIRE(lua_gettop(S) == 3);
  lua_settop(S, 2);
  {
    const char *integers;
    uint32_t count;
    n = shmlua_deserialize_packed(S, data, size, &integers, &count);
    REQUIRE(n == -1 ? lua_gettop(S) == 2 : lua_gettop(S) == 2 + n);
    if (n >= 0) { /* the integers lie inside the message, to its end */
      REQUIRE(integers >= data &&
              (size_t)(integers - data) + count * sizeof(lua_Integer) == size);
      lua_newtable(S);
      shmlua_integers_into(S, integers, count, -1, 0);
      REQUIRE(lua_gettop(S) == 3 + n);
    }
  }
  lua_settop(S, 2);
  n = shmlua_deserialize_flat(S, data, size, still, NULL);
  REQUIRE(lua_gettop(S) == 2 + n && (n == 0 || lua_istable(S, -1)));
  lua_settop(S, 2);
  {
    lua_Integer id;
    shmlua_first_integer(data, size, &id); /* reads only: a crash or overread is the failure */
  }
  if (lua_getfield(S, LUA_REGISTRYINDEX, "fuzz.kept") == LUA_TNIL) {
    lua_pop(S, 1);
    lua_newtable(S);
    lua_pushvalue(S, -1);
    lua_setfield(S, LUA_REGISTRYINDEX, "fuzz.kept");
  }
  top = lua_gettop(S);
  n = shmlua_deserialize_keeping(S, data, size, 3);
  REQUIRE(n == -1 ? lua_gettop(S) == top : lua_gettop(S) == top + n);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_call(decode, data, size);
  return 0;
}
