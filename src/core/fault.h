/* SIGBUS inside an access to a block becomes an error the caller can report, instead of a dead
   process: a peer truncated the block, or a block made without reserved storage found
   /dev/shm full. No Lua.

   A guard marks, per thread, that the code between SHMLUA_GUARD_BEGIN and SHMLUA_GUARD_END
   touches the memory of at most two blocks. A SIGBUS whose address lies in one of them while
   the guard is up jumps back to the guard, which then reports where it happened; any other
   SIGBUS goes on to the handler that was there before (or the default action). The jump
   abandons the guarded code at any instruction: it must not call Lua (a Lua error would
   leave the guard up; raise after SHMLUA_GUARD_END), must not leave the guard by return,
   goto or longjmp, and must keep what it takes where its owner finds it (the queue's pop
   buffer is the handle's).
   Errors: the accesses and guarded operations return 0 or -1 like the rest of the core
   (error.h), but say where with a shmlua_fault (block and offset), not an errno. */
#ifndef SHMLUA_FAULT_H
#define SHMLUA_FAULT_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "block.h"

/* Where a guarded access found no memory. block is NULL when none was found. */
typedef struct shmlua_fault {
  const shmlua_block *block;
  size_t offset; /* from the block's start */
} shmlua_fault;

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
/* The compilers' own setjmp keeps three words (frame, stack, where to resume) and has the
   function save its registers itself: a fraction of sigsetjmp's cost, which buf[i] feels.
   Jumping from the signal handler restores the stack all the same. */
typedef void *shmlua_jmpbuf[5];
#define SHMLUA_SETJMP(env) __builtin_setjmp(env)
#define SHMLUA_LONGJMP(env) __builtin_longjmp(env, 1)
#else
typedef sigjmp_buf shmlua_jmpbuf;
#define SHMLUA_SETJMP(env) sigsetjmp(env, 0)
#define SHMLUA_LONGJMP(env) siglongjmp(env, 1)
#endif

