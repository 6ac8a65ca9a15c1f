/* Arguments and options as every function of the module takes them, and the messages of
   its errors: argument errors, quoted values and names, nil, message, errno. */
#ifndef SHMLUA_ARGS_H
#define SHMLUA_ARGS_H

#include <stddef.h>

#include "../core/block.h"
#include "argcheck.h"
#include "compat.h"

/* An integer argument as luaL_checkinteger takes it (3 or 3.0; 1.5 raises "number has no
   integer representation"), but never a numeric string. Without native integers (5.1, 5.2,
   LuaJIT) only up to 2^53: larger numbers raise rather than round. */
lua_Integer shmlua_checkint(lua_State *L, int arg);
lua_Integer shmlua_optint(lua_State *L, int arg, lua_Integer def);
/* Pushes an integer read from memory or computed (64-bit elements, atomics, sums); without
   native integers one beyond 2^53 raises instead of being rounded. */
#if SHMLUA_NATIVE_INTEGERS
#define shmlua_pushint lua_pushinteger
#else
void shmlua_pushint(lua_State *L, lua_Integer v);
#endif

/* Options table at arg (or nil): raises on keys not in allowed (NULL-terminated). */
void shmlua_checkopts(lua_State *L, int arg, const char *const allowed[]);
/* Field of an options table at arg, or def when absent. */
lua_Integer shmlua_optfield_int(lua_State *L, int arg, const char *key, lua_Integer def);
int shmlua_optfield_bool(lua_State *L, int arg, const char *key, int def);

/* A string argument that is a valid block name; raises an argument error otherwise. */
void shmlua_checkname(lua_State *L, int arg, shmlua_name *out);
/* For a constructor that takes its name among its options: pushes opts[key] (opts at arg)
   after checking that it is a valid block name, or nil when absent. Errors name the option. */
void shmlua_pushoptname(lua_State *L, int arg, const char *key);
/* What every shm.<kind>(...) that makes a block takes: an optional name at name_arg (nil:
   random) and options at opts_arg, of which mode and keep are read into opts (allowed: the
   keys accepted; NULL for just those two). Returns name, filled, or NULL for a random one. */
const shmlua_name *shmlua_checkcreate(lua_State *L, int name_arg, int opts_arg,
                                      const char *const allowed[], shmlua_name *name,
                                      shmlua_create_opts *opts);

/* shmlua_argerror and lauxlib's checks through it: argcheck.h (which compat.h includes). */

/* Pushes the string at index idx as an error message quotes it: at most 32 bytes, then
   "..." (a script may pass megabytes). Returns it. */
const char *shmlua_pushquoted(lua_State *L, int idx);
/* Pushes a block's name as a message shows it: bytes a terminal would act on escaped, as
   `ls -b` shows them (a name may hold any byte but '/' and NUL). Returns it. */
const char *shmlua_pushname(lua_State *L, const shmlua_name *name);
/* Pushes nil, message, errno as io.open does; returns 3. */
int shmlua_oserror(lua_State *L, const shmlua_error *err);

#endif
