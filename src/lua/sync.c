/* The plumbing every synchronization object shares: shm.<kind>(...) and .attach, close,
   unlink, name, closed, tostring, __gc/__close, guarded steps and their errors (the waits
   themselves are wait.c's). */
#include "sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/sync_wait.h"
#include "args.h"
#include "blockaccess.h"
#include "class.h"
#include "wait.h"

static const char *kindname(const shmlua_syncud *u) {
  return u->cls->type->name;
}

/* Its address is in the tag of every object (class.h: shmlua_newtagged), so the methods, the
   hot paths of a lock or a queue, recognise an object with no metatable lookup. */
const char shmlua_sync_tag;

static int object_field(lua_State *L);

/* Copies the raw fields of the table at from into the table at to. */
static void copyfields(lua_State *L, int from, int to) {
  lua_pushnil(L);
  while (lua_next(L, from)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, to);
  }
}

/* Gives the object on top a metatable of its own: its class's, with "__class" naming that
   one (shmlua_pushclassof), and as __index a table of the class's methods whose own __index
   finds the object's fields (object_field, the object as upvalue). So obj:method() finds its
   method by table lookups alone: a C __index costs two C calls' worth per lookup (a third of
   m:lock() + m:unlock(), callgrind). */
static void ownmetatable(lua_State *L, const shmlua_synclass *cls) {
  int obj = lua_gettop(L), class_mt = obj + 1, mt = obj + 2;
  luaL_getmetatable(L, cls->tname);
  lua_createtable(L, 0, 8);
  copyfields(L, class_mt, mt);
  lua_pushvalue(L, class_mt);
  lua_setfield(L, mt, "__class");
  lua_getfield(L, class_mt, SHMLUA_METHODS);
  lua_createtable(L, 0, 16);
  copyfields(L, mt + 1, mt + 2);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, obj);
  lua_pushcclosure(L, object_field, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_setfield(L, mt, "__index");
  lua_pop(L, 1); /* the class's methods */
  lua_setmetatable(L, obj);
  lua_pop(L, 1); /* the class's metatable */
}

static shmlua_syncud *newud(lua_State *L, const shmlua_synclass *cls) {
  shmlua_syncud *u = shmlua_newtagged(L, sizeof *u, SHMLUA_SYNC_NUV, &shmlua_sync_tag);
  memset(u, 0, sizeof *u);
  u->cls = cls;
  ownmetatable(L, cls);
  return u;
}

/* The object on top, just mapped, made ready by its class: 1, or nil, message, errno (3)
   with the block closed (and unlinked if this call created it). */
static int opened(lua_State *L, shmlua_syncud *u, int created) {
  shmlua_error err;
  if (!u->cls->open || u->cls->open(u, &err) == 0)
    return 1;
  if (created)
    shmlua_unlink(&u->block.name, NULL);
  shmlua_block_close(&u->block);
  return shmlua_oserror(L, &err);
}

int shmlua_sync_create(lua_State *L, const shmlua_synclass *cls, int name_arg, int opts_arg,
                       const char *const allowed[], size_t layout_size,
                       int (*init)(void *, const void *, shmlua_error *),
                       const void *init_arg) {
  shmlua_name name;
  shmlua_create_opts opts;
  const shmlua_name *given = shmlua_checkcreate(L, name_arg, opts_arg, allowed, &name, &opts);
  shmlua_error err;
  shmlua_syncud *u = newud(L, cls);
  if (shmlua_sync_block_create(&u->block, cls->type, given, layout_size, &opts, init, init_arg,
                               &err) != 0)
    return shmlua_oserror(L, &err);
  return opened(L, u, 1);
}

int shmlua_sync_attach(lua_State *L, const shmlua_synclass *cls, const shmlua_name *name) {
  shmlua_error err;
  shmlua_syncud *u = newud(L, cls);
  if (shmlua_sync_block_attach(&u->block, cls->type, name, &err) != 0)
    return shmlua_oserror(L, &err);
  return opened(L, u, 0);
}

static shmlua_syncud *checkany(lua_State *L, int arg) {
  return shmlua_checktagged(L, arg, sizeof(shmlua_syncud), &shmlua_sync_tag,
                            "shm synchronization object");
}

static int closederror(lua_State *L, const shmlua_syncud *u) {
  return luaL_error(L, "%s '%s' is closed", kindname(u), shmlua_name_user(&u->block.name));
}

