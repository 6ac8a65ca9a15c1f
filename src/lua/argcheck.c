/* lauxlib's argument checks with the same rules and messages as 5.4's, raising through
   shmlua_argerror so that the function is named also when called through pcall (argcheck.h
   maps the luaL_ names here). Integers follow lua_tointegerx: exact within 2^53 without
   native integers. */
#include "argcheck.h"
#include "compat.h"

const char *shmlua_checklstring(lua_State *L, int arg, size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (!s)
    shmlua_typeerror(L, arg, lua_typename(L, LUA_TSTRING));
  return s;
}

lua_Number shmlua_checknumber(lua_State *L, int arg) {
  if (!lua_isnumber(L, arg))
    shmlua_typeerror(L, arg, lua_typename(L, LUA_TNUMBER));
  return lua_tonumber(L, arg);
}

lua_Integer shmlua_checkinteger(lua_State *L, int arg) {
  int isint;
  lua_Integer v = lua_tointegerx(L, arg, &isint);
  if (!isint) {
    if (lua_isnumber(L, arg))
      shmlua_argerror(L, arg, "number has no integer representation");
    else
      shmlua_typeerror(L, arg, lua_typename(L, LUA_TNUMBER)); /* as lauxlib says it */
  }
  return v;
}

lua_Integer shmlua_optinteger(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : shmlua_checkinteger(L, arg);
}

void shmlua_checktype(lua_State *L, int arg, int type) {
  if (lua_type(L, arg) != type)
    shmlua_typeerror(L, arg, lua_typename(L, type));
}

void shmlua_checkany(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TNONE)
    shmlua_argerror(L, arg, "value expected");
}

void *shmlua_checkudata(lua_State *L, int arg, const char *tname) {
  void *p = luaL_testudata(L, arg, tname);
  if (!p)
    shmlua_typeerror(L, arg, tname);
  return p;
}
