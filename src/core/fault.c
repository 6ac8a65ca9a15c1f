/* The SIGBUS handler behind guards and element accesses (fault.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* the register names of ucontext_t */
#endif
#include "fault.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SHMLUA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHMLUA_ASAN 1
#endif
#endif
#if SHMLUA_ASAN
#include <sanitizer/asan_interface.h>
#endif

SHMLUA_GUARD_TLS shmlua_guard *shmlua_guard_current;
SHMLUA_GUARD_TLS uintptr_t shmlua_fault_address;

#if SHMLUA_FAULT_RESUMES
/* The linker's bounds of the section the element accesses list themselves in (fault.h). */
extern const shmlua_resume __start_shmlua_resume[] __attribute__((weak, visibility("hidden")));
extern const shmlua_resume __stop_shmlua_resume[] __attribute__((weak, visibility("hidden")));

/* A fault at one of the element accesses: resume at its own fault path, which returns -1.
   Their address is always inside the block they are given (the binding checks the index
   first), so the instruction alone says the fault is in a block's memory. */
static int resumed(void *context, uintptr_t addr) {
  mcontext_t *mc = &((ucontext_t *)context)->uc_mcontext;
#if defined(__x86_64__)
  __typeof__(mc->gregs[0]) *pc = &mc->gregs[REG_RIP];
#else
  __typeof__(mc->pc) *pc = &mc->pc;
#endif
  for (const shmlua_resume *e = __start_shmlua_resume; e < __stop_shmlua_resume; e++)
    if ((uintptr_t)&e->at + (intptr_t)e->at == (uintptr_t)*pc) {
      shmlua_fault_address = addr;
      *pc = (__typeof__(*pc))((uintptr_t)&e->to + (intptr_t)e->to);
      return 1;
    }
  return 0;
}
#endif

static struct sigaction previous;
static pthread_once_t installed = PTHREAD_ONCE_INIT;
static uintptr_t page_size; /* read once at install: sysconf is no call for a handler */

/* The watched blocks (fault.h), in slots the handler scans without a lock; none at or past
   watched_top was ever used, so where nothing is watched (any Lua but LuaJIT) closing a
   block scans nothing. */
static shmlua_block *_Atomic watched[SHMLUA_WATCH_MAX];
static _Atomic size_t watched_top;

int shmlua_fault_watch(shmlua_block *b) {
  for (size_t k = 0; k < SHMLUA_WATCH_MAX; k++) {
    shmlua_block *expected = NULL;
    if (atomic_load(&watched[k]) == b)
      return 0;
    if (atomic_compare_exchange_strong(&watched[k], &expected, b)) {
      size_t top = atomic_load(&watched_top);
      while (top <= k && !atomic_compare_exchange_weak(&watched_top, &top, k + 1)) {
      }
      return 0;
    }
  }
  return -1;
}

void shmlua_fault_unwatch(shmlua_block *b) {
  size_t top = atomic_load(&watched_top);
  for (size_t k = 0; k < top; k++)
    if (atomic_load(&watched[k]) == b) {
      shmlua_block *expected = b;
      atomic_compare_exchange_strong(&watched[k], &expected, NULL);
    }
}

/* An unguarded access to a watched block found no memory at addr: a private zero page over
   it lets the access complete; the block is marked (fault.h). Whether that was done. */
