/* buf:hexdump([i [, j]]): bytes i..j as `xxd` prints them, so a person can look at memory.
   Offsets are 0-based hex from the block's start, exactly as `xxd -s` shows them. */
#include <stdio.h>

#include "binding.h"

enum { PER_LINE = 16, HEX_WIDTH = PER_LINE * 2 + PER_LINE / 2 - 1 };

/* Appends one line: offset, up to 16 bytes in hex pairs, then the printable characters. */
static void addline(luaL_Buffer *out, size_t offset, const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char line[32 + HEX_WIDTH + 2 + PER_LINE + 1];
  int len = snprintf(line, 32, "%08zx: ", offset);
  for (size_t k = 0; k < PER_LINE; k++) {
    if (k > 0 && k % 2 == 0)
      line[len++] = ' ';
    line[len++] = k < n ? digits[p[k] >> 4] : ' ';
    line[len++] = k < n ? digits[p[k] & 15] : ' ';
  }
  line[len++] = ' ';
  line[len++] = ' ';
  for (size_t k = 0; k < n; k++)
    line[len++] = p[k] >= 0x20 && p[k] < 0x7f ? (char)p[k] : '.';
  line[len++] = '\n';
  luaL_addlstring(out, line, (size_t)len);
}

static int buf_hexdump(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  size_t start = shmlua_posstart(shmlua_optint(L, 2, 1), b->size);
  size_t end = shmlua_posend(shmlua_optint(L, 3, -1), b->size);
  const unsigned char *p = shmlua_blockaddr(L, b, 0);
  luaL_Buffer out;
  luaL_buffinit(L, &out);
  for (size_t at = start - 1; start <= end && at < end; at += PER_LINE)
    addline(&out, at, p + at, end - at < PER_LINE ? end - at : PER_LINE);
  luaL_pushresult(&out);
  return 1;
}

void shmlua_open_hexdump(lua_State *L) {
  static const luaL_Reg methods[] = {{"hexdump", buf_hexdump}, {NULL, NULL}};
  shmlua_addmethods(L, SHMLUA_BUF_MT, methods);
}
