/* C floor of the whole-array rows: the loop a C programmer writes over n float64 in shared
   memory (and qsort for sorting), timed over the same repetitions as the other sides. The
   data and the checks are the ones bench/ops.lua describes. */
#include <pthread.h>
#include <stdlib.h>

#include "arrayops.h"
#include "cbench.h"

enum { REPS = 5 };

/* a[k] = k + 1 (0-based k), the data of most rows. */
static double *ascending(long n) {
  double *a = (double *)shmlua_cbench_shared((size_t)n * sizeof *a);
  for (long k = 0; k < n; k++)
    a[k] = (double)(k + 1);
  return a;
}

/* The second operand of the two-array rows: all ones. */
static double *ones(long n) {
  double *b = (double *)shmlua_cbench_shared((size_t)n * sizeof *b);
  for (long k = 0; k < n; k++)
    b[k] = 1;
  return b;
}

static double per_element(int64_t t0, long n, int reps) {
  return (double)(shmlua_cbench_now() - t0) / ((double)n * reps);
}

static double arr_sum(long n, long size, char **args, int64_t *check) {
  double *a = ascending(n), s = 0;
  (void)size, (void)args;
  int64_t t0 = shmlua_cbench_now();
  for (int r = 0; r < REPS; r++) {
    s = 0;
    for (long k = 0; k < n; k++)
      s += a[k];
  }
  double ns = per_element(t0, n, REPS);
  *check = (int64_t)s;
  return ns;
}

/* The floor of the parallel rows: the core's own sum (the kernel behind a:sum(), which
   streams several parts of the run at once and so reads at about the memory's speed) on one
   thread, and on two threads that each sum a half of the same mapped block. Their ratio is
   what two cores can gain when one core already keeps the memory busy (0.7-0.9 on the 2-vCPU
   VM of docs/performance.md, where arithmetic alone scales to 0.51). */
typedef struct {
  shmlua_vec run;
  double sum;
} half_sum;

static void *core_sum(void *arg) {
  half_sum *h = arg;
  h->sum = shmlua_vec_sum(&h->run).f;
  return NULL;
}

static half_sum part_of(double *a, long first, long count) {
  half_sum h = {{(unsigned char *)(a + first), sizeof *a, (size_t)count, SHMLUA_FLOAT64}, 0};
  return h;
}

static double arr_sum_core(long n, long size, char **args, int64_t *check) {
  half_sum all = part_of(ascending(n), 0, n);
  (void)size, (void)args;
  int64_t t0 = shmlua_cbench_now();
  for (int r = 0; r < REPS; r++)
    core_sum(&all);
  double ns = per_element(t0, n, REPS);
  *check = (int64_t)all.sum;
  return ns;
}

static double arr_sum_2threads(long n, long size, char **args, int64_t *check) {
  double *a = ascending(n);
  half_sum halves[2] = {part_of(a, 0, n / 2), part_of(a, n / 2, n - n / 2)};
  pthread_t second;
  (void)size, (void)args;
  int64_t t0 = shmlua_cbench_now();
  for (int r = 0; r < REPS; r++) {
    if (pthread_create(&second, NULL, core_sum, &halves[1]) != 0)
      abort();
    core_sum(&halves[0]);
    pthread_join(second, NULL);
  }
  double ns = per_element(t0, n, REPS);
  *check = (int64_t)(halves[0].sum + halves[1].sum);
  return ns;
}

/* Every other element: n / 2 of them. */
static double arr_sum_step2(long n, long size, char **args, int64_t *check) {
  double *a = ascending(n), s = 0;
  (void)size, (void)args;
  int64_t t0 = shmlua_cbench_now();
  for (int r = 0; r < REPS; r++) {
    s = 0;
    for (long k = 0; k < n; k += 2)
      s += a[k];
  }
  double ns = per_element(t0, n / 2, REPS);
  *check = (int64_t)s;
  return ns;
}

static double arr_dot(long n, long size, char **args, int64_t *check) {
  double *a = ascending(n), *b = ones(n), s = 0;
  (void)size, (void)args;
  int64_t t0 = shmlua_cbench_now();
  for (int r = 0; r < REPS; r++) {
    s = 0;
    for (long k = 0; k < n; k++)
      s += a[k] * b[k];
  }
  double ns = per_element(t0, n, REPS);
  *check = (int64_t)s;
  return ns;
}

/* The smallest element and its position: a[k] = |k - n/3|. */
static double arr_argmin(long n, long size, char **args, int64_t *check) {
  double *a = (double *)shmlua_cbench_shared((size_t)n * sizeof *a);
  long pos = 0;
  (void)size, (void)args;
  for (long k = 0; k < n; k++)
    a[k] = (double)labs(k - n / 3);
  int64_t t0 = shmlua_cbench_now();
  for (int r = 0; r < REPS; r++) {
    double best = a[0];
    pos = 0;
    for (long k = 1; k < n; k++)
      if (a[k] < best) {
        best = a[k];
        pos = k;
      }
  }
  double ns = per_element(t0, n, REPS);
  *check = pos + 1;
  return ns;
}

static int64_t checksum(const double *a, long n) {
  double s = 0;
  for (long k = 0; k < n; k++)
    s += a[k];
  return (int64_t)s;
}

/* a += b, REPS times, b all ones. */
static double arr_add(long n, long size, char **args, int64_t *check) {
  double *a = ascending(n), *b = ones(n);
  (void)size, (void)args;
  int64_t t0 = shmlua_cbench_now();
  for (int r = 0; r < REPS; r++)
    for (long k = 0; k < n; k++)
      a[k] += b[k];
  double ns = per_element(t0, n, REPS);
  *check = checksum(a, n);
  return ns;
}

/* In place over all ones (refilled, untimed, before each repetition): a[k] = k + 1. */
static double arr_cumsum(long n, long size, char **args, int64_t *check) {
  double *a = (double *)shmlua_cbench_shared((size_t)n * sizeof *a);
  int64_t spent = 0;
  (void)size, (void)args;
  for (int r = 0; r < REPS; r++) {
    for (long k = 0; k < n; k++)
      a[k] = 1;
    int64_t t0 = shmlua_cbench_now();
    double s = 0;
    for (long k = 0; k < n; k++)
      a[k] = s += a[k];
    spent += shmlua_cbench_now() - t0;
  }
  *check = checksum(a, n);
  return (double)spent / ((double)n * REPS);
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* A permutation of 0..n-1 (k * 7919 mod n), sorted once. */
static double arr_sort(long n, long size, char **args, int64_t *check) {
  double *a = (double *)shmlua_cbench_shared((size_t)n * sizeof *a);
  (void)size, (void)args;
  for (long k = 0; k < n; k++)
    a[k] = (double)(k * 7919 % n);
  int64_t t0 = shmlua_cbench_now();
  qsort(a, (size_t)n, sizeof *a, by_value);
  double ns = per_element(t0, n, 1);
  *check = (int64_t)(a[n - 1] + a[n / 2]);
  return ns;
}

const shmlua_cbench_op shmlua_cbench_array_ops[] = {{"arr_sum", arr_sum},
                                                    {"arr_sum_step2", arr_sum_step2},
                                                    {"arr_dot", arr_dot},
                                                    {"arr_argmin", arr_argmin},
                                                    {"arr_add", arr_add},
                                                    {"arr_cumsum", arr_cumsum},
                                                    {"arr_sort", arr_sort},
                                                    {"arr_sum_core", arr_sum_core},
                                                    {"arr_sum_2threads", arr_sum_2threads},
                                                    {NULL, NULL}};
