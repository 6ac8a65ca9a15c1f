/* shm.inspect: a value as text a person can read. Tables print as Lua constructors (keys
   sorted, a cycle as a back-reference, depth and length cut with a count of what is left
   out), on one line when they fit in the width; everything else as tostring shows it, but
   strings quoted. The shmlua REPL prints results with it. Only raw accesses: the one
   metamethod called is __tostring, as print calls it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "introspect.h"
#include "luaname.h"
#include "parts.h"

enum { DEFAULT_DEPTH = 5, DEFAULT_ITEMS = 100, DEFAULT_WIDTH = 80 };
#define MAX_DEPTH 100 /* tables opened at most, whatever opts.depth says: the C stack */
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

typedef struct printer {
  lua_Integer depth, items;
  size_t width;
  int ancestors; /* stack index: each table being printed -> its label, 0 until referred to */
  int labels;    /* labels given so far */
} printer;

/* Where a line of a table starts (indent) and the column where its text starts (col). */
typedef struct place {
  size_t indent, col;
} place;

static void render(lua_State *L, printer *p, int idx, int level, place at);

/* The string at idx between quotes, with escapes for what a terminal would not show. */
static void pushstring(lua_State *L, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  char quote = memchr(s, '"', len) && !memchr(s, '\'', len) ? '\'' : '"';
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, quote);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *named = strchr("\a\b\f\n\r\t\v", c);
    if (c != '\0' && named) {
      luaL_addchar(&b, '\\');
      luaL_addchar(&b, "abfnrtv"[named - "\a\b\f\n\r\t\v"]);
    } else if (c == '\\' || c == (unsigned char)quote) {
      luaL_addchar(&b, '\\');
      luaL_addchar(&b, (char)c);
    } else if (c < 32 || c == 127) {
      char code[5];
      snprintf(code, sizeof code, "\\%03d", c); /* three digits: a digit may follow */
      luaL_addstring(&b, code);
    } else
      luaL_addchar(&b, (char)c);
  }
  luaL_addchar(&b, quote);
  luaL_pushresult(&b);
}

/* As tostring, but infinities and NaN in a form Lua reads back. */
static void pushnumber(lua_State *L, int idx) {
  if (!lua_isinteger(L, idx)) {
    lua_Number n = lua_tonumber(L, idx);
    if (isnan(n)) {
      lua_pushliteral(L, "0/0");
      return;
    }
    if (isinf(n)) {
      lua_pushstring(L, n > 0 ? "math.huge" : "-math.huge");
      return;
    }
  }
  lua_pushvalue(L, idx);
  lua_tolstring(L, -1, NULL);
}

/* A table key, for sorting: numbers first (by value), then strings (by bytes), then
   booleans, then the rest (by type); ties keep the traversal order. */
enum { RANK_NUMBER, RANK_STRING, RANK_BOOLEAN, RANK_OTHER };

typedef struct key {
  int rank, isint;
  lua_Integer i;
  lua_Number n;
  const char *s;
  size_t len;
  lua_Integer pos; /* in the table of keys */
} key;

static int compare(const void *pa, const void *pb) {
  const key *a = pa, *b = pb;
  int c = 0;
  if (a->rank != b->rank)
    return a->rank < b->rank ? -1 : 1;
  if (a->rank == RANK_NUMBER) {
    if (a->isint && b->isint)
      c = a->i < b->i ? -1 : a->i > b->i;
    else
      c = a->n < b->n ? -1 : a->n > b->n;
  } else if (a->rank == RANK_STRING) {
    c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    if (c == 0)
      c = a->len < b->len ? -1 : a->len > b->len;
  } else if (a->rank == RANK_BOOLEAN)
    c = a->i < b->i ? -1 : a->i > b->i;
  return c ? c : (a->pos < b->pos ? -1 : 1);
}

/* The n keys in the table at keys, sorted, in a userdata left on the stack (the strings
   stay anchored by that table while the array is used). */
