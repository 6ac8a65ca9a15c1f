/* Typed views of a block (m:array): NumPy's dtypes in native layout, and atomics with
   wait/notify on the 32- and 64-bit integer ones. Element access is the hot path: one
   metatable pointer comparison, a switch on the dtype, no string lookup, no allocation. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../core/atomic.h"
#include "../core/futex.h"
#include "binding.h"

typedef enum dtype {
  T_INT8, T_UINT8, T_INT16, T_UINT16, T_INT32, T_UINT32, T_INT64, T_UINT64, T_FLOAT32,
  T_FLOAT64
} dtype;

static const char *const dtype_names[] = {"int8",  "uint8",  "int16",   "uint16",  "int32",
                                          "uint32", "int64", "uint64", "float32", "float64",
                                          NULL};
static const unsigned char dtype_sizes[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
/* Accepted values of the integer dtypes narrower than 64 bits. */
static const lua_Integer dtype_min[] = {INT8_MIN, 0, INT16_MIN, 0, INT32_MIN, 0};
static const lua_Integer dtype_max[] = {INT8_MAX, UINT8_MAX, INT16_MAX, UINT16_MAX, INT32_MAX,
                                        UINT32_MAX};

typedef struct array {
  shmlua_block *b; /* kept alive by user value 1 */
  size_t offset;   /* byte offset of element 1 */
  size_t count;
  dtype type;
} array;


/* A Lua number as it was: integer or float. */
typedef struct number {
  int isint;
  lua_Integer i;
  lua_Number f;
} number;

/* Why a number cannot be stored (0: it can). */
enum { STORE_OK, STORE_NOT_INTEGRAL, STORE_OUT_OF_RANGE };

/* Scratch room for one element of any dtype, suitably aligned. */
typedef union element {
  uint32_t u32;
  uint64_t u64;
  double f64;
  unsigned char bytes[8];
} element;

static inline number loadelem(dtype t, const void *p) {
  number v = {1, 0, 0};
  switch (t) {
  case T_INT8: v.i = *(const int8_t *)p; break;
  case T_UINT8: v.i = *(const uint8_t *)p; break;
  case T_INT16: v.i = *(const int16_t *)p; break;
  case T_UINT16: v.i = *(const uint16_t *)p; break;
  case T_INT32: v.i = *(const int32_t *)p; break;
  case T_UINT32: v.i = *(const uint32_t *)p; break;
  case T_INT64: v.i = *(const int64_t *)p; break;
  case T_UINT64: v.i = (lua_Integer) * (const uint64_t *)p; break; /* wraps, as "J" */
  case T_FLOAT32: v.isint = 0; v.f = *(const float *)p; break;
  case T_FLOAT64: v.isint = 0; v.f = *(const double *)p; break;
  }
  return v;
}

static inline void pushnumber(lua_State *L, number v) {
  if (v.isint)
    shmlua_pushint(L, v.i);
  else
    lua_pushnumber(L, v.f);
}

/* An integral float converts as integer arguments do (shmlua_floattointeger); others do not. */
static int tointeger(number v, lua_Integer *out) {
  if (v.isint)
    *out = v.i;
  else if (!shmlua_floattointeger(v.f, out))
    return STORE_NOT_INTEGRAL;
  return STORE_OK;
}

/* The one conversion every write path uses (index, fill, set, copy, atomics): integer dtypes
   reject values out of their range instead of wrapping; 64-bit ones take any Lua integer
   (uint64 as its two's complement bits, as string.pack "J" does). */
