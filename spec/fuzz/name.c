/* Fuzz target: names as a script or a peer gives them (src/core/name.c). A name that passes
   must be exactly what may reach shm_open: one leading slash, then 1..SHMLUA_NAME_MAX bytes
   that are the input (less one leading slash), no other slash, no NUL, not "." or "..". */
#include <errno.h>
#include <stdint.h>

#include "name.h"
#include "require.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *in = fuzz_block(data, size); /* no terminating NUL: checked by length */
  shmlua_name n;
  shmlua_error err;
  size_t skip = size > 0 && in[0] == '/', len;
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
