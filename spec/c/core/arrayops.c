/* Whole-array kernels (arrayops.c) on small arrays: Lua's arithmetic (integers wrap, floats
   where Lua gives floats), NaN as NumPy treats it, views with a stride (every other
   element, backwards), and updates that write nothing when one result does not fit. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "arrayops.h"
#include "check.h"

static shmlua_vec vec(void *p, shmlua_dtype t, size_t n) {
  shmlua_vec v = {p, (ptrdiff_t)shmlua_dtype_sizes[t], n, t};
  return v;
}

/* Every other element of p, or (backwards) from the last to the first. */
static shmlua_vec every_other(void *p, shmlua_dtype t, size_t n) {
  shmlua_vec v = {p, 2 * (ptrdiff_t)shmlua_dtype_sizes[t], (n + 1) / 2, t};
  return v;
}

static shmlua_vec backwards(void *p, shmlua_dtype t, size_t n) {
  shmlua_vec v = {(unsigned char *)p + (n - 1) * shmlua_dtype_sizes[t],
                  -(ptrdiff_t)shmlua_dtype_sizes[t], n, t};
  return v;
}

/* Lua numbers: an integer, a float. */
#define INTEGER(i) ((shmlua_num){1, (i), 0})
#define FLOAT(f) ((shmlua_num){0, 0, (f)})

static void conversions(void) {
  int8_t i8 = 5;
  uint64_t u64 = 0;
  float f32 = 0;
  CHECK_INT(shmlua_num_store(SHMLUA_INT8, &i8, INTEGER(128)), SHMLUA_STORE_OUT_OF_RANGE);
  CHECK_INT(shmlua_num_store(SHMLUA_INT8, &i8, FLOAT(1.5)), SHMLUA_STORE_NOT_INTEGRAL);
  CHECK_INT(shmlua_num_store(SHMLUA_INT8, &i8, FLOAT(NAN)), SHMLUA_STORE_NOT_INTEGRAL);
  CHECK_INT(i8, 5); /* untouched */
  CHECK_INT(shmlua_num_store(SHMLUA_INT8, &i8, FLOAT(-128.0)), SHMLUA_STORE_OK);
  CHECK_INT(i8, -128);
  CHECK_INT(shmlua_num_store(SHMLUA_UINT64, &u64, INTEGER(-1)), SHMLUA_STORE_OK);
  CHECK(u64 == UINT64_MAX);
  CHECK_INT(shmlua_num_load(SHMLUA_UINT64, &u64).i, -1); /* read back as "J" reads */
  CHECK_INT(shmlua_num_store(SHMLUA_FLOAT32, &f32, INTEGER(3)), SHMLUA_STORE_OK);
  CHECK(f32 == 3.0f && !shmlua_num_load(SHMLUA_FLOAT32, &f32).isint);
}

