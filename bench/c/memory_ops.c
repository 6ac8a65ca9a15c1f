/* C floor of the block operations: create/attach with raw system calls, element loops,
   bulk copies with memcpy. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbench.h"

enum { SMALL = 4096, PATTERN = 251, SAMPLE_STRIDE = 4093 };

static void make_name(char *out, size_t len, long i) {
  snprintf(out, len, "/cbench_%d_%ld", (int)getpid(), i);
}

static unsigned char *map_fd(int fd, size_t size) {
  unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    shmlua_cbench_die("mmap");
  return p;
}

/* Sizes a new object: as shmlua does (exact mode, storage reserved, or with reserve = false
   not) or as Python does (ftruncate, which reserves nothing). */
static int size_full(int fd, long size) {
  return fchmod(fd, 0600) == 0 && posix_fallocate(fd, 0, size) == 0;
}

static int size_lazy(int fd, long size) {
  return fchmod(fd, 0600) == 0 && ftruncate(fd, size) == 0;
}

static int size_bare(int fd, long size) {
  return ftruncate(fd, size) == 0;
}

/* create + close + unlink of a block of size bytes, n times. */
static double create_loop(long n, long size, int (*size_object)(int fd, long size),
                          int64_t *check) {
  char name[64];
  int64_t t0 = shmlua_cbench_now();
  for (long i = 0; i < n; i++) {
    make_name(name, sizeof name, i);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 || !size_object(fd, size))
      shmlua_cbench_die("create");
    unsigned char *p = map_fd(fd, (size_t)size);
    close(fd);
    *check += p[0] == 0;
    munmap(p, (size_t)size);
    if (shm_unlink(name) != 0)
      shmlua_cbench_die("shm_unlink");
  }
  return (double)(shmlua_cbench_now() - t0) / (double)n;
}

static double create_full(long n, long size, char **args, int64_t *check) {
  (void)size, (void)args;
  return create_loop(n, SMALL, size_full, check);
}

static double create_bare(long n, long size, char **args, int64_t *check) {
  (void)size, (void)args;
  return create_loop(n, SMALL, size_bare, check);
}

static double create_lazy(long n, long size, char **args, int64_t *check) {
  (void)args;
  return create_loop(n, size, size_lazy, check);
}

static double attach(long n, long size, char **args, int64_t *check) {
  char name[64];
  int fd;
  int64_t t0;
  (void)size, (void)args;
  make_name(name, sizeof name, -1);
  fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 || ftruncate(fd, SMALL) != 0)
    shmlua_cbench_die("create");
  map_fd(fd, SMALL)[0] = 1;
  close(fd);
  t0 = shmlua_cbench_now();
  for (long i = 0; i < n; i++) {
    struct stat st;
    fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0 || fstat(fd, &st) != 0)
      shmlua_cbench_die("attach");
    unsigned char *p = map_fd(fd, (size_t)st.st_size);
    close(fd);
    *check += p[0];
    munmap(p, (size_t)st.st_size);
  }
  t0 = shmlua_cbench_now() - t0;
  shm_unlink(name);
  return (double)t0 / (double)n;
}

/* Element loops over n elements of type T, summed in S, as the Lua and Python sides run
   them: read sums elements set to INIT (of 0-based k) first; write stores VALUE (of 1-based
   i), then sums what it wrote. The sum is the check. The compiler vectorises these loops:
   the C column of the element rows is for scale only. */
#define ELEMENT_LOOPS(NAME, T, S, INIT, VALUE)                                                \
  static double NAME##_read(long n, long size, char **args, int64_t *check) {                 \
    T *a = (T *)shmlua_cbench_shared((size_t)n * sizeof(T));                                  \
    S sum = 0;                                                                                \
    int64_t t0;                                                                               \
    (void)size, (void)args;                                                                   \
    for (long k = 0; k < n; k++)                                                              \
      a[k] = (T)(INIT);                                                                       \
    t0 = shmlua_cbench_now();                                                                 \
    for (long k = 0; k < n; k++)                                                              \
      sum += a[k];                                                                            \
    t0 = shmlua_cbench_now() - t0;                                                            \
    *check = (int64_t)sum;                                                                    \
    return (double)t0 / (double)n;                                                            \
  }                                                                                           \
  static double NAME##_write(long n, long size, char **args, int64_t *check) {                \
    T *a = (T *)shmlua_cbench_shared((size_t)n * sizeof(T));                                  \
    S sum = 0;                                                                                \
    int64_t t0;                                                                               \
    (void)size, (void)args;                                                                   \
    t0 = shmlua_cbench_now();                                                                 \
    for (long i = 1; i <= n; i++)                                                             \
      a[i - 1] = (T)(VALUE);                                                                  \
    t0 = shmlua_cbench_now() - t0;                                                            \
    for (long k = 0; k < n; k++)                                                              \
      sum += a[k];                                                                            \
    *check = (int64_t)sum;                                                                    \
    return (double)t0 / (double)n;                                                            \
  }

