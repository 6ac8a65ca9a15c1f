/* Typed views of a block (m:array): NumPy's dtypes in native layout, and atomics with
   wait/notify on the 32- and 64-bit integer ones. Element access is the hot path: one
   tag comparison (no metatable lookup), a switch on the dtype, no allocation. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../core/atomic.h"
#include "../core/futex.h"
#include "args.h"
#include "array.h"
#include "arrayview.h"
#include "blockaccess.h"
#include "class.h"
#include "jit.h"
#include "parts.h"
#include "position.h"
#include "wait.h"

/* Scratch room for one element of any dtype, suitably aligned. */
typedef union element {
  uint32_t u32;
  uint64_t u64;
  double f64;
  unsigned char bytes[8];
} element;

int shmlua_badvalue(lua_State *L, shmlua_dtype t, int why, shmlua_num v) {
  shmlua_pushnum(L, v);
#if !SHMLUA_NATIVE_INTEGERS
  /* An integral double beyond 2^53: too large for the narrow dtypes, not exact for 64-bit. */
  if (why == SHMLUA_STORE_NOT_INTEGRAL && v.f == floor(v.f) && !isinf(v.f)) {
    if (t >= SHMLUA_INT64)
      return luaL_error(L,
                        "%s value %s is beyond 2^53: a Lua number without integers is not "
                        "exact there",
                        shmlua_dtype_names[t], lua_tostring(L, -1));
    why = SHMLUA_STORE_OUT_OF_RANGE;
  }
#endif
  if (why == SHMLUA_STORE_NOT_INTEGRAL)
    return luaL_error(L, "%s value must be an integer, got %s", shmlua_dtype_names[t],
                      lua_tostring(L, -1));
  return luaL_error(L, "%s value out of range (%I..%I): %s", shmlua_dtype_names[t],
                    (LUAI_UACINT)shmlua_dtype_min[t], (LUAI_UACINT)shmlua_dtype_max[t],
                    lua_tostring(L, -1));
}

/* Converts the value at idx for dtype t into p, or raises. */
static void checkvalue(lua_State *L, shmlua_dtype t, int idx, void *p) {
  shmlua_num v = shmlua_checknum(L, t, idx);
  int why = shmlua_num_store(t, p, v);
  if (why != SHMLUA_STORE_OK)
    shmlua_badvalue(L, t, why, v);
}

/* Its address is in every view's tag (class.h: shmlua_newtagged): element access
   recognises a view with no metatable lookup. */
static const char array_class;

static array *fastarray(lua_State *L, int arg) {
  return shmlua_checktagged(L, arg, sizeof(array), &array_class, SHMLUA_ARRAY_MT);
}

array *shmlua_checkarray(lua_State *L, int arg) {
  return fastarray(L, arg);
}

array *shmlua_toarray(lua_State *L, int arg) {
  return shmlua_totagged(L, arg, sizeof(array), &array_class);
}

static inline unsigned char *elements(lua_State *L, const array *a, int writing) {
  const shmlua_block *b = a->b;
  if (b->live && !(writing && b->readonly)) /* the common case (open, whole), without a call */
    return b->addr + a->offset;
  return shmlua_blockaddr(L, b, writing) + a->offset;
}

unsigned char *shmlua_arrayaddr(lua_State *L, const array *a, int writing) {
  return elements(L, a, writing);
}

/* Element k (0-based) of a view whose element 1 is at p. */
static inline unsigned char *at(unsigned char *p, const array *a, size_t k) {
  return p + (ptrdiff_t)k * a->stride;
}

static size_t elemsize(const array *a) {
  return shmlua_dtype_sizes[a->type];
}

/* Element access is the hot path: left to itself, the compiler calls load out of line. */
#if defined(__GNUC__)
#define HOT static inline __attribute__((always_inline))
#else
#define HOT static inline
#endif

