/* Lua values as bytes and back, to carry them between processes of one machine: nil,
   booleans, integers, floats (inf and nan too), strings of any bytes, and tables of these. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"

#define SERIAL_BUFFER_MT "shm.serialbuffer"
#define MAX_DEPTH 100 /* table nesting; keeps the C recursion well inside the C stack */

enum { T_NIL = 'n', T_FALSE = 'f', T_TRUE = 't', T_INT = 'i', T_FLOAT = 'd', T_STRING = 's',
       T_TABLE = '{', T_END = '}' };

/* A growing byte buffer in a userdata, freed by __gc even if a Lua error stops the encoder. */
typedef struct buffer {
  char *data;
  size_t len, cap;
} buffer;

typedef struct encoder {
  buffer *out;
  int visited; /* stack index of the set of tables being encoded (to refuse cycles) */
  int value;   /* which value is being encoded, for messages */
} encoder;

static int buffer_gc(lua_State *L) {
  buffer *b = lua_touserdata(L, 1);
  free(b->data);
  b->data = NULL;
  return 0;
}

static void put(lua_State *L, buffer *b, const void *bytes, size_t n) {
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 256;
    char *data;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2)
        luaL_error(L, "values too large to send");
      cap *= 2;
    }
    if (!(data = realloc(b->data, cap)))
      luaL_error(L, "not enough memory to send values");
    b->data = data;
    b->cap = cap;
  }
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
}

static void puttag(lua_State *L, buffer *b, char tag) {
  put(L, b, &tag, 1);
}

/* Raises the error for a value that cannot be sent (luaL_error does not return); hint, if
   not empty, says what to send instead. */
static void refuse(lua_State *L, const encoder *e, int depth, const char *what,
                   const char *hint) {
  luaL_error(L, "value #%d: %s%s cannot be sent to another process%s", e->value, what,
             depth > 0 ? " inside a table" : "", hint);
}

/* Refuses the userdata at idx, saying which type it is and, for the objects of shmlua that
   live in a named block, that the name can be sent instead. */
static void refuse_userdata(lua_State *L, const encoder *e, int idx, int depth) {
  const char *type;
  if (luaL_getmetafield(L, idx, "__name") != LUA_TSTRING)
    refuse(L, e, depth, "a userdata", "");
  type = lua_tostring(L, -1);
  if (strncmp(type, "shm.", 4) != 0)
    refuse(L, e, depth, lua_pushfstring(L, "a userdata (%s)", type), "");
  if (strcmp(type, SHMLUA_BUF_MT) == 0 || strcmp(type, SHMLUA_ARRAY_MT) == 0)
    refuse(L, e, depth, lua_pushfstring(L, "a %s", type),
           ": send its block's name and attach it there");
  if (luaL_getmetafield(L, idx, "__index") != LUA_TNIL &&
      lua_getfield(L, idx, "name") == LUA_TSTRING) /* a block, a list or a sync object */
    refuse(L, e, depth, lua_pushfstring(L, "a %s", type),
           lua_pushfstring(L, ": send its name ('%s') and attach it there", lua_tostring(L, -1)));
  refuse(L, e, depth, lua_pushfstring(L, "a %s", type), "");
}

