/* shm.cond(mutex [, name [, opts]]): a condition variable tied to a shm.mutex, whose name
   it records so shm.cond.attach(name) finds the mutex by itself (or is given one).
   wait([timeout]) with the mutex held -> true | nil, "timeout", the mutex held again either
   way; signal([n]); broadcast(); field mutex. */
#include <errno.h>
#include <string.h>

#include "../core/cond.h"
#include "../core/mutex.h"
#include "args.h"
#include "interrupt.h"
#include "parts.h"
#include "sync.h"
#include "wait.h"

static int cond_field(lua_State *L, shmlua_syncud *u, const char *key);

static const shmlua_synclass cond_class = {"shm.cond", &shmlua_cond_type, NULL, NULL,
                                           cond_field};

static int cond_field(lua_State *L, shmlua_syncud *u, const char *key) {
  (void)u;
  if (strcmp(key, "mutex") != 0)
    return 0;
  lua_getiuservalue(L, 1, SHMLUA_SYNC_UV_LINK);
  return 1;
}

static shmlua_cond_block *condof(const shmlua_syncud *u) {
  return (void *)u->block.addr;
}

static shmlua_syncud *checkcond(lua_State *L) {
  return shmlua_sync_check(L, 1, &cond_class);
}

/* Ties the cond on top of the stack to the mutex at arg. */
static void tie_to_mutex(lua_State *L, int arg) {
  lua_pushvalue(L, arg);
  lua_setiuservalue(L, -2, SHMLUA_SYNC_UV_LINK);
}

static int cond_create(lua_State *L) {
  shmlua_syncud *m = shmlua_mutex_check(L, 1);
  int n = shmlua_sync_create(L, &cond_class, 2, 3, NULL, sizeof(shmlua_cond_block),
                             shmlua_cond_init, &m->block.name);
  if (n == 1)
    tie_to_mutex(L, 1);
  return n;
}

static int cond_attach(lua_State *L) {
  shmlua_name name, recorded;
  shmlua_error err;
  shmlua_syncud *c;
  int n;
  shmlua_checkname(L, 1, &name);
  if (!lua_isnoneornil(L, 2))
    shmlua_mutex_check(L, 2);
  lua_settop(L, 2);
  if ((n = shmlua_sync_attach(L, &cond_class, &name)) != 1)
    return n;
  c = lua_touserdata(L, -1);
  if (shmlua_cond_mutex_name(condof(c), &recorded, &err) != 0)
    return shmlua_oserror(L, &err);
  if (lua_isnil(L, 2)) {
    if ((n = shmlua_mutex_attach(L, &recorded)) != 1)
      return n;
    lua_replace(L, 2);
  } else if (strcmp(recorded.path, ((shmlua_syncud *)lua_touserdata(L, 2))->block.name.path) !=
             0)
    return luaL_argerror(L, 2,
                         lua_pushfstring(L, "cond '%s' goes with mutex '%s'",
                                         shmlua_name_user(&name),
                                         shmlua_name_user(&recorded)));
  tie_to_mutex(L, 2);
  return 1;
}

typedef struct sleeping {
  shmlua_syncud *c, *m;
  uint32_t seq;
  unsigned long hold; /* the mutex's taking that the wait gives up for a while */
} sleeping;

/* The steps on the cond and its mutex, each run under a guard of its own block
   (shmlua_sync_guarded). */
static int seqstep(void *ctx, const struct timespec *deadline) {
  sleeping *s = ctx;
  (void)deadline;
  s->seq = shmlua_cond_seq(condof(s->c));
  return 0;
}

static int sleepstep(void *ctx, const struct timespec *deadline) {
  sleeping *s = ctx;
  shmlua_error err;
  return SHMLUA_OUTCOME(shmlua_cond_sleep(condof(s->c), s->seq, deadline, &err), err);
}

static int unlockstep(void *m, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_mutex_unlock(shmlua_mutex_of(m), &err), err);
}

static int relockstep(void *m, const struct timespec *deadline) {
  shmlua_error err;
  (void)deadline;
  return SHMLUA_OUTCOME(shmlua_mutex_lock(shmlua_mutex_of(m), NULL, &err), err);
}

typedef struct signalling {
  shmlua_syncud *c;
  int count;
} signalling;

