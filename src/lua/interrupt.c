/* Ctrl-C as an "interrupted!" error in whatever Lua code runs. A signal handler can only set
   a hook, hooks are per thread, and a handler cannot ask Lua which thread runs: so code that
   resumes a coroutine says so here, and the hook goes on that thread. */
#include "interrupt.h"

#include "../core/forked.h"

/* The thread running now, as far as anyone said (NULL: nobody did). One per process: only
   the shmlua host (single-threaded) and forked children, whose Lua is theirs alone, set it. */
static lua_State *volatile running;
/* Where shmlua_interrupt set its hook last (it may be gone since: only compared). */
static lua_State *volatile hooked;

enum { STOP_MASK = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT };

static void stop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  hooked = NULL;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* A signal may land just before `running` changes, so its hook sits on the thread that
   stops running: it goes on to the one that runs next (to none: dropped). */
SHMLUA_FORKED static void pass_interrupt(lua_State *from, lua_State *to) {
  if (hooked != from || lua_gethook(from) != stop) /* the first test is all most calls cost */
    return;
  lua_sethook(from, NULL, 0, 0);
  hooked = to;
  if (to)
    lua_sethook(to, stop, STOP_MASK, 1);
}

SHMLUA_FORKED lua_State *shmlua_running_enter(lua_State *co) {
  lua_State *outer = running;
  running = co;
  if (outer)
    pass_interrupt(outer, co);
  return outer;
}

SHMLUA_FORKED void shmlua_running_leave(lua_State *co, lua_State *outer) {
  running = outer;
  pass_interrupt(co, outer);
}

int shmlua_running_close(lua_State *co, lua_State *L) {
  lua_State *outer = shmlua_running_enter(co);
  int status = lua_closethread(co, L); /* compat.h: lua_resetthread before 5.4.6 */
  shmlua_running_leave(co, outer);
  return status;
}

void shmlua_interrupt(void) {
  lua_State *L = running;
  if (!L)
    return;
  hooked = L;
  lua_sethook(L, stop, STOP_MASK, 1);
}

#if !SHMLUA_IS_LUAJIT
static int noop(lua_State *L) {
  (void)L;
  return 0;
}
#endif

/* lua.c sets its Ctrl-C hook on the main thread, with this mask and a count of 1. A wait in
   a coroutine (every shm.spawn function runs in one) never sees it there: move it to the
   waiting thread, where it raises, instead of leaving it for later. Only that hook: a
   debugger's hook on the main thread stays where it is. */
static void take_interrupt(lua_State *L) {
  const int mask = SHMLUA_INTERRUPT_HOOKMASK;
  lua_State *main;
  shmlua_pushmainthread(L);
  main = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (main && main != L && lua_gethook(main) && lua_gethookmask(main) == mask &&
      lua_gethookcount(main) == 1) {
    lua_sethook(L, lua_gethook(main), mask, 1);
    lua_sethook(main, NULL, 0, 0);
  }
}

void shmlua_checkinterrupt(lua_State *L) {
  if (lua_gethook(L) == NULL)
    take_interrupt(L);
  /* A pending hook runs on the next call: make one, and let the hook raise through us. */
  if (lua_gethook(L) != NULL) {
#if SHMLUA_IS_LUAJIT
    /* LuaJIT runs hooks only in Lua code, where lua.c's would also add a position to its
       message: that one is done here as it would be in a C function. */
    if (lua_gethookmask(L) == SHMLUA_INTERRUPT_HOOKMASK && lua_gethookcount(L) == 1) {
      lua_sethook(L, NULL, 0, 0);
      lua_pushliteral(L, "interrupted!");
      lua_error(L);
    }
    if (luaL_loadstring(L, "") != LUA_OK) /* an empty Lua function: other hooks run in it */
      lua_error(L);
#else
    lua_pushcfunction(L, noop);
#endif
    lua_call(L, 0, 0);
  }
}
