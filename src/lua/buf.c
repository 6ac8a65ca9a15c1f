/* The byte view of a block: buf[i], #buf, sub, byte, write, fill. Indexing is the hot path:
   the buf is recognised by its tag (no metatable lookup) and nothing is allocated. */
#include <limits.h>
#include <string.h>

#include "args.h"
#include "blockaccess.h"
#include "buf.h"
#include "class.h"
#include "parts.h"
#include "position.h"

/* Its address is in every buf's tag. */
static const char buf_class;

void shmlua_newbuf(lua_State *L, shmlua_block *b) {
  *(shmlua_block **)shmlua_newtagged(L, sizeof b, 1, &buf_class) = b;
  luaL_setmetatable(L, SHMLUA_BUF_MT);
}

/* Metamethods too: Lua calls them with a buf, but a script can reach them with anything
   through the debug library. Static, so the metamethods inline it. */
static shmlua_block *tobuf(lua_State *L, int arg) {
  return *(shmlua_block **)shmlua_checktagged(L, arg, sizeof(shmlua_block *), &buf_class,
                                              SHMLUA_BUF_MT);
}

shmlua_block *shmlua_checkbuf(lua_State *L, int arg) {
  return tobuf(L, arg);
}

/* The element position of the key at arg 2 (an integer, or a float with an integer value).
   A read may also name #buf + 1 (returned as is), the nil that ends ipairs. */
static size_t elementpos(lua_State *L, const shmlua_block *b, int reading) {
  int isint;
  lua_Integer i = lua_tointegerx(L, 2, &isint);
  if (!isint)
    luaL_error(L, "buf index must be an integer");
  if (reading && (lua_Unsigned)i == b->size + 1)
    return b->size + 1;
  return shmlua_checkindex(L, i, b->size);
}

/* Byte k of b; a fault raises. */
static inline unsigned char loadbyte(lua_State *L, const shmlua_block *b, size_t k) {
  unsigned char v = 0;
  if (shmlua_load1(b, b->addr + k, &v) != 0)
    shmlua_accesserror(L, b);
  return v;
}

static inline void storebyte(lua_State *L, const shmlua_block *b, size_t k, unsigned char v) {
  if (shmlua_store1(b, b->addr + k, &v) != 0)
    shmlua_accesserror(L, b);
}

/* The common case first: an integer key in range of an open block (live: open and whole,
   fault.h; else shmlua_blockaddr says what is wrong). */
