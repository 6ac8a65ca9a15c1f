/* xxd's lines (hexdump.c), for buf:hexdump and shm.watch. */
#ifndef SHMLUA_HEXDUMP_H
#define SHMLUA_HEXDUMP_H

#include <stddef.h>

#include "compat.h"

/* Appends bytes p[0..n) as xxd's lines, offsets counted from offset; bytes that differ from
   before[k] (before may be NULL) in reverse video. */
void shmlua_hexdump(luaL_Buffer *out, size_t offset, const unsigned char *p, size_t n,
                    const unsigned char *before);

#endif
