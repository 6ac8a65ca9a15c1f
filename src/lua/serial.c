/* Lua values as bytes and back, to carry them between processes of one machine: nil,
   booleans, integers, floats (inf and nan too), strings of any bytes, tables of these,
   shmlua objects by name (the receiver attaches them) and Lua functions (bytecode and
   upvalues). Used by shm.spawn's results, q:put/q:get and shm.pool.

   The bytes start with a magic byte and a format version; the receiver checks every length
   and tag, so a corrupt or hostile message is refused, never a crash. Bytecode is the
   exception Lua cannot check (loading hostile bytecode can crash the VM): it carries a
   SipHash of a key shared only by one family of processes (forked or started by each other,
   SHMLUA_KEY in the environment), and without the right one it is refused unloaded. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/forked.h"
#include "arrayview.h"
#include "blockaccess.h"
#include "class.h"
#include "parts.h"
#include "serial.h"

#define SERIAL_BUFFER_MT "shm.serialbuffer"
#define MAX_DEPTH 100 /* table nesting; keeps the C recursion well inside the C stack */
#define RANGE_STEP 32 /* values shmlua_encode_range has on the stack at once */
#define KEY_ENV "SHMLUA_KEY"

enum { MAGIC = 0xB7, VERSION = 1 };

enum {
  T_NIL = 'n',
  T_FALSE = 'f',
  T_TRUE = 't',
  T_INT = 'i',
  T_FLOAT = 'd',
  T_STRING = 's',
  T_TABLE = '{',
  T_END = '}',
  T_LIST = '[',
  T_INTEGERS = '#', /* a list of integers only: the count, then each in 8 bytes, no tags */
  T_OBJECT = 'o',
  T_FUNCTION = 'F',
  T_FUNCREF = 'r',
  T_GLOBALS = 'G',
  T_MODULE = 'M',
  T_CFUNCTION = 'C'
};

/* The kinds of shmlua objects sent by name: the module's field that attaches them. */
static const char *const object_kinds[] = {"block",     "array", "list",    "mutex",
                                           "semaphore", "event", "barrier", "cond",
                                           "queue",     "dict",  "null",    NULL};

static const char module_key = 0; /* registry key (by address) of the module table */
static const char buffer_key = 0; /* registry key of the encoder's buffer */
static const char packer_key = 0; /* registry key of the Lua function `return {...}` */
static uint64_t family_key[2];    /* the bytecode key; inherited by forked children */

/* A growing byte buffer in a userdata, freed by __gc even if a Lua error stops the encoder.
   A small message stays in the userdata itself (first), on the page its length is written
   to: in a forked child each page first written costs a fault, and a small result is the
   common case. */
typedef struct buffer {
  char *data; /* first, or allocated */
  size_t len, cap;
  char first[232];
} buffer;

/* One step of the way from a value to the part being encoded, for error messages. */
typedef struct step {
  int key;             /* stack index of a table key, or 0 */
  const char *upvalue; /* or an upvalue's name */
} step;

typedef struct encoder {
  buffer *out;
  int value;  /* which value is being encoded, for messages */
  int listed; /* messages call it t[value] (shmlua_encode_each), not value #value */
  step path[MAX_DEPTH + 1];
  int tables[MAX_DEPTH + 1]; /* stack indexes of the tables being encoded (to refuse cycles) */
  int ntables;
  int functions[MAX_DEPTH + 1]; /* stack indexes of the functions being encoded */
  int nfunctions;
} encoder;

static int buffer_gc(lua_State *L) {
  buffer *b = lua_touserdata(L, 1);
  if (b->data != b->first)
    free(b->data);
  b->data = NULL;
  return 0;
}

static void grow_buffer(lua_State *L, buffer *b, size_t n) {
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 256;
    char *data;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2)
        luaL_error(L, "values too large to send");
      cap *= 2;
    }
    data = b->data == b->first ? malloc(cap) : realloc(b->data, cap);
    if (!data)
      luaL_error(L, "not enough memory to send values");
    if (b->data == b->first)
      memcpy(data, b->first, b->len);
    b->data = data;
    b->cap = cap;
  }
}

static inline void put(lua_State *L, buffer *b, const void *bytes, size_t n) {
  if (b->cap - b->len < n)
    grow_buffer(L, b, n);
  memcpy(b->data + b->len, bytes, n);
  b->len += n;
}

static inline void puttag(lua_State *L, buffer *b, char tag) {
  if (b->len == b->cap)
    grow_buffer(L, b, 1);
  b->data[b->len++] = tag;
}

/* A tag and the n bytes of a number after it. */
static inline void putnumber(lua_State *L, buffer *b, char tag, const void *bytes, size_t n) {
  if (b->cap - b->len < n + 1)
    grow_buffer(L, b, n + 1);
  b->data[b->len] = tag;
  memcpy(b->data + b->len + 1, bytes, n);
  b->len += n + 1;
}

static void putstring(lua_State *L, buffer *b, const char *s, size_t len) {
  put(L, b, &len, sizeof len);
  put(L, b, s, len);
}

