/* shm.inspect, shm.help and shm.complete (inspect.c, help.c, complete.c), which the shmlua
   REPL also calls directly. */
#ifndef SHMLUA_INTROSPECT_H
#define SHMLUA_INTROSPECT_H

#include "compat.h"

int shmlua_inspect(lua_State *L);
int shmlua_help(lua_State *L);
int shmlua_complete(lua_State *L);

#endif
