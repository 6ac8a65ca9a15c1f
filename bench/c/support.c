/* benchsupport: what the Lua side of bench/ needs beyond the standard library.
   now(): seconds on the monotonic clock (os.clock is CPU time and misses sleeps);
   cpu(): seconds of CPU time of this process (for single-process loops: less noisy when
   other work shares the cores); probe(): a userdata whose __index returns the key and whose
   __newindex adds the value to a sum (probesum(p) reads it), and whose methods do nothing:
   about the least a C metamethod can do, so the floor under buf[i] and m:lock() here.
   ring([count [, size]]): a bare ring (1024 slots of 64 bytes by default) shared with forked
   children, push(s), pop(), push_many(t, i, j) and pop_many(t, n) spinning until they can
   (with sched_yield every 32 looks, as shmlua's waits, so two spinners on one CPU do not
   burn their time slices): one producer and one consumer, no lock, no sleep, no check of
   the peer, each popped message a new Lua string made straight from its slot (one copy out,
   the least any Lua pop can do); the least a queue behind the same Lua calls can cost, so
   the floor under q:push/q:pop, their batch forms and (two slots of 1 MiB) big messages.
   word(): one 32-bit word shared with forked children, set(v) and await(v) (spinning as the
   ring's waits until it holds v): a ping-pong's release and acquire with nothing behind the
   same Lua calls, so the floor under sem:release()/sem:acquire() between two processes;
   and handoff(n, starter), the C floor's ping-pong between the same two processes.
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
#include "handoff.h"

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

/* The ring's shared part: the two positions on cache lines of their own, then each slot's
   length, then the slots. */
typedef struct ringends {
  uint64_t head;
  unsigned char pad1[56];
  uint64_t tail;
  unsigned char pad2[56];
} ringends;

/* A handle: where the shared part is and its shape (slots a power of two, so a position's
   slot is a mask, no division). */
typedef struct ring {
  ringends *ends;
  uint32_t *len;
  unsigned char *slots;
  uint64_t count, size;
  size_t bytes;
} ring;

static ring *checkring(lua_State *L) {
  ring *r = luaL_checkudata(L, 1, "benchsupport.ring");
  if (!r->ends)
    luaL_argerror(L, 1, "ring unmapped");
  return r;
}

static unsigned char *slot_at(const ring *r, uint64_t pos) {
  return r->slots + (pos & (r->count - 1)) * r->size;
}

/* Spins until the ring has room, then gives how many slots are free. */
static uint64_t await_room(const ring *r, uint64_t tail) {
  uint64_t free;
  for (unsigned looks = 1;
       (free = r->count - (tail - __atomic_load_n(&r->ends->head, __ATOMIC_ACQUIRE))) == 0;
       looks++)
    shmlua_cbench_relax(looks);
  return free;
}

/* Spins until the ring holds a message, then gives how many it holds. */
static uint64_t await_message(const ring *r, uint64_t head) {
  uint64_t held;
  for (unsigned looks = 1;
       (held = __atomic_load_n(&r->ends->tail, __ATOMIC_ACQUIRE) - head) == 0; looks++)
    shmlua_cbench_relax(looks);
  return held;
}

static void put(ring *r, uint64_t pos, const char *s, size_t len) {
  memcpy(slot_at(r, pos), s, len);
  r->len[pos & (r->count - 1)] = (uint32_t)len;
}

/* The message at pos as a new Lua string, made straight from the shared slot (one copy). */
static void take(lua_State *L, const ring *r, uint64_t pos) {
  lua_pushlstring(L, (const char *)slot_at(r, pos), r->len[pos & (r->count - 1)]);
}

