/* A C program that embeds Lua with the shm module: it registers shm with luaL_requiref, gives
   scripts fork_run(chunk, ...) to run a chunk in a forked child with a Lua state of its own,
   and runs the script named on its command line. Usage: shmlua-embed script.lua */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include <shmlua/luashm.h>

static lua_State *newstate(void) {
  lua_State *L = luaL_newstate();
  if (L) {
    luaL_openlibs(L);
    luaL_requiref(L, "shm", luaopen_shm, 1); /* as require "shm" would, and a global shm */
    lua_pop(L, 1);
  }
  return L;
}

/* The forked child: a fresh state runs chunk with the string arguments. Exit status 0 if it
   ran without error. */
static void runchild(const char *chunk, size_t len, int nargs, const char *const *args) {
  lua_State *L = newstate();
  int status = 1;
  if (L && luaL_loadbuffer(L, chunk, len, "=fork_run") == LUA_OK) {
    for (int k = 0; k < nargs; k++)
      lua_pushstring(L, args[k]);
    status = lua_pcall(L, nargs, 0, 0) != LUA_OK;
  }
  if (L && status)
    fprintf(stderr, "child: %s\n", lua_tostring(L, -1));
  if (L)
    lua_close(L);
  exit(status);
}

/* fork_run(chunk, ...): runs chunk in a child process and waits for it; true if it
   succeeded, else nil and a message. The child gets copies of the strings by fork. */
static int fork_run(lua_State *L) {
  enum { MAXARGS = 8 };
  size_t len;
  const char *chunk = luaL_checklstring(L, 1, &len);
  const char *args[MAXARGS];
  int nargs = lua_gettop(L) - 1, status;
  pid_t pid;
  luaL_argcheck(L, nargs <= MAXARGS, MAXARGS + 2, "too many arguments");
  for (int k = 0; k < nargs; k++)
    args[k] = luaL_checkstring(L, k + 2);
  fflush(NULL); /* or the child would print the parent's buffered output again */
  pid = fork();
  if (pid < 0)
    return luaL_fileresult(L, 0, "fork");
  if (pid == 0)
    runchild(chunk, len, nargs, args);
  while (waitpid(pid, &status, 0) < 0)
    ; /* EINTR: the child is still ours to reap */
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  luaL_pushfail(L);
  lua_pushfstring(L, "child %d failed (wait status %d)", (int)pid, status);
  return 2;
}

int main(int argc, char **argv) {
  lua_State *L;
  int ok;
  if (argc != 2) {
    fprintf(stderr, "usage: %s script.lua\n", argv[0]);
    return 2;
  }
  L = newstate();
  if (!L) {
    fprintf(stderr, "%s: cannot create a Lua state\n", argv[0]);
    return 1;
  }
  lua_register(L, "fork_run", fork_run);
  ok = luaL_dofile(L, argv[1]) == LUA_OK;
  if (!ok)
    fprintf(stderr, "%s: %s\n", argv[0], lua_tostring(L, -1));
  lua_close(L);
  return ok ? 0 : 1;
}
