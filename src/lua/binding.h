/* What the binding files share: the module's parts, and helpers for arguments and errors. */
#ifndef SHMLUA_BINDING_H
#define SHMLUA_BINDING_H

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "compat.h"

#include "../core/block.h"
#include "../core/fault.h"
#include "../core/proc.h"

#define SHMLUA_BLOCK_MT "shm.block"
#define SHMLUA_BUF_MT "shm.buf"
#define SHMLUA_PROCESS_MT "shm.process"
#define SHMLUA_ARRAY_MT "shm.array"
#define SHMLUA_LIST_MT "shm.list"

/* Each part adds its functions to the module table on top of the stack. */
void shmlua_open_block(lua_State *L);
void shmlua_open_buf(lua_State *L);
void shmlua_open_sync(lua_State *L); /* mutex, semaphore, barrier, event, cond, queue, dict */
void shmlua_open_proc(lua_State *L);
void shmlua_open_map(lua_State *L);
void shmlua_open_listing(lua_State *L);
void shmlua_open_array(lua_State *L);
void shmlua_open_arrayops(lua_State *L); /* after array and map: adds to arrays, shm.parallel */
void shmlua_open_pack(lua_State *L); /* after buf: adds buf:pack, buf:unpack */
/* string.unpack (at index unpack) of the format on top of the stack over size bytes from
   position start (1-based, checked), without a string of them all: push(L, src, at, len)
   pushes bytes at..at+len as a string, for windows that start aligned as the bytes do and
   grow until the values fit. Returns the number of results (the values, then the position
   after them), or -1 when the bytes end before the values (the message left on top).
   Other errors of string.unpack are raised as argument errors of the caller. */
int shmlua_unpack_window(lua_State *L, int unpack, size_t size, size_t start,
                         void (*push)(lua_State *L, void *src, size_t at, size_t len), void *src);
void shmlua_open_list(lua_State *L);
void shmlua_open_hexdump(lua_State *L); /* after buf: adds buf:hexdump */
void shmlua_open_watch(lua_State *L);
void shmlua_open_jit(lua_State *L); /* after buf and array: LuaJIT's FFI element access */
/* Under LuaJIT (jit.c; nothing elsewhere): tells the FFI element access of a new view at
   index view (a buf: dtype -1; an array: its 0-based dtype, byte offset of element 1, count
   and byte stride) of the block userdata at index block. The FFI code checks the block's
   live address before each access, which close and a lost page clear (fault.h). */
void shmlua_jit_track(lua_State *L, int view, int block, int dtype, size_t offset,
                      size_t count, ptrdiff_t stride);
void shmlua_open_pool(lua_State *L); /* shm.pool, from lua/shm/pool.lua */
void shmlua_open_inspect(lua_State *L);
void shmlua_open_help(lua_State *L);
void shmlua_open_complete(lua_State *L);
/* shm.inspect, shm.help and shm.complete, which the shmlua REPL also calls directly. */
int shmlua_inspect(lua_State *L);
int shmlua_help(lua_State *L);
int shmlua_complete(lua_State *L);
/* Lua's reserved words (NULL-terminated); whether c may be in a name (first: start it); whether
   s (len bytes) is a name: an identifier that is not a reserved word. */
extern const char *const shmlua_keywords[];
int shmlua_isnamechar(char c, int first);
int shmlua_isname(const char *s, size_t len);
/* Appends bytes p[0..n) as xxd's lines, offsets counted from offset; bytes that differ from
   before[k] (before may be NULL) in reverse video. For buf:hexdump and shm.watch. */
void shmlua_hexdump(luaL_Buffer *out, size_t offset, const unsigned char *p, size_t n,
                    const unsigned char *before);

/* Metatables whose __index is a function keep their methods in a table at this key. */
#define SHMLUA_METHODS "__methods"

/* Registers a metatable named tname and leaves it on the stack. Its metamethods, and index
   (an __index C function) if given, get the methods table as upvalue 1; if index is NULL,
   the methods table is __index. */
void shmlua_newclass(lua_State *L, const char *tname, const luaL_Reg *metamethods,
                     const luaL_Reg *methods, lua_CFunction index);

