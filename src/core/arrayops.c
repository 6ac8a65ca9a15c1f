/* The whole-array kernels (arrayops.h). Each fast loop is written twice through a macro: once
   with a constant unit step, which the compiler vectorises (-O3, restrict), once with the
   view's step. Mixed dtypes and narrow integers go through one generic loop over shmlua_num
   values, which also checks every result before the first is written. */
#include "arrayops.h"
#include "extreme_kernel.h"

#include <math.h>
#include <string.h>

const char *const shmlua_dtype_names[] = {"int8",    "uint8",   "int16", "uint16",
                                          "int32",   "uint32",  "int64", "uint64",
                                          "float32", "float64", NULL};
const unsigned char shmlua_dtype_sizes[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};
const int64_t shmlua_dtype_min[] = {INT8_MIN, 0, INT16_MIN, 0, INT32_MIN, 0};
const int64_t shmlua_dtype_max[] = {INT8_MAX,   UINT8_MAX, INT16_MAX,
                                    UINT16_MAX, INT32_MAX, UINT32_MAX};

static int is64int(shmlua_dtype t) {
  return t == SHMLUA_INT64 || t == SHMLUA_UINT64;
}

/* Element k of v, and v's step in elements. */
#define ELEM(T, v, k) (*(T *)((v)->p + (ptrdiff_t)(k) * (v)->stride))
#define STEP(v) ((v)->stride / (ptrdiff_t)shmlua_dtype_sizes[(v)->type])

static double tofloat(shmlua_num v) {
  return v.isint ? (double)v.i : v.f;
}

static shmlua_num intnum(int64_t i) {
  shmlua_num v = {1, i, 0};
  return v;
}

static shmlua_num floatnum(double f) {
  shmlua_num v = {0, 0, f};
  return v;
}

/* a < b as Lua compares numbers: exactly, also between an integer and a float. */
static int less(shmlua_num a, shmlua_num b) {
  if (a.isint && b.isint)
    return a.i < b.i;
  if (!a.isint && !b.isint)
    return a.f < b.f;
  if (a.isint) { /* i < f  <=>  i < ceil(f) */
    if (isnan(b.f))
      return 0;
    if (b.f >= 0x1p63)
      return 1;
    return b.f > -0x1p63 && a.i < (int64_t)ceil(b.f);
  }
  if (isnan(a.f)) /* f < i  <=>  floor(f) < i */
    return 0;
  if (a.f < -0x1p63)
    return 1;
  return a.f < 0x1p63 && (int64_t)floor(a.f) < b.i;
}

/* ---- reductions ---- */

enum { PAIRWISE_BLOCK = 128 };

/* NumPy's pairwise summation: blocks of up to 128 summed in 8 lanes, halves added. */
#define DEFINE_PAIRWISE(NAME, T)                                                              \
  static double NAME(const T *p, ptrdiff_t step, size_t n) {                                  \
    double s = 0, r[8];                                                                       \
    size_t k;                                                                                 \
    if (n < 8) {                                                                              \
      for (k = 0; k < n; k++)                                                                 \
        s += p[(ptrdiff_t)k * step];                                                          \
      return s;                                                                               \
    }                                                                                         \
    if (n > PAIRWISE_BLOCK) {                                                                 \
      size_t half = n / 2 - n / 2 % 8;                                                        \
      return NAME(p, step, half) + NAME(p + (ptrdiff_t)half * step, step, n - half);          \
    }                                                                                         \
    for (int j = 0; j < 8; j++)                                                               \
      r[j] = p[j * step];                                                                     \
    if (step == 1)                                                                            \
      for (k = 8; k + 8 <= n; k += 8)                                                         \
        for (int j = 0; j < 8; j++)                                                           \
          r[j] += p[k + j];                                                                   \
    else                                                                                      \
      for (k = 8; k + 8 <= n; k += 8)                                                         \
        for (int j = 0; j < 8; j++)                                                           \
          r[j] += p[(ptrdiff_t)(k + j) * step];                                               \
    s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));                    \
    for (; k < n; k++)                                                                        \
      s += p[(ptrdiff_t)k * step];                                                            \
    return s;                                                                                 \
  }
DEFINE_PAIRWISE(pairwise32, float)
DEFINE_PAIRWISE(pairwise64, double)
DEFINE_PAIRWISE(pairwise_i64, int64_t) /* for the mean: each element as a double */

/* ---- several memory streams ----
   One pass over a large run in a shared block is bounded by the memory at 0.35-0.40 ns per
   float64 on the machine measured: the hardware prefetcher restarts at every 4 KiB page.
   Going through STREAM_PARTS consecutive parts of the run at once, a block of 4 KiB of each
   in turn, keeps more of the memory busy (1.3-1.5x faster; docs/performance.md). Runs of
   fewer than STREAM_MIN_BLOCKS blocks are in the cache anyway and go in one pass, so small
   float sums are NumPy's to the bit. */
enum { STREAM_BLOCK_BYTES = 4096, STREAM_PARTS = 4, STREAM_MIN_BLOCKS = 4 * STREAM_PARTS };

/* The elements in 4 KiB of memory, step elements of size bytes apart (at least 8). */
static size_t stream_block(size_t size, ptrdiff_t step) {
  size_t span = size * (size_t)(step < 0 ? -step : step);
  return span > STREAM_BLOCK_BYTES / 8 ? 8 : STREAM_BLOCK_BYTES / span;
}

static size_t stream_part_len(size_t n, size_t block) {
  return ((n + block - 1) / block + STREAM_PARTS - 1) / STREAM_PARTS * block;
}

/* Runs the statement after it for every block of n elements, the b-th block of each part in
   turn: part (0-based), first (its first element) and count (its elements) in scope. */
