/* shm.pool(n [, opts]): the pool is written in Lua (lua/shm/pool.lua, compiled into the
   module), on top of shm.spawn and queues of values. This file loads it on first use and
   gives it the few things Lua lacks: the encoding of values as a string and back, a call
   whose traceback shows only the task's frames, a monotonic clock, the pid, and the
   progress line. */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "../core/futex.h"
#include "args.h"
#include "arrayview.h"
#include "blockaccess.h"
#include "class.h"
#include "parts.h"
#include "progress.h"
#include "serial.h"
#include "spawn.h"
#include "sync.h"

extern const unsigned char shmlua_lua_pool[];
extern const size_t shmlua_lua_pool_size;

#define PROGRESS_MT "shm.poolprogress"

static int encode(lua_State *L) {
  shmlua_serialize(L, 1, lua_gettop(L));
  return 1;
}

/* decode(s [, kept]): the values encoded in s; kept: a table where blocks attached are kept
   and found again (shmlua_deserialize_keeping). */
static int decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  int n;
  if (!lua_isnoneornil(L, 2))
    luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  n = shmlua_deserialize_keeping(L, s, len, lua_istable(L, 2) ? 2 : 0);
  if (n < 0)
    return luaL_error(L, "not an encoding of values");
  return n;
}

/* encoderange(t, i, j): the encoding of {t[i], ..., t[j]}, as a string. */
static int encoderange(lua_State *L) {
  size_t len;
  const char *data;
  luaL_checktype(L, 1, LUA_TTABLE);
  data = shmlua_encode_range(L, 1, shmlua_checkint(L, 2), shmlua_checkint(L, 3), &len);
  lua_pushlstring(L, data, len);
  return 1;
}

/* q:put (wait) or q:try_put of the n values from first, the one at position at replaced by
   t[i..j] (t at table) packed inside the message: what it returns, or nil, with nothing put,
   if t[i..j] is not integers only or the message is longer than the queue takes. */
static int putpacked(lua_State *L, shmlua_syncud *u, int first, int n, int at, int table,
                     lua_Integer i, lua_Integer j, int wait) {
  size_t len;
  const char *data = shmlua_encode_with_integers(L, first, n, at, table, i, j, &len);
  if (!data || len > u->as.queue.max_bytes)
    return 0;
  return shmlua_queue_put(L, u, data, len, wait, NULL);
}

/* puttask(queue, inputs, i, j, id, fn, kind, first, counted, count): q:try_put of the task
   {id, fn, kind, first, {inputs[i..j]}, counted, count} with the chunk packed inside it (one
   encoding: no string is made for the chunk and copied again, and the worker gets it as a
   table); what try_put returns, or nil, with nothing put, if the chunk is not integers
   only or the message is longer than the queue takes (the caller sends it encoded on its
   own then, and try_put says why it cannot go). */
static int puttask(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 10);
  lua_pushnil(L); /* 11: the chunk's place among the values 5..11 */
  lua_rotate(L, 9, 1);
  return putpacked(L, u, 5, 7, 5, 2, shmlua_checkint(L, 3), shmlua_checkint(L, 4), 0);
}

/* putreply(queue, id, list, n): q:put of the reply {id, true, {list[1..n]}} with the results
   packed inside it, as puttask packs a chunk (one encoding, no string made for them); what
   put returns, or nil, with nothing put, if they are not integers only or the message is
   longer than the queue takes (the caller sends the reply as before then, and its put says
   why). */
static int putreply(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 4);
  lua_pushvalue(L, 2);
  lua_pushboolean(L, 1);
  lua_pushnil(L); /* 7: the results' place among the values 5..7 */
  return putpacked(L, u, 5, 3, 3, 3, 1, shmlua_checkint(L, 4), 1);
}

/* A message popped into a queue handle's scratch, read while Lua runs: a finalizer that used
   the queue meanwhile would have freed or reused the bytes. */
typedef struct scratchheld {
  shmlua_syncud *queue;
  unsigned long uses; /* its scratch_uses when the message was popped */
} scratchheld;

static void checkscratch(lua_State *L, void *held) {
  const scratchheld *h = held;
  if (!h->queue->block.addr || h->queue->scratch_uses != h->uses)
    luaL_error(L, "queue '%s' was closed or used while a message taken from it was read",
               shmlua_name_user(&h->queue->block.name));
}

