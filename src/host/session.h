/* What only the REPL adds to a session: results printed by shm.inspect and kept in `_`, and
   a `help` global. Scripts and -e never see them. */
#ifndef SHMLUA_HOST_SESSION_H
#define SHMLUA_HOST_SESSION_H

#include <lua.h>

/* Sets the global help (unless something already has that name). */
void shmlua_session_open(lua_State *L);

/* Prints every value on the stack (tab-separated, as shm.inspect shows them) and keeps the
   first in the global _. Pops them. */
void shmlua_session_show(lua_State *L);

#endif
