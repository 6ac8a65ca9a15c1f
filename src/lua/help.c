/* shm.help([topic]): the reference of docs/api.md, compiled into the module, for a name
   ("shm.create", "queue:pop", "queue", "pop", a section's title), a module function, an
   object or its class; with no topic, the list of topics. */
#include <string.h>

#include "apidoc.h"
#include "class.h"
#include "introspect.h"
#include "parts.h"

#define MODULE_KEY "shmlua.module" /* registry: the module table, where values are looked up */
#define SUMMARY_WIDTH 80
#define SUMMARY_NAMES 30 /* the column where summaries start */

static int same(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && memcmp(a, b, alen) == 0;
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* A section's title as a person types it: "processes" for "Processes". */
static int sametitle(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen != blen)
    return 0;
  for (size_t i = 0; i < alen; i++)
    if (lower(a[i]) != lower(b[i]))
      return 0;
  return 1;
}

/* Whether an entry documents something of the module itself: "shm.x", "shm.x.y". */
static int ofmodule(const shmlua_docpart *p) {
  return p->level == 3 && p->namelen > 4 && memcmp(p->name, "shm.", 4) == 0;
}

/* Whether class (len bytes) is a class of the reference: an entry documents a member of it. */
static int isclass(const char *class, size_t len) {
  shmlua_docpart p = {0};
  while (shmlua_doc_next(&p))
    if (!ofmodule(&p) && shmlua_doc_memberof(&p, class, len, NULL))
      return 1;
  return 0;
}

/* "  title   first sentence of the entry" on one line of at most SUMMARY_WIDTH bytes. */
static void addsummary(luaL_Buffer *b, const shmlua_docpart *p) {
  const char *body = memchr(p->text, '\n', p->len), *end = p->text + p->len, *stop;
  size_t room, col = 2 + p->titlelen, n;
  luaL_addstring(b, "  ");
  luaL_addlstring(b, p->title, p->titlelen);
  if (!body) {
    luaL_addchar(b, '\n');
    return;
  }
  while (body < end && *body == '\n')
    body++;
  stop = memchr(body, '\n', (size_t)(end - body));
  n = (size_t)((stop ? stop : end) - body);
  for (size_t i = 0; i + 1 < n; i++)
    if (body[i] == '.' && body[i + 1] == ' ') {
      n = i + 1;
      break;
    }
  do
    luaL_addchar(b, ' ');
  while (++col < SUMMARY_NAMES);
  room = col < SUMMARY_WIDTH ? SUMMARY_WIDTH - col : 0;
  if (n > room) { /* cut after a word, and say so */
    n = room > 1 ? room - 1 : 0;
    while (n > 0 && body[n] != ' ')
      n--;
    luaL_addlstring(b, body, n);
    luaL_addstring(b, "\xe2\x80\xa6");
  } else
    luaL_addlstring(b, body, n);
  luaL_addchar(b, '\n');
}

/* The entry named name (len bytes), into p. */
static int findentry(const char *name, size_t len, shmlua_docpart *p) {
  memset(p, 0, sizeof *p);
  while (shmlua_doc_next(p))
    if (p->level == 3 && same(p->name, p->namelen, name, len))
      return 1;
  return 0;
}

static void pushpart(lua_State *L, const shmlua_docpart *p) {
  lua_pushlstring(L, p->text, p->len);
}

/* What makes objects of class: shm.queue, shm.queue.attach, block.buf, block:array. */
static int makes(const shmlua_docpart *p, const char *class, size_t len) {
  const char *member = p->name + p->memberat;
  size_t memberlen = p->namelen - p->memberat;
  if (p->level != 3)
    return 0;
  if (same(member, memberlen, class, len))
    return p->memberat > 0;
  return p->memberat == 4 + len + 1 && memcmp(p->name, "shm.", 4) == 0 &&
         memcmp(p->name + 4, class, len) == 0;
}

/* A class: the introduction of the section where it is documented, what makes its objects,
   then its fields and methods, each with a summary. */
static void pushclass(lua_State *L, const char *class, size_t len) {
  static const char *const lists[] = {"\nMade by\n", "\nFields\n", "\nMethods\n"};
  shmlua_docpart p = {0}, section = {0};
  luaL_Buffer b;
  while (shmlua_doc_next(&p)) {
    if (p.level == 2)
      section = p;
    else if (!ofmodule(&p) && shmlua_doc_memberof(&p, class, len, NULL))
      break;
  }
  luaL_buffinit(L, &b);
  if (section.level) {
    luaL_addlstring(&b, section.text, section.len);
    luaL_addchar(&b, '\n');
  }
  for (int list = 0; list < 3; list++) {
    int started = 0;
    memset(&p, 0, sizeof p);
    while (shmlua_doc_next(&p)) {
      char sep;
      int in = list == 0 ? makes(&p, class, len)
                         : !ofmodule(&p) && shmlua_doc_memberof(&p, class, len, &sep) &&
                               sep == (list == 1 ? '.' : ':');
      if (!in)
        continue;
      if (!started++)
        luaL_addstring(&b, lists[list]);
      addsummary(&b, &p);
    }
  }
  lua_pushfstring(L, "\nhelp \"%s:name\" or help \"%s.name\" shows one in full.", class,
                  class);
  luaL_addvalue(&b);
  luaL_pushresult(&b);
}

