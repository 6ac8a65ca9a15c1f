/* The queue's batch methods: q:push_many(t [, i [, j [, timeout]]]) and
   q:pop_many(t, n [, timeout]). Each call takes the end's lock once per batch instead of once
   per message (src/core/queue.c: shmlua_queue_push_many, shmlua_queue_pop_many). */
#include <errno.h>

#include "class.h"
#include "parts.h"
#include "position.h"
#include "sync.h"
#include "wait.h"

/* Messages handed to the core per push_many call (a C array on the stack), and the first size
   of the buffer pop_many copies records into (it grows to fit one record when needed, and
   is dropped after a call that used less than a quarter of a grown one). */
enum { CHUNK = 64, FIRST_BUFFER = 64 * 1024 };

typedef struct push_many_request {
  shmlua_syncud *u;
  const shmlua_queue_message *m;
  size_t count, pushed;
} push_many_request;

static int pushstep(void *ctx, const struct timespec *deadline) {
  push_many_request *p = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(
      shmlua_queue_push_many(&p->u->as.queue, p->m, p->count, &p->pushed, 1, deadline, &err),
      err);
}

/* Each step of the wait under a guard of the queue's block: a truncated one raises. */
static int pushop(void *ctx, const struct timespec *deadline) {
  push_many_request *p = ctx;
  if (!p->u->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_sync_guarded(p->u, pushstep, p, deadline);
}

/* The message t[k] (raw access): a string no longer than the queue takes, or an error. Left
   on the stack (t holds it too, and no Lua code runs until we are done with it): the caller
   drops it, or a run of them at once. */
static const char *message_at(lua_State *L, shmlua_syncud *u, lua_Integer k, size_t *len) {
  const char *s;
  if (lua_rawgeti(L, 2, k) != LUA_TSTRING)
    luaL_argerror(
        L, 2,
        lua_pushfstring(L, "t[%I] is %s, not a string", (LUAI_UACINT)k, luaL_typename(L, -1)));
  s = lua_tolstring(L, -1, len);
  if (*len > u->as.queue.max_bytes)
    luaL_argerror(L, 2,
                  lua_pushfstring(L, "t[%I] is longer than the queue's %I bytes",
                                  (LUAI_UACINT)k, (LUAI_UACINT)u->as.queue.max_bytes));
  return s;
}

int shmlua_queue_push_batch(lua_State *L, shmlua_syncud *u, size_t n, shmlua_batch_at at,
                            void *ctx, const struct timespec *d) {
  shmlua_queue_message room[CHUNK];
  size_t done = 0;
  while (done < n) {
    push_many_request p = {u, NULL, n - done < CHUNK ? n - done : CHUNK, 0};
    int rc;
    p.m = at(L, ctx, done, p.count, room);
    while (p.count > 0) {
      if ((rc = shmlua_sync_wait(L, pushop, &p, d, 1, NULL)) != 0) {
        const char *why = shmlua_sync_word(rc, SHMLUA_ON_PUSH);
        if (!why || done == 0)
          return shmlua_sync_result(L, u, rc, SHMLUA_ON_PUSH);
        lua_pushinteger(L, (lua_Integer)done);
        lua_pushstring(L, why);
        return 2;
      }
      done += p.pushed;
      p.m += p.pushed;
      p.count -= p.pushed;
    }
  }
  lua_pushinteger(L, (lua_Integer)done);
  return 1;
}

/* The strings of push_many: t[first + 1...], the first chunk kept from the check. */
typedef struct strings {
  shmlua_syncud *u;
  size_t first;
  shmlua_queue_message checked[CHUNK];
} strings;

static const shmlua_queue_message *strings_at(lua_State *L, void *ctx, size_t from,
                                              size_t count, shmlua_queue_message *room) {
  strings *s = ctx;
  if (from == 0)
    return s->checked; /* the chunks start at multiples of CHUNK: this is the whole first */
  for (size_t k = 0; k < count; k++) {
    room[k].data = message_at(L, s->u, (lua_Integer)(s->first + from + k + 1), &room[k].len);
    lua_pop(L, 1);
  }
  return room;
}

/* q:push_many(t [, i [, j [, timeout]]]) -> count [, reason]. Pushes the strings t[i..j] in
   order (i, j as string.sub takes them, over #t), waiting for room as push does. Every
   message is checked before the first goes in. All in: the count. Fewer: the count and why
   ("timeout", "closed"); none: nil and why. */
static int queue_push_many(lua_State *L) {
  strings s;
  struct timespec deadline;
  const struct timespec *d;
  size_t n;
  s.u = shmlua_checkqueue(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  n = shmlua_range(luaL_optinteger(L, 3, 1), luaL_optinteger(L, 4, -1), lua_rawlen(L, 2),
                   &s.first);
  d = shmlua_opttimeout(L, 5, &deadline);
  lua_settop(L, 2);
  luaL_checkstack(L, CHUNK, "too many messages");
  for (size_t k = 0; k < n; k++) {
    shmlua_queue_message m;
    m.data = message_at(L, s.u, (lua_Integer)(s.first + k + 1), &m.len);
    if (k < CHUNK)
      s.checked[k] = m;
    if (k % CHUNK == CHUNK - 1)
      lua_settop(L, 2); /* one call per chunk, not one per message */
  }
  lua_settop(L, 2);
  return shmlua_queue_push_batch(L, s.u, n, strings_at, &s, d);
}

typedef struct pop_many_request {
  shmlua_syncud *u;
  void *buffer;
  size_t capacity, max, count, total;
} pop_many_request;

static int popstep(void *ctx, const struct timespec *deadline) {
  pop_many_request *p = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_queue_pop_many(&p->u->as.queue, p->max, p->buffer, p->capacity,
                                              &p->count, &p->total, 1, deadline, &err),
                        err);
}

static int popop(void *ctx, const struct timespec *deadline) {
  pop_many_request *p = ctx;
  if (!p->u->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_sync_guarded(p->u, popstep, p, deadline);
}

/* The queue's record buffer (its user value), at least size bytes: made or grown here, before
   any lock is taken, so the copy under the lock cannot fail. Left on the stack. */
static void *record_buffer(lua_State *L, size_t size, size_t *capacity) {
  if (lua_getiuservalue(L, 1, SHMLUA_SYNC_UV_LINK) == LUA_TUSERDATA &&
      lua_rawlen(L, -1) >= size) {
    *capacity = lua_rawlen(L, -1);
    return lua_touserdata(L, -1);
  }
  lua_pop(L, 1);
  lua_newuserdatauv(L, size, 0);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, SHMLUA_SYNC_UV_LINK);
  *capacity = size;
  return lua_touserdata(L, -1);
}

int shmlua_queue_pop_batch(lua_State *L, shmlua_syncud *u, shmlua_popped *out) {
  pop_many_request p = {u, NULL, 0, 0, 0, FIRST_BUFFER};
  struct timespec deadline;
  const struct timespec *d;
  lua_Integer n;
  int rc;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = luaL_checkinteger(L, 3);
  luaL_argcheck(L, n >= 1, 3, "count must be at least 1");
  d = shmlua_opttimeout(L, 4, &deadline);
  lua_settop(L, 2);
  p.max = (lua_Unsigned)n < (size_t)-1 ? (size_t)n : (size_t)-1;
  for (;;) {
    p.buffer = record_buffer(L, p.total, &p.capacity);
    if ((rc = shmlua_sync_wait(L, popop, &p, d, 1, NULL)) != ENOBUFS)
      break;
    lua_pop(L, 1); /* p.total: what the first record needs */
  }
  if (rc != 0)
    return shmlua_sync_result(L, u, rc, SHMLUA_ON_POP);
  out->records = p.buffer;
  out->total = p.total;
  out->count = p.count;
  out->at = 0;
  out->buffer = lua_gettop(L);
  /* one grown for a big message, now mostly idle, is not kept after this call */
  out->keep = p.capacity <= FIRST_BUFFER || p.total >= p.capacity / 4;
  lua_pushnil(L);
  lua_setiuservalue(L, 1, SHMLUA_SYNC_UV_LINK);
  return 0;
}

void shmlua_queue_batch_read(lua_State *L, const shmlua_popped *p) {
  if (!p->keep)
    return;
  lua_pushvalue(L, p->buffer);
  lua_setiuservalue(L, 1, SHMLUA_SYNC_UV_LINK);
}

/* q:pop_many(t, n [, timeout]) -> count. Waits as pop does for at least one message, then
   takes up to n of those there at once and stores them in t[1..count] (raw, the rest of t
   left as it is). None: nil and "timeout", "empty" never (it waits), or "closed". */
static int queue_pop_many(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  shmlua_popped p;
  const void *data;
  size_t len;
  int failed;
  if ((failed = shmlua_queue_pop_batch(L, u, &p)) != 0)
    return failed;
  for (lua_Integer k = 1; shmlua_queue_next_record(&p, &data, &len); k++) {
    lua_pushlstring(L, data, len);
    lua_rawseti(L, 2, k);
  }
  shmlua_queue_batch_read(L, &p);
  lua_pushinteger(L, (lua_Integer)p.count);
  return 1;
}

void shmlua_open_queue_batch(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"push_many", queue_push_many}, {"pop_many", queue_pop_many}, {NULL, NULL}};
  shmlua_addmethods(L, SHMLUA_QUEUE_MT, methods);
}
