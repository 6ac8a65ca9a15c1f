/* shm.mutex: a robust process-shared lock. lock/trylock/unlock/consistent, with(fn, ...)
   and a guard for <close>. A lock whose previous holder died returns true, "owner-died". */
#include <errno.h>
#include <string.h>

#include "../core/mutex.h"
#include "sync.h"

#define GUARD_MT "shm.guard"

static void drop_lock(shmlua_syncud *u);

static const shmlua_synclass mutex_class = {SHMLUA_MUTEX_MT, &shmlua_mutex_type, NULL,
                                            drop_lock, NULL};

pthread_mutex_t *shmlua_mutex_of(shmlua_syncud *m) {
  return &((shmlua_mutex_block *)m->block.addr)->mutex;
}

/* A lock held through a handle must not outlive its mapping: the thread's robust list
   points into it. */
static void drop_lock(shmlua_syncud *u) {
  if (u->block.addr && u->held)
    shmlua_mutex_unlock(shmlua_mutex_of(u));
  u->held = 0;
}

shmlua_syncud *shmlua_mutex_check(lua_State *L, int arg) {
  return shmlua_sync_check(L, arg, &mutex_class);
}

static int lockresult(lua_State *L, shmlua_syncud *m, int rc) {
  const char *name = shmlua_name_user(&m->block.name);
  switch (rc) {
  case 0:
  case EOWNERDEAD:
    m->held = 1;
    lua_pushboolean(L, 1);
    if (rc == 0)
      return 1;
    lua_pushliteral(L, "owner-died");
    return 2;
  case ETIMEDOUT:
    return shmlua_sync_fail(L, "timeout");
  case EBUSY:
    return shmlua_sync_fail(L, "busy");
  case ENOTRECOVERABLE:
    return shmlua_sync_fail(L, "not recoverable");
  case EDEADLK:
    return luaL_error(L, "mutex '%s' is already locked by this process", name);
  default:
    return shmlua_sync_error(L, m, rc);
  }
}

static int lockop(void *ctx, const struct timespec *deadline) {
  return shmlua_mutex_lock(ctx, deadline);
}

/* A free mutex is taken at once, before the wait works out its slices: trylock gives the
   same results as lock would (EDEADLK when this process holds it), EBUSY aside. */
static int lockwithin(lua_State *L, shmlua_syncud *m, const struct timespec *deadline) {
  int rc = shmlua_mutex_trylock(shmlua_mutex_of(m));
  if (rc != EBUSY)
    return rc;
  return shmlua_sync_wait(L, lockop, shmlua_mutex_of(m), deadline, 1, NULL);
}

int shmlua_mutex_relock(lua_State *L, shmlua_syncud *m) {
  return lockresult(L, m, shmlua_mutex_lock(shmlua_mutex_of(m), NULL));
}

int shmlua_mutex_attach(lua_State *L, const shmlua_name *name) {
  return shmlua_sync_attach(L, &mutex_class, name);
}

static int mutex_create(lua_State *L) {
  return shmlua_sync_create(L, &mutex_class, 1, 2, NULL, sizeof(shmlua_mutex_block),
                            shmlua_mutex_block_init, NULL);
}

static int mutex_lock(lua_State *L) {
  shmlua_syncud *m = shmlua_mutex_check(L, 1);
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  return lockresult(L, m, lockwithin(L, m, d));
}

static int mutex_trylock(lua_State *L) {
  shmlua_syncud *m = shmlua_mutex_check(L, 1);
  int rc = shmlua_mutex_trylock(shmlua_mutex_of(m));
  return lockresult(L, m, rc == EDEADLK ? EBUSY : rc); /* held here: busy too */
}

static void unlock(lua_State *L, shmlua_syncud *m) {
  int rc = shmlua_mutex_unlock(shmlua_mutex_of(m));
  if (rc == EPERM)
    luaL_error(L, "mutex '%s' is not locked by this process", shmlua_name_user(&m->block.name));
  if (rc != 0)
    shmlua_sync_error(L, m, rc);
  m->held = 0;
}

static int mutex_unlock(lua_State *L) {
  unlock(L, shmlua_mutex_check(L, 1));
  lua_pushboolean(L, 1);
  return 1;
}

static int mutex_consistent(lua_State *L) {
  shmlua_syncud *m = shmlua_mutex_check(L, 1);
  int rc = shmlua_mutex_consistent(shmlua_mutex_of(m));
  if (rc == EINVAL)
    return luaL_error(L, "mutex '%s' is not in the owner-died state",
                      shmlua_name_user(&m->block.name));
  if (rc != 0)
    return shmlua_sync_error(L, m, rc);
  lua_pushboolean(L, 1);
  return 1;
}

