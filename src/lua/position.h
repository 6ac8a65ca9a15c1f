/* Positions in the views indexed like sequences (buf, arrays, lists, queue views), as
   lstrlib.c reads them: 1-based, negative from the end. */
#ifndef SHMLUA_POSITION_H
#define SHMLUA_POSITION_H

#include <stddef.h>

#include "compat.h"

/* The run i..j of len elements as string.sub takes it (lstrlib.c's posrelatI and getendpos:
   1-based, negative from the end, j clamped to len): returns its length (0 when empty) and
   sets *first to its 0-based start. *first may be len or more when the run is empty (i past
   the end is not clamped, as in lstrlib.c). */
size_t shmlua_range(lua_Integer i, lua_Integer j, size_t len, size_t *first);
/* A single element position: 1..len or -len..-1; raises "index out of range" otherwise. */
size_t shmlua_checkindex(lua_State *L, lua_Integer pos, size_t len);
/* Where a run of elements may start: as shmlua_checkindex, or len + 1 (an empty run). */
size_t shmlua_checkstart(lua_State *L, lua_Integer pos, size_t len);
/* __pairs of these views, whose element #v + 1 reads as nil: the elements in index order,
   as ipairs gives them. Their __ipairs too, for 5.2's ipairs, which does not follow
   __index (5.3+ do; 5.1's and LuaJIT's take neither). */
int shmlua_sequence_pairs(lua_State *L);

#endif
