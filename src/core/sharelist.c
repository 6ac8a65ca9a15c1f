/* CPython's ShareableList layout, checked on every read and write. */
#include "sharelist.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { WORD = 8, FORMAT_LEN = 8 };
enum { CODE_PLAIN = 0, CODE_STR = 1, CODE_BYTES = 2, CODE_NONE = 3 };

static const char FORMAT_BOOL[] = "xxxxxxx?", FORMAT_NONE[] = "xxxxxx?x";

/* Where one item is, and what its format and type code say it holds. */
typedef struct item {
  size_t at;   /* offset of its slot from the block's start */
  size_t slot; /* slot length */
  shmlua_slkind kind;
  size_t strcap; /* STR, BYTES: the n of "<n>s" */
} item;

static int64_t getword(const unsigned char *p) {
  int64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static void putword(unsigned char *p, int64_t v) {
  memcpy(p, &v, sizeof v);
}

static int isstring(shmlua_slkind kind) {
  return kind == SHMLUA_SL_STR || kind == SHMLUA_SL_BYTES;
}

int shmlua_sharelist_slot(const shmlua_slvalue *v, size_t *slot, shmlua_error *err) {
  if (isstring(v->kind) && v->len >= SHMLUA_SL_MAX_SLOT)
    return shmlua_failf(err, EINVAL,
                        "a string of %zu bytes is too long for a list (at most %u)", v->len,
                        SHMLUA_SL_MAX_SLOT - 1);
  *slot = isstring(v->kind) ? WORD * (v->len / WORD + 1) : WORD;
  return 0;
}

int shmlua_sharelist_size(size_t count, size_t datalen, size_t *size, shmlua_error *err) {
  /* count, count + 1 offsets, data, count formats, count type codes */
  if (datalen > SIZE_MAX - 2 * WORD ||
      count > (SIZE_MAX - 2 * WORD - datalen) / (2 * WORD + 1))
    return shmlua_failf(err, EOVERFLOW, "list too large");
  *size = 2 * WORD + datalen + count * (2 * WORD + 1);
  return 0;
}

shmlua_slkind shmlua_sharelist_strkind(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned c = s[i], cp, least;
    size_t more;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF)
      more = 1, cp = c & 0x1F, least = 0x80;
    else if ((c & 0xF0) == 0xE0)
      more = 2, cp = c & 0x0F, least = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
      more = 3, cp = c & 0x07, least = 0x10000;
    else
      return SHMLUA_SL_BYTES;
    if (len - i <= more)
      return SHMLUA_SL_BYTES;
    for (size_t k = 1; k <= more; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return SHMLUA_SL_BYTES;
      cp = cp << 6 | (s[i + k] & 0x3Fu);
    }
    /* overlong forms, surrogates and values past Unicode are not UTF-8 */
    if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return SHMLUA_SL_BYTES;
    i += more + 1;
  }
  return SHMLUA_SL_STR;
}

/* Fills l for count items, datalen data bytes. */
static void lay_out(shmlua_sharelist *l, size_t count, size_t datalen) {
  l->count = count;
  l->data = (count + 2) * WORD;
  l->datalen = datalen;
  l->formats = l->data + datalen;
  l->codes = l->formats + count * FORMAT_LEN;
}

int shmlua_sharelist_init(shmlua_sharelist *l, unsigned char *block, size_t size, size_t count,
                          size_t datalen, shmlua_error *err) {
  size_t need;
  if (shmlua_sharelist_size(count, datalen, &need, NULL) != 0 || need > size)
    return shmlua_failf(err, EINVAL, "list of %zu items needs more than %zu bytes", count,
                        size);
  lay_out(l, count, datalen);
  putword(block, (int64_t)count);
  putword(block + WORD, 0);
  return 0;
}

void shmlua_sharelist_place(unsigned char *block, size_t i, size_t slot) {
  unsigned char *offset = block + WORD * (i + 1);
  putword(offset + WORD, getword(offset) + (int64_t)slot);
}

