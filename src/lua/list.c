/* Shared lists (shm.list): CPython's ShareableList in a block, read and written from Lua and
   Python alike; shm.null stands for Python's None. The layout and its checks are in
   core/sharelist.c; this file converts values and owns nothing but a reference to the block. */
#include <string.h>

#include "../core/escape.h"
#include "../core/sharelist.h"
#include "args.h"
#include "blockaccess.h"
#include "class.h"
#include "parts.h"
#include "position.h"

#define SHMLUA_NULL_MT "shm.null"

typedef struct list {
  shmlua_block *b; /* kept alive by user value 1 */
  shmlua_sharelist layout;
} list;

static const char null_key = 0; /* registry key (by address) of shm.null */

static void pushnull(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &null_key);
}

static int isnull(lua_State *L, int idx) {
  int same;
  idx = lua_absindex(L, idx);
  pushnull(L);
  same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}

/* The Lua value at idx as a list value: integer, float, boolean, string (str when it is UTF-8,
   else bytes), nil or shm.null (None). */
static void tovalue(lua_State *L, int idx, shmlua_slvalue *v) {
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      v->kind = SHMLUA_SL_INT, v->i = lua_tointeger(L, idx);
    else
      v->kind = SHMLUA_SL_FLOAT, v->f = lua_tonumber(L, idx);
    break;
  case LUA_TBOOLEAN:
    v->kind = SHMLUA_SL_BOOL;
    v->i = lua_toboolean(L, idx);
    break;
  case LUA_TSTRING:
    v->s = (const unsigned char *)lua_tolstring(L, idx, &v->len);
    v->kind = shmlua_sharelist_strkind(v->s, v->len);
    break;
  case LUA_TNIL:
    v->kind = SHMLUA_SL_NONE;
    break;
  default:
    if (!isnull(L, idx))
      luaL_error(L, "list values are integers, floats, booleans, strings or shm.null, not %s",
                 luaL_typename(L, idx));
    v->kind = SHMLUA_SL_NONE;
  }
}

/* Pushes v, read from the list's block b: its strings point into b. */
static void pushvalue(lua_State *L, const shmlua_block *b, const shmlua_slvalue *v) {
  switch (v->kind) {
  case SHMLUA_SL_INT:
    shmlua_pushint(L, (lua_Integer)v->i);
    break;
  case SHMLUA_SL_FLOAT:
    lua_pushnumber(L, (lua_Number)v->f);
    break;
  case SHMLUA_SL_BOOL:
    lua_pushboolean(L, (int)v->i);
    break;
  case SHMLUA_SL_NONE:
    pushnull(L);
    break;
  default:
    shmlua_pushblockbytes(L, b, v->s, v->len);
    break;
  }
}

/* Its address is in every list's tag (class.h: shmlua_newtagged): l[i] recognises a list
   with no metatable lookup. */
static const char list_class;

static list *checklist(lua_State *L) {
  return shmlua_checktagged(L, 1, sizeof(list), &list_class, SHMLUA_LIST_MT);
}

/* One access of the core to item i of the block at p (open: i is the block's size), for
   shmlua_guarded_run. */
typedef struct itemop {
  const shmlua_sharelist *layout;
  unsigned char *p;
  size_t i;
  shmlua_slvalue *v;
  char *format;
  shmlua_error err;
} itemop;

static int getitem(void *ctx) {
  itemop *o = ctx;
  return shmlua_sharelist_get(o->layout, o->p, o->i, o->v, &o->err);
}

static int setitem(void *ctx) {
  itemop *o = ctx;
  return shmlua_sharelist_set(o->layout, o->p, o->i, o->v, &o->err);
}

static int formatitem(void *ctx) {
  itemop *o = ctx;
  return shmlua_sharelist_format(o->layout, o->p, o->i, o->format, &o->err);
}

static int openlayout(void *ctx) {
  itemop *o = ctx;
  return shmlua_sharelist_open((shmlua_sharelist *)o->layout, o->p, o->i, &o->err);
}

/* Runs op on l's block under a guard: a fault raises, and so does op's failure, as
   "list 'x': <message>". */
