/* shm.dict{bytes = n}: OpenResty's shared dict (ngx.shared.DICT) between processes.
   get / get_stale / set / safe_set / add / safe_add / replace / delete / incr / ttl / expire,
   flush_all / flush_expired / get_keys, capacity / free_space / count (#d), and lists
   (lpush / rpush / lpop / rpop / llen). Outcomes a caller expects return nil and OpenResty's
   message ("not found", "exists", "no memory", "not a number", "value not a list",
   "value is a list"); a damaged block or a lock held for seconds raises. A table value is
   stored in serial.c's encoding (as q:put sends it) under a type of its own, and decoded
   anew by each get. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "class.h"
#include "parts.h"
#include "serial.h"
#include "sync.h"
#include "wait.h"

enum { DEFAULT_BYTES = 1 << 20, DEFAULT_MAX_KEYS = 1024 };

static int dict_open(shmlua_syncud *u, shmlua_error *err);

static const shmlua_synclass dict_class = {"shm.dict", &shmlua_dict_type, dict_open, NULL,
                                           NULL};

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
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "key longer than %d bytes", (int)SHMLUA_DICT_KEY_MAX));
  return key;
}

/* What every method on a key starts from: the open dict at 1, the key at 2. Inline, as
   run_op: each call is a few percent of a get or set (callgrind). */
typedef struct keyed {
  shmlua_syncud *u;
  const char *key;
  size_t klen;
} keyed;

static inline keyed checkkeyed(lua_State *L) {
  keyed k;
  k.u = checkdict(L);
  k.key = checkkey(L, &k.klen);
  return k;
}

/* Where a read copies a string under the lock: a buffer on the C stack when it is small
   (no call, no pointer to follow), else the handle's scratch buffer. */
enum { SMALL_VALUE = 256 };

typedef struct reading {
  shmlua_syncud *u;
  char small[SMALL_VALUE];
} reading;

static void *value_buffer(void *ud, size_t len) {
  reading *r = ud;
  return len <= sizeof r->small ? r->small : shmlua_sync_scratch(r->u, len);
}

/* One step of the core on a dict, run under a guard of its block (shmlua_sync_guarded), so
   a block truncated by a peer raises instead of killing the process. get and the stores,
   the hot calls, have steps of their own (below): no switch, no fields of this struct to
   zero. */
typedef enum dictop {
  D_INCR,
  D_TTL,
  D_EXPIRE,
  D_FLUSH_ALL,
  D_FLUSH_EXPIRED,
  D_KEYS,
  D_CAPACITY,
  D_FREE_SPACE,
  D_COUNT,
  D_PUSH,
  D_POP,
  D_LLEN
} dictop;

typedef struct call {
  dictop op;
  keyed k;
  shmlua_dict_mode mode;
  int flag;                      /* D_PUSH, D_POP: left */
  shmlua_dict_value v, out;      /* in; out */
  const shmlua_dict_value *init; /* D_INCR */
  int64_t ms;                    /* ttl in, or out (D_TTL) */
  int forcible, stale;
  uint64_t n;        /* max in; freed, length or a field out */
  void *gathered;    /* D_KEYS */
  reading *reading;  /* D_POP */
  shmlua_error *err; /* run's: not zeroed with the rest */
} call;

static int gather(void *ud, const char *key, size_t klen);

static int step(void *ctx, const struct timespec *deadline) {
  call *c = ctx;
  shmlua_dict *h = &c->k.u->as.dict;
  const char *key = c->k.key;
  size_t klen = c->k.klen;
  (void)deadline;
  switch (c->op) {
  case D_INCR:
    return shmlua_dict_incr(h, key, klen, &c->v, c->init, c->ms, &c->out, &c->forcible,
                            c->err);
  case D_TTL:
    return shmlua_dict_ttl(h, key, klen, &c->ms, c->err);
  case D_EXPIRE:
    return shmlua_dict_expire(h, key, klen, c->ms, c->err);
  case D_FLUSH_ALL:
    return shmlua_dict_flush_all(h, c->err);
  case D_FLUSH_EXPIRED:
    return shmlua_dict_flush_expired(h, c->n, &c->n, c->err);
  case D_KEYS:
    return shmlua_dict_keys(h, c->n, gather, c->gathered, c->err);
  case D_CAPACITY:
    c->n = shmlua_dict_capacity(h);
    return 0;
  case D_FREE_SPACE:
    c->n = shmlua_dict_free_space(h);
    return 0;
  case D_COUNT:
    c->n = shmlua_dict_count(h);
    return 0;
  case D_PUSH:
    return shmlua_dict_push(h, key, klen, c->flag, &c->v, &c->n, c->err);
  case D_POP:
    return shmlua_dict_pop(h, key, klen, c->flag, value_buffer, c->reading, &c->out, c->err);
  case D_LLEN:
    return shmlua_dict_llen(h, key, klen, &c->n, c->err);
  }
  return 0;
}

