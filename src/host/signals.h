/* Signals reaching the host. SIGTERM, SIGHUP, SIGQUIT, SIGPIPE (output to a closed pipe),
   SIGBUS (a block truncated by another process) and, outside running code, SIGINT end it:
   owned blocks are unlinked, children terminated, then the signal is raised again with its
   default action so the exit status shows it. While Lua code runs, SIGINT raises
   "interrupted!" in it instead (as in lua.c); while the REPL reads a line, SIGINT cancels
   that line. */
#ifndef SHMLUA_HOST_SIGNALS_H
#define SHMLUA_HOST_SIGNALS_H

/* Seconds that children get between SIGTERM and SIGKILL when the host ends abnormally. */
#define SHMLUA_HOST_GRACE 1.0

void shmlua_signals_install(void);

/* SIGINT now interrupts the running code (shmlua_interrupt); _ends makes it fatal again
   and says whether one came in between. */
void shmlua_sigint_interrupts(void);
int shmlua_sigint_ends(void);

/* SIGINT now only sets a flag, which shmlua_sigint_cancelled reads and clears. */
void shmlua_sigint_cancels(void);
int shmlua_sigint_cancelled(void);

/* Remembers the terminal's settings, restored if a fatal signal ends the host while line
   editing has the terminal in raw mode. */
void shmlua_signals_keep_terminal(void);

#endif