/* A kept stack: a thread's, for a call that takes 2n slots for n values (a SETLIST of them:
   the values and their copy as varargs) and is made again and again (a worker's chunk of
   inputs, a map's results table). On the main thread that room would be allocated for each
   call and shrunk again by the collector, a reallocation and a copy each time; a kept stack
   keeps what lua_checkstack asked for at its base (its only frame while idle), which the
   collector does not shrink: KEPT_SLOTS at most (16 bytes a slot: 1 MiB). */
#define COLLECTED_MOST (1 << 15) /* the results of a map collected (below) */
#define KEPT_SLOTS (2 * COLLECTED_MOST + 16)

static int keeproom(lua_State *co, lua_Integer slots) {
  return slots <= KEPT_SLOTS && lua_checkstack(co, (int)slots);
}

/* Calls the function under the nargs values on the stack of co (a thread the pool keeps, idle)
   protected, and moves its result to L: an error there (out of memory, a scratch used
   meanwhile) is raised in L, not in a thread that has no handler of its own. */
static void callkept(lua_State *L, lua_State *co, int nargs) {
  if (lua_pcall(co, nargs, 1, 0) != LUA_OK) {
    lua_xmove(co, L, 1);
    lua_settop(co, 0);
    lua_error(L);
  }
  lua_xmove(co, L, 1);
}

static lua_State *checkthread(lua_State *L, int arg) {
  lua_State *co = lua_tothread(L, arg);
  luaL_argcheck(L, co != NULL && co != L, arg, "a thread expected");
  return co;
}

typedef struct flattask {
  const char *data;
  size_t len;
  scratchheld held;
} flattask;

/* In a kept stack: the task decoded in place (a table), or nil if it is no flat list. */
static int decodetask(lua_State *co) {
  flattask *t = lua_touserdata(co, 1);
  if (!shmlua_deserialize_flat(co, t->data, t->len, checkscratch, &t->held))
    lua_pushnil(co);
  return 1;
}

/* gettask(queue, thread [, timeout]): q:get(timeout), but a task (a list of nil, booleans,
   numbers, strings and a chunk of integers packed inside it, puttask) is decoded from the
   popped bytes in place, on thread's kept stack: no string is made of the message and read
   again. */
static int gettask(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  lua_State *co = checkthread(L, 2);
  double seconds;
  const double *timeout = shmlua_optseconds(L, 3, &seconds);
  flattask task;
  int n;
  lua_settop(L, 2);
  if ((n = shmlua_queue_get(L, u, 1, timeout, &task.data, &task.len)) != 0)
    return n;
  task.held = (scratchheld){u, u->scratch_uses};
  lua_settop(co, 0);
  lua_pushcfunction(co, decodetask);
  lua_pushlightuserdata(co, &task);
  callkept(L, co, 1);
  if (lua_isnil(L, -1))
    return shmlua_queue_pushvalue(L, u, task.data, task.len);
  checkscratch(L, &task.held);
  shmlua_queue_got(u);
  if (lua_rawgeti(L, -1, 5) == LUA_TTABLE) /* the chunk: its SETLIST took twice its length */
    keeproom(co, 2 * (lua_Integer)lua_rawlen(L, -1) + 16);
  lua_pop(L, 1);
  return 1;
}

/* Pushes what getreply gives for a message that is no reply: nil, "corrupt" and the task id
   it names (or nil). */
static int corrupt(lua_State *L, int named, lua_Integer id) {
  lua_pushnil(L);
  lua_pushliteral(L, "corrupt");
  if (named)
    lua_pushinteger(L, id);
  else
    lua_pushnil(L);
  return 3;
}

/* Pushes the reply in the message popped (data), as q:get gives it; but for a message that
   is not one value (corrupt: only a hostile writer makes one) what corrupt gives, with the
   task id it gives first if that much can be read, instead of an error that would end the
   pool's work. */
static int pushreply(lua_State *L, shmlua_syncud *u, const char *data, size_t len) {
  lua_Integer id;
  int named = shmlua_first_integer(data, len, &id);
  data = shmlua_sync_scratch_hold(L, u, data, len);
  shmlua_queue_got(u);
  if (shmlua_deserialize(L, data, len) == 1)
    return 1;
  return corrupt(L, named, id);
}

