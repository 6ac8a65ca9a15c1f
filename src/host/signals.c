/* Signal handlers of the host. Each runs with every signal blocked (sa_mask full) and
   without SA_RESTART, so a wait in C returns EINTR and the interpreter gets control back. */
#include "signals.h"

#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "interrupt.h"
#include "owner.h"
#include "proc.h"

static volatile sig_atomic_t interrupted, cancelled;
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

static void on_interrupt(int signo) {
  handle(signo, on_fatal); /* a second Ctrl-C, before the first is taken, ends the host */
  interrupted = 1;
  shmlua_interrupt();
}

static void on_cancel(int signo) {
  (void)signo;
  cancelled = 1;
}

/* A signal ignored when the host started (nohup) stays ignored. SIGINT only until the first
   call, as in lua.c: whatever it inherited (a shell's background job starts with it
   ignored), SIGINT interrupts running code, and ends the host after a call. */
void shmlua_signals_install(void) {
  /* SIGBUS: the module's handler (core/fault.c), installed later, turns one in shmlua's own
     accesses to a block into an error and passes the others on to this one. */
  static const int fatal[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGBUS};
  for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
    struct sigaction was;
    if (sigaction(fatal[i], NULL, &was) == 0 && was.sa_handler == SIG_IGN)
      continue;
    handle(fatal[i], on_fatal);
  }
}

void shmlua_sigint_interrupts(void) {
  interrupted = 0;
  handle(SIGINT, on_interrupt);
}

int shmlua_sigint_ends(void) {
  handle(SIGINT, on_fatal);
  return interrupted;
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
