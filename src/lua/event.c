/* shm.event([name [, opts]]): set(), clear(), wait([timeout]), field isset. */
#include <errno.h>
#include <string.h>

#include "../core/event.h"
#include "sync.h"

static int event_field(lua_State *L, shmlua_syncud *u, const char *key);

static const shmlua_synclass event_class = {"shm.event", &shmlua_event_type, NULL, NULL,
                                            event_field};

static shmlua_event_block *checkevent(lua_State *L) {
  return (void *)shmlua_sync_check(L, 1, &event_class)->block.addr;
}

static int event_field(lua_State *L, shmlua_syncud *u, const char *key) {
  if (strcmp(key, "isset") != 0)
    return 0;
  lua_pushboolean(L, shmlua_event_isset((void *)u->block.addr));
  return 1;
}

static int event_create(lua_State *L) {
  return shmlua_sync_create(L, &event_class, 1, 2, NULL, sizeof(shmlua_event_block), NULL, NULL);
}

static int event_set(lua_State *L) {
  shmlua_event_set(checkevent(L));
  lua_pushboolean(L, 1);
  return 1;
}

static int event_clear(lua_State *L) {
  shmlua_event_clear(checkevent(L));
  lua_pushboolean(L, 1);
  return 1;
}

typedef struct waiting {
  shmlua_syncud *u;
  uint32_t seen; /* read once, so a set between two slices is not missed */
} waiting;

static int waitop(void *ctx, const struct timespec *deadline) {
  waiting *w = ctx;
  if (!w->u->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_event_wait((void *)w->u->block.addr, w->seen, deadline);
}

static int event_wait(lua_State *L) {
  waiting w = {shmlua_sync_check(L, 1, &event_class), 0};
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  int rc;
  w.seen = shmlua_event_state((void *)w.u->block.addr);
  rc = shmlua_sync_wait(L, waitop, &w, d, 1, NULL);
  if (rc == ETIMEDOUT)
    return shmlua_sync_fail(L, "timeout");
  if (rc != 0)
    return shmlua_sync_error(L, w.u, rc);
  lua_pushboolean(L, 1);
  return 1;
}

void shmlua_open_event(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"set", event_set}, {"clear", event_clear}, {"wait", event_wait}, {NULL, NULL}};
  shmlua_sync_register(L, &event_class, methods, event_create, NULL);
}
