/* Signal handlers of the host. Each runs with every signal blocked (sa_mask full) and
   without SA_RESTART, so a wait in C returns EINTR and the interpreter gets control back. */
#include "signals.h"

#include <lauxlib.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "owner.h"
#include "proc.h"

static lua_State *volatile running; /* the state whose code SIGINT interrupts */
static void (*sigint_outside)(int) = SIG_IGN; /* SIGINT's handler when no code runs */
static volatile sig_atomic_t cancelled;
static struct termios terminal;
static volatile pid_t terminal_keeper; /* who saved it: not a forked child, which inherits */

static void handle(int signo, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigfillset(&sa.sa_mask);
  sigaction(signo, &sa, NULL);
}

/* Only async-signal-safe calls: the host may be anywhere, even inside malloc. */
static void on_fatal(int signo) {
  sigset_t only;
  shmlua_owner_cleanup();
  shmlua_children_terminate_all(SHMLUA_HOST_GRACE);
  if (terminal_keeper == getpid())
    tcsetattr(STDIN_FILENO, TCSANOW, &terminal);
  handle(signo, SIG_DFL);
  sigemptyset(&only);
  sigaddset(&only, signo);
  raise(signo); /* pending until unblocked, then the default action ends the process */
  sigprocmask(SIG_UNBLOCK, &only, NULL);
}

/* Hook set by on_interrupt: raises the error at the interpreter's next step. */
static void stop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

static void on_interrupt(int signo) {
  handle(signo, sigint_outside); /* a second Ctrl-C, before the hook runs, ends the host */
  lua_sethook(running, stop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static void on_cancel(int signo) {
  (void)signo;
  cancelled = 1;
}

/* A signal ignored when the host started (nohup, a shell's background job) stays ignored;
   only SIGINT still interrupts running code, as in lua.c. */
void shmlua_signals_install(void) {
  /* SIGBUS: what touching a block another process truncated gives; cleaning up is all that
     can be done then (docs/reliability.md). */
  static const int fatal[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGBUS};
  for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
    struct sigaction was;
    if (sigaction(fatal[i], NULL, &was) == 0 && was.sa_handler == SIG_IGN)
      continue;
    handle(fatal[i], on_fatal);
    if (fatal[i] == SIGINT)
      sigint_outside = on_fatal;
  }
}

void shmlua_sigint_interrupts(lua_State *L) {
  running = L;
  handle(SIGINT, on_interrupt);
}

void shmlua_sigint_ends(void) {
  handle(SIGINT, sigint_outside);
  /* An interrupt that came as the code finished is dropped, not left for the next line. */
  if (running && lua_gethook(running) == stop)
    lua_sethook(running, NULL, 0, 0);
}

void shmlua_sigint_cancels(void) {
  cancelled = 0;
  handle(SIGINT, on_cancel);
}

int shmlua_sigint_cancelled(void) {
  int was = cancelled;
  cancelled = 0;
  return was;
}

void shmlua_signals_keep_terminal(void) {
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &terminal) == 0)
    terminal_keeper = getpid();
}