/* For the hottest paths (element access, sync calls): a userdata made by shmlua_newtagged
   ends with a tag, its own address mixed with the address of a static object unique to its
   class; shmlua_totagged compares the length and the tag: no metatable lookup, no push.
   Another userdata cannot carry the tag by accident, not even one given the class's
   metatable through the debug library (which fools luaL_checkudata). */
#define SHMLUA_TAGGED_SIZE(size) \
  (((size) + sizeof(uintptr_t) - 1) / sizeof(uintptr_t) * sizeof(uintptr_t) + sizeof(uintptr_t))

static inline uintptr_t *shmlua_tagof(void *ud, size_t size) {
  return (uintptr_t *)((char *)ud + SHMLUA_TAGGED_SIZE(size)) - 1;
}

/* Pushes a new userdata of size bytes (plus the tag) with nuv user values. */
static inline void *shmlua_newtagged(lua_State *L, size_t size, int nuv, const void *class) {
  void *ud = lua_newuserdatauv(L, SHMLUA_TAGGED_SIZE(size), nuv);
  *shmlua_tagof(ud, size) = (uintptr_t)ud ^ (uintptr_t)class;
  return ud;
}

/* The userdata at arg if shmlua_newtagged made it for class and size; otherwise NULL. */
static inline void *shmlua_totagged(lua_State *L, int arg, size_t size, const void *class) {
  void *ud = lua_touserdata(L, arg);
  if (ud && lua_rawlen(L, arg) == SHMLUA_TAGGED_SIZE(size) &&
      *shmlua_tagof(ud, size) == ((uintptr_t)ud ^ (uintptr_t)class))
    return ud;
  return NULL;
}

/* If the value at idx has the metatable of a class made by shmlua_newclass, pushes the
   class's name without "shm." ("block") and returns 1; otherwise pushes nothing, 0. Reads
   the metatable raw: no metamethod runs. */
int shmlua_pushclassof(lua_State *L, int idx);

/* Adds methods to a class made by shmlua_newclass (so a part can extend another's type). */
void shmlua_addmethods(lua_State *L, const char *tname, const luaL_Reg *methods);

/* A zeroed userdata of size bytes whose metatable tname (made on first use) has gc as __gc:
   C memory it points to is freed even when a Lua error stops the function using it. */
void *shmlua_newscratch(lua_State *L, size_t size, const char *tname, lua_CFunction gc);

/* Pushes the string at index idx as an error message quotes it: at most 32 bytes, then
   "..." (a script may pass megabytes). Returns it. */
const char *shmlua_pushquoted(lua_State *L, int idx);

/* Pushes a block's name as a message shows it: bytes a terminal would act on escaped, as
   `ls -b` shows them (a name may hold any byte but '/' and NUL). Returns it. */
const char *shmlua_pushname(lua_State *L, const shmlua_name *name);

/* Pushes nil, message, errno as io.open does; returns 3. */
int shmlua_oserror(lua_State *L, const shmlua_error *err);

/* luaL_argerror, also naming a method of a shm class that Lua cannot name (one called by
   pcall or from C: "bad argument #2 to 'array'" where lauxlib says '?'). */
int shmlua_argerror(lua_State *L, int arg, const char *extramsg);
/* luaL_typeerror through shmlua_argerror. */
int shmlua_typeerror(lua_State *L, int arg, const char *tname);

/* lauxlib's argument checks, raising through shmlua_argerror (argcheck.c), so that every
   "bad argument" names what it can on every Lua: `pcall(m.lock, 1)` says 'lock', and
   `pcall(shm.create, "x")` 'shm.create' on 5.1 and LuaJIT too, as 5.4 says it. The binding
   calls the lauxlib names; these macros send them here. */