static int storeelem(dtype t, void *p, number v) {
  lua_Integer i;
  if (t == T_FLOAT32 || t == T_FLOAT64) {
    lua_Number f = v.isint ? (lua_Number)v.i : v.f;
    if (t == T_FLOAT32)
      *(float *)p = (float)f;
    else
      *(double *)p = (double)f;
    return STORE_OK;
  }
  if (tointeger(v, &i) != STORE_OK)
    return STORE_NOT_INTEGRAL;
  if (t < T_INT64 && (i < dtype_min[t] || i > dtype_max[t]))
    return STORE_OUT_OF_RANGE;
  switch (t) {
  case T_INT8: *(int8_t *)p = (int8_t)i; break;
  case T_UINT8: *(uint8_t *)p = (uint8_t)i; break;
  case T_INT16: *(int16_t *)p = (int16_t)i; break;
  case T_UINT16: *(uint16_t *)p = (uint16_t)i; break;
  case T_INT32: *(int32_t *)p = (int32_t)i; break;
  case T_UINT32: *(uint32_t *)p = (uint32_t)i; break;
  default: *(uint64_t *)p = (uint64_t)i; break;
  }
  return STORE_OK;
}

static int badvalue(lua_State *L, dtype t, int why, number v) {
  pushnumber(L, v);
#if !SHMLUA_NATIVE_INTEGERS
  /* An integral double beyond 2^53: too large for the narrow dtypes, not exact for 64-bit. */
  if (why == STORE_NOT_INTEGRAL && v.f == floor(v.f) && !isinf(v.f)) {
    if (t >= T_INT64)
      return luaL_error(L, "%s value %s is beyond 2^53: a Lua number without integers is not "
                        "exact there", dtype_names[t], lua_tostring(L, -1));
    why = STORE_OUT_OF_RANGE;
  }
#endif
  if (why == STORE_NOT_INTEGRAL)
    return luaL_error(L, "%s value must be an integer, got %s", dtype_names[t],
                      lua_tostring(L, -1));
  return luaL_error(L, "%s value out of range (%I..%I): %s", dtype_names[t],
                    (LUAI_UACINT)dtype_min[t], (LUAI_UACINT)dtype_max[t], lua_tostring(L, -1));
}

/* The number at idx; strings are not numbers here (no coercion). */
static number checknumber(lua_State *L, dtype t, int idx) {
  number v = {1, 0, 0};
  if (lua_isinteger(L, idx))
    v.i = lua_tointeger(L, idx);
  else if (lua_type(L, idx) == LUA_TNUMBER) {
    v.isint = 0;
    v.f = lua_tonumber(L, idx);
  } else
    luaL_error(L, "%s value must be a number, got %s", dtype_names[t], luaL_typename(L, idx));
  return v;
}

/* Converts the value at idx for dtype t into p, or raises. */
static void checkvalue(lua_State *L, dtype t, int idx, void *p) {
  number v = checknumber(L, t, idx);
  int why = storeelem(t, p, v);
  if (why != STORE_OK)
    badvalue(L, t, why, v);
}

/* Its address is in every view's tag (binding.h: shmlua_newtagged): element access
   recognises a view with no metatable lookup. */
static const char array_class;

static array *fastarray(lua_State *L, int arg) {
  array *a = shmlua_totagged(L, arg, sizeof *a, &array_class);
  if (!a)
    luaL_typeerror(L, arg, SHMLUA_ARRAY_MT);
  return a;
}

static inline unsigned char *elements(lua_State *L, const array *a, int writing) {
  const shmlua_block *b = a->b;
  if (b->addr && !(writing && b->readonly)) /* the common case, without a call */
    return b->addr + a->offset;
  return shmlua_blockaddr(L, b, writing) + a->offset;
}

static size_t elemsize(const array *a) {
  return dtype_sizes[a->type];
}

/* The element the key at arg 2 names: an integer, or a float with an integer value. */
static inline size_t keyindex(lua_State *L, const array *a) {
  int isint;
  lua_Integer i = lua_tointegerx(L, 2, &isint);
  if (!isint)
    luaL_error(L, "array index must be an integer");
  if ((lua_Unsigned)i - 1 < a->count) /* 1..count, without a call */
    return (size_t)i - 1;
  return shmlua_checkindex(L, i, a->count) - 1;
}