/* Item i's slot, from offsets read now and checked against the data area. */
static int locate(const shmlua_sharelist *l, const unsigned char *block, size_t i, item *it,
                  shmlua_error *err) {
  int64_t start = getword(block + WORD * (i + 1)), end = getword(block + WORD * (i + 2));
  if (start < 0 || end <= start || end - start < WORD || (start | end) % WORD != 0 ||
      (uint64_t)end > l->datalen)
    return shmlua_failf(err, EINVAL,
                        "list item %zu: bad offsets %lld..%lld (data area of %zu "
                        "bytes)",
                        i + 1, (long long)start, (long long)end, l->datalen);
  it->at = l->data + (size_t)start;
  it->slot = (size_t)(end - start);
  return 0;
}

/* The "<n>s" capacity in a format of len bytes, or 0 if it is not one. */
static size_t strcapacity(const unsigned char *f, size_t len) {
  size_t n = 0;
  if (len < 2 || f[len - 1] != 's' || f[0] < '1' || f[0] > '9')
    return 0;
  for (size_t k = 0; k + 1 < len; k++) {
    if (f[k] < '0' || f[k] > '9')
      return 0;
    n = n * 10 + (size_t)(f[k] - '0');
  }
  return n;
}

/* Item i: slot, kind and capacity, all consistent. */
static int inspect(const shmlua_sharelist *l, const unsigned char *block, size_t i, item *it,
                   shmlua_error *err) {
  const unsigned char *f = block + l->formats + i * FORMAT_LEN;
  signed char code = (signed char)block[l->codes + i];
  size_t len = FORMAT_LEN;
  int want = CODE_PLAIN;
  if (locate(l, block, i, it, err) != 0)
    return -1;
  while (len > 0 && f[len - 1] == '\0')
    len--;
  it->strcap = 0;
  if (len == 1 && f[0] == 'q')
    it->kind = SHMLUA_SL_INT;
  else if (len == 1 && f[0] == 'd')
    it->kind = SHMLUA_SL_FLOAT;
  else if (len == FORMAT_LEN && memcmp(f, FORMAT_BOOL, FORMAT_LEN) == 0)
    it->kind = SHMLUA_SL_BOOL;
  else if (len == FORMAT_LEN && memcmp(f, FORMAT_NONE, FORMAT_LEN) == 0)
    it->kind = SHMLUA_SL_NONE, want = CODE_NONE;
  else if ((it->strcap = strcapacity(f, len)) != 0) {
    if (it->strcap > it->slot)
      return shmlua_failf(err, EINVAL,
                          "list item %zu: format '%.*s' is larger than its slot "
                          "of %zu bytes",
                          i + 1, (int)len, (const char *)f, it->slot);
    it->kind = code == CODE_BYTES ? SHMLUA_SL_BYTES : SHMLUA_SL_STR;
    want = code == CODE_BYTES ? CODE_BYTES : CODE_STR;
  } else
    return shmlua_failf(err, EINVAL, "list item %zu: unknown packing format", i + 1);
  if (code != want)
    return shmlua_failf(err, EINVAL,
                        "list item %zu: type code %d does not match format '%.*s'", i + 1,
                        code, (int)len, (const char *)f);
  return 0;
}

int shmlua_sharelist_open(shmlua_sharelist *l, const unsigned char *block, size_t size,
                          shmlua_error *err) {
  int64_t count, prev, room;
  if (size < 2 * WORD)
    return shmlua_failf(err, EINVAL, "list header: a block of %zu bytes is too small", size);
  count = getword(block);
  if (count < 0 || (uint64_t)count > (size - 2 * WORD) / (2 * WORD + 1))
    return shmlua_failf(err, EINVAL, "list header: %lld items cannot fit in %zu bytes",
                        (long long)count, size);
  /* What is left for the data area once the header, formats and type codes are counted. */
  room = (int64_t)(size - 2 * WORD - (size_t)count * (2 * WORD + 1));
  prev = getword(block + WORD);
  if (prev != 0)
    return shmlua_failf(err, EINVAL, "list header: first offset is %lld, not 0",
                        (long long)prev);
  for (int64_t k = 1; k <= count; k++) {
    int64_t offset = getword(block + WORD * (k + 1));
    if (offset <= prev || offset - prev < WORD || offset % WORD != 0 || offset > room)
      return shmlua_failf(err, EINVAL,
                          "list header: offset %lld of item %lld is out of order "
                          "or outside the block",
                          (long long)offset, (long long)k);
    prev = offset;
  }
  lay_out(l, (size_t)count, (size_t)prev);
  for (size_t i = 0; i < l->count; i++) {
    item it;
    if (inspect(l, block, i, &it, err) != 0)
      return -1;
  }
  return 0;
}