static void reductions(void) {
  int8_t i8[] = {100, 100, 100, -1};
  int64_t i64[] = {INT64_MAX, 1, INT64_MAX};
  double f[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, nan_mid[] = {1, NAN, 0, -5};
  uint64_t u[] = {1, UINT64_MAX, 2};
  shmlua_vec v = vec(i8, SHMLUA_INT8, 4);
  shmlua_num r = shmlua_vec_sum(&v);
  CHECK(r.isint && r.i == 299); /* in int64, not wrapped at 8 bits */
  v = vec(i64, SHMLUA_INT64, 2);
  CHECK_INT(shmlua_vec_sum(&v).i, INT64_MIN); /* wraps as Lua's integers */
  v = vec(i64, SHMLUA_INT64, 3);
  CHECK(shmlua_vec_mean(&v) == ((double)INT64_MAX * 2 + 1) / 3); /* no wrap in the mean */
  v = vec(f, SHMLUA_FLOAT64, 10);
  r = shmlua_vec_sum(&v);
  CHECK(!r.isint && r.f == 55);
  v = every_other(f, SHMLUA_FLOAT64, 10); /* 1 3 5 7 9 */
  CHECK(shmlua_vec_sum(&v).f == 25 && shmlua_vec_mean(&v) == 5);
  v = backwards(f, SHMLUA_FLOAT64, 10);
  CHECK(shmlua_vec_extreme(&v, 1, &r) == 0 && r.f == 10);
  CHECK(shmlua_vec_extreme(&v, 0, &r) == 9 && r.f == 1);
  /* A NaN wins, wherever it is. */
  v = vec(nan_mid, SHMLUA_FLOAT64, 4);
  CHECK(shmlua_vec_extreme(&v, 0, &r) == 1 && isnan(r.f));
  CHECK(shmlua_vec_extreme(&v, 1, &r) == 1 && isnan(r.f));
  CHECK(isnan(shmlua_vec_sum(&v).f));
  v = vec(nan_mid + 1, SHMLUA_FLOAT64, 3);
  CHECK(shmlua_vec_extreme(&v, 1, &r) == 0 && isnan(r.f));
  v = every_other(nan_mid, SHMLUA_FLOAT64, 4); /* 1 0: the NaN stepped over */
  CHECK(shmlua_vec_extreme(&v, 0, &r) == 1 && r.f == 0);
  /* uint64 orders as the int64 Lua reads: all ones is -1. */
  v = vec(u, SHMLUA_UINT64, 3);
  CHECK(shmlua_vec_extreme(&v, 1, &r) == 2 && r.i == 2);
  CHECK(shmlua_vec_extreme(&v, 0, &r) == 1 && r.i == -1);
}

static void dot_count_find_search(void) {
  int32_t a[] = {1, 2, 3, 4};
  double b[] = {0.5, 1, 1.5, 2}, nan2[] = {NAN, 1, NAN, 1}, nan = NAN, one = 1;
  int64_t sorted[] = {1, 2, 2, 3}, two = 2, seven = 7;
  double fsorted[] = {-1, 0.5, NAN};
  shmlua_vec x = vec(a, SHMLUA_INT32, 4), y = vec(b, SHMLUA_FLOAT64, 4), z;
  shmlua_num r = shmlua_vec_dot(&x, &x);
  CHECK(r.isint && r.i == 30);
  r = shmlua_vec_dot(&x, &y);
  CHECK(!r.isint && r.f == 15);
  x = every_other(a, SHMLUA_INT32, 4);
  z = backwards(a, SHMLUA_INT32, 2); /* 2 1 */
  CHECK_INT(shmlua_vec_dot(&x, &z).i, 1 * 2 + 3 * 1);
  z = vec(nan2, SHMLUA_FLOAT64, 4);
  CHECK_INT(shmlua_vec_count(&z, &nan), 0); /* NaN equals nothing */
  CHECK_INT(shmlua_vec_count(&z, &one), 2);
  CHECK_INT(shmlua_vec_find(&z, &one), 1);
  CHECK_INT(shmlua_vec_find(&z, &nan), 4);
  z = vec(sorted, SHMLUA_INT64, 4);
  CHECK_INT(shmlua_vec_count(&z, &two), 2);
  CHECK_INT(shmlua_vec_find(&z, &seven), 4);
  CHECK_INT(shmlua_vec_search(&z, INTEGER(2)), 1);
  CHECK_INT(shmlua_vec_search(&z, FLOAT(2.5)), 3);
  CHECK_INT(shmlua_vec_search(&z, INTEGER(0)), 0);
  CHECK_INT(shmlua_vec_search(&z, INTEGER(9)), 4);
  CHECK_INT(shmlua_vec_search(&z, FLOAT(NAN)), 4);
  z = vec(fsorted, SHMLUA_FLOAT64, 3);
  CHECK_INT(shmlua_vec_search(&z, FLOAT(NAN)), 2); /* before the NaN, sorted last */
  CHECK_INT(shmlua_vec_search(&z, INTEGER(1)), 2);
}

static void updates(void) {
  int8_t small[] = {1, 2, 120, 4};
  int32_t even[] = {4, 6, 3, 8};
  int64_t big[] = {INT64_MIN, -3, 5}, arange[4];
  double d[] = {1, NAN, 5, -7}, x[] = {10, 20, 30, 40, 50, 60, 70, 80};
  shmlua_operands o = {NULL, INTEGER(10), INTEGER(0)};
  shmlua_vec v = vec(small, SHMLUA_INT8, 4), xv;
  shmlua_num badval;
  size_t bad = 99;
  /* 120 + 10 does not fit an int8: nothing written, and which one says so. */
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_ADD, &o, &bad, &badval), SHMLUA_STORE_OUT_OF_RANGE);
  CHECK(bad == 2 && badval.isint && badval.i == 130);
  CHECK(small[0] == 1 && small[1] == 2 && small[2] == 120 && small[3] == 4);
  /* Lua's / gives floats: fine while integral, refused at 3 / 2. */
  v = every_other(even, SHMLUA_INT32, 4); /* 4 3 */
  o.s = INTEGER(2);
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_DIV, &o, &bad, &badval), SHMLUA_STORE_NOT_INTEGRAL);
  CHECK(bad == 1 && !badval.isint && badval.f == 1.5);
  v = vec(even, SHMLUA_INT32, 2);
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_DIV, &o, &bad, &badval), SHMLUA_STORE_OK);
  CHECK(even[0] == 2 && even[1] == 3 && even[2] == 3 && even[3] == 8);
  /* abs: the most negative int64 stays itself (math.abs); integer ops wrap. */
  v = vec(big, SHMLUA_INT64, 3);
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_ABS, &o, &bad, &badval), SHMLUA_STORE_OK);
  CHECK(big[0] == INT64_MIN && big[1] == 3 && big[2] == 5);
  o.s = INTEGER(-1);
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_ADD, &o, &bad, &badval), SHMLUA_STORE_OK);
  CHECK(big[0] == INT64_MAX && big[1] == 2);
  /* clamp leaves a NaN; axpy with a strided operand; cumsum; arange. */
  v = vec(d, SHMLUA_FLOAT64, 4);
  o.s = INTEGER(0);
  o.hi = FLOAT(2.5);
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_CLAMP, &o, &bad, &badval), SHMLUA_STORE_OK);
  CHECK(d[0] == 1 && isnan(d[1]) && d[2] == 2.5 && d[3] == 0);
  xv = every_other(x, SHMLUA_FLOAT64, 8); /* 10 30 50 70 */
  o.x = &xv;
  o.s = FLOAT(0.5);
  d[1] = 0;
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_AXPY, &o, &bad, &badval), SHMLUA_STORE_OK);
  CHECK(d[0] == 6 && d[1] == 15 && d[2] == 27.5 && d[3] == 35);
  o.x = NULL;
  v = backwards(d, SHMLUA_FLOAT64, 4);
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_CUMSUM, &o, &bad, &badval), SHMLUA_STORE_OK);
  CHECK(d[3] == 35 && d[2] == 62.5 && d[1] == 77.5 && d[0] == 83.5);
  v = vec(arange, SHMLUA_INT64, 4);
  o.s = INTEGER(5);
  o.hi = INTEGER(-2);
  CHECK_INT(shmlua_vec_update(&v, SHMLUA_ARANGE, &o, &bad, &badval), SHMLUA_STORE_OK);
  CHECK(arange[0] == 5 && arange[1] == 3 && arange[2] == 1 && arange[3] == -1);
}