static int failure(lua_State *L, shmlua_syncud *u, const shmlua_error *err);

/* Runs op(ctx) on u, which fills err when it fails: 0, or what failure returns (nil and a
   message, or it raises). */
static inline int run_op(lua_State *L, shmlua_syncud *u, shmlua_sync_op op, void *ctx,
                         const shmlua_error *err) {
  int rc = shmlua_sync_guarded(u, op, ctx, NULL);
  if (rc == SHMLUA_SYNC_FAULT)
    return shmlua_sync_error(L, u, rc);
  return rc == 0 ? 0 : failure(L, u, err);
}

/* Runs c's step. */
static int run(lua_State *L, call *c) {
  shmlua_error err;
  c->err = &err;
  return run_op(L, c->k.u, step, c, &err);
}

/* The dict at 1 only, for the calls without a key. */
static call unkeyed(lua_State *L, dictop op) {
  call c = {.op = op};
  c.k.u = checkdict(L);
  return c;
}

/* A value to store: nil, boolean, integer, float, string, or a table in serial.c's encoding
   (what it cannot send raises, naming where, before anything is stored). The encoding stays
   in the encoder's buffer until the next encode: past the store. */
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
  case LUA_TTABLE:
    v->type = SHMLUA_DICT_ENCODED;
    v->as.string.bytes = shmlua_encode(L, arg, 1, &v->as.string.len);
    break;
  default:
    luaL_argerror(L, arg,
                  lua_pushfstring(L, "nil, boolean, number, string or table expected, got %s",
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

static void pushvalue(lua_State *L, shmlua_syncud *u, const shmlua_dict_value *v) {
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
    shmlua_sync_pushscratch(L, u, v->as.string.bytes, v->as.string.len);
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
    return luaL_error(L, "dict '%s': %s", shmlua_pushname(L, &u->block.name), err->message);
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
  if (shmlua_dict_layout_size(bytes, &size, &err) != 0)
    return luaL_argerror(L, 1, err.message);
  if (lua_istable(L, 1))
    lua_getfield(L, 1, "name");
  else
    lua_pushnil(L);
  return shmlua_sync_create(L, &dict_class, 2, 1, allowed, size, shmlua_dict_init, &bytes);
}

typedef struct getting {
  keyed k;
  reading *reading;
  int *stale; /* NULL: expired entries are absent */
  shmlua_dict_value out;
  shmlua_error *err;
} getting;

static int get_step(void *ctx, const struct timespec *deadline) {
  getting *g = ctx;
  (void)deadline;
  return shmlua_dict_get(&g->k.u->as.dict, g->k.key, g->k.klen, value_buffer, g->reading,
                         &g->out, g->stale, g->err);
}

/* Pushes the table a get found encoded in v. Decoded from a copy: attaching the objects in
   it may run a finalizer that closes the dict and frees the buffer v points into. Bytes
   that are not the encoding of one table were written over by a peer: the dict's damage. */
static void pushdecoded(lua_State *L, shmlua_syncud *u, const shmlua_dict_value *v) {
  const char *bytes = shmlua_sync_scratch_hold(L, u, v->as.string.bytes, v->as.string.len);
  int copy = lua_gettop(L);
  if (shmlua_deserialize(L, bytes, v->as.string.len) != 1 || !lua_istable(L, -1))
    luaL_error(L,
               "dict '%s': dict damaged (a stored table does not decode: written over by "
               "another process?)",
               shmlua_pushname(L, &u->block.name));
  lua_remove(L, copy);
}

static int get(lua_State *L, int with_stale) {
  reading r; /* small is written only where a value is copied into it */
  shmlua_error err;
  int stale, n;
  getting g = {checkkeyed(L), &r, with_stale ? &stale : NULL, {0}, &err};
  r.u = g.k.u;
  if ((n = run_op(L, g.k.u, get_step, &g, &err)) != 0)
    return n;
  if (g.out.type == SHMLUA_DICT_ENCODED)
    pushdecoded(L, g.k.u, &g.out);
  else
    pushvalue(L, g.k.u, &g.out);
  if (!with_stale || g.out.type == SHMLUA_DICT_NIL)
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

typedef struct storing {
  keyed k;
  shmlua_dict_mode mode;
  shmlua_dict_value v;
  int64_t ms;
  int forcible;
  shmlua_error *err;
} storing;

static int store_step(void *ctx, const struct timespec *deadline) {
  storing *s = ctx;
  (void)deadline;
  return shmlua_dict_store(&s->k.u->as.dict, s->mode, s->k.key, s->k.klen, &s->v, s->ms,
                           &s->forcible, s->err);
}

/* d:<mode>(key, value [, ttl]) -> true, forcible */
static int store(lua_State *L, shmlua_dict_mode mode) {
  shmlua_error err;
  storing s;
  int n;
  s.k = checkkeyed(L);
  s.mode = mode;
  checkvalue(L, 3, &s.v);
  s.ms = optttl(L, 4, 0);
  s.forcible = 0;
  s.err = &err;
  if ((n = run_op(L, s.k.u, store_step, &s, &err)) != 0)
    return n;
  lua_pushboolean(L, 1);
  lua_pushboolean(L, s.forcible);
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
  call c = {.op = D_INCR, .k = checkkeyed(L)};
  shmlua_dict_value init;
  int n;
  checknumber(L, 3, &c.v);
  if (!lua_isnoneornil(L, 4)) {
    checknumber(L, 4, &init);
    c.init = &init;
  }
  c.ms = optttl(L, 5, 0);
  if ((n = run(L, &c)) != 0)
    return n;
  pushvalue(L, c.k.u, &c.out);
  lua_pushboolean(L, c.forcible);
  return 2;
}

static int dict_ttl(lua_State *L) {
  call c = {.op = D_TTL, .k = checkkeyed(L)};
  int n;
  if ((n = run(L, &c)) != 0)
    return n;
  lua_pushnumber(L, (lua_Number)(c.ms < 0 ? 0 : c.ms) / 1000);
  return 1;
}

static int dict_expire(lua_State *L) {
  call c = {.op = D_EXPIRE, .k = checkkeyed(L)};
  int n;
  luaL_checkany(L, 3);
  c.ms = optttl(L, 3, 0);
  if ((n = run(L, &c)) != 0)
    return n;
  lua_pushboolean(L, 1);
  return 1;
}

static int dict_flush_all(lua_State *L) {
  call c = unkeyed(L, D_FLUSH_ALL);
  int n;
  if ((n = run(L, &c)) != 0)
    return n;
  lua_pushboolean(L, 1);
  return 1;
}

static lua_Integer optmax(lua_State *L, int arg, lua_Integer def) {
  lua_Integer max = shmlua_optint(L, arg, def);
  luaL_argcheck(L, max >= 0, arg, "must be 0 (all) or more");
  return max;
}

static int dict_flush_expired(lua_State *L) {
  call c = unkeyed(L, D_FLUSH_EXPIRED);
  int n;
  c.n = (uint64_t)optmax(L, 2, 0);
  if ((n = run(L, &c)) != 0)
    return n;
  lua_pushinteger(L, (lua_Integer)c.n);
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
  call c = unkeyed(L, D_KEYS);
  c.n = (uint64_t)optmax(L, 2, DEFAULT_MAX_KEYS);
  /* in a userdata, so a memory error while the table is built (or a fault) still frees it */
  gathered *g = c.gathered = shmlua_newscratch(L, sizeof *g, "shm.dict.keys", gathered_gc);
  lua_Integer n = 0;
  int rc;
  c.k.u = checkdict(L); /* again: the allocation may have run a finalizer that closed it */
  if ((rc = run(L, &c)) != 0)
    return rc;
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

/* A field the core reads from the block. */
static int field(lua_State *L, dictop op) {
  call c = unkeyed(L, op);
  run(L, &c); /* cannot fail but by a fault, which raises */
  lua_pushinteger(L, (lua_Integer)c.n);
  return 1;
}

static int dict_capacity(lua_State *L) {
  return field(L, D_CAPACITY);
}

static int dict_free_space(lua_State *L) {
  return field(L, D_FREE_SPACE);
}

static int dict_count(lua_State *L) {
  return field(L, D_COUNT);
}

static int push(lua_State *L, int left) {
  call c = {.op = D_PUSH, .k = checkkeyed(L), .flag = left};
  int n, t = lua_type(L, 3);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    return luaL_typeerror(L, 3, "string or number");
  checkvalue(L, 3, &c.v);
  if ((n = run(L, &c)) != 0)
    return n;
  lua_pushinteger(L, (lua_Integer)c.n);
  return 1;
}

static int dict_lpush(lua_State *L) {
  return push(L, 1);
}

static int dict_rpush(lua_State *L) {
  return push(L, 0);
}

static int pop(lua_State *L, int left) {
  reading r; /* small is written only where a value is copied into it */
  call c = {.op = D_POP, .k = checkkeyed(L), .flag = left, .reading = &r};
  int n;
  r.u = c.k.u;
  if ((n = run(L, &c)) != 0)
    return n;
  pushvalue(L, c.k.u, &c.out);
  return 1;
}

static int dict_lpop(lua_State *L) {
  return pop(L, 1);
}

static int dict_rpop(lua_State *L) {
  return pop(L, 0);
}

static int dict_llen(lua_State *L) {
  call c = {.op = D_LLEN, .k = checkkeyed(L)};
  int n;
  if ((n = run(L, &c)) != 0)
    return n;
  lua_pushinteger(L, (lua_Integer)c.n);
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
