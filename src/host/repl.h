/* The interactive loop: read a chunk, run it, print what it returns. */
#ifndef SHMLUA_HOST_REPL_H
#define SHMLUA_HOST_REPL_H

#include <lua.h>

/* Runs until the end of input (Ctrl-D). Errors are reported and the loop goes on. */
void shmlua_host_repl(lua_State *L);

#endif