/* Names separated by spaces, in lines of at most SUMMARY_WIDTH bytes, indented by 2. */
static void addwrapped(luaL_Buffer *b, size_t *col, const char *name, size_t len) {
  if (*col > 2 && *col + 1 + len > SUMMARY_WIDTH) {
    luaL_addstring(b, "\n ");
    *col = 1;
  }
  luaL_addchar(b, ' ');
  luaL_addlstring(b, name, len);
  *col += 1 + len;
}

/* help(): the topics. */
static void pushtopics(lua_State *L) {
  shmlua_docpart p = {0};
  luaL_Buffer b;
  size_t col;
  int seen;
  lua_newtable(L); /* the classes listed */
  seen = lua_gettop(L);
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "help \"name\" or help(value) shows the shm reference (docs/api.md) "
                     "for:\n\nthe module (help \"shm\"):\n ");
  col = 1;
  while (shmlua_doc_next(&p))
    if (ofmodule(&p))
      addwrapped(&b, &col, p.name, p.namelen);
  luaL_addstring(&b, "\n\nobjects (help \"queue\", help(q), help \"queue:pop\"):\n ");
  col = 1;
  memset(&p, 0, sizeof p);
  while (shmlua_doc_next(&p)) {
    int listed;
    if (p.level != 3 || ofmodule(&p) || p.memberat == 0)
      continue;
    lua_pushlstring(L, p.name, p.memberat - 1);
    lua_rawget(L, seen);
    listed = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (listed)
      continue;
    lua_pushlstring(L, p.name, p.memberat - 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    addwrapped(&b, &col, p.name, p.memberat - 1);
  }
  luaL_addstring(&b, "\n\nsections (help \"Conventions\"):\n");
  memset(&p, 0, sizeof p);
  while (shmlua_doc_next(&p))
    if (p.level == 2) {
      luaL_addstring(&b, "  ");
      luaL_addlstring(&b, p.title, p.titlelen);
      luaL_addchar(&b, '\n');
    }
  luaL_pushresult(&b);
}

/* A section (or, for "shm", the page's introduction): its text, then its entries. */
static void pushsection(lua_State *L, const shmlua_docpart *head) {
  shmlua_docpart p = *head;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, head->text, head->len);
  luaL_addstring(&b, "\n\n");
  if (head->level == 1) {
    memset(&p, 0, sizeof p);
    while (shmlua_doc_next(&p))
      if (ofmodule(&p))
        addsummary(&b, &p);
  } else
    while (shmlua_doc_next(&p) && p.level == 3)
      addsummary(&b, &p);
  luaL_pushresult(&b);
}

/* The entries whose last part is member ("pop": queue:pop): one in full, several listed. */
static int pushmembers(lua_State *L, const char *member, size_t len) {
  shmlua_docpart p = {0}, found = {0};
  int count = 0;
  luaL_Buffer b;
  while (shmlua_doc_next(&p))
    if (p.level == 3 && p.memberat > 0 &&
        same(p.name + p.memberat, p.namelen - p.memberat, member, len) && !count++)
      found = p;
  if (count == 1)
    pushpart(L, &found);
  if (count <= 1)
    return count;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "Several entries:\n");
  memset(&p, 0, sizeof p);
  while (shmlua_doc_next(&p))
    if (p.level == 3 && p.memberat > 0 &&
        same(p.name + p.memberat, p.namelen - p.memberat, member, len))
      addsummary(&b, &p);
  luaL_pushresult(&b);
  return count;
}

/* help "name": an entry, a class, the module, a section, or entries by their last part. */
static int pushtopic(lua_State *L, const char *topic, size_t len) {
  shmlua_docpart p = {0};
  if (findentry(topic, len, &p)) {
    pushpart(L, &p);
    return 1;
  }
  if (len > 4 && memcmp(topic, "shm.", 4) == 0 && isclass(topic + 4, len - 4)) {
    pushclass(L, topic + 4, len - 4);
    return 1;
  }
  if (isclass(topic, len)) {
    pushclass(L, topic, len);
    return 1;
  }
  memset(&p, 0, sizeof p);
  while (shmlua_doc_next(&p))
    if ((p.level == 1 && same(topic, len, "shm", 3)) ||
        (p.level == 2 && sametitle(p.title, p.titlelen, topic, len))) {
      pushsection(L, &p);
      return 1;
    }
  return pushmembers(L, topic, len);
}