static void runitem(lua_State *L, const list *l, int (*op)(void *), itemop *o) {
  if (shmlua_guardedcall(L, op, o, l->b, NULL) != 0)
    luaL_error(L, "list '%s': %s", shmlua_pushname(L, &l->b->name), o->err.message);
}

static void pushitem(lua_State *L, const list *l, const unsigned char *p, size_t i) {
  shmlua_slvalue v;
  itemop o = {&l->layout, (unsigned char *)p, i, &v, NULL, {0, ""}};
  runitem(L, l, getitem, &o);
  pushvalue(L, l->b, &v);
}

/* A list userdata viewing the block at idx. */
static list *newlist(lua_State *L, int idx) {
  list *l = shmlua_newtagged(L, sizeof *l, 1, &list_class);
  memset(l, 0, sizeof *l);
  l->b = lua_touserdata(L, idx);
  luaL_setmetatable(L, SHMLUA_LIST_MT);
  lua_pushvalue(L, idx);
  lua_setiuservalue(L, -2, 1);
  return l;
}

/* shm.list(values [, name [, opts]]): a new block (shm.create's rules, upvalue 1) holding
   values, each item with the room Python would give it (strings: counted in UTF-8 bytes). */
static int list_new(lua_State *L) {
  size_t n, datalen = 0, size;
  shmlua_name name;
  shmlua_create_opts opts;
  shmlua_error err;
  list *l;
  lua_remove(L, 1); /* the shm.list table: called through __call */
  luaL_checktype(L, 1, LUA_TTABLE);
  /* Checked here too, so that errors name shm.list and not the shm.create it calls. */
  shmlua_checkcreate(L, 2, 3, NULL, &name, &opts);
  lua_settop(L, 3);
  n = (size_t)lua_rawlen(L, 1);
  for (size_t k = 0; k < n; k++) {
    shmlua_slvalue v;
    size_t slot;
    lua_rawgeti(L, 1, (lua_Integer)k + 1);
    tovalue(L, -1, &v);
    if (shmlua_sharelist_slot(&v, &slot, NULL) != 0 || datalen + slot < datalen)
      return luaL_error(L, "item %I: a string of %I bytes is too long for a list (at most %I)",
                        (LUAI_UACINT)k + 1, (LUAI_UACINT)v.len,
                        (LUAI_UACINT)SHMLUA_SL_MAX_SLOT - 1);
    datalen += slot;
    lua_pop(L, 1);
  }
  if (shmlua_sharelist_size(n, datalen, &size, NULL) != 0 || size > (size_t)LUA_MAXINTEGER)
    return luaL_error(L, "list too large");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushinteger(L, (lua_Integer)size);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_call(L, 3, 3);
  if (lua_isnil(L, 4))
    return 3; /* nil, message, errno */
  lua_settop(L, 4);
  l = newlist(L, 4);
  if (shmlua_sharelist_init(&l->layout, l->b->addr, l->b->size, n, datalen, &err) != 0)
    return luaL_error(L, "%s", err.message);
  for (size_t k = 0; k < n; k++) {
    shmlua_slvalue v;
    size_t slot = 0;
    lua_rawgeti(L, 1, (lua_Integer)k + 1);
    tovalue(L, -1, &v);
    shmlua_sharelist_slot(&v, &slot, NULL); /* each was checked above */
    shmlua_sharelist_place(l->b->addr, k, slot);
    if (shmlua_sharelist_set(&l->layout, l->b->addr, k, &v, &err) != 0)
      return luaL_error(L, "%s", err.message);
    lua_pop(L, 1);
  }
  return 1;
}

/* shm.list.attach(name [, opts]): shm.attach (upvalue 1), then the whole header is checked, so
   a corrupt or hostile block raises here. */