int shmlua_sharelist_get(const shmlua_sharelist *l, const unsigned char *block, size_t i,
                         shmlua_slvalue *out, shmlua_error *err) {
  item it;
  const unsigned char *p;
  if (inspect(l, block, i, &it, err) != 0)
    return -1;
  p = block + it.at;
  out->kind = it.kind;
  switch (it.kind) {
  case SHMLUA_SL_INT:
    out->i = getword(p);
    break;
  case SHMLUA_SL_FLOAT:
    memcpy(&out->f, p, sizeof out->f);
    break;
  case SHMLUA_SL_BOOL:
    out->i = p[WORD - 1] != 0;
    break;
  case SHMLUA_SL_NONE:
    break;
  case SHMLUA_SL_STR:
  case SHMLUA_SL_BYTES:
    out->s = p;
    out->len = it.strcap;
    while (out->len > 0 && p[out->len - 1] == '\0') /* as Python reads them */
      out->len--;
    break;
  }
  return 0;
}

int shmlua_sharelist_set(const shmlua_sharelist *l, unsigned char *block, size_t i,
                         const shmlua_slvalue *v, shmlua_error *err) {
  unsigned char format[FORMAT_LEN + 1] = {0}, *p; /* + 1: snprintf's NUL */
  signed char code = CODE_PLAIN;
  item it = {0}; /* locate fills it; GCC -O3 cannot see that shmlua_failf returns -1 */
  if (locate(l, block, i, &it, err) != 0)
    return -1;
  p = block + it.at;
  switch (v->kind) {
  case SHMLUA_SL_INT:
    format[0] = 'q';
    putword(p, v->i);
    break;
  case SHMLUA_SL_FLOAT:
    format[0] = 'd';
    memcpy(p, &v->f, sizeof v->f);
    break;
  case SHMLUA_SL_BOOL:
  case SHMLUA_SL_NONE:
    memcpy(format, v->kind == SHMLUA_SL_BOOL ? FORMAT_BOOL : FORMAT_NONE, FORMAT_LEN);
    memset(p, 0, WORD);
    p[WORD - 1] = v->kind == SHMLUA_SL_BOOL && v->i;
    code = v->kind == SHMLUA_SL_NONE ? CODE_NONE : CODE_PLAIN;
    break;
  case SHMLUA_SL_STR:
  case SHMLUA_SL_BYTES: {
    /* The whole slot, but no more than a format of 8 bytes can say. */
    size_t cap = it.slot < SHMLUA_SL_MAX_SLOT ? it.slot : SHMLUA_SL_MAX_SLOT;
    if (v->len > cap)
      return shmlua_failf(err, ERANGE,
                          "a string of %zu bytes does not fit in list item %zu "
                          "(%zu bytes)",
                          v->len, i + 1, cap);
    memcpy(p, v->s, v->len);
    memset(p + v->len, 0, cap - v->len);
    snprintf((char *)format, sizeof format, "%zus", cap);
    code = v->kind == SHMLUA_SL_STR ? CODE_STR : CODE_BYTES;
    break;
  }
  }
  memcpy(block + l->formats + i * FORMAT_LEN, format, FORMAT_LEN);
  block[l->codes + i] = (unsigned char)code;
  return 0;
}

int shmlua_sharelist_format(const shmlua_sharelist *l, const unsigned char *block, size_t i,
                            char out[9], shmlua_error *err) {
  item it;
  if (inspect(l, block, i, &it, err) != 0)
    return -1;
  memcpy(out, block + l->formats + i * FORMAT_LEN, FORMAT_LEN);
  out[FORMAT_LEN] = '\0';
  return 0;
}
