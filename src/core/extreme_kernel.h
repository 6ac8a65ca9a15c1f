/* The smallest or largest element of one block of a run (a piece of shmlua_vec_extreme,
   arrayops.c), written once and compiled twice: with IEEE rules in arrayops.c (integers, and
   float blocks holding infinities), and in extreme_finite.c for float blocks known to be
   finite, where the compiler may treat x < m ? x : m as a min instruction and vectorise it.
   Private to those two files; nothing in it can fail. */
#ifndef SHMLUA_EXTREME_KERNEL_H
#define SHMLUA_EXTREME_KERNEL_H

#include <stddef.h>

/* A cache line of independent lanes: the loop over them is element-wise, which the compiler
   vectorises where one running extreme (a reduction) is not; for 64-bit integers (no vector
   compare before SSE4.2) they at least break the dependency chain. */
#define EXTREME_LANES(T) (64 / (int)sizeof(T))

/* One pass of the lanes over the n - n % lanes first elements, element k at AT(k). */
#define EXTREME_LANES_PASS(T, K, KEY, AT, BETTER)                                             \
  for (; k + EXTREME_LANES(T) <= n; k += EXTREME_LANES(T))                                    \
    for (int j = 0; j < EXTREME_LANES(T); j++) {                                              \
      K x = KEY(AT(k + j));                                                                   \
      m[j] = BETTER(x, m[j]) ? x : m[j];                                                      \
    }

#define EXTREME_UNIT(k) p[k]
#define EXTREME_STRIDED(k) p[(ptrdiff_t)(k)*step]
#define EXTREME_LESS(a, b) ((a) < (b))
#define EXTREME_GREATER(a, b) ((a) > (b))

/* K NAME(const T *p, ptrdiff_t step, size_t n, int max): the extreme of n > 0 elements of
   type T, step elements apart (no NaN among them), as the key KEY(x) of type K that it
   compares with < and >: an order-keeping map onto a type the vector unit may compare
   faster (EXTREME_SAME: the element itself). */
#define EXTREME_SAME(x) (x)
#define DEFINE_EXTREME_KERNEL(LINKAGE, NAME, T, K, KEY)                                       \
  LINKAGE K NAME(const T *p, ptrdiff_t step, size_t n, int max) {                             \
    K m[EXTREME_LANES(T)], r;                                                                 \
    size_t k = 0;                                                                             \
    for (int j = 0; j < EXTREME_LANES(T); j++)                                                \
      m[j] = KEY(p[0]);                                                                       \
    if (step == 1 && max)                                                                     \
      EXTREME_LANES_PASS(T, K, KEY, EXTREME_UNIT, EXTREME_GREATER)                            \
    else if (step == 1)                                                                       \
      EXTREME_LANES_PASS(T, K, KEY, EXTREME_UNIT, EXTREME_LESS)                               \
    else if (max)                                                                             \
      EXTREME_LANES_PASS(T, K, KEY, EXTREME_STRIDED, EXTREME_GREATER)                         \
    else                                                                                      \
      EXTREME_LANES_PASS(T, K, KEY, EXTREME_STRIDED, EXTREME_LESS)                            \
    for (int w = EXTREME_LANES(T) / 2; w > 0; w /= 2) /* halving: vectorises too */           \
      for (int j = 0; j < w; j++)                                                             \
        m[j] = (max ? m[j + w] > m[j] : m[j + w] < m[j]) ? m[j + w] : m[j];                   \
    r = m[0];                                                                                 \
    for (; k < n; k++) {                                                                      \
      K x = KEY(EXTREME_STRIDED(k));                                                          \
      r = (max ? x > r : x < r) ? x : r;                                                      \
    }                                                                                         \
    return r;                                                                                 \
  }

/* extreme_finite.c: for blocks with neither NaN nor infinity only. */
float shmlua_extreme_finite32(const float *p, ptrdiff_t step, size_t n, int max);
double shmlua_extreme_finite64(const double *p, ptrdiff_t step, size_t n, int max);

#endif