/* SipHash-2-4 (Aumasson and Bernstein) of n bytes under family_key. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                              \
  do {                                                                                        \
    v0 += v1;                                                                                 \
    v1 = ROTL(v1, 13);                                                                        \
    v1 ^= v0;                                                                                 \
    v0 = ROTL(v0, 32);                                                                        \
    v2 += v3;                                                                                 \
    v3 = ROTL(v3, 16);                                                                        \
    v3 ^= v2;                                                                                 \
    v0 += v3;                                                                                 \
    v3 = ROTL(v3, 21);                                                                        \
    v3 ^= v0;                                                                                 \
    v2 += v1;                                                                                 \
    v1 = ROTL(v1, 17);                                                                        \
    v1 ^= v2;                                                                                 \
    v2 = ROTL(v2, 32);                                                                        \
  } while (0)

static uint64_t siphash(const unsigned char *p, size_t n) {
  uint64_t v0 = 0x736f6d6570736575ULL ^ family_key[0],
           v1 = 0x646f72616e646f6dULL ^ family_key[1];
  uint64_t v2 = 0x6c7967656e657261ULL ^ family_key[0],
           v3 = 0x7465646279746573ULL ^ family_key[1];
  uint64_t last = (uint64_t)n << 56, m;
  size_t i;
  for (i = 0; i + 8 <= n; i += 8) {
    m = 0;
    for (int k = 7; k >= 0; k--)
      m = (m << 8) | p[i + (size_t)k];
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  for (int k = 0; i + (size_t)k < n; k++)
    last |= (uint64_t)p[i + (size_t)k] << (8 * k);
  v3 ^= last;
  SIPROUND;
  SIPROUND;
  v0 ^= last;
  v2 ^= 0xff;
  for (int k = 0; k < 4; k++)
    SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* Where the value being encoded is inside value #n: ".a[3](upvalue f)"; pushed. */
static const char *pushpath(lua_State *L, const encoder *e, int depth) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 0; i < depth; i++) {
    const step *s = &e->path[i];
    if (s->upvalue) {
      lua_pushfstring(L, "(upvalue %s)", s->upvalue);
    } else if (lua_type(L, s->key) == LUA_TSTRING) {
      lua_pushfstring(L, "[\"%s\"]", lua_tostring(L, s->key));
    } else if (lua_type(L, s->key) == LUA_TNUMBER) {
      lua_pushvalue(L, s->key);
      lua_pushfstring(L, "[%s]", lua_tostring(L, -1));
      lua_remove(L, -2);
    } else {
      lua_pushfstring(L, "[%s key]", luaL_typename(L, s->key));
    }
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* Raises the error for a value that cannot be sent (luaL_error does not return). */
static void refuse(lua_State *L, const encoder *e, int depth, const char *what) {
  const char *path = depth > 0 ? pushpath(L, e, depth) : "";
  luaL_error(L,
             e->listed ? "t[%d]%s%s: %s cannot be sent to another process"
                       : "value #%d%s%s: %s cannot be sent to another process",
             e->value, *path ? " at " : "", path, what);
}

static void encode(lua_State *L, encoder *e, int idx, int depth);

/* A shmlua object: its kind and what attaching it again needs. */
static void encode_object(lua_State *L, encoder *e, int idx, int depth, const char *kind) {
  int block = idx;
  shmlua_arraylayout view = {NULL, 0, 0, 0, 0, 0};
  size_t len;
  const char *name = "";
  unsigned char readonly = 0;
  int top = lua_gettop(L);
  luaL_checkstack(L, 4, "values to send");
  if (strcmp(kind, "null") != 0) {
    if (strcmp(kind, "array") == 0 || strcmp(kind, "list") == 0) {
      lua_getiuservalue(L, idx, 1);
      block = lua_gettop(L);
      shmlua_checkblock(L, block);
    }
    if (strcmp(kind, "array") == 0 && !shmlua_arrayview(L, idx, &view))
      refuse(L, e, depth, "a userdata");
    lua_getfield(L, block, "closed");
    if (lua_toboolean(L, -1))
      refuse(L, e, depth, lua_pushfstring(L, "a closed %s", kind));
    lua_getfield(L, block, "readonly");
    readonly = (unsigned char)lua_toboolean(L, -1);
    lua_getfield(L, block, "name");
    name = lua_tostring(L, -1);
    if (!name)
      refuse(L, e, depth, lua_pushfstring(L, "a %s without a name", kind));
  }
  puttag(L, e->out, T_OBJECT);
  putstring(L, e->out, kind, strlen(kind));
  len = strlen(name);
  putstring(L, e->out, name, len);
  put(L, e->out, &readonly, 1);
  if (view.dtype) { /* the receiver makes the same view with block:array, view and reshape */
    int64_t layout[5];
    layout[0] = (int64_t)view.size;
    layout[1] = (int64_t)view.offset;
    layout[2] = (int64_t)view.count;
    layout[3] = (int64_t)(view.stride / (ptrdiff_t)view.size); /* in elements */
    layout[4] = (int64_t)view.cols;
    putstring(L, e->out, view.dtype, strlen(view.dtype));
    put(L, e->out, layout, sizeof layout);
  }
  lua_settop(L, top);
}

/* Looks for the value at idx among the loaded modules (package.loaded), as a module itself
   (fields: 0) or as one of a module's fields (fields: 1). Pushes the module's name, and the
   field's name, and returns how many it pushed; 0 if not found. Standard functions and
   modules travel this way: by name, as the receiver's own. */
static int findloaded(lua_State *L, int idx, int fields) {
  int loaded;
  luaL_checkstack(L, 6, "values to send");
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  loaded = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, loaded)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      if (!fields && lua_rawequal(L, -1, idx)) {
        lua_pop(L, 1);
        lua_replace(L, loaded);
        return 1;
      }
      if (fields) {
        int module = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, module)) {
          if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, idx)) {
            lua_pop(L, 1);
            lua_remove(L, module);
            lua_remove(L, loaded);
            return 2;
          }
          lua_pop(L, 1);
        }
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

static void putname(lua_State *L, buffer *b, int idx) {
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  putstring(L, b, s, len);
}

static int write_bytecode(lua_State *L, const void *p, size_t n, void *ud) {
  put(L, ud, p, n);
  return 0;
}

/* A Lua function: its bytecode (keyed), then each upvalue; _ENV (whatever it is in the
   sender: its globals, a sandbox) stands for the receiver's globals. A function that refers to itself (a recursive local
   function) refers back instead of recursing. */
