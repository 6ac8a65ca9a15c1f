/* The binding is written against Lua 5.4's C API. This header gives Lua 5.1, 5.2, 5.3 and
   LuaJIT (whose API is 5.1's plus a few 5.2 functions) the parts of it the binding uses,
   so one source tree builds for all of them. Every binding header includes it.

   What cannot be made the same is switched on these:
   SHMLUA_NATIVE_INTEGERS  Lua 5.3+: integers are their own subtype. Without them numbers
                           are doubles and integers are exact only up to 2^53
                           (SHMLUA_EXACT_MAX): args.c refuses anything beyond.
   SHMLUA_HAVE_TOCLOSE     Lua 5.4: to-be-closed variables (lua_toclose).
   SHMLUA_HAVE_KFUNCTION   Lua 5.3+: lua_callk/lua_pcallk with 5.3's lua_KFunction. 5.2's
                           continuations take another signature and are not used. */
#ifndef SHMLUA_COMPAT_H
#define SHMLUA_COMPAT_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#define SHMLUA_NATIVE_INTEGERS (LUA_VERSION_NUM >= 503)
#define SHMLUA_HAVE_TOCLOSE (LUA_VERSION_NUM >= 504)
#define SHMLUA_HAVE_KFUNCTION (LUA_VERSION_NUM >= 503)
#ifdef SHMLUA_LUAJIT /* set by CMake: LuaJIT's lua.h does not tell it from 5.1 */
#define SHMLUA_IS_LUAJIT 1
#else
#define SHMLUA_IS_LUAJIT 0
#endif

/* lua_pushlstring collects garbage before it copies (5.1, 5.2, LuaJIT) or after (5.3+). */
#define SHMLUA_PUSH_COLLECTS_FIRST (LUA_VERSION_NUM < 503 || SHMLUA_IS_LUAJIT)

/* The mask of the hook lua.c sets on Ctrl-C (interrupt.c moves it to a waiting coroutine). */
#if LUA_VERSION_NUM >= 504
#define SHMLUA_INTERRUPT_HOOKMASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT)
#else
#define SHMLUA_INTERRUPT_HOOKMASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT)
#endif

/* The largest integer every double holds exactly. */
#define SHMLUA_EXACT_MAX ((lua_Integer)1 << 53)

#if LUA_VERSION_NUM < 504
/* One uservalue per userdata before 5.4 (a table in 5.1's environment or 5.2's uservalue):
   the n values of 5.4 live in a table at 1..n. */
void *shmlua_compat_newuserdatauv(lua_State *L, size_t size, int nuv);
int shmlua_compat_getiuservalue(lua_State *L, int idx, int n);
int shmlua_compat_setiuservalue(lua_State *L, int idx, int n);
#define lua_newuserdatauv shmlua_compat_newuserdatauv
#define lua_getiuservalue shmlua_compat_getiuservalue
#define lua_setiuservalue shmlua_compat_setiuservalue
#define luaL_pushfail lua_pushnil
/* lua_resume's 5.4 signature. */
int shmlua_compat_resume(lua_State *co, lua_State *from, int nargs, int *nresults);
#define lua_resume shmlua_compat_resume
#define lua_closethread(co, from) ((void)(co), (void)(from), LUA_OK) /* nothing to close */
#elif LUA_VERSION_RELEASE_NUM < 50406
#define lua_closethread(co, from) ((void)(from), lua_resetthread(co))
#endif

#if LUA_VERSION_NUM < 503
/* Integers are doubles: "is an integer" means an integral double within +-2^53. */
typedef uint64_t shmlua_compat_unsigned;
#define lua_Unsigned shmlua_compat_unsigned /* 5.2's is 32 bits; 5.1 has none */
#define LUAI_UACINT long long
#define LUA_MAXINTEGER PTRDIFF_MAX
int shmlua_compat_isinteger(lua_State *L, int idx);
lua_Integer shmlua_compat_tointegerx(lua_State *L, int idx, int *isint);
#define lua_isinteger shmlua_compat_isinteger
#define lua_tointegerx shmlua_compat_tointegerx
/* lua_pushfstring and luaL_error with 5.3's %I (a LUAI_UACINT). */
const char *shmlua_compat_pushfstring(lua_State *L, const char *fmt, ...);
int shmlua_compat_error(lua_State *L, const char *fmt, ...);
#define lua_pushfstring shmlua_compat_pushfstring
#define luaL_error shmlua_compat_error
/* The getters return the type they pushed, as in 5.3. */
#define lua_getfield(L, i, k) (lua_getfield(L, i, k), lua_type(L, -1))
#define lua_rawget(L, i) (lua_rawget(L, i), lua_type(L, -1))
#if LUA_VERSION_NUM == 502 /* 5.1's is compat.c's, which returns the type already */
#define lua_rawgetp(L, i, p) (lua_rawgetp(L, i, p), lua_type(L, -1))
#endif
/* 5.3's lua_dump takes whether to strip debug information: older ones keep it. */
#define lua_dump(L, writer, data, strip) ((void)(strip), lua_dump(L, writer, data))
#define lua_rawgeti(L, i, n) (lua_rawgeti(L, i, n), lua_type(L, -1))
int shmlua_compat_geti(lua_State *L, int idx, lua_Integer i);
#define lua_geti shmlua_compat_geti
void shmlua_compat_rotate(lua_State *L, int idx, int n);
#define lua_rotate shmlua_compat_rotate
#endif

