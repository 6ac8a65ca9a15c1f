/* The byte view of a block (buf.c), for the block that makes it and the parts that add
   methods to it (pack.c, hexdump.c). */
#ifndef SHMLUA_BUF_H
#define SHMLUA_BUF_H

#include "../core/block.h"
#include "compat.h"

/* The block a buf at arg views (raises if arg is not a buf). */
shmlua_block *shmlua_checkbuf(lua_State *L, int arg);
/* Pushes a new buf viewing b (the caller keeps b's userdata alive in its user value 1). */
void shmlua_newbuf(lua_State *L, shmlua_block *b);

#endif