#define EACH_STREAM_BLOCK(n, block, part, first, count)                                       \
  for (size_t len_ = stream_part_len(n, block), b_ = 0; b_ < len_; b_ += (block))             \
    for (size_t part = 0, first, count;                                                       \
         part < STREAM_PARTS && (first = part * len_ + b_) < (n) &&                           \
         (count = (n)-first < (block) ? (n)-first : (block), 1);                              \
         part++)

/* A part's block sums combined pairwise, as a binary counter: a new sum merges with the last
   partial sum of its level, so the tree over the blocks is balanced and the error grows with
   the log of the length, as NumPy's. */
typedef struct pairwise_stack {
  double sum[64];
  unsigned char level[64];
  int top;
} pairwise_stack;

static void pairwise_push(pairwise_stack *st, double v) {
  unsigned char level = 0;
  for (; st->top > 0 && st->level[st->top - 1] == level; level++)
    v = st->sum[--st->top] + v;
  st->sum[st->top] = v;
  st->level[st->top++] = level;
}

static double pairwise_total(const pairwise_stack *st) {
  double v = st->sum[st->top - 1];
  for (int k = st->top - 2; k >= 0; k--)
    v = st->sum[k] + v;
  return v;
}

/* r = the pairwise sum of BLOCK_SUM (a double, over the elements first..first+count-1) over
   the blocks of a run of n > 0, streamed. */
#define STREAMED_PAIRWISE(r, n, block, BLOCK_SUM)                                             \
  do {                                                                                        \
    pairwise_stack st_[STREAM_PARTS];                                                         \
    double t_[STREAM_PARTS] = {0};                                                            \
    for (int k_ = 0; k_ < STREAM_PARTS; k_++)                                                 \
      st_[k_].top = 0;                                                                        \
    EACH_STREAM_BLOCK(n, block, part, first, count)                                           \
    pairwise_push(&st_[part], BLOCK_SUM);                                                     \
    for (size_t part = 0; part * stream_part_len(n, block) < (n); part++)                     \
      t_[part] = pairwise_total(&st_[part]);                                                  \
    r = (t_[0] + t_[1]) + (t_[2] + t_[3]);                                                    \
  } while (0)

/* The pairwise sum, streamed when the run is large. */
#define DEFINE_SUM(NAME, T, PAIRWISE)                                                         \
  static double NAME(const T *p, ptrdiff_t step, size_t n) {                                  \
    size_t block = stream_block(sizeof(T), step);                                             \
    double r;                                                                                 \
    if (n < STREAM_MIN_BLOCKS * block)                                                        \
      return PAIRWISE(p, step, n);                                                            \
    STREAMED_PAIRWISE(r, n, block, PAIRWISE(p + (ptrdiff_t)first * step, step, count));       \
    return r;                                                                                 \
  }
DEFINE_SUM(sum32, float, pairwise32)
DEFINE_SUM(sum64, double, pairwise64)
DEFINE_SUM(sum_i64_as_double, int64_t, pairwise_i64)

/* Integer sums in uint64: wrapping is defined there, and the bits are Lua's. Any order gives
   the same sum, so the blocks simply add up. */
#define DEFINE_INT_SUM(NAME, T)                                                               \
  static uint64_t NAME##_block(const T *p, ptrdiff_t step, size_t n) {                        \
    uint64_t s = 0;                                                                           \
    if (step == 1)                                                                            \
      for (size_t k = 0; k < n; k++)                                                          \
        s += (uint64_t)(int64_t)p[k];                                                         \
    else                                                                                      \
      for (size_t k = 0; k < n; k++)                                                          \
        s += (uint64_t)(int64_t)p[(ptrdiff_t)k * step];                                       \
    return s;                                                                                 \
  }                                                                                           \
  static shmlua_num NAME(const void *v, ptrdiff_t step, size_t n) {                           \
    const T *p = (const T *)v;                                                                \
    uint64_t s = 0;                                                                           \
    EACH_STREAM_BLOCK(n, stream_block(sizeof(T), step), part, first, count)                   \
    s += NAME##_block(p + (ptrdiff_t)first * step, step, count);                              \
    return intnum((int64_t)s);                                                                \
  }
DEFINE_INT_SUM(sum_i8, int8_t)
DEFINE_INT_SUM(sum_u8, uint8_t)
DEFINE_INT_SUM(sum_i16, int16_t)
DEFINE_INT_SUM(sum_u16, uint16_t)
DEFINE_INT_SUM(sum_i32, int32_t)
DEFINE_INT_SUM(sum_u32, uint32_t)
DEFINE_INT_SUM(sum_i64, int64_t)

shmlua_num shmlua_vec_sum(const shmlua_vec *v) {
  ptrdiff_t step = STEP(v);
  switch (v->type) {
  case SHMLUA_INT8:
    return sum_i8(v->p, step, v->n);
  case SHMLUA_UINT8:
    return sum_u8(v->p, step, v->n);
  case SHMLUA_INT16:
    return sum_i16(v->p, step, v->n);
  case SHMLUA_UINT16:
    return sum_u16(v->p, step, v->n);
  case SHMLUA_INT32:
    return sum_i32(v->p, step, v->n);
  case SHMLUA_UINT32:
    return sum_u32(v->p, step, v->n);
  case SHMLUA_INT64:
  case SHMLUA_UINT64:
    return sum_i64(v->p, step, v->n);
  case SHMLUA_FLOAT32:
    return floatnum(sum32((const float *)v->p, step, v->n));
  case SHMLUA_FLOAT64:
    break;
  }
  return floatnum(sum64((const double *)v->p, step, v->n));
}

