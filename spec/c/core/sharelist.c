/* CPython's ShareableList layout (sharelist.c): the list of docs' example, made here in a
   real block, is byte for byte what Python 3.11 makes (the bytes below, dumped from
   ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42]) on x86-64; see
   /work/shared/anchors.md); read back item by item; and corrupt blocks refused. */
#include <stdlib.h>

#include "block.h"
#include "check.h"
#include "sharelist.h"

static const unsigned char python_bytes[191] = {
    0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x68, 0x6f, 0x77,
    0x64, 0x79, 0x00, 0x00, 0x00, 0x48, 0x6f, 0x57, 0x64, 0x59, 0x00, 0x00, 0x00, 0x58, 0x39,
    0xb4, 0xc8, 0x76, 0x12, 0x71, 0xc0, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x38, 0x73, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x38, 0x73, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x71, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78, 0x78, 0x78, 0x78, 0x78,
    0x78, 0x3f, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x78, 0x3f, 0x71, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x03, 0x00, 0x00,
};

enum { ITEMS = 7 };

static shmlua_slvalue items[ITEMS] = {
    {SHMLUA_SL_STR, 0, 0, (const unsigned char *)"howdy", 5},
    {SHMLUA_SL_BYTES, 0, 0, (const unsigned char *)"HoWdY", 5},
    {SHMLUA_SL_FLOAT, 0, -273.154, NULL, 0},
    {SHMLUA_SL_INT, 100, 0, NULL, 0},
    {SHMLUA_SL_NONE, 0, 0, NULL, 0},
    {SHMLUA_SL_BOOL, 1, 0, NULL, 0},
    {SHMLUA_SL_INT, 42, 0, NULL, 0},
};

static const char *const formats[ITEMS] = {"8s", "8s", "d", "q", "xxxxxx?x", "xxxxxxx?", "q"};

static void make_like_python(void) {
  shmlua_name n = check_name();
  shmlua_block b;
  shmlua_sharelist l;
  shmlua_error err;
  size_t datalen = 0, slot = 0, size = 0;
  for (int i = 0; i < ITEMS; i++) {
    CHECK(shmlua_sharelist_slot(&items[i], &slot, &err) == 0);
    datalen += slot;
  }
  CHECK_INT(datalen, 56);
  CHECK(shmlua_sharelist_size(ITEMS, datalen, &size, &err) == 0);
  CHECK_INT(size, sizeof python_bytes);
  if (!CHECK(shmlua_block_create(&b, &n, sizeof python_bytes, NULL, &err) == 0))
    return;
  if (CHECK(shmlua_sharelist_init(&l, b.addr, b.size, ITEMS, datalen, &err) == 0)) {
    for (int i = 0; i < ITEMS; i++) {
      CHECK(shmlua_sharelist_slot(&items[i], &slot, &err) == 0);
      shmlua_sharelist_place(b.addr, (size_t)i, slot);
    }
    for (int i = 0; i < ITEMS; i++)
      CHECK(shmlua_sharelist_set(&l, b.addr, (size_t)i, &items[i], &err) == 0);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (size_t k = 0; k < sizeof python_bytes; k++)
      if (!check_report(b.addr[k] == python_bytes[k], __FILE__, __LINE__,
                        "byte %zu is 0x%02x, Python's 0x%02x", k, b.addr[k], python_bytes[k]))
        break;
#endif
  }
  shmlua_unlink(&n, &err);
  shmlua_block_close(&b);
}

/* A copy of Python's bytes in a heap buffer of exactly their size: under ASan any read past
   them is an error. */
static unsigned char *copy(void) {
  unsigned char *p = malloc(sizeof python_bytes);
  if (!p)
    abort();
  memcpy(p, python_bytes, sizeof python_bytes);
  return p;
}

static void read_python(void) {
  unsigned char *block = copy();
  shmlua_sharelist l;
  shmlua_slvalue v;
  shmlua_error err;
  char format[9];
  if (!CHECK(shmlua_sharelist_open(&l, block, sizeof python_bytes, &err) == 0)) {
    free(block);
    return;
  }
  CHECK_INT(l.count, ITEMS);
  for (int i = 0; i < ITEMS; i++) {
    if (!CHECK(shmlua_sharelist_get(&l, block, (size_t)i, &v, &err) == 0))
      continue;
    CHECK_INT(v.kind, items[i].kind);
    if (v.kind == SHMLUA_SL_STR || v.kind == SHMLUA_SL_BYTES)
      CHECK(v.len == items[i].len && memcmp(v.s, items[i].s, v.len) == 0);
    else if (v.kind == SHMLUA_SL_FLOAT)
      CHECK(v.f == items[i].f);
    else if (v.kind != SHMLUA_SL_NONE)
      CHECK_INT(v.i, items[i].i);
    if (CHECK(shmlua_sharelist_format(&l, block, (size_t)i, format, &err) == 0))
      CHECK_STR(format, formats[i]);
  }
  /* A string as long as its slot fits (format "8s" stays); one byte more changes nothing. */
  shmlua_slvalue eight = {SHMLUA_SL_STR, 0, 0, (const unsigned char *)"12345678", 8};
  shmlua_slvalue nine = {SHMLUA_SL_BYTES, 0, 0, (const unsigned char *)"123456789", 9};
  CHECK(shmlua_sharelist_set(&l, block, 0, &eight, &err) == 0);
  CHECK_FAILS(shmlua_sharelist_set(&l, block, 0, &nine, &err), err, ERANGE,
              "a string of 9 bytes does not fit in list item 1 (8 bytes)");
  if (CHECK(shmlua_sharelist_get(&l, block, 0, &v, &err) == 0))
    CHECK(v.kind == SHMLUA_SL_STR && v.len == 8 && memcmp(v.s, "12345678", 8) == 0);
  /* A shorter one after it: the rest of the slot is cleared, as Python reads up to a NUL. */
  shmlua_slvalue two = {SHMLUA_SL_STR, 0, 0, (const unsigned char *)"ab", 2};
  CHECK(shmlua_sharelist_set(&l, block, 0, &two, &err) == 0);
  if (CHECK(shmlua_sharelist_get(&l, block, 0, &v, &err) == 0))
    CHECK(v.len == 2 && memcmp(v.s, "ab", 2) == 0);
  free(block);
}