const char *shmlua_checklstring(lua_State *L, int arg, size_t *len);
lua_Number shmlua_checknumber(lua_State *L, int arg);
lua_Integer shmlua_checkinteger(lua_State *L, int arg);
lua_Integer shmlua_optinteger(lua_State *L, int arg, lua_Integer def);
void shmlua_checktype(lua_State *L, int arg, int type);
void shmlua_checkany(lua_State *L, int arg);
void *shmlua_checkudata(lua_State *L, int arg, const char *tname);
#undef luaL_typeerror /* compat.h's, before 5.4 */
#define luaL_argerror(L, arg, extramsg) shmlua_argerror(L, arg, extramsg)
#define luaL_typeerror(L, arg, tname) shmlua_typeerror(L, arg, tname)
#define luaL_checklstring(L, arg, len) shmlua_checklstring(L, arg, len)
#define luaL_checknumber(L, arg) shmlua_checknumber(L, arg)
#define luaL_checkinteger(L, arg) shmlua_checkinteger(L, arg)
#define luaL_optinteger(L, arg, def) shmlua_optinteger(L, arg, def)
#define luaL_checktype(L, arg, type) shmlua_checktype(L, arg, type)
#define luaL_checkany(L, arg) shmlua_checkany(L, arg)
#define luaL_checkudata(L, arg, tname) shmlua_checkudata(L, arg, tname)

/* A string argument that is a valid block name; raises an argument error otherwise. */
void shmlua_checkname(lua_State *L, int arg, shmlua_name *out);

/* An integer argument as luaL_checkinteger takes it (3 or 3.0; 1.5 raises "number has no
   integer representation"), but never a numeric string. Without native integers (5.1, 5.2,
   LuaJIT) only up to 2^53: larger numbers raise rather than round. */
lua_Integer shmlua_checkint(lua_State *L, int arg);
lua_Integer shmlua_optint(lua_State *L, int arg, lua_Integer def);
/* Pushes an integer read from memory or computed (64-bit elements, atomics, sums); without
   native integers one beyond 2^53 raises instead of being rounded. */
#if SHMLUA_NATIVE_INTEGERS
#define shmlua_pushint lua_pushinteger
#else
void shmlua_pushint(lua_State *L, lua_Integer v);
#endif

/* Options table at arg (or nil): raises on keys not in allowed (NULL-terminated). */
void shmlua_checkopts(lua_State *L, int arg, const char *const allowed[]);
/* Field of an options table at arg, or def when absent. */
lua_Integer shmlua_optfield_int(lua_State *L, int arg, const char *key, lua_Integer def);
int shmlua_optfield_bool(lua_State *L, int arg, const char *key, int def);
/* For a constructor that takes its name among its options: pushes opts[key] (opts at arg)
   after checking that it is a valid block name, or nil when absent. Errors name the option. */
void shmlua_pushoptname(lua_State *L, int arg, const char *key);
/* What every shm.<kind>(...) that makes a block takes: an optional name at name_arg (nil:
   random) and options at opts_arg, of which mode and keep are read into opts (allowed: the
   keys accepted; NULL for just those two). Returns name, filled, or NULL for a random one. */
const shmlua_name *shmlua_checkcreate(lua_State *L, int name_arg, int opts_arg,
                                      const char *const allowed[], shmlua_name *name,
                                      shmlua_create_opts *opts);

/* The run i..j of len elements as string.sub takes it (lstrlib.c's posrelatI and getendpos:
   1-based, negative from the end, j clamped to len): returns its length (0 when empty) and
   sets *first to its 0-based start. *first may be len or more when the run is empty (i past
   the end is not clamped, as in lstrlib.c). */
size_t shmlua_range(lua_Integer i, lua_Integer j, size_t len, size_t *first);
/* A single element position: 1..len or -len..-1; raises "index out of range" otherwise. */
size_t shmlua_checkindex(lua_State *L, lua_Integer pos, size_t len);
/* __pairs of the views indexed like sequences (buf, arrays, lists), whose element #v + 1
   reads as nil: the elements in index order, as ipairs gives them. Their __ipairs too, for
   5.2's ipairs, which does not follow __index (5.3+ do; 5.1's and LuaJIT's take neither). */
int shmlua_sequence_pairs(lua_State *L);
/* Where a run of elements may start: as shmlua_checkindex, or len + 1 (an empty run). */
size_t shmlua_checkstart(lua_State *L, lua_Integer pos, size_t len);

