/* shm.blocks() lists what is in /dev/shm and who maps it; shm.remove(name, ...) removes
   names: what a user needs after a crash (or kill -9) left blocks behind. */

#include "../core/listing.h"
#include "binding.h"

#define LISTING_MT "shm.listing"

static int listing_gc(lua_State *L) {
  shmlua_listing_free(lua_touserdata(L, 1));
  return 0;
}

static void setinteger(lua_State *L, const char *key, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, key);
}

static int blocks(lua_State *L) {
  /* in a userdata, so a memory error while the tables are built still frees it */
  shmlua_listing *l = shmlua_newscratch(L, sizeof *l, LISTING_MT, listing_gc);
  shmlua_error err;
  if (shmlua_listing_read(l, &err))
    return shmlua_oserror(L, &err);
  lua_createtable(L, (int)l->count, 0);
  for (size_t i = 0; i < l->count; i++) {
    const shmlua_blockinfo *b = &l->blocks[i];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, b->name);
    lua_setfield(L, -2, "name");
    setinteger(L, "size", (lua_Integer)b->size);
    setinteger(L, "stored", (lua_Integer)b->stored);
    setinteger(L, "mode", (lua_Integer)b->mode);
    setinteger(L, "uid", (lua_Integer)b->uid);
    lua_pushnumber(L, b->age);
    lua_setfield(L, -2, "age");
    lua_createtable(L, (int)b->npids, 0);
    for (size_t k = 0; k < b->npids; k++) {
      lua_pushinteger(L, l->pids[b->first_pid + k]);
      lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "pids");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* Every name is checked before any is removed; then each is tried. true, or nil, the
   failures joined by "; ", and the first failure's errno. */
static int remove_names(lua_State *L) {
  int n = lua_gettop(L), firstcode = 0;
  shmlua_name name;
  luaL_Buffer failures;
  luaL_checkstring(L, 1);
  for (int i = 1; i <= n; i++)
    shmlua_checkname(L, i, &name);
  luaL_buffinit(L, &failures);
  for (int i = 1; i <= n; i++) {
    shmlua_error err;
    shmlua_checkname(L, i, &name);
    if (shmlua_unlink(&name, &err) == 0)
      continue;
    if (firstcode)
      luaL_addstring(&failures, "; ");
    else
      firstcode = err.code;
    luaL_addstring(&failures, err.message);
  }
  luaL_pushresult(&failures);
  if (!firstcode) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  lua_insert(L, -2);
  lua_pushinteger(L, firstcode);
  return 3;
}

void shmlua_open_listing(lua_State *L) {
  static const luaL_Reg functions[] = {
      {"blocks", blocks}, {"remove", remove_names}, {NULL, NULL}};
  luaL_setfuncs(L, functions, 0);
}
