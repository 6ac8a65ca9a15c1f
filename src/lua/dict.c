/* shm.dict{bytes = n}: OpenResty's shared dict (ngx.shared.DICT) between processes.
   get / get_stale / set / safe_set / add / safe_add / replace / delete / incr / ttl / expire,
   flush_all / flush_expired / get_keys, capacity / free_space / count (#d), and lists
   (lpush / rpush / lpop / rpop / llen). Outcomes a caller expects return nil and OpenResty's
   message ("not found", "exists", "no memory", "not a number", "value not a list",
   "value is a list"); a damaged block or a lock held for seconds raises. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sync.h"

enum { DEFAULT_BYTES = 1 << 20, DEFAULT_MAX_KEYS = 1024 };

static int dict_open(shmlua_syncud *u, shmlua_error *err);

static const shmlua_synclass dict_class = {"shm.dict", &shmlua_dict_type, dict_open, NULL, NULL};

static int dict_open(shmlua_syncud *u, shmlua_error *err) {
  (void)err;
  shmlua_dict_open(&u->as.dict, u->block.addr, u->block.size);
  return 0;
}

static shmlua_syncud *checkdict(lua_State *L) {
  return shmlua_sync_check(L, 1, &dict_class);
}

static const char *checkkey(lua_State *L, size_t *len) {
  const char *key = luaL_checklstring(L, 2, len);
  if (*len == 0)
    luaL_argerror(L, 2, "empty key");
  if (*len > SHMLUA_DICT_KEY_MAX)
    luaL_argerror(L, 2, lua_pushfstring(L, "key longer than %d bytes", (int)SHMLUA_DICT_KEY_MAX));
  return key;
}

/* What every method on a key starts from: the open dict at 1, the key at 2. */
typedef struct keyed {
  shmlua_syncud *u;
  const char *key;
  size_t klen;
} keyed;

static keyed checkkeyed(lua_State *L) {
  keyed k;
  k.u = checkdict(L);
  k.key = checkkey(L, &k.klen);
  return k;
}

/* A value to store: nil, boolean, integer, float or string. */
static void checkvalue(lua_State *L, int arg, shmlua_dict_value *v) {
  switch (lua_type(L, arg)) {
  case LUA_TNONE:
  case LUA_TNIL:
    v->type = SHMLUA_DICT_NIL;
    break;
  case LUA_TBOOLEAN:
    v->type = SHMLUA_DICT_BOOLEAN;
    v->as.boolean = lua_toboolean(L, arg);
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, arg)) {
      v->type = SHMLUA_DICT_INTEGER;
      v->as.integer = (int64_t)lua_tointeger(L, arg);
    } else {
      v->type = SHMLUA_DICT_FLOAT;
      v->as.number = (double)lua_tonumber(L, arg);
    }
    break;
  case LUA_TSTRING:
    v->type = SHMLUA_DICT_STRING;
    v->as.string.bytes = lua_tolstring(L, arg, &v->as.string.len);
    break;
  default:
    luaL_argerror(L, arg, lua_pushfstring(L, "nil, boolean, number or string expected, got %s",
                                          luaL_typename(L, arg)));
  }
}

static void checknumber(lua_State *L, int arg, shmlua_dict_value *v) {
  luaL_checknumber(L, arg);
  if (lua_type(L, arg) != LUA_TNUMBER)
    luaL_typeerror(L, arg, "number");
  checkvalue(L, arg, v);
}

/* A time to live in seconds at arg (nil or absent: def) in milliseconds; 0 is for ever. A
   positive ttl under a millisecond is one millisecond. */
static int64_t optttl(lua_State *L, int arg, int64_t def) {
  double s;
  if (lua_isnoneornil(L, arg))
    return def;
  s = (double)luaL_checknumber(L, arg);
  if (!(s >= 0 && s <= 1e12)) /* NaN fails too */
    luaL_argerror(L, arg, "ttl must be 0 (for ever) or a positive number of seconds");
  return s > 0 && s < 0.001 ? 1 : (int64_t)llround(s * 1000);
}

