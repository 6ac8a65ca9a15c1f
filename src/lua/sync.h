/* What the binding files of the synchronization objects share: one userdata layout, and
   create / attach / close / unlink / name / tostring written once (sync.c). */
#ifndef SHMLUA_LUA_SYNC_H
#define SHMLUA_LUA_SYNC_H

#include <errno.h>

#include "../core/barrier.h"
#include "../core/block.h"
#include "../core/dict.h"
#include "../core/fault.h"
#include "../core/queue.h"
#include "../core/sync_header.h"
#include "class.h"
#include "wait.h"

typedef struct shmlua_syncud shmlua_syncud;

/* One kind of object as the binding sees it. */
typedef struct shmlua_synclass {
  const char *tname; /* metatable name, "shm.mutex" */
  const shmlua_sync_type *type;
  /* After create or attach: 0, or -1 with err (the object is then closed); NULL if nothing
     to do. */
  int (*open)(shmlua_syncud *u, shmlua_error *err);
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
    shmlua_dict dict;
  } as;
  void *scratch; /* shmlua_sync_scratch's buffer (malloc) */
  size_t scratch_size;
  unsigned long scratch_uses; /* counts each handing out or freeing of scratch */
  /* A mutex's lock held through this handle (closing it unlocks): which taking of the lock
     it is, from holds, or 0 when not held; a guard releases only the one it took. */
  unsigned long held, holds;
  shmlua_fault fault; /* the last one shmlua_sync_guarded caught */
};

/* User value slots of the userdata: a cond keeps its mutex in SHMLUA_SYNC_UV_LINK, a queue
   its pop_many buffer. */
enum { SHMLUA_SYNC_UV_LINK = 1, SHMLUA_SYNC_NUV = 1 };

/* Registers the class and sets module field cls->tname's last part ("mutex") to a table
   that is callable (create) and has attach (attach may be NULL for the common one). */
void shmlua_sync_register(lua_State *L, const shmlua_synclass *cls, const luaL_Reg *methods,
                          lua_CFunction create, lua_CFunction attach);

/* Makes the object: name and options as shmlua_checkcreate (args.h) reads them.
   Pushes the userdata (1) or nil, message, errno (3). */
int shmlua_sync_create(lua_State *L, const shmlua_synclass *cls, int name_arg, int opts_arg,
                       const char *const allowed[], size_t layout_size,
                       int (*init)(void *, const void *, shmlua_error *),
                       const void *init_arg);

/* Attaches the object called name. Pushes it (1) or nil, message, errno (3). */
int shmlua_sync_attach(lua_State *L, const shmlua_synclass *cls, const shmlua_name *name);

/* The open object of class cls at arg; raises if it is not one or it is closed. Inline:
   it is most of the work of m:unlock() (one tag and two fields compared); the error is not. */
extern const char shmlua_sync_tag; /* its address is in the tag of every sync object */
shmlua_syncud *shmlua_sync_refuse(lua_State *L, int arg, const shmlua_synclass *cls);
static inline shmlua_syncud *shmlua_sync_check(lua_State *L, int arg,
                                               const shmlua_synclass *cls) {
  shmlua_syncud *u = shmlua_totagged(L, arg, sizeof *u, &shmlua_sync_tag);
  return u && u->cls == cls && u->block.addr ? u : shmlua_sync_refuse(L, arg, cls);
}

/* A core call's outcome as the errno a step (shmlua_sync_op) answers with: 0 when it went
   ahead, else the code the core left in err (core/error.h's rule: 0, or -1 and err). */
#define SHMLUA_OUTCOME(call, err) ((call) == 0 ? 0 : (err).code)

/* The kinds of call whose failures Lua gets as nil, word: one errno means one outcome per
   kind (EAGAIN is "full" for a push, "empty" for a pop). */
enum {
  SHMLUA_ON_WAIT = 1,    /* any wait: ETIMEDOUT "timeout" */
  SHMLUA_ON_LOCK = 2,    /* and EBUSY "busy", ENOTRECOVERABLE "not recoverable" */
  SHMLUA_ON_PUSH = 4,    /* and EAGAIN "full", EPIPE "closed" */
  SHMLUA_ON_POP = 8,     /* and EAGAIN "empty", EPIPE "closed" */
  SHMLUA_ON_BARRIER = 16 /* and EPIPE "broken" */
};
/* The word for code as an outcome of a call of that kind, or NULL when it is an error. */
const char *shmlua_sync_word(int code, int call);
/* Pushes nil, word for an outcome of call (returns 2); raises shmlua_sync_error's error for
   any other code. */
int shmlua_sync_result(lua_State *L, const shmlua_syncud *u, int code, int call);

/* What a step of a wait (shmlua_sync_op) returns when its object is closed. Lua code (a
   debug hook, a finalizer, Ctrl-C's path) runs between two steps of shmlua_sync_wait and
   may close the object, unmapping its block: each step looks first, never touching it then. */
#define SHMLUA_SYNC_CLOSED EBADF