/* Whether v is ascending (descending if desc) with its NaNs, count of them, last. */
static int ordered(const double *p, size_t n, int desc, size_t nans) {
  for (size_t k = 0; k + 1 < n - nans; k++)
    if (desc ? p[k] < p[k + 1] : p[k] > p[k + 1])
      return 0;
  for (size_t k = n - nans; k < n; k++)
    if (!isnan(p[k]))
      return 0;
  return 1;
}

/* Sorts v with scratch of the size it asks for (on the heap: ASan sees any overrun). */
static void sort(shmlua_vec v, int descending) {
  void *scratch = malloc(shmlua_vec_sort_scratch(&v));
  if (!scratch)
    abort();
  shmlua_vec_sort(&v, descending, scratch);
  free(scratch);
}

static void sorting(void) {
  enum { N = 101 }; /* past the insertion sort's 32: the radix passes */
  double small[] = {3, NAN, -1, -0.0, 2, NAN, INFINITY, -INFINITY}, many[N], wide[2 * N];
  int16_t ints[N];
  uint32_t seed = 12345;
  long isum = 0, iafter = 0;
  sort(vec(small, SHMLUA_FLOAT64, 8), 0);
  CHECK(ordered(small, 8, 0, 2) && small[0] == -INFINITY && small[5] == INFINITY);
  sort(vec(small, SHMLUA_FLOAT64, 8), 1);
  CHECK(ordered(small, 8, 1, 2) && small[0] == INFINITY); /* NaNs last either way */
  for (int k = 0; k < N; k++) {
    seed = seed * 1103515245u + 12345u;
    many[k] = (double)(seed >> 8) / 1000.0 - 5000.0;
    ints[k] = (int16_t)(seed >> 12);
    isum += ints[k];
  }
  many[17] = NAN;
  sort(vec(many, SHMLUA_FLOAT64, N), 0);
  CHECK(ordered(many, N, 0, 1));
  sort(vec(ints, SHMLUA_INT16, N), 1);
  for (int k = 0; k < N; k++)
    iafter += ints[k];
  CHECK_INT(iafter, isum); /* the same elements */
  for (int k = 0; k + 1 < N; k++)
    if (!CHECK(ints[k] >= ints[k + 1]))
      break;
  /* A strided view sorts its own elements and leaves the ones between alone. */
  for (int k = 0; k < 2 * N; k++)
    wide[k] = k % 2 ? -1.0 : (double)((k / 2 * 37) % N);
  sort(every_other(wide, SHMLUA_FLOAT64, 2 * N), 0);
  for (int k = 0; k < 2 * N; k++)
    if (!CHECK(wide[k] == (k % 2 ? -1.0 : (double)(k / 2))))
      break;
}

static void reverse_and_copy(void) {
  int32_t a[] = {1, 2, 3, 4, 5};
  double d[5] = {0};
  shmlua_vec v = vec(a, SHMLUA_INT32, 5), w = vec(d, SHMLUA_FLOAT64, 5), odd;
  shmlua_vec_reverse(&v);
  CHECK(a[0] == 5 && a[2] == 3 && a[4] == 1);
  odd = every_other(a, SHMLUA_INT32, 5); /* 5 3 1 */
  shmlua_vec_reverse(&odd);
  CHECK(a[0] == 1 && a[1] == 4 && a[2] == 3 && a[3] == 2 && a[4] == 5);
  shmlua_vec_copy(&w, &v); /* int32 to float64, by value */
  CHECK(d[0] == 1 && d[1] == 4 && d[4] == 5);
  CHECK(shmlua_vec_contiguous(&v) && !shmlua_vec_contiguous(&odd));
}

int main(void) {
  check_test = "arrayops";
  conversions();
  reductions();
  dot_count_find_search();
  updates();
  sorting();
  reverse_and_copy();
  return check_done();
}
