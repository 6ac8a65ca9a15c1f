/* What array.c (typed views: element access, atomics) shares with arrayops.c (whole-array
   methods, views of views). */
#ifndef SHMLUA_ARRAY_H
#define SHMLUA_ARRAY_H

#include <math.h>
#include <stddef.h>

#include "../core/arrayops.h"
#include "args.h"
#include "class.h"

typedef struct array {
  shmlua_block *b; /* kept alive by user value 1 */
  size_t offset;   /* byte offset of element 1 */
  size_t count;
  ptrdiff_t stride; /* bytes from one element to the next (negative: backwards) */
  shmlua_dtype type;
  size_t cols; /* a 2-D view from a:reshape: count / cols rows; 0: 1-D */
} array;

/* The view at arg (raises if arg is not one). */
array *shmlua_checkarray(lua_State *L, int arg);
/* The same, or NULL if arg is not a view. */
array *shmlua_toarray(lua_State *L, int arg);
/* Element 1 of a; raises on a closed block, and on a read-only one when writing. */
unsigned char *shmlua_arrayaddr(lua_State *L, const array *a, int writing);
/* Pushes a new view of the same block as the view at arg, laid out as like. */
array *shmlua_pushview(lua_State *L, int arg, const array *like);

/* Elements first .. first+n-1 (0-based) of a, whose element 1 is at p, for the kernels. */
static inline shmlua_vec shmlua_vecof(unsigned char *p, const array *a, size_t first,
                                      size_t n) {
  shmlua_vec v = {p + (ptrdiff_t)first * a->stride, a->stride, n, a->type};
  return v;
}

/* shmlua_vec_copy(&to, &from) as a guarded step (blockaccess.h: shmlua_guardedcall). */
typedef struct shmlua_copying {
  shmlua_vec to, from;
} shmlua_copying;
int shmlua_copyvec(void *ctx);

/* Raises why (SHMLUA_STORE_*) v cannot be stored in t. */
int shmlua_badvalue(lua_State *L, shmlua_dtype t, int why, shmlua_num v);

/* Inline: element access (a[i], a[i] = v) is the hot path. */
static inline void shmlua_pushnum(lua_State *L, shmlua_num v) {
  if (v.isint)
    shmlua_pushint(L, v.i);
  else
    lua_pushnumber(L, v.f);
}

/* The number at idx; strings are not numbers here (no coercion). t: for the message. */
static inline shmlua_num shmlua_checknum(lua_State *L, shmlua_dtype t, int idx) {
  shmlua_num v = {1, 0, 0};
  if (lua_isinteger(L, idx))
    v.i = lua_tointeger(L, idx);
  else if (lua_type(L, idx) == LUA_TNUMBER) {
    v.isint = 0;
    v.f = lua_tonumber(L, idx);
#if !SHMLUA_NATIVE_INTEGERS
    /* Integral, so beyond 2^53 (compat.h's lua_isinteger): not exact there, never rounded. */
    if (!shmlua_dtype_isfloat(t) && v.f == floor(v.f) && !isinf(v.f))
      shmlua_badvalue(L, t, SHMLUA_STORE_NOT_INTEGRAL, v);
#endif
  } else
    luaL_error(L, "%s value must be a number, got %s", shmlua_dtype_names[t],
               luaL_typename(L, idx));
  return v;
}

#endif
