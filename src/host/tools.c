/* Each tool checks its operands, then calls the module and prints what it returns. A
   function missing from the module (an older build) is reported as such. Errors print as
   "shmlua: --tool: message"; Ctrl-C ends a tool like any other program (--watch). */
#include "tools.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "../core/escape.h"
#include "../core/name.h"
#include "options.h"
#include "run.h"

/* Pushes t[key] (t at index t) and checks that it is a function; owner names t ("shm.",
   "buf:") in the message if it is not. */
static void pushfunction(lua_State *L, int t, const char *owner, const char *key) {
  if (lua_getfield(L, t, key) != LUA_TFUNCTION)
    luaL_error(L, "%s%s is missing from this build of the shm module", owner, key);
}

/* Pushes the shm module's function key. */
static void pushshm(lua_State *L, const char *key) {
  lua_getglobal(L, "shm");
  luaL_checktype(L, -1, LUA_TTABLE);
  pushfunction(L, lua_gettop(L), "shm.", key);
  lua_remove(L, -2);
}

/* Operand i (1-based among the operands on the stack) as a number, or nil if absent. */
static void pushnumber(lua_State *L, int i, const char *what) {
  if (lua_isnoneornil(L, i)) {
    lua_pushnil(L);
    return;
  }
  if (!lua_stringtonumber(L, lua_tostring(L, i)))
    luaL_error(L, "%s must be a number, got '%s'", what, lua_tostring(L, i));
}

/* Raises with the message of a failed call (nil, message) on top. */
static void raise_if_failed(lua_State *L) {
  if (lua_toboolean(L, -2))
    return;
  lua_error(L);
}

static const char *mode_string(lua_Integer mode, char out[10]) {
  static const char bits[] = "rwxrwxrwx";
  for (int i = 0; i < 9; i++)
    out[i] = mode & (0400 >> i) ? bits[i] : '-';
  out[9] = '\0';
  return out;
}

/* An age in seconds, as a person reads it: 42s, 7m, 3h, 2d. */
static void pushage(lua_State *L, lua_Number seconds) {
  static const struct {
    double size;
    const char *unit;
  } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (seconds >= units[i].size) {
      lua_pushfstring(L, "%d%s", (int)(seconds / units[i].size), units[i].unit);
      return;
    }
  lua_pushfstring(L, "%ds", (int)seconds);
}

/* The pids of a row's pids list, joined by commas ("-" when none). */
static void pushpids(lua_State *L, int row) {
  luaL_Buffer b;
  int pids = (lua_getfield(L, row, "pids"), lua_gettop(L));
  lua_Integer n = lua_istable(L, pids) ? luaL_len(L, pids) : 0;
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1)
      luaL_addchar(&b, ',');
    lua_geti(L, pids, i);
    luaL_addvalue(&b);
  }
  if (n == 0)
    luaL_addchar(&b, '-');
  luaL_pushresult(&b);
  lua_remove(L, pids);
}

