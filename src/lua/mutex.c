/* shm.mutex: a robust process-shared lock. lock/trylock/unlock/consistent, with(fn, ...)
   and a guard for <close>. A lock whose previous holder died returns true, "owner-died". */
#include <errno.h>
#include <string.h>

#include "../core/mutex.h"
#include "class.h"
#include "parts.h"
#include "sync.h"
#include "wait.h"

#define GUARD_MT "shm.guard"

static void drop_lock(shmlua_syncud *u);

static const shmlua_synclass mutex_class = {SHMLUA_MUTEX_MT, &shmlua_mutex_type, NULL,
                                            drop_lock, NULL};

static pthread_mutex_t *lockof(shmlua_syncud *m) {
  return &((shmlua_mutex_block *)m->block.addr)->mutex;
}

/* The steps on the lock, run under a guard of its block (shmlua_sync_guarded). */
static int lockstep(void *m, const struct timespec *deadline) {
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_mutex_lock(lockof(m), deadline, &err), err);
}

static int trystep(void *m, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_mutex_trylock(lockof(m), &err), err);
}

static int unlockstep(void *m, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_mutex_unlock(lockof(m), &err), err);
}

static int consistentstep(void *m, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_mutex_consistent(lockof(m), &err), err);
}

pthread_mutex_t *shmlua_mutex_of(shmlua_syncud *m) {
  return lockof(m);
}

/* A lock held through a handle must not outlive its mapping: the thread's robust list
   points into it. */
static void drop_lock(shmlua_syncud *u) {
  if (u->block.addr && u->held)
    shmlua_sync_guarded(u, unlockstep, u, NULL);
  u->held = 0;
}

/* Records that the lock was taken through m: a new number for this taking of it. */
static void took(shmlua_syncud *m) {
  if (++m->holds == 0) /* 0 means not held */
    m->holds = 1;
  m->held = m->holds;
}

/* Static, so that the methods here get it inline (a global could be interposed). */
static shmlua_syncud *checkmutex(lua_State *L, int arg) {
  return shmlua_sync_check(L, arg, &mutex_class);
}

shmlua_syncud *shmlua_mutex_check(lua_State *L, int arg) {
  return checkmutex(L, arg);
}

