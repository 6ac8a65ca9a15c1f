/* string.unpack over memory that is not a string (pack.c), for buf:unpack and queue views. */
#ifndef SHMLUA_PACK_H
#define SHMLUA_PACK_H

#include <stddef.h>

#include "compat.h"

/* string.unpack (at index unpack) of the format on top of the stack over size bytes from
   position start (1-based, checked), without a string of them all: push(L, src, at, len)
   pushes bytes at..at+len as a string, for windows that start aligned as the bytes do and
   grow until the values fit. Returns the number of results (the values, then the position
   after them), or -1 when the bytes end before the values (the message left on top).
   Other errors of string.unpack are raised as argument errors of the caller. */
int shmlua_unpack_window(lua_State *L, int unpack, size_t size, size_t start,
                         void (*push)(lua_State *L, void *src, size_t at, size_t len),
                         void *src);

#endif
