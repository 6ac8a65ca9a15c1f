/* shm.watch(name [, opts]): redraws a block's hex dump (or what opts.show makes of it) on
   stdout every interval, until Ctrl-C or opts.count frames, so a person can see other
   processes change it. On a terminal, bytes that changed since the last frame are shown in
   reverse video. The block is attached read-only: watching never disturbs it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/escape.h"
#include "../core/futex.h"
#include "args.h"
#include "blockaccess.h"
#include "hexdump.h"
#include "interrupt.h"
#include "parts.h"
#include "position.h"

enum { DEFAULT_BYTES = 1024 }; /* 64 lines: a screenful of a big block */

typedef struct watch {
  double interval;
  lua_Integer count;           /* frames left; negative: until interrupted */
  size_t start, len;           /* the dumped range: 0-based start, length */
  int show;                    /* stack index of opts.show, or 0 for the hex dump */
  int tty;                     /* stdout is a terminal: redraw in place, mark changes */
  unsigned char *now, *before; /* copies of the range: this frame's and the last one's */
  int frames;
} watch;

static void checkopts(lua_State *L, int arg, const shmlua_block *b, watch *w) {
  static const char *const allowed[] = {"interval", "count", "i", "j", "show", NULL};
  lua_Integer first, last;
  shmlua_checkopts(L, arg, allowed);
  w->interval = 1;
  w->show = 0;
  if (!lua_isnoneornil(L, arg)) {
    if (lua_getfield(L, arg, "interval") != LUA_TNIL) {
      w->interval = lua_tonumber(L, -1);
      luaL_argcheck(L,
                    lua_type(L, -1) == LUA_TNUMBER && w->interval > 0 && isfinite(w->interval),
                    arg, "option 'interval' must be a positive number of seconds");
    }
    if (lua_getfield(L, arg, "show") != LUA_TNIL) {
      luaL_argcheck(L, lua_isfunction(L, -1), arg, "option 'show' must be a function");
      w->show = lua_gettop(L);
    }
  }
  w->count = shmlua_optfield_int(L, arg, "count", -1);
  luaL_argcheck(L, w->count == -1 || w->count > 0, arg, "option 'count' must be positive");
  first = shmlua_optfield_int(L, arg, "i", 1);
  last = shmlua_optfield_int(L, arg, "j",
                             b->size < DEFAULT_BYTES ? (lua_Integer)b->size : DEFAULT_BYTES);
  w->len = shmlua_range(first, last, b->size, &w->start);
}

/* Sleeps the whole interval; Ctrl-C (EINTR and a pending hook) raises "interrupted!". */
static void sleepfor(lua_State *L, double seconds) {
  struct timespec deadline = shmlua_deadline(seconds);
  shmlua_checkinterrupt(L); /* a Ctrl-C that came while the frame was drawn */
  for (;;) {
    struct timespec left = shmlua_time_left(&deadline);
    if ((left.tv_sec == 0 && left.tv_nsec == 0) || nanosleep(&left, NULL) == 0)
      return;
    if (errno == EINTR)
      shmlua_checkinterrupt(L);
  }
}

/* Pushes the body of one frame: show(block), or the hex dump of a copy of the range taken
   now (so one frame is one moment), marking what changed since the last frame. */
static const char *body(lua_State *L, int block, const shmlua_block *b, watch *w,
                        size_t *len) {
  if (w->show) {
    lua_pushvalue(L, w->show);
    lua_pushvalue(L, block);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "option 'show' must return a string (got %s)", luaL_typename(L, -1));
  } else {
    luaL_Buffer out;
    unsigned char *older = w->before;
    w->before = w->now;
    w->now = older;
    shmlua_fault fault;
    if (shmlua_guarded_copy(w->now, shmlua_blockaddr(L, b, 0) + w->start, w->len, b, NULL,
                            &fault) != 0)
      shmlua_faulterror(L, &fault);
    luaL_buffinit(L, &out);
    shmlua_hexdump(&out, w->start, w->now, w->len, w->tty && w->frames > 0 ? w->before : NULL);
    luaL_pushresult(&out);
  }
  return lua_tolstring(L, -1, len);
}

static void drawframe(lua_State *L, int block, const shmlua_block *b, watch *w) {
  size_t len;
  const char *text = body(L, block, b, w, &len);
  const char *user = shmlua_name_user(&b->name);
  char name[SHMLUA_ESCAPED_SIZE(SHMLUA_NAME_MAX)]; /* a name may hold ESC sequences */
  shmlua_escape(user, strlen(user), name, sizeof name);
  if (w->tty)
    fputs("\033[H\033[2J", stdout); /* home and clear: redraw in place */
  if (w->show)
    printf("%s: %zu bytes, every %gs\n", name, b->size, w->interval);
  else
    printf("%s: %zu bytes, bytes %zu..%zu, every %gs\n", name, b->size, w->start + 1,
           w->start + w->len, w->interval);
  fwrite(text, 1, len, stdout);
  fflush(stdout);
  lua_pop(L, 1);
  w->frames++;
}

static int watch_block(lua_State *L) {
  watch w;
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
#if SHMLUA_HAVE_TOCLOSE
  lua_toclose(L, block); /* unmapped at once, however the watch ends (else: when collected) */
#endif
  b = shmlua_checkblock(L, block);
  checkopts(L, 2, b, &w);
  w.tty = isatty(fileno(stdout));
  w.frames = 0;
  w.now = lua_newuserdatauv(L, 2 * w.len, 0); /* both copies, freed with the stack */
  w.before = w.now + w.len;
  for (;;) {
    drawframe(L, block, b, &w);
    if (w.count > 0 && --w.count == 0)
      break;
    sleepfor(L, w.interval);
  }
  lua_pushboolean(L, 1);
  return 1;
}

void shmlua_open_watch(lua_State *L) {
  lua_pushvalue(L, -1); /* the module table, for shm.attach */
  lua_pushcclosure(L, watch_block, 1);
  lua_setfield(L, -2, "watch");
}
