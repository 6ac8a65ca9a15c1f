/* shm.event([name [, opts]]): set(), clear(), wait([timeout]), field isset. */
#include <errno.h>
#include <string.h>

#include "../core/event.h"
#include "parts.h"
#include "sync.h"
#include "wait.h"

static int event_field(lua_State *L, shmlua_syncud *u, const char *key);

static const shmlua_synclass event_class = {"shm.event", &shmlua_event_type, NULL, NULL,
                                            event_field};

static shmlua_event_block *eventof(void *u) {
  return (void *)((shmlua_syncud *)u)->block.addr;
}

/* The steps on the event, run under a guard of its block (shmlua_sync_guarded). */
static int issetstep(void *u, const struct timespec *deadline) {
  (void)deadline;
  return shmlua_event_isset(eventof(u));
}

static int setstep(void *u, const struct timespec *deadline) {
  (void)deadline;
  shmlua_event_set(eventof(u));
  return 0;
}

static int clearstep(void *u, const struct timespec *deadline) {
  (void)deadline;
  shmlua_event_clear(eventof(u));
  return 0;
}

/* Runs step on the event at arg 1 under a guard: what it returns; a fault raises. */
static int run(lua_State *L, shmlua_sync_op step) {
  shmlua_syncud *u = shmlua_sync_check(L, 1, &event_class);
  int rc = shmlua_sync_guarded(u, step, u, NULL);
  if (rc == SHMLUA_SYNC_FAULT && u->fault.block)
    shmlua_sync_error(L, u, rc);
  return rc;
}

static int event_field(lua_State *L, shmlua_syncud *u, const char *key) {
  int rc;
  if (strcmp(key, "isset") != 0)
    return 0;
  if ((rc = shmlua_sync_guarded(u, issetstep, u, NULL)) == SHMLUA_SYNC_FAULT && u->fault.block)
    return shmlua_sync_error(L, u, rc);
  lua_pushboolean(L, rc);
  return 1;
}

static int event_create(lua_State *L) {
  return shmlua_sync_create(L, &event_class, 1, 2, NULL, sizeof(shmlua_event_block), NULL,
                            NULL);
}

static int event_set(lua_State *L) {
  run(L, setstep);
  lua_pushboolean(L, 1);
  return 1;
}

static int event_clear(lua_State *L) {
  run(L, clearstep);
  lua_pushboolean(L, 1);
  return 1;
}

typedef struct waiting {
  shmlua_syncud *u;
  uint32_t seen; /* read once, so a set between two slices is not missed */
} waiting;

static int waitstep(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_event_wait(eventof(w->u), w->seen, deadline, &err), err);
}

static int statestep(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  (void)deadline;
  w->seen = shmlua_event_state(eventof(w->u));
  return 0;
}

static int waitop(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  if (!w->u->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_sync_guarded(w->u, waitstep, w, deadline);
}

static int event_wait(lua_State *L) {
  waiting w = {shmlua_sync_check(L, 1, &event_class), 0};
  double seconds;
  const double *timeout = shmlua_optseconds(L, 2, &seconds);
  int rc;
  /* A set event (bit 0 of its state) returns at once, before the wait works out its
     deadline (a clock read) and its slices. */
  if ((rc = shmlua_sync_guarded(w.u, statestep, &w, NULL)) == 0 && !(w.seen & 1u))
    rc = shmlua_sync_wait_for(L, waitop, &w, timeout);
  if (rc != 0)
    return shmlua_sync_result(L, w.u, rc, SHMLUA_ON_WAIT);
  lua_pushboolean(L, 1);
  return 1;
}

void shmlua_open_event(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"set", event_set}, {"clear", event_clear}, {"wait", event_wait}, {NULL, NULL}};
  shmlua_sync_register(L, &event_class, methods, event_create, NULL);
}