static void encode(lua_State *L, encoder *e, int idx, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    puttag(L, e->out, T_NIL);
    break;
  case LUA_TBOOLEAN:
    puttag(L, e->out, lua_toboolean(L, idx) ? T_TRUE : T_FALSE);
    break;
  case LUA_TNUMBER:
    if (SHMLUA_NATIVE_INTEGERS && lua_isinteger(L, idx)) { /* else a double, -0.0 kept */
      lua_Integer i = lua_tointeger(L, idx);
      puttag(L, e->out, T_INT);
      put(L, e->out, &i, sizeof i);
    } else {
      lua_Number x = lua_tonumber(L, idx);
      puttag(L, e->out, T_FLOAT);
      put(L, e->out, &x, sizeof x);
    }
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    puttag(L, e->out, T_STRING);
    put(L, e->out, &len, sizeof len);
    put(L, e->out, s, len);
    break;
  }
  case LUA_TTABLE:
    if (depth >= MAX_DEPTH)
      refuse(L, e, depth, lua_pushfstring(L, "a table nested over %d levels deep", MAX_DEPTH),
             "");
    luaL_checkstack(L, 4, "values to send");
    lua_pushvalue(L, idx);
    if (lua_rawget(L, e->visited) != LUA_TNIL)
      refuse(L, e, depth, "a table that contains itself", "");
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, e->visited);
    puttag(L, e->out, T_TABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* raw traversal: data only, metatables are not sent */
      encode(L, e, lua_absindex(L, -2), depth + 1);
      encode(L, e, lua_absindex(L, -1), depth + 1);
      lua_pop(L, 1);
    }
    puttag(L, e->out, T_END);
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, e->visited);
    break;
  case LUA_TUSERDATA:
    refuse_userdata(L, e, idx, depth);
    break;
  default:
    refuse(L, e, depth, lua_pushfstring(L, "a %s", luaL_typename(L, idx)), "");
  }
}

void shmlua_serialize(lua_State *L, int first, int n) {
  encoder e;
  first = lua_absindex(L, first);
  e.out = shmlua_newscratch(L, sizeof *e.out, SERIAL_BUFFER_MT, buffer_gc);
  lua_newtable(L);
  e.visited = lua_gettop(L);
  for (e.value = 1; e.value <= n; e.value++)
    encode(L, &e, first + e.value - 1, 0);
  lua_pushlstring(L, e.out->data ? e.out->data : "", e.out->len);
  lua_replace(L, -3); /* the string takes the buffer's place; the buffer's __gc frees it */
  lua_pop(L, 1);
}

typedef struct decoder {
  const char *p, *end;
} decoder;

static int take(decoder *d, void *out, size_t n) {
  if ((size_t)(d->end - d->p) < n)
    return 0;
  memcpy(out, d->p, n);
  d->p += n;
  return 1;
}

/* Pushes one value; 0 if the bytes are not a valid encoding (nothing pushed then). */
static int decode(lua_State *L, decoder *d, int depth) {
  char tag;
  if (!take(d, &tag, 1))
    return 0;
  switch (tag) {
  case T_NIL:
    lua_pushnil(L);
    return 1;
  case T_FALSE:
  case T_TRUE:
    lua_pushboolean(L, tag == T_TRUE);
    return 1;
  case T_INT: {
    lua_Integer i;
    if (!take(d, &i, sizeof i))
      return 0;
    lua_pushinteger(L, i);
    return 1;
  }
  case T_FLOAT: {
    lua_Number x;
    if (!take(d, &x, sizeof x))
      return 0;
    lua_pushnumber(L, x);
    return 1;
  }
  case T_STRING: {
    size_t len;
    if (!take(d, &len, sizeof len) || (size_t)(d->end - d->p) < len)
      return 0;
    lua_pushlstring(L, d->p, len);
    d->p += len;
    return 1;
  }
  case T_TABLE:
    if (depth >= MAX_DEPTH)
      return 0;
    luaL_checkstack(L, 3, "values received");
    lua_newtable(L);
    while (d->p < d->end && *d->p != T_END) {
      int pushed = 1 + decode(L, d, depth + 1);
      if (pushed == 2)
        pushed += decode(L, d, depth + 1);
      /* a nil or NaN key cannot come from a real table, and rawset would refuse it */
      if (pushed < 3 || lua_isnil(L, -2) || lua_tonumber(L, -2) != lua_tonumber(L, -2)) {
        lua_pop(L, pushed);
        return 0;
      }
      lua_rawset(L, -3);
    }
    if (d->p >= d->end) {
      lua_pop(L, 1);
      return 0;
    }
    d->p++;
    return 1;
  default:
    return 0;
  }
}

int shmlua_deserialize(lua_State *L, const void *data, size_t len) {
  decoder d = {data, (const char *)data + len};
  int top = lua_gettop(L), n = 0;
  while (d.p < d.end) {
    luaL_checkstack(L, 1, "values received");
    if (!decode(L, &d, 0)) {
      lua_settop(L, top);
      return -1;
    }
    n++;
  }
  return n;
}
