/* Whole-array methods of typed views: reductions, element-wise updates in place, sorting and
   searching, views of views (strided, reversed, 2-D), and shm.parallel. The loops are in
   core/arrayops.c: each method checks its arguments, then makes one kernel call. */
#include <math.h>
#include <string.h>

#include "args.h"
#include "array.h"
#include "arrayview.h"
#include "blockaccess.h"
#include "class.h"
#include "parts.h"
#include "position.h"

/* Elements i..j of a (args arg and arg+1, string.sub's rules), as a kernel's vector; *first:
   the 0-based position of its first element in a. Raises on a closed block first. */
static shmlua_vec checkrun(lua_State *L, const array *a, int arg, int writing, size_t *first) {
  unsigned char *p = shmlua_arrayaddr(L, a, writing);
  size_t n = shmlua_range(shmlua_optint(L, arg, 1), shmlua_optint(L, arg + 1, -1), a->count,
                          first);
  if (n == 0)
    *first = 0;
  return shmlua_vecof(p, a, *first, n);
}

/* One kernel call, run under a guard of the blocks its vectors lie in (core/fault.h), so a
   block truncated by a peer raises after it instead of killing the process. */
typedef enum kernelop {
  K_SUM,
  K_MEAN,
  K_EXTREME,
  K_DOT,
  K_COUNT,
  K_FIND,
  K_SEARCH,
  K_UPDATE,
  K_SORT,
  K_REVERSE
} kernelop;

typedef struct kernel {
  kernelop op;
  shmlua_vec v, x;             /* the run; K_DOT's other operand */
  int flag;                    /* K_EXTREME: max; K_SORT: descending */
  const void *elem;            /* K_COUNT, K_FIND */
  shmlua_num num;              /* K_SEARCH's value in; K_SUM, K_DOT, K_EXTREME's out */
  const shmlua_operands *with; /* K_UPDATE */
  void *scratch;               /* K_SORT */
  size_t k;                    /* K_EXTREME, K_COUNT, K_FIND, K_SEARCH, K_UPDATE's bad */
  double mean;
} kernel;

static int runkernel(void *ctx) {
  kernel *c = ctx;
  switch (c->op) {
  case K_SUM:
    c->num = shmlua_vec_sum(&c->v);
    break;
  case K_MEAN:
    c->mean = shmlua_vec_mean(&c->v);
    break;
  case K_EXTREME:
    c->k = shmlua_vec_extreme(&c->v, c->flag, &c->num);
    break;
  case K_DOT:
    c->num = shmlua_vec_dot(&c->v, &c->x);
    break;
  case K_COUNT:
    c->k = shmlua_vec_count(&c->v, c->elem);
    break;
  case K_FIND:
    c->k = shmlua_vec_find(&c->v, c->elem);
    break;
  case K_SEARCH:
    c->k = shmlua_vec_search(&c->v, c->num);
    break;
  case K_UPDATE:
    return shmlua_vec_update(&c->v, (shmlua_update)c->flag, c->with, &c->k, &c->num);
  case K_SORT:
    shmlua_vec_sort(&c->v, c->flag, c->scratch);
    break;
  case K_REVERSE:
    shmlua_vec_reverse(&c->v);
    break;
  }
  return 0;
}

/* Runs c over views of a and b (b may be NULL); what the kernel returns. */
static int run(lua_State *L, kernel *c, const array *a, const array *b) {
  return shmlua_guardedcall(L, runkernel, c, a->b, b ? b->b : NULL);
}

/* All of a. */
static shmlua_vec whole(lua_State *L, const array *a, int writing) {
  return shmlua_vecof(shmlua_arrayaddr(L, a, writing), a, 0, a->count);
}

/* ---- reductions ---- */

/* a:sum([i [, j]]) */
static int array_sum(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  size_t first;
  kernel c = {.op = K_SUM, .v = checkrun(L, a, 2, 0, &first)};
  run(L, &c, a, NULL);
  shmlua_pushnum(L, c.num);
  return 1;
}