static void pushvalue(lua_State *L, const shmlua_dict_value *v) {
  switch (v->type) {
  case SHMLUA_DICT_BOOLEAN:
    lua_pushboolean(L, v->as.boolean);
    break;
  case SHMLUA_DICT_INTEGER:
    shmlua_pushint(L, (lua_Integer)v->as.integer);
    break;
  case SHMLUA_DICT_FLOAT:
    lua_pushnumber(L, (lua_Number)v->as.number);
    break;
  case SHMLUA_DICT_STRING:
    lua_pushlstring(L, v->as.string.bytes, v->as.string.len);
    break;
  default:
    lua_pushnil(L);
  }
}

/* After a failed call: nil and the message for an outcome a caller expects; raises for the
   others (damage, a lock that cannot be had). */
static int failure(lua_State *L, shmlua_syncud *u, const shmlua_error *err) {
  switch (err->code) {
  case ENOENT:
  case EEXIST:
  case ENOMEM:
  case EDOM:
  case ENOTSUP:
  case EISDIR:
    return shmlua_sync_fail(L, err->message);
  default:
    return luaL_error(L, "dict '%s': %s", shmlua_name_user(&u->block.name), err->message);
  }
}

/* shm.dict{bytes = n, name = s, mode = m, keep = b} */
static int dict_create(lua_State *L) {
  static const char *const allowed[] = {"bytes", "name", "mode", "keep", NULL};
  shmlua_error err;
  uint64_t bytes;
  size_t size;
  lua_settop(L, 1);
  shmlua_checkopts(L, 1, allowed);
  bytes = (uint64_t)shmlua_optfield_int(L, 1, "bytes", DEFAULT_BYTES);
  if ((size = shmlua_dict_layout_size(bytes, &err)) == 0)
    return luaL_argerror(L, 1, err.message);
  if (lua_istable(L, 1))
    lua_getfield(L, 1, "name");
  else
    lua_pushnil(L);
  return shmlua_sync_create(L, &dict_class, 2, 1, allowed, size, shmlua_dict_init, &bytes);
}

/* Where a read copies a string under the lock: a buffer on the C stack when it is small
   (no call, no pointer to follow), else the handle's scratch buffer. */
enum { SMALL_VALUE = 256 };

typedef struct reading {
  shmlua_syncud *u;
  char small[SMALL_VALUE];
} reading;

static void *reserve(void *ud, size_t len) {
  reading *r = ud;
  return len <= sizeof r->small ? r->small : shmlua_sync_scratch(r->u, len);
}

static int get(lua_State *L, int with_stale) {
  keyed k = checkkeyed(L);
  reading r;
  shmlua_dict_value v;
  shmlua_error err;
  int stale = 0;
  r.u = k.u;
  if (shmlua_dict_get(&k.u->as.dict, k.key, k.klen, reserve, &r, &v, with_stale ? &stale : NULL,
                      &err) != 0)
    return failure(L, k.u, &err);
  pushvalue(L, &v);
  if (!with_stale || v.type == SHMLUA_DICT_NIL)
    return 1;
  lua_pushboolean(L, stale);
  return 2;
}

static int dict_get(lua_State *L) {
  return get(L, 0);
}

static int dict_get_stale(lua_State *L) {
  return get(L, 1);
}

/* d:<mode>(key, value [, ttl]) -> true, forcible */
static int store(lua_State *L, shmlua_dict_mode mode) {
  keyed k = checkkeyed(L);
  shmlua_dict_value v;
  shmlua_error err;
  int64_t ttl;
  int forcible;
  checkvalue(L, 3, &v);
  ttl = optttl(L, 4, 0);
  if (shmlua_dict_store(&k.u->as.dict, mode, k.key, k.klen, &v, ttl, &forcible, &err) != 0)
    return failure(L, k.u, &err);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, forcible);
  return 2;
}