static int list_attach(lua_State *L) {
  static const char *const allowed[] = {"readonly", NULL};
  shmlua_name name;
  shmlua_fault fault;
  int rc;
  list *l;
  shmlua_checkname(L, 1, &name);
  shmlua_checkopts(L, 2, allowed); /* here too, so that errors name shm.list.attach */
  shmlua_optfield_bool(L, 2, "readonly", 0);
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 3);
  if (lua_isnil(L, 3))
    return 3;
  lua_settop(L, 3);
  l = newlist(L, 3);
  itemop o = {&l->layout, l->b->addr, l->b->size, NULL, NULL, {0, ""}};
  if (shmlua_guarded_run(openlayout, &o, &rc, l->b, NULL, &fault) != 0) {
    shmlua_block_close(l->b);
    return shmlua_faulterror(L, &fault);
  }
  if (rc != 0) {
    shmlua_block_close(l->b);
    return luaL_error(L, "list '%s': %s", shmlua_pushname(L, &name), o.err.message);
  }
  return 1;
}

/* l[i]: 1-based, negative from the end; l[#l + 1] is nil so ipairs stops there. */
static int list_index(lua_State *L) {
  list *l = checklist(L);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    const unsigned char *p = shmlua_blockaddr(L, l->b, 0);
    int isint;
    lua_Integer i = lua_tointegerx(L, 2, &isint);
    if (!isint)
      return luaL_error(L, "list index must be an integer");
    if (i == (lua_Integer)l->layout.count + 1)
      lua_pushnil(L);
    else
      pushitem(L, l, p, shmlua_checkindex(L, i, l->layout.count) - 1);
    return 1;
  }
  if (lua_type(L, 2) != LUA_TSTRING)
    return luaL_error(L, "list index must be an integer");
  const char *key = lua_tostring(L, 2);
  if (strcmp(key, "name") == 0)
    lua_pushstring(L, shmlua_name_user(&l->b->name));
  else if (strcmp(key, "closed") == 0)
    lua_pushboolean(L, l->b->addr == NULL);
  else if (strcmp(key, "format") == 0) {
    luaL_Buffer out;
    shmlua_blockaddr(L, l->b, 0);
    luaL_buffinit(L, &out);
    for (size_t i = 0; i < l->layout.count; i++) {
      char format[9];
      /* Fetched per item: growing the buffer may run a finalizer that closes the block. */
      itemop o = {&l->layout, shmlua_blockaddr(L, l->b, 0), i, NULL, format, {0, ""}};
      runitem(L, l, formatitem, &o);
      luaL_addstring(&out, format);
    }
    luaL_pushresult(&out);
  } else {
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
  }
  return 1;
}

/* l[i] = v: only inside the list; a string longer than the item's room changes nothing. */
static int list_newindex(lua_State *L) {
  list *l = checklist(L);
  unsigned char *p = shmlua_blockaddr(L, l->b, 1);
  shmlua_slvalue v;
  int isint;
  lua_Integer i = lua_tointegerx(L, 2, &isint);
  if (lua_type(L, 2) != LUA_TNUMBER || !isint)
    return luaL_error(L, "list index must be an integer");
  size_t k = shmlua_checkindex(L, i, l->layout.count) - 1;
  tovalue(L, 3, &v);
  itemop o = {&l->layout, p, k, &v, NULL, {0, ""}};
  runitem(L, l, setitem, &o);
  return 0;
}

static int list_len(lua_State *L) {
  list *l = checklist(L);
  shmlua_blockaddr(L, l->b, 0);
  lua_pushinteger(L, (lua_Integer)l->layout.count);
  return 1;
}

enum { TOSTRING_ITEMS = 8, TOSTRING_BYTES = 24 }; /* shown: items, bytes of a string */

/* Pushes item i as tostring(l) shows it: strings quoted, cut and escaped for a terminal. */
static void pushshown(lua_State *L, const list *l, size_t i) {
  char shown[SHMLUA_ESCAPED_SIZE(TOSTRING_BYTES)];
  size_t len;
  const char *s;
  pushitem(L, l, l->b->addr, i);
  if (lua_type(L, -1) != LUA_TSTRING) {
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    return;
  }
  s = lua_tolstring(L, -1, &len);
  shmlua_escape(s, len < TOSTRING_BYTES ? len : TOSTRING_BYTES, shown, sizeof shown);
  lua_pushfstring(L, "\"%s%s\"", shown, len > TOSTRING_BYTES ? "..." : "");
  lua_remove(L, -2);
}