static void encode_function(lua_State *L, encoder *e, int idx, int depth) {
  size_t start, header, nups;
  uint64_t mac;
  unsigned char n;
  if (lua_iscfunction(L, idx)) {
    if (findloaded(L, idx, 1) != 2)
      refuse(L, e, depth, "a C function (not a field of a loaded module)");
    puttag(L, e->out, T_CFUNCTION);
    putname(L, e->out, -2);
    putname(L, e->out, -1);
    lua_pop(L, 2);
    return;
  }
  for (int i = 0; i < e->nfunctions; i++)
    if (lua_rawequal(L, idx, e->functions[i])) {
      uint32_t ref = (uint32_t)i;
      puttag(L, e->out, T_FUNCREF);
      put(L, e->out, &ref, sizeof ref);
      return;
    }
  puttag(L, e->out, T_FUNCTION);
  header = e->out->len;
  grow_buffer(L, e->out, sizeof mac + sizeof start);
  e->out->len += sizeof mac + sizeof start;
  start = e->out->len;
  lua_pushvalue(L, idx);
  lua_dump(L, write_bytecode, e->out, 0);
  lua_pop(L, 1);
  mac = siphash((const unsigned char *)e->out->data + start, e->out->len - start);
  nups = e->out->len - start;
  memcpy(e->out->data + header, &mac, sizeof mac);
  memcpy(e->out->data + header + sizeof mac, &nups, sizeof nups);
  for (nups = 0; lua_getupvalue(L, idx, (int)nups + 1); nups++)
    lua_pop(L, 1);
  n = (unsigned char)nups; /* Lua allows at most 255 */
  put(L, e->out, &n, 1);
  e->functions[e->nfunctions++] = idx;
  for (int i = 1; i <= n; i++) {
    const char *upname = lua_getupvalue(L, idx, i);
    if (upname && strcmp(upname, "_ENV") == 0) {
      puttag(L, e->out, T_GLOBALS);
    } else if (lua_type(L, -1) == LUA_TTABLE && findloaded(L, lua_gettop(L), 0)) {
      puttag(L, e->out, T_MODULE); /* `local shm = require "shm"`, `local string = string` */
      putname(L, e->out, -1);
      lua_pop(L, 1);
    } else {
      e->path[depth].key = 0;
      e->path[depth].upvalue = upname && *upname ? upname : "?";
      encode(L, e, lua_gettop(L), depth + 1);
    }
    lua_pop(L, 1);
  }
  e->nfunctions--;
}

/* A table: its counts of array and other keys (hints for the receiver's lua_createtable),
   then key and value of each pair. A table inside itself is refused. */
SHMLUA_FORKED static void encode_table(lua_State *L, encoder *e, int idx, int depth) {
  uint32_t counts[2] = {0, 0};
  size_t at;
  luaL_checkstack(L, 4, "values to send");
  for (int i = 0; i < e->ntables; i++)
    if (lua_rawequal(L, idx, e->tables[i]))
      refuse(L, e, depth, "a table that contains itself");
  e->tables[e->ntables++] = idx;
  puttag(L, e->out, T_TABLE);
  at = e->out->len;
  put(L, e->out, counts, sizeof counts);
  lua_pushnil(L);
  while (lua_next(L, idx)) { /* raw traversal: data only, metatables are not sent */
    int key = lua_absindex(L, -2);
    lua_Integer i;
    if (lua_isinteger(L, key) && (i = lua_tointeger(L, key)) >= 1 &&
        i <= (lua_Integer)UINT32_MAX)
      counts[0]++;
    else
      counts[1]++;
    e->path[depth].key = key;
    e->path[depth].upvalue = NULL;
    encode(L, e, key, depth + 1);
    encode(L, e, key + 1, depth + 1);
    lua_pop(L, 1);
  }
  puttag(L, e->out, T_END);
  memcpy(e->out->data + at, counts, sizeof counts);
  e->ntables--;
}

/* The kind of shmlua object at idx (its metatable's __name without "shm."), or NULL. */
static const char *objectkind(lua_State *L, int idx) {
  const char *kind = NULL;
  if (luaL_getmetafield(L, idx, "__name") == LUA_TNIL)
    return NULL;
  if (lua_type(L, -1) == LUA_TSTRING && strncmp(lua_tostring(L, -1), "shm.", 4) == 0)
    for (int i = 0; object_kinds[i]; i++)
      if (strcmp(lua_tostring(L, -1) + 4, object_kinds[i]) == 0)
        kind = object_kinds[i];
  lua_pop(L, 1);
  return kind;
}

SHMLUA_FORKED static void encode(lua_State *L, encoder *e, int idx, int depth) {
  if (depth > MAX_DEPTH)
    refuse(L, e, depth - 1,
           lua_pushfstring(L, "a value nested over %d levels deep", MAX_DEPTH));
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
      putnumber(L, e->out, T_INT, &i, sizeof i);
    } else {
      lua_Number x = lua_tonumber(L, idx);
      putnumber(L, e->out, T_FLOAT, &x, sizeof x);
    }
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    puttag(L, e->out, T_STRING);
    putstring(L, e->out, s, len);
    break;
  }
  case LUA_TTABLE:
    encode_table(L, e, idx, depth);
    break;
  case LUA_TFUNCTION:
    encode_function(L, e, idx, depth);
    break;
  case LUA_TUSERDATA: {
    const char *kind = objectkind(L, idx);
    if (kind) {
      encode_object(L, e, idx, depth, kind);
      break;
    }
    if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING)
      refuse(L, e, depth, lua_pushfstring(L, "a userdata (%s)", lua_tostring(L, -1)));
  }
  /* fall through */
  default:
    refuse(L, e, depth, lua_pushfstring(L, "a %s", luaL_typename(L, idx)));
  }
}

/* The encoder's buffer: one per Lua state, kept in the registry and reused, so a small
   message costs no allocation. Made here if missing; what it holds is left alone. */
SHMLUA_FORKED static buffer *kept_buffer(lua_State *L) {
  buffer *b;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &buffer_key) == LUA_TNIL) {
    lua_pop(L, 1);
    b = shmlua_newscratch(L, sizeof *b, SERIAL_BUFFER_MT, buffer_gc);
    b->data = b->first;
    b->cap = sizeof b->first;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &buffer_key);
  }
  b = lua_touserdata(L, -1);
  lua_pop(L, 1); /* the registry keeps it */
  return b;
}

