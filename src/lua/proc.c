/* Processes as handles: shm.spawn (a Lua function in a forked child), shm.run (a script in a
   fresh shmlua), shm.exec (any program); waiting for one (h:wait, h:poll) or all (shm.waitall),
   and signals (h:kill). */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/barrier.h"
#include "../core/forked.h"
#include "../core/futex.h"
#include "../core/owner.h"
#include "../core/self.h"
#include "args.h"
#include "class.h"
#include "interrupt.h"
#include "luashm.h"
#include "parts.h"
#include "serial.h"
#include "spawn.h"
#include "wait.h"

/* Seconds a failed child's own children get between SIGTERM and SIGKILL. */
#define CHILD_GRACE 1.0

/* The first byte of a forked child's result. */
enum { SENT_VALUES = 'R', SENT_ERROR = 'E' };

typedef struct handle {
  shmlua_child *child; /* NULL until started */
} handle;

const char *shmlua_errortext(lua_State *L) {
  if (lua_type(L, -1) != LUA_TSTRING && !lua_isnumber(L, -1)) {
    int called = luaL_callmeta(L, -1, "__tostring");
    if (!called || lua_type(L, -1) != LUA_TSTRING) {
      if (called)
        lua_pop(L, 1);
      lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
    }
    lua_replace(L, -2); /* only the error object: what lies below is the caller's */
  }
  return lua_tostring(L, -1);
}

SHMLUA_FORKED int shmlua_calltraced(lua_State *L, int nargs) {
  int func = lua_gettop(L) - nargs, ok;
  lua_State *co = lua_newthread(L);
  lua_insert(L, func); /* below the function: removed after */
  ok = shmlua_calltraced_in(L, co, nargs);
  lua_remove(L, func);
  return ok;
}

SHMLUA_FORKED int shmlua_calltraced_in(lua_State *L, lua_State *co, int nargs) {
  int func = lua_gettop(L) - nargs, nresults, status;
  lua_State *outer;
  lua_xmove(L, co, nargs + 1);
  outer = shmlua_running_enter(co);
  status = lua_resume(co, L, nargs, &nresults);
  shmlua_running_leave(co, outer);
  if (status == LUA_OK) {
    luaL_checkstack(L, nresults, "too many results");
    lua_xmove(co, L, nresults);
    return 1;
  }
  if (status == LUA_YIELD)
    lua_pushliteral(L, "attempt to yield from a function run in another process");
  else
    lua_xmove(co, L, 1);
  luaL_traceback(L, co, shmlua_errortext(L), 0);
  shmlua_running_close(co, L); /* runs its pending to-be-closed variables */
  lua_replace(L, func);
  lua_settop(L, func);
  return 0;
}

/* The tag and the payload as one result; a result that cannot be sent (too large for a
   full /dev/shm) is replaced by the error that says so, which fits in a slot. */
SHMLUA_FORKED static bool send_result(char tag, const char *payload, size_t len) {
  struct iovec parts[2] = {{&tag, 1}, {(void *)payload, len}};
  shmlua_error err;
  if (shmlua_result_send(parts, 2, &err) == 0)
    return true;
  tag = SENT_ERROR;
  parts[1] = (struct iovec){err.message, strlen(err.message)};
  shmlua_result_send(parts, 2, &err);
  return false;
}

/* The encoded results of a forked child's function, in the encoder's buffer. */
typedef struct encoded {
  const char *data;
  size_t len;
} encoded;

/* In the forked child, under lua_pcall, with an encoded (light userdata), the function and
   its arguments: encodes the results, or raises the error text. They are left in the
   encoder's buffer, not copied into a Lua string: that string's allocation and interning
   would write to pages of the heap still shared with the parent, a fault each. */
SHMLUA_FORKED static int child_main(lua_State *L) {
  encoded *out = lua_touserdata(L, 1);
  if (!shmlua_calltraced(L, lua_gettop(L) - 2))
    return lua_error(L);
  out->data = shmlua_encode(L, 2, lua_gettop(L) - 1, &out->len);
  return 0;
}

/* In the forked child: calls the function below the nargs arguments on top, sends what it
   returned (or its error with a traceback) to the parent, and ends with _exit. Nothing may
   raise out of here, or the child would go on running the parent's script. Lua's state is
   not closed and atexit handlers do not run: the parent's objects are the parent's, and
   their finalizers (a block's, a lock's) must not act for it. Only this child's own blocks,
   children and barrier memberships are cleaned up. */