static lua_Integer intfield(lua_State *L, int row, const char *key) {
  lua_Integer v;
  lua_getfield(L, row, key);
  v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* A string field of a row, or def when absent. */
static const char *stringfield(lua_State *L, int row, const char *key, const char *def) {
  lua_getfield(L, row, key);
  return luaL_optstring(L, -1, def); /* stays on the stack, so the string does */
}

/* The creator column: "1234", "1234 gone" when it has ended, "-" when not known. */
static void pushcreator(lua_State *L, int row) {
  lua_Integer pid = intfield(L, row, "creator");
  lua_getfield(L, row, "alive");
  if (pid <= 0)
    lua_pushliteral(L, "-");
  else
    lua_pushfstring(L, "%I%s", (LUAI_UACINT)pid, lua_toboolean(L, -1) ? "" : " gone");
  lua_remove(L, -2);
}

static int tool_ls(lua_State *L) {
  lua_Integer n;
  pushshm(L, "blocks");
  lua_call(L, 0, 2);
  raise_if_failed(L);
  lua_pop(L, 1);
  n = luaL_len(L, -1);
  printf("%-24s %-9s %12s %12s %-9s %6s %6s %-11s %-12s %s\n", "NAME", "KIND", "SIZE",
         "STORED", "MODE", "UID", "AGE", "CREATOR", "PIDS", "STATE");
  for (lua_Integer i = 1; i <= n; i++) {
    char mode[10], name[SHMLUA_ESCAPED_SIZE(SHMLUA_NAME_MAX)]; /* names may hold ESC, \n */
    size_t len;
    int row = lua_gettop(L) + 1;
    const char *raw, *kind, *state;
    lua_geti(L, -1, i);
    lua_getfield(L, row, "name");
    raw = lua_tolstring(L, -1, &len);
    shmlua_escape(raw ? raw : "", raw ? len : 0, name, sizeof name);
    kind = stringfield(L, row, "kind", "block");
    state = stringfield(L, row, "state", "");
    lua_getfield(L, row, "age");
    pushage(L, lua_tonumber(L, -1));
    pushcreator(L, row);
    pushpids(L, row);
    printf("%-24s %-9s %12lld %12lld %-9s %6lld %6s %-11s %s", name, kind,
           (long long)intfield(L, row, "size"), (long long)intfield(L, row, "stored"),
           mode_string(intfield(L, row, "mode"), mode), (long long)intfield(L, row, "uid"),
           lua_tostring(L, -3), lua_tostring(L, -2), lua_tostring(L, -1));
    if (*state) { /* no trailing blanks when there is no state */
      int pids = (int)strlen(lua_tostring(L, -1));
      printf("%*s%s", pids < 13 ? 13 - pids : 1, "", state);
    }
    putchar('\n');
    lua_settop(L, row - 1);
  }
  return 0;
}

static int tool_rm(lua_State *L) {
  int n = lua_gettop(L);
  pushshm(L, "remove");
  lua_insert(L, 1);
  lua_call(L, n, 2);
  raise_if_failed(L);
  return 0;
}

/* Calls shm.fn(name, {key = the value at index v}) and raises if it fails (nil, message);
   leaves its first result. */
static void callshm(lua_State *L, const char *fn, const char *name, const char *key, int v) {
  pushshm(L, fn);
  lua_pushstring(L, name);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, v);
  lua_setfield(L, -2, key);
  lua_call(L, 2, 2);
  raise_if_failed(L);
  lua_pop(L, 1);
}

static int tool_dump(lua_State *L) {
  lua_settop(L, 3); /* NAME, I, J: absent ones nil, so the numbers go to 4 and 5 */
  pushnumber(L, 2, "I");
  pushnumber(L, 3, "J");
  lua_pushboolean(L, 1);
  callshm(L, "attach", lua_tostring(L, 1), "readonly", 6);
  lua_getfield(L, -1, "buf");
  pushfunction(L, lua_gettop(L), "buf:", "hexdump");
  lua_insert(L, -2);
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 5);
  lua_call(L, 3, 1);
  fputs(lua_tostring(L, -1), stdout);
  return 0;
}

static int tool_watch(lua_State *L) {
  lua_settop(L, 2); /* NAME, SECONDS: the number goes to 3 */
  pushnumber(L, 2, "SECONDS");
  callshm(L, "watch", lua_tostring(L, 1), "interval", 3);
  return 0;
}

static int tool_help(lua_State *L) {
  (void)L;
  shmlua_cmdline_usage(stdout, shmlua_progname);
  return 0;
}

typedef struct tool {
  const char *flag;
  int min, max; /* how many operands it takes */
  const char *operands;
  lua_CFunction run;
} tool;

static const tool tools[] = {
    {"--ls", 0, 0, "", tool_ls},
    {"--rm", 1, -1, " NAME...", tool_rm},
    {"--dump", 1, 3, " NAME [I [J]]", tool_dump},
    {"--watch", 1, 2, " NAME [SECONDS]", tool_watch},
    {"--help", 0, 0, "", tool_help},
};

static const tool *find(int argc, char **argv) {
  if (argc < 2)
    return NULL;
  for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
    if (strcmp(argv[1], tools[i].flag) == 0)
      return &tools[i];
  return NULL;
}

int shmlua_tool_wanted(int argc, char **argv) {
  return find(argc, argv) != NULL;
}

int shmlua_tool_run(lua_State *L, int argc, char **argv) {
  const tool *t = find(argc, argv);
  int operands = argc - 2;
  if (operands < t->min || (t->max >= 0 && operands > t->max)) {
    fprintf(stderr, "usage: %s %s%s\n", shmlua_progname, t->flag, t->operands);
    return 1;
  }
  lua_pushcfunction(L, t->run);
  for (int i = 2; i < argc; i++)
    lua_pushstring(L, argv[i]);
  if (lua_pcall(L, operands, 0, 0) != LUA_OK) {
    fflush(stdout);
    fprintf(stderr, "%s: %s: %s\n", shmlua_progname, t->flag, luaL_tolstring(L, -1, NULL));
    return 1;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
