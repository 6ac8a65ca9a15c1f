/* benchsupport: what the Lua side of bench/ needs beyond the standard library.
   now(): seconds on the monotonic clock (os.clock is CPU time and misses sleeps);
   cpu(): seconds of CPU time of this process (for single-process loops: less noisy when
   other work shares the cores); probe(): a userdata whose __index returns the key and whose
   __newindex adds the value to a sum (probesum(p) reads it), and whose methods do nothing:
   about the least a C metamethod can do, so the floor under buf[i] and m:lock() here.
   ring(): a bare ring of 64-byte slots shared with forked children, push(s) and pop() spinning
   until they can (with sched_yield every 32 looks, as shmlua's waits, so two spinners on one
   CPU do not burn their time slices): one producer and one consumer, no lock, no sleep, no
   check of the peer; the least a queue behind the same Lua calls can cost, so the floor
   under q:push/q:pop.
   dictpart(value): what d:get(key) and d:set(key, value) cost from Lua without the dict's
   own work (dictpart below). */
#include <lauxlib.h>
#include <lua.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../../src/lua/compat.h"

static int seconds(lua_State *L, clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int now(lua_State *L) {
  return seconds(L, CLOCK_MONOTONIC);
}

static int cpu(lua_State *L) {
  return seconds(L, CLOCK_PROCESS_CPUTIME_ID);
}

static int nop(lua_State *L) {
  (void)L;
  return 0;
}

/* A string key is a method that does nothing: p:lock() is the floor of a method call. */
static int probe_index(lua_State *L) {
  if (lua_type(L, 2) == LUA_TSTRING)
    lua_pushcfunction(L, nop);
  else
    lua_settop(L, 2);
  return 1;
}

static int probe_newindex(lua_State *L) {
  *(lua_Integer *)lua_touserdata(L, 1) += lua_tointeger(L, 3);
  return 0;
}

static int probesum(lua_State *L) {
  lua_pushinteger(L, *(lua_Integer *)luaL_checkudata(L, 1, "benchsupport.probe"));
  return 1;
}

static int probe(lua_State *L) {
  *(lua_Integer *)lua_newuserdatauv(L, sizeof(lua_Integer), 0) = 0;
  if (luaL_newmetatable(L, "benchsupport.probe")) {
    lua_pushcfunction(L, probe_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, probe_newindex);
    lua_setfield(L, -2, "__newindex");
  }
  lua_setmetatable(L, -2);
  return 1;
}

/* The Lua part of a dict's get and set, each step as the binding does it (src/lua/dict.c,
   sync.c) but the lock, the lookup and the copy: the method found through the object's own
   metatable, whose __index is a table of methods; the object recognised by its length and a
   tag (its own address); the key checked as a string of 1 to 65536 bytes; for get, a fresh
   Lua string pushed from C memory holding the bytes of the stored value (Lua interns it as
   it would the dict's copy, hashing every byte); for set, the value checked as a string and
   true, false (forcible) returned. */
typedef struct dictpart {
  const struct dictpart *tag;
  size_t len;
  char value[64];
} dictpart;

static dictpart *checkdictpart(lua_State *L) {
  dictpart *p = lua_touserdata(L, 1);
  if (!p || lua_rawlen(L, 1) != sizeof *p || p->tag != p)
    luaL_argerror(L, 1, "dictpart expected");
  return p;
}

static const char *checkpartkey(lua_State *L) {
  size_t len;
  const char *key = luaL_checklstring(L, 2, &len);
  if (len == 0)
    luaL_argerror(L, 2, "empty key");
  if (len > 65536)
    luaL_argerror(L, 2, "key longer than 65536 bytes");
  return key;
}

static int dictpart_get(lua_State *L) {
  dictpart *p = checkdictpart(L);
  checkpartkey(L);
  lua_pushlstring(L, p->value, p->len);
  return 1;
}

static int dictpart_set(lua_State *L) {
  size_t len;
  checkdictpart(L);
  checkpartkey(L);
  if (lua_type(L, 3) != LUA_TSTRING)
    luaL_argerror(L, 3, "string expected");
  lua_tolstring(L, 3, &len);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, 0);
  return 2;
}

static int dictpart_new(lua_State *L) {
  size_t len;
  const char *value = luaL_checklstring(L, 1, &len);
  dictpart *p;
  luaL_argcheck(L, len <= sizeof p->value, 1, "too long");
  p = lua_newuserdatauv(L, sizeof *p, 0);
  p->tag = p;
  p->len = len;
  memcpy(p->value, value, len);
  lua_createtable(L, 0, 1); /* a metatable of its own, as every shm object has */
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, dictpart_get);
  lua_setfield(L, -2, "get");
  lua_pushcfunction(L, dictpart_set);
  lua_setfield(L, -2, "set");
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  return 1;
}

enum { SLOTS = 1024, SLOT = 64 };

typedef struct ring {
  uint64_t head;
  unsigned char pad1[56];
  uint64_t tail;
  unsigned char pad2[56];
  uint32_t len[SLOTS];
  unsigned char slot[SLOTS][SLOT];
} ring;

static ring *checkring(lua_State *L) {
  return *(ring **)luaL_checkudata(L, 1, "benchsupport.ring");
}

/* One look of a spin that has looks looks behind it. */
static void relax(unsigned looks) {
  if (looks % 32 == 0) {
    sched_yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static int ring_push(lua_State *L) {
  ring *r = checkring(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  uint64_t t = r->tail;
  luaL_argcheck(L, len <= SLOT, 2, "longer than a slot");
  for (unsigned looks = 1; t - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == SLOTS; looks++)
    relax(looks);
  memcpy(r->slot[t % SLOTS], s, len);
  r->len[t % SLOTS] = (uint32_t)len;
  __atomic_store_n(&r->tail, t + 1, __ATOMIC_RELEASE);
  lua_pushboolean(L, 1);
  return 1;
}

static int ring_pop(lua_State *L) {
  ring *r = checkring(L);
  uint64_t h = r->head;
  for (unsigned looks = 1; __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == h; looks++)
    relax(looks);
  lua_pushlstring(L, (const char *)r->slot[h % SLOTS], r->len[h % SLOTS]);
  __atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
  return 1;
}

static int ring_gc(lua_State *L) {
  ring **r = luaL_checkudata(L, 1, "benchsupport.ring");
  if (*r)
    munmap(*r, sizeof **r);
  *r = NULL;
  return 0;
}

static int ring_new(lua_State *L) {
  ring **r = lua_newuserdatauv(L, sizeof *r, 0);
  *r = NULL;
  if (luaL_newmetatable(L, "benchsupport.ring")) {
    static const luaL_Reg methods[] = {{"push", ring_push}, {"pop", ring_pop}, {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ring_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  *r = mmap(NULL, sizeof **r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (*r == MAP_FAILED) {
    *r = NULL;
    return luaL_error(L, "mmap failed");
  }
  return 1;
}

int luaopen_benchsupport(lua_State *L) {
  static const luaL_Reg functions[] = {{"now", now},       {"cpu", cpu},
                                       {"probe", probe},   {"probesum", probesum},
                                       {"ring", ring_new}, {"dictpart", dictpart_new},
                                       {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
