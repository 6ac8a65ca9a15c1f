/* shm.map(fn, inputs [, n [, opts]]): fn over a list in up to n forked workers, results in
   input order. Inputs go to workers in chunks of consecutive items (one fork per chunk, like
   Python's Pool.map); each result comes back on its own, so one failure names its input. */
#include <errno.h>
#include <unistd.h>

#include "args.h"
#include "parts.h"
#include "progress.h"
#include "serial.h"
#include "spawn.h"

static int serialize_one(lua_State *L) {
  shmlua_serialize(L, 1, 1);
  return 1;
}

/* In a worker: fn(inputs[i]) for i in first..last, each counted on the progress line.
   Returns a table of encoded results and a table of error messages, both indexed from 1
   within the chunk. */
static int run_chunk(lua_State *L) {
  lua_Integer first = lua_tointeger(L, 3), last = lua_tointeger(L, 4);
  shmlua_progress *progress = lua_touserdata(L, 5); /* the parent's, copied by the fork */
  enum { FN = 1, INPUTS, VALUES = 6, ERRORS };
  lua_settop(L, 5);
  lua_newtable(L);
  lua_newtable(L);
  for (lua_Integer i = first; i <= last; i++) {
    int ok;
    lua_pushcfunction(L, serialize_one);
    lua_pushvalue(L, FN);
    lua_geti(L, INPUTS, i);
    ok = shmlua_calltraced(L, 1);
    if (ok) {
      lua_settop(L, ERRORS + 2); /* serialize_one and the first result */
      ok = lua_pcall(L, 1, 1, 0) == LUA_OK;
    } else {
      lua_remove(L, -2);
    }
    lua_rawseti(L, ok ? VALUES : ERRORS, i - first + 1);
    shmlua_progress_step(progress);
  }
  return 2;
}

typedef struct mapstate {
  int results, handles, failure; /* stack indexes */
  shmlua_child **running;        /* running workers */
  lua_Integer *firsts, *lasts;   /* their chunks */
  size_t nrunning;
} mapstate;

/* Keeps the first failure only: later ones are usually its consequences. */
static void fail(lua_State *L, mapstate *m) {
  if (lua_isnil(L, m->failure))
    lua_replace(L, m->failure);
  else
    lua_pop(L, 1);
}