static key *sortkeys(lua_State *L, int keys, lua_Integer n) {
  key *k = lua_newuserdata(L, (size_t)n * sizeof *k);
  for (lua_Integer j = 0; j < n; j++) {
    key *e = &k[j];
    int type;
    lua_rawgeti(L, keys, j + 1);
    type = lua_type(L, -1);
    memset(e, 0, sizeof *e);
    e->pos = j + 1;
    e->rank = type == LUA_TNUMBER    ? RANK_NUMBER
              : type == LUA_TSTRING  ? RANK_STRING
              : type == LUA_TBOOLEAN ? RANK_BOOLEAN
                                     : RANK_OTHER + type;
    if (type == LUA_TNUMBER) {
      e->isint = lua_isinteger(L, -1);
      e->i = e->isint ? lua_tointeger(L, -1) : 0;
      e->n = lua_tonumber(L, -1);
    } else if (type == LUA_TSTRING)
      e->s = lua_tolstring(L, -1, &e->len);
    else if (type == LUA_TBOOLEAN)
      e->i = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  qsort(k, (size_t)n, sizeof *k, compare);
  return k;
}

/* Pushes "name = " or "[key] = " for the key on top (left there). Returns its length. */
static size_t pushprefix(lua_State *L, printer *p, int level, place at) {
  size_t len = 0;
  int key = lua_gettop(L);
  const char *s = lua_type(L, key) == LUA_TSTRING ? lua_tolstring(L, key, &len) : NULL;
  if (s && shmlua_isname(s, len))
    lua_pushfstring(L, "%s = ", s);
  else {
    at.col += 1;
    lua_pushliteral(L, "[");
    render(L, p, key, level, at);
    lua_pushliteral(L, "] = ");
    lua_concat(L, 3);
  }
  lua_tolstring(L, -1, &len);
  return len;
}

/* The items of a table, rendered, at parts[1..]; alone[i] is true for an item with a key or
   a table value: it gets a line of its own when the table does not fit on one, while the
   other items (a sequence of numbers, say) are packed. Returns their count. */
static lua_Integer renderitems(lua_State *L, printer *p, int t, int level, size_t indent,
                               lua_Integer border, lua_Integer total, int keys, int parts,
                               int alone) {
  lua_Integer shown = total < p->items ? total : p->items, i;
  place at = {indent + 2, indent + 2};
  key *sorted = shown > border ? sortkeys(L, keys, total - border) : NULL;
  for (i = 1; i <= shown; i++) {
    size_t prefix = 0;
    if (i <= border)
      lua_rawgeti(L, t, i);
    else {
      lua_rawgeti(L, keys, sorted[i - border - 1].pos);
      prefix = pushprefix(L, p, level + 1, at);
      lua_pushvalue(L, -2);
      lua_rawget(L, t);
    }
    if (prefix || lua_type(L, -1) == LUA_TTABLE) {
      lua_pushboolean(L, 1);
      lua_rawseti(L, alone, (int)i);
    }
    render(L, p, lua_gettop(L), level + 1, (place){at.indent, at.col + prefix});
    lua_remove(L, -2); /* the value */
    if (prefix) {
      lua_concat(L, 2);
      lua_remove(L, -2); /* the key */
    }
    lua_rawseti(L, parts, (int)i);
  }
  if (sorted)
    lua_pop(L, 1);
  if (total > shown) {
    lua_pushfstring(L, ELLIPSIS " %I more", (LUAI_UACINT)(total - shown));
    lua_rawseti(L, parts, (int)i++);
  }
  return i - 1;
}

/* Joins parts[1..n] into the table's text: on one line if that fits from at.col, else one
   line per table item and the others packed into lines of the width. */
static void layout(lua_State *L, printer *p, int parts, int alone, lua_Integer n, place at,
                   const char *label) {
  size_t oneline = 2 + strlen(label), len;
  int broken = 0;
  luaL_Buffer b;
  for (lua_Integer i = 1; i <= n; i++) {
    const char *s;
    lua_rawgeti(L, parts, (int)i);
    s = lua_tolstring(L, -1, &len);
    oneline += len + (i > 1 ? 2 : 0);
    broken |= memchr(s, '\n', len) != NULL;
    lua_pop(L, 1);
  }
  broken |= at.col + oneline > p->width;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, label);
  luaL_addchar(&b, '{');
  size_t column = 0; /* on the current line, 0: nothing written on it yet */
  int after_alone = 0;
  for (lua_Integer i = 1; i <= n; i++) {
    int own;
    lua_rawgeti(L, alone, (int)i);
    own = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_rawgeti(L, parts, (int)i);
    lua_tolstring(L, -1, &len);
    lua_pop(L, 1); /* the buffer's operations want it off the stack */
    if (!broken) {
      if (i > 1)
        luaL_addstring(&b, ", ");
    } else if (column == 0 || own || after_alone || column + 2 + len + 1 > p->width) {
      luaL_addstring(&b, i > 1 ? ",\n" : "\n");
      for (size_t k = 0; k < at.indent + 2; k++)
        luaL_addchar(&b, ' ');
      column = at.indent + 2;
    } else {
      luaL_addstring(&b, ", ");
      column += 2;
    }
    column += len;
    after_alone = own;
    lua_rawgeti(L, parts, (int)i);
    luaL_addvalue(&b);
  }
  if (broken) {
    luaL_addchar(&b, '\n');
    for (size_t k = 0; k < at.indent; k++)
      luaL_addchar(&b, ' ');
  }
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
}

