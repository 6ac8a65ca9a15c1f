/* The REPL as lua.c has it: a line is tried first as "return <line>" so expressions print;
   otherwise as a statement, read on while the parser stops at <eof>. */
#include "repl.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "completion.h"
#include "input.h"
#include "proc.h"
#include "run.h"
#include "session.h"
#include "signals.h"

enum { REPL_END = -1, REPL_CANCELLED = -2 }; /* besides lua_load's statuses */

/* The prompt: _PROMPT (first line) or _PROMPT2 (continuation) through tostring, else the
   defaults. Left on the stack, under whatever comes next. */
static const char *pushprompt(lua_State *L, int first) {
  if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushstring(L, first ? "> " : ">> ");
  } else {
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
  }
  return lua_tostring(L, -1);
}

/* Reads a line and pushes it. Returns an input status (SHMLUA_INPUT_*). */
static int pushline(lua_State *L, int first) {
  char *line;
  int got = shmlua_input_read(pushprompt(L, first), &line);
  lua_pop(L, 1);
  if (got != SHMLUA_INPUT_LINE)
    return got;
  if (first && line[0] == '=') /* Lua 5.2's "=expr" */
    lua_pushfstring(L, "return %s", line + 1);
  else
    lua_pushstring(L, line);
  free(line);
  return got;
}

/* Whether status is a syntax error at the end of the chunk; pops the message if so. */
static int incomplete(lua_State *L, int status) {
  static const char mark[] = "<eof>";
  size_t len;
  const char *msg;
  if (status != LUA_ERRSYNTAX)
    return 0;
  msg = lua_tolstring(L, -1, &len);
  if (len < sizeof mark - 1 || strcmp(msg + len - (sizeof mark - 1), mark) != 0)
    return 0;
  lua_pop(L, 1);
  return 1;
}

static int loadstring(lua_State *L, const char *s) {
  return luaL_loadbuffer(L, s, strlen(s), "=stdin");
}

/* With the line at index 1: loads "return <line>;" on top if it parses. */
static int loadexpression(lua_State *L) {
  int status = loadstring(L, lua_pushfstring(L, "return %s;", lua_tostring(L, 1)));
  lua_remove(L, -2);
  if (status != LUA_OK)
    lua_pop(L, 1);
  return status;
}

/* With the first line at index 1: loads it as statements, joining more lines while the
   chunk is incomplete. Leaves the function or the error message on top. */
static int loadstatements(lua_State *L) {
  for (;;) {
    int status = loadstring(L, lua_tostring(L, 1));
    int more;
    if (!incomplete(L, status))
      return status;
    more = pushline(L, 0);
    if (more == SHMLUA_INPUT_CANCEL)
      return REPL_CANCELLED;
    if (more == SHMLUA_INPUT_EOF) /* report the chunk as it stands */
      return loadstring(L, lua_tostring(L, 1));
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3); /* the chunk so far, a newline, the new line */
  }
}

/* Reads one chunk: its function (or an error message) is left alone on the stack. */
static int loadchunk(lua_State *L) {
  int status;
  lua_settop(L, 0);
  switch (pushline(L, 1)) {
  case SHMLUA_INPUT_EOF:
    return REPL_END;
  case SHMLUA_INPUT_CANCEL:
    return REPL_CANCELLED;
  }
  status = loadexpression(L);
  if (status != LUA_OK)
    status = loadstatements(L);
  if (status != REPL_CANCELLED)
    shmlua_input_remember(lua_tostring(L, 1));
  lua_remove(L, 1);
  return status;
}

/* After the REPL the host waits for the children still running: says so, or it would look
   hung. */
static void saywaiting(void) {
  size_t n = shmlua_children_running();
  if (n == 1)
    fputs("waiting for 1 child; Ctrl-C stops it\n", stderr);
  else if (n > 1)
    fprintf(stderr, "waiting for %zu children; Ctrl-C stops them\n", n);
  fflush(stderr);
}

void shmlua_host_repl(lua_State *L) {
  const char *progname = shmlua_progname;
  int status;
  shmlua_progname = NULL; /* errors at the prompt are shown bare */
  shmlua_input_open();
  shmlua_completion_open(L);
  shmlua_session_open(L);
  shmlua_signals_keep_terminal();
  while ((status = loadchunk(L)) != REPL_END) {
    if (status == REPL_CANCELLED)
      continue;
    if (status == LUA_OK)
      status = shmlua_host_call(L, 0, LUA_MULTRET);
    if (status == LUA_OK)
      shmlua_session_show(L);
    else
      shmlua_host_report(L, status);
  }
  lua_settop(L, 0);
  fputc('\n', stdout);
  fflush(stdout);
  saywaiting();
  shmlua_progname = progname;
}
