/* A block's memory as the binding reaches it (blockaccess.c): open and writable checks,
   guarded access, the errors of a fault; and the block userdata (block.c) other parts take. */
#ifndef SHMLUA_BLOCKACCESS_H
#define SHMLUA_BLOCKACCESS_H

#include <stddef.h>

#include "../core/block.h"
#include "../core/fault.h"
#include "compat.h"

/* The block userdata at arg (raises if not a block). */
shmlua_block *shmlua_checkblock(lua_State *L, int arg);
/* Its memory; raises "block 'x' is closed" (or "... read-only" when writing is asked). */
unsigned char *shmlua_blockaddr(lua_State *L, const shmlua_block *b, int writing);
/* Raises "block 'x': no memory behind byte N (truncated by another process, or /dev/shm is
   full)" for a fault a guard caught (core/fault.h). Call it after the guard is left. */
int shmlua_faulterror(lua_State *L, const shmlua_fault *fault);
/* The same, after shmlua_load* or shmlua_store* on b returned -1. */
int shmlua_accesserror(lua_State *L, const shmlua_block *b);
/* After SHMLUA_GUARD_END(g): raises shmlua_faulterror's error if g caught a fault. */
static inline void shmlua_guard_check(lua_State *L, const shmlua_guard *g) {
  if (g->fault.block)
    shmlua_faulterror(L, &g->fault);
}
/* Runs fn(ctx) under a guard of blocks a and b (either may be NULL; fn follows core/fault.h's
   rules for guarded code) and returns what it returns; raises shmlua_faulterror's error
   after it instead if a fault cut it short. */
int shmlua_guardedcall(lua_State *L, int (*fn)(void *ctx), void *ctx, const shmlua_block *a,
                       const shmlua_block *b);
/* Pushes a string of the n bytes at p, inside block b; raises shmlua_faulterror's error
   instead if they are not all there, and "is closed" if a collection during the push closed
   b (p must have come from shmlua_blockaddr since the last call that may collect). */
void shmlua_pushblockbytes(lua_State *L, const shmlua_block *b, const void *p, size_t n);
/* The unlink method of every object owning a block: removes name; true or nil, msg, errno. */
int shmlua_pushunlink(lua_State *L, const shmlua_name *name);

#endif