/* Where a queue's pop or a dict's read copies bytes while the object is locked: the
   handle's scratch buffer (ud is the shmlua_syncud), grown with realloc, which fails with
   NULL instead of raising (a Lua error there would leave the lock held). Freed on close. */
void *shmlua_sync_scratch(void *ud, size_t len);
/* Frees that buffer (the next shmlua_sync_scratch makes a new one). */
void shmlua_sync_scratch_drop(shmlua_syncud *u);
/* Whatever Lua allocates may run a finalizer that closes u (freeing its scratch) or pops
   from it again (overwriting or moving it). Bytes read out of the scratch while Lua
   allocates (decoded into values) are read from this copy of them instead, pushed on the
   stack: a string where lua_pushlstring copies before it may collect (5.3, 5.4); else a
   full userdata, whose allocation may collect first, so this raises if u was closed or its
   scratch used again before the copy was made. Bytes elsewhere (the caller's own memory)
   are copied as they are. */
const char *shmlua_sync_scratch_hold(lua_State *L, shmlua_syncud *u, const char *data,
                                     size_t len);
/* Pushes those bytes as a string, the same way. */
void shmlua_sync_pushscratch(lua_State *L, shmlua_syncud *u, const char *data, size_t len);

/* What shmlua_sync_guarded returns when the block had no memory behind an address (the
   fault is in u->fault). */
#define SHMLUA_SYNC_FAULT EFAULT

/* Runs op(ctx, deadline) under a guard of u's block (core/fault.h); op follows the rules of
   guarded code. Returns what op returns, or SHMLUA_SYNC_FAULT. */
int shmlua_sync_guarded(shmlua_syncud *u, shmlua_sync_op op, void *ctx,
                        const struct timespec *deadline);

/* Raises "<kind> 'name': <strerror(code)>" for an unexpected failure, "<kind> 'name' is
   closed" once u is closed (a wait's SHMLUA_SYNC_CLOSED), or the fault error for
   SHMLUA_SYNC_FAULT. */
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
#define SHMLUA_QUEUE_MT "shm.queue"

/* Queues (queue.c) for the parts that add methods (queue_values.c): the open queue at arg;
   a push of len bytes (wait: first a try that does not wait, then for timeout seconds as
   shmlua_optseconds read them, NULL for ever), pushing what q:push returns;
   a pop that returns 0 with the message in *data (valid until the next pop through u), or
   pushes what a failed q:pop returns and returns its count. */
shmlua_syncud *shmlua_checkqueue(lua_State *L, int arg);
int shmlua_queue_put(lua_State *L, shmlua_syncud *u, const char *s, size_t len, int wait,
                     const double *timeout);
int shmlua_queue_get(lua_State *L, shmlua_syncud *u, int wait, const double *timeout,
                     const char **data, size_t *len);
/* After the message of shmlua_queue_get is used: a large pop buffer is not kept. */
void shmlua_queue_got(shmlua_syncud *u);
/* Pushes the value in that message, as q:get gives it (queue_values.c), and is done with the
   message; raises if it is not one value. */
int shmlua_queue_pushvalue(lua_State *L, shmlua_syncud *u, const char *data, size_t len);

/* Batches (queue_batch.c), as push_many and pop_many do them, for the parts that make the
   messages (queue_values.c). shmlua_queue_push_batch pushes n messages, a chunk at a time:
   at(L, ctx, from, count, room) gives messages from .. from + count - 1 (from 0) when their
   turn comes, written into room (count of them fit) or where it keeps them already (their
   bytes must stay put until the call returns), and pushes what push_many returns; its count. shmlua_queue_pop_batch takes
   pop_many's arguments (u at stack index 1, then t, n [, timeout]) and waits as it does: 0
   with the messages in *out (read them with shmlua_queue_next_record; valid until the next
   pop through u, and while the value it leaves on the stack above t stays there), or what a
   failed pop_many returns, pushed, and its count. */
typedef const shmlua_queue_message *(*shmlua_batch_at)(lua_State *L, void *ctx, size_t from,
                                                       size_t count,
                                                       shmlua_queue_message *room);
int shmlua_queue_push_batch(lua_State *L, shmlua_syncud *u, size_t n, shmlua_batch_at at,
                            void *ctx, const struct timespec *d);
typedef struct shmlua_popped {
  const void *records;
  size_t total, count, at;
  int buffer; /* the stack index of the userdata holding records */
  int keep;   /* whether the queue keeps that buffer for its next batch */
} shmlua_popped;
/* The buffer is the queue's no more while its records are read (a finalizer that pops from
   the queue then, as Lua allocates, fills a buffer of its own): shmlua_queue_batch_read gives
   it back. */
int shmlua_queue_pop_batch(lua_State *L, shmlua_syncud *u, shmlua_popped *out);
void shmlua_queue_batch_read(lua_State *L, const shmlua_popped *p);
/* The next message of a popped batch: 1 and its bytes, or 0 after the last. */
static inline int shmlua_queue_next_record(shmlua_popped *p, const void **data, size_t *len) {
  return shmlua_queue_record(p->records, p->total, &p->at, data, len);
}

#endif
