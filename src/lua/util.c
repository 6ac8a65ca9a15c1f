/* Helpers every binding file uses: classes, errors, arguments, positions. */
#include <errno.h>
#include <string.h>

#include "../core/futex.h"
#include "binding.h"

void shmlua_newclass(lua_State *L, const char *tname, const luaL_Reg *metamethods,
                     const luaL_Reg *methods, lua_CFunction index) {
  luaL_newmetatable(L, tname);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, SHMLUA_METHODS);
  lua_getfield(L, -1, SHMLUA_METHODS);
  luaL_setfuncs(L, metamethods, 1);
  lua_getfield(L, -1, SHMLUA_METHODS);
  if (index)
    lua_pushcclosure(L, index, 1);
  lua_setfield(L, -2, "__index");
}

void shmlua_addmethods(lua_State *L, const char *tname, const luaL_Reg *methods) {
  luaL_getmetatable(L, tname);
  lua_getfield(L, -1, SHMLUA_METHODS);
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 2);
}

void *shmlua_newscratch(lua_State *L, size_t size, const char *tname, lua_CFunction gc) {
  void *p = lua_newuserdatauv(L, size, 0);
  memset(p, 0, size);
  if (luaL_newmetatable(L, tname)) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return p;
}

enum { QUOTED_MAX = 32 };

const char *shmlua_pushquoted(lua_State *L, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, s, len < QUOTED_MAX ? len : QUOTED_MAX);
  if (len > QUOTED_MAX)
    luaL_addstring(&b, "...");
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

int shmlua_oserror(lua_State *L, const shmlua_error *err) {
  luaL_pushfail(L);
  lua_pushstring(L, err->message);
  lua_pushinteger(L, err->code);
  return 3;
}

void shmlua_checkname(lua_State *L, int arg, shmlua_name *out) {
  size_t len;
  const char *name;
  shmlua_error err;
  luaL_checktype(L, arg, LUA_TSTRING);
  name = lua_tolstring(L, arg, &len);
  if (shmlua_name_check(out, name, len, &err) != 0)
    luaL_argerror(L, arg, err.message);
}

/* Integers as Lua's own functions take them (luaL_checkinteger, string.sub): an integer or a
   float with an exact integer value (2^20, 3.0), never 1.5. Without native integers (5.1, 5.2,
   LuaJIT) a number is exact only up to 2^53: beyond, it raises instead of rounding
   (compat.h's lua_tointegerx draws that line). */
lua_Integer shmlua_checkint(lua_State *L, int arg) {
  int isint;
  lua_Integer v;
  if (lua_type(L, arg) != LUA_TNUMBER)
    luaL_typeerror(L, arg, "integer");
  v = lua_tointegerx(L, arg, &isint);
  if (!isint)
    luaL_argerror(L, arg, "number has no integer representation");
  return v;
}

int shmlua_floattointeger(lua_Number f, lua_Integer *out) {
#if SHMLUA_NATIVE_INTEGERS
  if (!(f >= -0x1p63 && f < 0x1p63)) /* also NaN */
    return 0;
#else
  if (!(f >= -(lua_Number)SHMLUA_EXACT_MAX && f <= (lua_Number)SHMLUA_EXACT_MAX))
    return 0;
#endif
  *out = (lua_Integer)f;
  return (lua_Number)*out == f;
}

void shmlua_pushint(lua_State *L, lua_Integer v) {
#if !SHMLUA_NATIVE_INTEGERS
  if (v > SHMLUA_EXACT_MAX || v < -SHMLUA_EXACT_MAX)
    luaL_error(L, "integer %I is beyond 2^53: a Lua number without integers cannot hold it "
               "exactly", (LUAI_UACINT)v);
#endif
  lua_pushinteger(L, v);
}

lua_Integer shmlua_optint(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : shmlua_checkint(L, arg);
}

void shmlua_checkopts(lua_State *L, int arg, const char *const allowed[]) {
  if (lua_isnoneornil(L, arg))
    return;
  luaL_checktype(L, arg, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    int known = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *p = allowed; *p && !known; p++)
        known = strcmp(*p, lua_tostring(L, -1)) == 0;
    if (!known)
      luaL_argerror(L, arg,
                    lua_pushfstring(L, "unknown option '%s'",
                                    (luaL_tolstring(L, -1, NULL), shmlua_pushquoted(L, -1))));
  }
}

