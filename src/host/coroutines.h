/* Coroutines that Ctrl-C reaches: the host's coroutine.resume and coroutine.wrap say which
   thread runs, so the interrupt hook is set on it (lua_sethook is per thread). */
#ifndef SHMLUA_HOST_COROUTINES_H
#define SHMLUA_HOST_COROUTINES_H

#include <lua.h>

/* Replaces coroutine.resume and coroutine.wrap, after the standard libraries are open. */
void shmlua_host_track_coroutines(lua_State *L);

#endif