/* a:min([i [, j]]), a:max([i [, j]]) -> value, position (nothing for an empty run) */
static int extreme(lua_State *L, int max) {
  array *a = shmlua_checkarray(L, 1);
  size_t first;
  kernel c = {.op = K_EXTREME, .v = checkrun(L, a, 2, 0, &first), .flag = max};
  if (c.v.n == 0)
    return 0;
  run(L, &c, a, NULL);
  shmlua_pushnum(L, c.num);
  lua_pushinteger(L, (lua_Integer)(first + c.k + 1));
  return 2;
}

static int array_min(lua_State *L) {
  return extreme(L, 0);
}
static int array_max(lua_State *L) {
  return extreme(L, 1);
}

/* a:mean([i [, j]]) -> a float (NaN for an empty run, as NumPy) */
static int array_mean(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  size_t first;
  kernel c = {.op = K_MEAN, .v = checkrun(L, a, 2, 0, &first), .mean = NAN};
  if (c.v.n)
    run(L, &c, a, NULL);
  lua_pushnumber(L, (lua_Number)c.mean);
  return 1;
}

/* a:dot(b) */
static int array_dot(lua_State *L) {
  array *a = shmlua_checkarray(L, 1), *b = shmlua_checkarray(L, 2);
  kernel c = {.op = K_DOT, .v = whole(L, a, 0), .x = whole(L, b, 0)};
  if (c.v.n != c.x.n)
    return luaL_error(L, "dot: lengths differ (%I and %I)", (LUAI_UACINT)c.v.n,
                      (LUAI_UACINT)c.x.n);
  run(L, &c, a, b);
  shmlua_pushnum(L, c.num);
  return 1;
}

/* x == y as Lua compares numbers: exactly, also an integer with a float. */
static int equal(shmlua_num x, shmlua_num y) {
  shmlua_num i = x.isint ? x : y, f = x.isint ? y : x;
  if (x.isint == y.isint)
    return x.isint ? x.i == y.i : x.f == y.f;
  return f.f >= -0x1p63 && f.f < 0x1p63 && (double)(int64_t)f.f == f.f && (int64_t)f.f == i.i;
}

/* The number at arg as an element of t, into e; 0 if no element of t equals it (an integral
   float equals the integer; 0.1 is no float32; 2^53 + 1 is no float64). */
static int aselement(lua_State *L, shmlua_dtype t, int arg, void *e) {
  shmlua_num x = shmlua_checknum(L, t, arg);
  return shmlua_num_store(t, e, x) == SHMLUA_STORE_OK && equal(x, shmlua_num_load(t, e));
}

/* a:count(v [, i [, j]]) */
static int array_count(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  size_t first;
  uint64_t e;
  kernel c = {.op = K_COUNT, .v = checkrun(L, a, 3, 0, &first), .elem = &e};
  if (aselement(L, a->type, 2, &e))
    run(L, &c, a, NULL);
  lua_pushinteger(L, (lua_Integer)c.k);
  return 1;
}

/* a:find(v [, init]) -> the first position from init (default 1) holding v, or nil */
static int array_find(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  unsigned char *p = shmlua_arrayaddr(L, a, 0);
  size_t first, n = shmlua_range(shmlua_optint(L, 3, 1), -1, a->count, &first);
  uint64_t e;
  kernel c = {.op = K_FIND, .elem = &e};
  if (n == 0 || !aselement(L, a->type, 2, &e)) {
    shmlua_checknum(L, a->type, 2);
    lua_pushnil(L);
    return 1;
  }
  c.v = shmlua_vecof(p, a, first, n);
  run(L, &c, a, NULL);
  if (c.k == n)
    lua_pushnil(L);
  else
    lua_pushinteger(L, (lua_Integer)(first + c.k + 1));
  return 1;
}

/* a:searchsorted(v) -> where v would go in an ascending a: the first position whose element
   is >= v, or #a + 1 */
static int array_searchsorted(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  kernel c = {.op = K_SEARCH, .v = whole(L, a, 0), .num = shmlua_checknum(L, a->type, 2)};
  run(L, &c, a, NULL);
  lua_pushinteger(L, (lua_Integer)c.k + 1);
  return 1;
}

/* ---- element-wise, in place (each returns the view, so calls chain) ---- */

/* Whether two runs may share bytes: views of one object (this mapping or another of the same
   name) whose byte extents, counted from the object's start, meet. */
