/* The C floor of bench/: each operation written with raw system calls, memcpy, futex and
   pipe, timed the way the Lua and Python versions are (bench/driver.lua says how). */
#ifndef SHMLUA_CBENCH_H
#define SHMLUA_CBENCH_H

#include <stddef.h>
#include <stdint.h>

/* One operation: runs n times (size: bytes, for the operations that move data; args: the
   rest of the command line, NULL-terminated, such as a program to start), returns
   nanoseconds per operation and sets *check to the value the driver verifies. */
typedef double (*shmlua_cbench_fn)(long n, long size, char **args, int64_t *check);

typedef struct shmlua_cbench_op {
  const char *name;
  shmlua_cbench_fn run;
} shmlua_cbench_op;

extern const shmlua_cbench_op shmlua_cbench_memory_ops[];
extern const shmlua_cbench_op shmlua_cbench_ipc_ops[];
extern const shmlua_cbench_op shmlua_cbench_rss_ops[];
extern const shmlua_cbench_op shmlua_cbench_core_ops[];
extern const shmlua_cbench_op shmlua_cbench_array_ops[];
extern const shmlua_cbench_op shmlua_cbench_dict_ops[];

/* Monotonic nanoseconds. */
int64_t shmlua_cbench_now(void);

/* Prints the failing call with errno's text and exits 1. */
void shmlua_cbench_die(const char *what);

/* A fresh shared mapping of size bytes (anonymous, so no name is left behind), prefaulted. */
unsigned char *shmlua_cbench_shared(size_t size);

#endif