static int buf_index(lua_State *L) {
  shmlua_block *b = tobuf(L, 1);
  if (lua_isinteger(L, 2)) {
    lua_Integer i = lua_tointeger(L, 2);
    if (b->live && i >= 1 && (lua_Unsigned)i <= b->size) {
      lua_pushinteger(L, loadbyte(L, b, (size_t)i - 1));
      return 1;
    }
  }
  if (lua_type(L, 2) == LUA_TNUMBER) {
    shmlua_blockaddr(L, b, 0);
    size_t pos = elementpos(L, b, 1);
    if (pos > b->size)
      lua_pushnil(L);
    else
      lua_pushinteger(L, loadbyte(L, b, pos - 1));
    return 1;
  }
  if (lua_type(L, 2) != LUA_TSTRING)
    luaL_error(L, "buf index must be an integer");
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static unsigned char checkbyte(lua_State *L, int arg) {
  int isint;
  lua_Integer v = lua_type(L, arg) == LUA_TNUMBER ? lua_tointegerx(L, arg, &isint)
                                                  : (isint = 0);
  if (!isint || v < 0 || v > 255) {
    if (lua_type(L, arg) == LUA_TSTRING) /* buf[i] = "A" is a common first try */
      luaL_error(L, "byte value must be an integer from 0 to 255, got a string "
                    "(buf:write(i, s) copies a string in)");
    luaL_error(L, "byte value must be an integer from 0 to 255, got %s",
               lua_type(L, arg) == LUA_TNUMBER ? lua_tostring(L, arg) : luaL_typename(L, arg));
  }
  return (unsigned char)v;
}

static int buf_newindex(lua_State *L) {
  shmlua_block *b = tobuf(L, 1);
  if (lua_isinteger(L, 2) && lua_isinteger(L, 3)) {
    lua_Integer i = lua_tointeger(L, 2), v = lua_tointeger(L, 3);
    if (b->live && !b->readonly && i >= 1 && (lua_Unsigned)i <= b->size && v >= 0 &&
        v <= 255) {
      storebyte(L, b, (size_t)i - 1, (unsigned char)v);
      return 0;
    }
  }
  shmlua_blockaddr(L, b, 1);
  if (lua_type(L, 2) != LUA_TNUMBER)
    luaL_error(L, "buf index must be an integer");
  size_t k = elementpos(L, b, 0) - 1;
  storebyte(L, b, k, checkbyte(L, 3));
  return 0;
}

static int buf_len(lua_State *L) {
  shmlua_block *b = tobuf(L, 1);
  shmlua_blockaddr(L, b, 0);
  lua_pushinteger(L, (lua_Integer)b->size);
  return 1;
}

static int buf_tostring(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  if (b->addr)
    lua_pushfstring(L, "shm.buf: %s (%I bytes)", shmlua_pushname(L, &b->name),
                    (LUAI_UACINT)b->size);
  else
    lua_pushfstring(L, "shm.buf: %s (closed)", shmlua_pushname(L, &b->name));
  return 1;
}

static int buf_sub(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  const unsigned char *p = shmlua_blockaddr(L, b, 0);
  size_t first,
      n = shmlua_range(shmlua_checkint(L, 2), shmlua_optint(L, 3, -1), b->size, &first);
  shmlua_pushblockbytes(L, b, p + (n ? first : 0), n);
  return 1;
}

static int buf_byte(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  lua_Integer i = shmlua_optint(L, 2, 1);
  shmlua_blockaddr(L, b, 0);
  size_t first, n = shmlua_range(i, shmlua_optint(L, 3, i), b->size, &first); /* j: i */
  if (n >= INT_MAX)
    return luaL_error(L, "buf slice too long");
  luaL_checkstack(L, (int)n, "buf slice too long");
  for (size_t k = 0; k < n; k++)
    lua_pushinteger(L, loadbyte(L, b, first + k));
  return (int)n;
}

/* buf:write(i, s): copies s in at position i; returns the position after it. */
static int buf_write(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  lua_Integer pos = shmlua_checkint(L, 2);
  size_t len, start;
  const char *s = luaL_checklstring(L, 3, &len);
  unsigned char *p = shmlua_blockaddr(L, b, 1);
  start = shmlua_checkstart(L, pos, b->size);
  if (len > b->size - (start - 1))
    return luaL_error(L, "%I bytes at position %I do not fit in %I bytes", (LUAI_UACINT)len,
                      (LUAI_UACINT)start, (LUAI_UACINT)b->size);
  shmlua_fault fault;
  if (shmlua_guarded_copy(p + start - 1, s, len, b, NULL, &fault) != 0)
    return shmlua_faulterror(L, &fault);
  lua_pushinteger(L, (lua_Integer)(start + len));
  return 1;
}

/* buf:fill(v [, i [, j]]): sets bytes i..j (string.sub's rules) to v. */
static int buf_fill(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  unsigned char v = checkbyte(L, 2);
  unsigned char *p = shmlua_blockaddr(L, b, 1);
  size_t first,
      n = shmlua_range(shmlua_optint(L, 3, 1), shmlua_optint(L, 4, -1), b->size, &first);
  shmlua_fault fault;
  if (n && shmlua_guarded_fill(p + first, v, n, b, &fault) != 0)
    return shmlua_faulterror(L, &fault);
  return 0;
}

void shmlua_open_buf(lua_State *L) {
  static const luaL_Reg metamethods[] = {
      {"__newindex", buf_newindex},        {"__len", buf_len},
      {"__tostring", buf_tostring},        {"__pairs", shmlua_sequence_pairs},
      {"__ipairs", shmlua_sequence_pairs}, {NULL, NULL}};
  static const luaL_Reg methods[] = {{"sub", buf_sub},
                                     {"byte", buf_byte},
                                     {"write", buf_write},
                                     {"fill", buf_fill},
                                     {NULL, NULL}};
  shmlua_newclass(L, SHMLUA_BUF_MT, metamethods, methods, buf_index);
  lua_pop(L, 1);
}