static int lockresult(lua_State *L, shmlua_syncud *m, int rc) {
  const char *name = shmlua_name_user(&m->block.name);
  if (rc == 0) { /* the common case first */
    took(m);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (rc == EOWNERDEAD) {
    took(m);
    lua_pushboolean(L, 1);
    lua_pushliteral(L, "owner-died");
    return 2;
  }
  if (rc == EDEADLK)
    return luaL_error(L, "mutex '%s' is already locked by this process", name);
  return shmlua_sync_result(L, m, rc, SHMLUA_ON_LOCK);
}

static int lockop(void *ctx, const struct timespec *deadline) {
  shmlua_syncud *m = ctx;
  return m->block.addr ? shmlua_sync_guarded(m, lockstep, m, deadline) : SHMLUA_SYNC_CLOSED;
}

/* A free mutex is taken at once, before the wait works out its slices: trylock gives the
   same results as lock would (EDEADLK when this process holds it), EBUSY aside. */
static int lockwithin(lua_State *L, shmlua_syncud *m, const struct timespec *deadline) {
  int rc = shmlua_sync_guarded(m, trystep, m, NULL);
  if (rc != EBUSY)
    return rc;
  return shmlua_sync_wait(L, lockop, m, deadline, 1, NULL);
}

int shmlua_mutex_relock(lua_State *L, shmlua_syncud *m) {
  return lockresult(L, m, shmlua_sync_guarded(m, lockstep, m, NULL));
}

int shmlua_mutex_attach(lua_State *L, const shmlua_name *name) {
  return shmlua_sync_attach(L, &mutex_class, name);
}

static int mutex_create(lua_State *L) {
  return shmlua_sync_create(L, &mutex_class, 1, 2, NULL, sizeof(shmlua_mutex_block),
                            shmlua_mutex_block_init, NULL);
}

/* m:lock([timeout]): the timeout is checked first, but its deadline (a clock read) is only
   worked out when the lock is not free. */
static int mutex_lock(lua_State *L) {
  shmlua_syncud *m = checkmutex(L, 1);
  double seconds;
  const double *timeout = shmlua_optseconds(L, 2, &seconds);
  int rc = shmlua_sync_guarded(m, trystep, m, NULL);
  if (rc == EBUSY)
    rc = shmlua_sync_wait_for(L, lockop, m, timeout);
  return lockresult(L, m, rc);
}

static int mutex_trylock(lua_State *L) {
  shmlua_syncud *m = checkmutex(L, 1);
  int rc = shmlua_sync_guarded(m, trystep, m, NULL);
  return lockresult(L, m, rc == EDEADLK ? EBUSY : rc); /* held here: busy too */
}

static void unlock(lua_State *L, shmlua_syncud *m) {
  int rc = shmlua_sync_guarded(m, unlockstep, m, NULL);
  if (rc == 0) {
    m->held = 0;
    return;
  }
  if (rc == EPERM)
    luaL_error(L, "mutex '%s' is not locked by this process",
               shmlua_name_user(&m->block.name));
  shmlua_sync_error(L, m, rc);
}

static int mutex_unlock(lua_State *L) {
  unlock(L, checkmutex(L, 1));
  lua_pushboolean(L, 1);
  return 1;
}

static int mutex_consistent(lua_State *L) {
  shmlua_syncud *m = shmlua_mutex_check(L, 1);
  int rc = shmlua_sync_guarded(m, consistentstep, m, NULL);
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
    took(m);
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
  took(m);
}

/* A guard: which taking of its mutex's lock it releases (the mutex is its user value), or
   0 once released. */
typedef struct guard {
  unsigned long hold;
} guard;

/* In the tag of every guard (class.h: shmlua_newtagged): a userdata given the guard's
   metatable through the debug library is not taken for one. */
static const char guard_class;

static guard *checkguard(lua_State *L) {
  return shmlua_checktagged(L, 1, sizeof(guard), &guard_class, GUARD_MT);
}

/* Pushes a guard of the mutex at arg, locked: its <close> (or collection) unlocks. */
static guard *pushguard(lua_State *L, int arg, const struct timespec *deadline) {
  shmlua_syncud *m = shmlua_mutex_check(L, arg);
  guard *g = shmlua_newtagged(L, sizeof *g, 1, &guard_class);
  g->hold = 0;
  luaL_setmetatable(L, GUARD_MT);
  lua_pushvalue(L, arg);
  lua_setiuservalue(L, -2, 1);
  strictlock(L, m, deadline);
  g->hold = m->held;
  return g;
}

/* The mutex of the guard at index idx if the guard still holds the lock it took (not
   unlocked and locked again meanwhile, maybe by other code); NULL otherwise. */
static shmlua_syncud *guarded(lua_State *L, int idx, const guard *g) {
  shmlua_syncud *m;
  if (!g->hold)
    return NULL;
  lua_getiuservalue(L, idx, 1);
  m = lua_touserdata(L, -1);
  lua_pop(L, 1); /* the guard keeps it alive */
  return m->block.addr && m->held == g->hold ? m : NULL;
}

/* Drops the lock of the guard at index idx if it still holds it; it holds none after. */
static void release(lua_State *L, int idx, guard *g) {
  shmlua_syncud *m = guarded(L, idx, g);
  g->hold = 0;
  if (m)
    drop_lock(m);
}

/* After fn returned (at once, or when its coroutine resumed after a yield): stack is the
   mutex, its guard, fn's results. */
static int with_done(lua_State *L, int status, lua_KContext ctx) {
  guard *g = lua_touserdata(L, 2);
  shmlua_syncud *m = guarded(L, 2, g);
  (void)status;
  (void)ctx;
  g->hold = 0; /* unlocked here instead of by the guard, so that an unlock fn broke raises */
  if (m)
    unlock(L, m);
  return lua_gettop(L) - 2;
}

#if !SHMLUA_HAVE_TOCLOSE
/* Without to-be-closed variables fn runs under pcall: its error (also one raised after a
   yield, which 5.3 hands to this continuation) releases the guard and is raised again. */
static int with_caught(lua_State *L, int status, lua_KContext ctx) {
  if (status != LUA_OK && status != LUA_YIELD) {
    release(L, 2, lua_touserdata(L, 2));
    return lua_error(L);
  }
  return with_done(L, LUA_OK, ctx);
}
#endif

/* m:with(fn, ...): fn(...) with the lock held. A to-be-closed guard unlocks when fn raises
   (or its coroutine is closed while fn yielded), so the error goes on untouched,
   traceback and all. fn may yield, as under pcall. */
static int mutex_with(lua_State *L) {
  shmlua_mutex_check(L, 1);
  if (lua_type(L, 2) !=
      LUA_TFUNCTION) { /* so with(nil) is not "attempt to call a nil value" */
    if (luaL_getmetafield(L, 2, "__call") == LUA_TNIL)
      return luaL_typeerror(L, 2, "function");
    lua_pop(L, 1);
  }
  pushguard(L, 1, NULL);
  lua_insert(L, 2);
#if SHMLUA_HAVE_TOCLOSE
  lua_toclose(L, 2);
  return shmlua_callk(L, lua_gettop(L) - 3, LUA_MULTRET, 0, with_done);
#elif SHMLUA_HAVE_KFUNCTION /* 5.3: no <close>, but pcall's continuation sees errors too */
  return with_caught(L, lua_pcallk(L, lua_gettop(L) - 3, LUA_MULTRET, 0, 0, with_caught), 0);
#else                       /* 5.1, 5.2, LuaJIT: fn cannot yield across this C function */
  return with_caught(L, lua_pcall(L, lua_gettop(L) - 3, LUA_MULTRET, 0), 0);
#endif
}

/* m:guard([timeout]): locks and returns an object whose <close> (or collection) unlocks. */
static int mutex_guard(lua_State *L) {
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  pushguard(L, 1, d);
  return 1;
}

/* Unlocks only the lock the guard took: if it was unlocked and locked again meanwhile, the
   new holder's lock is not the guard's to release. */
static int guard_release(lua_State *L) {
  guard *g = checkguard(L);
  release(L, 1, g);
  return 0;
}

static int guard_tostring(lua_State *L) {
  guard *g = checkguard(L);
  lua_pushstring(L, guarded(L, 1, g) ? "shm.guard (locked)" : "shm.guard (released)");
  return 1;
}

void shmlua_open_mutex(lua_State *L) {
  static const luaL_Reg methods[] = {{"lock", mutex_lock},
                                     {"trylock", mutex_trylock},
                                     {"unlock", mutex_unlock},
                                     {"consistent", mutex_consistent},
                                     {"with", mutex_with},
                                     {"guard", mutex_guard},
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