static int array_index(lua_State *L) {
  array *a = fastarray(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    const unsigned char *p = elements(L, a, 0);
    pushnumber(L, loadelem(a->type, p + keyindex(L, a) * elemsize(a)));
    return 1;
  }
  if (lua_type(L, 2) != LUA_TSTRING)
    return luaL_error(L, "array index must be an integer");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TNIL && strcmp(lua_tostring(L, 2), "dtype") == 0)
    lua_pushstring(L, dtype_names[a->type]); /* methods first: a:add(...) is the common case */
  return 1;
}

static int array_newindex(lua_State *L) {
  array *a = fastarray(L, 1);
  unsigned char *p = elements(L, a, 1);
  if (lua_type(L, 2) != LUA_TNUMBER)
    return luaL_error(L, "array index must be an integer");
  checkvalue(L, a->type, 3, p + keyindex(L, a) * elemsize(a));
  return 0;
}

static int array_len(lua_State *L) {
  array *a = fastarray(L, 1);
  elements(L, a, 0);
  lua_pushinteger(L, (lua_Integer)a->count);
  return 1;
}

enum { TOSTRING_SHOWN = 8 };

static int array_tostring(lua_State *L) {
  array *a = fastarray(L, 1);
  int open = a->b->addr != NULL;
  size_t shown = a->count < TOSTRING_SHOWN ? a->count : TOSTRING_SHOWN;
  number values[TOSTRING_SHOWN];
  luaL_Buffer out;
  /* Copied before anything allocates: a collection may run a finalizer that closes the block. */
  for (size_t k = 0; open && k < shown; k++)
    values[k] = loadelem(a->type, a->b->addr + a->offset + k * elemsize(a));
  luaL_buffinit(L, &out);
  lua_pushfstring(L, "shm.array: %s[%I]", dtype_names[a->type], (LUAI_UACINT)a->count);
  luaL_addvalue(&out);
  if (!open)
    luaL_addstring(&out, " (closed)");
  else {
    luaL_addstring(&out, " {");
    for (size_t k = 0; k < shown; k++) {
      if (k > 0)
        luaL_addstring(&out, ", ");
      pushnumber(L, values[k]);
      luaL_addvalue(&out);
    }
    luaL_addstring(&out, a->count > TOSTRING_SHOWN ? ", ...}" : "}");
  }
  luaL_pushresult(&out);
  return 1;
}

/* Elements i..j (string.sub's rules) of a, as 0-based start and count. */
static size_t range(lua_State *L, const array *a, int arg, size_t *first) {
  return shmlua_range(shmlua_optint(L, arg, 1), shmlua_optint(L, arg + 1, -1), a->count, first);
}

/* a:fill(v [, i [, j]]) */
static int array_fill(lua_State *L) {
  array *a = fastarray(L, 1);
  unsigned char *p = elements(L, a, 1);
  size_t first, n = range(L, a, 3, &first), size = elemsize(a);
  element v;
  checkvalue(L, a->type, 2, &v);
  p += first * size;
  for (size_t k = 0; k < n; k++)
    memcpy(p + k * size, &v, size);
  return 0;
}