double shmlua_vec_mean(const shmlua_vec *v) {
  if (!is64int(v->type))
    return tofloat(shmlua_vec_sum(v)) / (double)v->n;
  /* summed as doubles, pairwise as NumPy's mean; uint64 as Lua reads it */
  return sum_i64_as_double((const int64_t *)v->p, STEP(v), v->n) / (double)v->n;
}

/* ---- min and max ---- */

/* The search goes through the run in blocks of 4 KiB, in STREAM_PARTS consecutive parts at
   once (a block of each in turn): several streams keep the memory busier than one, whose
   hardware prefetch restarts at every 4 KiB page (1.5x faster on 10M float64 in a shared
   block). Each block's extreme comes from a kernel that vectorises (extreme_kernel.h); at
   the end, the first block holding the best value is scanned for its first position, so the
   first of equal elements wins (-0.0 and 0.0 included). Float blocks are checked first: a
   finite one goes to the kernel built for finite floats; one with a NaN ends the search of
   its part and of the parts after it (the first NaN wins, as NumPy's argmin); one with an
   infinity goes to the IEEE kernel. uint64 compares as the int64 Lua reads. */

/* x86-64's base vector set (SSE2) has min and max for unsigned bytes and signed 16-bit
   integers only: int8 is searched as uint8 keys (x + 128) and uint16 as int16 keys
   (x - 32768), same order: 1.5x faster for int8 (elsewhere the map costs an add). */
#define INT8_KEY(x) ((uint8_t)((x) + 128))
#define INT8_OF_KEY(k) ((int8_t)((k)-128))
#define UINT16_KEY(x) ((int16_t)((x)-32768))
#define UINT16_OF_KEY(k) ((uint16_t)((k) + 32768))

DEFINE_EXTREME_KERNEL(static, extreme_i8, int8_t, uint8_t, INT8_KEY)
DEFINE_EXTREME_KERNEL(static, extreme_u8, uint8_t, uint8_t, EXTREME_SAME)
DEFINE_EXTREME_KERNEL(static, extreme_i16, int16_t, int16_t, EXTREME_SAME)
DEFINE_EXTREME_KERNEL(static, extreme_u16, uint16_t, int16_t, UINT16_KEY)
DEFINE_EXTREME_KERNEL(static, extreme_i32, int32_t, int32_t, EXTREME_SAME)
DEFINE_EXTREME_KERNEL(static, extreme_u32, uint32_t, uint32_t, EXTREME_SAME)
DEFINE_EXTREME_KERNEL(static, extreme_i64, int64_t, int64_t, EXTREME_SAME)
DEFINE_EXTREME_KERNEL(static, extreme_f32, float, float, EXTREME_SAME)
DEFINE_EXTREME_KERNEL(static, extreme_f64, double, double, EXTREME_SAME)

/* Whether no element is NaN or infinite: x * 0 is 0 for the others, and a NaN stays in a sum.
   In lanes so that it vectorises. */
#define DEFINE_ALL_FINITE(NAME, T)                                                            \
  static int NAME(const T *p, ptrdiff_t step, size_t n) {                                     \
    T lane[EXTREME_LANES(T)] = {0}, s = 0;                                                    \
    size_t k = 0;                                                                             \
    if (step == 1)                                                                            \
      for (; k + EXTREME_LANES(T) <= n; k += EXTREME_LANES(T))                                \
        for (int j = 0; j < EXTREME_LANES(T); j++)                                            \
          lane[j] += p[k + j] * 0;                                                            \
    for (; k < n; k++)                                                                        \
      s += p[(ptrdiff_t)k * step] * 0;                                                        \
    for (int j = 0; j < EXTREME_LANES(T); j++)                                                \
      s += lane[j];                                                                           \
    return s == s;                                                                            \
  }
DEFINE_ALL_FINITE(all_finite32, float)
DEFINE_ALL_FINITE(all_finite64, double)

/* The extreme of a block of floats, or its first NaN's position in *nan (else n). */
#define DEFINE_FLOAT_BLOCK(NAME, T, ALL_FINITE, FINITE, IEEE)                                 \
  static T NAME(const T *p, ptrdiff_t step, size_t n, int max, size_t *nan) {                 \
    if (ALL_FINITE(p, step, n)) {                                                             \
      *nan = n;                                                                               \
      return FINITE(p, step, n, max);                                                         \
    }                                                                                         \
    for (*nan = 0; *nan < n; ++*nan)                                                          \
      if (p[(ptrdiff_t)*nan * step] != p[(ptrdiff_t)*nan * step])                             \
        return p[0];                                                                          \
    return IEEE(p, step, n, max);                                                             \
  }
DEFINE_FLOAT_BLOCK(block_f32, float, all_finite32, shmlua_extreme_finite32, extreme_f32)
DEFINE_FLOAT_BLOCK(block_f64, double, all_finite64, shmlua_extreme_finite64, extreme_f64)

/* Integers have no NaN. */
#define DEFINE_INT_BLOCK(NAME, T, KERNEL, OF_KEY)                                             \
  static T NAME(const T *p, ptrdiff_t step, size_t n, int max, size_t *nan) {                 \
    *nan = n;                                                                                 \
    return OF_KEY(KERNEL(p, step, n, max));                                                   \
  }
DEFINE_INT_BLOCK(block_i8, int8_t, extreme_i8, INT8_OF_KEY)
DEFINE_INT_BLOCK(block_u8, uint8_t, extreme_u8, EXTREME_SAME)
DEFINE_INT_BLOCK(block_i16, int16_t, extreme_i16, EXTREME_SAME)
DEFINE_INT_BLOCK(block_u16, uint16_t, extreme_u16, UINT16_OF_KEY)
DEFINE_INT_BLOCK(block_i32, int32_t, extreme_i32, EXTREME_SAME)
DEFINE_INT_BLOCK(block_u32, uint32_t, extreme_u32, EXTREME_SAME)
DEFINE_INT_BLOCK(block_i64, int64_t, extreme_i64, EXTREME_SAME)

