/* shm.barrier(parties [, name [, opts]]): wait([timeout]) -> arrival index (parties for the
   one that ended the round) | nil, "timeout" | nil, "broken"; reset(); fields parties,
   broken. Ctrl-C while waiting breaks the round for the others before raising. */
#include <errno.h>
#include <string.h>

#include "args.h"
#include "parts.h"
#include "sync.h"
#include "wait.h"

static int barrier_open(shmlua_syncud *u, shmlua_error *err);
static void barrier_close(shmlua_syncud *u);
static int barrier_field(lua_State *L, shmlua_syncud *u, const char *key);

static const shmlua_synclass barrier_class = {"shm.barrier", &shmlua_barrier_type,
                                              barrier_open, barrier_close, barrier_field};

/* What EUSERS means here: the barrier cannot track one more process. */
#define FULL "all %u member slots are taken by live processes (one per party and %d more)"

/* The steps on the barrier, run under a guard of its block (shmlua_sync_guarded). */
static int openstep(void *u, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_barrier_open(&((shmlua_syncud *)u)->as.barrier,
                                            ((shmlua_syncud *)u)->block.addr,
                                            ((shmlua_syncud *)u)->block.size, &err),
                        err);
}

static int closestep(void *u, const struct timespec *deadline) {
  (void)deadline;
  shmlua_barrier_close(&((shmlua_syncud *)u)->as.barrier);
  return 0;
}

static int brokenstep(void *u, const struct timespec *deadline) {
  (void)deadline;
  return shmlua_barrier_isbroken(&((shmlua_syncud *)u)->as.barrier);
}

static int resetstep(void *u, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_barrier_reset(&((shmlua_syncud *)u)->as.barrier, &err), err);
}

static int barrier_open(shmlua_syncud *u, shmlua_error *err) {
  shmlua_barrier *h = &u->as.barrier;
  int rc = shmlua_sync_guarded(u, openstep, u, NULL);
  if (rc == 0)
    return 0;
  if (rc == SHMLUA_SYNC_FAULT && u->fault.block)
    return shmlua_failf(err, rc, "%s: no memory behind byte %zu",
                        shmlua_name_user(&u->block.name), u->fault.offset + 1);
  return shmlua_failf(err, rc, "%s: " FULL, shmlua_name_user(&u->block.name),
                      (unsigned)h->slots, SHMLUA_BARRIER_OTHERS);
}

static void barrier_close(shmlua_syncud *u) {
  shmlua_sync_guarded(u, closestep, u, NULL); /* a block that is gone has no slot to leave */
}

static int barrier_field(lua_State *L, shmlua_syncud *u, const char *key) {
  if (strcmp(key, "parties") == 0)
    lua_pushinteger(L, u->as.barrier.parties);
  else if (strcmp(key, "broken") == 0) {
    int rc = shmlua_sync_guarded(u, brokenstep, u, NULL);
    if (rc == SHMLUA_SYNC_FAULT && u->fault.block)
      shmlua_sync_error(L, u, rc);
    lua_pushboolean(L, rc);
  } else
    return 0;
  return 1;
}

static int barrier_create(lua_State *L) {
  lua_Integer parties = shmlua_checkint(L, 1);
  uint32_t n;
  size_t size;
  shmlua_error err;
  luaL_argcheck(L, parties >= 1 && parties <= INT32_MAX, 1, "parties must be 1..2147483647");
  n = (uint32_t)parties;
  if (shmlua_barrier_layout_size(n, &size, &err) != 0)
    return luaL_argerror(L, 1, err.message);
  return shmlua_sync_create(L, &barrier_class, 2, 3, NULL, size, shmlua_barrier_init, &n);
}

typedef struct waiting {
  shmlua_syncud *u;
  shmlua_barrier *h; /* its b is NULL once the handle is closed */
  uint32_t round, index;
} waiting;

static int arrivestep(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_barrier_arrive(w->h, deadline, &w->round, &w->index, &err),
                        err);
}

static int awaitstep(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_barrier_await(w->h, w->round, deadline, &err), err);
}

static int breakstep(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  (void)deadline;
  shmlua_barrier_break(w->h, w->round);
  return 0;
}

static int awaitop(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  return w->h->b ? shmlua_sync_guarded(w->u, awaitstep, w, deadline) : SHMLUA_SYNC_CLOSED;
}

static void breakround(void *ctx) {
  waiting *w = ctx;
  if (w->h->b)
    shmlua_sync_guarded(w->u, breakstep, w, NULL);
}

static int barrier_wait(lua_State *L) {
  shmlua_syncud *u = shmlua_sync_check(L, 1, &barrier_class);
  shmlua_barrier *h = &u->as.barrier;
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  waiting w = {u, h, 0, 0};
  int rc = shmlua_sync_guarded(u, arrivestep, &w, d);
  if (rc == 0 && w.index < h->parties)
    rc = shmlua_sync_wait(L, awaitop, &w, d, 0, breakround);
  if (rc == 0) {
    lua_pushinteger(L, w.index);
    return 1;
  }
  if (rc == EUSERS)
    return luaL_error(L, "barrier '%s': " FULL, shmlua_name_user(&u->block.name),
                      (unsigned)h->slots, SHMLUA_BARRIER_OTHERS);
  return shmlua_sync_result(L, u, rc, SHMLUA_ON_BARRIER);
}

static int barrier_reset(lua_State *L) {
  shmlua_syncud *u = shmlua_sync_check(L, 1, &barrier_class);
  int rc = shmlua_sync_guarded(u, resetstep, u, NULL);
  if (rc != 0)
    return shmlua_sync_error(L, u, rc);
  lua_pushboolean(L, 1);
  return 1;
}

void shmlua_open_barrier(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"wait", barrier_wait}, {"reset", barrier_reset}, {NULL, NULL}};
  shmlua_sync_register(L, &barrier_class, methods, barrier_create, NULL);
}