/* Element access (core/fault.h): a fault raises. One switch, as shmlua_num_load's. */
HOT shmlua_num load(lua_State *L, const array *a, const unsigned char *p) {
  shmlua_num v = {1, 0, 0};
  int rc;
  switch (a->type) {
#define AS(t, bytes, field, conv)                                                             \
  {                                                                                           \
    t x = 0;                                                                                  \
    rc = shmlua_load##bytes(a->b, p, &x);                                                     \
    v.field = conv x;                                                                         \
    break;                                                                                    \
  }
  case SHMLUA_INT8:
    AS(int8_t, 1, i, )
  case SHMLUA_UINT8:
    AS(uint8_t, 1, i, )
  case SHMLUA_INT16:
    AS(int16_t, 2, i, )
  case SHMLUA_UINT16:
    AS(uint16_t, 2, i, )
  case SHMLUA_INT32:
    AS(int32_t, 4, i, )
  case SHMLUA_UINT32:
    AS(uint32_t, 4, i, )
  case SHMLUA_INT64:
    AS(int64_t, 8, i, )
  case SHMLUA_UINT64:
    AS(uint64_t, 8, i, (int64_t)) /* wraps, as shmlua_num_load */
  case SHMLUA_FLOAT32:
    v.isint = 0;
    AS(float, 4, f, )
  default:
    v.isint = 0;
    AS(double, 8, f, )
#undef AS
  }
  if (rc != 0)
    shmlua_accesserror(L, a->b);
  return v;
}

/* Writes the element e (converted already) at p. */
HOT void store(lua_State *L, const array *a, unsigned char *p, const element *e) {
  int rc;
  switch (elemsize(a)) {
  case 1:
    rc = shmlua_store1(a->b, p, e);
    break;
  case 2:
    rc = shmlua_store2(a->b, p, e);
    break;
  case 4:
    rc = shmlua_store4(a->b, p, e);
    break;
  default:
    rc = shmlua_store8(a->b, p, e);
    break;
  }
  if (rc != 0)
    shmlua_accesserror(L, a->b);
}

/* The element the key at arg 2 names: an integer, or a float with an integer value. A read
   may also name #a + 1 (returned as count), the nil that ends ipairs. */
static inline size_t keyindex(lua_State *L, const array *a, int reading) {
  int isint;
  lua_Integer i = lua_tointegerx(L, 2, &isint);
  if (!isint)
    luaL_error(L, "array index must be an integer");
  if ((lua_Unsigned)i - 1 < a->count) /* 1..count, without a call */
    return (size_t)i - 1;
  if (reading && (lua_Unsigned)i == a->count + 1)
    return a->count;
  return shmlua_checkindex(L, i, a->count) - 1;
}

/* Pushes a.shape: {rows, cols} for a 2-D view, {count} otherwise. */
static void pushshape(lua_State *L, const array *a) {
  lua_createtable(L, 2, 0);
  if (a->cols == 0) {
    lua_pushinteger(L, (lua_Integer)a->count);
    lua_rawseti(L, -2, 1);
    return;
  }
  lua_pushinteger(L, (lua_Integer)(a->count / a->cols));
  lua_rawseti(L, -2, 1);
  lua_pushinteger(L, (lua_Integer)a->cols);
  lua_rawseti(L, -2, 2);
}

static int array_index(lua_State *L) {
  array *a = fastarray(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    unsigned char *p = elements(L, a, 0);
    size_t k = keyindex(L, a, 1);
    if (k == a->count)
      lua_pushnil(L);
    else
      shmlua_pushnum(L, load(L, a, at(p, a, k)));
    return 1;
  }
  if (lua_type(L, 2) != LUA_TSTRING)
    return luaL_error(L, "array index must be an integer");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) /* methods first: a:add(...) is common */
    return 1;
  if (strcmp(lua_tostring(L, 2), "dtype") == 0)
    lua_pushstring(L, shmlua_dtype_names[a->type]);
  else if (strcmp(lua_tostring(L, 2), "shape") == 0)
    pushshape(L, a);
  return 1;
}

array *shmlua_pushview(lua_State *L, int arg, const array *like) {
  array *a = shmlua_newtagged(L, sizeof *a, 1, &array_class);
  *a = *like;
  luaL_setmetatable(L, SHMLUA_ARRAY_MT);
  lua_getiuservalue(L, arg, 1); /* the block, which the new view keeps alive too */
  shmlua_jit_track(L, lua_gettop(L) - 1, lua_gettop(L), (int)a->type, a->offset, a->count,
                   a->stride);
  lua_setiuservalue(L, -2, 1);
  return a;
}

