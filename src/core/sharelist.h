/* CPython's ShareableList byte layout (multiprocessing.shared_memory), read and written in a
   block without trusting it: every offset, format and type code is checked before use, so a
   corrupt or hostile block gives an error, never an access outside it. No Lua.

   Layout (native byte order and alignment, offsets from the block's start): int64 N; N + 1
   int64 offsets of the items into the data area (the first 0, rising by each item's slot);
   the data area at (N + 2) * 8; N packing formats of 8 NUL-padded bytes ("q", "d",
   "xxxxxxx?" bool, "xxxxxx?x" None, "<n>s" str or bytes); N signed bytes of type codes (0
   number or bool, 1 str, 2 bytes, 3 None).
   Errors as error.h says: 0 or -1 with err; strkind and place cannot fail. */
#ifndef SHMLUA_SHARELIST_H
#define SHMLUA_SHARELIST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum shmlua_slkind {
  SHMLUA_SL_INT,   /* "q" */
  SHMLUA_SL_FLOAT, /* "d" */
  SHMLUA_SL_BOOL,  /* "xxxxxxx?" */
  SHMLUA_SL_NONE,  /* "xxxxxx?x" */
  SHMLUA_SL_STR,   /* "<n>s", type code 1: UTF-8 text */
  SHMLUA_SL_BYTES, /* "<n>s", type code 2 */
} shmlua_slkind;

typedef struct shmlua_slvalue {
  shmlua_slkind kind;
  int64_t i;              /* INT; BOOL: 0 or 1 */
  double f;               /* FLOAT */
  const unsigned char *s; /* STR, BYTES (read: into the block, trailing NULs dropped) */
  size_t len;
} shmlua_slvalue;

/* Where the parts of one list are, as found when it was opened or made. */
typedef struct shmlua_sharelist {
  size_t count;   /* N */
  size_t data;    /* offset of the data area */
  size_t datalen; /* its length: the last item offset */
  size_t formats; /* offset of the packing formats */
  size_t codes;   /* offset of the type codes */
} shmlua_sharelist;

/* The longest string slot: its format "<n>s" must fit in 8 bytes. */
#define SHMLUA_SL_MAX_SLOT 9999992u

/* The slot a new list gives v, in *slot: 8 bytes, or for len bytes of string
   8 * (len / 8 + 1), as Python does (but counting UTF-8 bytes, not characters). -1 (EINVAL)
   if the string is too long. */
int shmlua_sharelist_slot(const shmlua_slvalue *v, size_t *slot, shmlua_error *err);

/* Block size for count items whose slots add up to datalen, in *size; -1 (EOVERFLOW) if it
   overflows. */
int shmlua_sharelist_size(size_t count, size_t datalen, size_t *size, shmlua_error *err);

/* STR if s is strict UTF-8 (what Python's decoder accepts), else BYTES. */
shmlua_slkind shmlua_sharelist_strkind(const unsigned char *s, size_t len);

/* Starts a new list in a zeroed block of size bytes (shmlua_sharelist_size or more): writes N
   and the first offset. Then give item i its slot with place (in order) and a value with set. */
int shmlua_sharelist_init(shmlua_sharelist *l, unsigned char *block, size_t size, size_t count,
                          size_t datalen, shmlua_error *err);
void shmlua_sharelist_place(unsigned char *block, size_t i, size_t slot);

/* Checks a whole block (header, then every item) and fills l. Reads only inside
   block[0..size): this is the entry to fuzz. */
int shmlua_sharelist_open(shmlua_sharelist *l, const unsigned char *block, size_t size,
                          shmlua_error *err);

/* Item i (< l->count), its offsets, format and type code checked again (another process may
   have changed them since open). */
int shmlua_sharelist_get(const shmlua_sharelist *l, const unsigned char *block, size_t i,
                         shmlua_slvalue *out, shmlua_error *err);

/* Writes item i; a string longer than the item's slot fails and changes nothing. */
int shmlua_sharelist_set(const shmlua_sharelist *l, unsigned char *block, size_t i,
                         const shmlua_slvalue *v, shmlua_error *err);

/* Item i's packing format as Python shows it ("q", "16s", ...), NUL-terminated. */
int shmlua_sharelist_format(const shmlua_sharelist *l, const unsigned char *block, size_t i,
                            char out[9], shmlua_error *err);

#endif