typedef struct shmlua_guard {
  shmlua_jmpbuf env;
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

/* Single elements, the hot path (buf[i], a[i]): copy 1, 2, 4 or 8 bytes between value and at,
   an address inside block b: 0, or -1 if there was no memory behind at (then
   shmlua_fault_of gives where). Where the handler can resume a thread at another
   instruction (Linux, x86-64 and aarch64, compilers with asm goto outputs), each is one
   inline instruction listed in the section shmlua_resume with the place to go on from if it
   faults: no guard to set up, nothing to save. Elsewhere they are guarded copies. */
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)) &&                    \
    ((defined(__clang__) && __clang_major__ >= 11) ||                                         \
     (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define SHMLUA_FAULT_RESUMES 1

/* One entry of shmlua_resume: the faulting instruction and where to resume, each as an
   offset from the field that holds it (no relocation to make in a shared library). */
typedef struct shmlua_resume {
  int32_t at, to;
} shmlua_resume;
#define SHMLUA_RESUME_ENTRY                                                                   \
  ".pushsection shmlua_resume,\"a\"\n\t.balign 4\n\t.long 1b - .\n\t.long %l[fault] - "       \
  ".\n\t.popsection\n"

#if defined(__x86_64__) /* the register's name gives the size */
#define SHMLUA_LOAD_8 "mov %1, %0"
#define SHMLUA_LOAD_16 "mov %1, %0"
#define SHMLUA_LOAD_32 "mov %1, %0"
#define SHMLUA_LOAD_64 "mov %1, %0"
#define SHMLUA_STORE_8 "mov %1, %0"
#define SHMLUA_STORE_16 "mov %1, %0"
#define SHMLUA_STORE_32 "mov %1, %0"
#define SHMLUA_STORE_64 "mov %1, %0"
#else
#define SHMLUA_LOAD_8 "ldrb %w0, %1"
#define SHMLUA_LOAD_16 "ldrh %w0, %1"
#define SHMLUA_LOAD_32 "ldr %w0, %1"
#define SHMLUA_LOAD_64 "ldr %x0, %1"
#define SHMLUA_STORE_8 "strb %w1, %0"
#define SHMLUA_STORE_16 "strh %w1, %0"
#define SHMLUA_STORE_32 "str %w1, %0"
#define SHMLUA_STORE_64 "str %x1, %0"
#endif

#define SHMLUA_ACCESS(bits, bytes)                                                            \
  static inline int shmlua_load##bytes(const shmlua_block *b, const void *at, void *value) {  \
    uint##bits##_t v;                                                                         \
    (void)b;                                                                                  \
    __asm__ goto("1:\t" SHMLUA_LOAD_##bits "\n" SHMLUA_RESUME_ENTRY                           \
                 : "=r"(v)                                                                    \
                 : "m"(*(const uint##bits##_t *)at)                                           \
                 :                                                                            \
                 : fault);                                                                    \
    memcpy(value, &v, bytes);                                                                 \
    return 0;                                                                                 \
  fault:                                                                                      \
    return -1;                                                                                \
  }                                                                                           \
  static inline int shmlua_store##bytes(const shmlua_block *b, void *at, const void *value) { \
    uint##bits##_t v;                                                                         \
    (void)b;                                                                                  \
    memcpy(&v, value, bytes);                                                                 \
    __asm__ goto("1:\t" SHMLUA_STORE_##bits "\n" SHMLUA_RESUME_ENTRY                          \
                 : "=m"(*(uint##bits##_t *)at)                                                \
                 : "r"(v)                                                                     \
                 :                                                                            \
                 : fault);                                                                    \
    return 0;                                                                                 \
  fault:                                                                                      \
    return -1;                                                                                \
  }
SHMLUA_ACCESS(8, 1)
SHMLUA_ACCESS(16, 2)
SHMLUA_ACCESS(32, 4)
SHMLUA_ACCESS(64, 8)
#undef SHMLUA_ACCESS

#else
#define SHMLUA_FAULT_RESUMES 0
int shmlua_load1(const shmlua_block *b, const void *at, void *value);
int shmlua_load2(const shmlua_block *b, const void *at, void *value);
int shmlua_load4(const shmlua_block *b, const void *at, void *value);
int shmlua_load8(const shmlua_block *b, const void *at, void *value);
int shmlua_store1(const shmlua_block *b, void *at, const void *value);
int shmlua_store2(const shmlua_block *b, void *at, const void *value);
int shmlua_store4(const shmlua_block *b, void *at, const void *value);
int shmlua_store8(const shmlua_block *b, void *at, const void *value);
#endif

/* The address of this thread's last fault in shmlua_load* or shmlua_store*. */
extern SHMLUA_GUARD_TLS uintptr_t shmlua_fault_address;
static inline shmlua_fault shmlua_fault_of(const shmlua_block *b) {
  shmlua_fault f = {b, shmlua_fault_address - (uintptr_t)b->addr};
  return f;
}

/* Installs the SIGBUS handler once per process (block create and attach call it), keeping
   the handler found for the faults that are not ours. */
void shmlua_fault_install(void);

/* Accesses that no guard covers and that cannot raise (LuaJIT's compiled FFI loads and
   stores): a watched block's fault is not fatal. The handler maps a private zero page over
   the page that is gone, so the access completes (a load reads 0, a store is lost), and marks
   the block: b->live becomes NULL, which such accesses check before each one (a loop checks
   it once, when it starts), and b->lost says where, which shmlua_block_lost reports to every
   other access. Linux: the handler calls mmap, which POSIX does not list as safe in a
   handler but Linux makes a plain system call. watch returns -1 when SHMLUA_WATCH_MAX blocks
   are watched already (the caller then keeps to guarded accesses); unwatch is idempotent and
   shmlua_block_close calls it. */
enum { SHMLUA_WATCH_MAX = 4096 };
int shmlua_fault_watch(shmlua_block *b);
void shmlua_fault_unwatch(shmlua_block *b);

/* Whether an unguarded access found memory of b gone; if so, *fault says where, as a guard
   would. */
static inline int shmlua_block_lost(const shmlua_block *b, shmlua_fault *fault) {
  size_t lost = b->lost;
  if (!lost)
    return 0;
  fault->block = b;
  fault->offset = lost - 1;
  return 1;
}

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
   the code was cut short by a fault in a or b (either may be NULL). A pair, because the
   setjmp must run in the frame that stays live during the access. It saves no signal mask
   (no system call). */
#define SHMLUA_GUARD_BEGIN(g, a, b)                                                           \
  shmlua_guard_enter(&(g), (a), (b));                                                         \
  if (SHMLUA_SETJMP((g).env) == 0) {
#define SHMLUA_GUARD_END(g)                                                                   \
  }                                                                                           \
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