/* size_t NAME(const T *p, ptrdiff_t step, size_t n, int max): the position of the first
   extreme of n > 0 elements, or of the first NaN. */
#define DEFINE_EXTREME_SEARCH(NAME, T, BLOCK)                                                 \
  static size_t NAME(const T *p, ptrdiff_t step, size_t n, int max) {                         \
    size_t block = STREAM_BLOCK_BYTES / sizeof(T), blocks = (n + block - 1) / block;          \
    size_t len = (blocks + STREAM_PARTS - 1) / STREAM_PARTS * block; /* a part's */           \
    size_t parts = (n + len - 1) / len, active = parts, nan = n, best_part = 0, k;            \
    T best[STREAM_PARTS];                                                                     \
    size_t where[STREAM_PARTS]; /* the first block holding best[s] */                         \
    for (size_t s = 0; s < parts; s++) {                                                      \
      where[s] = s * len;                                                                     \
      best[s] = p[(ptrdiff_t)where[s] * step];                                                \
    }                                                                                         \
    for (size_t b = 0; b < len; b += block)                                                   \
      for (size_t s = 0; s < active && s * len + b < n; s++) {                                \
        size_t first = s * len + b, count = n - first < block ? n - first : block;            \
        T m = BLOCK(p + (ptrdiff_t)first * step, step, count, max, &k);                       \
        if (k < count) { /* a NaN: the parts after this one no longer matter */               \
          nan = first + k;                                                                    \
          active = s;                                                                         \
        } else if (max ? m > best[s] : m < best[s]) {                                         \
          best[s] = m;                                                                        \
          where[s] = first;                                                                   \
        }                                                                                     \
      }                                                                                       \
    if (nan < n)                                                                              \
      return nan;                                                                             \
    for (size_t s = 1; s < parts; s++)                                                        \
      if (max ? best[s] > best[best_part] : best[s] < best[best_part])                        \
        best_part = s;                                                                        \
    for (k = where[best_part]; !(p[(ptrdiff_t)k * step] == best[best_part]); k++)             \
      ;                                                                                       \
    return k;                                                                                 \
  }
DEFINE_EXTREME_SEARCH(search_i8, int8_t, block_i8)
DEFINE_EXTREME_SEARCH(search_u8, uint8_t, block_u8)
DEFINE_EXTREME_SEARCH(search_i16, int16_t, block_i16)
DEFINE_EXTREME_SEARCH(search_u16, uint16_t, block_u16)
DEFINE_EXTREME_SEARCH(search_i32, int32_t, block_i32)
DEFINE_EXTREME_SEARCH(search_u32, uint32_t, block_u32)
DEFINE_EXTREME_SEARCH(search_i64, int64_t, block_i64)
DEFINE_EXTREME_SEARCH(search_f32, float, block_f32)
DEFINE_EXTREME_SEARCH(search_f64, double, block_f64)

size_t shmlua_vec_extreme(const shmlua_vec *v, int max, shmlua_num *out) {
  ptrdiff_t step = STEP(v);
  size_t pos = 0;
  switch (v->type) {
  case SHMLUA_INT8:
    pos = search_i8((const int8_t *)v->p, step, v->n, max);
    break;
  case SHMLUA_UINT8:
    pos = search_u8((const uint8_t *)v->p, step, v->n, max);
    break;
  case SHMLUA_INT16:
    pos = search_i16((const int16_t *)v->p, step, v->n, max);
    break;
  case SHMLUA_UINT16:
    pos = search_u16((const uint16_t *)v->p, step, v->n, max);
    break;
  case SHMLUA_INT32:
    pos = search_i32((const int32_t *)v->p, step, v->n, max);
    break;
  case SHMLUA_UINT32:
    pos = search_u32((const uint32_t *)v->p, step, v->n, max);
    break;
  case SHMLUA_INT64:
  case SHMLUA_UINT64:
    pos = search_i64((const int64_t *)v->p, step, v->n, max);
    break;
  case SHMLUA_FLOAT32:
    pos = search_f32((const float *)v->p, step, v->n, max);
    break;
  case SHMLUA_FLOAT64:
    pos = search_f64((const double *)v->p, step, v->n, max);
    break;
  }
  *out = shmlua_num_load(v->type, &ELEM(char, v, pos));
  return pos;
}

/* float64 x[k] * y[k] summed in 8 lanes (vectorised), the lanes added pairwise. */
static double dot_block(const double *restrict x, const double *restrict y, size_t n) {
  double r[8] = {0}, s = 0;
  size_t k;
  for (k = 0; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++)
      r[j] += x[k + j] * y[k + j];
  for (; k < n; k++)
    s += x[k] * y[k];
  return s + ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
}

shmlua_num shmlua_vec_dot(const shmlua_vec *a, const shmlua_vec *b) {
  size_t n = a->n;
  if (a->type == SHMLUA_FLOAT64 && b->type == SHMLUA_FLOAT64 && shmlua_vec_contiguous(a) &&
      shmlua_vec_contiguous(b)) {
    const double *x = (const double *)a->p, *y = (const double *)b->p;
    size_t block = stream_block(sizeof *x, 1);
    double r;
    if (n < STREAM_MIN_BLOCKS * block)
      return floatnum(dot_block(x, y, n));
    STREAMED_PAIRWISE(r, n, block, dot_block(x + first, y + first, count));
    return floatnum(r);
  }
  if (shmlua_dtype_isfloat(a->type) || shmlua_dtype_isfloat(b->type)) {
    double s = 0;
    for (size_t k = 0; k < n; k++)
      s += tofloat(shmlua_num_load(a->type, &ELEM(char, a, k))) *
           tofloat(shmlua_num_load(b->type, &ELEM(char, b, k)));
    return floatnum(s);
  }
  uint64_t s = 0;
  for (size_t k = 0; k < n; k++)
    s += (uint64_t)shmlua_num_load(a->type, &ELEM(char, a, k)).i *
         (uint64_t)shmlua_num_load(b->type, &ELEM(char, b, k)).i;
  return intnum((int64_t)s);
}