static int array_newindex(lua_State *L) {
  array *a = fastarray(L, 1);
  unsigned char *p = elements(L, a, 1);
  if (lua_type(L, 2) != LUA_TNUMBER)
    return luaL_error(L, "array index must be an integer");
  element e;
  p = at(p, a, keyindex(L, a, 0));
  checkvalue(L, a->type, 3, &e);
  store(L, a, p, &e);
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
  shmlua_num values[TOSTRING_SHOWN];
  luaL_Buffer out;
  /* Copied before anything allocates: a collection may run a finalizer that closes the block. */
  for (size_t k = 0; open && k < shown; k++)
    values[k] = load(L, a, at(a->b->addr + a->offset, a, k));
  luaL_buffinit(L, &out);
  lua_pushfstring(L, "shm.array: %s[%I]", shmlua_dtype_names[a->type], (LUAI_UACINT)a->count);
  luaL_addvalue(&out);
  if (!open)
    luaL_addstring(&out, " (closed)");
  else {
    luaL_addstring(&out, " {");
    for (size_t k = 0; k < shown; k++) {
      if (k > 0)
        luaL_addstring(&out, ", ");
      shmlua_pushnum(L, values[k]);
      luaL_addvalue(&out);
    }
    luaL_addstring(&out, a->count > TOSTRING_SHOWN ? ", ...}" : "}");
  }
  luaL_pushresult(&out);
  return 1;
}

/* Elements i..j (string.sub's rules) of a, as 0-based start and count. */
static size_t range(lua_State *L, const array *a, int arg, size_t *first) {
  size_t n = shmlua_range(shmlua_optint(L, arg, 1), shmlua_optint(L, arg + 1, -1), a->count,
                          first);
  if (n == 0) /* an empty run may start far past the end: no address is made from it */
    *first = 0;
  return n;
}

int shmlua_copyvec(void *ctx) {
  shmlua_copying *c = ctx;
  shmlua_vec_copy(&c->to, &c->from);
  return 0;
}

/* a:fill(v [, i [, j]]) */
static int array_fill(lua_State *L) {
  array *a = fastarray(L, 1);
  unsigned char *p = elements(L, a, 1);
  size_t first, n = range(L, a, 3, &first), size = elemsize(a);
  element v;
  shmlua_guard g;
  checkvalue(L, a->type, 2, &v);
  p = at(p, a, first);
  SHMLUA_GUARD_BEGIN(g, a->b, NULL)
  for (size_t k = 0; k < n; k++)
    memcpy(at(p, a, k), &v, size);
  SHMLUA_GUARD_END(g);
  shmlua_guard_check(L, &g);
  return 0;
}

enum { TOTABLE_CHUNK = 256 };

