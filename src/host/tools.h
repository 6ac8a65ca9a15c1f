/* The tool flags (--ls, --rm, --dump, --watch, -h): front ends to functions of the shm
   module, so everything they do can be done from Lua too. */
#ifndef SHMLUA_HOST_TOOLS_H
#define SHMLUA_HOST_TOOLS_H

#include <lua.h>

/* Whether argv[1] is a tool flag. */
int shmlua_tool_wanted(int argc, char **argv);

/* Runs the tool that argv[1] names, with the global shm loaded; returns the exit status. */
int shmlua_tool_run(lua_State *L, int argc, char **argv);

#endif
