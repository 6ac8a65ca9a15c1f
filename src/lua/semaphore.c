/* shm.semaphore(value [, name [, opts]]): acquire([timeout]), tryacquire(), release([n]),
   field value. */
#include <errno.h>
#include <string.h>

#include "../core/semaphore.h"
#include "args.h"
#include "parts.h"
#include "sync.h"
#include "wait.h"

static int semaphore_field(lua_State *L, shmlua_syncud *u, const char *key);

static const shmlua_synclass semaphore_class = {"shm.semaphore", &shmlua_semaphore_type, NULL,
                                                NULL, semaphore_field};

/* The steps on the semaphore, run under a guard of its block (shmlua_sync_guarded). */
static int valuestep(void *u, const struct timespec *deadline) {
  (void)deadline;
  return (int)shmlua_semaphore_value((void *)((shmlua_syncud *)u)->block.addr);
}

static int trystep(void *u, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(
      shmlua_semaphore_tryacquire((void *)((shmlua_syncud *)u)->block.addr, &err), err);
}

typedef struct releasing {
  shmlua_syncud *u;
  uint32_t n;
} releasing;

static int releasestep(void *ctx, const struct timespec *deadline) {
  releasing *r = ctx;
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_semaphore_release((void *)r->u->block.addr, r->n, &err), err);
}

static int acquirestep(void *u, const struct timespec *deadline) {
  shmlua_error err;
  return SHMLUA_OUTCOME(
      shmlua_semaphore_acquire((void *)((shmlua_syncud *)u)->block.addr, deadline, &err), err);
}

static int semaphore_field(lua_State *L, shmlua_syncud *u, const char *key) {
  int value;
  if (strcmp(key, "value") != 0)
    return 0;
  if ((value = shmlua_sync_guarded(u, valuestep, u, NULL)) == SHMLUA_SYNC_FAULT &&
      u->fault.block)
    return shmlua_sync_error(L, u, value);
  lua_pushinteger(L, value);
  return 1;
}

static int semaphore_create(lua_State *L) {
  lua_Integer value = shmlua_checkint(L, 1);
  uint32_t start;
  luaL_argcheck(L, value >= 0 && value <= SHMLUA_SEMAPHORE_MAX, 1,
                "value must be 0..2147483647");
  start = (uint32_t)value;
  return shmlua_sync_create(L, &semaphore_class, 2, 3, NULL, sizeof(shmlua_semaphore_block),
                            shmlua_semaphore_init, &start);
}

static int acquireop(void *ctx, const struct timespec *deadline) {
  shmlua_syncud *u = ctx;
  return u->block.addr ? shmlua_sync_guarded(u, acquirestep, u, deadline) : SHMLUA_SYNC_CLOSED;
}

static int semaphore_acquire(lua_State *L) {
  shmlua_syncud *u = shmlua_sync_check(L, 1, &semaphore_class);
  double seconds;
  const double *timeout = shmlua_optseconds(L, 2, &seconds);
  int rc;
  /* A unit that is there is taken at once, before the wait works out its deadline (a clock
     read) and its slices. */
  if ((rc = shmlua_sync_guarded(u, trystep, u, NULL)) == EAGAIN)
    rc = shmlua_sync_wait_for(L, acquireop, u, timeout);
  if (rc != 0)
    return shmlua_sync_result(L, u, rc, SHMLUA_ON_WAIT);
  lua_pushboolean(L, 1);
  return 1;
}

static int semaphore_tryacquire(lua_State *L) {
  shmlua_syncud *u = shmlua_sync_check(L, 1, &semaphore_class);
  int rc = shmlua_sync_guarded(u, trystep, u, NULL);
  if (rc == SHMLUA_SYNC_FAULT)
    return shmlua_sync_error(L, u, rc);
  lua_pushboolean(L, rc == 0);
  return 1;
}

static int semaphore_release(lua_State *L) {
  releasing r = {shmlua_sync_check(L, 1, &semaphore_class), 0};
  lua_Integer n = shmlua_optint(L, 2, 1);
  int rc;
  luaL_argcheck(L, n >= 1 && n <= SHMLUA_SEMAPHORE_MAX, 2, "count must be 1..2147483647");
  r.n = (uint32_t)n;
  if ((rc = shmlua_sync_guarded(r.u, releasestep, &r, NULL)) == SHMLUA_SYNC_FAULT)
    return shmlua_sync_error(L, r.u, rc);
  if (rc != 0)
    return luaL_error(L, "semaphore value would exceed 2147483647");
  lua_pushboolean(L, 1);
  return 1;
}

void shmlua_open_semaphore(lua_State *L) {
  static const luaL_Reg methods[] = {{"acquire", semaphore_acquire},
                                     {"tryacquire", semaphore_tryacquire},
                                     {"release", semaphore_release},
                                     {NULL, NULL}};
  shmlua_sync_register(L, &semaphore_class, methods, semaphore_create, NULL);
}
