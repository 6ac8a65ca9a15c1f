/* What the binding files of the synchronization objects share: one userdata layout, and
   create / attach / close / unlink / name / tostring / waits written once (sync.c). */
#ifndef SHMLUA_LUA_SYNC_H
#define SHMLUA_LUA_SYNC_H

#include "../core/barrier.h"
#include "../core/queue.h"
#include "../core/sync_header.h"
#include "binding.h"

typedef struct shmlua_syncud shmlua_syncud;

/* One kind of object as the binding sees it. */
typedef struct shmlua_synclass {
  const char *tname; /* metatable name, "shm.mutex" */
  const shmlua_sync_type *type;
  void (*open)(shmlua_syncud *u);  /* after create or attach; NULL if nothing to do */
  void (*close)(shmlua_syncud *u); /* before unmapping; NULL if nothing to do */
  /* Pushes the field key and returns 1, or returns 0 if the kind has no such field. */
  int (*field)(lua_State *L, shmlua_syncud *u, const char *key);
} shmlua_synclass;

struct shmlua_syncud {
  shmlua_block block; /* block.addr is NULL once closed */
  const shmlua_synclass *cls;
  union {
    shmlua_queue queue;
    shmlua_barrier barrier;
  } as;
  void *scratch; /* a queue's pop buffer, from the Lua allocator */
  size_t scratch_size;
  int held; /* a mutex locked through this handle: closing it unlocks */
};

/* User value slots of the userdata. */
enum { SHMLUA_SYNC_UV_LINK = 1, SHMLUA_SYNC_NUV = 1 }; /* a cond keeps its mutex here */

/* Registers the class and sets module field cls->tname's last part ("mutex") to a table
   that is callable (create) and has attach (attach may be NULL for the common one). */
void shmlua_sync_register(lua_State *L, const shmlua_synclass *cls, const luaL_Reg *methods,
                          lua_CFunction create, lua_CFunction attach);

/* Makes the object: name and options as shmlua_checkcreate (binding.h) reads them.
   Pushes the userdata (1) or nil, message, errno (3). */
int shmlua_sync_create(lua_State *L, const shmlua_synclass *cls, int name_arg, int opts_arg,
                       const char *const allowed[], size_t layout_size,
                       int (*init)(void *, const void *, shmlua_error *), const void *init_arg);

/* Attaches the object called name. Pushes it (1) or nil, message, errno (3). */
int shmlua_sync_attach(lua_State *L, const shmlua_synclass *cls, const shmlua_name *name);

/* The open object of class cls at arg; raises if it is not one or it is closed. */
shmlua_syncud *shmlua_sync_check(lua_State *L, int arg, const shmlua_synclass *cls);

/* Raises "<kind> 'name': <strerror(code)>" for an unexpected failure. */
int shmlua_sync_error(lua_State *L, const shmlua_syncud *u, int code);

/* For cond: the open mutex at arg (raises otherwise), and its pthread mutex. */
shmlua_syncud *shmlua_mutex_check(lua_State *L, int arg);
pthread_mutex_t *shmlua_mutex_of(shmlua_syncud *m);
/* Attaches the mutex called name, as shm.mutex.attach. */
int shmlua_mutex_attach(lua_State *L, const shmlua_name *name);
/* Takes m back after a cond wait: without a time limit and without giving way to Ctrl-C
   (the caller must hold it again whatever happens, as with pthread_cond_wait); pushes what
   m:lock() returns. */
int shmlua_mutex_relock(lua_State *L, shmlua_syncud *m);

#define SHMLUA_MUTEX_MT "shm.mutex"

/* Queues (queue.c) for the parts that add methods (queue_values.c): the open queue at arg;
   a push of len bytes (wait: until deadline, NULL for ever), pushing what q:push returns;
   a pop that returns 0 with the message in *data (valid until the next pop through u), or
   pushes what a failed q:pop returns and returns its count. */
shmlua_syncud *shmlua_checkqueue(lua_State *L, int arg);
int shmlua_queue_put(lua_State *L, shmlua_syncud *u, const char *s, size_t len, int wait,
                     const struct timespec *deadline);
int shmlua_queue_get(lua_State *L, shmlua_syncud *u, int wait, const struct timespec *deadline,
                     const char **data, size_t *len);

/* The parts, each a file; shmlua_open_sync (binding.h) calls them all. */
void shmlua_open_mutex(lua_State *L);
void shmlua_open_semaphore(lua_State *L);
void shmlua_open_barrier(lua_State *L);
void shmlua_open_event(lua_State *L);
void shmlua_open_cond(lua_State *L);
void shmlua_open_queue(lua_State *L);
void shmlua_open_queue_values(lua_State *L); /* q:put, q:get... on the queue's class */

#endif