static int dict_set(lua_State *L) {
  return store(L, SHMLUA_DICT_SET);
}

static int dict_safe_set(lua_State *L) {
  return store(L, SHMLUA_DICT_SAFE_SET);
}

static int dict_add(lua_State *L) {
  return store(L, SHMLUA_DICT_ADD);
}

static int dict_safe_add(lua_State *L) {
  return store(L, SHMLUA_DICT_SAFE_ADD);
}

static int dict_replace(lua_State *L) {
  return store(L, SHMLUA_DICT_REPLACE);
}

static int dict_delete(lua_State *L) {
  lua_settop(L, 2);
  return store(L, SHMLUA_DICT_SET);
}

/* d:incr(key, n [, init [, init_ttl]]) -> new value, forcible */
static int dict_incr(lua_State *L) {
  keyed k = checkkeyed(L);
  shmlua_dict_value n, init, out;
  shmlua_error err;
  int64_t init_ttl;
  int forcible, has_init = !lua_isnoneornil(L, 4);
  checknumber(L, 3, &n);
  if (has_init)
    checknumber(L, 4, &init);
  init_ttl = optttl(L, 5, 0);
  if (shmlua_dict_incr(&k.u->as.dict, k.key, k.klen, &n, has_init ? &init : NULL, init_ttl, &out,
                       &forcible, &err) != 0)
    return failure(L, k.u, &err);
  pushvalue(L, &out);
  lua_pushboolean(L, forcible);
  return 2;
}

static int dict_ttl(lua_State *L) {
  keyed k = checkkeyed(L);
  shmlua_error err;
  int64_t ms;
  if (shmlua_dict_ttl(&k.u->as.dict, k.key, k.klen, &ms, &err) != 0)
    return failure(L, k.u, &err);
  lua_pushnumber(L, (lua_Number)(ms < 0 ? 0 : ms) / 1000);
  return 1;
}

static int dict_expire(lua_State *L) {
  keyed k = checkkeyed(L);
  shmlua_error err;
  int64_t ttl;
  luaL_checkany(L, 3);
  ttl = optttl(L, 3, 0);
  if (shmlua_dict_expire(&k.u->as.dict, k.key, k.klen, ttl, &err) != 0)
    return failure(L, k.u, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int dict_flush_all(lua_State *L) {
  shmlua_syncud *u = checkdict(L);
  shmlua_error err;
  if (shmlua_dict_flush_all(&u->as.dict, &err) != 0)
    return failure(L, u, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static lua_Integer optmax(lua_State *L, int arg, lua_Integer def) {
  lua_Integer max = shmlua_optint(L, arg, def);
  luaL_argcheck(L, max >= 0, arg, "must be 0 (all) or more");
  return max;
}

static int dict_flush_expired(lua_State *L) {
  shmlua_syncud *u = checkdict(L);
  uint64_t max = (uint64_t)optmax(L, 2, 0), freed;
  shmlua_error err;
  if (shmlua_dict_flush_expired(&u->as.dict, max, &freed, &err) != 0)
    return failure(L, u, &err);
  lua_pushinteger(L, (lua_Integer)freed);
  return 1;
}

/* Keys gathered with shards locked: [u32 length][bytes] records in a malloc'd buffer. */
typedef struct gathered {
  unsigned char *bytes;
  size_t used, size;
} gathered;

static int gather(void *ud, const char *key, size_t klen) {
  gathered *g = ud;
  uint32_t len = (uint32_t)klen;
  if (g->size - g->used < sizeof len + klen) {
    size_t size = g->size ? 2 * g->size : 4096;
    unsigned char *p;
    while (size - g->used < sizeof len + klen)
      size *= 2;
    if (!(p = realloc(g->bytes, size)))
      return -1;
    g->bytes = p;
    g->size = size;
  }
  memcpy(g->bytes + g->used, &len, sizeof len);
  memcpy(g->bytes + g->used + sizeof len, key, klen);
  g->used += sizeof len + klen;
  return 0;
}

static int gathered_gc(lua_State *L) {
  free(((gathered *)lua_touserdata(L, 1))->bytes);
  return 0;
}

static int dict_get_keys(lua_State *L) {
  shmlua_syncud *u = checkdict(L);
  uint64_t max = (uint64_t)optmax(L, 2, DEFAULT_MAX_KEYS);
  /* in a userdata, so a memory error while the table is built still frees it */
  gathered *g = shmlua_newscratch(L, sizeof *g, "shm.dict.keys", gathered_gc);
  shmlua_error err;
  lua_Integer n = 0;
  if (shmlua_dict_keys(&u->as.dict, max, gather, g, &err) != 0)
    return failure(L, u, &err);
  lua_newtable(L);
  for (size_t at = 0; at < g->used; n++) {
    uint32_t len;
    memcpy(&len, g->bytes + at, sizeof len);
    lua_pushlstring(L, (const char *)g->bytes + at + sizeof len, len);
    lua_rawseti(L, -2, n + 1);
    at += sizeof len + len;
  }
  return 1;
}

static int dict_capacity(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)shmlua_dict_capacity(&checkdict(L)->as.dict));
  return 1;
}

static int dict_free_space(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)shmlua_dict_free_space(&checkdict(L)->as.dict));
  return 1;
}

