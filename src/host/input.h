/* Lines typed at the REPL: GNU readline with line editing and a history kept in
   ~/.shmlua_history when the host was built with it, plain reads from stdin otherwise. */
#ifndef SHMLUA_HOST_INPUT_H
#define SHMLUA_HOST_INPUT_H

enum { SHMLUA_INPUT_LINE, SHMLUA_INPUT_EOF, SHMLUA_INPUT_CANCEL };

/* Loads the history. */
void shmlua_input_open(void);

/* Shows prompt and reads a line (without its newline) into *line, to be freed with free().
   Returns SHMLUA_INPUT_LINE, _EOF (Ctrl-D or end of input), or _CANCEL (Ctrl-C). */
int shmlua_input_read(const char *prompt, char **line);

/* Adds a line (a whole chunk, maybe of several lines) to the history and its file. */
void shmlua_input_remember(const char *line);

#endif
