/* Lua values on queues: q:put(v [, timeout]), q:try_put(v), q:get([timeout]), q:try_get(),
   and the batch forms q:put_many(t [, i [, j [, timeout]]]) and q:get_many(t, n [, timeout]).
   A value travels in serial.c's encoding (tables, shmlua objects by name, functions), one
   value per message; a message that does not decode is an error for that get. */
#include "class.h"
#include "parts.h"
#include "position.h"
#include "serial.h"
#include "sync.h"
#include "wait.h"

/* A put_many's messages: the encoder's buffer, and where each ends in it. */
typedef struct encodings {
  const char *data;
  size_t *ends;
} encodings;

static int put(lua_State *L, int wait) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  double seconds;
  const double *d = wait ? shmlua_optseconds(L, 3, &seconds) : NULL;
  size_t len;
  const char *data;
  luaL_checkany(L, 2);
  data = shmlua_encode(L, 2, 1, &len);
  return shmlua_queue_put(L, u, data, len, wait, d);
}

static int get(lua_State *L, int wait) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  double seconds;
  const double *d = wait ? shmlua_optseconds(L, 2, &seconds) : NULL;
  const char *data;
  size_t len;
  int n = shmlua_queue_get(L, u, wait, d, &data, &len);
  if (n != 0)
    return n;
  lua_settop(L, 1);
  return shmlua_queue_pushvalue(L, u, data, len);
}

int shmlua_queue_pushvalue(lua_State *L, shmlua_syncud *u, const char *data, size_t len) {
  data = shmlua_sync_scratch_hold(L, u, data, len);
  shmlua_queue_got(u);
  if (shmlua_deserialize(L, data, len) != 1)
    return luaL_error(L,
                      "queue '%s': a message that is not one value (pushed as a string, "
                      "or corrupt) was taken and refused",
                      shmlua_name_user(&u->block.name));
  return 1;
}

static const shmlua_queue_message *encodings_at(lua_State *L, void *ctx, size_t from,
                                                size_t count, shmlua_queue_message *room) {
  const encodings *e = ctx;
  (void)L;
  for (size_t k = from; k < from + count; k++) {
    size_t start = k > 0 ? e->ends[k - 1] : 0;
    room[k - from].data = e->data + start;
    room[k - from].len = e->ends[k] - start;
  }
  return room;
}

/* q:put_many(t [, i [, j [, timeout]]]) -> as push_many. The values t[i..j] (raw; nil
   included), each as one message; every one is encoded before the first goes in, so a value
   that cannot be sent, or whose encoding is longer than the byte capacity, raises (naming
   it) with nothing put. */
static int queue_put_many(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  struct timespec deadline;
  const struct timespec *d;
  encodings e;
  size_t n, first;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = shmlua_range(luaL_optinteger(L, 3, 1), luaL_optinteger(L, 4, -1), lua_rawlen(L, 2),
                   &first);
  d = shmlua_opttimeout(L, 5, &deadline);
  lua_settop(L, 2);
  if (n > ((size_t)-1 >> 1) / sizeof *e.ends)
    return shmlua_argerror(L, 2, "too many values");
  e.ends = lua_newuserdatauv(L, n * sizeof *e.ends + 1, 0); /* freed by the collector */
  e.data = shmlua_encode_each(L, 2, first, n, e.ends);
  for (size_t k = 0; k < n; k++)
    if (e.ends[k] - (k > 0 ? e.ends[k - 1] : 0) > u->as.queue.max_bytes)
      return shmlua_argerror(L, 2,
                             lua_pushfstring(L,
                                             "t[%I]: its encoding is longer than the "
                                             "queue's %I bytes",
                                             (LUAI_UACINT)(first + k + 1),
                                             (LUAI_UACINT)u->as.queue.max_bytes));
  return shmlua_queue_push_batch(L, u, n, encodings_at, &e, d);
}

/* q:get_many(t, n [, timeout]) -> as pop_many, with the values the messages hold. A message
   that is not one value stops the call with an error, the values before it in t; it and the
   rest of that batch, taken already, are dropped. */
static int queue_get_many(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  shmlua_popped p;
  const void *data;
  size_t len;
  int failed, top;
  if ((failed = shmlua_queue_pop_batch(L, u, &p)) != 0)
    return failed;
  top = lua_gettop(L);
  for (lua_Integer k = 1; shmlua_queue_next_record(&p, &data, &len); k++) {
    if (shmlua_deserialize(L, data, len) != 1) {
      lua_settop(L, top);
      return luaL_error(L,
                        "queue '%s': message %I of the %I taken is not one value (pushed "
                        "as a string, or corrupt): refused, with the %I after it",
                        shmlua_name_user(&u->block.name), (LUAI_UACINT)k, (LUAI_UACINT)p.count,
                        (LUAI_UACINT)(p.count - (size_t)k));
    }
    lua_rawseti(L, 2, k);
  }
  shmlua_queue_batch_read(L, &p);
  lua_pushinteger(L, (lua_Integer)p.count);
  return 1;
}

static int queue_put(lua_State *L) {
  return put(L, 1);
}
static int queue_try_put(lua_State *L) {
  return put(L, 0);
}
static int queue_get(lua_State *L) {
  return get(L, 1);
}
static int queue_try_get(lua_State *L) {
  return get(L, 0);
}

void shmlua_open_queue_values(lua_State *L) {
  static const luaL_Reg methods[] = {{"put", queue_put},
                                     {"try_put", queue_try_put},
                                     {"get", queue_get},
                                     {"try_get", queue_try_get},
                                     {"put_many", queue_put_many},
                                     {"get_many", queue_get_many},
                                     {NULL, NULL}};
  shmlua_addmethods(L, SHMLUA_QUEUE_MT, methods);
}