/* a:totable([i [, j]]) */
static int array_totable(lua_State *L) {
  array *a = fastarray(L, 1);
  unsigned char *p;
  size_t first, n, size = elemsize(a);
  elements(L, a, 0); /* a closed block raises before the arguments are looked at */
  n = range(L, a, 2, &first);
  if (n > INT_MAX)
    return luaL_error(L, "too many elements for a table");
  lua_createtable(L, (int)n, 0);
  /* After the allocation: it may run a finalizer that closes the block. The table has room
     for all n, so the stores below allocate nothing. */
  p = at(elements(L, a, 0), a, first);
  for (size_t done = 0; done < n;) {
    element chunk[TOTABLE_CHUNK]; /* gathered under one guard, then read from here */
    size_t k, m = n - done < TOTABLE_CHUNK ? n - done : TOTABLE_CHUNK;
    shmlua_vec to = {chunk[0].bytes, (ptrdiff_t)size, m, a->type};
    shmlua_copying c = {to, shmlua_vecof(p, a, done, m)};
    shmlua_guardedcall(L, shmlua_copyvec, &c, a->b, NULL);
    for (k = 0; k < m; k++) {
      shmlua_pushnum(L, shmlua_num_load(a->type, chunk[0].bytes + k * size));
      lua_rawseti(L, -2, (lua_Integer)(done + k) + 1);
    }
    done += m;
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
  size_t n, first;
  element scratch;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = (size_t)lua_rawlen(L, 2);
  first = destination(L, a, 3, n);
  for (int pass = 0; pass < 2; pass++)
    for (size_t k = 0; k < n; k++) {
      lua_rawgeti(L, 2, (lua_Integer)k + 1);
      checkvalue(L, a->type, -1, &scratch);
      if (pass == 1)
        store(L, a, at(p, a, first + k), &scratch);
      lua_pop(L, 1);
    }
  return 0;
}

/* Whether two views may share memory through different mappings of the same object. */
static int maybe_aliased(const array *a, const array *b) {
  return a->b != b->b && strcmp(a->b->name.path, b->b->name.path) == 0;
}

/* The conversion of from's elements into to (contiguous, of a's dtype), for
   shmlua_guardedcall: stops at the first value to's dtype cannot hold. */
typedef struct converting {
  shmlua_vec to, from;
  int why;
  shmlua_num bad;
} converting;

static int convert(void *ctx) {
  converting *c = ctx;
  size_t size = shmlua_dtype_sizes[c->to.type];
  for (size_t k = 0; k < c->from.n; k++) {
    shmlua_num v = shmlua_num_load(c->from.type, c->from.p + (ptrdiff_t)k * c->from.stride);
    c->why = shmlua_num_store(c->to.type, c->to.p + k * size, v);
    if (c->why != SHMLUA_STORE_OK) {
      c->bad = v;
      break;
    }
  }
  return 0;
}

/* a:copy(b [, i]): all of b into a from element i (default 1). Same dtype, both contiguous:
   memmove, so overlapping views of one mapping are fine. Otherwise each value converts as a
   write of it would (out of range raises) into a scratch copy first, so a failure changes
   nothing and overlap is harmless. */
static int array_copy(lua_State *L) {
  array *a = fastarray(L, 1), *b = fastarray(L, 2);
  size_t n = b->count, dsize = elemsize(a), first;
  unsigned char *scratch = NULL;
  shmlua_vec dst, src;
  shmlua_fault fault;
  elements(L, a, 1); /* closed or read-only raise first */
  elements(L, b, 0);
  first = destination(L, a, 3, n);
  int direct = a->type == b->type && !maybe_aliased(a, b) && a->stride == (ptrdiff_t)dsize &&
               b->stride == (ptrdiff_t)dsize;
  if (!direct)
    scratch = lua_newuserdatauv(L, n * dsize, 0);
  /* Only now: the allocation may run a finalizer that closes either block. */
  dst = shmlua_vecof(elements(L, a, 1), a, first, n);
  src = shmlua_vecof(elements(L, b, 0), b, 0, n);
  if (direct) {
    if (shmlua_guarded_copy(dst.p, src.p, n * dsize, a->b, b->b, &fault) != 0)
      return shmlua_faulterror(L, &fault);
    return 0;
  }
  converting c = {{scratch, (ptrdiff_t)dsize, n, a->type}, src, SHMLUA_STORE_OK, {1, 0, 0}};
  shmlua_guardedcall(L, convert, &c, b->b, NULL);
  if (c.why != SHMLUA_STORE_OK)
    return shmlua_badvalue(L, a->type, c.why, c.bad);
  shmlua_copying out = {dst, c.to};
  shmlua_guardedcall(L, shmlua_copyvec, &out, a->b, NULL);
  return 0;
}

/* ---- atomics ---- */

static int is64(const array *a) {
  return elemsize(a) == 8;
}

/* The byte offset, from element 1, of element arg 2 of an atomic-capable view at arg 1. */
static ptrdiff_t atomicoffset(lua_State *L, array **out, int writing) {
  array *a = *out = fastarray(L, 1);
  if (a->type < SHMLUA_INT32 || a->type > SHMLUA_UINT64)
    luaL_error(L, "atomics need an int32, uint32, int64 or uint64 array, not %s",
               shmlua_dtype_names[a->type]);
  elements(L, a, writing);           /* closed or read-only raise before a bad index does */
  if (lua_type(L, 2) != LUA_TNUMBER) /* keyindex alone would take a numeric string */
    luaL_typeerror(L, 2, "integer");
  return (ptrdiff_t)keyindex(L, a, 0) *
         a->stride; /* as a[i] reads it: a[1.0] and a:load(1.0) alike */
}

/* Element arg 2 of an atomic-capable view at arg 1. */
static void *atomicelem(lua_State *L, array **out, int writing) {
  ptrdiff_t offset = atomicoffset(L, out, writing);
  return elements(L, *out, writing) + offset;
}

static int rmw(lua_State *L, shmlua_atomic_op op) {
  array *a;
  void *p = atomicelem(L, &a, 1);
  element v, old = {0}, *out = &old;
  shmlua_guard g;
  checkvalue(L, a->type, 3, &v);
  SHMLUA_GUARD_BEGIN(g, a->b, NULL)
  if (is64(a))
    out->u64 = shmlua_atomic_rmw64(p, op, v.u64);
  else
    out->u32 = shmlua_atomic_rmw32(p, op, v.u32);
  SHMLUA_GUARD_END(g);
  shmlua_guard_check(L, &g);
  shmlua_pushnum(L, shmlua_num_load(a->type, &old));
  return 1;
}

static int array_add(lua_State *L) {
  return rmw(L, SHMLUA_ATOMIC_ADD);
}
static int array_sub(lua_State *L) {
  return rmw(L, SHMLUA_ATOMIC_SUB);
}
static int array_band(lua_State *L) {
  return rmw(L, SHMLUA_ATOMIC_AND);
}
static int array_bor(lua_State *L) {
  return rmw(L, SHMLUA_ATOMIC_OR);
}
static int array_bxor(lua_State *L) {
  return rmw(L, SHMLUA_ATOMIC_XOR);
}
static int array_exchange(lua_State *L) {
  return rmw(L, SHMLUA_ATOMIC_EXCHANGE);
}

static int array_store(lua_State *L) {
  rmw(L, SHMLUA_ATOMIC_EXCHANGE);
  return 0;
}

static int array_load(lua_State *L) {
  array *a;
  void *p = atomicelem(L, &a, 0);
  element v = {0}, *out = &v;
  shmlua_guard g;
  SHMLUA_GUARD_BEGIN(g, a->b, NULL)
  if (is64(a))
    out->u64 = __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST);
  else
    out->u32 = __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST);
  SHMLUA_GUARD_END(g);
  shmlua_guard_check(L, &g);
  shmlua_pushnum(L, shmlua_num_load(a->type, &v));
  return 1;
}