/* A map's integer results are collected (collector(n): 8 bytes each, in a userdata) as
   their replies come, and its results table is made of them all at once at the end
   (collected): its slots are then filled by the VM's SETLIST on the pool's kept stack, not
   by a lua_rawseti each (about 60 instructions an item). */
static int newcollector(lua_State *L) {
  lua_Integer n = shmlua_checkint(L, 1);
  luaL_argcheck(L, n >= 0 && n <= COLLECTED_MOST, 1, "too many results to collect");
  lua_newuserdatauv(L, (size_t)n * sizeof(lua_Integer), 0);
  return 1;
}

/* Copies count integers into the collector at index at, from its offset + 1-th value on: 0
   if they do not fit in it. */
static int collect(lua_State *L, int at, const char *integers, uint32_t count,
                   lua_Integer offset) {
  size_t room = lua_rawlen(L, at) / sizeof(lua_Integer);
  if (offset < 0 || (lua_Unsigned)offset > room || count > room - (size_t)offset)
    return 0;
  memcpy((char *)lua_touserdata(L, at) + (size_t)offset * sizeof(lua_Integer), integers,
         (size_t)count * sizeof(lua_Integer));
  return 1;
}

/* collectinto(collector, t, first, count): t[first .. first + count - 1] set from the
   collector's values at those places (a map some of whose results are not integers). */
static int collectinto(lua_State *L) {
  lua_Integer first = shmlua_checkint(L, 3), count = shmlua_checkint(L, 4);
  size_t room;
  luaL_checktype(L, 1, LUA_TUSERDATA);
  luaL_checktype(L, 2, LUA_TTABLE);
  room = lua_rawlen(L, 1) / sizeof(lua_Integer);
  luaL_argcheck(L,
                first >= 1 && count >= 0 && (lua_Unsigned)(first - 1) <= room &&
                    (lua_Unsigned)count <= room - (size_t)(first - 1),
                3, "out of the collector");
  shmlua_integers_into(L,
                       (const char *)lua_touserdata(L, 1) + (first - 1) * sizeof(lua_Integer),
                       (uint32_t)count, 2, first - 1);
  return 0;
}

/* collected(collector, make, thread): make(n, v1, ..., vn), make being
   function(n, ...) return {n = n, ...} end, called in thread's kept stack with the
   collector's n values on it. */
static int collected(lua_State *L) {
  lua_State *co = checkthread(L, 3);
  const char *bytes;
  int n;
  luaL_checktype(L, 1, LUA_TUSERDATA);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  bytes = lua_touserdata(L, 1);
  n = (int)(lua_rawlen(L, 1) / sizeof(lua_Integer)); /* COLLECTED_MOST at most */
  lua_settop(co, 0);
  if (!keeproom(co, 2 * (lua_Integer)n + 16))
    return luaL_error(L, "stack overflow (results of a map)");
  lua_pushvalue(L, 2);
  lua_xmove(L, co, 1);
  lua_pushinteger(co, n);
  for (int k = 0; k < n; k++) {
    lua_Integer v;
    memcpy(&v, bytes + (size_t)k * sizeof v, sizeof v);
    lua_pushinteger(co, v);
  }
  callkept(L, co, n + 1);
  return 1;
}

static int newthread(lua_State *L) {
  lua_newthread(L);
  return 1;
}

/* getreply(queue, place, owner, wait [, timeout]): q:get(timeout), or q:try_get() if not
   wait, of a reply (a corrupt one as pushreply gives it); but a reply whose results came
   packed (putreply) is decoded from the popped bytes straight into the table or collector
   place(owner, id) returns, their keys moved by the offset it returns with it (nothing:
   they are dropped), and given as {id, true, true}. */
