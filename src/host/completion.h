/* Tab completion at the REPL's prompt (with GNU readline): the candidates are
   shm.complete's, over the globals; the list shows only the part after the last '.' or ':'. */
#ifndef SHMLUA_HOST_COMPLETION_H
#define SHMLUA_HOST_COMPLETION_H

#include <lua.h>

/* Binds Tab to completion from L's globals (nothing without readline). */
void shmlua_completion_open(lua_State *L);

#endif