shmlua_syncud *shmlua_sync_refuse(lua_State *L, int arg, const shmlua_synclass *cls) {
  shmlua_syncud *u = shmlua_totagged(L, arg, sizeof *u, &shmlua_sync_tag);
  if (!u || u->cls != cls)
    luaL_typeerror(L, arg, cls->tname);
  closederror(L, u);
  return NULL;
}

/* close, __gc and __close. */
static int sync_release(lua_State *L) {
  shmlua_syncud *u = checkany(L, 1);
  if (!u->block.addr)
    return 0;
  if (u->cls->close)
    u->cls->close(u);
  shmlua_sync_scratch_drop(u);
  shmlua_block_close(&u->block);
  return 0;
}

void shmlua_sync_scratch_drop(shmlua_syncud *u) {
  free(u->scratch);
  u->scratch = NULL;
  u->scratch_size = 0;
  u->scratch_uses++;
}

const char *shmlua_sync_scratch_hold(lua_State *L, shmlua_syncud *u, const char *data,
                                     size_t len) {
#if SHMLUA_PUSH_COLLECTS_FIRST
  const char *base = u->scratch;
  unsigned long uses = u->scratch_uses;
  int inside = base && data >= base && data - base <= (ptrdiff_t)u->scratch_size;
  size_t at = inside ? (size_t)(data - base) : 0;
  char *copy = lua_newuserdatauv(L, len, 0); /* collects first: data may be gone after it */
  if (inside) {
    if (!u->block.addr)
      closederror(L, u);
    if (u->scratch_uses != uses)
      luaL_error(L,
                 "%s '%s' was used while a message taken from it was read (by a finalizer?)",
                 kindname(u), shmlua_name_user(&u->block.name));
    data = (const char *)u->scratch + at;
  }
  if (len > 0)
    memcpy(copy, data, len);
  return copy;
#else
  (void)u;
  /* copies before it may collect; returns the string's own bytes */
  return lua_pushlstring(L, data, len);
#endif
}

void shmlua_sync_pushscratch(lua_State *L, shmlua_syncud *u, const char *data, size_t len) {
  const char *held = shmlua_sync_scratch_hold(L, u, data, len);
#if SHMLUA_PUSH_COLLECTS_FIRST
  lua_pushlstring(L, held, len);
  lua_remove(L, -2);
#else
  (void)held; /* the string itself */
#endif
}

void *shmlua_sync_scratch(void *ud, size_t len) {
  shmlua_syncud *u = ud;
  void *p;
  u->scratch_uses++;
  if (len <= u->scratch_size)
    return u->scratch ? u->scratch : u; /* any non-NULL pointer for an empty one */
  if (!(p = realloc(u->scratch, len)))
    return NULL;
  u->scratch = p;
  u->scratch_size = len;
  return p;
}

static int sync_unlink(lua_State *L) {
  return shmlua_pushunlink(L, &checkany(L, 1)->block.name);
}

static int sync_tostring(lua_State *L) {
  shmlua_syncud *u = checkany(L, 1);
  lua_pushfstring(L, "shm.%s: %s%s", kindname(u), shmlua_name_user(&u->block.name),
                  u->block.addr ? "" : " (closed)");
  return 1;
}

/* The field of u at key (index 2): name, closed, or its class's own; nil if none. */
static int pushfield(lua_State *L, shmlua_syncud *u) {
  const char *key = lua_tostring(L, 2);
  if (lua_type(L, 2) != LUA_TSTRING)
    lua_pushnil(L);
  else if (strcmp(key, "name") == 0)
    lua_pushstring(L, shmlua_name_user(&u->block.name));
  else if (strcmp(key, "closed") == 0)
    lua_pushboolean(L, u->block.addr == NULL);
  else if (!(u->cls->field && u->block.addr && u->cls->field(L, u, key)))
    lua_pushnil(L);
  return 1;
}

/* The __index of an object's own methods table, for a key that is no method: its fields
   (the object in the table's place, where the classes' field functions look for it). */
static int object_field(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_replace(L, 1);
  return pushfield(L, lua_touserdata(L, 1));
}

/* The class's metatable's __index, which only a userdata given that metatable by other means
   (debug.setmetatable) meets: methods first, then the fields of a real object. */