/* Pushes opts[key]; 0 if opts is absent (nothing pushed). */
static int getoption(lua_State *L, int arg, const char *key) {
  if (lua_isnoneornil(L, arg))
    return 0;
  if (lua_getfield(L, arg, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

lua_Integer shmlua_optfield_int(lua_State *L, int arg, const char *key, lua_Integer def) {
  lua_Integer v = 0;
  int isint = 0;
  if (!getoption(L, arg, key))
    return def;
  if (lua_type(L, -1) == LUA_TNUMBER)
    v = lua_tointegerx(L, -1, &isint);
  if (!isint)
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be an integer", key));
  lua_pop(L, 1);
  return v;
}

int shmlua_optfield_bool(lua_State *L, int arg, const char *key, int def) {
  int v;
  if (!getoption(L, arg, key))
    return def;
  if (!lua_isboolean(L, -1))
    luaL_argerror(L, arg, lua_pushfstring(L, "option '%s' must be a boolean", key));
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

const shmlua_name *shmlua_checkcreate(lua_State *L, int name_arg, int opts_arg,
                                      const char *const allowed[], shmlua_name *name,
                                      shmlua_create_opts *opts) {
  static const char *const common[] = {"mode", "keep", NULL};
  const shmlua_name *given = NULL;
  lua_Integer mode;
  if (!lua_isnoneornil(L, name_arg)) {
    shmlua_checkname(L, name_arg, name);
    given = name;
  }
  shmlua_checkopts(L, opts_arg, allowed ? allowed : common);
  mode = shmlua_optfield_int(L, opts_arg, "mode", SHMLUA_DEFAULT_MODE);
  luaL_argcheck(L, mode >= 0 && mode <= 07777, opts_arg,
                "mode must be permission bits (0..0x0fff)");
  opts->mode = (mode_t)mode;
  opts->keep = shmlua_optfield_bool(L, opts_arg, "keep", 0);
  return given;
}

static size_t posstart(lua_Integer pos, size_t len) {
  if (pos > 0)
    return (size_t)pos;
  if (pos == 0 || pos < -(lua_Integer)len)
    return 1;
  return len + (size_t)pos + 1;
}

static size_t posend(lua_Integer pos, size_t len) {
  if (pos > (lua_Integer)len)
    return len;
  if (pos >= 0)
    return (size_t)pos;
  if (pos < -(lua_Integer)len)
    return 0;
  return len + (size_t)pos + 1;
}

size_t shmlua_range(lua_Integer i, lua_Integer j, size_t len, size_t *first) {
  size_t start = posstart(i, len), end = posend(j, len);
  *first = start - 1;
  return start > end ? 0 : end - start + 1;
}

size_t shmlua_checkindex(lua_State *L, lua_Integer pos, size_t len) {
  if (pos > 0 && (lua_Unsigned)pos <= len)
    return (size_t)pos;
  if (pos < 0 && (lua_Unsigned)0 - (lua_Unsigned)pos <= len)
    return len + (size_t)pos + 1;
  return luaL_error(L, "index %I out of range (1..%I)", (LUAI_UACINT)pos, (LUAI_UACINT)len);
}

size_t shmlua_checkstart(lua_State *L, lua_Integer pos, size_t len) {
  return pos == (lua_Integer)len + 1 ? len + 1 : shmlua_checkindex(L, pos, len);
}

#if !SHMLUA_IS_LUAJIT
static int noop(lua_State *L) {
  (void)L;
  return 0;
}
#endif

/* lua.c and the host set their Ctrl-C hook on the main thread, with this mask and a count
   of 1. A wait in a coroutine (every shm.spawn function runs in one) never sees it there:
   move it to the waiting thread, where it raises, instead of leaving it for later. Only
   that hook: a debugger's hook on the main thread stays where it is. */
static void take_interrupt(lua_State *L) {
  const int mask = SHMLUA_INTERRUPT_HOOKMASK;
  lua_State *main;
  shmlua_pushmainthread(L);
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (main && main != L && lua_gethook(main) && lua_gethookmask(main) == mask &&
      lua_gethookcount(main) == 1) {
    lua_sethook(L, lua_gethook(main), mask, 1);
    lua_sethook(main, NULL, 0, 0);
  }
}

void shmlua_checkinterrupt(lua_State *L) {
  if (lua_gethook(L) == NULL)
    take_interrupt(L);
  /* A pending hook runs on the next call: make one, and let the hook raise through us. */
  if (lua_gethook(L) != NULL) {
#if SHMLUA_IS_LUAJIT
    /* LuaJIT runs hooks only in Lua code, where lua.c's would also add a position to its
       message: that one is done here as it would be in a C function. */
    if (lua_gethookmask(L) == SHMLUA_INTERRUPT_HOOKMASK && lua_gethookcount(L) == 1) {
      lua_sethook(L, NULL, 0, 0);
      lua_pushliteral(L, "interrupted!");
      lua_error(L);
    }
    if (luaL_loadstring(L, "") != LUA_OK) /* an empty Lua function: other hooks run in it */
      lua_error(L);
#else
    lua_pushcfunction(L, noop);
#endif
    lua_call(L, 0, 0);
  }
}

const struct timespec *shmlua_opttimeout(lua_State *L, int arg, struct timespec *deadline) {
  lua_Number t;
  if (lua_isnoneornil(L, arg))
    return NULL;
  t = luaL_checknumber(L, arg);
  luaL_argcheck(L, t >= 0, arg, "timeout must be a non-negative number of seconds");
  *deadline = shmlua_deadline((double)t);
  return deadline;
}
