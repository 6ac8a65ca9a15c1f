/* Public entry of the Lua binding, for programs that embed Lua:
   luaL_requiref(L, "shm", luaopen_shm, 1). */
#ifndef SHMLUA_LUASHM_H
#define SHMLUA_LUASHM_H

#include <lua.h>

int luaopen_shm(lua_State *L);

/* An interpreter that embeds shm (the shmlua host) stores the path of its own executable
   (a string) in the registry at this key, so shm.run starts scripts with it. */
#define SHMLUA_INTERPRETER_KEY "shmlua.interpreter"

#endif