SHMLUA_FORKED static void run_child(lua_State *L, int nargs) {
  encoded result = {NULL, 0};
  int ok;
  lua_pushcfunction(L, child_main);
  lua_pushlightuserdata(L, &result);
  lua_rotate(L, -3 - nargs, 2);
  ok = lua_pcall(L, nargs + 2, 0, 0) == LUA_OK;
  if (!ok) {
    if (!lua_isstring(L, -1)) /* a memory error's message is a string; anything else is not */
      lua_pushliteral(L, "(error object is not a string)");
    result.data = lua_tolstring(L, -1, &result.len);
  }
  if (ok)
    while (shmlua_children_wait_all(NULL) != 0)
      continue;
  else
    shmlua_children_terminate_all(CHILD_GRACE);
  shmlua_owner_cleanup();
  shmlua_barrier_leave_all();
  fflush(NULL);
  ok = send_result(ok ? SENT_VALUES : SENT_ERROR, result.data, result.len) && ok;
  _exit(ok ? EXIT_SUCCESS : EXIT_FAILURE);
}

/* A handle not yet started, so a failure before the start leaves nothing to clean. */
static handle *newhandle(lua_State *L) {
  handle *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->child = NULL;
  luaL_setmetatable(L, SHMLUA_PROCESS_MT);
  return h;
}

SHMLUA_FORKED shmlua_child *shmlua_spawnfn(lua_State *L, int nargs, shmlua_error *err) {
  int func = lua_gettop(L) - nargs;
  handle *h;
  pid_t pid;
  luaL_checkstack(L, 4, "spawn");
  h = newhandle(L);
  shmlua_encoder_ready(L); /* for the child's result */
  fflush(NULL);            /* or what is buffered now would be written twice */
  pid = shmlua_child_fork(&h->child, err);
  if (pid == 0) {
    lua_pop(L, 1);
    run_child(L, nargs);
  }
  if (pid < 0) {
    lua_settop(L, func - 1);
    return NULL;
  }
  lua_replace(L, func);
  lua_settop(L, func);
  return h->child;
}

static int proc_spawn(lua_State *L) {
  shmlua_error err;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (!shmlua_spawnfn(L, lua_gettop(L) - 1, &err))
    return shmlua_oserror(L, &err);
  return 1;
}

/* A NULL-terminated argv: lead (if any), then the arguments first..last as strings. It lives
   in a userdata left on the stack, and points into strings that are on the stack too. */
static char **makeargv(lua_State *L, const char *lead, int first, int last) {
  size_t n = (lead ? 1 : 0) + (size_t)(last - first + 1), k = 0;
  char **argv;
  for (int i = first; i <= last; i++) {
    size_t len;
    const char *s = luaL_checklstring(L, i, &len);
    luaL_argcheck(L, strlen(s) == len, i, "contains a zero byte");
  }
  argv = lua_newuserdatauv(L, (n + 1) * sizeof *argv, 0);
  if (lead)
    argv[k++] = (char *)lead;
  for (int i = first; i <= last; i++)
    argv[k++] = (char *)lua_tostring(L, i);
  argv[k] = NULL;
  return argv;
}

static int start_program(lua_State *L, const char *program, char **argv, bool watched) {
  handle *h = newhandle(L);
  shmlua_error err;
  fflush(NULL); /* the program writes to the same files */
  if (shmlua_child_spawn(&h->child, program, argv, true, watched, &err))
    return shmlua_oserror(L, &err);
  return 1;
}

static int proc_exec(lua_State *L) {
  int last = lua_gettop(L);
  const char *program = luaL_checkstring(L, 1);
  return start_program(L, program, makeargv(L, NULL, 1, last), false);
}

/* The shmlua installed with this module, found from the file the module was loaded from
   (dladdr), so that any install prefix works, also after the tree was moved: beside the
   module (the build tree; a program that links the binding statically), then where the
   configured layout puts it (SHMLUA_EXE_FROM_MODULE, relative to the module's directory),
   then where a LuaRocks tree does (lib/lua/5.4 -> bin). Pushes it, or nothing and NULL. */
static const char *pushinstalled(lua_State *L) {
  static const char *const relative[] = {
    "shmlua",
#if defined(SHMLUA_EXE_FROM_MODULE)
    SHMLUA_EXE_FROM_MODULE,
#endif
    "../../../bin/shmlua"
  };
  static const char anchor = 0; /* an address inside this module */
  char module[PATH_MAX], *slash;
  Dl_info info;
  if (!dladdr(&anchor, &info) || !info.dli_fname || !realpath(info.dli_fname, module) ||
      !(slash = strrchr(module, '/')))
    return NULL;
  slash[1] = '\0';
  for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
    char exe[PATH_MAX], full[PATH_MAX];
    struct stat st;
    if (snprintf(exe, sizeof exe, "%s%s", module, relative[i]) < (int)sizeof exe &&
        realpath(exe, full) && stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
        access(full, X_OK) == 0)
      return lua_pushstring(L, full);
  }
  return NULL;
}

