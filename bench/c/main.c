/* shmlua_cbench OP N [SIZE [ARG...]]: runs one C baseline and prints "ns_per_op check". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cbench.h"

/* SHMLUA_BENCH_CLOCK=cpu: this process's CPU time (single-process loops); else wall time. */
static clockid_t clock_id = CLOCK_MONOTONIC;

int64_t shmlua_cbench_now(void) {
  struct timespec ts;
  clock_gettime(clock_id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void shmlua_cbench_die(const char *what) {
  fprintf(stderr, "shmlua_cbench: %s: %s\n", what, strerror(errno));
  exit(1);
}

unsigned char *shmlua_cbench_shared(size_t size) {
  unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                          0);
  if (p == MAP_FAILED)
    shmlua_cbench_die("mmap");
  memset(p, 0, size);
  return p;
}

static const shmlua_cbench_op *find(const char *name) {
  const shmlua_cbench_op *tables[] = {shmlua_cbench_memory_ops, shmlua_cbench_ipc_ops,
                                      shmlua_cbench_rss_ops,    shmlua_cbench_core_ops,
                                      shmlua_cbench_array_ops,  shmlua_cbench_dict_ops};
  for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
    for (const shmlua_cbench_op *op = tables[t]; op->name; op++)
      if (strcmp(op->name, name) == 0)
        return op;
  return NULL;
}

int main(int argc, char **argv) {
  const shmlua_cbench_op *op = argc >= 3 ? find(argv[1]) : NULL;
  int64_t check = 0;
  double ns;
  const char *clock = getenv("SHMLUA_BENCH_CLOCK");
  if (clock && strcmp(clock, "cpu") == 0)
    clock_id = CLOCK_PROCESS_CPUTIME_ID;
  if (!op) {
    fprintf(stderr, "usage: shmlua_cbench OP N [SIZE [ARG...]] (unknown or missing OP)\n");
    return 2;
  }
  ns = op->run(atol(argv[2]), argc > 3 ? atol(argv[3]) : 0, argv + (argc > 4 ? 4 : argc),
               &check);
  printf("%.3f %lld\n", ns, (long long)check);
  return 0;
}
