/* The REPL's additions to the globals (see session.h). */
#include "session.h"

#include <lauxlib.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "introspect.h"

enum { DEFAULT_COLUMNS = 80 };

/* help([topic]): shm.help's text, or its message, on stdout; returns nothing. */
static int help(lua_State *L) {
  size_t len;
  const char *text;
  lua_pushcfunction(L, shmlua_help);
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 2);
  text = lua_tolstring(L, lua_isnil(L, -2) ? -1 : -2, &len);
  fwrite(text, 1, len, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  return 0;
}

void shmlua_session_open(lua_State *L) {
  lua_pushglobaltable(L);
  lua_pushliteral(L, "help");
  lua_rawget(L, -2);
  if (lua_isnil(L, -1)) { /* raw: a strict-mode __newindex would raise outside a pcall */
    lua_pushliteral(L, "help");
    lua_pushcfunction(L, help);
    lua_rawset(L, -4);
  }
  lua_pop(L, 2);
}

static int columns(void) {
  struct winsize size;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
    return size.ws_col;
  return DEFAULT_COLUMNS;
}

/* The values on the stack, each through shm.inspect, joined by tabs: one string. */
static int showall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, columns());
  lua_setfield(L, -2, "width");
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1)
      luaL_addchar(&b, '\t');
    lua_pushcfunction(L, shmlua_inspect);
    lua_pushvalue(L, i);
    lua_pushvalue(L, n + 1);
    lua_call(L, 2, 1);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return 1;
}

void shmlua_session_show(lua_State *L) {
  int n = lua_gettop(L);
  size_t len;
  const char *text;
  if (n == 0)
    return;
  lua_pushglobaltable(L); /* raw, as help */
  lua_pushliteral(L, "_");
  lua_pushvalue(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_pushcfunction(L, showall);
  lua_insert(L, 1);
  if (lua_pcall(L, n, 1, 0) != LUA_OK) {
    fprintf(stderr, "error printing the results (%s)\n", luaL_tolstring(L, -1, NULL));
    fflush(stderr);
  } else {
    text = lua_tolstring(L, -1, &len);
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
  }
  lua_settop(L, 0);
}