/* The buffer emptied, to be filled by the caller. */
SHMLUA_FORKED static buffer *scratch(lua_State *L) {
  buffer *b = kept_buffer(L);
  b->len = 0;
  return b;
}

void shmlua_encoder_ready(lua_State *L) {
  kept_buffer(L);
}

/* An encoder on the emptied buffer, nothing encoded yet; then the header of a message. */
SHMLUA_FORKED static void startencoder(lua_State *L, encoder *e, int listed) {
  e->out = scratch(L);
  e->ntables = 0;
  e->nfunctions = 0;
  e->value = 1;
  e->listed = listed;
}

SHMLUA_FORKED static void putheader(lua_State *L, encoder *e) {
  static const unsigned char header[2] = {MAGIC, VERSION};
  put(L, e->out, header, sizeof header);
}

SHMLUA_FORKED const char *shmlua_encode(lua_State *L, int first, int n, size_t *len) {
  encoder e;
  int top = lua_gettop(L);
  first = lua_absindex(L, first);
  startencoder(L, &e, 0);
  putheader(L, &e);
  for (e.value = 1; e.value <= n; e.value++)
    encode(L, &e, first + e.value - 1, 0);
  lua_settop(L, top);
  *len = e.out->len;
  return e.out->data;
}

void shmlua_serialize(lua_State *L, int first, int n) {
  size_t len;
  const char *data = shmlua_encode(L, first, n, &len);
  lua_pushlstring(L, data, len);
}

typedef struct decoder {
  const char *p, *end;
  int functions[MAX_DEPTH + 1]; /* stack indexes of the functions being decoded */
  int nfunctions;
  int cache; /* stack index of the blocks kept between messages, or 0 */
} decoder;

static inline int take(decoder *d, void *out, size_t n) {
  if ((size_t)(d->end - d->p) < n)
    return 0;
  memcpy(out, d->p, n);
  d->p += n;
  return 1;
}

/* A length-prefixed string inside the message: points into it. */
static const char *takestring(decoder *d, size_t *len) {
  const char *s;
  if (!take(d, len, sizeof *len) || (size_t)(d->end - d->p) < *len)
    return NULL;
  s = d->p;
  d->p += *len;
  return s;
}

static int decode(lua_State *L, decoder *d, int depth);
static int decode_entries(lua_State *L, decoder *d, int depth);

/* Attaches the object sent by name: shm.<kind>.attach(name [, {readonly = true}]), shm.attach
   for a block and an array's block. Raises when it cannot (gone, not allowed...). */
/* Calls method of the object on top with the n integer arguments; the result replaces it. */
static void callmethod(lua_State *L, const char *method, int n, const int64_t *args) {
  lua_getfield(L, -1, method);
  lua_insert(L, -2);
  for (int i = 0; i < n; i++)
    lua_pushinteger(L, (lua_Integer)args[i]);
  lua_call(L, n + 1, 1);
}

/* The view of an array sent, from its block on top (which it replaces): its elements from
   the lowest address up, then every step-th, backwards for a negative step, in rows of cols.
   The methods check it all against the block, so hostile numbers only raise. */
static void makeview(lua_State *L, const char *dtype, size_t dlen, const int64_t *layout) {
  int64_t size = layout[0], offset = layout[1], count = layout[2], step = layout[3];
  int64_t low = step < 0 ? offset + (count - 1) * step * size : offset;
  int64_t args[3];
  lua_getfield(L, -1, "array");
  lua_insert(L, -2);
  lua_pushlstring(L, dtype, dlen);
  lua_pushinteger(L, (lua_Integer)low + 1);
  if (count == 0) {
    lua_pushinteger(L, 0);
    lua_call(L, 4, 1);
    return;
  }
  lua_call(L, 3, 1);
  args[0] = 1;
  args[1] = 1 + (count - 1) * (step < 0 ? -step : step);
  args[2] = step;
  callmethod(L, "view", 3, args);
  if (layout[4] > 0) {
    args[0] = count / layout[4];
    args[1] = layout[4];
    callmethod(L, "reshape", 2, args);
  }
}

/* A process that keeps the blocks it attaches (a pool's worker) decodes with a cache: a
   table of block userdata by "r" or "w" (read-only or not) and name. Pushes the key; then, if
   the block there is open and its name still refers to the object it maps (not unlinked,
   made again or resized since), pushes that block too and returns 1: its mapping and the
   page tables already filled are used again. */
static int kept_block(lua_State *L, int cache, const char *name, size_t nlen,
                      unsigned char readonly) {
  lua_pushstring(L, readonly ? "r" : "w");
  lua_pushlstring(L, name, nlen);
  lua_concat(L, 2);
  lua_pushvalue(L, -1);
  if (lua_rawget(L, cache) == LUA_TUSERDATA && shmlua_block_current(shmlua_checkblock(L, -1)))
    return 1;
  lua_pop(L, 1);
  return 0;
}

