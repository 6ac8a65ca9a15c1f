/* shm.semaphore(value [, name [, opts]]): acquire([timeout]), tryacquire(), release([n]),
   field value. */
#include <errno.h>
#include <string.h>

#include "../core/semaphore.h"
#include "sync.h"

static int semaphore_field(lua_State *L, shmlua_syncud *u, const char *key);

static const shmlua_synclass semaphore_class = {"shm.semaphore", &shmlua_semaphore_type, NULL,
                                                NULL, semaphore_field};

static shmlua_semaphore_block *checksem(lua_State *L) {
  return (void *)shmlua_sync_check(L, 1, &semaphore_class)->block.addr;
}

static int semaphore_field(lua_State *L, shmlua_syncud *u, const char *key) {
  if (strcmp(key, "value") != 0)
    return 0;
  lua_pushinteger(L, shmlua_semaphore_value((void *)u->block.addr));
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
  return u->block.addr ? shmlua_semaphore_acquire((void *)u->block.addr, deadline)
                       : SHMLUA_SYNC_CLOSED;
}

static int semaphore_acquire(lua_State *L) {
  shmlua_syncud *u = shmlua_sync_check(L, 1, &semaphore_class);
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  int rc = 0;
  /* A unit that is there is taken at once, before the wait works out its slices. */
  if (shmlua_semaphore_tryacquire((void *)u->block.addr) != 0)
    rc = shmlua_sync_wait(L, acquireop, u, d, 1, NULL);
  if (rc == ETIMEDOUT)
    return shmlua_sync_fail(L, "timeout");
  if (rc != 0)
    return shmlua_sync_error(L, u, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int semaphore_tryacquire(lua_State *L) {
  lua_pushboolean(L, shmlua_semaphore_tryacquire(checksem(L)) == 0);
  return 1;
}

static int semaphore_release(lua_State *L) {
  shmlua_semaphore_block *s = checksem(L);
  lua_Integer n = shmlua_optint(L, 2, 1);
  luaL_argcheck(L, n >= 1 && n <= SHMLUA_SEMAPHORE_MAX, 2, "count must be 1..2147483647");
  if (shmlua_semaphore_release(s, (uint32_t)n) != 0)
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
