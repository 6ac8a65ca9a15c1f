/* Classes (metatables registered once, methods via __index) and tagged userdata: how a
   binding file defines its type and recognises its objects. */
#ifndef SHMLUA_CLASS_H
#define SHMLUA_CLASS_H

#include <stddef.h>
#include <stdint.h>

#include "argcheck.h"
#include "compat.h"

/* The classes other files name (messages, LuaJIT's FFI access, introspection). */
#define SHMLUA_BLOCK_MT "shm.block"
#define SHMLUA_BUF_MT "shm.buf"
#define SHMLUA_PROCESS_MT "shm.process"
#define SHMLUA_ARRAY_MT "shm.array"
#define SHMLUA_LIST_MT "shm.list"

/* Metatables whose __index is a function keep their methods in a table at this key. */
#define SHMLUA_METHODS "__methods"

/* Registers a metatable named tname and leaves it on the stack. Its metamethods, and index
   (an __index C function) if given, get the methods table as upvalue 1; if index is NULL,
   the methods table is __index. */
void shmlua_newclass(lua_State *L, const char *tname, const luaL_Reg *metamethods,
                     const luaL_Reg *methods, lua_CFunction index);

/* For the class whose metatable is on top: release (closes the object at 1 silently, and
   does nothing once it is closed) becomes __close, also __gc if gc, and the close method,
   which returns true after it. */
void shmlua_setrelease(lua_State *L, lua_CFunction release, int gc);

/* Adds methods to a class made by shmlua_newclass (so a part can extend another's type). */
void shmlua_addmethods(lua_State *L, const char *tname, const luaL_Reg *methods);

/* If the value at idx has the metatable of a class made by shmlua_newclass, pushes the
   class's name without "shm." ("block") and returns 1; otherwise pushes nothing, 0. Reads
   the metatable raw: no metamethod runs. */
int shmlua_pushclassof(lua_State *L, int idx);

/* A zeroed userdata of size bytes whose metatable tname (made on first use) has gc as __gc:
   C memory it points to is freed even when a Lua error stops the function using it. */
void *shmlua_newscratch(lua_State *L, size_t size, const char *tname, lua_CFunction gc);

/* For the hottest paths (element access, sync calls): a userdata made by shmlua_newtagged
   ends with a tag, its own address mixed with the address of a static object unique to its
   class; shmlua_totagged compares the length and the tag: no metatable lookup, no push.
   Another userdata cannot carry the tag by accident, not even one given the class's
   metatable through the debug library (which fools luaL_checkudata). */
#define SHMLUA_TAGGED_SIZE(size)                                                              \
  (((size) + sizeof(uintptr_t) - 1) / sizeof(uintptr_t) * sizeof(uintptr_t) +                 \
   sizeof(uintptr_t))

static inline uintptr_t *shmlua_tagof(void *ud, size_t size) {
  return (uintptr_t *)((char *)ud + SHMLUA_TAGGED_SIZE(size)) - 1;
}

/* Pushes a new userdata of size bytes (plus the tag) with nuv user values; tag: the
   address of its class's static object. */
static inline void *shmlua_newtagged(lua_State *L, size_t size, int nuv, const void *tag) {
  void *ud = lua_newuserdatauv(L, SHMLUA_TAGGED_SIZE(size), nuv);
  *shmlua_tagof(ud, size) = (uintptr_t)ud ^ (uintptr_t)tag;
  return ud;
}

/* The userdata at arg if shmlua_newtagged made it with tag and size; otherwise NULL. */
static inline void *shmlua_totagged(lua_State *L, int arg, size_t size, const void *tag) {
  void *ud = lua_touserdata(L, arg);
  if (ud && lua_rawlen(L, arg) == SHMLUA_TAGGED_SIZE(size) &&
      *shmlua_tagof(ud, size) == ((uintptr_t)ud ^ (uintptr_t)tag))
    return ud;
  return NULL;
}

/* The same, raising a type error that expects tname when arg is not one: how every method
   and metamethod of a tagged class checks its object. */
static inline void *shmlua_checktagged(lua_State *L, int arg, size_t size, const void *tag,
                                       const char *tname) {
  void *ud = shmlua_totagged(L, arg, size, tag);
  if (!ud)
    luaL_typeerror(L, arg, tname);
  return ud;
}

#endif