/* Calls MATCH(T) with T the C type of v's elements. */
#define BY_TYPE(t, MATCH)                                                                     \
  switch (t) {                                                                                \
  case SHMLUA_INT8:                                                                           \
  case SHMLUA_UINT8:                                                                          \
    MATCH(uint8_t)                                                                            \
  case SHMLUA_INT16:                                                                          \
  case SHMLUA_UINT16:                                                                         \
    MATCH(uint16_t)                                                                           \
  case SHMLUA_INT32:                                                                          \
  case SHMLUA_UINT32:                                                                         \
    MATCH(uint32_t)                                                                           \
  case SHMLUA_INT64:                                                                          \
  case SHMLUA_UINT64:                                                                         \
    MATCH(uint64_t)                                                                           \
  case SHMLUA_FLOAT32:                                                                        \
    MATCH(float)                                                                              \
  case SHMLUA_FLOAT64:                                                                        \
    MATCH(double)                                                                             \
  }

/* The elements of a block equal to e, counted in 8 lanes of type C: floats count in their
   own type (exact: a block is at most 4096 elements), which vectorises where adding a float
   comparison to a size_t does not (4x faster on float64 in the cache). */
#define DEFINE_COUNT_BLOCK(NAME, T, C)                                                        \
  static size_t NAME(const T *p, ptrdiff_t step, size_t n, T e) {                             \
    C lane[8] = {0};                                                                          \
    size_t c = 0, k = 0;                                                                      \
    if (step == 1)                                                                            \
      for (; k + 8 <= n; k += 8)                                                              \
        for (int j = 0; j < 8; j++)                                                           \
          lane[j] += p[k + j] == e ? 1 : 0;                                                   \
    for (; k < n; k++)                                                                        \
      c += p[(ptrdiff_t)k * step] == e;                                                       \
    for (int j = 0; j < 8; j++)                                                               \
      c += (size_t)lane[j];                                                                   \
    return c;                                                                                 \
  }
DEFINE_COUNT_BLOCK(count_uint8_t, uint8_t, size_t)
DEFINE_COUNT_BLOCK(count_uint16_t, uint16_t, size_t)
DEFINE_COUNT_BLOCK(count_uint32_t, uint32_t, size_t)
DEFINE_COUNT_BLOCK(count_uint64_t, uint64_t, size_t)
DEFINE_COUNT_BLOCK(count_float, float, float)
DEFINE_COUNT_BLOCK(count_double, double, double)

#define COUNT(T)                                                                              \
  {                                                                                           \
    const T *p = (const T *)v->p;                                                             \
    EACH_STREAM_BLOCK(v->n, stream_block(sizeof(T), step), part, first, count)                \
    c += count_##T(p + (ptrdiff_t)first * step, step, count, *(const T *)elem);               \
    break;                                                                                    \
  }

size_t shmlua_vec_count(const shmlua_vec *v, const void *elem) {
  ptrdiff_t step = STEP(v);
  size_t c = 0;
  BY_TYPE(v->type, COUNT)
  return c;
}

#define FIND(T)                                                                               \
  {                                                                                           \
    const T *p = (const T *)v->p, e = *(const T *)elem;                                       \
    for (size_t k = 0; k < v->n; k++)                                                         \
      if (p[(ptrdiff_t)k * step] == e)                                                        \
        return k;                                                                             \
    break;                                                                                    \
  }

size_t shmlua_vec_find(const shmlua_vec *v, const void *elem) {
  ptrdiff_t step = STEP(v);
  BY_TYPE(v->type, FIND)
  return v->n;
}

size_t shmlua_vec_search(const shmlua_vec *v, shmlua_num x) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    shmlua_num e = shmlua_num_load(v->type, &ELEM(char, v, mid));
    int below = e.isint || !isnan(e.f) ? (!x.isint && isnan(x.f)) || less(e, x) : 0;
    if (below)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* ---- element-wise updates ---- */

/* Lua's a + b, a - b, a * b, a / b. */
static shmlua_num arith(shmlua_update op, shmlua_num a, shmlua_num b) {
  if (op != SHMLUA_DIV && a.isint && b.isint) {
    uint64_t x = (uint64_t)a.i, y = (uint64_t)b.i;
    return intnum((int64_t)(op == SHMLUA_ADD ? x + y : op == SHMLUA_SUB ? x - y : x * y));
  }
  double x = tofloat(a), y = tofloat(b);
  return floatnum(op == SHMLUA_ADD   ? x + y
                  : op == SHMLUA_SUB ? x - y
                  : op == SHMLUA_MUL ? x * y
                                     : x / y);
}

