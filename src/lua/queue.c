/* shm.queue([opts]): a bounded queue of byte strings between processes.
   push(s [, timeout]) / pop([timeout]), try_push(s) / try_pop(), shutdown(), fields count,
   ended, messages, bytes. Failures a caller expects return nil and "timeout", "full",
   "empty" or "closed" (shut down: pushes refused, pops get what is left first). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../core/futex.h"
#include "args.h"
#include "blockaccess.h"
#include "parts.h"
#include "sync.h"
#include "wait.h"

enum { DEFAULT_MESSAGES = 1024, DEFAULT_BYTES = 1 << 20 };

/* A handle keeps its pop buffer for the next pop up to this size; the buffer of a larger
   message is freed once it is copied out, so one large message does not pin its size for
   the life of the handle. q:pop makes a larger message's string straight from the ring
   instead (one copy instead of two, and no buffer to allocate), unless it wraps around the
   ring's end: then it keeps the buffer until a small message comes, as freeing a large
   buffer at each message of a large stream, the strings freed by the collector in between,
   made glibc give the heap's top back and fault it in again (120 page faults a MiB). */
enum { SCRATCH_KEPT = 64 * 1024 };

static int queue_open(shmlua_syncud *u, shmlua_error *err);
static void queue_close(shmlua_syncud *u);
static int queue_field(lua_State *L, shmlua_syncud *u, const char *key);

static const shmlua_synclass queue_class = {SHMLUA_QUEUE_MT, &shmlua_queue_type, queue_open,
                                            queue_close, queue_field};

static int queue_open(shmlua_syncud *u, shmlua_error *err) {
  (void)err;
  shmlua_queue_open(&u->as.queue, u->block.addr, u->block.size);
  return 0;
}

static int dropstep(void *ctx) {
  shmlua_queue_view_drop(ctx);
  return 0;
}

/* An open view's lock, before the unmapping; under a guard, as a peer may have truncated
   the block (then there is no lock left to give back). */
static void queue_close(shmlua_syncud *u) {
  shmlua_fault fault;
  int rc;
  shmlua_guarded_run(dropstep, &u->as.queue, &rc, &u->block, NULL, &fault);
}

/* The shared fields count and ended, for shmlua_sync_guarded. */
typedef struct state {
  shmlua_syncud *u;
  size_t count;
  int ended;
} state;

static int readstate(void *ctx, const struct timespec *deadline) {
  state *s = ctx;
  (void)deadline;
  s->count = shmlua_queue_count(&s->u->as.queue);
  s->ended = shmlua_queue_ended(&s->u->as.queue);
  return 0;
}

static int queue_field(lua_State *L, shmlua_syncud *u, const char *key) {
  const shmlua_queue *h = &u->as.queue;
  int count = strcmp(key, "count") == 0, ended = strcmp(key, "ended") == 0;
  if (count || ended) {
    state s = {u, 0, 0};
    int rc = shmlua_sync_guarded(u, readstate, &s, NULL);
    if (rc != 0)
      shmlua_sync_error(L, u, rc);
    if (count)
      lua_pushinteger(L, (lua_Integer)s.count);
    else
      lua_pushboolean(L, s.ended);
  } else if (strcmp(key, "messages") == 0)
    lua_pushinteger(L, (lua_Integer)h->max_messages);
  else if (strcmp(key, "bytes") == 0)
    lua_pushinteger(L, (lua_Integer)h->max_bytes);
  else
    return 0;
  return 1;
}

shmlua_syncud *shmlua_checkqueue(lua_State *L, int arg) {
  return shmlua_sync_check(L, arg, &queue_class);
}

/* Inline here (shmlua_checkqueue is a global, so not inlined): half of it is the call. */
static shmlua_syncud *checkqueue(lua_State *L) {
  return shmlua_sync_check(L, 1, &queue_class);
}

