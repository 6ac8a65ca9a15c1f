/* What every fuzz target checks besides what ASan and UBSan catch: a property that must hold
   whatever the bytes were. A failure aborts, which libFuzzer reports as a crash. */
#ifndef SHMLUA_FUZZ_REQUIRE_H
#define SHMLUA_FUZZ_REQUIRE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define REQUIRE(cond)                                                                         \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);             \
      abort();                                                                                \
    }                                                                                         \
  } while (0)

/* A failure must say something, in a terminated message. */
#define REQUIRE_MESSAGE(err)                                                                  \
  REQUIRE((err)->message[0] != '\0' && memchr((err)->message, '\0', sizeof(err)->message))

/* The input as a block a peer left behind: a heap copy of exactly size bytes (at least one),
   so AddressSanitizer sees any access past its end. Free it with free(). */
static inline unsigned char *fuzz_block(const unsigned char *data, size_t size) {
  unsigned char *block = malloc(size ? size : 1);
  if (!block)
    abort();
  memcpy(block, data, size);
  return block;
}

#endif