/* Stores what the worker at slot w sent, or the failure of its chunk. */
static void collect(lua_State *L, mapstate *m, size_t w) {
  lua_Integer first = m->firsts[w], last = m->lasts[w];
  int top = lua_gettop(L);
  shmlua_pushresults(L, m->running[w]);
  if (!lua_toboolean(L, top + 1)) {
    shmlua_childend end = shmlua_child_ended(m->running[w]);
    if (end.how == SHMLUA_ENDED_EXIT)
      lua_pushfstring(L, "inputs #%I..#%I: the worker exited with code %d", (LUAI_UACINT)first,
                      (LUAI_UACINT)last, end.number);
    else if (end.how == SHMLUA_ENDED_SIGNAL)
      lua_pushfstring(L, "inputs #%I..#%I: the worker was killed by signal %d",
                      (LUAI_UACINT)first, (LUAI_UACINT)last, end.number);
    else
      lua_pushfstring(L, "inputs #%I..#%I: %s", (LUAI_UACINT)first, (LUAI_UACINT)last,
                      lua_tostring(L, top + 3));
    fail(L, m);
  } else {
    for (lua_Integer i = first; i <= last; i++) {
      size_t len;
      const char *sent;
      if (lua_rawgeti(L, top + 3, i - first + 1) != LUA_TNIL) {
        lua_pushfstring(L, "input #%I: %s", (LUAI_UACINT)i, lua_tostring(L, -1));
        lua_remove(L, -2);
        fail(L, m);
        continue;
      }
      lua_pop(L, 1);
      lua_rawgeti(L, top + 2, i - first + 1);
      sent = lua_tolstring(L, -1, &len);
      if (sent && shmlua_deserialize(L, sent, len) == 1)
        lua_rawseti(L, m->results, i);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
}

static int map(lua_State *L) {
  static const char *const allowed[] = {"chunksize", "progress", NULL};
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  lua_Integer count, nworkers, chunk, next = 1;
  shmlua_progress progress;
  shmlua_error err;
  mapstate m;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TTABLE);
  count = luaL_len(L, 2);
  nworkers = shmlua_optint(L, 3, cpus > 0 ? cpus : 1);
  luaL_argcheck(L, nworkers >= 1, 3, "the number of workers must be at least 1");
  if (nworkers > count)
    nworkers = count > 0 ? count : 1;
  shmlua_checkopts(L, 4, allowed);
  /* By default about four chunks per worker: few forks, yet a slow chunk does not leave the
     other workers idle for long. */
  chunk = shmlua_optfield_int(L, 4, "chunksize", (count + 4 * nworkers - 1) / (4 * nworkers));
  luaL_argcheck(L, chunk >= 1 || (count == 0 && chunk == 0), 4,
                "chunksize must be at least 1");
  lua_settop(L, 4);
  shmlua_progress_start(L, &progress, shmlua_optfield_bool(L, 4, "progress", 0), "shm.map",
                        count);
  lua_createtable(L, count > 0 && count < 1 << 24 ? (int)count : 0, 1);
  m.results = lua_gettop(L);
  lua_newtable(L); /* handles of the running workers, keyed by their child */
  m.handles = lua_gettop(L);
  lua_pushnil(L);
  m.failure = lua_gettop(L);
  m.running = lua_newuserdatauv(L, (size_t)nworkers * sizeof *m.running, 0);
  m.firsts = lua_newuserdatauv(L, (size_t)nworkers * sizeof *m.firsts, 0);
  m.lasts = lua_newuserdatauv(L, (size_t)nworkers * sizeof *m.lasts, 0);
  m.nrunning = 0;
  for (;;) {
    struct timespec redraw;
    size_t w;
    /* After a failure no new chunk starts; the running ones are waited for. */
    while (lua_isnil(L, m.failure) && next <= count && m.nrunning < (size_t)nworkers) {
      lua_Integer last = count - next < chunk ? count : next + chunk - 1;
      shmlua_child *c;
      lua_pushcfunction(L, run_chunk);
      lua_pushvalue(L, 1);
      lua_pushvalue(L, 2);
      lua_pushinteger(L, next);
      lua_pushinteger(L, last);
      lua_pushlightuserdata(L, &progress);
      if (!(c = shmlua_spawnfn(L, 5, &err))) {
        lua_pushfstring(L, "cannot start a worker: %s", err.message);
        fail(L, &m);
        break;
      }
      lua_rawsetp(L, m.handles, c);
      m.running[m.nrunning] = c;
      m.firsts[m.nrunning] = next;
      m.lasts[m.nrunning++] = last;
      next = last + 1;
    }
    if (m.nrunning == 0)
      break;
    if (shmlua_waitchildren(L, m.running, m.nrunning, shmlua_progress_next(&progress, &redraw),
                            &w) == ETIMEDOUT) {
      shmlua_progress_update(&progress);
      continue;
    }
    collect(L, &m, w);
    shmlua_progress_update(&progress);
    lua_pushnil(L);
    lua_rawsetp(L, m.handles, m.running[w]); /* its handle's __gc frees it */
    m.nrunning--;
    m.running[w] = m.running[m.nrunning];
    m.firsts[w] = m.firsts[m.nrunning];
    m.lasts[w] = m.lasts[m.nrunning];
  }
  shmlua_progress_end(&progress);
  if (!lua_isnil(L, m.failure))
    return luaL_error(L, "shm.map: %s", lua_tostring(L, m.failure));
  lua_pushinteger(L, count);
  lua_setfield(L, m.results, "n");
  lua_settop(L, m.results);
  return 1;
}

void shmlua_open_map(lua_State *L) {
  lua_pushcfunction(L, map);
  lua_setfield(L, -2, "map");
}
