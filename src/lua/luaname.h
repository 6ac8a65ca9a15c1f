/* Lua's names (luaname.c), for the completion and shm.inspect's output. */
#ifndef SHMLUA_LUANAME_H
#define SHMLUA_LUANAME_H

#include <stddef.h>

/* Lua's reserved words (NULL-terminated); whether c may be in a name (first: start it); whether
   s (len bytes) is a name: an identifier that is not a reserved word. */
extern const char *const shmlua_keywords[];
int shmlua_isnamechar(char c, int first);
int shmlua_isname(const char *s, size_t len);

#endif
