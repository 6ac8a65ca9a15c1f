/* Fuzz target: the bytes a child process sends back to its parent (src/lua/serial.c), which
   a broken or hostile child may fill with anything. Decoding must push exactly the values it
   reports, or nothing and -1; a Lua error (out of memory, too many values) is allowed, a
   crash is not. */
#include <stdint.h>

#include <lauxlib.h>
#include <lualib.h>

#include "binding.h"
#include "lua_input.h"

static int decode(lua_State *S) {
  const char *data = lua_touserdata(S, 1);
  size_t size = (size_t)lua_tointeger(S, 2);
  int top = lua_gettop(S), n = shmlua_deserialize(S, data, size);
  REQUIRE(n == -1 ? lua_gettop(S) == top : lua_gettop(S) == top + n);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lua_call(decode, data, size);
  return 0;
}
