/* Error reporting for the C core: an errno and a message, never printed by the core. */
#ifndef SHMLUA_ERROR_H
#define SHMLUA_ERROR_H

#define SHMLUA_ERRMSG_MAX 320

typedef struct shmlua_error {
  int code;                        /* errno value (EINVAL for bad arguments) */
  char message[SHMLUA_ERRMSG_MAX]; /* "subject: strerror" */
} shmlua_error;

/* Fills err with code and "subject: strerror(code)"; returns -1 so callers can `return`.
   The subject (a name, mostly) is escaped for a terminal (escape.h). */
int shmlua_fail(shmlua_error *err, int code, const char *subject);

/* Fills err with code and a formatted message of the caller's own; returns -1. A name in it
   goes through shmlua_escape first. */
int shmlua_failf(shmlua_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