static int signalstep(void *ctx, const struct timespec *deadline) {
  signalling *g = ctx;
  (void)deadline;
  shmlua_cond_signal(condof(g->c), g->count);
  return 0;
}

static int sleepop(void *ctx, const struct timespec *deadline) {
  sleeping *s = ctx;
  if (!s->c->block.addr || !s->m->block.addr)
    return SHMLUA_SYNC_CLOSED;
  return shmlua_sync_guarded(s->c, sleepstep, s, deadline);
}

/* Takes the mutex back (if still open) before an error leaves the wait, so the caller's
   unlock stays right. */
static void relock(void *ctx) {
  sleeping *s = ctx;
  int rc;
  if (!s->m->block.addr)
    return;
  rc = shmlua_sync_guarded(s->m, relockstep, s->m, NULL);
  if (rc == 0 || rc == EOWNERDEAD)
    s->m->held = s->hold;
}

static int mutexclosed(lua_State *L, const shmlua_syncud *c) {
  return luaL_error(L, "cond '%s': its mutex is closed", shmlua_name_user(&c->block.name));
}

static int cond_wait(lua_State *L) {
  struct timespec deadline;
  const struct timespec *d = shmlua_opttimeout(L, 2, &deadline);
  sleeping s;
  const char *word;
  int rc, n;
  s.c = checkcond(L);
  lua_getiuservalue(L, 1, SHMLUA_SYNC_UV_LINK);
  s.m = lua_touserdata(L, -1);
  if (!s.m->block.addr)
    return mutexclosed(L, s.c);
  /* read while the mutex is held: no signal is missed */
  if ((rc = shmlua_sync_guarded(s.c, seqstep, &s, NULL)) != 0)
    return shmlua_sync_error(L, s.c, rc);
  if ((rc = shmlua_sync_guarded(s.m, unlockstep, s.m, NULL)) == SHMLUA_SYNC_FAULT)
    return shmlua_sync_error(L, s.m, rc);
  if (rc != 0)
    return luaL_error(L, "cond '%s': wait needs its mutex locked by this process",
                      shmlua_name_user(&s.c->block.name));
  s.hold = s.m->held;
  s.m->held = 0;
  rc = shmlua_sync_wait(L, sleepop, &s, d, 1, relock);
  if (!s.m->block.addr) /* closed while waiting (a hook): nothing to take back */
    return mutexclosed(L, s.c);
  lua_settop(L, 1);
  n = shmlua_mutex_relock(L, s.m);
  if (s.m->held) /* the same holding of the lock as before the wait, for a guard */
    s.m->held = s.hold;
  shmlua_checkinterrupt(L); /* Ctrl-C during the relock: LuaJIT runs no hook at our return */
  if (rc == SHMLUA_SYNC_CLOSED || rc == SHMLUA_SYNC_FAULT)
    return shmlua_sync_error(L, s.c, rc);
  if (!(word = shmlua_sync_word(rc, SHMLUA_ON_WAIT)) || !lua_toboolean(L, 2))
    return n;
  /* timed out, and the mutex is held again: nil, "timeout" [, "owner-died"] */
  luaL_pushfail(L);
  lua_replace(L, 2);
  lua_pushstring(L, word);
  lua_insert(L, 3);
  return n + 1;
}

static int wake(lua_State *L, signalling *g) {
  int rc = shmlua_sync_guarded(g->c, signalstep, g, NULL);
  if (rc != 0)
    return shmlua_sync_error(L, g->c, rc);
  lua_pushboolean(L, 1);
  return 1;
}

static int cond_signal(lua_State *L) {
  signalling g = {checkcond(L), 0};
  lua_Integer n = shmlua_optint(L, 2, 1);
  luaL_argcheck(L, n >= 1, 2, "count must be positive");
  g.count = n > INT32_MAX ? INT32_MAX : (int)n;
  return wake(L, &g);
}

static int cond_broadcast(lua_State *L) {
  signalling g = {checkcond(L), INT32_MAX};
  return wake(L, &g);
}

void shmlua_open_cond(lua_State *L) {
  static const luaL_Reg methods[] = {{"wait", cond_wait},
                                     {"signal", cond_signal},
                                     {"broadcast", cond_broadcast},
                                     {NULL, NULL}};
  shmlua_sync_register(L, &cond_class, methods, cond_create, cond_attach);
}
