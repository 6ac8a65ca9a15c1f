/* Ctrl-C (interrupt.c): how a signal handler reaches the thread that runs, and how a wait in
   C gives way to it. */
#ifndef SHMLUA_INTERRUPT_H
#define SHMLUA_INTERRUPT_H

#include "compat.h"

/* Call after a blocking wait in C returned EINTR: if a signal handler asked the interpreter
   to stop (lua.c and shmlua set a hook on Ctrl-C), this raises that error ("interrupted!")
   now instead of at the next Lua instruction, so a wait never swallows Ctrl-C. The caller
   must hold nothing that needs freeing. Otherwise returns and the wait may go on. */
void shmlua_checkinterrupt(lua_State *L);
/* co starts (or resumes) running; returns the thread that ran until now (NULL if nobody
   said), to give back to shmlua_running_leave when co stops. Whoever resumes a coroutine
   calls these around lua_resume, so that shmlua_interrupt reaches code running in it. */
lua_State *shmlua_running_enter(lua_State *co);
void shmlua_running_leave(lua_State *co, lua_State *outer);
/* Closes the pending to-be-closed variables of co (after an error), co running meanwhile;
   returns the status of lua_closethread. */
int shmlua_running_close(lua_State *co, lua_State *L);
/* For a SIGINT handler (async-signal-safe): the running thread raises "interrupted!" at its
   next step, or in its wait (shmlua_checkinterrupt). An interrupt not taken when its thread
   leaves goes on to the outer one; with none (the host's call is over) it is dropped. */
void shmlua_interrupt(void);

#endif