static int getreply(lua_State *L) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  int wait = lua_toboolean(L, 4);
  double seconds;
  const double *timeout = wait ? shmlua_optseconds(L, 5, &seconds) : NULL;
  const char *data, *integers;
  size_t len, at;
  uint32_t count;
  scratchheld held = {u, 0};
  int n;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 3);
  if ((n = shmlua_queue_get(L, u, wait, timeout, &data, &len)) != 0)
    return n;
  if (shmlua_deserialize_packed(L, data, len, &integers, &count) != 2 ||
      !lua_toboolean(L, 5)) {
    lua_settop(L, 3);
    return pushreply(L, u, data, len);
  }
  at = (size_t)(integers - data);
  held.uses = u->scratch_uses;
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_call(L, 2, 2); /* 6, 7: the table or collector and the offset */
  if (lua_istable(L, 6) || lua_type(L, 6) == LUA_TUSERDATA) {
    const char *packed = (const char *)u->scratch + at;
    lua_Integer offset = lua_tointeger(L, 7);
    /* place may have run a finalizer that used the queue: the bytes would be gone */
    checkscratch(L, &held);
    if (lua_istable(L, 6))
      shmlua_integers_into(L, packed, count, 6, offset);
    else if (!collect(L, 6, packed, count, offset)) { /* more than the map has */
      shmlua_queue_got(u);
      return corrupt(L, 1, lua_tointeger(L, 4));
    }
  }
  shmlua_queue_got(u);
  lua_createtable(L, 3, 0);
  lua_pushvalue(L, 4);
  lua_rawseti(L, -2, 1);
  lua_pushboolean(L, 1);
  lua_rawseti(L, -2, 2);
  lua_pushboolean(L, 1);
  lua_rawseti(L, -2, 3);
  return 1;
}

/* decodeinto(s, t, offset): the table encoded in s, its integer keys moved by offset, into t. */
static int decodeinto(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!shmlua_deserialize_into(L, s, len, 2, shmlua_checkint(L, 3)))
    return luaL_error(L, "not an encoding of a list");
  return 0;
}

/* newlist(n): an empty table with room for n list items and the field n, so results that
   arrive out of order are stored in place instead of rehashing a growing table, and setting
   n at the end does not rehash it either (counting every item, and growing the array part
   to the next power of 2). */
static int newlist(lua_State *L) {
  lua_Integer n = shmlua_checkint(L, 1);
  lua_createtable(L, n > 0 && n < 1 << 26 ? (int)n : 0, 1);
  return 1;
}

/* calltraced(fn, ...): true, results... or false, the error with the task's traceback. */
static int calltraced(lua_State *L) {
  int ok = shmlua_calltraced(L, lua_gettop(L) - 1);
  lua_pushboolean(L, ok);
  lua_insert(L, 1);
  return lua_gettop(L);
}

/* How many levels the stack has: lua_getstack walks from the top, so a deep stack (a stack
   overflow in the task) is measured by doubling, then halving, not level by level. */
static int stackdepth(lua_State *L) {
  lua_Debug ar;
  int low = 0, high = 1;
  while (lua_getstack(L, high, &ar)) {
    low = high;
    high *= 2;
  }
  while (low < high - 1) {
    int middle = low + (high - low) / 2;
    if (lua_getstack(L, middle, &ar))
      low = middle;
    else
      high = middle;
  }
  return low + 1;
}

/* The position the loop (upvalue 2 of chunkerror) was at: its local i, read from its frame,
   the one above the outer levels (upvalue 1) at the bottom of the stack; 0 if it is not
   there. Read only when a task fails, so the loop notes nothing per input. */
static lua_Integer loopposition(lua_State *L) {
  lua_Debug ar;
  const char *name;
  int isloop;
  if (!lua_getstack(L, stackdepth(L) - (int)lua_tointeger(L, lua_upvalueindex(1)), &ar))
    return 0;
  lua_getinfo(L, "f", &ar);
  isloop = lua_rawequal(L, -1, lua_upvalueindex(2));
  lua_pop(L, 1);
  for (int n = 1; isloop && (name = lua_getlocal(L, &ar, n)) != NULL; n++) {
    lua_Integer i = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (strcmp(name, "i") == 0)
      return i;
  }
  return 0;
}

/* The message handler of runchunk: the error with a traceback of the task's frames only,
   and the loop's position kept in upvalue 3. Upvalue 1: how many levels the stack had under
   the task (runchunk and its callers), the last lines of a full traceback, which are
   dropped. */
static int chunkerror(lua_State *L) {
  lua_Integer outer = lua_tointeger(L, lua_upvalueindex(1));
  size_t len;
  const char *text;
  lua_pushinteger(L, loopposition(L));
  lua_replace(L, lua_upvalueindex(3));
  luaL_traceback(L, L, shmlua_errortext(L), 1);
  text = lua_tolstring(L, -1, &len);
  while (outer-- > 0 && len > 0) {
    while (len > 0 && !(text[len - 1] == '\n' && text[len] == '\t'))
      len--;
    if (len > 0)
      len--;
  }
  lua_pushlstring(L, text, len);
  return 1;
}