/* a:cas(i, expected, desired) -> swapped, value found */
static int array_cas(lua_State *L) {
  array *a;
  void *p = atomicelem(L, &a, 1);
  element expected, desired;
  int swapped = 0, *out = &swapped;
  shmlua_guard g;
  checkvalue(L, a->type, 3, &expected);
  checkvalue(L, a->type, 4, &desired);
  SHMLUA_GUARD_BEGIN(g, a->b, NULL)
  if (is64(a))
    *out = shmlua_atomic_cas64(p, &expected.u64, desired.u64);
  else
    *out = shmlua_atomic_cas32(p, &expected.u32, desired.u32);
  SHMLUA_GUARD_END(g);
  shmlua_guard_check(L, &g);
  lua_pushboolean(L, swapped);
  shmlua_pushnum(L, shmlua_num_load(a->type, &expected));
  return 2;
}

/* One slice of a:wait, for shmlua_sync_wait. */
typedef struct waiting {
  lua_State *L;
  const array *a;
  ptrdiff_t offset;
  element expected;
  int slices; /* run so far */
} waiting;

static int waitslice(void *ctx, const struct timespec *until) {
  waiting *w = ctx;
  struct timespec left = shmlua_time_left(until); /* the atomic waits take relative time */
  /* Fetched for each slice: the look for Ctrl-C between two runs any hook, which may close
     the block (this raises then). */
  void *p = elements(w->L, w->a, 0) + w->offset;
  int rc = 0, *out = &rc;
  shmlua_error err, *e = &err;
  shmlua_guard g;
  w->slices++;
  SHMLUA_GUARD_BEGIN(g, w->a->b, NULL)
  if (is64(w->a))
    *out = shmlua_atomic_wait64(p, w->expected.u64, &left, e);
  else
    *out = shmlua_futex_wait(p, w->expected.u32, &left, e);
  SHMLUA_GUARD_END(g);
  if (rc != 0)
    rc = err.code;              /* shmlua_sync_wait's slices answer with the errno */
  shmlua_guard_check(w->L, &g); /* between two slices: nothing to undo */
  return rc;
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
  int woken = 0, *out = &woken;
  shmlua_guard g;
  SHMLUA_GUARD_BEGIN(g, a->b, NULL)
  *out = is64(a) ? shmlua_atomic_wake64(p, (int)count) : shmlua_futex_wake(p, (int)count);
  SHMLUA_GUARD_END(g);
  shmlua_guard_check(L, &g);
  lua_pushinteger(L, woken);
  return 1;
}

