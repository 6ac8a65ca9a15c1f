/* buf:hexdump([i [, j]]): bytes i..j as `xxd` prints them, so a person can look at memory.
   Offsets are 0-based hex from the block's start, exactly as `xxd -s` shows them. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "blockaccess.h"
#include "buf.h"
#include "class.h"
#include "hexdump.h"
#include "parts.h"
#include "position.h"

enum { PER_LINE = 16 };

#define MARK_ON "\033[7m" /* reverse video: a byte that changed */
#define MARK_OFF "\033[m"

/* Appends the k-th byte of a line as hex (two characters) or as ASCII (one), marked when it
   differs from before[k]. */
static void addbyte(luaL_Buffer *out, const unsigned char *p, const unsigned char *before,
                    size_t k, int ascii) {
  static const char digits[] = "0123456789abcdef";
  int mark = before && before[k] != p[k];
  if (mark)
    luaL_addstring(out, MARK_ON);
  if (ascii)
    luaL_addchar(out, p[k] >= 0x20 && p[k] < 0x7f ? (char)p[k] : '.');
  else {
    luaL_addchar(out, digits[p[k] >> 4]);
    luaL_addchar(out, digits[p[k] & 15]);
  }
  if (mark)
    luaL_addstring(out, MARK_OFF);
}

/* One line: offset, up to 16 bytes in hex pairs (padded to full width), two spaces, the
   printable characters, newline. */
static void addline(luaL_Buffer *out, size_t offset, const unsigned char *p, size_t n,
                    const unsigned char *before) {
  char head[32];
  luaL_addlstring(out, head, (size_t)snprintf(head, sizeof head, "%08zx: ", offset));
  for (size_t k = 0; k < PER_LINE; k++) {
    if (k > 0 && k % 2 == 0)
      luaL_addchar(out, ' ');
    if (k < n)
      addbyte(out, p, before, k, 0);
    else
      luaL_addstring(out, "  ");
  }
  luaL_addstring(out, "  ");
  for (size_t k = 0; k < n; k++)
    addbyte(out, p, before, k, 1);
  luaL_addchar(out, '\n');
}

void shmlua_hexdump(luaL_Buffer *out, size_t offset, const unsigned char *p, size_t n,
                    const unsigned char *before) {
  for (size_t at = 0; at < n; at += PER_LINE)
    addline(out, offset + at, p + at, n - at < PER_LINE ? n - at : PER_LINE,
            before ? before + at : NULL);
}

static int buf_hexdump(lua_State *L) {
  shmlua_block *b = shmlua_checkbuf(L, 1);
  size_t first,
      n = shmlua_range(shmlua_optint(L, 2, 1), shmlua_optint(L, 3, -1), b->size, &first);
  luaL_Buffer out;
  shmlua_blockaddr(L, b, 0); /* a closed block raises even for an empty range */
  luaL_buffinit(L, &out);
  /* Growing the output may run a finalizer that closes the block: each line's bytes are
     copied from a fresh look at the mapping before the line is added. */
  for (size_t at = 0; at < n; at += PER_LINE) {
    unsigned char line[PER_LINE];
    size_t k = n - at < PER_LINE ? n - at : PER_LINE;
    shmlua_fault fault;
    if (shmlua_guarded_copy(line, shmlua_blockaddr(L, b, 0) + first + at, k, b, NULL, &fault))
      shmlua_faulterror(L, &fault);
    shmlua_hexdump(&out, first + at, line, k, NULL);
  }
  luaL_pushresult(&out);
  return 1;
}

void shmlua_open_hexdump(lua_State *L) {
  static const luaL_Reg methods[] = {{"hexdump", buf_hexdump}, {NULL, NULL}};
  shmlua_addmethods(L, SHMLUA_BUF_MT, methods);
}