/* Ctrl-C (interrupt.c). */

/* Call after a blocking wait in C returned EINTR: if a signal handler asked the interpreter
   to stop (lua.c and shmlua set a hook on Ctrl-C), this raises that error ("interrupted!")
   now instead of at the next Lua instruction, so a wait never swallows Ctrl-C. The caller
   must hold nothing that needs freeing. Otherwise returns and the wait may go on. */
void shmlua_checkinterrupt(lua_State *L);
/* co starts (or resumes) running; returns the thread that ran until now (NULL if nobody
   said), to give back to shmlua_running_leave when co stops. Whoever resumes a coroutine
   calls these around lua_resume, so that shmlua_interrupt reaches code running in it. */
lua_State *shmlua_running_enter(lua_State *co);
void shmlua_running_leave(lua_State *co, lua_State *outer);
/* Closes the pending to-be-closed variables of co (after an error), co running meanwhile;
   returns the status of lua_closethread. */
int shmlua_running_close(lua_State *co, lua_State *L);
/* For a SIGINT handler (async-signal-safe): the running thread raises "interrupted!" at its
   next step, or in its wait (shmlua_checkinterrupt). An interrupt not taken when its thread
   leaves goes on to the outer one; with none (the host's call is over) it is dropped. */
void shmlua_interrupt(void);

/* Calls the function below the nargs arguments on top (as lua_call) and returns what k
   returns, k being what the calling C function does after the call. Where Lua has
   continuations (5.3 on: lua_callk) the function called may yield: Lua then calls k itself
   when the coroutine resumes. Without them a yield raises, as across any C call. */
#if LUA_VERSION_NUM >= 503
static inline int shmlua_callk(lua_State *L, int nargs, int nresults, lua_KContext ctx,
                               lua_KFunction k) {
  lua_callk(L, nargs, nresults, ctx, k);
  return k(L, LUA_OK, ctx);
}
#else
typedef ptrdiff_t lua_KContext;
typedef int (*lua_KFunction)(lua_State *L, int status, lua_KContext ctx);
static inline int shmlua_callk(lua_State *L, int nargs, int nresults, lua_KContext ctx,
                               lua_KFunction k) {
  lua_call(L, nargs, nresults);
  return k(L, LUA_OK, ctx);
}
#endif

/* Optional timeout in seconds at arg: NULL (nil: no limit) or deadline, filled. */
const struct timespec *shmlua_opttimeout(lua_State *L, int arg, struct timespec *deadline);
/* The same checks without reading the clock, for calls that try once before they wait:
   NULL (no limit) or seconds, filled; shmlua_sync_wait_for makes the deadline if a wait
   comes. */
const double *shmlua_optseconds(lua_State *L, int arg, double *seconds);

/* Blocking waits (sync.c): the synchronization objects, a:wait, process handles. */

/* One blocking step of a wait, until deadline: returns 0, an errno, or EINTR. */
typedef int (*shmlua_sync_op)(void *ctx, const struct timespec *deadline);

/* Runs op until it returns something other than EINTR, letting Ctrl-C raise in between.
   A signal that lands outside the wait's system call gives no EINTR, so op is run in short
   slices (sliced: op gets a deadline at most 0.1 s away) or returns EINTR now and then by
   itself (not sliced: it needs the real deadline, as a barrier, which breaks at it).
   undo (may be NULL) is called with ctx before an interrupt error leaves. */
int shmlua_sync_wait(lua_State *L, shmlua_sync_op op, void *ctx,
                     const struct timespec *deadline, int sliced, void (*undo)(void *ctx));
/* The sliced wait of a call whose first try, made before any clock read, could not go
   ahead: the deadline seconds (NULL: none, as shmlua_optseconds read them) from now. */
int shmlua_sync_wait_for(lua_State *L, shmlua_sync_op op, void *ctx, const double *seconds);

/* Pushes nil, what ("timeout", "closed", ...): the documented failure of a wait. Returns 2. */
int shmlua_sync_fail(lua_State *L, const char *what);

