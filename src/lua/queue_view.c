/* q:view([timeout]): the oldest message read in place, without copying it out of the queue.
   A view is buf-like (#v, v:byte, v:sub, v:unpack) and holds the head's lock until
   v:release() (or <close>, or collection) takes the message out; a view used after that
   raises. While it is open no other popper gets past it, and this process's own pops fail
   (the lock is held). Closing the queue leaves the message in. */
#include <errno.h>
#include <string.h>

#include <lualib.h>

#include "blockaccess.h"
#include "class.h"
#include "pack.h"
#include "parts.h"
#include "position.h"
#include "sync.h"
#include "wait.h"

#define VIEW_MT "shm.view"

static const char view_class; /* its address is the views' tag */

typedef struct view {
  shmlua_queue_view v;
  shmlua_syncud *u; /* the queue, kept alive by the user value */
} view;

static size_t length(const view *w) {
  return w->v.len[0] + w->v.len[1];
}

static view *toview(lua_State *L) {
  return shmlua_checktagged(L, 1, sizeof(view), &view_class, VIEW_MT);
}

static int is_open(const view *w) {
  return w->u && w->u->block.addr && shmlua_queue_view_open(&w->u->as.queue, &w->v);
}

static view *checkview(lua_State *L) {
  view *w = toview(L);
  if (!is_open(w))
    luaL_error(L, "view of a queue message used after its release");
  return w;
}

/* Copies len bytes from offset at of the message (which may wrap around the ring). */
static void copy_out(const view *w, size_t at, size_t len, char *dst) {
  if (at < w->v.len[0]) {
    size_t first = w->v.len[0] - at < len ? w->v.len[0] - at : len;
    memcpy(dst, w->v.part[0] + at, first);
    dst += first;
    len -= first;
    at = w->v.len[0];
  }
  if (len > 0)
    memcpy(dst, w->v.part[1] + (at - w->v.len[0]), len);
}

/* A copy_out for shmlua_guardedcall: the ring is read in place, and a peer may have
   truncated the block under it. */
typedef struct copying {
  const view *w;
  size_t at, len;
  char *dst;
} copying;

static int copystep(void *ctx) {
  copying *c = ctx;
  copy_out(c->w, c->at, c->len, c->dst);
  return 0;
}

static void guarded_copy_out(lua_State *L, const view *w, size_t at, size_t len, char *dst) {
  copying c = {w, at, len, dst};
  shmlua_guardedcall(L, copystep, &c, &w->u->block, NULL);
}

/* Pushes the message's bytes at..at+len as a string: one copy when they do not wrap. Where
   lua_pushlstring may collect before it copies (5.1, 5.2, LuaJIT), a finalizer run then may
   release the view: the bytes go through memory of ours, copied once it is allocated and the
   view is checked again. */
static void push_bytes(lua_State *L, const view *w, size_t at, size_t len) {
#if SHMLUA_PUSH_COLLECTS_FIRST
  char *copy = lua_newuserdata(L, len);
  guarded_copy_out(L, checkview(L), at, len, copy);
  lua_pushlstring(L, copy, len);
  lua_remove(L, -2);
  (void)w;
#else
  luaL_Buffer b;
  char *dst;
  if (at + len <= w->v.len[0]) {
    shmlua_pushblockbytes(L, &w->u->block, w->v.part[0] + at, len);
    return;
  }
  dst = luaL_buffinitsize(L, &b, len);
  guarded_copy_out(L, checkview(L), at, len, dst); /* the allocation may have released it */
  luaL_pushresultsize(&b, len);
#endif
}

static int view_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)length(checkview(L)));
  return 1;
}

/* v:sub([i [, j]]) as string.sub. */
static int view_sub(lua_State *L) {
  view *w = checkview(L);
  size_t first,
      n = shmlua_range(luaL_optinteger(L, 2, 1), luaL_optinteger(L, 3, -1), length(w), &first);
  push_bytes(L, w, n ? first : 0, n);
  return 1;
}

/* v:byte([i [, j]]) as string.byte. */
static int view_byte(lua_State *L) {
  view *w = checkview(L);
  lua_Integer i = luaL_optinteger(L, 2, 1);
  size_t first, n = shmlua_range(i, luaL_optinteger(L, 3, i), length(w), &first);
  luaL_checkstack(L, (int)(n < 1000000 ? n : 1000000), "string slice too long");
  w = checkview(L); /* again: growing the stack may run a finalizer that releases it */
  for (size_t k = 0; k < n; k++) {
    unsigned char c;
    guarded_copy_out(L, w, first + k, 1, (char *)&c);
    lua_pushinteger(L, c);
  }
  return (int)n;
}