static int decode_object(lua_State *L, decoder *d) {
  size_t klen, nlen, dlen = 0;
  int64_t layout[5];
  const char *kind = takestring(d, &klen), *name, *dtype = NULL;
  unsigned char readonly;
  int k, isarray, isblock, base;
  if (!kind || !(name = takestring(d, &nlen)) || !take(d, &readonly, 1) || readonly > 1)
    return 0;
  for (k = 0; object_kinds[k]; k++)
    if (strlen(object_kinds[k]) == klen && memcmp(object_kinds[k], kind, klen) == 0)
      break;
  if (!object_kinds[k] || nlen > 255 || memchr(name, 0, nlen))
    return 0;
  kind = object_kinds[k];
  isarray = strcmp(kind, "array") == 0;
  isblock = isarray || strcmp(kind, "block") == 0;
  /* sizes that keep makeview's arithmetic far from overflow */
  if (isarray &&
      (!(dtype = takestring(d, &dlen)) || dlen > 16 || !take(d, layout, sizeof layout) ||
       layout[0] < 1 || layout[0] > 16 || layout[1] < 0 || layout[1] > INT32_MAX * 16LL ||
       layout[2] < 0 || layout[2] > INT32_MAX || layout[3] == 0 || layout[3] < -INT32_MAX ||
       layout[3] > INT32_MAX || layout[4] < 0 || layout[4] > INT32_MAX))
    return 0;
  luaL_checkstack(L, 8, "values received");
  base = lua_gettop(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &module_key) != LUA_TTABLE)
    luaL_error(L, "a shmlua object was received, but the shm module is not loaded");
  if (strcmp(kind, "null") == 0) {
    lua_getfield(L, base + 1, "null");
  } else if (isblock && d->cache && kept_block(L, d->cache, name, nlen, readonly)) {
    if (isarray)
      makeview(L, dtype, dlen, layout);
  } else {
    if (!isblock && lua_getfield(L, base + 1, kind) != LUA_TTABLE)
      luaL_error(L, "a shmlua %s was received, but this shm module has none", kind);
    lua_getfield(L, isblock ? base + 1 : -1, "attach");
    lua_pushlstring(L, name, nlen);
    if (readonly) {
      lua_createtable(L, 0, 1);
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "readonly");
    } else {
      lua_pushnil(L);
    }
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2)) {
      lua_pushlstring(L, name, nlen);
      luaL_error(L, "cannot attach the %s '%s' that was received: %s", kind,
                 lua_tostring(L, -1), lua_tostring(L, -2));
    }
    lua_pop(L, 1);
    if (isblock && d->cache) { /* kept under the key kept_block left below the result */
      lua_pushvalue(L, -2);
      lua_pushvalue(L, -2);
      lua_rawset(L, d->cache);
    }
    if (isarray)
      makeview(L, dtype, dlen, layout);
  }
  lua_replace(L, base + 1);
  lua_settop(L, base + 1);
  return 1;
}

/* A sent function: its bytecode is loaded only with the family's key on it. */
static int decode_function(lua_State *L, decoder *d, int depth) {
  uint64_t mac;
  size_t len;
  const char *code;
  unsigned char n;
  int fn, count;
  if (!take(d, &mac, sizeof mac) || !(code = takestring(d, &len)) || !take(d, &n, 1))
    return 0;
  if (siphash((const unsigned char *)code, len) != mac)
    luaL_error(L,
               "a function was received from outside this family of processes (or "
               "corrupt): refused (%s must be the same in both)",
               KEY_ENV);
  luaL_checkstack(L, 4, "values received");
  if (luaL_loadbufferx(L, code, len, "=(sent function)", "b") != LUA_OK)
    luaL_error(L, "a function was received that this Lua cannot load: %s",
               lua_tostring(L, -1));
  fn = lua_gettop(L);
  for (count = 0; lua_getupvalue(L, fn, count + 1); count++)
    lua_pop(L, 1);
  if (count != n) {
    lua_pop(L, 1);
    return 0;
  }
  d->functions[d->nfunctions++] = fn;
  for (int i = 1; i <= n; i++) {
    if (d->p < d->end && *d->p == T_GLOBALS) {
      d->p++;
      lua_pushglobaltable(L);
    } else if (!decode(L, d, depth + 1)) {
      lua_settop(L, fn - 1);
      return 0;
    }
    lua_setupvalue(L, fn, i);
  }
  d->nfunctions--;
  return 1;
}

/* A module, or a function of one, named by the sender: the receiver's own. */
static int decode_loaded(lua_State *L, decoder *d, int field) {
  size_t mlen, flen = 0;
  const char *module = takestring(d, &mlen), *name = NULL;
  if (!module || (field && !(name = takestring(d, &flen))))
    return 0;
  luaL_checkstack(L, 4, "values received");
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushlstring(L, module, mlen);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pushlstring(L, module, mlen);
    luaL_error(L, "a value refers to module '%s', which is not loaded here",
               lua_tostring(L, -1));
  }
  if (field) {
    lua_pushlstring(L, name, flen);
    if (lua_rawget(L, -2) != LUA_TFUNCTION) {
      lua_pushlstring(L, module, mlen);
      lua_pushlstring(L, name, flen);
      luaL_error(L, "a value refers to function %s.%s, which is not here", lua_tostring(L, -2),
                 lua_tostring(L, -1));
    }
    lua_remove(L, -2);
  }
  lua_remove(L, -2);
  return 1;
}

/* The pairs of a table up to its end, set into the table on top. 0 if the bytes are not a
   valid encoding. */
static int decode_entries(lua_State *L, decoder *d, int depth) {
  while (d->p < d->end && *d->p != T_END) {
    int pushed;
    if (*d->p == T_INT && (size_t)(d->end - d->p) > 1 + sizeof(lua_Integer)) {
      lua_Integer i; /* the common key: straight to rawseti */
      memcpy(&i, d->p + 1, sizeof i);
      d->p += 1 + sizeof i;
      if (!decode(L, d, depth + 1))
        return 0;
      lua_rawseti(L, -2, i);
      continue;
    }
    pushed = 1 + decode(L, d, depth + 1);
    if (pushed == 2)
      pushed += decode(L, d, depth + 1);
    /* a nil or NaN key cannot come from a real table, and rawset would refuse it */
    if (pushed < 3 || lua_isnil(L, -2) ||
        (lua_type(L, -2) == LUA_TNUMBER && lua_tonumber(L, -2) != lua_tonumber(L, -2))) {
      lua_pop(L, pushed - 1);
      return 0;
    }
    lua_rawset(L, -3);
  }
  if (d->p >= d->end)
    return 0;
  d->p++;
  return 1;
}

/* The count values of a list, set at keys offset + 1.. of the table on top. Numbers, the
   common items of a pool's chunks, are read here without a call per item. */
