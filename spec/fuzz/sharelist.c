/* Fuzz target: CPython ShareableList blocks (src/core/sharelist.c) as a peer may leave them.
   Two ways in: a block taken as found (open checks it, then every item is read, formatted
   and written), and a list made correctly whose bytes a peer then overwrote (reads and
   writes with the layout found at open must still stay inside the block). */
#include <stdint.h>

#include "require.h"
#include "sharelist.h"

enum { MAX_ITEMS = 64 };

static const char text[] = "a string longer than one slot";

static const shmlua_slvalue values[] = {
    {.kind = SHMLUA_SL_INT, .i = -5},
    {.kind = SHMLUA_SL_FLOAT, .f = 2.5},
    {.kind = SHMLUA_SL_BOOL, .i = 1},
    {.kind = SHMLUA_SL_NONE},
    {.kind = SHMLUA_SL_STR, .s = (const unsigned char *)text, .len = 3},
    {.kind = SHMLUA_SL_BYTES, .s = (const unsigned char *)text, .len = sizeof text - 1},
};

/* Reads, formats and writes every item; whatever fails must say why. */
static void use(const shmlua_sharelist *l, unsigned char *block, size_t size) {
  for (size_t i = 0; i < l->count && i < MAX_ITEMS; i++) {
    shmlua_slvalue v;
    shmlua_error err;
    char format[9];
    if (shmlua_sharelist_get(l, block, i, &v, &err) == 0) {
      if (v.kind == SHMLUA_SL_STR || v.kind == SHMLUA_SL_BYTES)
        REQUIRE(v.s >= block && v.len <= size && v.s + v.len <= block + size);
    } else {
      REQUIRE_MESSAGE(&err);
    }
    if (shmlua_sharelist_format(l, block, i, format, &err) == 0)
      REQUIRE(memchr(format, '\0', sizeof format) != NULL);
    else
      REQUIRE_MESSAGE(&err);
    if (shmlua_sharelist_set(l, block, i, &values[i % 6], &err) != 0)
      REQUIRE_MESSAGE(&err);
  }
}

/* A correct list of data[0] % 9 items (slots of 8 or 32 bytes, chosen by the bits of
   data[1]), then overwritten with the rest of the input. */
static void scribbled(const uint8_t *data, size_t size) {
  size_t n, datalen = 0, blocksize, slots[8];
  shmlua_sharelist l;
  shmlua_error err;
  unsigned char *block;
  if (size < 2)
    return;
  n = data[0] % 9;
  for (size_t i = 0; i < n; i++)
    datalen += slots[i] = (data[1] >> i & 1) ? 32 : 8;
  REQUIRE(shmlua_sharelist_size(n, datalen, &blocksize, &err) == 0);
  block = calloc(1, blocksize);
  REQUIRE(block != NULL);
  REQUIRE(shmlua_sharelist_init(&l, block, blocksize, n, datalen, &err) == 0);
  for (size_t i = 0; i < n; i++) {
    shmlua_sharelist_place(block, i, slots[i]);
    if (shmlua_sharelist_set(&l, block, i, &values[i % 6], &err) != 0)
      REQUIRE_MESSAGE(&err);
  }
  memcpy(block, data + 2, size - 2 < blocksize ? size - 2 : blocksize);
  use(&l, block, blocksize);
  free(block);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *block = fuzz_block(data, size);
  shmlua_sharelist l;
  shmlua_error err;
  if (shmlua_sharelist_open(&l, block, size, &err) == 0)
    use(&l, block, size);
  else
    REQUIRE_MESSAGE(&err);
  free(block);
  scribbled(data, size);
  return 0;
}