static int countstep(void *counter) {
  __atomic_add_fetch((int64_t *)counter, 1, __ATOMIC_RELAXED);
  return 0;
}

/* count(): one more input done, in the pool's counter (upvalues: its block and the byte
   offset of the int64 in it). Looked up for each input (a task may close the block), and
   counted under a guard (a peer may truncate it). */
static int countone(lua_State *L) {
  shmlua_block *counted = lua_touserdata(L, lua_upvalueindex(1));
  size_t offset = (size_t)lua_tointeger(L, lua_upvalueindex(2));
  shmlua_guardedcall(L, countstep, shmlua_blockaddr(L, counted, 1) + offset, counted, NULL);
  return 0;
}

/* runchunk(fn, list, n, loop [, counter]): loop(fn, list, n [, count]) runs fn(x) for each
   of the n items of the list, its result in its place (its control variable named i),
   calling count() after each when given; here under one lua_pcall for the whole chunk (the
   loop is Lua: a call per input from C, or a protected call per input, would cost more than
   a tiny task). counter: an int64 array view. true, or false, the position that failed (nil
   if unknown: running out of memory skips the message handler) and its error with the
   task's traceback. */
static int runchunk(lua_State *L) {
  int levels = 0;
  lua_Debug ar;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checktype(L, 2, LUA_TTABLE);
  shmlua_checkint(L, 3);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 5)) {
    shmlua_arraylayout view;
    shmlua_block *counted;
    if (!shmlua_arrayview(L, 5, &view) || strcmp(view.dtype, "int64") != 0 || view.count < 1)
      return luaL_argerror(L, 5, "an int64 array expected");
    lua_getiuservalue(L, 5, 1);
    counted = shmlua_checkblock(L, -1);
    shmlua_blockaddr(L, counted, 1); /* closed or read-only raise before the first task */
    lua_pushinteger(L, (lua_Integer)view.offset);
    lua_pushcclosure(L, countone, 2); /* the block stays alive as its upvalue */
    lua_replace(L, 5);
  }
  lua_settop(L, 5);
  while (lua_getstack(L, levels, &ar))
    levels++;
  lua_pushinteger(L, levels + 1); /* and the loop's own level */
  lua_pushvalue(L, 4);
  lua_pushinteger(L, 0);
  lua_pushcclosure(L, chunkerror, 3); /* 6 */
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  if (!lua_isnil(L, 5))
    lua_pushvalue(L, 5);
  if (lua_pcall(L, lua_isnil(L, 5) ? 3 : 4, 0, 6) != LUA_OK) {
    lua_pushboolean(L, 0);
    lua_getupvalue(L, 6, 3);
    if (lua_tointeger(L, -1) < 1) {
      lua_pop(L, 1);
      lua_pushnil(L);
    }
    lua_rotate(L, -3, 2);
    return 3;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* current(block): whether its name still refers to the object it maps (core/block.h). */
static int current(lua_State *L) {
  lua_pushboolean(L, shmlua_block_current(shmlua_checkblock(L, 1)));
  return 1;
}

static int now(lua_State *L) {
  struct timespec t = shmlua_now();
  lua_pushnumber(L, (lua_Number)t.tv_sec + (lua_Number)t.tv_nsec / 1e9);
  return 1;
}

static int pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static int progress_gc(lua_State *L) {
  (void)L;
  return 0;
}

/* progress(total): a progress line (drawn only when stderr is a terminal) whose count the
   caller sets with progress_update(line, done) and ends with progress_finish(line). Returns
   the line and the owner of its count, which the caller keeps as long as the line. */
static int progress_new(lua_State *L) {
  lua_Integer total = shmlua_checkint(L, 1);
  shmlua_progress *p = shmlua_newscratch(L, sizeof *p, PROGRESS_MT, progress_gc);
  shmlua_progress_start(L, p, 1, "shm.pool", total);
  return 2;
}

static int progress_update(lua_State *L) {
  shmlua_progress *p = luaL_checkudata(L, 1, PROGRESS_MT);
  if (p->on) {
    *p->finished = shmlua_checkint(L, 2);
    shmlua_progress_update(p);
  }
  return 0;
}

static int progress_finish(lua_State *L) {
  shmlua_progress_end(luaL_checkudata(L, 1, PROGRESS_MT));
  return 0;
}

/* daemon(handle): the worker is ended (SIGTERM) rather than awaited when this process ends
   normally, as Python's pool workers are: idle, it would wait for work for ever. */
static int markdaemon(lua_State *L) {
  shmlua_checkchild(L, 1)->daemon = true;
  return 0;
}

/* class(tname): the metatable registered under tname (shmlua_open_pool made it), so the
   pool's objects are classes of the module as the userdata are. */
static int class(lua_State *L) {
  luaL_newmetatable(L, luaL_checkstring(L, 1));
  return 1;
}

static const char constructor_key =
    0; /* registry key of pool.lua's constructor, once loaded */

/* Pushes the constructor, loading pool.lua (module at upvalue 1) on first use. */
static void pushconstructor(lua_State *L) {
  static const luaL_Reg private[] = {{"encode", encode},
                                     {"decode", decode},
                                     {"encoderange", encoderange},
                                     {"decodeinto", decodeinto},
                                     {"puttask", puttask},
                                     {"putreply", putreply},
                                     {"getreply", getreply},
                                     {"gettask", gettask},
                                     {"collector", newcollector},
                                     {"collectinto", collectinto},
                                     {"collected", collected},
                                     {"thread", newthread},
                                     {"newlist", newlist},
                                     {"calltraced", calltraced},
                                     {"now", now},
                                     {"runchunk", runchunk},
                                     {"pid", pid},
                                     {"progress", progress_new},
                                     {"current", current},
                                     {"chunks", shmlua_arraychunks},
                                     {"progress_update", progress_update},
                                     {"progress_finish", progress_finish},
                                     {"class", class},
                                     {"daemon", markdaemon},
                                     {NULL, NULL}};
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &constructor_key) != LUA_TNIL)
    return;
  lua_pop(L, 1);
  if (luaL_loadbufferx(L, (const char *)shmlua_lua_pool, shmlua_lua_pool_size, "=shm/pool.lua",
                       "t") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_newlib(L, private);
  lua_call(L, 2, 1);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &constructor_key);
}

