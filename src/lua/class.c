/* Classes: metatables registered once with their methods, close and release, scratch
   userdata. */
#include <string.h>

#include "class.h"

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

/* The close method: the class's release (upvalue 1), then true. */
static int close_method(lua_State *L) {
  lua_tocfunction(L, lua_upvalueindex(1))(L);
  lua_pushboolean(L, 1);
  return 1;
}

static const char closers_key = 0; /* registry: the close methods made, a list */

/* Pushes the close method of release, made once: classes that share a release (the sync
   objects) share one close, as shm.help shows. */
static void pushcloser(lua_State *L, lua_CFunction release) {
  size_t n;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &closers_key) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &closers_key);
  }
  n = lua_rawlen(L, -1);
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, (lua_Integer)i);
    lua_getupvalue(L, -1, 1);
    if (lua_tocfunction(L, -1) == release) {
      lua_pop(L, 1);
      lua_remove(L, -2);
      return;
    }
    lua_pop(L, 2);
  }
  lua_pushcfunction(L, release);
  lua_pushcclosure(L, close_method, 1);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, (lua_Integer)n + 1);
  lua_remove(L, -2);
}

void shmlua_setrelease(lua_State *L, lua_CFunction release, int gc) {
  lua_pushcfunction(L, release);
  lua_setfield(L, -2, "__close");
  if (gc) {
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
  }
  lua_getfield(L, -1, SHMLUA_METHODS);
  pushcloser(L, release);
  lua_setfield(L, -2, "close");
  lua_pop(L, 1);
}

int shmlua_pushclassof(lua_State *L, int idx) {
  const char *tname;
  if (!lua_getmetatable(L, idx))
    return 0;
  lua_pushliteral(L, "__name");
  lua_rawget(L, -2);
  tname = lua_tostring(L, -1);
  if (lua_type(L, -1) == LUA_TSTRING && strncmp(tname, "shm.", 4) == 0) {
    lua_getfield(L, LUA_REGISTRYINDEX, tname);
    lua_pushliteral(L, "__class"); /* an object's own copy of its class's (sync objects) */
    lua_rawget(L, -4);
    if (lua_istable(L, -2) && (lua_rawequal(L, -2, -4) || lua_rawequal(L, -2, -1))) {
      lua_pop(L, 1); /* ours, not a look-alike */
      lua_pushstring(L, tname + 4);
      lua_replace(L, -4);
      lua_pop(L, 2);
      return 1;
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
  return 0;
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
