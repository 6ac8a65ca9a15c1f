/* Lua's names: reserved words, identifiers. */
#include <string.h>

#include "luaname.h"

const char *const shmlua_keywords[] = {
    "and",      "break",  "do",   "else", "elseif", "end",   "false", "for",
    "function", "goto",   "if",   "in",   "local",  "nil",   "not",   "or",
    "repeat",   "return", "then", "true", "until",  "while", NULL};

int shmlua_isnamechar(char c, int first) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (!first && c >= '0' && c <= '9');
}

int shmlua_isname(const char *s, size_t len) {
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!shmlua_isnamechar(s[i], i == 0))
      return 0;
  for (const char *const *w = shmlua_keywords; *w; w++)
    if (strlen(*w) == len && memcmp(*w, s, len) == 0)
      return 0;
  return 1;
}