/* The shmlua to run scripts with: $SHMLUA_EXE, else the interpreter this state runs in if it
   said so (SHMLUA_INTERPRETER_KEY), else the one installed with this module, else `shmlua`
   from PATH. The string stays on the stack. */
static const char *interpreter(lua_State *L) {
  const char *exe = getenv("SHMLUA_EXE");
  if (exe && *exe)
    return lua_pushstring(L, exe);
  if (lua_getfield(L, LUA_REGISTRYINDEX, SHMLUA_INTERPRETER_KEY) == LUA_TSTRING)
    return lua_tostring(L, -1);
  lua_pop(L, 1);
  if ((exe = pushinstalled(L)) != NULL)
    return exe;
  return lua_pushstring(L, "shmlua");
}

static int proc_run(lua_State *L) {
  int last = lua_gettop(L);
  const char *exe;
  luaL_checkstring(L, 1);
  exe = interpreter(L);
  return start_program(L, exe, makeargv(L, exe, 1, last), true);
}

static handle *checkhandle(lua_State *L, int arg) {
  return luaL_checkudata(L, arg, SHMLUA_PROCESS_MT);
}

/* The child of the handle at arg; raises if __gc (which a script can reach through
   debug.getmetatable) already released it. */
static shmlua_child *heldchild(lua_State *L, int arg) {
  shmlua_child *c = checkhandle(L, arg)->child;
  if (!c)
    luaL_error(L, "process handle already released by __gc");
  return c;
}

shmlua_child *shmlua_checkchild(lua_State *L, int arg) {
  shmlua_child *c = heldchild(L, arg);
  if (c->parent != shmlua_self())
    luaL_error(L, "process %d is not a child of this process", (int)c->pid);
  return c;
}

shmlua_childend shmlua_child_ended(const shmlua_child *c) {
  static const char lost[] = "the exit status was lost (is SIGCHLD ignored?)";
  shmlua_childend end = {SHMLUA_ENDED_EXIT, -1, NULL, 0};
  int code = WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1;
  end.number = code;
  if (c->status == -1) {
    end.how = SHMLUA_ENDED_ERROR;
    end.message = lost;
    end.len = sizeof lost - 1;
  } else if (code == EXIT_SUCCESS && c->len > 0 && c->data[0] == SENT_VALUES)
    end.how = SHMLUA_ENDED_VALUES;
  else if (code == EXIT_FAILURE && c->len > 0 && c->data[0] == SENT_ERROR) {
    end.how = SHMLUA_ENDED_ERROR;
    end.message = (const char *)c->data + 1;
    end.len = c->len - 1;
  } else if (WIFSIGNALED(c->status)) {
    end.how = SHMLUA_ENDED_SIGNAL;
    end.number = WTERMSIG(c->status);
  } else if (code == EXIT_SUCCESS)
    end.how = SHMLUA_ENDED_OK;
  return end;
}

int shmlua_pushresults(lua_State *L, const shmlua_child *c) {
  shmlua_childend end = shmlua_child_ended(c);
  if (end.how == SHMLUA_ENDED_VALUES) {
    int n;
    lua_pushboolean(L, 1);
    if ((n = shmlua_deserialize(L, c->data + 1, c->len - 1)) >= 0)
      return n + 1;
    lua_pop(L, 1);
    end.how = SHMLUA_ENDED_OK; /* values it cannot read: a success all the same */
  }
  if (end.how == SHMLUA_ENDED_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  if (end.how == SHMLUA_ENDED_ERROR) {
    lua_pushliteral(L, "error");
    lua_pushlstring(L, end.message, end.len);
  } else {
    lua_pushstring(L, end.how == SHMLUA_ENDED_SIGNAL ? "signal" : "exit");
    lua_pushinteger(L, end.number);
  }
  return 3;
}

int shmlua_waitchildren(lua_State *L, shmlua_child *const *children, size_t n,
                        const struct timespec *deadline, size_t *which) {
  shmlua_error err;
  for (;;) {
    if (shmlua_child_wait(children, n, deadline, which, &err) == 0)
      return 0;
    if (err.code == EINTR)
      shmlua_checkinterrupt(L); /* Ctrl-C raises here; other signals: wait on */
    else if (err.code == ETIMEDOUT)
      return ETIMEDOUT;
    else
      return luaL_error(L, "%s", err.message);
  }
}

static int waituntil(lua_State *L, const struct timespec *deadline) {
  shmlua_child *c = shmlua_checkchild(L, 1);
  size_t which;
  if (shmlua_waitchildren(L, &c, 1, deadline, &which) == ETIMEDOUT)
    return shmlua_sync_fail(L, "timeout");
  return shmlua_pushresults(L, c);
}

static int proc_wait(lua_State *L) {
  struct timespec deadline;
  return waituntil(L, shmlua_opttimeout(L, 2, &deadline));
}

static int proc_poll(lua_State *L) {
  struct timespec now = shmlua_now();
  int n = waituntil(L, &now);
  if (n == 2 && lua_isnil(L, -2)) { /* timed out: still running */
    lua_pushliteral(L, "running");
    lua_replace(L, -2);
  }
  return n;
}

static const struct {
  const char *name;
  int signo;
} signals[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT},
               {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
               {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
               {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"WINCH", SIGWINCH}};

/* A signal given as a number or a name ("TERM" or "SIGTERM"); SIGTERM if absent. */
static int checksignal(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg))
    return SIGTERM;
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char *name = lua_tostring(L, arg);
    if (strncmp(name, "SIG", 3) == 0)
      name += 3;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
      if (strcmp(name, signals[i].name) == 0)
        return signals[i].signo;
    return luaL_argerror(L, arg,
                         lua_pushfstring(L, "unknown signal '%s'", shmlua_pushquoted(L, arg)));
  }
  lua_Integer signo = shmlua_checkint(L, arg);
  luaL_argcheck(L, signo >= 0 && signo < 256, arg, "not a signal number");
  return (int)signo;
}

