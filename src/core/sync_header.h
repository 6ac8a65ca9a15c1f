/* The header every synchronization object carries at the start of its block: what it is,
   which layout version, how many bytes the layout takes. Checked on attach, so a block that
   is not what it claims is refused with a clear message instead of being used.
   Errors as error.h says: 0 or -1 with err (the checkers too); kind_name cannot fail. */
#ifndef SHMLUA_SYNC_HEADER_H
#define SHMLUA_SYNC_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "block.h"
#include "error.h"

#define SHMLUA_SYNC_MAGIC 0x6e79536cu /* "lSyn" in a little-endian dump */
#define SHMLUA_SYNC_VERSION 3

typedef enum shmlua_sync_kind {
  SHMLUA_KIND_MUTEX = 1,
  SHMLUA_KIND_SEMAPHORE,
  SHMLUA_KIND_BARRIER,
  SHMLUA_KIND_EVENT,
  SHMLUA_KIND_COND,
  SHMLUA_KIND_QUEUE,
  SHMLUA_KIND_DICT,
} shmlua_sync_kind;

typedef struct shmlua_sync_header {
  uint32_t magic; /* written last by the creator, so a half-made object is never accepted */
  uint16_t version;
  uint16_t kind;
  uint64_t size; /* bytes of the whole layout, header included */
} shmlua_sync_header;

/* What a kind's layout needs checked beyond the header: bytes is the start of the block,
   size the header's size (the type's size when it has one, already checked; else within
   the block). Returns 0 or fills err (EPROTO). */
typedef int (*shmlua_sync_checker)(const void *bytes, size_t size, shmlua_error *err);

typedef struct shmlua_sync_type {
  shmlua_sync_kind kind;
  const char *name;          /* "mutex", "queue", ... */
  size_t size;               /* bytes of a fixed layout, header included; 0: check sizes it */
  shmlua_sync_checker check; /* the layout after the header; NULL if nothing more */
} shmlua_sync_type;

/* "mutex", "queue", ... or "unknown". */
const char *shmlua_sync_kind_name(unsigned kind);

/* Validates the header at bytes (size bytes available) for an object of type t, then the
   kind's own layout. Never reads past size. 0, or -1 with err (EPROTO) saying what is wrong.
   This is the entry a fuzzer drives with arbitrary bytes. */
int shmlua_sync_validate(const shmlua_sync_type *t, const void *bytes, size_t size,
                         shmlua_error *err);

/* Creates a block of layout_size bytes for type t, lets init fill the body (the block is
   zeroed; init gets the block's address) and publishes the header last. On failure nothing
   is left behind. */
int shmlua_sync_block_create(shmlua_block *b, const shmlua_sync_type *t,
                             const shmlua_name *name, size_t layout_size,
                             const shmlua_create_opts *opts,
                             int (*init)(void *addr, const void *arg, shmlua_error *err),
                             const void *arg, shmlua_error *err);

/* Attaches name and validates it as type t (waiting a moment for a creator that has not yet
   published its header). On failure the block is closed and err says why. */
int shmlua_sync_block_attach(shmlua_block *b, const shmlua_sync_type *t,
                             const shmlua_name *name, shmlua_error *err);

#endif
