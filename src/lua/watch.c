/* shm.watch(name [, opts]): redraws a block's hex dump (or what opts.show makes of it) on
   stdout every interval, until Ctrl-C or opts.count frames, so a person can see other
   processes change it. The block is attached read-only: watching never disturbs it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "../core/futex.h"
#include "binding.h"

enum { DEFAULT_BYTES = 1024 }; /* 64 lines: a screenful of a big block */

typedef struct watchopts {
  double interval;
  lua_Integer count; /* frames left; negative: until interrupted */
  lua_Integer first, last;
  int show; /* stack index of opts.show, or 0 for the hex dump */
} watchopts;

static void checkopts(lua_State *L, int arg, const shmlua_block *b, watchopts *o) {
  static const char *const allowed[] = {"interval", "count", "i", "j", "show", NULL};
  shmlua_checkopts(L, arg, allowed);
  o->interval = 1;
  o->show = 0;
  if (!lua_isnoneornil(L, arg)) {
    if (lua_getfield(L, arg, "interval") != LUA_TNIL) {
      o->interval = lua_tonumber(L, -1);
      luaL_argcheck(L, lua_type(L, -1) == LUA_TNUMBER && o->interval > 0 && isfinite(o->interval),
                    arg, "option 'interval' must be a positive number of seconds");
    }
    if (lua_getfield(L, arg, "show") != LUA_TNIL) {
      luaL_argcheck(L, lua_isfunction(L, -1), arg, "option 'show' must be a function");
      o->show = lua_gettop(L);
    }
  }
  o->count = shmlua_optfield_int(L, arg, "count", -1);
  luaL_argcheck(L, o->count == -1 || o->count > 0, arg, "option 'count' must be positive");
  o->first = shmlua_optfield_int(L, arg, "i", 1);
  o->last = shmlua_optfield_int(L, arg, "j",
                                b->size < DEFAULT_BYTES ? (lua_Integer)b->size : DEFAULT_BYTES);
}

/* Sleeps the whole interval; Ctrl-C (EINTR and a pending hook) raises "interrupted!". */
static void sleepfor(lua_State *L, double seconds) {
  struct timespec deadline = shmlua_deadline(seconds);
  for (;;) {
    struct timespec left = shmlua_time_left(&deadline);
    if ((left.tv_sec == 0 && left.tv_nsec == 0) || nanosleep(&left, NULL) == 0)
      return;
    if (errno == EINTR)
      shmlua_checkinterrupt(L);
  }
}

/* Pushes the body of one frame: show(block), or the hex dump of bytes first..last. */
static const char *body(lua_State *L, int block, const watchopts *o, size_t *len) {
  if (o->show) {
    lua_pushvalue(L, o->show);
    lua_pushvalue(L, block);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "option 'show' must return a string (got %s)", luaL_typename(L, -1));
  } else {
    lua_getfield(L, block, "buf");
    lua_getfield(L, -1, "hexdump");
    lua_insert(L, -2);
    lua_pushinteger(L, o->first);
    lua_pushinteger(L, o->last);
    lua_call(L, 3, 1);
  }
  return lua_tolstring(L, -1, len);
}

static void drawframe(lua_State *L, int block, const shmlua_block *b, const watchopts *o) {
  size_t len;
  const char *text = body(L, block, o, &len);
  if (isatty(fileno(stdout)))
    fputs("\033[H\033[2J", stdout); /* home and clear: redraw in place */
  if (o->show)
    printf("%s: %zu bytes, every %gs\n", shmlua_name_user(&b->name), b->size, o->interval);
  else
    printf("%s: %zu bytes, bytes %lld..%lld, every %gs\n", shmlua_name_user(&b->name), b->size,
           (long long)o->first, (long long)o->last, o->interval);
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  lua_pop(L, 1);
}

static int watch(lua_State *L) {
  watchopts o;
  int block;
  shmlua_block *b;
  shmlua_name name;
  shmlua_checkname(L, 1, &name); /* so a bad name is reported as watch's argument */
  lua_getfield(L, lua_upvalueindex(1), "attach");
  lua_pushvalue(L, 1);
  lua_createtable(L, 0, 1);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "readonly");
  lua_call(L, 2, 3);
  if (lua_isnil(L, -3))
    return 3; /* nil, message, errno from attach */
  lua_pop(L, 2);
  block = lua_gettop(L);
  lua_toclose(L, block); /* unmapped at once, however the watch ends */
  b = shmlua_checkblock(L, block);
  checkopts(L, 2, b, &o);
  for (;;) {
    drawframe(L, block, b, &o);
    if (o.count > 0 && --o.count == 0)
      break;
    sleepfor(L, o.interval);
  }
  lua_pushboolean(L, 1);
  return 1;
}

void shmlua_open_watch(lua_State *L) {
  lua_pushvalue(L, -1); /* the module table, for shm.attach */
  lua_pushcclosure(L, watch, 1);
  lua_setfield(L, -2, "watch");
}