static int lose_page(uintptr_t addr) {
  size_t top = atomic_load(&watched_top);
  for (size_t k = 0; k < top; k++) {
    shmlua_block *b = atomic_load(&watched[k]);
    if (b && b->addr && addr - (uintptr_t)b->addr < b->size) {
      void *page = (void *)(addr & ~(page_size - 1));
      int saved = errno; /* the interrupted code's */
      void *zeros = mmap(page, page_size, b->readonly ? PROT_READ : PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      errno = saved;
      if (zeros == MAP_FAILED)
        return 0;
      if (!b->lost)
        b->lost = addr - (uintptr_t)b->addr + 1;
      b->live = NULL;
      return 1;
    }
  }
  return 0;
}

/* The innermost guard of this thread with a block that holds addr; NULL if none. */
static shmlua_guard *guard_for(uintptr_t addr, const shmlua_block **which) {
  for (shmlua_guard *g = shmlua_guard_current; g; g = g->outer)
    for (int k = 0; k < 2; k++) {
      const shmlua_block *b = g->blocks[k];
      if (b && b->addr && addr - (uintptr_t)b->addr < b->size) {
        *which = b;
        return g;
      }
    }
  return NULL;
}

/* Not ours: what would have happened without us. */
static void pass_on(int sig, siginfo_t *info, void *context) {
  int sent = info->si_code <= 0; /* by kill or sigqueue, not by a fault */
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler == SIG_IGN && sent)
    return;
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  /* Default action (a fault cannot be ignored either): a fault happens again on return and
     kills as it would have, at its own instruction; a sent signal is sent again. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  if (sent)
    raise(sig);
}

static void on_sigbus(int sig, siginfo_t *info, void *context) {
  const shmlua_block *b = NULL;
  shmlua_guard *g;
#if SHMLUA_FAULT_RESUMES
  if (info->si_code > 0 && resumed(context, (uintptr_t)info->si_addr))
    return;
#endif
  g = info->si_code > 0 ? guard_for((uintptr_t)info->si_addr, &b) : NULL;
  if (!g) {
    if (info->si_code <= 0 || !lose_page((uintptr_t)info->si_addr))
      pass_on(sig, info, context);
    return;
  }
  g->fault.block = b;
  g->fault.offset = (uintptr_t)info->si_addr - (uintptr_t)b->addr;
  shmlua_guard_current = g; /* inner guards the jump abandons are gone; g's END pops g */
  /* A handler that chained to ours may have run it with SIGBUS blocked; the guard's
     sigsetjmp saved no mask, so unblock it, or the next fault would kill. */
  sigset_t bus;
  sigemptyset(&bus);
  sigaddset(&bus, SIGBUS);
  pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
#if SHMLUA_ASAN
  __asan_handle_no_return(); /* the frames jumped over keep no poisoned stack behind */
#endif
  SHMLUA_LONGJMP(g->env);
}

static void install(void) {
  struct sigaction sa;
  page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sigemptyset(&sa.sa_mask);
  /* NODEFER: SIGBUS stays unblocked after the jump; ONSTACK: as the sanitizers' handlers. */
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
  sigaction(SIGBUS, &sa, &previous);
}

void shmlua_fault_install(void) {
  pthread_once(&installed, install);
}

#if defined(__GNUC__)
/* A module unloaded by dlclose (lua_close closes the C libraries it loaded) must not leave
   its handler behind: put back the one it found, if ours is still the one installed. */
__attribute__((destructor)) static void uninstall(void) {
  struct sigaction now;
  if (sigaction(SIGBUS, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) &&
      now.sa_sigaction == on_sigbus)
    sigaction(SIGBUS, &previous, NULL);
}
#endif

int shmlua_guarded_copy(void *dst, const void *src, size_t n, const shmlua_block *a,
                        const shmlua_block *b, shmlua_fault *fault) {
  shmlua_guard g;
  SHMLUA_GUARD_BEGIN(g, a, b)
  memmove(dst, src, n);
  SHMLUA_GUARD_END(g);
  *fault = g.fault;
  return g.fault.block ? -1 : 0;
}

int shmlua_guarded_fill(void *dst, unsigned char byte, size_t n, const shmlua_block *b,
                        shmlua_fault *fault) {
  shmlua_guard g;
  SHMLUA_GUARD_BEGIN(g, b, NULL)
  memset(dst, byte, n);
  SHMLUA_GUARD_END(g);
  *fault = g.fault;
  return g.fault.block ? -1 : 0;
}

int shmlua_guarded_run(int (*fn)(void *ctx), void *ctx, int *result, const shmlua_block *a,
                       const shmlua_block *b, shmlua_fault *fault) {
  shmlua_guard g;
  SHMLUA_GUARD_BEGIN(g, a, b)
  *result = fn(ctx);
  SHMLUA_GUARD_END(g);
  *fault = g.fault;
  return g.fault.block ? -1 : 0;
}