/* a:totable([i [, j]]) */
static int array_totable(lua_State *L) {
  array *a = fastarray(L, 1);
  const unsigned char *p;
  size_t first, n, size = elemsize(a);
  elements(L, a, 0); /* a closed block raises before the arguments are looked at */
  n = range(L, a, 2, &first);
  if (n > INT_MAX)
    return luaL_error(L, "too many elements for a table");
  lua_createtable(L, (int)n, 0);
  /* After the allocation: it may run a finalizer that closes the block. The table has room
     for all n, so the stores below allocate nothing. */
  p = elements(L, a, 0) + first * size;
  for (size_t k = 0; k < n; k++) {
    pushnumber(L, loadelem(a->type, p + k * size));
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  return 1;
}

/* The element where a copy of n elements starts (arg: position, default 1); raises unless
   all n fit. */
static size_t destination(lua_State *L, const array *a, int arg, size_t n) {
  size_t start = shmlua_checkstart(L, shmlua_optint(L, arg, 1), a->count);
  if (n > a->count - (start - 1))
    luaL_error(L, "%I elements at position %I do not fit in %I", (LUAI_UACINT)n,
               (LUAI_UACINT)start, (LUAI_UACINT)a->count);
  return start - 1;
}

/* a:set(t [, i]): t's elements 1..#t (raw access, no metamethods) into a from element i.
   All values are checked before the first is written, so a bad one changes nothing. */
static int array_set(lua_State *L) {
  array *a = fastarray(L, 1);
  unsigned char *p = elements(L, a, 1);
  size_t n, first, size = elemsize(a);
  element scratch;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = (size_t)lua_rawlen(L, 2);
  first = destination(L, a, 3, n);
  for (int pass = 0; pass < 2; pass++)
    for (size_t k = 0; k < n; k++) {
      lua_rawgeti(L, 2, (lua_Integer)k + 1);
      checkvalue(L, a->type, -1, pass == 0 ? (void *)&scratch : p + (first + k) * size);
      lua_pop(L, 1);
    }
  return 0;
}

/* Whether two views may share memory through different mappings of the same object. */
static int maybe_aliased(const array *a, const array *b) {
  return a->b != b->b && strcmp(a->b->name.path, b->b->name.path) == 0;
}

/* a:copy(b [, i]): all of b into a from element i (default 1). Same dtype: memmove, so
   overlapping views of one mapping are fine. Different dtypes: each value converts as a write
   of it would (out of range raises) into a scratch copy first, so a failure changes nothing
   and overlap is harmless. */
static int array_copy(lua_State *L) {
  array *a = fastarray(L, 1), *b = fastarray(L, 2);
  size_t n = b->count, dsize = elemsize(a), ssize = elemsize(b), first;
  unsigned char *dst, *scratch = NULL;
  const unsigned char *src;
  elements(L, a, 1); /* closed or read-only raise first */
  elements(L, b, 0);
  first = destination(L, a, 3, n);
  if (a->type != b->type || maybe_aliased(a, b))
    scratch = lua_newuserdatauv(L, n * dsize, 0);
  /* Only now: the allocation may run a finalizer that closes either block. */
  dst = elements(L, a, 1) + first * dsize;
  src = elements(L, b, 0);
  if (!scratch) {
    memmove(dst, src, n * dsize);
    return 0;
  }
  if (a->type == b->type)
    memcpy(scratch, src, n * dsize);
  else
    for (size_t k = 0; k < n; k++) {
      number v = loadelem(b->type, src + k * ssize);
      int why = storeelem(a->type, scratch + k * dsize, v);
      if (why != STORE_OK)
        return badvalue(L, a->type, why, v);
    }
  memcpy(dst, scratch, n * dsize);
  return 0;
}

/* ---- atomics ---- */

static int is64(const array *a) {
  return elemsize(a) == 8;
}

/* The byte offset, from element 1, of element arg 2 of an atomic-capable view at arg 1. */
static size_t atomicoffset(lua_State *L, array **out, int writing) {
  array *a = *out = fastarray(L, 1);
  if (a->type < T_INT32 || a->type > T_UINT64)
    luaL_error(L, "atomics need an int32, uint32, int64 or uint64 array, not %s",
               dtype_names[a->type]);
  elements(L, a, writing); /* closed or read-only raise before a bad index does */
  if (lua_type(L, 2) != LUA_TNUMBER) /* keyindex alone would take a numeric string */
    luaL_typeerror(L, 2, "integer");
  return keyindex(L, a) * elemsize(a); /* as a[i] reads it: a[1.0] and a:load(1.0) alike */
}

/* Element arg 2 of an atomic-capable view at arg 1. */
static void *atomicelem(lua_State *L, array **out, int writing) {
  size_t offset = atomicoffset(L, out, writing);
  return elements(L, *out, writing) + offset;
}

static int rmw(lua_State *L, shmlua_atomic_op op) {
  array *a;
  void *p = atomicelem(L, &a, 1);
  element v, old;
  checkvalue(L, a->type, 3, &v);
  if (is64(a))
    old.u64 = shmlua_atomic_rmw64(p, op, v.u64);
  else
    old.u32 = shmlua_atomic_rmw32(p, op, v.u32);
  pushnumber(L, loadelem(a->type, &old));
  return 1;
}

static int array_add(lua_State *L) { return rmw(L, SHMLUA_ATOMIC_ADD); }
static int array_sub(lua_State *L) { return rmw(L, SHMLUA_ATOMIC_SUB); }
static int array_band(lua_State *L) { return rmw(L, SHMLUA_ATOMIC_AND); }
static int array_bor(lua_State *L) { return rmw(L, SHMLUA_ATOMIC_OR); }
static int array_bxor(lua_State *L) { return rmw(L, SHMLUA_ATOMIC_XOR); }
static int array_exchange(lua_State *L) { return rmw(L, SHMLUA_ATOMIC_EXCHANGE); }

static int array_store(lua_State *L) {
  rmw(L, SHMLUA_ATOMIC_EXCHANGE);
  return 0;
}

static int array_load(lua_State *L) {
  array *a;
  void *p = atomicelem(L, &a, 0);
  element v;
  if (is64(a))
    v.u64 = __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST);
  else
    v.u32 = __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST);
  pushnumber(L, loadelem(a->type, &v));
  return 1;
}

