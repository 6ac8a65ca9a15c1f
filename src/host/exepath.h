/* Where this executable is, so that shm.run starts scripts with the same shmlua. */
#ifndef SHMLUA_HOST_EXEPATH_H
#define SHMLUA_HOST_EXEPATH_H

#include <stddef.h>

/* Writes the absolute path of the running executable into out (size bytes); argv0 is the
   fallback where the system cannot say. Returns 0, or -1 when no path could be found. */
int shmlua_exe_path(char *out, size_t size, const char *argv0);

#endif
