/* Names of shared-memory objects. */
#include "name.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#if defined(__APPLE__)
#include <sys/random.h>
#endif

int shmlua_name_check(shmlua_name *out, const char *name, size_t len, shmlua_error *err) {
  if (len > 0 && name[0] == '/') {
    name++;
    len--;
  }
  if (len == 0)
    return shmlua_failf(err, EINVAL, "invalid name: empty");
  if (len > SHMLUA_NAME_MAX)
    return shmlua_failf(err, ENAMETOOLONG, "invalid name: longer than %d bytes",
                        SHMLUA_NAME_MAX);
  if (memchr(name, '\0', len))
    return shmlua_failf(err, EINVAL, "invalid name: contains a NUL byte");
  if (memchr(name, '/', len)) {
    char safe[SHMLUA_ERRMSG_MAX];
    return shmlua_failf(err, EINVAL, "invalid name '%s': '/' is only allowed first",
                        shmlua_escape(name, len, safe, sizeof safe));
  }
  /* "/." and "/.." would name the shared-memory directory or its parent. */
  if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
    return shmlua_failf(err, EINVAL, "invalid name '%.*s'", (int)len, name);
  out->path[0] = '/';
  memcpy(out->path + 1, name, len);
  out->path[len + 1] = '\0';
  return 0;
}

int shmlua_name_random(shmlua_name *out, shmlua_error *err) {
  static const char hex[] = "0123456789abcdef";
  unsigned char bytes[4];
  char *p;
  if (getentropy(bytes, sizeof bytes) != 0)
    return shmlua_fail(err, errno, "random name");
  p = out->path;
  *p++ = '/';
  memcpy(p, SHMLUA_AUTO_PREFIX, sizeof SHMLUA_AUTO_PREFIX - 1);
  p += sizeof SHMLUA_AUTO_PREFIX - 1;
  for (size_t i = 0; i < sizeof bytes; i++) {
    *p++ = hex[bytes[i] >> 4];
    *p++ = hex[bytes[i] & 15];
  }
  *p = '\0';
  return 0;
}
