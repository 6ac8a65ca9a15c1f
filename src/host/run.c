/* Protected calls, error reports, and the ways lua5.4 runs code: strings (-e, LUA_INIT),
   files, libraries (-l) and the script with its arguments. */
#include "run.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interrupt.h"
#include "proc.h"
#include "signals.h"

const char *shmlua_progname = "shmlua";

/* Message handler: the error as a string (via __tostring if it has one), with a traceback. */
static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int shmlua_host_call(lua_State *L, int narg, int nres) {
  int handler = lua_gettop(L) - narg;
  unsigned long children = shmlua_children_started();
  lua_State *outer;
  int status, interrupted;
  lua_pushcfunction(L, traceback);
  lua_insert(L, handler);
  outer = shmlua_running_enter(L);
  shmlua_sigint_interrupts();
  status = lua_pcall(L, narg, nres, handler);
  interrupted = shmlua_sigint_ends();
  shmlua_running_leave(L, outer); /* drops an interrupt that came as the code finished */
  lua_remove(L, handler);
  /* Ctrl-C stops the work, not only the wait for it: what the call started ends with it. */
  if (status != LUA_OK && interrupted)
    shmlua_children_terminate_since(children, SHMLUA_HOST_GRACE);
  return status;
}

int shmlua_host_report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fflush(stdout);
    if (shmlua_progname)
      fprintf(stderr, "%s: ", shmlua_progname);
    fprintf(stderr, "%s\n", msg ? msg : "(error object is not a string)");
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

/* Runs the chunk just loaded (if status says it loaded) and reports any error. */
static int runloaded(lua_State *L, int status) {
  if (status == LUA_OK)
    status = shmlua_host_call(L, 0, 0);
  return shmlua_host_report(L, status);
}

int shmlua_host_dostring(lua_State *L, const char *s, const char *chunkname) {
  return runloaded(L, luaL_loadbuffer(L, s, strlen(s), chunkname));
}

int shmlua_host_dofile(lua_State *L, const char *path) {
  return runloaded(L, luaL_loadfile(L, path));
}

int shmlua_host_dolibrary(lua_State *L, const char *spec) {
  const char *eq = strchr(spec, '=');
  const char *module = eq ? eq + 1 : spec;
  int status;
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  status = shmlua_host_call(L, 1, 1);
  if (status == LUA_OK) {
    if (eq)
      lua_pushlstring(L, spec, (size_t)(eq - spec));
    else
      lua_pushstring(L, spec);
    lua_insert(L, -2);
    lua_setglobal(L, lua_tostring(L, -2));
    lua_pop(L, 1);
  }
  return shmlua_host_report(L, status);
}

/* Pushes arg[1..#arg]; returns how many. */
static int pushscriptargs(lua_State *L) {
  int n;
  if (lua_getglobal(L, "arg") != LUA_TTABLE)
    luaL_error(L, "'arg' is not a table");
  n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (int i = 1; i <= n; i++)
    lua_rawgeti(L, -i, i);
  lua_remove(L, -n - 1);
  return n;
}

int shmlua_host_doscript(lua_State *L, char **argv) {
  const char *path = argv[0];
  int status;
  if (strcmp(path, "-") == 0 && strcmp(argv[-1], "--") != 0)
    path = NULL;
  status = luaL_loadfile(L, path);
  if (status == LUA_OK)
    status = shmlua_host_call(L, pushscriptargs(L), LUA_MULTRET);
  return shmlua_host_report(L, status);
}

void shmlua_host_setargs(lua_State *L, int argc, char **argv, int script) {
  int above;
  if (script == argc)
    script = 0;
  above = argc - script - 1; /* -1 when started with no argv[0] at all */
  lua_createtable(L, above > 0 ? above : 0, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

int shmlua_host_luainit(lua_State *L) {
  static const char *const names[] = {"=LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR,
                                      "=LUA_INIT"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *init = getenv(names[i] + 1);
    if (init == NULL)
      continue;
    if (init[0] == '@')
      return shmlua_host_dofile(L, init + 1);
    return shmlua_host_dostring(L, init, names[i]);
  }
  return LUA_OK;
}