/* shm.queue{messages = n, bytes = n, name = s, mode = m, keep = b} */
static int queue_create(lua_State *L) {
  static const char *const allowed[] = {"messages", "bytes", "name", "mode", "keep", NULL};
  shmlua_queue_limits limits;
  shmlua_error err;
  size_t size;
  lua_settop(L, 1);
  shmlua_checkopts(L, 1, allowed);
  limits.messages = (uint64_t)shmlua_optfield_int(L, 1, "messages", DEFAULT_MESSAGES);
  limits.bytes = (uint64_t)shmlua_optfield_int(L, 1, "bytes", DEFAULT_BYTES);
  if (shmlua_queue_layout_size(&limits, &size, &err) != 0)
    return luaL_argerror(L, 1, err.message);
  shmlua_pushoptname(L, 1, "name");
  return shmlua_sync_create(L, &queue_class, 2, 1, allowed, size, shmlua_queue_init, &limits);
}

typedef struct push_request {
  shmlua_syncud *u;
  const char *s;
  size_t len;
  int wait; /* SHMLUA_QUEUE_* */
} push_request;

static int pushstep(void *ctx, const struct timespec *deadline) {
  push_request *p = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(
      shmlua_queue_push(&p->u->as.queue, p->s, p->len, p->wait, deadline, &err), err);
}

/* Each step, the first try too, under a guard of the queue's block: a truncated one
   raises. */