static int decode_list(lua_State *L, decoder *d, int depth, uint32_t count,
                       lua_Integer offset) {
  for (uint32_t k = 1; k <= count; k++) {
    size_t left = (size_t)(d->end - d->p);
    if (left > sizeof(lua_Integer) && *d->p == T_INT) {
      lua_Integer i;
      memcpy(&i, d->p + 1, sizeof i);
      lua_pushinteger(L, i);
      d->p += 1 + sizeof i;
    } else if (left > sizeof(lua_Number) && *d->p == T_FLOAT) {
      lua_Number x;
      memcpy(&x, d->p + 1, sizeof x);
      lua_pushnumber(L, x);
      d->p += 1 + sizeof x;
    } else if (!decode(L, d, depth + 1)) {
      return 0;
    }
    lua_rawseti(L, -2, (lua_Integer)((lua_Unsigned)offset + k));
  }
  return 1;
}

/* The count of a T_INTEGERS list (after its tag), if the message holds that many. */
static int take_integers(decoder *d, uint32_t *count) {
  return take(d, count, sizeof *count) &&
         (size_t)(d->end - d->p) / sizeof(lua_Integer) >= *count;
}

/* The count integers at p (8 bytes each, the length checked), set at keys offset + 1.. of
   the table on top: two API calls per item. Returns the end of them. */
static const char *put_integers(lua_State *L, const char *p, uint32_t count,
                                lua_Integer offset) {
  for (uint32_t k = 1; k <= count; k++, p += sizeof(lua_Integer)) {
    lua_Integer i;
    memcpy(&i, p, sizeof i);
    lua_pushinteger(L, i);
    lua_rawseti(L, -2, (lua_Integer)((lua_Unsigned)offset + k));
  }
  return p;
}

/* Pushes the Lua function `return {...}`, made once per state: a table of the values it is
   called with is made by the VM's SETLIST, which stores them straight into the array part
   (sized once), instead of a lua_rawseti each. */
static void pushpacker(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &packer_key) == LUA_TFUNCTION)
    return;
  lua_pop(L, 1);
  if (luaL_loadstring(L, "return {...}") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &packer_key);
}

/* Pushes the count integers of a T_INTEGERS list as a new table: made by the packer from
   the integers pushed, or, when the stack cannot take them all, item by item. still (if not
   NULL) is called before the integers are read, after what may have run the collector. */
static void decode_integer_list(lua_State *L, decoder *d, uint32_t count,
                                void (*still)(lua_State *L, void *ctx), void *ctx) {
  const char *p;
  int packed = count <= INT_MAX - 8 && lua_checkstack(L, (int)count + 8);
  if (packed)
    pushpacker(L);
  else
    lua_createtable(L, (int)(count < INT32_MAX ? count : 0), 0);
  if (still)
    still(L, ctx);
  if (!packed) {
    d->p = put_integers(L, d->p, count, 0);
    return;
  }
  p = d->p;
  for (uint32_t k = 0; k < count; k++, p += sizeof(lua_Integer)) {
    lua_Integer i;
    memcpy(&i, p, sizeof i);
    lua_pushinteger(L, i);
  }
  d->p = p;
  lua_call(L, (int)count, 1);
}

/* Pushes one value; 0 if the bytes are not a valid encoding (nothing pushed then). */
static int decode(lua_State *L, decoder *d, int depth) {
  char tag;
  if (depth > MAX_DEPTH || !take(d, &tag, 1))
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
    const char *s = takestring(d, &len);
    if (!s)
      return 0;
    lua_pushlstring(L, s, len);
    return 1;
  }
  case T_TABLE: {
    uint32_t counts[2];
    size_t most;
    if (!take(d, counts, sizeof counts))
      return 0;
    /* hints only: a hostile count cannot make a table larger than the message could fill */
    most = (size_t)(d->end - d->p) / 4;
    luaL_checkstack(L, 3, "values received");
    lua_createtable(L, counts[0] < most ? (int)counts[0] : 0,
                    counts[1] < most ? (int)counts[1] : 0);
    if (!decode_entries(L, d, depth)) {
      lua_pop(L, 1);
      return 0;
    }
    return 1;
  }
  case T_LIST: {
    uint32_t count;
    if (!take(d, &count, sizeof count) || count > (size_t)(d->end - d->p))
      return 0; /* every value takes a byte at least */
    luaL_checkstack(L, 2, "values received");
    lua_createtable(L, (int)(count < INT32_MAX ? count : 0), 0);
    if (!decode_list(L, d, depth, count, 0)) {
      lua_pop(L, 1);
      return 0;
    }
    return 1;
  }
  case T_INTEGERS: {
    uint32_t count;
    if (!take_integers(d, &count))
      return 0;
    decode_integer_list(L, d, count, NULL, NULL);
    return 1;
  }
  case T_OBJECT:
    return decode_object(L, d);
  case T_FUNCTION:
    return decode_function(L, d, depth);
  case T_MODULE:
  case T_CFUNCTION:
    return decode_loaded(L, d, tag == T_CFUNCTION);
  case T_FUNCREF: {
    uint32_t ref;
    if (!take(d, &ref, sizeof ref) || ref >= (uint32_t)d->nfunctions)
      return 0;
    lua_pushvalue(L, d->functions[ref]);
    return 1;
  }
  default:
    return 0;
  }
}

/* Checks the header; 0 if it is not this format's. */
static int startdecoder(decoder *d, const void *data, size_t len) {
  d->p = data;
  d->end = d->p + len;
  d->nfunctions = 0;
  d->cache = 0;
  if (len < 2 || (unsigned char)d->p[0] != MAGIC || d->p[1] != VERSION)
    return 0;
  d->p += 2;
  return 1;
}

int shmlua_deserialize(lua_State *L, const void *data, size_t len) {
  return shmlua_deserialize_keeping(L, data, len, 0);
}

