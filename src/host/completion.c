/* Readline's side of Tab completion (see completion.h). */
#include "completion.h"

#ifdef SHMLUA_USE_READLINE

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

#include "introspect.h"

/* What ends a name: a path such as m.buf:wr is one word. */
static char word_breaks[] = " \t\n\"'`@$><=;|&{}()[]+-*/%^#~,";

static lua_State *state;
static char **found; /* the candidates of the current completion, NULL-terminated */
static size_t given; /* how many of them readline has taken */

/* Frees the candidates readline has not taken. */
static void forget(void) {
  for (size_t i = given; found && found[i]; i++)
    free(found[i]);
  free(found);
  found = NULL;
}

/* Fills found with shm.complete(text); leaves it NULL on any error (no candidates). */
static void find(const char *text) {
  lua_State *L = state;
  int top = lua_gettop(L);
  forget();
  given = 0;
  if (!lua_checkstack(L, 3))
    return;
  lua_pushcfunction(L, shmlua_complete);
  lua_pushstring(L, text);
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    size_t n = lua_rawlen(L, -1);
    if ((found = calloc(n + 1, sizeof *found)))
      for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        found[i] = strdup(lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!found[i])
          break;
      }
  }
  lua_settop(L, top);
}

/* readline's generator: the candidates one by one (readline frees each one it gets). */
static char *next(const char *text, int calls) {
  if (calls == 0) {
    find(text);
    given = 0;
  }
  if (!found || !found[given]) {
    forget();
    return NULL;
  }
  return found[given++];
}

static char **attempt(const char *text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1; /* no file names */
  rl_completion_append_character = '\0';
  return rl_completion_matches(text, next);
}

/* The list shows the last part of each candidate: "write", not "m.buf:write". */
static void display(char **matches, int count, int longest) {
  size_t cut = 0;
  const char *first = matches[1];
  (void)longest;
  for (size_t i = 0; first[i]; i++)
    if (first[i] == '.' || first[i] == ':')
      cut = i + 1;
  longest = 0;
  for (int i = 1; i <= count; i++) {
    matches[i] += cut;
    if ((int)strlen(matches[i]) > longest)
      longest = (int)strlen(matches[i]);
  }
  rl_display_match_list(matches, count, longest);
  for (int i = 1; i <= count; i++)
    matches[i] -= cut;
  rl_forced_update_display();
}

void shmlua_completion_open(lua_State *L) {
  state = L;
  rl_completer_word_break_characters = word_breaks;
  rl_attempted_completion_function = attempt;
  rl_completion_display_matches_hook = display;
}

#else

void shmlua_completion_open(lua_State *L) {
  (void)L;
}

#endif