/* The new value of element k (d: its value) in the generic loop; *sum: cumsum's state. */
static shmlua_num updated(shmlua_update op, const shmlua_operands *o, shmlua_num d, size_t k,
                          shmlua_num *sum) {
  shmlua_num x = o->x ? shmlua_num_load(o->x->type, &ELEM(char, o->x, k)) : o->s;
  switch (op) {
  case SHMLUA_AXPY:
    return arith(SHMLUA_ADD, d, arith(SHMLUA_MUL, o->s, x));
  case SHMLUA_CLAMP:
    return less(d, o->s) ? o->s : less(o->hi, d) ? o->hi : d;
  case SHMLUA_ABS:
    if (d.isint)
      return d.i < 0 ? intnum((int64_t)(0 - (uint64_t)d.i)) : d;
    return floatnum(fabs(d.f));
  case SHMLUA_CUMSUM:
    return *sum = arith(SHMLUA_ADD, *sum, d);
  case SHMLUA_ARANGE:
    return arith(SHMLUA_ADD, o->s, arith(SHMLUA_MUL, intnum((int64_t)k), o->hi));
  default:
    return arith(op, d, x);
  }
}

/* Any dtype, any operands: the first pass checks every result, the second writes them. */
static int update_checked(const shmlua_vec *d, shmlua_update op, const shmlua_operands *o,
                          size_t *bad, shmlua_num *badval) {
  for (int pass = 0; pass < 2; pass++) {
    shmlua_num sum = intnum(0);
    for (size_t k = 0; k < d->n; k++) {
      unsigned char *p = &ELEM(unsigned char, d, k);
      shmlua_num r = updated(op, o, shmlua_num_load(d->type, p), k, &sum);
      int64_t ignored;
      int why = pass == 0 ? shmlua_num_storable(d->type, r, &ignored)
                          : shmlua_num_store(d->type, p, r);
      if (why != SHMLUA_STORE_OK) {
        *bad = k;
        *badval = r;
        return why;
      }
    }
  }
  return SHMLUA_STORE_OK;
}

/* One loop over D (element k of the destination) and X (of the operand vector), the unit
   step spelled as a constant so that it vectorises. */
#define MAP(STMT)                                                                             \
  do {                                                                                        \
    if (ds == 1 && xs <= 1) {                                                                 \
      const ptrdiff_t DS = 1, XS = xs;                                                        \
      (void)XS;                                                                               \
      for (size_t k = 0; k < n; k++)                                                          \
        STMT;                                                                                 \
    } else {                                                                                  \
      const ptrdiff_t DS = ds, XS = xs;                                                       \
      (void)XS;                                                                               \
      for (size_t k = 0; k < n; k++)                                                          \
        STMT;                                                                                 \
    }                                                                                         \
  } while (0)
#define D d[(ptrdiff_t)k * DS]
#define X x[(ptrdiff_t)k * XS]

/* Float destinations (the operand vector, if any, of the same dtype): no result can fail. */
#define DEFINE_FLOAT_UPDATE(NAME, T)                                                          \
  static void NAME(T *restrict d, ptrdiff_t ds, const T *restrict x, ptrdiff_t xs, size_t n,  \
                   shmlua_update op, T s, T hi) {                                             \
    double sum = 0;                                                                           \
    switch (op) {                                                                             \
    case SHMLUA_ADD:                                                                          \
      if (x)                                                                                  \
        MAP(D += X);                                                                          \
      else                                                                                    \
        MAP(D += s);                                                                          \
      break;                                                                                  \
    case SHMLUA_SUB:                                                                          \
      if (x)                                                                                  \
        MAP(D -= X);                                                                          \
      else                                                                                    \
        MAP(D -= s);                                                                          \
      break;                                                                                  \
    case SHMLUA_MUL:                                                                          \
      if (x)                                                                                  \
        MAP(D *= X);                                                                          \
      else                                                                                    \
        MAP(D *= s);                                                                          \
      break;                                                                                  \
    case SHMLUA_DIV:                                                                          \
      if (x)                                                                                  \
        MAP(D /= X);                                                                          \
      else                                                                                    \
        MAP(D /= s);                                                                          \
      break;                                                                                  \
    case SHMLUA_AXPY:                                                                         \
      MAP(D += s * X);                                                                        \
      break;                                                                                  \
    case SHMLUA_CLAMP:                                                                        \
      MAP(D = D < s ? s : D > hi ? hi : D);                                                   \
      break;                                                                                  \
    case SHMLUA_ABS:                                                                          \
      MAP(D = D < 0 ? -D : D == 0 ? 0 : D);                                                   \
      break;                                                                                  \
    case SHMLUA_CUMSUM:                                                                       \
      MAP(D = (T)(sum += D));                                                                 \
      break;                                                                                  \
    case SHMLUA_ARANGE:                                                                       \
      MAP(D = (T)((double)s + (double)k * (double)hi));                                       \
      break;                                                                                  \
    }                                                                                         \
  }
DEFINE_FLOAT_UPDATE(update_f32, float)
DEFINE_FLOAT_UPDATE(update_f64, double)

/* int64 and uint64 destinations with integer operands (any vector of the same width): Lua's
   wrapping arithmetic, in uint64 where it is defined; comparisons as the int64 Lua reads. */
static void update_i64(uint64_t *restrict d, ptrdiff_t ds, const uint64_t *restrict x,
                       ptrdiff_t xs, size_t n, shmlua_update op, uint64_t s, uint64_t hi) {
  uint64_t sum = 0;
  switch (op) {
  case SHMLUA_ADD:
    if (x)
      MAP(D += X);
    else
      MAP(D += s);
    break;
  case SHMLUA_SUB:
    if (x)
      MAP(D -= X);
    else
      MAP(D -= s);
    break;
  case SHMLUA_MUL:
    if (x)
      MAP(D *= X);
    else
      MAP(D *= s);
    break;
  case SHMLUA_AXPY:
    MAP(D += s * X);
    break;
  case SHMLUA_CLAMP:
    MAP(D = (int64_t)D < (int64_t)s ? s : (int64_t)D > (int64_t)hi ? hi : D);
    break;
  case SHMLUA_ABS:
    MAP(D = (int64_t)D < 0 ? 0 - D : D);
    break;
  case SHMLUA_CUMSUM:
    MAP(D = (sum += D));
    break;
  case SHMLUA_ARANGE:
    MAP(D = s + (uint64_t)k * hi);
    break;
  case SHMLUA_DIV:
    break; /* a float: never here */
  }
}
#undef D
#undef X

