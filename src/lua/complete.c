/* shm.complete(text [, env]): the ways the name at the end of text can go on, for Tab at a
   prompt: keywords and globals, keys of tables (and of their __index tables), methods and
   documented fields of shmlua objects. Values are read raw; the only metamethod called is
   the __index of a shmlua object for one of its documented fields, which only reads. Nothing
   a script defined runs. */
#include <stdlib.h>
#include <string.h>

#include "apidoc.h"
#include "binding.h"

#define MAX_CHAIN 16 /* __index tables followed, at most (they may loop) */

/* Pushes the table that __index of the value at idx is, or returns 0. */
static int pushindextable(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx))
    return 0;
  lua_pushliteral(L, "__index");
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (lua_istable(L, -1))
    return 1;
  lua_pop(L, 1);
  return 0;
}

/* Whether the __index of the object at idx is still a C function: one of the module's, not
   one a script put in the metatable; or (a sync object's own metatable) a table whose own
   __index is. */
static int cindex(lua_State *L, int idx) {
  int c, top = lua_gettop(L);
  lua_getmetatable(L, idx);
  lua_pushliteral(L, "__index");
  lua_rawget(L, -2);
  if (lua_istable(L, -1) && lua_getmetatable(L, -1)) {
    lua_pushliteral(L, "__index");
    lua_rawget(L, -2);
  }
  c = lua_iscfunction(L, -1);
  lua_settop(L, top);
  return c;
}

static int readfield(lua_State *L) {
  lua_gettable(L, 1);
  return 1;
}

/* Whether class has a documented field called key (len bytes). */
static int documented(const char *class, const char *key, size_t len) {
  shmlua_docpart p = {0};
  char sep;
  while (shmlua_doc_next(&p))
    if (shmlua_doc_memberof(&p, class, strlen(class), &sep) && sep == '.' &&
        p.namelen - p.memberat == len && memcmp(p.name + p.memberat, key, len) == 0)
      return 1;
  return 0;
}

/* Replaces the value on top by the table that is its __index; 0 (nothing done) if none. */
static int climb(lua_State *L) {
  if (!pushindextable(L, -1))
    return 0;
  lua_replace(L, -2);
  return 1;
}

/* Replaces the shmlua object at idx (the top) by its class's methods table. */
static void tomethods(lua_State *L, int idx) {
  lua_getmetatable(L, idx);
  lua_getfield(L, -1, SHMLUA_METHODS);
  lua_replace(L, idx);
  lua_settop(L, idx);
}

/* Replaces the value on top by its field key (len bytes), read raw (through __index
   tables), or for a shmlua object its method or documented field; by nil otherwise. */
static void step(lua_State *L, const char *key, size_t len) {
  int value = lua_gettop(L), hops = 0;
  if (shmlua_pushclassof(L, value)) {
    int field = documented(lua_tostring(L, -1), key, len) && cindex(L, value);
    lua_pop(L, 1);
    if (field) {
      lua_pushcfunction(L, readfield);
      lua_pushvalue(L, value);
      lua_pushlstring(L, key, len);
      if (lua_pcall(L, 2, 1, 0) != LUA_OK) { /* a closed object, say */
        lua_pop(L, 1);
        lua_pushnil(L);
      }
      lua_replace(L, value);
      return;
    }
    tomethods(L, value);
  }
  do {
    if (lua_istable(L, value)) {
      lua_pushlstring(L, key, len);
      lua_rawget(L, value);
      if (!lua_isnil(L, -1)) {
        lua_replace(L, value);
        return;
      }
      lua_pop(L, 1);
    }
  } while (++hops < MAX_CHAIN && climb(L));
  lua_pushnil(L);
  lua_replace(L, value);
}

static void add(lua_State *L, int set, const char *name, size_t len) {
  lua_pushlstring(L, name, len);
  lua_pushboolean(L, 1);
  lua_rawset(L, set);
}

/* Adds to set the names after the value on top (which it pops): all keys, or only those of
   methods (functions). */