static int pushop(void *ctx, const struct timespec *deadline) {
  push_request *p = ctx;
  if (!p->u->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_sync_guarded(p->u, pushstep, p, deadline);
}

static int pushresult(lua_State *L, shmlua_syncud *u, int rc) {
  if (rc == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (rc == EMSGSIZE)
    return luaL_argerror(L, 2,
                         lua_pushfstring(L, "message longer than the queue's %I bytes",
                                         (LUAI_UACINT)u->as.queue.max_bytes));
  return shmlua_sync_result(L, u, rc, SHMLUA_ON_PUSH);
}

/* Whether the first try of a wait (SHMLUA_QUEUE_ONCE) must go on to the wait itself. */
static int must_wait(int rc) {
  return rc == EAGAIN || rc == EBUSY;
}

/* shmlua_queue_put's work, inlined into q:push as well (no call between the two). */
static inline int put(lua_State *L, shmlua_syncud *u, const char *s, size_t len, int wait,
                      const double *timeout) {
  push_request p = {u, s, len, wait ? SHMLUA_QUEUE_ONCE : SHMLUA_QUEUE_TRY};
  int rc = shmlua_sync_guarded(u, pushstep, &p, NULL);
  if (wait && must_wait(rc)) {
    p.wait = SHMLUA_QUEUE_WAIT;
    rc = shmlua_sync_wait_for(L, pushop, &p, timeout);
  }
  return pushresult(L, u, rc);
}

int shmlua_queue_put(lua_State *L, shmlua_syncud *u, const char *s, size_t len, int wait,
                     const double *timeout) {
  return put(L, u, s, len, wait, timeout);
}

static int queue_push(lua_State *L) {
  shmlua_syncud *u = checkqueue(L);
  double seconds;
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  return put(L, u, s, len, 1, shmlua_optseconds(L, 3, &seconds));
}

static int queue_try_push(lua_State *L) {
  shmlua_syncud *u = checkqueue(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  return put(L, u, s, len, 0, NULL);
}

typedef struct pop_request {
  shmlua_syncud *u;
  size_t len, in_place_from;
  int wait;                   /* SHMLUA_QUEUE_* */
  shmlua_queue_glance glance; /* data not NULL: the message was left in, glanced at */
  struct timespec deadline;   /* made at the first wait, for the ones after it */
  const struct timespec *until;
} pop_request;

static int popstep(void *ctx, const struct timespec *deadline) {
  pop_request *p = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_queue_pop_or_glance(&p->u->as.queue, shmlua_sync_scratch, p->u,
                                                   &p->len, p->in_place_from, &p->glance,
                                                   p->wait, deadline, &err),
                        err);
}

static int takestep(void *ctx, const struct timespec *deadline) {
  pop_request *p = ctx;
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_queue_take_glanced(&p->u->as.queue, &p->glance, &err), err);
}

static int popop(void *ctx, const struct timespec *deadline) {
  pop_request *p = ctx;
  if (!p->u->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_sync_guarded(p->u, popstep, p, deadline);
}

/* 0 with the message in p's scratch, or what a failed pop returns, pushed. */
static int popfailure(lua_State *L, pop_request *p, int rc) {
  if (rc == 0)
    return 0;
  if (rc == ENOMEM)
    return luaL_error(L, "not enough memory");
  return shmlua_sync_result(L, p->u, rc, SHMLUA_ON_POP);
}

/* A pop as q:pop waits (a first try, then until timeout from the first wait), a message of
   in_place_from bytes or more only glanced at (p->glance). */
static int take(lua_State *L, pop_request *p, int wait, const double *timeout) {
  int rc;
  p->wait = wait ? SHMLUA_QUEUE_ONCE : SHMLUA_QUEUE_TRY;
  rc = shmlua_sync_guarded(p->u, popstep, p, NULL);
  if (wait && must_wait(rc)) {
    p->wait = SHMLUA_QUEUE_WAIT;
    if (timeout && !p->until) {
      p->deadline = shmlua_deadline(*timeout);
      p->until = &p->deadline;
    }
    rc = shmlua_sync_wait(L, popop, p, p->until, 1, NULL);
  }
  return popfailure(L, p, rc);
}

int shmlua_queue_get(lua_State *L, shmlua_syncud *u, int wait, const double *timeout,
                     const char **data, size_t *len) {
  pop_request p = {.u = u, .in_place_from = SIZE_MAX};
  int n = take(L, &p, wait, timeout);
  *data = p.len ? u->scratch : "";
  *len = p.len;
  return n;
}

void shmlua_queue_got(shmlua_syncud *u) {
  if (u->scratch_size > SCRATCH_KEPT)
    shmlua_sync_scratch_drop(u);
}

/* A large message's string is made from the ring with the queue unlocked, so a finalizer
   its allocation runs may use the queue: one that popped that message meanwhile leaves this
   pop a copy to drop and the next message to take. */
static int popstring(lua_State *L, shmlua_syncud *u, int wait, const double *timeout) {
  pop_request p = {.u = u, .in_place_from = SCRATCH_KEPT + 1};
  for (;;) {
    int n = take(L, &p, wait, timeout), rc;
    if (n != 0)
      return n;
    if (!p.glance.data) {
      shmlua_sync_pushscratch(L, u, p.len ? u->scratch : "", p.len);
      if (p.len <= SCRATCH_KEPT)
        shmlua_queue_got(u);
      return 1;
    }
    shmlua_pushblockbytes(L, &u->block, p.glance.data, p.glance.len);
    rc = u->block.addr ? shmlua_sync_guarded(u, takestep, &p, NULL) : SHMLUA_SYNC_CLOSED;
    if (rc == 0)
      return 1;
    lua_pop(L, 1);
    if (rc != EAGAIN)
      return popfailure(L, &p, rc);
  }
}

static int queue_pop(lua_State *L) {
  shmlua_syncud *u = checkqueue(L);
  double seconds;
  return popstring(L, u, 1, shmlua_optseconds(L, 2, &seconds));
}

static int queue_try_pop(lua_State *L) {
  return popstring(L, checkqueue(L), 0, NULL);
}

static int shutdownstep(void *ctx, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_queue_shutdown(&((shmlua_syncud *)ctx)->as.queue, &err), err);
}

static int queue_shutdown(lua_State *L) {
  shmlua_syncud *u = checkqueue(L);
  int rc = shmlua_sync_guarded(u, shutdownstep, u, NULL);
  if (rc != 0)
    return shmlua_sync_result(L, u, rc, SHMLUA_ON_WAIT);
  lua_pushboolean(L, 1);
  return 1;
}

void shmlua_open_queue(lua_State *L) {
  static const luaL_Reg methods[] = {{"push", queue_push},         {"pop", queue_pop},
                                     {"try_push", queue_try_push}, {"try_pop", queue_try_pop},
                                     {"shutdown", queue_shutdown}, {NULL, NULL}};
  shmlua_sync_register(L, &queue_class, methods, queue_create, NULL);
}