/* shm.pool(...): pool.lua's constructor. */
static int pool(lua_State *L) {
  int nargs = lua_gettop(L);
  pushconstructor(L);
  lua_insert(L, 1);
  lua_call(L, nargs, LUA_MULTRET);
  return lua_gettop(L);
}

/* A method of shm.pool or shm.future before pool.lua is loaded (upvalues: the module, the
   class name, the method name): loads it, which puts the real method in its place, and
   calls that. Only a call with a wrong self gets here: objects come from a loaded pool.lua. */
static int stub(lua_State *L) {
  pushconstructor(L);
  lua_pop(L, 1);
  luaL_getmetatable(L, lua_tostring(L, lua_upvalueindex(2)));
  lua_getfield(L, -1, SHMLUA_METHODS);
  lua_getfield(L, -1, lua_tostring(L, lua_upvalueindex(3)));
  if (lua_tocfunction(L, -1) == stub)
    return luaL_error(L, "shm.pool: method %s missing", lua_tostring(L, lua_upvalueindex(3)));
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* Registers the classes with their method names at once, so the module lists them before
   any pool exists (pool.lua, compiled on first use, fills them in). */
static void registerclass(lua_State *L, const char *tname, const char *const methods[]) {
  luaL_newmetatable(L, tname);
  lua_newtable(L);
  for (int i = 0; methods[i]; i++) {
    lua_pushvalue(L, -3); /* the module */
    lua_pushstring(L, tname);
    lua_pushstring(L, methods[i]);
    lua_pushcclosure(L, stub, 3);
    lua_setfield(L, -2, methods[i]);
  }
  lua_setfield(L, -2, SHMLUA_METHODS);
  lua_pop(L, 1);
}

void shmlua_open_pool(lua_State *L) {
  static const char *const pool_methods[] = {"map",      "imap",  "imap_unordered", "submit",
                                             "parallel", "close", "terminate",      NULL};
  static const char *const future_methods[] = {"wait", "poll", NULL};
  registerclass(L, "shm.pool", pool_methods);
  registerclass(L, "shm.future", future_methods);
  lua_pushvalue(L, -1); /* the module */
  lua_pushcclosure(L, pool, 1);
  lua_setfield(L, -2, "pool");
}