static void rendertable(lua_State *L, printer *p, int t, int level, place at) {
  lua_Integer border = 0, total, shown;
  int keys, parts, alone;
  char label[24] = "";
  luaL_checkstack(L, 16, "table too deep to print");
  lua_pushvalue(L, t);
  lua_rawget(L, p->ancestors);
  if (!lua_isnil(L, -1)) { /* a cycle: refer back to the table being printed */
    lua_Integer n = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (n == 0) {
      n = ++p->labels;
      lua_pushvalue(L, t);
      lua_pushinteger(L, n);
      lua_rawset(L, p->ancestors);
    }
    lua_pushfstring(L, "<table %I>", (LUAI_UACINT)n);
    return;
  }
  lua_pop(L, 1);
  for (;; border++) { /* the sequence 1..border prints without keys */
    lua_rawgeti(L, t, border + 1);
    int more = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (!more)
      break;
  }
  lua_newtable(L); /* the other keys, in traversal order */
  keys = lua_gettop(L);
  total = border;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= border)
      continue;
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, (int)(++total - border));
  }
  if (level >= p->depth || total == 0) {
    lua_pop(L, 1);
    if (total == 0)
      lua_pushliteral(L, "{}");
    else
      lua_pushfstring(L, "{" ELLIPSIS " %I more}", (LUAI_UACINT)total);
    return;
  }
  lua_newtable(L);
  parts = lua_gettop(L);
  lua_newtable(L);
  alone = lua_gettop(L);
  lua_pushvalue(L, t);
  lua_pushinteger(L, 0);
  lua_rawset(L, p->ancestors);
  shown = renderitems(L, p, t, level, at.indent, border, total, keys, parts, alone);
  lua_pushvalue(L, t);
  lua_rawget(L, p->ancestors);
  if (lua_tointeger(L, -1) > 0)
    snprintf(label, sizeof label, "<%lld>", (long long)lua_tointeger(L, -1));
  lua_pop(L, 1);
  lua_pushvalue(L, t);
  lua_pushnil(L);
  lua_rawset(L, p->ancestors); /* printed again later (not inside itself) in full */
  layout(L, p, parts, alone, shown, at, label);
  lua_replace(L, keys);
  lua_settop(L, keys);
}

/* Pushes the text of the value at idx. */
static void render(lua_State *L, printer *p, int idx, int level, place at) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING:
    pushstring(L, idx);
    break;
  case LUA_TNUMBER:
    pushnumber(L, idx);
    break;
  case LUA_TTABLE:
    if (luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) {
      rendertable(L, p, idx, level, at);
      break;
    }
    lua_pop(L, 1);
    /* FALLTHROUGH */
  default:
    luaL_tolstring(L, idx, NULL);
  }
}

int shmlua_inspect(lua_State *L) {
  static const char *const allowed[] = {"depth", "items", "width", NULL};
  printer p;
  lua_Integer width;
  if (lua_isnone(L, 1))
    shmlua_argerror(L, 1, "value expected");
  shmlua_checkopts(L, 2, allowed);
  p.depth = shmlua_optfield_int(L, 2, "depth", DEFAULT_DEPTH);
  p.items = shmlua_optfield_int(L, 2, "items", DEFAULT_ITEMS);
  width = shmlua_optfield_int(L, 2, "width", DEFAULT_WIDTH);
  luaL_argcheck(L, p.depth >= 0 && p.items >= 0 && width >= 0, 2,
                "depth, items and width must not be negative");
  if (p.depth > MAX_DEPTH)
    p.depth = MAX_DEPTH;
  if (p.items > INT32_MAX / 2)
    p.items = INT32_MAX / 2; /* table indexes stay ints (lua_rawseti in Lua 5.1) */
  p.width = (lua_Unsigned)width > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)width;
  p.labels = 0;
  lua_settop(L, 2);
  lua_newtable(L);
  p.ancestors = 3;
  render(L, &p, 1, 0, (place){0, 0});
  return 1;
}

void shmlua_open_inspect(lua_State *L) {
  lua_pushcfunction(L, shmlua_inspect);
  lua_setfield(L, -2, "inspect");
}
