/* Error reporting for the C core. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

int shmlua_fail(shmlua_error *err, int code, const char *subject) {
  char safe[SHMLUA_ERRMSG_MAX];
  shmlua_escape(subject, strlen(subject), safe, sizeof safe);
  return shmlua_failf(err, code, "%s: %s", safe, strerror(code));
}

int shmlua_failf(shmlua_error *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int shmlua_failcode(shmlua_error *err, int code, const char *what) {
  if (err) {
    const char *text = strerror(code);
    size_t n = strlen(what), m = strlen(text);
    if (n > SHMLUA_ERRMSG_MAX / 2)
      n = SHMLUA_ERRMSG_MAX / 2;
    if (m > SHMLUA_ERRMSG_MAX - n - 3)
      m = SHMLUA_ERRMSG_MAX - n - 3;
    err->code = code;
    memcpy(err->message, what, n);
    memcpy(err->message + n, ": ", 2);
    memcpy(err->message + n + 2, text, m);
    err->message[n + 2 + m] = '\0';
  }
  return -1;
}