/* Each corruption of Python's bytes is refused with its reason; none reads outside. */
static void corrupt(size_t at, const void *bytes, size_t len, size_t size, const char *part) {
  unsigned char *block = copy();
  shmlua_sharelist l;
  shmlua_error err;
  memcpy(block + at, bytes, len);
  CHECK_FAILS(shmlua_sharelist_open(&l, block, size, &err), err, EINVAL, part);
  free(block);
}

static void corruptions(void) {
  int64_t minus = -1, huge = INT64_MAX, one = 1, odd = 12, far = 4096;
  corrupt(0, &minus, 8, sizeof python_bytes, "-1 items cannot fit");
  corrupt(0, &huge, 8, sizeof python_bytes, "items cannot fit in 191 bytes");
  corrupt(8, &one, 8, sizeof python_bytes, "first offset is 1, not 0");
  corrupt(24, &odd, 8, sizeof python_bytes, "offset 12 of item 2 is out of order");
  corrupt(64, &far, 8, sizeof python_bytes, "offset 4096 of item 7");
  corrupt(128, "z", 1, sizeof python_bytes, "list item 1: unknown packing format");
  corrupt(128, "9s", 2, sizeof python_bytes, "format '9s' is larger than its slot of 8 bytes");
  corrupt(184, "\x03", 1, sizeof python_bytes,
          "list item 1: type code 3 does not match format '8s'");
  corrupt(188, "\x00", 1, sizeof python_bytes, "list item 5: type code 0 does not match");
  corrupt(0, "", 0, 15, "a block of 15 bytes is too small");
  corrupt(0, "", 0, sizeof python_bytes - 1, "offset 56 of item 7 is out of order or outside");
}

static void strings(void) {
#define KIND(text) shmlua_sharelist_strkind((const unsigned char *)(text), sizeof(text) - 1)
  CHECK_INT(KIND(""), SHMLUA_SL_STR);
  CHECK_INT(KIND("howdy"), SHMLUA_SL_STR);
  CHECK_INT(KIND("caf\xc3\xa9"), SHMLUA_SL_STR);
  CHECK_INT(KIND("\xf4\x8f\xbf\xbf"), SHMLUA_SL_STR); /* U+10FFFF, the last */
  CHECK_INT(KIND("\xff"), SHMLUA_SL_BYTES);
  CHECK_INT(KIND("\xc0\x80"), SHMLUA_SL_BYTES);         /* overlong NUL */
  CHECK_INT(KIND("\xed\xa0\x80"), SHMLUA_SL_BYTES);     /* a surrogate */
  CHECK_INT(KIND("\xf4\x90\x80\x80"), SHMLUA_SL_BYTES); /* past Unicode */
  CHECK_INT(KIND("ab\xe2\x82"), SHMLUA_SL_BYTES);       /* cut short */
#undef KIND
  shmlua_slvalue s = {SHMLUA_SL_STR, 0, 0, (const unsigned char *)"", 0};
  shmlua_error err;
  size_t slot = 0;
  CHECK(shmlua_sharelist_slot(&s, &slot, &err) == 0);
  CHECK_INT(slot, 8);
  s.len = 7;
  CHECK(shmlua_sharelist_slot(&s, &slot, &err) == 0);
  CHECK_INT(slot, 8);
  s.len = 8; /* Python's 8 * (len // 8 + 1): a full word more */
  CHECK(shmlua_sharelist_slot(&s, &slot, &err) == 0);
  CHECK_INT(slot, 16);
  s.len = SHMLUA_SL_MAX_SLOT;
  CHECK_FAILS(shmlua_sharelist_slot(&s, &slot, &err), err, EINVAL, "too long");
  CHECK_FAILS(shmlua_sharelist_size(SIZE_MAX / 8, 8, &slot, &err), err, EOVERFLOW,
              "too large");
}

int main(void) {
  check_test = "sharelist";
  make_like_python();
  read_python();
  corruptions();
  strings();
  return check_done();
}