/* The block userdata at arg (raises if not a block). */
shmlua_block *shmlua_checkblock(lua_State *L, int arg);
/* Its memory; raises "block 'x' is closed" (or "... read-only" when writing is asked). */
unsigned char *shmlua_blockaddr(lua_State *L, const shmlua_block *b, int writing);
/* Raises "block 'x': no memory behind byte N (truncated by another process, or /dev/shm is
   full)" for a fault a guard caught (core/fault.h). Call it after the guard is left. */
int shmlua_faulterror(lua_State *L, const shmlua_fault *fault);
/* The same, after shmlua_load* or shmlua_store* on b returned -1. */
int shmlua_accesserror(lua_State *L, const shmlua_block *b);
/* After SHMLUA_GUARD_END(g): raises shmlua_faulterror's error if g caught a fault. */
static inline void shmlua_guard_check(lua_State *L, const shmlua_guard *g) {
  if (g->fault.block)
    shmlua_faulterror(L, &g->fault);
}
/* Runs fn(ctx) under a guard of blocks a and b (either may be NULL; fn follows core/fault.h's
   rules for guarded code) and returns what it returns; raises shmlua_faulterror's error
   after it instead if a fault cut it short. */
int shmlua_guardedcall(lua_State *L, int (*fn)(void *ctx), void *ctx, const shmlua_block *a,
                       const shmlua_block *b);
/* Pushes a string of the n bytes at p, inside block b; raises shmlua_faulterror's error
   instead if they are not all there, and "is closed" if a collection during the push closed
   b (p must have come from shmlua_blockaddr since the last call that may collect). */
void shmlua_pushblockbytes(lua_State *L, const shmlua_block *b, const void *p, size_t n);
/* The unlink method of every object owning a block: removes name; true or nil, msg, errno. */
int shmlua_pushunlink(lua_State *L, const shmlua_name *name);

/* The block a buf at arg views (raises if arg is not a buf). */
shmlua_block *shmlua_checkbuf(lua_State *L, int arg);
/* Pushes a new buf viewing b (the caller keeps b's userdata alive in its user value 1). */
void shmlua_newbuf(lua_State *L, shmlua_block *b);

/* Processes (proc.c, map.c) and the values they send back (serial.c). */

/* Pushes a string that encodes the n values from index first on; raises for what cannot be
   sent: C functions, userdata other than shmlua objects, threads, tables that contain
   themselves or nest too deep. */
void shmlua_serialize(lua_State *L, int first, int n);
/* The same encoding, left in a buffer the Lua state keeps: valid until the next encode. */
const char *shmlua_encode(lua_State *L, int first, int n, size_t *len);
/* The values t[first + 1 .. first + n] (t at table, read raw), each encoded as a message of
   its own (as shmlua_encode makes it), end to end in the buffer returned (as shmlua_encode
   leaves it); the k-th ends at ends[k] (k from 0). Raises as shmlua_serialize does, naming
   the value t[k]. */
const char *shmlua_encode_each(lua_State *L, int table, size_t first, size_t n, size_t *ends);
/* The list t[i..j] (t at table, holes kept), encoded as one table {t[i], ..., t[j]} and left
   as shmlua_encode leaves it; no table is made. */
const char *shmlua_encode_range(lua_State *L, int table, lua_Integer i, lua_Integer j,
                                size_t *len);
/* Decodes data, a list as shmlua_encode_range makes it, into the table at table, keys moved
   by offset; 1, or 0 if data is not such an encoding (some keys may be set then). */
int shmlua_deserialize_into(lua_State *L, const void *data, size_t len, int table,
                            lua_Integer offset);
/* Remembers the module table on top (objects received are attached through it) and sets the
   key that functions sent within this family of processes carry. */
void shmlua_open_serial(lua_State *L);
/* The layout of an array view: dtype name and element size, byte offset of element 1, count,
   bytes from one element to the next, columns of a 2-D view (0: 1-D). */
