/* Lua 5.4's API for older Luas (compat.h says which parts and why). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"

static const char mainthread_key = 0;

void shmlua_compat_open(lua_State *L) {
#if LUA_VERSION_NUM < 502
  if (lua_pushthread(L)) /* 1 only on the main thread */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &mainthread_key);
  else
    lua_pop(L, 1);
#else
  (void)L;
  (void)mainthread_key;
#endif
}

void shmlua_pushmainthread(lua_State *L) {
#if LUA_VERSION_NUM < 502
  lua_rawgetp(L, LUA_REGISTRYINDEX, &mainthread_key);
#else
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
#endif
}

#if LUA_VERSION_NUM < 504
/* The table of a userdata's values, pushed (created if absent). */
static void uservalues(lua_State *L, int idx) {
#if LUA_VERSION_NUM < 502
  lua_getfenv(L, idx);
#else
  lua_getuservalue(L, idx);
#endif
}

void *shmlua_compat_newuserdatauv(lua_State *L, size_t size, int nuv) {
  void *p = lua_newuserdata(L, size);
  if (nuv > 0) {
    lua_createtable(L, nuv, 0);
#if LUA_VERSION_NUM < 502
    lua_setfenv(L, -2);
#else
    lua_setuservalue(L, -2);
#endif
  }
  return p;
}

int shmlua_compat_getiuservalue(lua_State *L, int idx, int n) {
  idx = lua_absindex(L, idx);
  uservalues(L, idx);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return LUA_TNONE;
  }
  lua_rawgeti(L, -1, n);
  lua_remove(L, -2);
  return lua_type(L, -1);
}

int shmlua_compat_setiuservalue(lua_State *L, int idx, int n) {
  idx = lua_absindex(L, idx);
  uservalues(L, idx);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 2);
    return 0;
  }
  lua_insert(L, -2);
  lua_rawseti(L, -2, n);
  lua_pop(L, 1);
  return 1;
}

int shmlua_compat_resume(lua_State *co, lua_State *from, int nargs, int *nresults) {
#undef lua_resume
  int status;
#if LUA_VERSION_NUM < 502
  (void)from;
  status = lua_resume(co, nargs);
#else
  status = lua_resume(co, from, nargs);
#endif
  *nresults = lua_gettop(co);
  return status;
}
#endif

#if LUA_VERSION_NUM < 503
int shmlua_compat_isinteger(lua_State *L, int idx) {
  int isint;
  shmlua_compat_tointegerx(L, idx, &isint);
  return isint;
}

lua_Integer shmlua_compat_tointegerx(lua_State *L, int idx, int *isint) {
  int ok = 0;
  lua_Integer i = 0;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Number f = lua_tonumber(L, idx);
    ok = f == floor(f) && f >= -(lua_Number)SHMLUA_EXACT_MAX &&
         f <= (lua_Number)SHMLUA_EXACT_MAX;
    i = ok ? (lua_Integer)f : 0;
  }
  if (isint) /* NULL from 5.2's lua_tointeger */
    *isint = ok;
  return i;
}

