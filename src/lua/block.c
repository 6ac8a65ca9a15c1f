/* The block userdata: shm.create, shm.attach, fields name/size/buf, close, unlink. */
#include <string.h>

#include "binding.h"

enum { UV_BUF = 1 }; /* user value slot where the block keeps its buf */

/* Its address is in every block's tag (binding.h: shmlua_newtagged): every method and field
   of a block starts with this check. */
static const char block_class;

shmlua_block *shmlua_checkblock(lua_State *L, int arg) {
  shmlua_block *b = shmlua_totagged(L, arg, sizeof *b, &block_class);
  if (!b)
    luaL_typeerror(L, arg, SHMLUA_BLOCK_MT);
  return b;
}

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
  return luaL_error(L, "block '%s': no memory behind byte %I (truncated by another process, "
                    "or /dev/shm is full)", shmlua_pushname(L, &fault->block->name),
                    (LUAI_UACINT)(fault->offset + 1));
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

/* A new block userdata in the closed state, so an error before the mapping leaks nothing. */
static shmlua_block *newblock(lua_State *L) {
  shmlua_block *b = shmlua_newtagged(L, sizeof *b, 1, &block_class);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, SHMLUA_BLOCK_MT);
  return b;
}

static int block_create(lua_State *L) {
  lua_Integer size = shmlua_checkint(L, 1);
  shmlua_name name;
  shmlua_create_opts opts;
  const shmlua_name *given;
  shmlua_error err;
  shmlua_block *b;
  static const char *const allowed[] = {"mode", "keep", "reserve", NULL};
  luaL_argcheck(L, size > 0, 1, "size must be positive");
  given = shmlua_checkcreate(L, 2, 3, allowed, &name, &opts);
  opts.lazy = !shmlua_optfield_bool(L, 3, "reserve", 1);
  b = newblock(L);
  if (shmlua_block_create(b, given, (size_t)size, &opts, &err))
    return shmlua_oserror(L, &err);
  return 1;
}

static int block_attach(lua_State *L) {
  static const char *const allowed[] = {"readonly", NULL};
  shmlua_name name;
  shmlua_error err;
  shmlua_block *b;
  shmlua_checkname(L, 1, &name);
  shmlua_checkopts(L, 2, allowed);
  int readonly = shmlua_optfield_bool(L, 2, "readonly", 0);
  b = newblock(L);
  if (shmlua_block_attach(b, &name, readonly, &err))
    return shmlua_oserror(L, &err);
  return 1;
}

static int block_close(lua_State *L) {
  shmlua_block_close(shmlua_checkblock(L, 1));
  lua_pushboolean(L, 1);
  return 1;
}

/* __gc and __close: silent, and never unlink. */
static int block_release(lua_State *L) {
  shmlua_block_close(shmlua_checkblock(L, 1));
  return 0;
}

int shmlua_pushunlink(lua_State *L, const shmlua_name *name) {
  shmlua_error err;
  if (shmlua_unlink(name, &err) != 0)
    return shmlua_oserror(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int block_unlink(lua_State *L) {
  return shmlua_pushunlink(L, &shmlua_checkblock(L, 1)->name);
}

static int block_tostring(lua_State *L) {
  shmlua_block *b = shmlua_checkblock(L, 1);
  if (b->addr)
    lua_pushfstring(L, "shm.block: %s (%I bytes%s%s)", shmlua_pushname(L, &b->name),
                    (LUAI_UACINT)b->size, b->readonly ? ", read-only" : "",
                    b->lazy ? ", not reserved" : "");
  else
    lua_pushfstring(L, "shm.block: %s (closed)", shmlua_pushname(L, &b->name));
  return 1;
}

/* Pushes the block's buf, made on first use and then kept, so m.buf is always the same. */
static void pushbuf(lua_State *L, int block) {
  if (lua_getiuservalue(L, block, UV_BUF) != LUA_TNIL)
    return;
  lua_pop(L, 1);
  shmlua_newbuf(L, lua_touserdata(L, block));
  lua_pushvalue(L, block); /* the buf keeps its block alive */
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, block, UV_BUF);
  shmlua_jit_track(L, lua_gettop(L), block, -1, 0, 0, 1);
}

/* Methods first, as sync_index does: m:array() and m:close() are the common case, and each
   method checks m itself. Only a string key is read as a field name. */
static int block_index(lua_State *L) {
  shmlua_block *b;
  const char *key;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
    return 1;
  b = shmlua_checkblock(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING)
    return 1; /* the nil rawget pushed */
  key = lua_tostring(L, 2);
  if (strcmp(key, "name") == 0)
    lua_pushstring(L, shmlua_name_user(&b->name));
  else if (strcmp(key, "size") == 0)
    lua_pushinteger(L, (lua_Integer)b->size);
  else if (strcmp(key, "buf") == 0)
    pushbuf(L, 1);
  else if (strcmp(key, "closed") == 0)
    lua_pushboolean(L, b->addr == NULL);
  else if (strcmp(key, "readonly") == 0)
    lua_pushboolean(L, b->readonly);
  return 1; /* else the nil rawget pushed */
}

void shmlua_open_block(lua_State *L) {
  static const luaL_Reg metamethods[] = {
      {"__gc", block_release}, {"__close", block_release}, {"__tostring", block_tostring},
      {NULL, NULL}};
  static const luaL_Reg methods[] = {{"close", block_close}, {"unlink", block_unlink},
                                     {NULL, NULL}};
  static const luaL_Reg functions[] = {{"create", block_create}, {"attach", block_attach},
                                       {NULL, NULL}};
  shmlua_newclass(L, SHMLUA_BLOCK_MT, metamethods, methods, block_index);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
}