static int overlaps(const shmlua_vec *x, const array *xa, const shmlua_vec *y,
                    const array *ya) {
  size_t xlo, xhi, ylo, yhi;
  if (x->n == 0 || y->n == 0 || strcmp(xa->b->name.path, ya->b->name.path) != 0)
    return 0;
  xlo = xa->offset + (size_t)(x->stride < 0 ? (ptrdiff_t)(x->n - 1) * x->stride : 0);
  xhi = xa->offset + (size_t)(x->stride > 0 ? (ptrdiff_t)(x->n - 1) * x->stride : 0) +
        shmlua_dtype_sizes[x->type];
  ylo = ya->offset + (size_t)(y->stride < 0 ? (ptrdiff_t)(y->n - 1) * y->stride : 0);
  yhi = ya->offset + (size_t)(y->stride > 0 ? (ptrdiff_t)(y->n - 1) * y->stride : 0) +
        shmlua_dtype_sizes[y->type];
  return xlo < yhi && ylo < xhi;
}

/* Applies op to every element of the view at 1, with the view at xarg (0: none) as operand.
   A result that does not convert raises before anything is written. */
static int apply(lua_State *L, shmlua_update op, shmlua_num s, shmlua_num hi, int xarg) {
  array *a = shmlua_checkarray(L, 1), *xa = NULL;
  shmlua_operands o = {NULL, s, hi};
  shmlua_vec d, x;
  unsigned char *scratch = NULL;
  int why;
  d = whole(L, a, 1);
  if (xarg) {
    xa = shmlua_checkarray(L, xarg);
    x = whole(L, xa, 0);
    if (x.n != d.n)
      return luaL_error(L, "lengths differ (%I and %I)", (LUAI_UACINT)d.n, (LUAI_UACINT)x.n);
    if (overlaps(&d, a, &x, xa)) /* the kernels read each operand before any write */
      scratch = lua_newuserdatauv(L, x.n * shmlua_dtype_sizes[x.type], 0);
    /* After the allocation, which may run a finalizer that closes either block. */
    d = whole(L, a, 1);
    x = whole(L, xa, 0);
    if (scratch) {
      shmlua_copying c = {{scratch, shmlua_dtype_sizes[x.type], x.n, x.type}, x};
      shmlua_guardedcall(L, shmlua_copyvec, &c, xa->b, NULL);
      x = c.to;
    }
    o.x = &x;
  }
  kernel c = {.op = K_UPDATE, .v = d, .flag = (int)op, .with = &o};
  why = run(L, &c, a, xa);
  if (why != SHMLUA_STORE_OK)
    return shmlua_badvalue(L, a->type, why, c.num);
  lua_settop(L, 1);
  return 1;
}

static const shmlua_num zero = {1, 0, 0};

/* a:cadd(x), a:csub(x), a:cmul(x), a:cdiv(x): x a number or a view of the same length */
static int elementwise(lua_State *L, shmlua_update op) {
  array *a = shmlua_checkarray(L, 1);
  if (lua_type(L, 2) == LUA_TNUMBER)
    return apply(L, op, shmlua_checknum(L, a->type, 2), zero, 0);
  return apply(L, op, zero, zero, 2);
}

static int array_cadd(lua_State *L) {
  return elementwise(L, SHMLUA_ADD);
}
static int array_csub(lua_State *L) {
  return elementwise(L, SHMLUA_SUB);
}
static int array_cmul(lua_State *L) {
  return elementwise(L, SHMLUA_MUL);
}
static int array_cdiv(lua_State *L) {
  return elementwise(L, SHMLUA_DIV);
}

/* a:axpy(alpha, x): a = a + alpha * x */
static int array_axpy(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  return apply(L, SHMLUA_AXPY, shmlua_checknum(L, a->type, 2), zero, 3);
}

/* The number at arg as an element of t (raises if it is none), read back. */
static shmlua_num checkbound(lua_State *L, shmlua_dtype t, int arg) {
  uint64_t e;
  shmlua_num x = shmlua_checknum(L, t, arg);
  int why = shmlua_num_store(t, &e, x);
  if (why != SHMLUA_STORE_OK)
    shmlua_badvalue(L, t, why, x);
  return shmlua_num_load(t, &e);
}

