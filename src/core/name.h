/* Names of shared-memory objects: validation and random generation, before any system call.
   Errors as error.h says: 0 or -1 with err. */
#ifndef SHMLUA_NAME_H
#define SHMLUA_NAME_H

#include <stddef.h>

#include "error.h"

/* Longest user-facing name (bytes, without the leading slash) the system accepts. */
#if defined(__APPLE__)
#define SHMLUA_NAME_MAX 30 /* PSHMNAMLEN is 31 with the slash */
#else
#define SHMLUA_NAME_MAX 255 /* NAME_MAX of the /dev/shm file */
#endif

/* Generated names stay within 14 bytes with the slash: the most portable limit. */
#define SHMLUA_AUTO_PREFIX "lua_"

/* A name as shm_open wants it: one leading slash, then the user-facing name. */
typedef struct shmlua_name {
  char path[SHMLUA_NAME_MAX + 2];
} shmlua_name;

/* The user-facing form (no slash) of a checked name. */
#define shmlua_name_user(n) ((n)->path + 1)

/* Checks a user-given name of len bytes (it may hold NULs, which are rejected). One leading
   slash is accepted and dropped. Empty, ".", "..", another slash, a NUL or over
   SHMLUA_NAME_MAX bytes fail with EINVAL or ENAMETOOLONG. */
int shmlua_name_check(shmlua_name *out, const char *name, size_t len, shmlua_error *err);

/* Makes a fresh random name; fails only if the system has no entropy to give. */
int shmlua_name_random(shmlua_name *out, shmlua_error *err);

#endif
