/* Public entry of the Lua binding, for programs that embed Lua:
   luaL_requiref(L, "shm", luaopen_shm, 1). */
#ifndef SHMLUA_LUASHM_H
#define SHMLUA_LUASHM_H

#include <lua.h>

int luaopen_shm(lua_State *L);

#endif
