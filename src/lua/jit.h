/* Under LuaJIT, element access through the FFI (jit.c; nothing elsewhere). */
#ifndef SHMLUA_JIT_H
#define SHMLUA_JIT_H

#include <stddef.h>

#include "compat.h"

/* Tells the FFI element access of a new view at index view (a buf: dtype -1; an array: its
   0-based dtype, byte offset of element 1, count and byte stride) of the block userdata at
   index block. The FFI code checks the block's live address before each access, which close
   and a lost page clear (fault.h). */
void shmlua_jit_track(lua_State *L, int view, int block, int dtype, size_t offset,
                      size_t count, ptrdiff_t stride);

#endif