/* Bytes at..at+len of the view src, checked again: a finalizer may run between two tries. */
static void push_view(lua_State *L, void *src, size_t at, size_t len) {
  (void)src;
  push_bytes(L, checkview(L), at, len);
}

/* v:unpack(fmt [, i]) as string.unpack on the message. */
static int view_unpack(lua_State *L) {
  view *w = checkview(L);
  size_t start;
  int n;
  if (lua_isnil(L, lua_upvalueindex(1))) /* Lua 5.1, 5.2 and LuaJIT */
    return luaL_error(L, "v:unpack needs string.unpack (Lua 5.3 or later)");
  luaL_checkstring(L, 2);
  start = shmlua_checkstart(L, luaL_optinteger(L, 3, 1), length(w));
  lua_settop(L, 2);
  n = shmlua_unpack_window(L, lua_upvalueindex(1), length(w), start, push_view, w);
  return n < 0 ? lua_error(L) : n; /* string.unpack's own "data string too short" */
}

static int releasestep(void *ctx) {
  view *w = ctx;
  shmlua_queue_view_release(&w->u->as.queue, &w->v);
  return 0;
}

/* Releases w under a guard of its block: whether a fault cut it short (in fault). The
   handle counts the view ended before it touches the block, so a cut-short release leaves
   nothing open. */
static int release(view *w, shmlua_fault *fault) {
  int rc = 0, failed = 0;
  if (is_open(w))
    failed = shmlua_guarded_run(releasestep, w, &rc, &w->u->block, NULL, fault);
  w->u = NULL;
  return failed;
}

/* v:release(): takes the message out of the queue; again, or after the queue closed, does
   nothing. A block truncated by a peer raises (the message is gone with it). */
static int view_release(lua_State *L) {
  shmlua_fault fault;
  if (release(toview(L), &fault) != 0)
    return shmlua_faulterror(L, &fault);
  return 0;
}

/* The collector's release: the same, without raising (nothing could catch it). */
static int view_gc(lua_State *L) {
  shmlua_fault fault;
  release(toview(L), &fault);
  return 0;
}

static int view_tostring(lua_State *L) {
  view *w = toview(L);
  if (is_open(w))
    lua_pushfstring(L, VIEW_MT ": %I bytes", (LUAI_UACINT)length(w));
  else
    lua_pushliteral(L, VIEW_MT ": released");
  return 1;
}

typedef struct peeking {
  shmlua_syncud *u;
  shmlua_queue_view *v;
} peeking;

static int peekstep(void *ctx, const struct timespec *deadline) {
  peeking *p = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_queue_peek(&p->u->as.queue, p->v, 1, deadline, &err), err);
}

/* Each step of the wait under a guard of the queue's block: a truncated one raises. */
static int peekop(void *ctx, const struct timespec *deadline) {
  peeking *p = ctx;
  if (!p->u->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_sync_guarded(p->u, peekstep, p, deadline);
}

/* q:view([timeout]) -> view, or nil and "timeout" or "closed". */
static int queue_view(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  view *w;
  peeking p;
  int rc;
  lua_settop(L, 1);
  /* Made first: once the lock is held nothing may raise before the view owns it. */
  w = shmlua_newtagged(L, sizeof *w, 1, &view_class);
  memset(w, 0, sizeof *w);
  luaL_setmetatable(L, VIEW_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  p.u = u;
  p.v = &w->v;
  if ((rc = shmlua_sync_wait(L, peekop, &p, d, 1, NULL)) == 0) {
    w->u = u;
    return 1;
  }
  return shmlua_sync_result(L, u, rc, SHMLUA_ON_POP);
}

void shmlua_open_queue_view(lua_State *L) {
  static const luaL_Reg metamethods[] = {{"__len", view_len},
                                         {"__close", view_release},
                                         {"__gc", view_gc},
                                         {"__tostring", view_tostring},
                                         {NULL, NULL}};
  static const luaL_Reg methods[] = {
      {"sub", view_sub}, {"byte", view_byte}, {"release", view_release}, {NULL, NULL}};
  static const luaL_Reg queue_methods[] = {{"view", queue_view}, {NULL, NULL}};
  shmlua_newclass(L, VIEW_MT, metamethods, methods, NULL);
  /* unpack's upvalue: the string library's own, whatever a script does to string.unpack */
  lua_getfield(L, -1, SHMLUA_METHODS);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
  lua_getfield(L, -1, "unpack");
  lua_pushcclosure(L, view_unpack, 1);
  lua_setfield(L, -3, "unpack");
  lua_pop(L, 3);
  shmlua_addmethods(L, SHMLUA_QUEUE_MT, queue_methods);
}
