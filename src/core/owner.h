/* Ownership of shared-memory names: the creating process unlinks what it owns when it exits.
   Ownership is per process id, so a forked child never unlinks its parent's blocks, and per
   object: a name that was removed and made again by another process is not unlinked.
   Errors as error.h says: add returns 0 or -1 with err; forget and cleanup cannot fail. */
#ifndef SHMLUA_OWNER_H
#define SHMLUA_OWNER_H

#include "error.h"

/* Records that this process owns path ("/name"), the object open as fd (its device and
   inode are kept); the first call arranges cleanup at exit. */
int shmlua_owner_add(const char *path, int fd, shmlua_error *err);

/* Forgets path (it was unlinked, or ownership was given up). Unknown paths are ignored. */
void shmlua_owner_forget(const char *path);

/* Unlinks every name this process owns and forgets them, each only if it still names the
   object this process made (same device and inode; where that cannot be looked at, as
   before). Async-signal-safe, so a host may call it from a handler for a fatal signal. */
void shmlua_owner_cleanup(void);

#endif
