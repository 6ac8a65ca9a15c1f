/* Error reporting for the C core: an errno and a message, never printed by the core.
   The rule every public function of src/core follows: a function that can fail returns 0,
   or -1 with its shmlua_error *err filled (err may be NULL when the caller wants no
   details); the error is filled only on failure, so a call that succeeds pays nothing for
   it. Outcomes a caller tells apart (a timeout, a closed queue, a lock whose owner died)
   are failures like any other, told apart by err->code (ETIMEDOUT, EPIPE, EOWNERDEAD...).
   A function that cannot fail returns its value, or nothing. Sizes, counts and flags come
   back through out-parameters when the call can fail. Each header says which of its
   functions cannot fail and what its codes mean. */
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

/* Fills err with code and "what: strerror(code)", what being a fixed word of ours (not
   escaped, no formatting): the cheap fill for outcomes a caller tells apart by code (a
   timeout, a full queue, a busy lock), some of which a caller meets in a loop. Returns -1. */
int shmlua_failcode(shmlua_error *err, int code, const char *what);

/* Fills err with code and a formatted message of the caller's own; returns -1. A name in it
   goes through shmlua_escape first. */
int shmlua_failf(shmlua_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
