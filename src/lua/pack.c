/* buf:pack and buf:unpack: string.pack's format language on a block. They call the string
   library's own pack and unpack, so every option, limit and error is exactly Lua's; only the
   bytes needed are copied, never the whole block. */
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "args.h"
#include "blockaccess.h"
#include "buf.h"
#include "class.h"
#include "pack.h"
#include "parts.h"
#include "position.h"

/* The largest alignment string.pack can ask for ("!16", "i16"). Padding a format so that it
   starts at the same offset modulo this as the position in the block makes "!" and "X" align
   relative to the block's start, as string.unpack aligns relative to its string's start. */
enum { MAXALIGN = 16, FIRST_WINDOW = 128, WINDOW_GROWTH = 8 };

/* Upvalues of both methods: string.pack and string.unpack. */
enum { UV_PACK = 1, UV_UNPACK = 2 };

/* string.pack or string.unpack failed with the message on top: an argument error of theirs
   becomes one of ours (argument k of theirs is our argument k + shift), with their reason. */
static int reraise(lua_State *L, int shift) {
  const char *msg = lua_tostring(L, -1), *reason;
  char *end;
  long k;
  if (!msg || strncmp(msg, "bad argument #", 14) != 0)
    return lua_error(L);
  k = strtol(msg + 14, &end, 10);
  reason = strstr(end, " (");
  if (!reason || k < 1 || k > 1000)
    return lua_error(L);
  lua_pushlstring(L, reason + 2, strlen(reason + 2) - 1); /* without the final ")" */
  return luaL_argerror(L, (int)k + shift, lua_tostring(L, -1));
}

/* Lua 5.1, 5.2 and LuaJIT have no string.pack: the methods exist and say so. */
static void checkpack(lua_State *L, const char *what) {
  if (lua_isnil(L, lua_upvalueindex(UV_PACK)))
    luaL_error(L, "buf:%s needs string.pack (Lua 5.3 or later)", what);
}

/* buf:pack(i, fmt, v...) -> position after the last byte written */
static int buf_pack(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  checkpack(L, "pack");
  lua_Integer pos = shmlua_checkint(L, 2);
  int nvalues = lua_gettop(L) - 3;
  size_t start, pad, len;
  const char *packed;
  luaL_checkstring(L, 3);
  shmlua_blockaddr(L, b, 1); /* closed or read-only raise before string.pack runs */
  start = shmlua_checkstart(L, pos, b->size);
  pad = (start - 1) % MAXALIGN;
  lua_pushvalue(L, lua_upvalueindex(UV_PACK));
  lua_pushfstring(L, "%s%s", &"xxxxxxxxxxxxxxx"[MAXALIGN - 1 - pad], lua_tostring(L, 3));
  lua_rotate(L, 4, 2); /* pack, format, values... */
  if (lua_pcall(L, nvalues + 1, 1, 0) != LUA_OK)
    return reraise(L, 2);
  packed = lua_tolstring(L, -1, &len) + pad;
  len -= pad;
  if (len > b->size - (start - 1))
    return luaL_error(L, "%I bytes at position %I do not fit in %I bytes", (LUAI_UACINT)len,
                      (LUAI_UACINT)start, (LUAI_UACINT)b->size);
  /* Fetched again: string.pack allocates, and a finalizer may have closed the block. */
  unsigned char *at = shmlua_blockaddr(L, b, 1) + start - 1;
  shmlua_fault fault;
  if (shmlua_guarded_copy(at, packed, len, b, NULL, &fault) != 0)
    return shmlua_faulterror(L, &fault);
  lua_pushinteger(L, (lua_Integer)(start + len));
  return 1;
}

int shmlua_unpack_window(lua_State *L, int unpack, size_t size, size_t start,
                         void (*push)(lua_State *L, void *src, size_t at, size_t len),
                         void *src) {
  size_t base = (start - 1) / MAXALIGN * MAXALIGN, rest = size - base,
         window = start - base + FIRST_WINDOW;
  int fmt = lua_gettop(L);
#if LUA_VERSION_NUM == 503
  /* 5.3's unpack takes a 'z' string without its end to the end of the data (and says the
     next position is past it) without raising: a window cut short would cut the string. */
  if (strchr(lua_tostring(L, fmt), 'z'))
    window = rest;
#endif
  for (;;) {
    int n;
    if (window > rest)
      window = rest;
    lua_pushvalue(L, unpack);
    lua_pushvalue(L, fmt);
    push(L, src, base, window);
    lua_pushinteger(L, (lua_Integer)(start - base));
    if (lua_pcall(L, 3, LUA_MULTRET, 0) == LUA_OK) {
      n = lua_gettop(L) - fmt;
      if (lua_tointeger(L, -1) > (lua_Integer)window + 1) { /* 5.3 read past the end */
        lua_settop(L, fmt);
        lua_pushliteral(L, "bad argument #2 to 'unpack' (data string too short)");
        return -1;
      }
      lua_pushinteger(L, lua_tointeger(L, -1) + (lua_Integer)base);
      lua_replace(L, -2);
      return n;
    }
    /* Their argument 2 is the data: too short, or a 'z' string without its end. */
    const char *msg = lua_tostring(L, -1);
    if (!msg || strncmp(msg, "bad argument #2 ", 16) != 0)
      return reraise(L, 1);
    if (window == rest)
      return -1;
    lua_pop(L, 1);
    window = rest / WINDOW_GROWTH < window ? rest : window * WINDOW_GROWTH;
  }
}

/* Pushes bytes at..at+len of the block src. Fetched for each try: a failed one allocated its
   message, and a finalizer may have closed the block. */
static void push_block(lua_State *L, void *src, size_t at, size_t len) {
  shmlua_block *b = src;
  shmlua_pushblockbytes(L, b, shmlua_blockaddr(L, b, 0) + at, len);
}

/* buf:unpack(fmt [, i]) -> values..., position after the last byte read. */
static int buf_unpack(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  checkpack(L, "unpack");
  size_t start;
  int n;
  luaL_checkstring(L, 2);
  lua_Integer pos = shmlua_optint(L, 3, 1);
  lua_settop(L, 2);
  shmlua_blockaddr(L, b, 0);
  start = shmlua_checkstart(L, pos, b->size);
  if ((n = shmlua_unpack_window(L, lua_upvalueindex(UV_UNPACK), b->size, start, push_block,
                                b)) < 0)
    return luaL_error(L, "the block ends before the values do (%I bytes, from position %I)",
                      (LUAI_UACINT)b->size, (LUAI_UACINT)start);
  return n;
}

void shmlua_open_pack(lua_State *L) {
  static const luaL_Reg methods[] = {{"pack", buf_pack}, {"unpack", buf_unpack}, {NULL, NULL}};
  luaL_getmetatable(L, SHMLUA_BUF_MT);
  lua_getfield(L, -1, SHMLUA_METHODS);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
  lua_getfield(L, -1, "pack");
  lua_getfield(L, -2, "unpack");
  lua_remove(L, -3);
  luaL_setfuncs(L, methods, 2);
  lua_pop(L, 2);
}
