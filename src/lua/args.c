/* Arguments and options, and the messages of errors about them. */
#include <string.h>

#include "../core/escape.h"
#include "args.h"
#include "class.h"

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

const char *shmlua_pushname(lua_State *L, const shmlua_name *name) {
  char safe[SHMLUA_ESCAPED_SIZE(SHMLUA_NAME_MAX)];
  const char *user = shmlua_name_user(name);
  return lua_pushstring(L, shmlua_escape(user, strlen(user), safe, sizeof safe));
}

int shmlua_oserror(lua_State *L, const shmlua_error *err) {
  luaL_pushfail(L);
  lua_pushstring(L, err->message);
  lua_pushinteger(L, err->code);
  return 3;
}

/* Whether the table at t has the value at fn under a string key; if so, pushes the key. */
static int pushkeyof(lua_State *L, int t, int fn) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_rawequal(L, -1, fn) && lua_type(L, -2) == LUA_TSTRING) {
      lua_pop(L, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* The name of the function at fn if it is a method of a shm class (the registry's "shm.*"
   metatables' methods tables): "array". Pushed, or nothing pushed and 0. */
static int pushmethodname(lua_State *L, int fn) {
  int top = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    if (lua_type(L, -2) == LUA_TSTRING && strncmp(lua_tostring(L, -2), "shm.", 4) == 0 &&
        lua_istable(L, -1) && lua_getfield(L, -1, SHMLUA_METHODS) == LUA_TTABLE &&
        pushkeyof(L, lua_gettop(L), fn)) {
      lua_replace(L, top + 1); /* over the registry key: only the name stays */
      lua_settop(L, top + 1);
      return 1;
    }
    lua_settop(L, top + 1); /* the registry key, for lua_next */
  }
  return 0;
}

/* The name of the function at fn if the loaded shm module has it: a field ("shm.create",
   which 5.2+'s lauxlib finds too, 5.1's not), one table down ("shm.queue.attach") or the
   call of a callable table ("shm.queue"). Pushed, or nothing pushed and 0. */
static int pushmodulename(lua_State *L, int fn) {
  int module;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  module = lua_gettop(L);
  if (lua_getfield(L, module, "shm") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, module + 1)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
        lua_pushfstring(L, "shm.%s", lua_tostring(L, -2));
        lua_replace(L, module);
        lua_settop(L, module);
        return 1;
      }
      if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
        const char *kind = lua_tostring(L, -2);
        if (pushkeyof(L, lua_gettop(L), fn)) {
          lua_pushfstring(L, "shm.%s.%s", kind, lua_tostring(L, -1));
          lua_replace(L, module);
          lua_settop(L, module);
          return 1;
        }
        if (luaL_getmetafield(L, -1, "__call") != LUA_TNIL) {
          if (lua_rawequal(L, -1, fn)) {
            lua_pushfstring(L, "shm.%s", kind);
            lua_replace(L, module);
            lua_settop(L, module);
            return 1;
          }
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, module - 1);
  return 0;
}

int shmlua_argerror(lua_State *L, int arg, const char *extramsg) {
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "nf", &ar) && ar.name == NULL) {
    int fn = lua_gettop(L);
    if (pushmethodname(L, fn) || pushmodulename(L, fn))
      return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, lua_tostring(L, -1),
                        extramsg);
  }
  return (luaL_argerror)(L, arg,
                         extramsg); /* lauxlib's own (argcheck.h sends the name here) */
}

/* 5.4's luaL_typeerror, raised through shmlua_argerror. */
int shmlua_typeerror(lua_State *L, int arg, const char *tname) {
  const char *actual;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    actual = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
    actual = "light userdata";
  else
    actual = luaL_typename(L, arg);
  return shmlua_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s", tname, actual));
}

void shmlua_checkname(lua_State *L, int arg, shmlua_name *out) {
  size_t len;
  const char *name;
  shmlua_error err;
  if (lua_type(L, arg) != LUA_TSTRING)
    shmlua_typeerror(L, arg, "string");
  name = lua_tolstring(L, arg, &len);
  if (shmlua_name_check(out, name, len, &err) != 0)
    shmlua_argerror(L, arg, err.message);
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
    shmlua_argerror(L, arg, "number has no integer representation");
  return v;
}

#if !SHMLUA_NATIVE_INTEGERS
void shmlua_pushint(lua_State *L, lua_Integer v) {
  if (v > SHMLUA_EXACT_MAX || v < -SHMLUA_EXACT_MAX)
    luaL_error(L,
               "integer %I is beyond 2^53: a Lua number without integers cannot hold it "
               "exactly",
               (LUAI_UACINT)v);
  lua_pushinteger(L, v);
}
#endif

lua_Integer shmlua_optint(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : shmlua_checkint(L, arg);
}

void shmlua_checkopts(lua_State *L, int arg, const char *const allowed[]) {
  if (lua_isnoneornil(L, arg))
    return;
  if (!lua_istable(L, arg))
    shmlua_typeerror(L, arg, "table");
  lua_pushnil(L);
  while (lua_next(L, arg)) {
    int known = 0;
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *p = allowed; *p && !known; p++)
        known = strcmp(*p, lua_tostring(L, -1)) == 0;
    if (!known)
      shmlua_argerror(
          L, arg,
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
    shmlua_argerror(L, arg, lua_pushfstring(L, "option '%s' must be an integer", key));
  lua_pop(L, 1);
  return v;
}

int shmlua_optfield_bool(lua_State *L, int arg, const char *key, int def) {
  int v;
  if (!getoption(L, arg, key))
    return def;
  if (!lua_isboolean(L, -1))
    shmlua_argerror(L, arg, lua_pushfstring(L, "option '%s' must be a boolean", key));
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

void shmlua_pushoptname(lua_State *L, int arg, const char *key) {
  shmlua_name name;
  shmlua_error err;
  size_t len;
  const char *s;
  if (!getoption(L, arg, key)) {
    lua_pushnil(L);
    return;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    shmlua_argerror(
        L, arg,
        lua_pushfstring(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1)));
  s = lua_tolstring(L, -1, &len);
  if (shmlua_name_check(&name, s, len, &err) != 0)
    shmlua_argerror(L, arg, lua_pushfstring(L, "option '%s': %s", key, err.message));
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
  if (mode < 0 || mode > 07777)
    shmlua_argerror(L, opts_arg, "mode must be permission bits (0..0x0fff)");
  opts->mode = (mode_t)mode;
  opts->keep = shmlua_optfield_bool(L, opts_arg, "keep", 0);
  opts->lazy = false;
  return given;
}
