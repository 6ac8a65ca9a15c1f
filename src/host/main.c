/* shmlua: lua5.4 with the shm module preloaded and the block tools, and an end that leaves
   nothing behind: children are waited for after success and terminated after a failure,
   owned blocks are unlinked (owner.c's atexit, or signals.c). */
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "binding.h"
#include "coroutines.h"
#include "exepath.h"
#include "luashm.h"
#include "options.h"
#include "proc.h"
#include "repl.h"
#include "run.h"
#include "signals.h"
#include "tools.h"

static void printversion(void) {
  printf("shmlua %s with %s\n", SHMLUA_VERSION, LUA_COPYRIGHT);
  fflush(stdout);
}

/* Children still running when the host ends: like Python's non-daemon processes they are
   waited for after success; after a failure they get SIGTERM, then SIGKILL. With L (inside
   a Lua call), Ctrl-C stops the wait with "interrupted!", as any wait in the module. */
static void endchildren(lua_State *L, int success) {
  shmlua_error err;
  if (!success)
    shmlua_children_terminate_all(SHMLUA_HOST_GRACE);
  else
    while (shmlua_children_wait_all(&err) != 0 && err.code == EINTR)
      if (L)
        shmlua_checkinterrupt(L);
}

/* os.exit ends the host as the end of a script would: the children first, by the status
   os.exit was given, then Lua's os.exit (upvalue 1) with the same arguments. */
static int hostexit(lua_State *L) {
  int success = lua_isboolean(L, 1) ? lua_toboolean(L, 1)
                                    : luaL_optinteger(L, 1, EXIT_SUCCESS) == EXIT_SUCCESS;
  endchildren(L, success);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 0);
  return 0;
}

/* Tells the module where this shmlua is, so shm.run starts scripts with it. */
static void setinterpreter(lua_State *L, const char *argv0) {
  char path[PATH_MAX];
  if (shmlua_exe_path(path, sizeof path, argv0) != 0)
    return;
  lua_pushstring(L, path);
  lua_setfield(L, LUA_REGISTRYINDEX, SHMLUA_INTERPRETER_KEY);
}

/* The standard libraries (coroutines that Ctrl-C reaches), shm in package.preload and as
   the global shm, and os.exit. */
static void openlibs(lua_State *L, const char *argv0) {
  setinterpreter(L, argv0);
  luaL_openlibs(L);
  shmlua_host_track_coroutines(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_shm);
  lua_setfield(L, -2, "shm");
  lua_pop(L, 1);
  luaL_requiref(L, "shm", luaopen_shm, 1);
  lua_pop(L, 1);
  lua_getglobal(L, "os");
  lua_getfield(L, -1, "exit");
  lua_pushcclosure(L, hostexit, 1);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
}

/* -e, -l and -W, in their order on the command line (all before the script). */
static int runoptions(lua_State *L, char **argv, int script) {
  for (int i = 1; i < script; i++) {
    char option = argv[i][1];
    const char *operand;
    if (option == 'W') {
      lua_warning(L, "@on", 0);
      continue;
    }
    if (option != 'e' && option != 'l')
      continue;
    operand = argv[i][2] ? argv[i] + 2 : argv[++i];
    if ((option == 'e' ? shmlua_host_dostring(L, operand, "=(command line)")
                       : shmlua_host_dolibrary(L, operand)) != LUA_OK)
      return 0;
  }
  return 1;
}

/* Everything that runs Lua, under lua_pcall so that even a memory error is reported.
   Returns true when all went well. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  shmlua_cmdline cl;
  luaL_checkversion(L);
  if (shmlua_tool_wanted(argc, argv)) {
    openlibs(L, argv[0]);
    lua_pushboolean(L, shmlua_tool_run(L, argc, argv) == 0);
    return 1;
  }
  shmlua_cmdline_parse(argc, argv, &cl);
  if (cl.bad) {
    shmlua_cmdline_complain(shmlua_progname, argv[cl.bad]);
    return 0;
  }
  if (cl.flags & SHMLUA_OPT_VERSION)
    printversion();
  if (cl.flags & SHMLUA_OPT_NOENV) { /* the package library then ignores LUA_PATH & co */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  openlibs(L, argv[0]);
  shmlua_host_setargs(L, argc, argv, cl.script);
  if (!(cl.flags & SHMLUA_OPT_NOENV) && shmlua_host_luainit(L) != LUA_OK)
    return 0;
  if (!runoptions(L, argv, cl.script))
    return 0;
  if (cl.script < argc && shmlua_host_doscript(L, argv + cl.script) != LUA_OK)
    return 0;
  if (cl.flags & SHMLUA_OPT_REPL)
    shmlua_host_repl(L);
  else if (cl.script == argc && !(cl.flags & (SHMLUA_OPT_EXEC | SHMLUA_OPT_VERSION))) {
    if (isatty(STDIN_FILENO)) {
      printversion();
      shmlua_host_repl(L);
    } else if (shmlua_host_dofile(L, NULL) != LUA_OK)
      return 0;
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L;
  int status, success;
  if (argv[0] && argv[0][0])
    shmlua_progname = argv[0];
  shmlua_signals_install();
  L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", shmlua_progname);
    return EXIT_FAILURE;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  success = status == LUA_OK && lua_toboolean(L, -1);
  shmlua_host_report(L, status);
  endchildren(NULL, success);
  lua_close(L);
  return success ? EXIT_SUCCESS : EXIT_FAILURE;
}