/* a:clamp(lo, hi) */
static int array_clamp(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  shmlua_num lo = checkbound(L, a->type, 2), hi = checkbound(L, a->type, 3);
  luaL_argcheck(L, lo.isint ? lo.i <= hi.i : lo.f <= hi.f, 3, "must be >= lo (and not NaN)");
  return apply(L, SHMLUA_CLAMP, lo, hi, 0);
}

static int array_abs(lua_State *L) {
  return apply(L, SHMLUA_ABS, zero, zero, 0);
}
static int array_cumsum(lua_State *L) {
  return apply(L, SHMLUA_CUMSUM, zero, zero, 0);
}

/* a:arange(start [, step]): element k becomes start + (k - 1) * step */
static int array_arange(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  shmlua_num start = shmlua_checknum(L, a->type, 2), step = {1, 1, 0};
  if (!lua_isnoneornil(L, 3))
    step = shmlua_checknum(L, a->type, 3);
  return apply(L, SHMLUA_ARANGE, start, step, 0);
}

/* ---- sorting ---- */

/* a:sort([descending]): in place, NaNs last */
static int array_sort(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  shmlua_vec v = whole(L, a, 1);
  int descending = lua_toboolean(L, 2);
  void *scratch = lua_newuserdatauv(L, shmlua_vec_sort_scratch(&v), 0);
  kernel c = {.op = K_SORT, .flag = descending, .scratch = scratch};
  c.v = whole(L, a, 1); /* the allocation may have closed the block */
  run(L, &c, a, NULL);
  lua_settop(L, 1);
  return 1;
}

/* a:reverse() */
static int array_reverse(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  kernel c = {.op = K_REVERSE, .v = whole(L, a, 1)};
  run(L, &c, a, NULL);
  lua_settop(L, 1);
  return 1;
}

/* ---- views ---- */

/* Pushes the view of a's elements first, first + step, ... (count of them; 0-based). */
static void pushsubview(lua_State *L, const array *a, size_t first, size_t count,
                        ptrdiff_t step) {
  array v = *a;
  v.offset = count ? (size_t)((ptrdiff_t)a->offset + (ptrdiff_t)first * a->stride) : a->offset;
  v.count = count;
  v.stride = a->stride * step;
  v.cols = 0;
  shmlua_pushview(L, 1, &v);
}

/* a:view([i [, j [, step]]]): elements i..j (string.sub's rules) every step-th; a negative
   step walks from j down to i. Shares a's memory. */
static int array_view(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  size_t first, n, count;
  lua_Integer step = shmlua_optint(L, 4, 1);
  lua_Unsigned magnitude;
  shmlua_arrayaddr(L, a, 0);
  n = shmlua_range(shmlua_optint(L, 2, 1), shmlua_optint(L, 3, -1), a->count, &first);
  luaL_argcheck(L, step != 0, 4, "step must not be 0");
  magnitude = step < 0 ? (lua_Unsigned)0 - (lua_Unsigned)step : (lua_Unsigned)step;
  if (magnitude > n) /* the same elements, and no overflow in the stride */
    magnitude = n > 0 ? n : 1;
  count = n == 0 ? 0 : (n - 1) / magnitude + 1;
  pushsubview(L, a, step > 0 ? first : first + n - 1, count,
              step > 0 ? (ptrdiff_t)magnitude : -(ptrdiff_t)magnitude);
  return 1;
}

/* a:reshape(rows, cols): the same elements as a rows x cols view (row after row). */
static int array_reshape(lua_State *L) {
  array *a = shmlua_checkarray(L, 1), v;
  lua_Integer rows = shmlua_checkint(L, 2), cols = shmlua_checkint(L, 3);
  shmlua_arrayaddr(L, a, 0);
  luaL_argcheck(L, rows >= 0, 2, "rows must be >= 0");
  luaL_argcheck(L, cols >= 1, 3, "cols must be >= 1");
  if (a->count % (lua_Unsigned)cols != 0 ||
      a->count / (lua_Unsigned)cols != (lua_Unsigned)rows)
    return luaL_error(L, "cannot reshape %I elements as %I x %I", (LUAI_UACINT)a->count,
                      (LUAI_UACINT)rows, (LUAI_UACINT)cols);
  v = *a;
  v.cols = (size_t)cols;
  shmlua_pushview(L, 1, &v);
  return 1;
}

