/* Running Lua code the way lua5.4 does: protected calls with a traceback, Ctrl-C as an
   "interrupted!" error, errors reported on stderr with the program's name. */
#ifndef SHMLUA_HOST_RUN_H
#define SHMLUA_HOST_RUN_H

#include <lua.h>

/* Name that prefixes error messages (argv[0]); NULL in the REPL, which prints them bare. */
extern const char *shmlua_progname;

/* Calls the function below narg arguments with a traceback handler; while it runs, Ctrl-C
   raises "interrupted!" in it, and if that ends it, the children it started are terminated
   (SIGTERM, SIGKILL after the grace period) and reaped. Returns lua_pcall's status. */
int shmlua_host_call(lua_State *L, int narg, int nres);

/* If status is an error, prints the message on top (and pops it). Returns status. */
int shmlua_host_report(lua_State *L, int status);

/* Loads (chunkname as luaL_loadbuffer takes it) and runs a string. */
int shmlua_host_dostring(lua_State *L, const char *s, const char *chunkname);

/* Runs a file; NULL is stdin. */
int shmlua_host_dofile(lua_State *L, const char *path);

/* -l mod: global mod = require "mod"; -l g=mod: global g = require "mod". */
int shmlua_host_dolibrary(lua_State *L, const char *spec);

/* The script at argv[0] with the positive entries of the global arg as its arguments;
   "-" is stdin unless it came after "--" (argv[-1]). */
int shmlua_host_doscript(lua_State *L, char **argv);

/* The global arg: argv[script] at 0, the interpreter and options below, its arguments
   above (with no script, argv[0] at 0 and everything after it above). */
void shmlua_host_setargs(lua_State *L, int argc, char **argv, int script);

/* LUA_INIT_5_4, or else LUA_INIT: "@file" runs a file, anything else is a chunk. */
int shmlua_host_luainit(lua_State *L);

#endif