static int hasupvalues(lua_State *L, int idx) {
  if (!lua_getupvalue(L, idx, 1))
    return 0;
  lua_pop(L, 1);
  return 1;
}

/* Whether the values at a and b are one function: the same C function (without upvalues,
   which would tell its uses apart) pushed twice is one value from 5.2 on (light C
   functions), two closures of it in 5.1 and LuaJIT. */
static int samefunction(lua_State *L, int a, int b) {
  return lua_rawequal(L, a, b) || (lua_iscfunction(L, a) && lua_iscfunction(L, b) &&
                                   lua_tocfunction(L, a) == lua_tocfunction(L, b) &&
                                   !hasupvalues(L, a) && !hasupvalues(L, b));
}

/* Pushes the name, in the module or as a method, of the value at idx that has an entry:
   shm.create, shm.mutex (a table), shm.null, block:close. Several: their list. */
static int pushnamed(lua_State *L, int idx) {
  int names, count = 0;
  shmlua_docpart p = {0};
  lua_newtable(L);
  names = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) { /* shm.k and shm.k.k2 */
      if (lua_type(L, -2) != LUA_TSTRING)
        ;
      else if (samefunction(L, -1, idx)) {
        lua_pushfstring(L, "shm.%s", lua_tostring(L, -2));
        lua_rawseti(L, names, ++count);
      } else if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
          if (samefunction(L, -1, idx) && lua_type(L, -2) == LUA_TSTRING) {
            lua_pushfstring(L, "shm.%s.%s", lua_tostring(L, -4), lua_tostring(L, -2));
            lua_rawseti(L, names, ++count);
          }
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  while (lua_isfunction(L, idx) && shmlua_doc_next(&p)) { /* methods of each class */
    if (p.level != 3 || ofmodule(&p) || p.memberat == 0 || p.name[p.memberat - 1] != ':')
      continue;
    lua_pushfstring(L, "shm.%s", lua_pushlstring(L, p.name, p.memberat - 1));
    lua_rawget(L, LUA_REGISTRYINDEX);
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, SHMLUA_METHODS);
      if (lua_istable(L, -1)) {
        lua_pushlstring(L, p.name + p.memberat, p.namelen - p.memberat);
        lua_rawget(L, -2);
        if (samefunction(L, -1, idx)) {
          lua_pushlstring(L, p.name, p.namelen);
          lua_rawseti(L, names, ++count);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  return count;
}

/* help(value): the entry that names it, or its class. */
static int pushvalue(lua_State *L, int idx) {
  int count;
  size_t len;
  const char *s;
  lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  if (lua_rawequal(L, -1, idx))
    return pushtopic(L, "shm", 3);
  lua_pop(L, 1);
  count = pushnamed(L, idx);
  if (count == 1) {
    lua_rawgeti(L, -1, 1);
    s = lua_tolstring(L, -1, &len);
    return pushtopic(L, s, len);
  }
  if (count > 1) {
    luaL_Buffer b;
    int names = lua_gettop(L);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "Several entries:\n");
    for (int i = 1; i <= count; i++) {
      shmlua_docpart p;
      lua_rawgeti(L, names, i);
      s = lua_tolstring(L, -1, &len);
      lua_pop(L, 1); /* still in names */
      if (findentry(s, len, &p))
        addsummary(&b, &p);
    }
    luaL_pushresult(&b);
    return 1;
  }
  if (shmlua_pushclassof(L, idx)) {
    s = lua_tolstring(L, -1, &len);
    if (isclass(s, len)) {
      pushclass(L, s, len);
      return 1;
    }
  }
  return 0;
}

int shmlua_help(lua_State *L) {
  int found;
  if (lua_isnone(L, 1)) {
    pushtopics(L);
    return 1;
  }
  lua_settop(L, 1);
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t len;
    const char *topic = lua_tolstring(L, 1, &len);
    found = pushtopic(L, topic, len);
  } else
    found = pushvalue(L, 1);
  if (found)
    return 1;
  luaL_pushfail(L);
  lua_pushfstring(L, "no entry for %s in the shm reference (help() lists the topics)",
                  lua_type(L, 1) == LUA_TSTRING
                      ? lua_pushfstring(L, "'%s'", lua_tostring(L, 1))
                      : luaL_tolstring(L, 1, NULL));
  lua_replace(L, -2);
  return 2;
}

void shmlua_open_help(lua_State *L) {
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  lua_pushcfunction(L, shmlua_help);
  lua_setfield(L, -2, "help");
}