typedef struct shmlua_arraylayout {
  const char *dtype;
  size_t size, offset, count, cols;
  ptrdiff_t stride;
} shmlua_arraylayout;
/* The layout of the array view at idx; 0 if it is not one. */
int shmlua_arrayview(lua_State *L, int idx, shmlua_arraylayout *out);
/* Pushes the values encoded in data and returns their count; -1 (nothing pushed) if data is
   not such an encoding. */
int shmlua_deserialize(lua_State *L, const void *data, size_t len);

/* Replaces the error object at the top of L by text, as lua.c does: a string, __tostring's
   result, or what type it is. Returns it. */
const char *shmlua_errortext(lua_State *L);
/* Calls the function below the nargs arguments on top in a coroutine of its own, so an
   error's traceback shows only its frames. 1: the results replace function and arguments;
   0: one string does, the error with that traceback. */
int shmlua_calltraced(lua_State *L, int nargs);
/* The same in the coroutine co, which must be fresh or have finished its last call: a caller
   with many calls reuses one (it is reset after an error). */
int shmlua_calltraced_in(lua_State *L, lua_State *co, int nargs);
/* Forks a child that calls the function below the nargs arguments on top of the stack and
   sends back what it returns. In the parent, replaces function and arguments by the child's
   handle and returns the child; on failure pops them and returns NULL with err. */
shmlua_child *shmlua_spawnfn(lua_State *L, int nargs, shmlua_error *err);
/* The child of the process handle at arg, which must be this process's own (raises
   otherwise). */
shmlua_child *shmlua_checkchild(lua_State *L, int arg);
/* Pushes what waiting for a finished child gives: true and its values, or nil and "exit",
   "signal" or "error" with a code, signal number or message. Returns the count. */
int shmlua_pushresults(lua_State *L, const shmlua_child *c);
/* How a finished child ended, as shmlua_pushresults tells it: for a caller that words it its
   own way (shm.map) without reading the words back. */
typedef enum shmlua_ending {
  SHMLUA_ENDED_VALUES, /* it sent values (true, values...) */
  SHMLUA_ENDED_OK,     /* exit 0, nothing sent (true) */
  SHMLUA_ENDED_ERROR,  /* it sent an error, or its status was lost (nil, "error", message) */
  SHMLUA_ENDED_SIGNAL, /* nil, "signal", number */
  SHMLUA_ENDED_EXIT    /* another exit code: nil, "exit", code */
} shmlua_ending;
typedef struct shmlua_childend {
  shmlua_ending how;
  int number;          /* SIGNAL: the signal; EXIT: the code */
  const char *message; /* ERROR: len bytes, in the child's record or static */
  size_t len;
} shmlua_childend;
shmlua_childend shmlua_child_ended(const shmlua_child *c);
/* shmlua_child_wait that lets Ctrl-C interrupt it and raises on system errors: 0 (*which
   has ended) or ETIMEDOUT. */
int shmlua_waitchildren(lua_State *L, shmlua_child *const *children, size_t n,
                        const struct timespec *deadline, size_t *which);

/* A progress line on stderr (progress.c), drawn in place and only when stderr is a terminal. */
typedef struct shmlua_progress {
  int on;
  const char *what; /* its label, "shm.map" */
  lua_Integer total;
  lua_Integer *finished; /* items done, shared with forked workers; NULL when off */
  struct timespec start;
  double drawn; /* seconds from start to the last redraw */
} shmlua_progress;
/* wanted: the caller's option. Draws 0 of total at once. Pushes the owner of the shared
   count: keep it on the stack until shmlua_progress_end. */
void shmlua_progress_start(lua_State *L, shmlua_progress *p, int wanted, const char *what,
                           lua_Integer total);
/* In a worker forked after the start: one more item is finished. */
void shmlua_progress_step(shmlua_progress *p);
/* A deadline for a wait, so the line is redrawn in time: t, filled; NULL when there is no
   line (wait as long as needed). */
const struct timespec *shmlua_progress_next(const shmlua_progress *p, struct timespec *t);
/* Redraws with the items finished so far, at most every 0.1 s. */
void shmlua_progress_update(shmlua_progress *p);
/* Draws the last state and ends the line. */
void shmlua_progress_end(shmlua_progress *p);

#endif
