/* Fuzz target: the whole-array kernels (src/core/arrayops.c) on any bytes, any dtype and any
   view of them (forwards, backwards, strided), as a:view(i, j, step) makes. Besides what ASan
   and UBSan see (every access inside the buffer, no overflow), it checks: positions found are
   in the view and hold what was asked; an update that fails writes nothing; a sort leaves
   the view ordered and every element still there; reverse twice is the identity. Large runs
   go through several memory streams (arrayops.c): sums, counts, dot products and updates are
   checked against plain loops (element by element, in long double for float sums). */
#include <math.h>
#include <stdint.h>

#include "arrayops.h"
#include "require.h"

/* The bytes after the 8-byte header, as elements of t viewed with the header's step. */
typedef struct setup {
  shmlua_vec v, other;
  shmlua_num s, hi;
  shmlua_update op;
  int descending;
} setup;

static shmlua_num scalar(const unsigned char *p, int isint) {
  shmlua_num x = {isint, 0, 0};
  int64_t i;
  memcpy(&i, p, sizeof i);
  if (isint)
    x.i = i % 1000; /* small, so that narrow dtypes sometimes fit */
  else
    x.f = (double)(i % 2000) / 8;
  return x;
}

static int setup_from(const unsigned char *data, size_t size, unsigned char *buf,
                      unsigned char *buf2, setup *s) {
  shmlua_dtype t = (shmlua_dtype)(data[0] % 10);
  size_t esize = shmlua_dtype_sizes[t], count = (size - 8) / esize, magnitude, n;
  int step = (int8_t)data[1];
  if (count == 0)
    return 0;
  if (step == 0)
    step = 1;
  magnitude = (size_t)(step < 0 ? -step : step);
  if (magnitude > count)
    magnitude = count;
  n = (count - 1) / magnitude + 1;
  memcpy(buf, data + 8, count * esize);
  memcpy(buf2, data + 8, count * esize);
  s->v.type = s->other.type = t;
  s->v.n = s->other.n = n;
  s->v.stride = (ptrdiff_t)esize * (step < 0 ? -(ptrdiff_t)magnitude : (ptrdiff_t)magnitude);
  s->v.p = buf + (step < 0 ? (n - 1) * magnitude * esize : 0);
  s->other.stride = (ptrdiff_t)esize; /* another buffer: never overlaps */
  s->other.p = buf2;
  s->op = (shmlua_update)(data[2] % 9);
  s->s = scalar(data, data[3] & 1);
  s->hi = scalar(data + 1, data[3] & 2);
  s->descending = data[3] & 4;
  if (s->op == SHMLUA_CLAMP) { /* the binding's rule: bounds of the dtype, lo <= hi */
    uint64_t lo, hi;
    if (shmlua_num_store(t, &lo, s->s) || shmlua_num_store(t, &hi, s->hi))
      return 0;
    s->s = shmlua_num_load(t, &lo);
    s->hi = shmlua_num_load(t, &hi);
    if (s->s.isint ? s->s.i > s->hi.i : !(s->s.f <= s->hi.f))
      return 0;
  }
  return 1;
}

static shmlua_num at(const shmlua_vec *v, size_t k) {
  return shmlua_num_load(v->type, v->p + (ptrdiff_t)k * v->stride);
}

static int isnan_num(shmlua_num x) {
  return !x.isint && isnan(x.f);
}

/* shmlua_vec_extreme's rule in one plain loop: the first NaN, else the first extreme. */
static size_t first_extreme(const shmlua_vec *v, int max) {
  size_t best = 0;
  for (size_t k = 0; k < v->n; k++) {
    shmlua_num x = at(v, k), b = at(v, best);
    if (isnan_num(b))
      return best;
    if (isnan_num(x))
      return k;
    if (x.isint ? (max ? x.i > b.i : x.i < b.i) : (max ? x.f > b.f : x.f < b.f))
      best = k;
  }
  return best;
}

/* Whether a float sum is within depth roundings of the exact one (in long double), the sum
   of the addends' magnitudes given: a pairwise sum of n has depth log2(n) + 2, a running sum
   n + 2. Skipped if that magnitude is not finite (there the order decides). */
static int close_to_exact(double got, long double exact, long double magnitude, double depth) {
  if (!isfinite((double)magnitude))
    return 1;
  return fabsl((long double)got - exact) <= depth * 0x1p-52 * magnitude;
}

