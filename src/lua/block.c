/* The block userdata: shm.create, shm.attach, fields name/size/buf, close, unlink. */
#include <string.h>

#include "args.h"
#include "blockaccess.h"
#include "buf.h"
#include "class.h"
#include "jit.h"
#include "parts.h"

enum { UV_BUF = 1 }; /* user value slot where the block keeps its buf */

/* Its address is in every block's tag (class.h: shmlua_newtagged): every method and field
   of a block starts with this check. */
static const char block_class;

shmlua_block *shmlua_checkblock(lua_State *L, int arg) {
  return shmlua_checktagged(L, arg, sizeof(shmlua_block), &block_class, SHMLUA_BLOCK_MT);
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

/* close, __gc and __close: silent, and never unlink. */
static int block_release(lua_State *L) {
  shmlua_block_close(shmlua_checkblock(L, 1));
  return 0;
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
  static const luaL_Reg metamethods[] = {{"__tostring", block_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {{"unlink", block_unlink}, {NULL, NULL}};
  static const luaL_Reg functions[] = {
      {"create", block_create}, {"attach", block_attach}, {NULL, NULL}};
  shmlua_newclass(L, SHMLUA_BLOCK_MT, metamethods, methods, block_index);
  shmlua_setrelease(L, block_release, 1);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
}