#ifndef LUA_LOADED_TABLE /* 5.3 names it; older Luas use the same key */
#define LUA_LOADED_TABLE "_LOADED"
#endif

#if LUA_VERSION_NUM < 502
#define lua_pushglobaltable(L) lua_pushvalue(L, LUA_GLOBALSINDEX)
#if !SHMLUA_IS_LUAJIT /* LuaJIT has it */
/* luaL_loadbufferx with 5.2's mode ("b": binary chunks only, "t": text only). */
int shmlua_compat_loadbufferx(lua_State *L, const char *buff, size_t size, const char *name,
                              const char *mode);
#define luaL_loadbufferx shmlua_compat_loadbufferx
#endif
static inline const char *shmlua_compat_pushstring(lua_State *L, const char *s) {
  lua_pushstring(L, s); /* returns nothing before 5.2 */
  return lua_tostring(L, -1);
}
#define lua_pushstring shmlua_compat_pushstring
static inline const char *shmlua_compat_pushlstring(lua_State *L, const char *s, size_t len) {
  lua_pushlstring(L, s, len);
  return lua_tostring(L, -1);
}
#define lua_pushlstring shmlua_compat_pushlstring
#ifndef LUA_OK
#define LUA_OK 0
#endif
#define lua_rawlen(L, i) lua_objlen(L, i)
#define luaL_len(L, i) ((lua_Integer)lua_objlen(L, i))
#define lua_absindex(L, i)                                                                    \
  ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)
int shmlua_compat_rawgetp(lua_State *L, int idx, const void *p);
void shmlua_compat_rawsetp(lua_State *L, int idx, const void *p);
#define lua_rawgetp shmlua_compat_rawgetp
#define lua_rawsetp shmlua_compat_rawsetp
const char *shmlua_compat_tolstring(lua_State *L, int idx, size_t *len);
#define luaL_tolstring shmlua_compat_tolstring
void shmlua_compat_requiref(lua_State *L, const char *name, lua_CFunction open, int global);
#define luaL_requiref shmlua_compat_requiref
#if !SHMLUA_IS_LUAJIT /* LuaJIT has these 5.2 functions */
void shmlua_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
void *shmlua_compat_testudata(lua_State *L, int idx, const char *tname);
void shmlua_compat_traceback(lua_State *L, lua_State *co, const char *msg, int level);
#define luaL_setfuncs shmlua_compat_setfuncs
#define luaL_testudata shmlua_compat_testudata
#define luaL_traceback shmlua_compat_traceback
#define luaL_setmetatable(L, tname) (luaL_getmetatable(L, tname), lua_setmetatable(L, -2))
#define luaL_newlib(L, l) (lua_newtable(L), luaL_setfuncs(L, l, 0))
#endif
#endif

#if LUA_VERSION_NUM < 503
/* luaL_getmetafield returns the type of what it pushed (LUA_TNIL: pushed nothing), as in 5.3. */
#define luaL_getmetafield(L, obj, e)                                                          \
  (luaL_getmetafield(L, obj, e) ? lua_type(L, -1) : LUA_TNIL)
/* luaL_newmetatable sets __name (error messages use it) from 5.3 on. */
int shmlua_compat_newmetatable(lua_State *L, const char *tname);
#define luaL_newmetatable shmlua_compat_newmetatable
#endif

/* The main thread, pushed (nil when unknown: 5.1 knows it only if the module was loaded
   there). */
void shmlua_pushmainthread(lua_State *L);
/* Called by luaopen_shm: remembers the main thread where the API cannot tell it. */
void shmlua_compat_open(lua_State *L);

/* Calls the function below the nargs arguments on top (as lua_call) and returns what k
   returns, k being what the calling C function does after the call. Where Lua has
   continuations (5.3 on: lua_callk) the function called may yield: Lua then calls k itself
   when the coroutine resumes. Without them a yield raises, as across any C call. */
#if SHMLUA_HAVE_KFUNCTION
static inline int shmlua_callk(lua_State *L, int nargs, int nresults, lua_KContext ctx,
                               lua_KFunction k) {
  lua_callk(L, nargs, nresults, ctx, k);
  return k(L, LUA_OK, ctx);
}
#else
typedef ptrdiff_t lua_KContext;
typedef int (*lua_KFunction)(lua_State *L, int status, lua_KContext ctx);
static inline int shmlua_callk(lua_State *L, int nargs, int nresults, lua_KContext ctx,
                               lua_KFunction k) {
  lua_call(L, nargs, nresults);
  return k(L, LUA_OK, ctx);
}
#endif

#endif