/* a:cas(i, expected, desired) -> swapped, value found */
static int array_cas(lua_State *L) {
  array *a;
  void *p = atomicelem(L, &a, 1);
  element expected, desired;
  int swapped;
  checkvalue(L, a->type, 3, &expected);
  checkvalue(L, a->type, 4, &desired);
  if (is64(a))
    swapped = shmlua_atomic_cas64(p, &expected.u64, desired.u64);
  else
    swapped = shmlua_atomic_cas32(p, &expected.u32, desired.u32);
  lua_pushboolean(L, swapped);
  pushnumber(L, loadelem(a->type, &expected));
  return 2;
}

/* One slice of a:wait, for shmlua_sync_wait. */
typedef struct waiting {
  lua_State *L;
  const array *a;
  size_t offset;
  element expected;
  int slices; /* run so far */
} waiting;

static int waitslice(void *ctx, const struct timespec *until) {
  waiting *w = ctx;
  struct timespec left = shmlua_time_left(until); /* the atomic waits take relative time */
  /* Fetched for each slice: the look for Ctrl-C between two runs any hook, which may close
     the block (this raises then). */
  void *p = elements(w->L, w->a, 0) + w->offset;
  w->slices++;
  if (is64(w->a))
    return shmlua_atomic_wait64(p, w->expected.u64, &left);
  return shmlua_futex_wait(p, w->expected.u32, &left);
}

/* a:wait(i, expected [, timeout]) -> "ok" | "not-equal" | "timed-out", as Atomics.wait. */
static int array_wait(lua_State *L) {
  waiting w = {L, NULL, 0, {0}, 0};
  array *a;
  struct timespec deadline;
  int rc;
  w.offset = atomicoffset(L, &a, 0);
  w.a = a;
  checkvalue(L, a->type, 3, &w.expected);
  rc = shmlua_sync_wait(L, waitslice, &w, shmlua_opttimeout(L, 4, &deadline), 1, NULL);
  if (rc == 0)
    lua_pushliteral(L, "ok");
  else if (rc == EAGAIN) /* after the first slice: it changed while we were between two */
    lua_pushstring(L, w.slices == 1 ? "not-equal" : "ok");
  else if (rc == ETIMEDOUT)
    lua_pushliteral(L, "timed-out");
  else
    return luaL_error(L, "wait: %s", strerror(rc));
  return 1;
}