static int ring_push(lua_State *L) {
  ring *r = checkring(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  uint64_t t = r->ends->tail;
  luaL_argcheck(L, len <= r->size, 2, "longer than a slot");
  await_room(r, t);
  put(r, t, s, len);
  __atomic_store_n(&r->ends->tail, t + 1, __ATOMIC_RELEASE);
  lua_pushboolean(L, 1);
  return 1;
}

static int ring_pop(lua_State *L) {
  ring *r = checkring(L);
  uint64_t h = r->ends->head;
  await_message(r, h);
  take(L, r, h);
  __atomic_store_n(&r->ends->head, h + 1, __ATOMIC_RELEASE);
  return 1;
}

/* r:push_many(t [, i [, j]]) as q:push_many without a timeout: every string of t[i..j] (raw)
   checked first, kept on the stack while it is copied; as many per publication of the tail
   as there is room for. Returns the count. */
static int ring_push_many(lua_State *L) {
  ring *r = checkring(L);
  lua_Integer len, i, j, k;
  uint64_t t = r->ends->tail;
  int base;
  luaL_checktype(L, 2, LUA_TTABLE);
  len = (lua_Integer)lua_rawlen(L, 2);
  i = luaL_optinteger(L, 3, 1);
  j = luaL_optinteger(L, 4, len);
  if (i < 0)
    i = i < -len ? 1 : len + i + 1;
  if (j < 0)
    j = len + j + 1;
  if (i < 1)
    i = 1;
  if (j > len)
    j = len;
  if (i > j) {
    lua_pushinteger(L, 0);
    return 1;
  }
  luaL_checkstack(L, (int)(j - i + 1), "too many messages");
  base = lua_gettop(L);
  for (k = i; k <= j; k++) {
    lua_rawgeti(L, 2, k);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "t[%d] is not a string", (int)k);
    if (lua_rawlen(L, -1) > r->size)
      return luaL_error(L, "t[%d] is longer than a slot", (int)k);
  }
  for (k = i; k <= j;) {
    uint64_t room = await_room(r, t);
    for (; room > 0 && k <= j; room--, k++, t++) {
      size_t n;
      const char *s = lua_tolstring(L, base + (int)(k - i + 1), &n);
      put(r, t, s, n);
    }
    __atomic_store_n(&r->ends->tail, t, __ATOMIC_RELEASE);
  }
  lua_settop(L, base);
  lua_pushinteger(L, j - i + 1);
  return 1;
}

/* r:pop_many(t, n) as q:pop_many without a timeout: waits for a message, then stores up to
   n of those there in t[1], t[2], ... (raw), each a new string made from its slot, and
   gives their slots back at once. Returns the count. */
static int ring_pop_many(lua_State *L) {
  ring *r = checkring(L);
  lua_Integer n, k;
  uint64_t h = r->ends->head, held;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = luaL_checkinteger(L, 3);
  luaL_argcheck(L, n >= 1, 3, "at least 1 expected");
  held = await_message(r, h);
  if ((uint64_t)n > held)
    n = (lua_Integer)held;
  for (k = 1; k <= n; k++) {
    take(L, r, h + (uint64_t)k - 1);
    lua_rawseti(L, 2, (int)k);
  }
  __atomic_store_n(&r->ends->head, h + (uint64_t)n, __ATOMIC_RELEASE);
  lua_pushinteger(L, n);
  return 1;
}

static int ring_gc(lua_State *L) {
  ring *r = luaL_checkudata(L, 1, "benchsupport.ring");
  if (r->ends)
    munmap(r->ends, r->bytes);
  r->ends = NULL;
  return 0;
}

