/* Positions as lstrlib.c reads them: 1-based, negative from the end. */
#include "position.h"
#include "argcheck.h"

static size_t posstart(lua_Integer pos, size_t len) {
  if (pos > 0)
    return (size_t)pos;
  if (pos == 0 || pos < -(lua_Integer)len)
    return 1;
  return len + (size_t)pos + 1;
}

static size_t posend(lua_Integer pos, size_t len) {
  if (pos > (lua_Integer)len)
    return len;
  if (pos >= 0)
    return (size_t)pos;
  if (pos < -(lua_Integer)len)
    return 0;
  return len + (size_t)pos + 1;
}

size_t shmlua_range(lua_Integer i, lua_Integer j, size_t len, size_t *first) {
  size_t start = posstart(i, len), end = posend(j, len);
  *first = start - 1;
  return start > end ? 0 : end - start + 1;
}

size_t shmlua_checkindex(lua_State *L, lua_Integer pos, size_t len) {
  if (pos > 0 && (lua_Unsigned)pos <= len)
    return (size_t)pos;
  if (pos < 0 && (lua_Unsigned)0 - (lua_Unsigned)pos <= len)
    return len + (size_t)pos + 1;
  return luaL_error(L, "index %I out of range (1..%I)", (LUAI_UACINT)pos, (LUAI_UACINT)len);
}

size_t shmlua_checkstart(lua_State *L, lua_Integer pos, size_t len) {
  return pos == (lua_Integer)len + 1 ? len + 1 : shmlua_checkindex(L, pos, len);
}

/* The iterator of shmlua_sequence_pairs: what ipairs does, through __index. */
static int sequence_next(lua_State *L) {
  lua_Integer i = luaL_checkinteger(L, 2) + 1;
  lua_pushinteger(L, i);
  lua_pushinteger(L, i);
  lua_gettable(L, 1);
  return lua_isnil(L, -1) ? 1 : 2;
}

int shmlua_sequence_pairs(lua_State *L) {
  lua_pushcfunction(L, sequence_next);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
}