/* a:notify(i [, count]) -> how many sleepers were woken (0 on the polling fallback). */
static int array_notify(lua_State *L) {
  array *a;
  void *p = atomicelem(L, &a, 0);
  lua_Integer count = shmlua_optint(L, 3, INT32_MAX);
  luaL_argcheck(L, count >= 0, 3, "count must be >= 0");
  if (count > INT32_MAX)
    count = INT32_MAX;
  lua_pushinteger(L, is64(a) ? shmlua_atomic_wake64(p, (int)count)
                             : shmlua_futex_wake(p, (int)count));
  return 1;
}

/* ---- m:array(dtype [, pos [, count]]) ---- */

/* As luaL_checkoption, but quoting only the start of a bad name. */
static dtype checkdtype(lua_State *L, int arg) {
  size_t len;
  const char *name = luaL_checklstring(L, arg, &len);
  for (int t = 0; dtype_names[t]; t++)
    if (strlen(dtype_names[t]) == len && memcmp(dtype_names[t], name, len) == 0)
      return (dtype)t;
  return (dtype)luaL_argerror(L, arg, lua_pushfstring(L, "unknown dtype '%s' (int8, uint8, "
                              "int16, uint16, int32, uint32, int64, uint64, float32, float64)",
                              shmlua_pushquoted(L, arg)));
}

static int block_array(lua_State *L) {
  shmlua_block *b = shmlua_checkblock(L, 1);
  dtype t = checkdtype(L, 2);
  lua_Integer pos = shmlua_optint(L, 3, 1);
  size_t size = dtype_sizes[t], start, room;
  array *a;
  shmlua_blockaddr(L, b, 0);
  start = shmlua_checkstart(L, pos, b->size);
  if ((start - 1) % size != 0)
    return luaL_argerror(L, 3, lua_pushfstring(L, "position %I is not aligned for %s (must be "
                                               "1 plus a multiple of %d)",
                                               (LUAI_UACINT)start, dtype_names[t], (int)size));
  room = (b->size - (start - 1)) / size;
  lua_Integer count = shmlua_optint(L, 4, (lua_Integer)room);
  luaL_argcheck(L, count >= 0, 4, "count must be >= 0");
  if ((lua_Unsigned)count > room)
    return luaL_argerror(L, 4, lua_pushfstring(L, "%I %s elements at position %I do not fit "
                                               "in %I bytes", (LUAI_UACINT)count,
                                               dtype_names[t], (LUAI_UACINT)start,
                                               (LUAI_UACINT)b->size));
  a = shmlua_newtagged(L, sizeof *a, 1, &array_class);
  a->b = b;
  a->offset = start - 1;
  a->count = (size_t)count;
  a->type = t;
  luaL_setmetatable(L, SHMLUA_ARRAY_MT);
  lua_pushvalue(L, 1); /* the view keeps its block alive */
  lua_setiuservalue(L, -2, 1);
  shmlua_jit_track(L, lua_gettop(L), 1, (int)t, a->offset, a->count);
  return 1;
}

void shmlua_open_array(lua_State *L) {
  static const luaL_Reg metamethods[] = {{"__newindex", array_newindex},
                                         {"__len", array_len},
                                         {"__tostring", array_tostring},
                                         {NULL, NULL}};
  static const luaL_Reg methods[] = {
      {"fill", array_fill},   {"totable", array_totable},   {"set", array_set},
      {"copy", array_copy},   {"load", array_load},         {"store", array_store},
      {"add", array_add},     {"sub", array_sub},           {"band", array_band},
      {"bor", array_bor},     {"bxor", array_bxor},         {"exchange", array_exchange},
      {"cas", array_cas},     {"wait", array_wait},         {"notify", array_notify},
      {NULL, NULL}};
  static const luaL_Reg block_methods[] = {{"array", block_array}, {NULL, NULL}};
  shmlua_newclass(L, SHMLUA_ARRAY_MT, metamethods, methods, array_index);
  lua_pop(L, 1);
  shmlua_addmethods(L, SHMLUA_BLOCK_MT, block_methods);
}
