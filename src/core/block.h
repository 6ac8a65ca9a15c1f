/* Named POSIX shared-memory blocks: create, attach, close, unlink. Usable from plain C.
   Errors as error.h says: 0 or -1 with err; close cannot fail. */
#ifndef SHMLUA_BLOCK_H
#define SHMLUA_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "name.h"

#define SHMLUA_DEFAULT_MODE 0600

/* The extended attribute holding the pid (decimal) of the process that created a block,
   where the file system keeps user attributes (tmpfs since Linux 6.6). */
#define SHMLUA_CREATOR_XATTR "user.shmlua.creator"

typedef struct shmlua_block {
  unsigned char *addr; /* NULL once closed */
  size_t size;         /* kept after close */
  bool readonly;
  bool lazy; /* made by this handle without reserving its storage */
  /* For accesses that no guard covers (fault.h: shmlua_fault_watch): addr while the block is
     open and whole, NULL once closed or once such an access found a page gone; then lost is
     1 + that page's offset, and the page reads zeros. */
  unsigned char *volatile live;
  volatile size_t lost;
  dev_t dev; /* the object mapped (from fstat), to tell whether the name still refers to it */
  ino_t ino;
  shmlua_name name;
} shmlua_block;

typedef struct shmlua_create_opts {
  mode_t mode; /* applied exactly, whatever the umask */
  bool keep;   /* true: not owned, so not unlinked when this process exits */
  bool lazy;   /* true: storage is not reserved (ftruncate only), as Python does: creating
                  costs nothing whatever the size, and a page takes memory when first
                  touched; a full /dev/shm is then a SIGBUS at that touch (see fault.h) */
} shmlua_create_opts;

/* Creates a new block of size bytes (> 0). name may be NULL for a random name (retried on
   collision); a given name is never retried. All storage is reserved up front (unless
   opts->lazy), so a full /dev/shm is ENOSPC here rather than SIGBUS later. On failure nothing is left behind and
   b is closed. opts may be NULL for mode 0600, owned. */
int shmlua_block_create(shmlua_block *b, const shmlua_name *name, size_t size,
                        const shmlua_create_opts *opts, shmlua_error *err);

/* Maps an existing block; its size is the object's real size. Never unlinks anything. */
int shmlua_block_attach(shmlua_block *b, const shmlua_name *name, bool readonly,
                        shmlua_error *err);

/* Whether b is open and its name still refers to the object it maps, at the size it maps:
   false once the name is gone, or made again (another object), or resized. For processes
   that keep a block attached between uses of its name (a pool's workers). */
bool shmlua_block_current(const shmlua_block *b);

/* Unmaps; harmless on a closed block; name and size stay. Never unlinks. */
void shmlua_block_close(shmlua_block *b);

/* Removes a name (the mappings stay valid until closed) and gives up its ownership. */
int shmlua_unlink(const shmlua_name *name, shmlua_error *err);

#endif
