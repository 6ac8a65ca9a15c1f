/* SIGBUS inside an access to a block becomes an error the caller can report, instead of a dead
   process: a peer truncated the block, or a block made without reserved storage found
   /dev/shm full. No Lua.

   A guard marks, per thread, that the code between SHMLUA_GUARD_BEGIN and SHMLUA_GUARD_END
   touches the memory of at most two blocks. A SIGBUS whose address lies in one of them while
   the guard is up jumps back to the guard (siglongjmp), which then reports where it happened;
   any other SIGBUS goes on to the handler that was there before (or the default action).
   The code inside a guard must not call Lua, allocate, take locks it would not give back, or
   leave the guard by return, goto or longjmp: the jump abandons it at any instruction. */
#ifndef SHMLUA_FAULT_H
#define SHMLUA_FAULT_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stddef.h>

#include "block.h"

/* Where a guarded access found no memory. block is NULL when none was found. */
typedef struct shmlua_fault {
  const shmlua_block *block;
  size_t offset; /* from the block's start */
} shmlua_fault;

typedef struct shmlua_guard {
  sigjmp_buf env;
  const shmlua_block *blocks[2]; /* what the guarded code touches; NULL: nothing */
  struct shmlua_guard *outer;
  shmlua_fault fault;
} shmlua_guard;

#if defined(__GNUC__) && defined(__ELF__)
/* Static TLS: the handler's read of it allocates nothing, even in a module loaded by dlopen. */
#define SHMLUA_GUARD_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define SHMLUA_GUARD_TLS _Thread_local
#endif
extern SHMLUA_GUARD_TLS shmlua_guard *shmlua_guard_current;

/* Installs the SIGBUS handler once per process (block create and attach call it), keeping
   the handler found for the faults that are not ours. */
void shmlua_fault_install(void);

static inline void shmlua_guard_enter(shmlua_guard *g, const shmlua_block *a,
                                      const shmlua_block *b) {
  g->blocks[0] = a;
  g->blocks[1] = b;
  g->fault.block = NULL;
  g->outer = shmlua_guard_current;
  atomic_signal_fence(memory_order_seq_cst); /* the handler sees a whole guard or none */
  shmlua_guard_current = g;
  atomic_signal_fence(memory_order_seq_cst);
}

static inline void shmlua_guard_leave(shmlua_guard *g) {
  atomic_signal_fence(memory_order_seq_cst); /* the accesses stay inside */
  shmlua_guard_current = g->outer;
}

/* SHMLUA_GUARD_BEGIN(g, a, b) code SHMLUA_GUARD_END(g); then g.fault.block is non-NULL if
   the code was cut short by a fault in a or b (either may be NULL). A pair, because sigsetjmp
   must run in the frame that stays live during the access. Costs a sigsetjmp without the
   signal mask (no system call). */
#define SHMLUA_GUARD_BEGIN(g, a, b)        \
  shmlua_guard_enter(&(g), (a), (b));      \
  if (sigsetjmp((g).env, 0) == 0) {
#define SHMLUA_GUARD_END(g) \
  }                         \
  shmlua_guard_leave(&(g))

/* The guarded operations for code that does not need its own pair: each returns 0, or -1
   with *fault filled when a or b (the blocks that src and dst lie in; NULL for memory that
   is not a block's) had no memory behind an address. */
int shmlua_guarded_copy(void *dst, const void *src, size_t n, const shmlua_block *a,
                        const shmlua_block *b, shmlua_fault *fault);
int shmlua_guarded_fill(void *dst, unsigned char byte, size_t n, const shmlua_block *b,
                        shmlua_fault *fault);
/* Runs fn(ctx) under a guard for a and b; *result gets what it returns. fn follows the rules
   of guarded code above (whole-array kernels, dict copies, sync-object steps). */
int shmlua_guarded_run(int (*fn)(void *ctx), void *ctx, int *result, const shmlua_block *a,
                       const shmlua_block *b, shmlua_fault *fault);

#endif