static const array *check2d(lua_State *L) {
  array *a = shmlua_checkarray(L, 1);
  shmlua_arrayaddr(L, a, 0);
  if (a->cols == 0)
    luaL_error(L, "not a 2-D view (make one with a:reshape(rows, cols))");
  return a;
}

/* m:row(r): a 1-D view of row r (negative from the end) */
static int array_row(lua_State *L) {
  const array *a = check2d(L);
  size_t r = shmlua_checkindex(L, shmlua_checkint(L, 2), a->count / a->cols);
  pushsubview(L, a, (r - 1) * a->cols, a->cols, 1);
  return 1;
}

/* m:col(c): a 1-D view of column c, strided */
static int array_col(lua_State *L) {
  const array *a = check2d(L);
  size_t c = shmlua_checkindex(L, shmlua_checkint(L, 2), a->cols);
  pushsubview(L, a, c - 1, a->count / a->cols, (ptrdiff_t)a->cols);
  return 1;
}

/* ---- shm.parallel(n, a, fn) ---- */

/* Pushes the list of n contiguous views of a (the array at index 1, as pushsubview needs),
   fewer if a has fewer elements (one, empty, if it has none); their sizes differ by at most
   one, the first ones the longer. */
static void pushchunks(lua_State *L, const array *a, lua_Integer n) {
  size_t per, extra;
  shmlua_arrayaddr(L, a, 0);
  if ((lua_Unsigned)n > a->count)
    n = a->count > 0 ? (lua_Integer)a->count : 1;
  per = a->count / (size_t)n;
  extra = a->count % (size_t)n; /* the first extra chunks get one more */
  lua_createtable(L, (int)n, 0);
  for (size_t k = 0; k < (size_t)n; k++) {
    size_t first = k * per + (k < extra ? k : extra);
    pushsubview(L, a, first, per + (k < extra), 1);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
}

int shmlua_arraychunks(lua_State *L) {
  array *a = shmlua_toarray(L, 1);
  lua_Integer n;
  if (!a) { /* raised where pool:parallel was called: no position of its own */
    lua_pushfstring(L, "bad argument #1 to 'parallel' (shm.array expected, got %s)",
                    luaL_typename(L, 1));
    return lua_error(L);
  }
  n = shmlua_checkint(L, 2);
  luaL_argcheck(L, n >= 1, 2, "the number of chunks must be at least 1");
  pushchunks(L, a, n);
  return 1;
}

/* fn(chunk) for n contiguous chunks of a, each in a forked worker, through shm.map (upvalue
   1): a list of each chunk's first result, in order. */
static int parallel(lua_State *L) {
  lua_Integer n = shmlua_checkint(L, 1);
  array *a = shmlua_checkarray(L, 2);
  luaL_argcheck(L, n >= 1, 1, "the number of workers must be at least 1");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 2); /* pushsubview's parent is at 1 */
  lua_replace(L, 1);
  pushchunks(L, a, n);
  lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, 1);
  lua_setfield(L, -2, "chunksize");
  lua_call(L, 4, 1);
  return 1;
}

void shmlua_open_arrayops(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"sum", array_sum},         {"min", array_min},
      {"max", array_max},         {"mean", array_mean},
      {"dot", array_dot},         {"count", array_count},
      {"find", array_find},       {"searchsorted", array_searchsorted},
      {"cadd", array_cadd},       {"csub", array_csub},
      {"cmul", array_cmul},       {"cdiv", array_cdiv},
      {"axpy", array_axpy},       {"clamp", array_clamp},
      {"abs", array_abs},         {"cumsum", array_cumsum},
      {"arange", array_arange},   {"sort", array_sort},
      {"reverse", array_reverse}, {"view", array_view},
      {"reshape", array_reshape}, {"row", array_row},
      {"col", array_col},         {NULL, NULL}};
  shmlua_addmethods(L, SHMLUA_ARRAY_MT, methods);
  lua_getfield(L, -1, "map");
  lua_pushcclosure(L, parallel, 1);
  lua_setfield(L, -2, "parallel");
}