/* Formats as 5.4's lua_pushvfstring: %s %d %c %f %p %% and %I. */
static const char *pushvfstring(lua_State *L, const char *fmt, va_list ap) {
  luaL_Buffer b;
  char num[64];
  luaL_buffinit(L, &b);
  for (const char *p = fmt; *p; p++) {
    if (*p != '%' || p[1] == '\0') {
      luaL_addchar(&b, *p);
      continue;
    }
    switch (*++p) {
    case 's': {
      const char *s = va_arg(ap, const char *);
      luaL_addstring(&b, s ? s : "(null)");
      break;
    }
    case 'd':
      luaL_addlstring(&b, num, (size_t)snprintf(num, sizeof num, "%d", va_arg(ap, int)));
      break;
    case 'c':
      luaL_addchar(&b, (char)va_arg(ap, int));
      break;
    case 'f':
      luaL_addlstring(&b, num,
                      (size_t)snprintf(num, sizeof num, LUA_NUMBER_FMT,
                                       (LUAI_UACNUMBER)va_arg(ap, LUAI_UACNUMBER)));
      break;
    case 'p':
      luaL_addlstring(&b, num, (size_t)snprintf(num, sizeof num, "%p", va_arg(ap, void *)));
      break;
    case 'I':
      luaL_addlstring(&b, num,
                      (size_t)snprintf(num, sizeof num, "%lld", va_arg(ap, long long)));
      break;
    default:
      luaL_addchar(&b, *p);
      break; /* '%' */
    }
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

const char *shmlua_compat_pushfstring(lua_State *L, const char *fmt, ...) {
  const char *s;
  va_list ap;
  va_start(ap, fmt);
  s = pushvfstring(L, fmt, ap);
  va_end(ap);
  return s;
}

int shmlua_compat_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  luaL_where(L, 1);
  va_start(ap, fmt);
  pushvfstring(L, fmt, ap);
  va_end(ap);
  lua_concat(L, 2);
  return lua_error(L);
}

int shmlua_compat_geti(lua_State *L, int idx, lua_Integer i) {
  idx = lua_absindex(L, idx);
  lua_pushinteger(L, i);
  lua_gettable(L, idx);
  return lua_type(L, -1);
}

void shmlua_compat_rotate(lua_State *L, int idx, int n) {
  /* Only the direction the binding uses: the top n values move down to idx, in order. */
  for (int k = 0; k < n; k++)
    lua_insert(L, idx);
}

int shmlua_compat_newmetatable(lua_State *L, const char *tname) {
#undef luaL_newmetatable
  if (!luaL_newmetatable(L, tname))
    return 0;
  lua_pushstring(L, tname);
  lua_setfield(L, -2, "__name");
  return 1;
}
#endif

#if LUA_VERSION_NUM < 502
int shmlua_compat_rawgetp(lua_State *L, int idx, const void *p) {
  idx = lua_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)(uintptr_t)p);
  return lua_rawget(L, idx);
}

#if !SHMLUA_IS_LUAJIT
int shmlua_compat_loadbufferx(lua_State *L, const char *buff, size_t size, const char *name,
                              const char *mode) {
  int binary = size > 0 && buff[0] == LUA_SIGNATURE[0];
  if (mode && !strchr(mode, binary ? 'b' : 't')) {
    lua_pushfstring(L, "attempt to load a %s chunk (mode is '%s')", binary ? "binary" : "text",
                    mode);
    return LUA_ERRSYNTAX;
  }
  return luaL_loadbuffer(L, buff, size, name);
}
#endif

void shmlua_compat_rawsetp(lua_State *L, int idx, const void *p) {
  idx = lua_absindex(L, idx);
  lua_pushlightuserdata(L, (void *)(uintptr_t)p);
  lua_insert(L, -2);
  lua_rawset(L, idx);
}

const char *shmlua_compat_tolstring(lua_State *L, int idx, size_t *len) {
  idx = lua_absindex(L, idx);
  if (!luaL_callmeta(L, idx, "__tostring")) {
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
      lua_pushvalue(L, idx);
      break;
    case LUA_TBOOLEAN:
      lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
      break;
    case LUA_TNIL:
      lua_pushliteral(L, "nil");
      break;
    default:
      lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
      break;
    }
  }
  if (lua_type(L, -1) == LUA_TNUMBER) { /* a copy: lua_tolstring changes it in place */
    lua_pushvalue(L, -1);
    lua_remove(L, -2);
  }
  return lua_tolstring(L, -1, len);
}

void shmlua_compat_requiref(lua_State *L, const char *name, lua_CFunction open, int global) {
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  lua_getfield(L, -1, name);
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
  }
  lua_remove(L, -2);
  if (global) {
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_GLOBALSINDEX, name);
  }
}

#if !SHMLUA_IS_LUAJIT
void shmlua_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup, "too many upvalues");
  for (; l->name; l++) {
    for (int i = 0; i < nup; i++)
      lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}

void *shmlua_compat_testudata(lua_State *L, int idx, const char *tname) {
  void *p = lua_touserdata(L, idx);
  int same;
  if (!p || !lua_getmetatable(L, idx))
    return NULL;
  luaL_getmetatable(L, tname);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}

/* debug.traceback(co, msg, level) does what 5.2's luaL_traceback does. */
void shmlua_compat_traceback(lua_State *L, lua_State *co, const char *msg, int level) {
  int top = lua_gettop(L);
  lua_getfield(L, LUA_GLOBALSINDEX, "debug");
  if (lua_istable(L, -1))
    lua_getfield(L, -1, "traceback");
  if (!lua_isfunction(L, -1)) {
    lua_settop(L, top);
    lua_pushstring(L, msg);
    return;
  }
  lua_remove(L, -2);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_pushstring(L, msg);
  lua_pushinteger(L, level);
  lua_call(L, 3, 1);
}
#endif
#endif
