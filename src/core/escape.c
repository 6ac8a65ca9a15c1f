/* Escaping bytes for a terminal, as `ls -b` shows file names. */
#include "escape.h"

#include <stdio.h>
#include <string.h>

/* Length of the UTF-8 sequence at s (len bytes left) if it is well formed and encodes a
   printable character (U+00A0 and up: C1 controls, overlong forms and surrogates are not),
   else 0. Only called for a byte >= 0x80. */
static size_t printable_utf8(const unsigned char *s, size_t len) {
  unsigned char lead = s[0], lo = 0x80, hi = 0xbf;
  size_t n;
  if (lead >= 0xc2 && lead <= 0xdf)
    n = 2, lo = lead == 0xc2 ? 0xa0 : 0x80;
  else if (lead >= 0xe0 && lead <= 0xef)
    n = 3, lo = lead == 0xe0 ? 0xa0 : 0x80, hi = lead == 0xed ? 0x9f : 0xbf;
  else if (lead >= 0xf0 && lead <= 0xf4)
    n = 4, lo = lead == 0xf0 ? 0x90 : 0x80, hi = lead == 0xf4 ? 0x8f : 0xbf;
  else
    return 0;
  if (len < n || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return n;
}

const char *shmlua_escape(const char *s, size_t len, char *out, size_t size) {
  static const char letters[] = "abtnvfr"; /* \a (7) .. \r (13) */
  const unsigned char *p = (const unsigned char *)s;
  size_t used = 0;
  if (size == 0)
    return out;
  for (size_t i = 0; i < len;) {
    char piece[5];
    size_t n = 0, take = 1;
    if (p[i] == '\\')
      memcpy(piece, "\\\\", n = 2);
    else if (p[i] >= '\a' && p[i] <= '\r')
      piece[0] = '\\', piece[1] = letters[p[i] - '\a'], n = 2;
    else if (p[i] >= 0x20 && p[i] < 0x7f)
      piece[0] = (char)p[i], n = 1;
    else if (p[i] >= 0x80 && (take = printable_utf8(p + i, len - i)) > 0)
      memcpy(piece, p + i, n = take);
    else
      n = (size_t)snprintf(piece, sizeof piece, "\\%03o", p[i]), take = 1;
    if (used + n >= size)
      break;
    memcpy(out + used, piece, n);
    used += n;
    i += take;
  }
  out[used] = '\0';
  return out;
}
