/* The module's parts, each a file: each adds its functions to the module table on top of the
   stack. module.c calls them all, in an order where a part comes after those it extends. */
#ifndef SHMLUA_PARTS_H
#define SHMLUA_PARTS_H

#include "compat.h"

void shmlua_open_block(lua_State *L);
void shmlua_open_buf(lua_State *L);
/* The synchronization objects (sync.c's plumbing). */
void shmlua_open_mutex(lua_State *L);
void shmlua_open_semaphore(lua_State *L);
void shmlua_open_barrier(lua_State *L);
void shmlua_open_event(lua_State *L);
void shmlua_open_cond(lua_State *L);
void shmlua_open_queue(lua_State *L);
/* After queue: they add methods to its class. */
void shmlua_open_queue_batch(lua_State *L);  /* q:push_many, q:pop_many */
void shmlua_open_queue_view(lua_State *L);   /* q:view */
void shmlua_open_queue_values(lua_State *L); /* q:put, q:get */
void shmlua_open_dict(lua_State *L);
void shmlua_open_proc(lua_State *L);
void shmlua_open_map(lua_State *L);
void shmlua_open_listing(lua_State *L);
void shmlua_open_array(lua_State *L);
/* After array and map: adds to arrays, shm.parallel. */
void shmlua_open_arrayops(lua_State *L);
void shmlua_open_pack(lua_State *L); /* after buf: adds buf:pack, buf:unpack */
void shmlua_open_list(lua_State *L);
void shmlua_open_hexdump(lua_State *L); /* after buf: adds buf:hexdump */
void shmlua_open_watch(lua_State *L);
void shmlua_open_jit(lua_State *L); /* after buf and array: LuaJIT's FFI element access */
/* Remembers the module table (objects received are attached through it) and sets the key
   that functions sent within this family of processes carry. */
void shmlua_open_serial(lua_State *L);
void shmlua_open_pool(lua_State *L); /* shm.pool, from lua/shm/pool.lua */
void shmlua_open_inspect(lua_State *L);
void shmlua_open_help(lua_State *L);
void shmlua_open_complete(lua_State *L);

#endif