/* ---- m:array(dtype [, pos [, count]]) ---- */

int shmlua_arrayview(lua_State *L, int idx, shmlua_arraylayout *out) {
  array *a = shmlua_totagged(L, idx, sizeof *a, &array_class);
  if (!a)
    return 0;
  out->dtype = shmlua_dtype_names[a->type];
  out->size = shmlua_dtype_sizes[a->type];
  out->offset = a->offset;
  out->count = a->count;
  out->stride = a->stride;
  out->cols = a->cols;
  return 1;
}

/* As luaL_checkoption, but quoting only the start of a bad name. */
static shmlua_dtype checkdtype(lua_State *L, int arg) {
  size_t len;
  const char *name = luaL_checklstring(L, arg, &len);
  for (int t = 0; shmlua_dtype_names[t]; t++)
    if (strlen(shmlua_dtype_names[t]) == len && memcmp(shmlua_dtype_names[t], name, len) == 0)
      return (shmlua_dtype)t;
  return (shmlua_dtype)shmlua_argerror(
      L, arg,
      lua_pushfstring(L,
                      "unknown dtype '%s' (int8, uint8, "
                      "int16, uint16, int32, uint32, int64, uint64, float32, float64)",
                      shmlua_pushquoted(L, arg)));
}

static int block_array(lua_State *L) {
  shmlua_block *b = shmlua_checkblock(L, 1);
  shmlua_dtype t = checkdtype(L, 2);
  lua_Integer pos = shmlua_optint(L, 3, 1);
  size_t size = shmlua_dtype_sizes[t], start, room;
  array *a;
  shmlua_blockaddr(L, b, 0);
  start = shmlua_checkstart(L, pos, b->size);
  if ((start - 1) % size != 0)
    return luaL_argerror(L, 3,
                         lua_pushfstring(L,
                                         "position %I is not aligned for %s (must be "
                                         "1 plus a multiple of %d)",
                                         (LUAI_UACINT)start, shmlua_dtype_names[t],
                                         (int)size));
  room = (b->size - (start - 1)) / size;
  lua_Integer count = shmlua_optint(L, 4, (lua_Integer)room);
  luaL_argcheck(L, count >= 0, 4, "count must be >= 0");
  if ((lua_Unsigned)count > room)
    return luaL_argerror(L, 4,
                         lua_pushfstring(L,
                                         "%I %s elements at position %I do not fit "
                                         "in %I bytes",
                                         (LUAI_UACINT)count, shmlua_dtype_names[t],
                                         (LUAI_UACINT)start, (LUAI_UACINT)b->size));
  a = shmlua_newtagged(L, sizeof *a, 1, &array_class);
  a->b = b;
  a->offset = start - 1;
  a->count = (size_t)count;
  a->stride = (ptrdiff_t)size;
  a->type = t;
  a->cols = 0;
  luaL_setmetatable(L, SHMLUA_ARRAY_MT);
  lua_pushvalue(L, 1); /* the view keeps its block alive */
  lua_setiuservalue(L, -2, 1);
  shmlua_jit_track(L, lua_gettop(L), 1, (int)t, a->offset, a->count, a->stride);
  return 1;
}

void shmlua_open_array(lua_State *L) {
  static const luaL_Reg metamethods[] = {
      {"__newindex", array_newindex},      {"__len", array_len},
      {"__tostring", array_tostring},      {"__pairs", shmlua_sequence_pairs},
      {"__ipairs", shmlua_sequence_pairs}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
      {"fill", array_fill}, {"totable", array_totable}, {"set", array_set},
      {"copy", array_copy}, {"load", array_load},       {"store", array_store},
      {"add", array_add},   {"sub", array_sub},         {"band", array_band},
      {"bor", array_bor},   {"bxor", array_bxor},       {"exchange", array_exchange},
      {"cas", array_cas},   {"wait", array_wait},       {"notify", array_notify},
      {NULL, NULL}};
  static const luaL_Reg block_methods[] = {{"array", block_array}, {NULL, NULL}};
  shmlua_newclass(L, SHMLUA_ARRAY_MT, metamethods, methods, array_index);
  lua_pop(L, 1);
  shmlua_addmethods(L, SHMLUA_BLOCK_MT, block_methods);
}
