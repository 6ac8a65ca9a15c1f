/* shm.blocks() lists what is in /dev/shm and who maps it; shm.remove(name, ...) removes
   names: what a user needs after a crash (or kill -9) left blocks behind. */

#include <string.h>

#include "../core/escape.h"
#include "../core/listing.h"
#include "args.h"
#include "class.h"
#include "parts.h"

#define LISTING_MT "shm.listing"
#define ENTRY_MT "shm.blocks entry" /* not a class: the entries are plain tables */

static int listing_gc(lua_State *L) {
  shmlua_listing_free(lua_touserdata(L, 1));
  return 0;
}

static void setinteger(lua_State *L, const char *key, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, key);
}

static void setstring(lua_State *L, const char *key, const char *value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

static void setboolean(lua_State *L, const char *key, int value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, key);
}

/* The mutex fields (holder, locked, owner_died, not_recoverable) on the entry on top; pushes
   its state text. */
static void mutex_fields(lua_State *L, const shmlua_syncstate *s) {
  if (s->holder < 0) { /* a C library whose mutex we cannot read */
    lua_pushliteral(L, "unknown");
    return;
  }
  setboolean(L, "locked", s->holder > 0);
  setboolean(L, "owner_died", s->owner_died);
  setboolean(L, "not_recoverable", s->not_recoverable);
  if (s->holder > 0)
    setinteger(L, "holder", s->holder);
  if (s->not_recoverable)
    lua_pushliteral(L, "not recoverable");
  else if (s->holder == 0)
    lua_pushliteral(L, "unlocked");
  else
    lua_pushfstring(L, "locked by %d%s", (int)s->holder,
                    s->repairing    ? " (after its owner died, not yet consistent)"
                    : s->owner_died ? " (died holding it)"
                                    : "");
}

/* The fields of a sync object's state, by kind, on the entry on top, and `state`: the same
   as one line of text ("locked by 1234", "3 messages, 1 waiting"). Nothing for blocks and
   lists. */
static void setstate(lua_State *L, const shmlua_blockinfo *b) {
  const shmlua_syncstate *s = &b->state;
  int entry = lua_gettop(L);
  if (!s->known)
    return;
  if (strcmp(b->kind, "mutex") == 0)
    mutex_fields(L, s); /* pthread does not count its sleepers */
  else {
    setinteger(L, "waiters", s->waiters);
    if (strcmp(b->kind, "semaphore") == 0) {
      setinteger(L, "value", s->value);
      lua_pushfstring(L, "value %I", (LUAI_UACINT)s->value);
    } else if (strcmp(b->kind, "event") == 0) {
      setboolean(L, "set", s->value != 0);
      lua_pushstring(L, s->value ? "set" : "clear");
    } else if (strcmp(b->kind, "barrier") == 0) {
      setinteger(L, "arrived", s->value);
      setinteger(L, "parties", s->limit);
      setboolean(L, "broken", s->ended);
      lua_pushfstring(L, "%I of %I arrived%s", (LUAI_UACINT)s->value, (LUAI_UACINT)s->limit,
                      s->ended ? ", broken" : "");
    } else if (strcmp(b->kind, "queue") == 0) {
      setinteger(L, "messages", s->value);
      setboolean(L, "ended", s->ended);
      lua_pushfstring(L, "%I message%s%s", (LUAI_UACINT)s->value, s->value == 1 ? "" : "s",
                      s->ended ? ", shut down" : "");
    } else
      lua_pushstring(L, s->waiters > 0 ? "" : "nobody waiting"); /* a cond */
    if (s->waiters > 0)
      lua_pushfstring(L, "%s%I waiting", lua_rawlen(L, -1) > 0 ? ", " : "",
                      (LUAI_UACINT)s->waiters);
  }
  lua_concat(L, lua_gettop(L) - entry);
  lua_setfield(L, entry, "state");
}

/* tostring(entry): one readable line, the name escaped for a terminal. */
static int entry_tostring(lua_State *L) {
  char name[SHMLUA_ESCAPED_SIZE(SHMLUA_NAME_MAX)];
  size_t len;
  const char *raw;
  int top;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_getfield(L, 1, "name");
  raw = luaL_tolstring(L, -1, &len);
  shmlua_escape(raw, len, name, sizeof name);
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "size");
  top = lua_gettop(L);
  lua_pushfstring(L, "shm.blocks: %s (%s, %I bytes", name, luaL_optstring(L, top - 1, "block"),
                  (LUAI_UACINT)luaL_optinteger(L, top, 0));
  lua_getfield(L, 1, "creator");
  lua_getfield(L, 1, "alive");
  if (lua_isinteger(L, -2))
    lua_pushfstring(L, ", made by %I%s", (LUAI_UACINT)lua_tointeger(L, -2),
                    lua_toboolean(L, -1) ? "" : " (gone)");
  else
    lua_pushliteral(L, "");
  lua_replace(L, -3);
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "state") == LUA_TSTRING) {
    lua_pushliteral(L, ", ");
    lua_insert(L, -2);
  } else
    lua_pop(L, 1);
  lua_pushliteral(L, ")");
  lua_concat(L, lua_gettop(L) - top);
  return 1;
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
    lua_createtable(L, 0, 12);
    luaL_setmetatable(L, ENTRY_MT);
    lua_pushstring(L, b->name);
    lua_setfield(L, -2, "name");
    setstring(L, "kind", b->kind);
    if (b->creator > 0) {
      setinteger(L, "creator", b->creator);
      setboolean(L, "alive", b->creator_alive == 1);
    }
    setstate(L, b);
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
  luaL_newmetatable(L, ENTRY_MT);
  lua_pushcfunction(L, entry_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
