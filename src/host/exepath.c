/* The running executable's path: /proc/self/exe on Linux, _NSGetExecutablePath on macOS,
   else argv[0] when it holds a slash (it was started by path, not looked up in PATH). */
#include "exepath.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#include <stdint.h>
#endif

/* realpath of path into out, if it fits. */
static int resolve(const char *path, char *out, size_t size) {
  char full[PATH_MAX];
  if (!realpath(path, full) || strlen(full) >= size)
    return -1;
  strcpy(out, full);
  return 0;
}

int shmlua_exe_path(char *out, size_t size, const char *argv0) {
#if defined(__linux__)
  ssize_t n = readlink("/proc/self/exe", out, size - 1);
  if (n > 0) {
    out[n] = '\0';
    return 0;
  }
#elif defined(__APPLE__)
  char raw[PATH_MAX];
  uint32_t len = sizeof raw;
  if (_NSGetExecutablePath(raw, &len) == 0 && resolve(raw, out, size) == 0)
    return 0;
#endif
  if (argv0 && strchr(argv0, '/'))
    return resolve(argv0, out, size);
  return -1;
}