/* Locks for with and guard, which have no way to hand back "owner-died": that raises, and
   the lock stays held so the caller can repair and call consistent (or die). */
static void strictlock(lua_State *L, shmlua_syncud *m, const struct timespec *deadline) {
  const char *name = shmlua_name_user(&m->block.name);
  int rc = lockwithin(L, m, deadline);
  if (rc == EOWNERDEAD) {
    m->held = 1;
    luaL_error(L,
               "mutex '%s': its previous owner died holding it (this process now holds it: "
               "repair, then call consistent and unlock)",
               name);
  }
  if (rc == ETIMEDOUT)
    luaL_error(L, "mutex '%s': timeout", name);
  if (rc != 0) {
    lockresult(L, m, rc);
    luaL_error(L, "mutex '%s': %s", name, lua_tostring(L, -1));
  }
  m->held = 1;
}

/* Pushes a guard of the mutex at arg, locked: its <close> (or collection) unlocks. Returns
   its flag, which is 1 while it holds the lock. */
static int *pushguard(lua_State *L, int arg, const struct timespec *deadline) {
  shmlua_syncud *m = shmlua_mutex_check(L, arg);
  int *active = lua_newuserdatauv(L, sizeof *active, 1);
  *active = 0;
  luaL_setmetatable(L, GUARD_MT);
  lua_pushvalue(L, arg);
  lua_setiuservalue(L, -2, 1);
  strictlock(L, m, deadline);
  *active = 1;
  return active;
}

/* m:with(fn, ...): fn(...) with the lock held. A to-be-closed guard unlocks when fn raises,
   so the error goes on untouched, traceback and all. */
static int mutex_with(lua_State *L) {
  shmlua_syncud *m = shmlua_mutex_check(L, 1);
  int *active;
  if (lua_type(L, 2) != LUA_TFUNCTION) { /* so with(nil) is not "attempt to call a nil value" */
    if (luaL_getmetafield(L, 2, "__call") == LUA_TNIL)
      return luaL_typeerror(L, 2, "function");
    lua_pop(L, 1);
  }
  active = pushguard(L, 1, NULL);
  lua_insert(L, 2);
#if SHMLUA_HAVE_TOCLOSE
  lua_toclose(L, 2);
  lua_call(L, lua_gettop(L) - 3, LUA_MULTRET);
#else /* no to-be-closed variables: the error is caught, the lock dropped, the error raised */
  if (lua_pcall(L, lua_gettop(L) - 3, LUA_MULTRET, 0) != LUA_OK) {
    *active = 0;
    drop_lock(m);
    return lua_error(L);
  }
#endif
  *active = 0; /* unlocked here instead, so that an unlock fn broke still raises */
  if (m->block.addr) /* fn may have closed it, which unlocked */
    unlock(L, m);
  return lua_gettop(L) - 2;
}

/* m:guard([timeout]): locks and returns an object whose <close> (or collection) unlocks. */
static int mutex_guard(lua_State *L) {
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  pushguard(L, 1, d);
  return 1;
}

static int guard_release(lua_State *L) {
  int *active = luaL_checkudata(L, 1, GUARD_MT);
  if (!*active)
    return 0;
  *active = 0;
  lua_getiuservalue(L, 1, 1);
  drop_lock(lua_touserdata(L, -1));
  return 0;
}

static int guard_tostring(lua_State *L) {
  int *active = luaL_checkudata(L, 1, GUARD_MT);
  lua_pushstring(L, *active ? "shm.guard (locked)" : "shm.guard (released)");
  return 1;
}

void shmlua_open_mutex(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"lock", mutex_lock},   {"trylock", mutex_trylock}, {"unlock", mutex_unlock},
      {"consistent", mutex_consistent}, {"with", mutex_with}, {"guard", mutex_guard},
      {NULL, NULL}};
  static const luaL_Reg guard_meta[] = {{"__close", guard_release},
                                        {"__gc", guard_release},
                                        {"__tostring", guard_tostring},
                                        {NULL, NULL}};
  static const luaL_Reg guard_methods[] = {{"release", guard_release}, {NULL, NULL}};
  shmlua_newclass(L, GUARD_MT, guard_meta, guard_methods, NULL);
  lua_pop(L, 1);
  shmlua_sync_register(L, &mutex_class, methods, mutex_create, NULL);
}
