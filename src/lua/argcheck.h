/* lauxlib's argument checks, raising through shmlua_argerror (argcheck.c, args.c), so that
   every "bad argument" names what it can on every Lua: `pcall(m.lock, 1)` says 'lock', and
   `pcall(shm.create, "x")` 'shm.create' on 5.1 and LuaJIT too, as 5.4 says it. The binding
   calls the lauxlib names; these macros send them here (class.h and args.h include this
   header, so the binding files have them; compat.c, the host and the bench do not). */
#ifndef SHMLUA_ARGCHECK_H
#define SHMLUA_ARGCHECK_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>

/* luaL_argerror, also naming a method of a shm class that Lua cannot name (one called by
   pcall or from C: "bad argument #2 to 'array'" where lauxlib says '?'). */
int shmlua_argerror(lua_State *L, int arg, const char *extramsg);
/* luaL_typeerror through shmlua_argerror. */
int shmlua_typeerror(lua_State *L, int arg, const char *tname);

const char *shmlua_checklstring(lua_State *L, int arg, size_t *len);
lua_Number shmlua_checknumber(lua_State *L, int arg);
lua_Integer shmlua_checkinteger(lua_State *L, int arg);
lua_Integer shmlua_optinteger(lua_State *L, int arg, lua_Integer def);
void shmlua_checktype(lua_State *L, int arg, int type);
void shmlua_checkany(lua_State *L, int arg);
void *shmlua_checkudata(lua_State *L, int arg, const char *tname);

#define luaL_argerror(L, arg, extramsg) shmlua_argerror(L, arg, extramsg)
#define luaL_typeerror(L, arg, tname) shmlua_typeerror(L, arg, tname)
#define luaL_checklstring(L, arg, len) shmlua_checklstring(L, arg, len)
#define luaL_checknumber(L, arg) shmlua_checknumber(L, arg)
#define luaL_checkinteger(L, arg) shmlua_checkinteger(L, arg)
#define luaL_optinteger(L, arg, def) shmlua_optinteger(L, arg, def)
#define luaL_checktype(L, arg, type) shmlua_checktype(L, arg, type)
#define luaL_checkany(L, arg) shmlua_checkany(L, arg)
#define luaL_checkudata(L, arg, tname) shmlua_checkudata(L, arg, tname)

#endif
