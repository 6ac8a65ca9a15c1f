/* REPL input. With readline, its callback interface lets the host do the blocking wait
   itself, so a Ctrl-C (EINTR with the cancel flag set) abandons the line cleanly. */
#include "input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signals.h"

#ifdef SHMLUA_USE_READLINE

#include <readline/history.h>
#include <readline/readline.h>
#include <sys/select.h>
#include <unistd.h>

#define HISTORY_NAME "/.shmlua_history"
#define HISTORY_KEEP 1000

static char *history_path; /* NULL: no HOME or no terminal, so no history file */
static char *typed;        /* the line readline handed over */
static int finished;       /* the line, or the end of input, came */

void shmlua_input_open(void) {
  const char *home = getenv("HOME");
  rl_readline_name = "shmlua";
  rl_catch_signals = 0; /* the host's own handlers deal with them (signals.c) */
  using_history();
  /* Lines piped in (a script fed to -i) are nobody's typing to recall. */
  if (!isatty(STDIN_FILENO))
    return;
  if (!home || !*home || !(history_path = malloc(strlen(home) + sizeof HISTORY_NAME)))
    return;
  strcpy(history_path, home);
  strcat(history_path, HISTORY_NAME);
  if (read_history(history_path) == ENOENT)
    write_history(history_path); /* append_history needs the file to exist */
  else
    history_truncate_file(history_path, HISTORY_KEEP);
}

static void on_line(char *line) {
  typed = line;
  finished = 1;
  rl_callback_handler_remove(); /* so readline does not show the prompt again */
}

/* Throws away the half-typed line after a Ctrl-C and leaves the terminal as it was. */
static void abandon(void) {
  rl_free_line_state();
  rl_callback_sigcleanup();
  rl_cleanup_after_signal();
  rl_callback_handler_remove();
  fputc('\n', stdout);
  fflush(stdout);
}

int shmlua_input_read(const char *prompt, char **line) {
  int fd = fileno(rl_instream ? rl_instream : stdin);
  int result = SHMLUA_INPUT_LINE;
  typed = NULL;
  finished = 0;
  shmlua_sigint_cancels();
  rl_callback_handler_install(prompt, on_line);
  while (!finished) {
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(fd, &readable);
    if (select(fd + 1, &readable, NULL, NULL, NULL) >= 0)
      rl_callback_read_char();
    else if (errno != EINTR) {
      rl_callback_handler_remove();
      break;
    } else if (shmlua_sigint_cancelled()) {
      abandon();
      result = SHMLUA_INPUT_CANCEL;
      break;
    }
  }
  shmlua_sigint_ends();
  if (result == SHMLUA_INPUT_LINE && !typed)
    result = SHMLUA_INPUT_EOF;
  *line = typed;
  return result;
}

void shmlua_input_remember(const char *line) {
  if (!*line)
    return;
  add_history(line);
  if (history_path)
    append_history(1, history_path);
}

#else /* no readline: plain lines from stdin */

void shmlua_input_open(void) {
}

int shmlua_input_read(const char *prompt, char **line) {
  size_t cap = 0;
  ssize_t len;
  int result = SHMLUA_INPUT_LINE;
  *line = NULL;
  fputs(prompt, stdout);
  fflush(stdout);
  shmlua_sigint_cancels();
  while ((len = getline(line, &cap, stdin)) < 0) {
    int interrupted = ferror(stdin) && errno == EINTR;
    clearerr(stdin);
    if (interrupted && shmlua_sigint_cancelled()) {
      fputc('\n', stdout);
      result = SHMLUA_INPUT_CANCEL;
      break;
    }
    if (!interrupted) {
      result = SHMLUA_INPUT_EOF;
      break;
    }
  }
  shmlua_sigint_ends();
  if (result != SHMLUA_INPUT_LINE) {
    free(*line);
    *line = NULL;
  } else if (len > 0 && (*line)[len - 1] == '\n')
    (*line)[len - 1] = '\0';
  return result;
}

void shmlua_input_remember(const char *line) {
  (void)line;
}

#endif