/* "shm.list: name (3 items) {10, "two", shm.null}": the first items, as arrays show theirs. */
static int list_tostring(lua_State *L) {
  list *l = checklist(L);
  const char *name = shmlua_pushname(L, &l->b->name);
  int top = lua_gettop(L);
  size_t count = l->layout.count;
  if (!l->b->addr) {
    lua_pushfstring(L, "shm.list: %s (closed)", name);
    return 1;
  }
  lua_pushfstring(L, "shm.list: %s (%I items) {", name, (LUAI_UACINT)count);
  /* A finalizer run by an allocation may close the block: look again before each item. */
  for (size_t i = 0; i < count && i < TOSTRING_ITEMS && l->b->addr; i++) {
    if (i > 0)
      lua_pushliteral(L, ", ");
    pushshown(L, l, i);
  }
  lua_pushstring(L, count > TOSTRING_ITEMS ? ", ...}" : "}");
  lua_concat(L, lua_gettop(L) - top);
  return 1;
}

/* How many items equal arg 2 (raw equality: 1 == 1.0, strings by value, shm.null by
   identity), and the position of the first (0 if none); with first_only, stops there. */
static size_t scan(lua_State *L, int first_only, size_t *first) {
  list *l = checklist(L);
  size_t count = 0;
  shmlua_blockaddr(L, l->b, 0);
  luaL_checkany(L, 2);
  *first = 0;
  for (size_t i = 0; i < l->layout.count && !(first_only && count > 0); i++) {
    /* Fetched per item: pushing a string may run a finalizer that closes the block. */
    pushitem(L, l, shmlua_blockaddr(L, l->b, 0), i);
    if (lua_rawequal(L, -1, 2) && count++ == 0)
      *first = i + 1;
    lua_pop(L, 1);
  }
  return count;
}

/* l:count(v) -> how many items equal v */
static int list_count(lua_State *L) {
  size_t first;
  lua_pushinteger(L, (lua_Integer)scan(L, 0, &first));
  return 1;
}

/* l:index(v) -> position of the first item equal to v, or fail (nil) */
static int list_indexof(lua_State *L) {
  size_t first;
  if (scan(L, 1, &first) == 0)
    luaL_pushfail(L);
  else
    lua_pushinteger(L, (lua_Integer)first);
  return 1;
}

static int list_release(lua_State *L) {
  shmlua_block_close(checklist(L)->b);
  return 0;
}

static int list_unlink(lua_State *L) {
  return shmlua_pushunlink(L, &checklist(L)->b->name);
}

static int null_tostring(lua_State *L) {
  lua_pushliteral(L, "shm.null");
  return 1;
}

void shmlua_open_list(lua_State *L) {
  static const luaL_Reg metamethods[] = {
      {"__newindex", list_newindex},       {"__len", list_len},
      {"__tostring", list_tostring},       {"__pairs", shmlua_sequence_pairs},
      {"__ipairs", shmlua_sequence_pairs}, {NULL, NULL}};
  static const luaL_Reg methods[] = {
      {"count", list_count}, {"index", list_indexof}, {"unlink", list_unlink}, {NULL, NULL}};
  shmlua_newclass(L, SHMLUA_LIST_MT, metamethods, methods, list_index);
  shmlua_setrelease(L, list_release, 0); /* no __gc: the block's own userdata has one */
  lua_pop(L, 1);

  lua_newuserdatauv(L, 0, 0); /* shm.null: one value, compared by identity */
  luaL_newmetatable(L, SHMLUA_NULL_MT);
  lua_pushcfunction(L, null_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &null_key);
  lua_setfield(L, -2, "null");

  lua_newtable(L); /* shm.list: callable, with attach */
  lua_getfield(L, -2, "attach");
  lua_pushcclosure(L, list_attach, 1);
  lua_setfield(L, -2, "attach");
  lua_newtable(L);
  lua_getfield(L, -3, "create");
  lua_pushcclosure(L, list_new, 1);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "list");
}
