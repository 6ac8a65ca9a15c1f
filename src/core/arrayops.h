/* Whole-array kernels over typed, strided runs of memory (the loops behind a:sum(), a:sort(),
   a:add(x), ...): plain C loops the compiler vectorises, no Lua. Values cross this interface
   as shmlua_num, a Lua number as it was (integer or float), and follow Lua's arithmetic:
   integers wrap, an integer op a float is a float. Nothing here can fail as error.h means
   it: the kernels return their results, and the conversions say why a number cannot be
   stored (SHMLUA_STORE_*) for the caller to word. */
#ifndef SHMLUA_ARRAYOPS_H
#define SHMLUA_ARRAYOPS_H

#include <stddef.h>
#include <stdint.h>

/* NumPy's dtypes, native byte order; the order is that of shmlua_dtype_names. */
typedef enum shmlua_dtype {
  SHMLUA_INT8,
  SHMLUA_UINT8,
  SHMLUA_INT16,
  SHMLUA_UINT16,
  SHMLUA_INT32,
  SHMLUA_UINT32,
  SHMLUA_INT64,
  SHMLUA_UINT64,
  SHMLUA_FLOAT32,
  SHMLUA_FLOAT64
} shmlua_dtype;

extern const char *const shmlua_dtype_names[]; /* NULL-terminated */
extern const unsigned char shmlua_dtype_sizes[];

/* A number as Lua has it. uint64 elements read as the int64 of the same bits (string.pack
   "J"'s rule). */
typedef struct shmlua_num {
  int isint;
  int64_t i;
  double f;
} shmlua_num;

/* Why a number cannot be stored in a dtype (0: it can). */
enum { SHMLUA_STORE_OK, SHMLUA_STORE_NOT_INTEGRAL, SHMLUA_STORE_OUT_OF_RANGE };

/* The range of the integer dtypes narrower than 64 bits (indexed by dtype). */
extern const int64_t shmlua_dtype_min[], shmlua_dtype_max[];

static inline int shmlua_dtype_isfloat(shmlua_dtype t) {
  return t == SHMLUA_FLOAT32 || t == SHMLUA_FLOAT64;
}

/* Inline: element access (a[i], a[i] = v) is the hot path. */
static inline shmlua_num shmlua_num_load(shmlua_dtype t, const void *p) {
  shmlua_num v = {1, 0, 0};
  switch (t) {
  case SHMLUA_INT8:
    v.i = *(const int8_t *)p;
    break;
  case SHMLUA_UINT8:
    v.i = *(const uint8_t *)p;
    break;
  case SHMLUA_INT16:
    v.i = *(const int16_t *)p;
    break;
  case SHMLUA_UINT16:
    v.i = *(const uint16_t *)p;
    break;
  case SHMLUA_INT32:
    v.i = *(const int32_t *)p;
    break;
  case SHMLUA_UINT32:
    v.i = *(const uint32_t *)p;
    break;
  case SHMLUA_INT64:
    v.i = *(const int64_t *)p;
    break;
  case SHMLUA_UINT64:
    v.i = (int64_t) * (const uint64_t *)p;
    break; /* wraps, as "J" */
  case SHMLUA_FLOAT32:
    v.isint = 0;
    v.f = *(const float *)p;
    break;
  case SHMLUA_FLOAT64:
    v.isint = 0;
    v.f = *(const double *)p;
    break;
  }
  return v;
}

/* An integral float in int64's range converts; any other float does not. */
static inline int shmlua_tointeger(shmlua_num v, int64_t *out) {
  if (v.isint)
    *out = v.i;
  else if (v.f >= -0x1p63 && v.f < 0x1p63 && (double)(int64_t)v.f == v.f)
    *out = (int64_t)v.f;
  else
    return SHMLUA_STORE_NOT_INTEGRAL;
  return SHMLUA_STORE_OK;
}

/* Whether v converts for t (shmlua_num_store's rule); the integer it becomes in *i. */
static inline int shmlua_num_storable(shmlua_dtype t, shmlua_num v, int64_t *i) {
  if (shmlua_dtype_isfloat(t))
    return SHMLUA_STORE_OK;
  if (shmlua_tointeger(v, i) != SHMLUA_STORE_OK)
    return SHMLUA_STORE_NOT_INTEGRAL;
  if (t < SHMLUA_INT64 && (*i < shmlua_dtype_min[t] || *i > shmlua_dtype_max[t]))
    return SHMLUA_STORE_OUT_OF_RANGE;
  return SHMLUA_STORE_OK;
}

/* The one conversion every write uses: floats take any number; integer dtypes take integers
   and integral floats in their range (64-bit ones any int64, uint64 as its bits). Returns
   SHMLUA_STORE_OK (p written) or why not (p untouched). */