static int sync_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
    return 1;
  return pushfield(L, checkany(L, 1));
}

/* shm.mutex(...) is a call of the table shm.mutex: drop the table and create, in this same
   call so that errors name it ("bad argument #1 to 'mutex'"), which a lua_call would not. */
static int call_create(lua_State *L) {
  lua_CFunction create = lua_tocfunction(L, lua_upvalueindex(1));
  lua_remove(L, 1);
  return create(L);
}

/* The common attach: the class descriptor is upvalue 1. */
static int common_attach(lua_State *L) {
  static const char *const none[] = {NULL}; /* (name [, opts]) as everywhere; no option yet */
  shmlua_name name;
  shmlua_checkname(L, 1, &name);
  shmlua_checkopts(L, 2, none);
  return shmlua_sync_attach(L, lua_touserdata(L, lua_upvalueindex(1)), &name);
}

void shmlua_sync_register(lua_State *L, const shmlua_synclass *cls, const luaL_Reg *methods,
                          lua_CFunction create, lua_CFunction attach) {
  static const luaL_Reg metamethods[] = {{"__tostring", sync_tostring}, {NULL, NULL}};
  static const luaL_Reg common[] = {{"unlink", sync_unlink}, {NULL, NULL}};
  static const luaL_Reg none[] = {{NULL, NULL}};
  shmlua_newclass(L, cls->tname, metamethods, none, sync_index);
  shmlua_setrelease(L, sync_release, 1);
  lua_getfield(L, -1, SHMLUA_METHODS);
  luaL_setfuncs(L, common, 0);
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 2);
  lua_newtable(L); /* shm.<kind> */
  if (attach)
    lua_pushcfunction(L, attach);
  else {
    lua_pushlightuserdata(L, (void *)cls);
    lua_pushcclosure(L, common_attach, 1);
  }
  lua_setfield(L, -2, "attach");
  lua_newtable(L);
  lua_pushcfunction(L, create);
  lua_pushcclosure(L, call_create, 1);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, strchr(cls->tname, '.') + 1);
}

/* The one table of outcomes and their words (sync.h: SHMLUA_ON_*). */
static const struct outcome {
  int code, calls;
  const char *word;
} outcomes[] = {
    {ETIMEDOUT,
     SHMLUA_ON_WAIT | SHMLUA_ON_LOCK | SHMLUA_ON_PUSH | SHMLUA_ON_POP | SHMLUA_ON_BARRIER,
     "timeout"},
    {EBUSY, SHMLUA_ON_LOCK, "busy"},
    {ENOTRECOVERABLE, SHMLUA_ON_LOCK, "not recoverable"},
    {EAGAIN, SHMLUA_ON_PUSH, "full"},
    {EAGAIN, SHMLUA_ON_POP, "empty"},
    {EPIPE, SHMLUA_ON_PUSH | SHMLUA_ON_POP, "closed"},
    {EPIPE, SHMLUA_ON_BARRIER, "broken"},
};

const char *shmlua_sync_word(int code, int call) {
  for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++)
    if (outcomes[i].code == code && (outcomes[i].calls & call))
      return outcomes[i].word;
  return NULL;
}

int shmlua_sync_result(lua_State *L, const shmlua_syncud *u, int code, int call) {
  const char *word = shmlua_sync_word(code, call);
  return word ? shmlua_sync_fail(L, word) : shmlua_sync_error(L, u, code);
}

int shmlua_sync_guarded(shmlua_syncud *u, shmlua_sync_op op, void *ctx,
                        const struct timespec *deadline) {
  shmlua_guard g;
  int rc = SHMLUA_SYNC_FAULT, *out = &rc;
  SHMLUA_GUARD_BEGIN(g, &u->block, NULL)
  *out = op(ctx, deadline);
  SHMLUA_GUARD_END(g);
  u->fault = g.fault;
  return g.fault.block ? SHMLUA_SYNC_FAULT : rc;
}

int shmlua_sync_error(lua_State *L, const shmlua_syncud *u, int code) {
  if (!u->block.addr)
    return closederror(L, u);
  if (code == SHMLUA_SYNC_FAULT && u->fault.block)
    return shmlua_faulterror(L, &u->fault);
  return luaL_error(L, "%s '%s': %s", kindname(u), shmlua_name_user(&u->block.name),
                    strerror(code));
}