static void addkeys(lua_State *L, int set, int methods) {
  int value = lua_gettop(L), hops = 0;
  if (shmlua_pushclassof(L, value)) {
    shmlua_docpart p = {0};
    const char *class = lua_tostring(L, -1);
    char sep;
    while (!methods && shmlua_doc_next(&p))
      if (shmlua_doc_memberof(&p, class, strlen(class), &sep) && sep == '.')
        add(L, set, p.name + p.memberat, p.namelen - p.memberat);
    tomethods(L, value);
  }
  do {
    if (lua_istable(L, value)) {
      lua_pushnil(L);
      while (lua_next(L, value)) {
        size_t len;
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
        if (key && shmlua_isname(key, len) && (!methods || lua_isfunction(L, -1)))
          add(L, set, key, len);
        lua_pop(L, 1);
      }
    }
  } while (++hops < MAX_CHAIN && climb(L));
  lua_pop(L, 1);
}

static int compare(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names in set that start with prefix, sorted, each after head: a list, pushed. */
static void pushmatches(lua_State *L, int set, const char *prefix, size_t len, int head) {
  lua_Integer n = 0;
  const char **names;
  lua_newtable(L); /* the names that match, as an array that anchors them */
  lua_pushnil(L);
  while (lua_next(L, set)) {
    size_t klen;
    const char *k = lua_tolstring(L, -2, &klen);
    lua_pop(L, 1);
    if (klen >= len && memcmp(k, prefix, len) == 0) {
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, (int)++n);
    }
  }
  names = lua_newuserdata(L, (size_t)n * sizeof *names + 1);
  for (lua_Integer i = 0; i < n; i++) {
    lua_rawgeti(L, -2, (int)i + 1);
    names[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  qsort(names, (size_t)n, sizeof *names, compare);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_pushvalue(L, head);
    lua_pushstring(L, names[i]);
    lua_concat(L, 2);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Whether text ends, from start, with a path: name ([.:] name)* and maybe a last separator,
   ':' only as the last one. *last gets where its last part starts. */
static int parsepath(const char *text, size_t len, size_t start, size_t *last) {
  size_t i = start;
  *last = start;
  for (;;) {
    if (i == len)
      return 1;
    if (!shmlua_isnamechar(text[i], 1))
      return 0; /* a number, or a separator where a name should be */
    while (i < len && shmlua_isnamechar(text[i], 0))
      i++;
    if (i == len)
      return 1;
    if (*last > start && text[*last - 1] == ':')
      return 0;
    *last = ++i;
  }
}

int shmlua_complete(lua_State *L) {
  size_t len, start, last;
  const char *text;
  if (!lua_isstring(L, 1)) /* shmlua_typeerror: named 'shm.complete' on every Lua */
    shmlua_typeerror(L, 1, "string");
  text = lua_tolstring(L, 1, &len);
  if (lua_isnoneornil(L, 2))
    lua_pushglobaltable(L);
  else if (!lua_istable(L, 2))
    shmlua_typeerror(L, 2, "table");
  lua_settop(L, 2);
  lua_newtable(L); /* the set of names */
  for (start = len; start > 0 && (shmlua_isnamechar(text[start - 1], 0) ||
                                  text[start - 1] == '.' || text[start - 1] == ':');
       start--)
    ;
  if (!parsepath(text, len, start, &last) || (start > 0 && strchr(")]}\"'", text[start - 1])))
    return 1; /* not a name, or a field of an expression, which is not evaluated: none */
  lua_pushvalue(L, 2);
  if (last == start)
    for (const char *const *k = shmlua_keywords; *k; k++)
      add(L, 3, *k, strlen(*k));
  for (size_t from = start, i = start; i < last; i++)
    if (text[i] == '.' || text[i] == ':') {
      step(L, text + from, i - from);
      from = i + 1;
    }
  addkeys(L, 3, last > start && text[last - 1] == ':');
  lua_pushlstring(L, text, last);
  pushmatches(L, 3, text + last, len - last, lua_gettop(L));
  return 1;
}

void shmlua_open_complete(lua_State *L) {
  lua_pushcfunction(L, shmlua_complete);
  lua_setfield(L, -2, "complete");
}