/* Whether d op= operands has a vectorised loop: float destinations with a number or a vector
   of their dtype, and 64-bit integer ones with integers. */
static int update_is_fast(const shmlua_vec *d, shmlua_update op, const shmlua_operands *o) {
  const shmlua_vec *x = o->x;
  if (shmlua_dtype_isfloat(d->type))
    return !x || x->type == d->type;
  return is64int(d->type) && (!x || is64int(x->type)) && o->s.isint && o->hi.isint &&
         op != SHMLUA_DIV;
}

/* The vectorised loop over elements first..first+count-1 (update_is_fast). */
static void update_fast(const shmlua_vec *d, shmlua_update op, const shmlua_operands *o,
                        size_t first, size_t count) {
  const shmlua_vec *x = o->x;
  ptrdiff_t ds = STEP(d), xs = x ? STEP(x) : 0;
  unsigned char *dp = &ELEM(unsigned char, d, first);
  const unsigned char *xp = x ? &ELEM(unsigned char, x, first) : NULL;
  if (d->type == SHMLUA_FLOAT64)
    update_f64((double *)dp, ds, (const double *)xp, xs, count, op, tofloat(o->s),
               tofloat(o->hi));
  else if (d->type == SHMLUA_FLOAT32)
    update_f32((float *)dp, ds, (const float *)xp, xs, count, op, (float)tofloat(o->s),
               (float)tofloat(o->hi));
  else
    update_i64((uint64_t *)dp, ds, (const uint64_t *)xp, xs, count, op, (uint64_t)o->s.i,
               (uint64_t)o->hi.i);
}

int shmlua_vec_update(const shmlua_vec *d, shmlua_update op, const shmlua_operands *o,
                      size_t *bad, shmlua_num *badval) {
  int unsigned_dtype = d->type == SHMLUA_UINT8 || d->type == SHMLUA_UINT16 ||
                       d->type == SHMLUA_UINT32 || d->type == SHMLUA_UINT64;
  size_t block = stream_block(shmlua_dtype_sizes[d->type], STEP(d));
  if (op == SHMLUA_ABS && unsigned_dtype)
    return SHMLUA_STORE_OK;
  if (!update_is_fast(d, op, o))
    return update_checked(d, op, o, bad, badval);
  /* cumsum runs in order; arange's values come from the position (streamed, it would
     restart at every block) */
  if (op == SHMLUA_CUMSUM || op == SHMLUA_ARANGE || d->n < STREAM_MIN_BLOCKS * block)
    update_fast(d, op, o, 0, d->n);
  else
    EACH_STREAM_BLOCK(d->n, block, part, first, count)
  update_fast(d, op, o, first, count);
  return SHMLUA_STORE_OK;
}

/* ---- sorting ---- */

/* Elements are sorted as unsigned keys of their width, made so that the key order is the
   element order: the sign bit flipped for signed integers (uint64 too: it orders as the
   int64 Lua reads), and for floats all bits flipped if negative, else the sign bit; every
   NaN becomes the largest key (so NaNs go last, as one canonical NaN). Then a least
   significant digit radix sort, 11 bits a pass, skipping the passes where all keys share
   the digit; short runs by insertion. */
enum {
  RADIX_BITS = 11,
  RADIX_BUCKETS = 1 << RADIX_BITS,
  RADIX_PASSES_MAX = 6,
  INSERTION_MAX = 32
};

#define DEFINE_KEYSORT(NAME, U)                                                               \
  static void NAME##_tokeys(U *a, size_t n, int isfloat, int issigned) {                      \
    /* the bits of an infinity: a float key above them (sign aside) is a NaN */               \
    const U top = (U)((U)1 << (sizeof(U) * 8 - 1)),                                           \
            infinity = (U)(sizeof(U) == 8 ? 0x7ff0000000000000u : 0x7f800000u);               \
    if (isfloat)                                                                              \
      for (size_t k = 0; k < n; k++)                                                          \
        a[k] = (U)(a[k] & ~top) > infinity ? (U) ~(U)0                                        \
                                           : (U)(a[k] ^ (a[k] & top ? (U) ~(U)0 : top));      \
    else if (issigned)                                                                        \
      for (size_t k = 0; k < n; k++)                                                          \
        a[k] ^= top;                                                                          \
  }                                                                                           \
  static void NAME##_fromkeys(U *a, size_t n, int isfloat, int issigned) {                    \
    const U top = (U)((U)1 << (sizeof(U) * 8 - 1));                                           \
    if (isfloat)                                                                              \
      for (size_t k = 0; k < n; k++)                                                          \
        a[k] ^= a[k] & top ? top : (U) ~(U)0;                                                 \
    else if (issigned)                                                                        \
      for (size_t k = 0; k < n; k++)                                                          \
        a[k] ^= top;                                                                          \
  }                                                                                           \
  static void NAME##_sort(U *a, U *buf, size_t *count, size_t n) {                            \
    enum { PASSES = (sizeof(U) * 8 + RADIX_BITS - 1) / RADIX_BITS };                          \
    U *src = a, *dst = buf;                                                                   \
    if (n <= INSERTION_MAX) {                                                                 \
      for (size_t k = 1; k < n; k++) {                                                        \
        U v = a[k];                                                                           \
        size_t m = k;                                                                         \
        for (; m > 0 && v < a[m - 1]; m--)                                                    \
          a[m] = a[m - 1];                                                                    \
        a[m] = v;                                                                             \
      }                                                                                       \
      return;                                                                                 \
    }                                                                                         \
    memset(count, 0, PASSES *RADIX_BUCKETS * sizeof *count);                                  \
    for (size_t k = 0; k < n; k++)                                                            \
      for (int p = 0; p < PASSES; p++)                                                        \
        count[p * RADIX_BUCKETS + ((a[k] >> (p * RADIX_BITS)) & (RADIX_BUCKETS - 1))]++;      \
    for (int p = 0; p < PASSES; p++) {                                                        \
      size_t *c = count + p * RADIX_BUCKETS, sum = 0;                                         \
      if (c[(src[0] >> (p * RADIX_BITS)) & (RADIX_BUCKETS - 1)] == n)                         \
        continue;                                                                             \
      for (int d = 0; d < RADIX_BUCKETS; d++) {                                               \
        size_t here = c[d];                                                                   \
        c[d] = sum;                                                                           \
        sum += here;                                                                          \
      }                                                                                       \
      for (size_t k = 0; k < n; k++)                                                          \
        dst[c[(src[k] >> (p * RADIX_BITS)) & (RADIX_BUCKETS - 1)]++] = src[k];                \
      U *t = src;                                                                             \
      src = dst;                                                                              \
      dst = t;                                                                                \
    }                                                                                         \
    if (src != a)                                                                             \
      memcpy(a, src, n * sizeof *a);                                                          \
  }                                                                                           \
  /* The keys at the end that are NaNs. */                                                    \
  static size_t NAME##_nans(const U *a, size_t n) {                                           \
    size_t k = n;                                                                             \
    while (k > 0 && a[k - 1] == (U) ~(U)0)                                                    \
      k--;                                                                                    \
    return n - k;                                                                             \
  }