/* The plain loops the streamed kernels must agree with. */
static void reductions_plain(const shmlua_vec *v, const shmlua_vec *other) {
  shmlua_num sum = shmlua_vec_sum(v), dot = shmlua_vec_dot(v, other), e = at(v, v->n / 2);
  uint64_t isum = 0, idot = 0;
  long double fsum = 0, fdot = 0, fabs_sum = 0, fabs_dot = 0;
  size_t equal = 0;
  for (size_t k = 0; k < v->n; k++) {
    shmlua_num x = at(v, k), y = at(other, k);
    if (x.isint) {
      isum += (uint64_t)x.i;
      idot += (uint64_t)x.i * (uint64_t)y.i;
      equal += x.i == e.i;
    } else {
      fsum += x.f;
      fabs_sum += fabsl((long double)x.f);
      fdot += (long double)x.f * y.f;
      fabs_dot += fabsl((long double)x.f * y.f);
      equal += x.f == e.f;
    }
  }
  REQUIRE(shmlua_vec_count(v, v->p + (ptrdiff_t)(v->n / 2) * v->stride) == equal);
  if (sum.isint) {
    REQUIRE((uint64_t)sum.i == isum);
    REQUIRE((uint64_t)dot.i == idot);
  } else {
    REQUIRE(close_to_exact(sum.f, fsum, fabs_sum, log2((double)v->n + 1) + 2));
    /* pairwise for float64 views in one piece, else a running sum */
    REQUIRE(close_to_exact(dot.f, fdot, fabs_dot, (double)v->n + 2));
  }
}

static void reductions(const shmlua_vec *v, const shmlua_vec *other) {
  shmlua_num x;
  size_t k;
  reductions_plain(v, other);
  shmlua_vec_mean(v);
  for (int max = 0; max < 2; max++) {
    k = shmlua_vec_extreme(v, max, &x);
    REQUIRE(k == first_extreme(v, max));
  }
  x = at(v, v->n / 2);
  k = shmlua_vec_find(v, v->p + (ptrdiff_t)(v->n / 2) * v->stride);
  REQUIRE(k <= v->n / 2 || isnan_num(x));
  REQUIRE(shmlua_vec_search(v, x) <= v->n);
}

/* An update of the whole view (done: the buffer after it) equals the same update of each
   element alone (a view of one, in the buffer before it); NaNs may differ in their bits. */
static void updated_as_one_by_one(const setup *s, const shmlua_operands *o,
                                  unsigned char *before, const unsigned char *done) {
  size_t bad, esize = shmlua_dtype_sizes[s->v.type];
  shmlua_num badval;
  for (size_t k = 0; k < s->v.n; k++) {
    ptrdiff_t at_k = (s->v.p - done) + (ptrdiff_t)k * s->v.stride;
    shmlua_vec d = {before + at_k, s->v.stride, 1, s->v.type};
    shmlua_vec x = {s->other.p + (ptrdiff_t)k * s->other.stride, s->other.stride, 1,
                    s->other.type};
    shmlua_operands one = {o->x ? &x : NULL, o->s, o->hi};
    REQUIRE(shmlua_vec_update(&d, s->op, &one, &bad, &badval) == SHMLUA_STORE_OK);
    REQUIRE(memcmp(before + at_k, done + at_k, esize) == 0 ||
            (isnan_num(at(&d, 0)) && isnan_num(shmlua_num_load(s->v.type, done + at_k))));
  }
}

/* Element order as sort leaves it, on the int64/double Lua reads: NaN last. */
static int ordered(shmlua_num a, shmlua_num b) {
  if (isnan_num(b))
    return 1;
  if (isnan_num(a))
    return 0;
  if (a.isint)
    return a.i <= b.i;
  return a.f <= b.f;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  setup s;
  size_t bad;
  shmlua_num badval, sum0;
  unsigned char *buf, *buf2, *before, *scratch;
  if (size < 9)
    return 0;
  buf = fuzz_block(data, size);
  buf2 = fuzz_block(data, size);
  before = fuzz_block(data, size);
  if (!setup_from(data, size, buf, buf2, &s))
    goto done;
  reductions(&s.v, &s.other);

  memcpy(before, buf, size);
  shmlua_operands o = {(data[3] & 8) ? &s.other : NULL, s.s, s.hi};
  if (s.op == SHMLUA_AXPY)
    o.x = &s.other;
  if (shmlua_vec_update(&s.v, s.op, &o, &bad, &badval) != SHMLUA_STORE_OK) {
    REQUIRE(bad < s.v.n);
    REQUIRE(memcmp(before, buf, size) == 0); /* a failure writes nothing */
  } else if (s.op != SHMLUA_CUMSUM && s.op != SHMLUA_ARANGE) {
    updated_as_one_by_one(&s, &o, before, buf);
  }

  memcpy(before, buf, size);
  shmlua_vec_reverse(&s.v);
  shmlua_vec_reverse(&s.v);
  REQUIRE(memcmp(before, buf, size) == 0);

  sum0 = shmlua_vec_sum(&s.v);
  scratch = malloc(shmlua_vec_sort_scratch(&s.v));
  REQUIRE(scratch != NULL);
  shmlua_vec_sort(&s.v, s.descending, scratch);
  free(scratch);
  for (size_t k = 1; k < s.v.n; k++) {
    shmlua_num a = at(&s.v, k - 1), b = at(&s.v, k);
    REQUIRE(s.descending ? isnan_num(b) || (!isnan_num(a) && ordered(b, a)) : ordered(a, b));
  }
  if (sum0.isint) /* the same elements: the same wrapped sum */
    REQUIRE(shmlua_vec_sum(&s.v).i == sum0.i);
done:
  free(buf);
  free(buf2);
  free(before);
  return 0;
}