static inline int shmlua_num_store(shmlua_dtype t, void *p, shmlua_num v) {
  int64_t i = 0;
  int why = shmlua_num_storable(t, v, &i);
  if (why != SHMLUA_STORE_OK)
    return why;
  switch (t) {
  case SHMLUA_FLOAT32:
    *(float *)p = (float)(v.isint ? (double)v.i : v.f);
    break;
  case SHMLUA_FLOAT64:
    *(double *)p = v.isint ? (double)v.i : v.f;
    break;
  case SHMLUA_INT8:
    *(int8_t *)p = (int8_t)i;
    break;
  case SHMLUA_UINT8:
    *(uint8_t *)p = (uint8_t)i;
    break;
  case SHMLUA_INT16:
    *(int16_t *)p = (int16_t)i;
    break;
  case SHMLUA_UINT16:
    *(uint16_t *)p = (uint16_t)i;
    break;
  case SHMLUA_INT32:
    *(int32_t *)p = (int32_t)i;
    break;
  case SHMLUA_UINT32:
    *(uint32_t *)p = (uint32_t)i;
    break;
  default:
    *(uint64_t *)p = (uint64_t)i;
    break;
  }
  return SHMLUA_STORE_OK;
}

/* n elements of type from p, stride bytes apart (negative: backwards). */
typedef struct shmlua_vec {
  unsigned char *p;
  ptrdiff_t stride;
  size_t n;
  shmlua_dtype type;
} shmlua_vec;

/* Integer dtypes: the wrapped int64 sum (exact for narrower ones below 2^31 elements);
   floats: the pairwise sum in double, as NumPy's. */
shmlua_num shmlua_vec_sum(const shmlua_vec *v);
/* The mean as a double (v->n > 0); 64-bit integers are summed as doubles (pairwise), so it
   does not wrap. */
double shmlua_vec_mean(const shmlua_vec *v);
/* The smallest (largest if max) element and its 0-based position, the first one if several;
   a NaN wins over everything (NumPy's rule). v->n must be > 0. */
size_t shmlua_vec_extreme(const shmlua_vec *v, int max, shmlua_num *out);
/* Sum of a[k] * b[k] (a->n == b->n): integer if both dtypes are, wrapping; else double. */
shmlua_num shmlua_vec_dot(const shmlua_vec *a, const shmlua_vec *b);
/* Elements equal to *elem (a value of v's dtype): how many, or the first one's position (v->n
   if none). */
size_t shmlua_vec_count(const shmlua_vec *v, const void *elem);
size_t shmlua_vec_find(const shmlua_vec *v, const void *elem);
/* In an ascending v, the first position whose element is not less than x (v->n if none);
   NaNs, sorted last, are greater than every number. */
size_t shmlua_vec_search(const shmlua_vec *v, shmlua_num x);

/* In-place updates of every element d[k] (operand: x[k] when a vector is given, else s). */
typedef enum shmlua_update {
  SHMLUA_ADD,    /* d + operand */
  SHMLUA_SUB,    /* d - operand */
  SHMLUA_MUL,    /* d * operand */
  SHMLUA_DIV,    /* d / operand (Lua's /: a float) */
  SHMLUA_AXPY,   /* d + s * x[k] */
  SHMLUA_CLAMP,  /* d below s: s; above hi: hi; NaN stays */
  SHMLUA_ABS,    /* |d| (the most negative int64 stays itself, as math.abs) */
  SHMLUA_CUMSUM, /* d[0] + ... + d[k] */
  SHMLUA_ARANGE  /* s + k * hi */
} shmlua_update;

typedef struct shmlua_operands {
  const shmlua_vec *x; /* NULL: none; must not overlap the destination unless identical */
  shmlua_num s, hi;
} shmlua_operands;

/* Applies op to every element of d. Each result is converted as shmlua_num_store converts;
   when one cannot be, nothing is written: returns why, with *bad its position and *badval
   the value. Returns SHMLUA_STORE_OK once all are written. */
int shmlua_vec_update(const shmlua_vec *d, shmlua_update op, const shmlua_operands *o,
                      size_t *bad, shmlua_num *badval);

/* Sorts v in place, ascending or descending, NaNs last either way (as one NaN: payloads are
   not kept). scratch: shmlua_vec_sort_scratch(v) bytes. uint64 orders as the int64 Lua
   reads. */
size_t shmlua_vec_sort_scratch(const shmlua_vec *v);
void shmlua_vec_sort(const shmlua_vec *v, int descending, void *scratch);
void shmlua_vec_reverse(const shmlua_vec *v);
/* Copies src's elements into d (same n): the same dtype as bytes, others by value through
   shmlua_num (the caller has checked every value converts). Must not overlap. */
void shmlua_vec_copy(const shmlua_vec *d, const shmlua_vec *src);
/* Whether v's elements lie next to each other, first to last. */
int shmlua_vec_contiguous(const shmlua_vec *v);

#endif