DEFINE_KEYSORT(keys8, uint8_t)
DEFINE_KEYSORT(keys16, uint16_t)
DEFINE_KEYSORT(keys32, uint32_t)
DEFINE_KEYSORT(keys64, uint64_t)

#define SORT_KEYS(NAME)                                                                       \
  {                                                                                           \
    NAME##_tokeys((void *)run.p, n, isfloat, issigned);                                       \
    NAME##_sort((void *)run.p, (void *)buf, count, n);                                        \
    numbers = n - (isfloat ? NAME##_nans((void *)run.p, n) : 0);                              \
    if (descending) {                                                                         \
      run.n = numbers;                                                                        \
      shmlua_vec_reverse(&run);                                                               \
      run.n = n;                                                                              \
    }                                                                                         \
    NAME##_fromkeys((void *)run.p, n, isfloat, issigned);                                     \
    break;                                                                                    \
  }

int shmlua_vec_contiguous(const shmlua_vec *v) {
  return v->stride == (ptrdiff_t)shmlua_dtype_sizes[v->type];
}

size_t shmlua_vec_sort_scratch(const shmlua_vec *v) {
  size_t run = v->n * shmlua_dtype_sizes[v->type];
  return RADIX_PASSES_MAX * RADIX_BUCKETS * sizeof(size_t) + run +
         (shmlua_vec_contiguous(v) ? 0 : run);
}

void shmlua_vec_sort(const shmlua_vec *v, int descending, void *scratch) {
  size_t size = shmlua_dtype_sizes[v->type], n = v->n, numbers;
  size_t *count = scratch;
  unsigned char *buf = (unsigned char *)scratch +
                       RADIX_PASSES_MAX * RADIX_BUCKETS * sizeof *count;
  shmlua_vec run = {v->p, (ptrdiff_t)size, n, v->type};
  int isfloat = shmlua_dtype_isfloat(v->type);
  int issigned = v->type == SHMLUA_INT8 || v->type == SHMLUA_INT16 ||
                 v->type == SHMLUA_INT32 || v->type == SHMLUA_INT64 ||
                 v->type == SHMLUA_UINT64;
  if (n < 2)
    return;
  if (!shmlua_vec_contiguous(v)) {
    run.p = buf + n * size;
    shmlua_vec_copy(&run, v);
  }
  switch (size) {
  case 1:
    SORT_KEYS(keys8)
  case 2:
    SORT_KEYS(keys16)
  case 4:
    SORT_KEYS(keys32)
  default:
    SORT_KEYS(keys64)
  }
  if (run.p != v->p)
    shmlua_vec_copy(v, &run);
}

#define SWAP_ENDS(T)                                                                          \
  for (size_t k = 0, m = v->n - 1; k < m; k++, m--) {                                         \
    T t = ELEM(T, v, k);                                                                      \
    ELEM(T, v, k) = ELEM(T, v, m);                                                            \
    ELEM(T, v, m) = t;                                                                        \
  }                                                                                           \
  break;

void shmlua_vec_reverse(const shmlua_vec *v) {
  if (v->n < 2)
    return;
  BY_TYPE(v->type, SWAP_ENDS)
}

#define COPY_SAME(T)                                                                          \
  for (size_t k = 0; k < d->n; k++)                                                           \
    ELEM(T, d, k) = ELEM(T, src, k);                                                          \
  break;

void shmlua_vec_copy(const shmlua_vec *d, const shmlua_vec *src) {
  if (d->type != src->type) {
    for (size_t k = 0; k < d->n; k++)
      shmlua_num_store(d->type, &ELEM(char, d, k),
                       shmlua_num_load(src->type, &ELEM(char, src, k)));
  } else if (shmlua_vec_contiguous(d) && shmlua_vec_contiguous(src)) {
    if (d->n > 0)
      memcpy(d->p, src->p, d->n * shmlua_dtype_sizes[d->type]);
  } else {
    BY_TYPE(d->type, COPY_SAME)
  }
}