static int dict_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)shmlua_dict_count(&checkdict(L)->as.dict));
  return 1;
}

static int push(lua_State *L, int left) {
  keyed k = checkkeyed(L);
  shmlua_dict_value v;
  shmlua_error err;
  uint64_t len;
  int t = lua_type(L, 3);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    return luaL_typeerror(L, 3, "string or number");
  checkvalue(L, 3, &v);
  if (shmlua_dict_push(&k.u->as.dict, k.key, k.klen, left, &v, &len, &err) != 0)
    return failure(L, k.u, &err);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

static int dict_lpush(lua_State *L) {
  return push(L, 1);
}

static int dict_rpush(lua_State *L) {
  return push(L, 0);
}

static int pop(lua_State *L, int left) {
  keyed k = checkkeyed(L);
  reading r;
  shmlua_dict_value v;
  shmlua_error err;
  r.u = k.u;
  if (shmlua_dict_pop(&k.u->as.dict, k.key, k.klen, left, reserve, &r, &v, &err) != 0)
    return failure(L, k.u, &err);
  pushvalue(L, &v);
  return 1;
}

static int dict_lpop(lua_State *L) {
  return pop(L, 1);
}

static int dict_rpop(lua_State *L) {
  return pop(L, 0);
}

static int dict_llen(lua_State *L) {
  keyed k = checkkeyed(L);
  shmlua_error err;
  uint64_t len;
  if (shmlua_dict_llen(&k.u->as.dict, k.key, k.klen, &len, &err) != 0)
    return failure(L, k.u, &err);
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

void shmlua_open_dict(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"get", dict_get},
      {"get_stale", dict_get_stale},
      {"set", dict_set},
      {"safe_set", dict_safe_set},
      {"add", dict_add},
      {"safe_add", dict_safe_add},
      {"replace", dict_replace},
      {"delete", dict_delete},
      {"incr", dict_incr},
      {"ttl", dict_ttl},
      {"expire", dict_expire},
      {"flush_all", dict_flush_all},
      {"flush_expired", dict_flush_expired},
      {"get_keys", dict_get_keys},
      {"capacity", dict_capacity},
      {"free_space", dict_free_space},
      {"count", dict_count},
      {"lpush", dict_lpush},
      {"rpush", dict_rpush},
      {"lpop", dict_lpop},
      {"rpop", dict_rpop},
      {"llen", dict_llen},
      {NULL, NULL},
  };
  shmlua_sync_register(L, &dict_class, methods, dict_create, NULL);
  luaL_getmetatable(L, dict_class.tname);
  lua_pushcfunction(L, dict_count);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
}