/* ring([count [, size]]): count slots (a power of two, 1024 by default) of size bytes (64). */
static int ring_new(lua_State *L) {
  lua_Integer count = luaL_optinteger(L, 1, 1024), size = luaL_optinteger(L, 2, 64);
  size_t lens;
  ring *r;
  luaL_argcheck(L, count >= 1 && count <= (1 << 20) && (count & (count - 1)) == 0, 1,
                "a power of two up to 2^20 expected");
  luaL_argcheck(L, size >= 1 && size <= ((lua_Integer)1 << 30), 2, "1 to 2^30 expected");
  lens = ((size_t)count * sizeof(uint32_t) + 63) / 64 * 64;
  r = lua_newuserdatauv(L, sizeof *r, 0);
  r->ends = NULL;
  if (luaL_newmetatable(L, "benchsupport.ring")) {
    static const luaL_Reg methods[] = {{"push", ring_push},
                                       {"pop", ring_pop},
                                       {"push_many", ring_push_many},
                                       {"pop_many", ring_pop_many},
                                       {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ring_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  r->count = (uint64_t)count;
  r->size = (uint64_t)size;
  r->bytes = sizeof(ringends) + lens + (size_t)count * (size_t)size;
  r->ends = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r->ends == MAP_FAILED) {
    r->ends = NULL;
    return luaL_error(L, "mmap failed");
  }
  r->len = (uint32_t *)(r->ends + 1);
  r->slots = (unsigned char *)r->ends + sizeof(ringends) + lens;
  return 1;
}

/* A word's mapping: the word set and awaited from Lua, then the turn and sleeper count of
   w:handoff. */
enum { HANDOFF_TURN = 2, WORD_BYTES = 4 * sizeof(uint32_t) };

static uint32_t *checkword(lua_State *L) {
  uint32_t **w = luaL_checkudata(L, 1, "benchsupport.word");
  if (!*w)
    luaL_argerror(L, 1, "word unmapped");
  return *w;
}

static int word_set(lua_State *L) {
  uint32_t *w = checkword(L);
  __atomic_store_n(w, (uint32_t)luaL_checkinteger(L, 2), __ATOMIC_RELEASE);
  return 0;
}

static int word_await(lua_State *L) {
  uint32_t *w = checkword(L), want = (uint32_t)luaL_checkinteger(L, 2);
  for (unsigned looks = 1; __atomic_load_n(w, __ATOMIC_ACQUIRE) != want; looks++)
    shmlua_cbench_relax(looks);
  return 0;
}

/* w:handoff(n, starter): n round trips of the C floor's ping-pong (handoff.h) on a second
   word of w's mapping, with the process that runs w:handoff(n, not starter): the C floor
   between the same two processes as the Lua calls around it, wherever the host put them. */
static int word_handoff(lua_State *L) {
  uint32_t *turn = checkword(L) + HANDOFF_TURN, *sleepers = turn + 1;
  lua_Integer n = luaL_checkinteger(L, 2);
  uint32_t mine = lua_toboolean(L, 3) ? 0 : 1;
  for (lua_Integer i = 0; i < n; i++) {
    if (mine == 0)
      shmlua_cbench_hand_over(turn, 1, sleepers);
    shmlua_cbench_await(turn, mine, SHMLUA_CBENCH_SPIN_LOOKS, 1, sleepers);
    if (mine == 1)
      shmlua_cbench_hand_over(turn, 0, sleepers);
  }
  return 0;
}

static int word_gc(lua_State *L) {
  uint32_t **w = luaL_checkudata(L, 1, "benchsupport.word");
  if (*w)
    munmap(*w, WORD_BYTES);
  *w = NULL;
  return 0;
}

static int word_new(lua_State *L) {
  uint32_t **w = lua_newuserdatauv(L, sizeof *w, 0);
  *w = NULL;
  if (luaL_newmetatable(L, "benchsupport.word")) {
    static const luaL_Reg methods[] = {
        {"set", word_set}, {"await", word_await}, {"handoff", word_handoff}, {NULL, NULL}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, word_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  *w = mmap(NULL, WORD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (*w == MAP_FAILED) {
    *w = NULL;
    return luaL_error(L, "mmap failed");
  }
  return 1;
}

int luaopen_benchsupport(lua_State *L) {
  static const luaL_Reg functions[] = {{"now", now},       {"cpu", cpu},
                                       {"probe", probe},   {"probesum", probesum},
                                       {"ring", ring_new}, {"dictpart", dictpart_new},
                                       {"word", word_new}, {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
