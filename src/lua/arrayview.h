/* What other parts (serial.c, pool.c) read of an array view (array.c). */
#ifndef SHMLUA_ARRAYVIEW_H
#define SHMLUA_ARRAYVIEW_H

#include <stddef.h>

#include "compat.h"

/* The layout of an array view: dtype name and element size, byte offset of element 1, count,
   bytes from one element to the next, columns of a 2-D view (0: 1-D). */
typedef struct shmlua_arraylayout {
  const char *dtype;
  size_t size, offset, count, cols;
  ptrdiff_t stride;
} shmlua_arraylayout;
/* The layout of the array view at idx; 0 if it is not one. */
int shmlua_arrayview(lua_State *L, int idx, shmlua_arraylayout *out);
/* chunks(a, n), a lua_CFunction (arrayops.c): the list of n contiguous views of view a that
   shm.parallel hands out (fewer when a is shorter); raises on a closed block, or if a is
   not a view. For pool:parallel. */
int shmlua_arraychunks(lua_State *L);

#endif
