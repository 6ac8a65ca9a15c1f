/* A block's memory as every part reaches it: checks that it is open (and writable), guarded
   calls and copies, the errors of a fault, unlink. */
#include "blockaccess.h"
#include "args.h"

unsigned char *shmlua_blockaddr(lua_State *L, const shmlua_block *b, int writing) {
  shmlua_fault lost;
  if (!b->addr)
    luaL_error(L, "block '%s' is closed", shmlua_pushname(L, &b->name));
  if (writing && b->readonly)
    luaL_error(L, "block '%s' is read-only", shmlua_pushname(L, &b->name));
  if (shmlua_block_lost(b, &lost)) /* pages of zeros stand where memory was (fault.h) */
    shmlua_faulterror(L, &lost);
  return b->addr;
}

int shmlua_faulterror(lua_State *L, const shmlua_fault *fault) {
  return luaL_error(L,
                    "block '%s': no memory behind byte %I (truncated by another process, "
                    "or /dev/shm is full)",
                    shmlua_pushname(L, &fault->block->name), (LUAI_UACINT)(fault->offset + 1));
}

int shmlua_guardedcall(lua_State *L, int (*fn)(void *ctx), void *ctx, const shmlua_block *a,
                       const shmlua_block *b) {
  shmlua_fault fault;
  int rc;
  if (shmlua_guarded_run(fn, ctx, &rc, a, b, &fault) != 0)
    shmlua_faulterror(L, &fault);
  return rc;
}

int shmlua_accesserror(lua_State *L, const shmlua_block *b) {
  shmlua_fault fault = shmlua_fault_of(b);
  return shmlua_faulterror(L, &fault);
}

/* Below this, bytes are copied to the C stack under a guard, then pushed. */
enum { SMALL_COPY = 256 };

typedef struct block_bytes {
  const shmlua_block *b;
  const void *p;
  size_t n;
  shmlua_fault fault;
} block_bytes;

#if SHMLUA_PUSH_COLLECTS_FIRST
/* There lua_pushlstring may collect before it copies, and a finalizer then run may close the
   block: large bytes go through memory of ours, filled after the allocation that may collect. */
static void push_large(lua_State *L, block_bytes *w) {
  char *copy = lua_newuserdata(L, w->n);
  shmlua_blockaddr(L, w->b, 0); /* closed meanwhile: raises; open: p is still mapped */
  if (shmlua_guarded_copy(copy, w->p, w->n, w->b, NULL, &w->fault) != 0)
    shmlua_faulterror(L, &w->fault);
  lua_pushlstring(L, copy, w->n);
  lua_remove(L, -2);
}
#else
/* Lua's strings are made by copying from a source, and only lua_pushlstring makes one: a
   large copy goes straight from the block into the new string, under a guard. A jump out of
   its memcpy leaves an unreferenced string for the collector and nothing else half done; a
   memory error in its allocation would leave the guard up, so this runs in a protected call
   that pops the guard itself before the error goes on. */
static int push_guarded(lua_State *L) {
  block_bytes *w = lua_touserdata(L, 1);
  shmlua_guard g;
  SHMLUA_GUARD_BEGIN(g, w->b, NULL)
  lua_pushlstring(L, w->p, w->n);
  SHMLUA_GUARD_END(g);
  w->fault = g.fault;
  return g.fault.block ? 0 : 1;
}

static void push_large(lua_State *L, block_bytes *w) {
  shmlua_guard *outer = shmlua_guard_current;
  lua_pushcfunction(L, push_guarded);
  lua_pushlightuserdata(L, w);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    shmlua_guard_current = outer;
    lua_error(L);
  }
  if (w->fault.block)
    shmlua_faulterror(L, &w->fault);
}
#endif

void shmlua_pushblockbytes(lua_State *L, const shmlua_block *b, const void *p, size_t n) {
  block_bytes w = {b, p, n, {NULL, 0}};
  if (n <= SMALL_COPY) {
    char copy[SMALL_COPY];
    if (shmlua_guarded_copy(copy, p, n, b, NULL, &w.fault) != 0)
      shmlua_faulterror(L, &w.fault);
    lua_pushlstring(L, copy, n);
    return;
  }
  push_large(L, &w);
}

int shmlua_pushunlink(lua_State *L, const shmlua_name *name) {
  shmlua_error err;
  if (shmlua_unlink(name, &err) != 0)
    return shmlua_oserror(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}