/* The scalar floor of LuaJIT's rows (bench/jit.lua) adds as a Lua number does: in doubles. */
#ifdef SHMLUA_CBENCH_DOUBLE_SUMS
#define SUM_OF(T) double
#else
#define SUM_OF(T) T
#endif
ELEMENT_LOOPS(byte, unsigned char, SUM_OF(uint64_t), k % PATTERN, i & 255)
ELEMENT_LOOPS(i64, int64_t, SUM_OF(int64_t), k + 1, i)
ELEMENT_LOOPS(f64, double, double, k + 1, i)

/* The bulk operations move `size` bytes laid out as byte k = k % 251, and are checked by
   summing the bytes at every 4093rd offset (a stride that crosses pages and the pattern). */
static unsigned char *pattern(size_t size) {
  unsigned char *p = malloc(size);
  if (!p)
    shmlua_cbench_die("malloc");
  for (size_t k = 0; k < size; k++)
    p[k] = (unsigned char)(k % PATTERN);
  return p;
}

static int64_t sample(const unsigned char *p, size_t size) {
  int64_t sum = 0;
  for (size_t k = 0; k < size; k += SAMPLE_STRIDE)
    sum += p[k];
  return sum;
}

static double bulk_write(long n, long size, char **args, int64_t *check) {
  unsigned char *src = pattern((size_t)size), *dst = shmlua_cbench_shared((size_t)size);
  int64_t t0 = shmlua_cbench_now();
  (void)args;
  for (long i = 0; i < n; i++)
    memcpy(dst, src, (size_t)size);
  t0 = shmlua_cbench_now() - t0;
  *check = sample(dst, (size_t)size);
  free(src);
  return (double)t0 / (double)n;
}

/* Reading back as a string: a fresh allocation filled from the block, as Lua and Python do. */
static double bulk_read(long n, long size, char **args, int64_t *check) {
  unsigned char *src = shmlua_cbench_shared((size_t)size), *copy;
  int64_t spent = 0;
  (void)args;
  memcpy(src, copy = pattern((size_t)size), (size_t)size);
  free(copy);
  for (long i = 0; i < n; i++) {
    int64_t t0 = shmlua_cbench_now();
    copy = malloc((size_t)size);
    if (!copy)
      shmlua_cbench_die("malloc");
    memcpy(copy, src, (size_t)size);
    spent += shmlua_cbench_now() - t0;
    *check = sample(copy, (size_t)size);
    free(copy);
  }
  return (double)spent / (double)n;
}

static double bulk_copy(long n, long size, char **args, int64_t *check) {
  unsigned char *src = shmlua_cbench_shared((size_t)size),
                *dst = shmlua_cbench_shared((size_t)size);
  unsigned char *init = pattern((size_t)size);
  int64_t t0;
  (void)args;
  memcpy(src, init, (size_t)size);
  free(init);
  t0 = shmlua_cbench_now();
  for (long i = 0; i < n; i++)
    memcpy(dst, src, (size_t)size);
  t0 = shmlua_cbench_now() - t0;
  *check = sample(dst, (size_t)size);
  return (double)t0 / (double)n;
}

const shmlua_cbench_op shmlua_cbench_memory_ops[] = {
    {"create", create_full},      {"create_bare", create_bare},
    {"create_lazy", create_lazy}, {"attach", attach},
    {"byte_read", byte_read},     {"byte_write", byte_write},
    {"i64_read", i64_read},       {"i64_write", i64_write},
    {"f64_read", f64_read},       {"f64_write", f64_write},
    {"bulk_write", bulk_write},   {"bulk_read", bulk_read},
    {"bulk_copy", bulk_copy},     {NULL, NULL}};
