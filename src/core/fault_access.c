/* The element accesses of fault.h where the handler cannot resume a thread at another
   instruction: each is a guarded copy. */
#include "fault.h"

#if !SHMLUA_FAULT_RESUMES
static int access(const shmlua_block *b, void *dst, const void *src, size_t n) {
  shmlua_fault fault;
  if (shmlua_guarded_copy(dst, src, n, b, NULL, &fault) == 0)
    return 0;
  shmlua_fault_address = (uintptr_t)fault.block->addr + fault.offset;
  return -1;
}

#define ACCESS(bytes)                                                                         \
  int shmlua_load##bytes(const shmlua_block *b, const void *at, void *value) {                \
    return access(b, value, at, bytes);                                                       \
  }                                                                                           \
  int shmlua_store##bytes(const shmlua_block *b, void *at, const void *value) {               \
    return access(b, at, value, bytes);                                                       \
  }
ACCESS(1)
ACCESS(2)
ACCESS(4)
ACCESS(8)
#else
typedef int shmlua_fault_access_unused; /* ISO C wants something in a translation unit */
#endif