int shmlua_deserialize_keeping(lua_State *L, const void *data, size_t len, int cache) {
  decoder d;
  int top = lua_gettop(L), n = 0;
  if (!startdecoder(&d, data, len))
    return -1;
  d.cache = cache ? lua_absindex(L, cache) : 0;
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

int shmlua_deserialize_into(lua_State *L, const void *data, size_t len, int table,
                            lua_Integer offset) {
  decoder d;
  uint32_t count;
  int ok, base;
  char tag;
  table = lua_absindex(L, table);
  if (!startdecoder(&d, data, len) || !take(&d, &tag, 1) ||
      (tag != T_LIST && tag != T_INTEGERS))
    return 0;
  base = lua_gettop(L);
  luaL_checkstack(L, 2, "values received");
  lua_pushvalue(L, table);
  if (tag == T_INTEGERS) {
    if ((ok = take_integers(&d, &count)))
      d.p = put_integers(L, d.p, count, offset);
  } else {
    ok = take(&d, &count, sizeof count) && decode_list(L, &d, 0, count, offset);
  }
  ok = ok && d.p == d.end;
  lua_settop(L, base);
  return ok;
}

/* Whether a value of this tag is pushed without allocating. */
static int allocates_nothing(char tag) {
  return tag == T_NIL || tag == T_FALSE || tag == T_TRUE || tag == T_INT || tag == T_FLOAT;
}

int shmlua_deserialize_packed(lua_State *L, const void *data, size_t len,
                              const char **integers, uint32_t *count) {
  decoder d;
  uint32_t n;
  char tag;
  int top = lua_gettop(L);
  if (!startdecoder(&d, data, len) || !take(&d, &tag, 1) || tag != T_LIST ||
      !take(&d, &n, sizeof n) || n < 1)
    return -1;
  for (uint32_t k = 1; k < n; k++) {
    /* no finalizer can run while data is read (it may be a queue's scratch) */
    if (d.p >= d.end || !allocates_nothing(*d.p)) {
      lua_settop(L, top);
      return -1;
    }
    luaL_checkstack(L, 1, "values received");
    if (!decode(L, &d, 1)) {
      lua_settop(L, top);
      return -1;
    }
  }
  if (!take(&d, &tag, 1) || tag != T_INTEGERS || !take_integers(&d, count) ||
      (size_t)(d.end - d.p) != *count * sizeof(lua_Integer)) {
    lua_settop(L, top);
    return -1;
  }
  *integers = d.p;
  return (int)(n - 1);
}

/* A number that is a whole one, as an integer: an integer, or a float with no fraction within
   2^53 (every number is a float on Lua 5.1 and LuaJIT). */
static int take_whole(decoder *d, lua_Integer *value) {
  char tag;
  lua_Number x;
  if (!take(d, &tag, 1))
    return 0;
  if (tag == T_INT)
    return take(d, value, sizeof *value);
  if (tag != T_FLOAT || !take(d, &x, sizeof x) || !(x >= -9007199254740992.0) ||
      !(x <= 9007199254740992.0) || x != (lua_Number)(lua_Integer)x)
    return 0;
  *value = (lua_Integer)x;
  return 1;
}

int shmlua_first_integer(const void *data, size_t len, lua_Integer *value) {
  decoder d;
  uint32_t counts[2];
  lua_Integer key;
  char tag;
  if (!startdecoder(&d, data, len) || !take(&d, &tag, 1))
    return 0;
  if (tag == T_LIST) { /* its count, then the first value */
    if (!take(&d, counts, sizeof counts[0]) || counts[0] < 1)
      return 0;
  } else if (tag != T_TABLE || !take(&d, counts, sizeof counts) || !take_whole(&d, &key) ||
             key != 1) {
    return 0; /* a table: its sizes, then key 1 first */
  }
  return take_whole(&d, value);
}

/* The end of the flat value at p (see shmlua_deserialize_flat), or NULL if it is another
   kind of value or runs past end. */
static const char *skip_flat(const char *p, const char *end) {
  decoder d = {.p = p + 1, .end = end};
  size_t len;
  uint32_t count;
  if (p >= end)
    return NULL;
  switch (*p) {
  case T_NIL:
  case T_FALSE:
  case T_TRUE:
    return d.p;
  case T_INT:
  case T_FLOAT:
    return (size_t)(end - d.p) >= 8 ? d.p + 8 : NULL;
  case T_STRING:
    return takestring(&d, &len) ? d.p : NULL;
  case T_INTEGERS:
    return take_integers(&d, &count) ? d.p + (size_t)count * sizeof(lua_Integer) : NULL;
  default:
    return NULL;
  }
}

int shmlua_deserialize_flat(lua_State *L, const void *data, size_t len,
                            void (*still)(lua_State *L, void *ctx), void *ctx) {
  decoder d;
  uint32_t count;
  const char *p;
  char tag;
  if (!startdecoder(&d, data, len) || !take(&d, &tag, 1) || tag != T_LIST ||
      !take(&d, &count, sizeof count) || count > (size_t)(d.end - d.p))
    return 0;
  p = d.p; /* all of it checked first: nothing read later can fail */
  for (uint32_t k = 0; k < count; k++)
    if (!(p = skip_flat(p, d.end)))
      return 0;
  if (p != d.end)
    return 0;
  luaL_checkstack(L, 3, "values received");
  lua_createtable(L, (int)count, 0);
  for (uint32_t k = 1; k <= count; k++) {
    still(L, ctx);
    if (*d.p == T_INTEGERS) {
      uint32_t n = 0;
      d.p++;
      take_integers(&d, &n);
      decode_integer_list(L, &d, n, still, ctx);
    } else {
      decode(L, &d, 1);
    }
    lua_rawseti(L, -2, (lua_Integer)k);
  }
  return 1;
}

void shmlua_integers_into(lua_State *L, const char *integers, uint32_t count, int table,
                          lua_Integer offset) {
  lua_pushvalue(L, table);
  put_integers(L, integers, count, offset);
  lua_pop(L, 1);
}

/* t[i..i + count - 1] (t at table) as a T_INTEGERS list if every value is an integer (the
   common chunk of a pool: three API calls per item and 8 bytes, no tag): 1; else 0, the
   buffer as it was (the caller encodes the list item by item then). */
static int encode_integers(lua_State *L, buffer *b, int table, lua_Integer i, uint32_t count) {
  size_t start = b->len;
  int top = lua_gettop(L);
  if (!SHMLUA_NATIVE_INTEGERS)
    return 0;
  puttag(L, b, T_INTEGERS);
  put(L, b, &count, sizeof count);
  for (uint32_t k = 0; k < count;) {
    uint32_t got = 0;
    char *p;
    for (; got < RANGE_STEP && k + got < count; got++)
      lua_rawgeti(L, table, i + (lua_Integer)(k + got));
    if (b->cap - b->len < got * sizeof(lua_Integer))
      grow_buffer(L, b, got * sizeof(lua_Integer));
    p = b->data + b->len;
    for (uint32_t m = 1; m <= got; m++, p += sizeof(lua_Integer)) {
      lua_Integer v;
      if (!lua_isinteger(L, top + (int)m)) {
        lua_settop(L, top);
        b->len = start;
        return 0;
      }
      v = lua_tointeger(L, top + (int)m);
      memcpy(p, &v, sizeof v);
    }
    b->len = (size_t)(p - b->data);
    k += got;
    lua_settop(L, top);
  }
  return 1;
}

const char *shmlua_encode_range(lua_State *L, int table, lua_Integer i, lua_Integer j,
                                size_t *len) {
  encoder e;
  uint32_t count = 0;
  int top = lua_gettop(L);
  table = lua_absindex(L, table);
  if (j >= i && (lua_Unsigned)j - (lua_Unsigned)i >= UINT32_MAX)
    luaL_error(L, "too many values to send in one list");
  startencoder(L, &e, 0);
  e.ntables = 1;
  e.tables[0] = table;
  putheader(L, &e);
  if (j >= i)
    count = (uint32_t)(j - i + 1);
  luaL_checkstack(L, RANGE_STEP + 4, "values to send");
  if (count > 0 && encode_integers(L, e.out, table, i, count)) {
    *len = e.out->len;
    return e.out->data;
  }
  puttag(L, e.out, T_LIST);
  put(L, e.out, &count, sizeof count);
  /* RANGE_STEP values are fetched onto the stack at a time and dropped together: one
     lua_settop per step, not per value */
  for (lua_Integer k = i; k <= j;) {
    int got = 0;
    for (; got < RANGE_STEP && k + got <= j; got++)
      lua_rawgeti(L, table, k + got);
    for (int m = 1; m <= got; m++, k++) {
      int idx = top + m;
      if (lua_isinteger(L, idx)) { /* the common case, kept short */
        lua_Integer v = lua_tointeger(L, idx);
        putnumber(L, e.out, T_INT, &v, sizeof v);
      } else {
        int before = lua_gettop(L);
        lua_pushinteger(L, k - i + 1); /* for the path in an error */
        e.path[0].key = before + 1;
        e.path[0].upvalue = NULL;
        encode(L, &e, idx, 1);
        lua_settop(L, before);
      }
    }
    lua_settop(L, top);
  }
  *len = e.out->len;
  return e.out->data;
}

const char *shmlua_encode_with_integers(lua_State *L, int first, int n, int at, int table,
                                        lua_Integer i, lua_Integer j, size_t *len) {
  encoder e;
  uint32_t count = (uint32_t)n;
  int top = lua_gettop(L);
  if (j < i || (lua_Unsigned)j - (lua_Unsigned)i >= UINT32_MAX)
    return NULL;
  first = lua_absindex(L, first);
  table = lua_absindex(L, table);
  luaL_checkstack(L, RANGE_STEP + 4, "values to send");
  startencoder(L, &e, 0);
  putheader(L, &e);
  puttag(L, e.out, T_LIST);
  put(L, e.out, &count, sizeof count);
  for (e.value = 1; e.value <= n; e.value++) {
    if (e.value != at)
      encode(L, &e, first + e.value - 1, 0);
    else if (!encode_integers(L, e.out, table, i, (uint32_t)(j - i + 1))) {
      lua_settop(L, top);
      return NULL;
    }
  }
  lua_settop(L, top);
  *len = e.out->len;
  return e.out->data;
}

const char *shmlua_encode_each(lua_State *L, int table, size_t first, size_t n, size_t *ends) {
  encoder e;
  int top = lua_gettop(L);
  table = lua_absindex(L, table);
  startencoder(L, &e, 1);
  luaL_checkstack(L, 4, "values to send");
  for (size_t k = 0; k < n; k++) {
    lua_Integer key = (lua_Integer)(first + k + 1);
    e.value = key < INT_MAX ? (int)key : INT_MAX;
    putheader(L, &e);
    lua_rawgeti(L, table, key);
    encode(L, &e, top + 1, 0);
    lua_settop(L, top);
    ends[k] = e.out->len;
  }
  return e.out->data;
}

/* The family key: SHMLUA_KEY from the environment (32 hex digits) when a parent set it, else
   a random one put there for the processes this one starts. */
static void setkey(void) {
  const char *env = getenv(KEY_ENV);
  unsigned long long k0, k1;
  char hex[33];
  if (family_key[0] | family_key[1])
    return;
  if (env && strlen(env) == 32 && sscanf(env, "%16llx%16llx", &k0, &k1) == 2) {
    family_key[0] = k0;
    family_key[1] = k1;
    return;
  }
  if (getentropy(family_key, sizeof family_key) != 0) {
    family_key[0] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)time(NULL);
    family_key[1] = (uint64_t)(uintptr_t)&family_key ^ (uint64_t)clock();
  }
  snprintf(hex, sizeof hex, "%016llx%016llx", (unsigned long long)family_key[0],
           (unsigned long long)family_key[1]);
  setenv(KEY_ENV, hex, 1);
}

void shmlua_open_serial(lua_State *L) {
  setkey();
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &module_key);
}
