/* Fuzz target: names as a script or a peer gives them (src/core/name.c). A name that passes
   must be exactly what may reach shm_open: one leading slash, then 1..SHMLUA_NAME_MAX bytes
   that are the input (less one leading slash), no other slash, no NUL, not "." or "..".
   And any bytes escaped for a terminal (src/core/escape.c), into a buffer of any size, are
   a terminated string within it with no C0 control, DEL or UTF-8-encoded C1 control left. */
#include <errno.h>
#include <stdint.h>

#include "escape.h"
#include "name.h"
#include "require.h"

static void require_escaped(const unsigned char *in, size_t size) {
  size_t room = size ? in[0] % 64 + 1 : 1; /* small buffers too: cut, never overrun */
  char *out = malloc(room), *full = malloc(SHMLUA_ESCAPED_SIZE(size));
  const unsigned char *p;
  REQUIRE(out && full);
  REQUIRE(shmlua_escape((const char *)in, size, out, room) == out);
  REQUIRE(memchr(out, '\0', room) != NULL);
  free(out);
  shmlua_escape((const char *)in, size, full, SHMLUA_ESCAPED_SIZE(size));
  for (p = (const unsigned char *)full; *p; p++) {
    REQUIRE(*p >= 0x20 && *p != 0x7f);
    REQUIRE(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f));
  }
  free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *in = fuzz_block(data, size); /* no terminating NUL: checked by length */
  shmlua_name n;
  shmlua_error err;
  size_t skip = size > 0 && in[0] == '/', len;
  require_escaped(in, size);
  if (shmlua_name_check(&n, (const char *)in, size, &err) != 0) {
    REQUIRE(err.code == EINVAL || err.code == ENAMETOOLONG);
    REQUIRE_MESSAGE(&err);
    free(in);
    return 0;
  }
  len = strlen(n.path + 1);
  REQUIRE(n.path[0] == '/');
  REQUIRE(len >= 1 && len <= SHMLUA_NAME_MAX);
  REQUIRE(len == size - skip && memcmp(n.path + 1, in + skip, len) == 0);
  REQUIRE(strchr(n.path + 1, '/') == NULL);
  REQUIRE(strcmp(n.path, "/.") != 0 && strcmp(n.path, "/..") != 0);
  free(in);
  return 0;
}
