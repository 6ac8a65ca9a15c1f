/* Text that is safe to print on a terminal: names in /dev/shm may hold any byte but '/' and
   NUL, so a name with ESC sequences could clear the screen and a '\n' forge a line.
   Nothing here can fail (error.h's rule: it returns its value). */
#ifndef SHMLUA_ESCAPE_H
#define SHMLUA_ESCAPE_H

#include <stddef.h>

/* Room for any escaped text of n bytes, with its NUL (each byte becomes at most 4). */
#define SHMLUA_ESCAPED_SIZE(n) (4 * (n) + 1)

/* Copies s (len bytes) into out (size bytes, always NUL-terminated, cut before an escape
   that does not fit) with what a terminal would act on escaped as `ls -b` does: backslash
   as \\, \a \b \t \n \v \f \r by letter, other control bytes (C0, DEL) and bytes that are
   not UTF-8 or encode a C1 control as 3-digit octal (\033). Printable UTF-8 is kept.
   Returns out. */
const char *shmlua_escape(const char *s, size_t len, char *out, size_t size);

#endif