static int proc_kill(lua_State *L) {
  shmlua_child *c = shmlua_checkchild(L, 1);
  shmlua_error err;
  if (shmlua_child_signal(c, checksignal(L, 2), &err))
    return shmlua_oserror(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

static int proc_gc(lua_State *L) {
  handle *h = checkhandle(L, 1);
  if (h->child)
    shmlua_child_release(h->child);
  h->child = NULL;
  return 0;
}

static int proc_tostring(lua_State *L) {
  const shmlua_child *c = checkhandle(L, 1)->child;
  if (!c)
    lua_pushliteral(L, "shm.process: released");
  else if (!c->done)
    lua_pushfstring(L, "shm.process: %d (running)", (int)c->pid);
  else if (c->status != -1 && WIFSIGNALED(c->status))
    lua_pushfstring(L, "shm.process: %d (signal %d)", (int)c->pid, WTERMSIG(c->status));
  else
    lua_pushfstring(L, "shm.process: %d (exit %d)", (int)c->pid,
                    c->status == -1 ? -1 : WEXITSTATUS(c->status));
  return 1;
}

static int proc_index(lua_State *L) {
  checkhandle(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "pid") == 0)
    lua_pushinteger(L, heldchild(L, 1)->pid);
  else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
  }
  return 1;
}

/* shm.waitall(handles [, timeout]): a list with table.pack(h:wait()) for each handle, or
   nil, "timeout" (the handles stay usable). */
static int proc_waitall(lua_State *L) {
  struct timespec deadline;
  const struct timespec *until = shmlua_opttimeout(L, 2, &deadline);
  lua_Integer n;
  shmlua_child **left;
  size_t nleft, which;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = luaL_len(L, 1);
  luaL_argcheck(L, n >= 0 && (lua_Unsigned)n < SIZE_MAX / sizeof *left, 1, "too many handles");
  left = lua_newuserdatauv(L, (size_t)n * sizeof *left, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    if (!luaL_testudata(L, -1, SHMLUA_PROCESS_MT))
      return luaL_argerror(L, 1,
                           lua_pushfstring(L, "item %I is not a process", (LUAI_UACINT)i));
    left[i - 1] = shmlua_checkchild(L, -1);
    lua_pop(L, 1);
  }
  for (nleft = (size_t)n; nleft > 0; left[which] = left[--nleft])
    if (shmlua_waitchildren(L, left, nleft, until, &which) == ETIMEDOUT)
      return shmlua_sync_fail(L, "timeout");
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    int results, k;
    lua_geti(L, 1, i);
    lua_createtable(L, 4, 1);
    results = shmlua_pushresults(L, shmlua_checkchild(L, -2));
    for (k = results; k >= 1; k--)
      lua_rawseti(L, -1 - k, k);
    lua_pushinteger(L, results);
    lua_setfield(L, -2, "n");
    lua_rawseti(L, -3, i);
    lua_pop(L, 1);
  }
  return 1;
}

void shmlua_open_proc(lua_State *L) {
  static const luaL_Reg metamethods[] = {
      {"__gc", proc_gc}, {"__tostring", proc_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
      {"wait", proc_wait}, {"poll", proc_poll}, {"kill", proc_kill}, {NULL, NULL}};
  static const luaL_Reg functions[] = {{"spawn", proc_spawn},
                                       {"run", proc_run},
                                       {"exec", proc_exec},
                                       {"waitall", proc_waitall},
                                       {NULL, NULL}};
  shmlua_child_watch_parent();
  shmlua_newclass(L, SHMLUA_PROCESS_MT, metamethods, methods, proc_index);
  lua_pop(L, 1);
  luaL_setfuncs(L, functions, 0);
}
