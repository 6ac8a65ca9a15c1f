/* Lua values on queues: q:put(v [, timeout]), q:try_put(v), q:get([timeout]), q:try_get().
   A value travels in serial.c's encoding (tables, shmlua objects by name, functions), one
   value per message; a message that does not decode is an error for that get. */
#include "class.h"
#include "parts.h"
#include "serial.h"
#include "sync.h"
#include "wait.h"

static int put(lua_State *L, int wait) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  double seconds;
  const double *d = wait ? shmlua_optseconds(L, 3, &seconds) : NULL;
  size_t len;
  const char *data;
  luaL_checkany(L, 2);
  data = shmlua_encode(L, 2, 1, &len);
  return shmlua_queue_put(L, u, data, len, wait, d);
}

static int get(lua_State *L, int wait) {
  shmlua_syncud *u = shmlua_checkqueue(L, 1);
  double seconds;
  const double *d = wait ? shmlua_optseconds(L, 2, &seconds) : NULL;
  const char *data;
  size_t len;
  int n = shmlua_queue_get(L, u, wait, d, &data, &len);
  if (n != 0)
    return n;
  lua_settop(L, 1);
  n = shmlua_deserialize(L, data, len);
  shmlua_queue_got(u);
  if (n != 1)
    return luaL_error(L, "queue '%s': a message that is not one value (pushed as a string, "
                      "or corrupt) was taken and refused", shmlua_name_user(&u->block.name));
  return 1;
}

static int queue_put(lua_State *L) { return put(L, 1); }
static int queue_try_put(lua_State *L) { return put(L, 0); }
static int queue_get(lua_State *L) { return get(L, 1); }
static int queue_try_get(lua_State *L) { return get(L, 0); }

void shmlua_open_queue_values(lua_State *L) {
  static const luaL_Reg methods[] = {{"put", queue_put}, {"try_put", queue_try_put},
                                     {"get", queue_get}, {"try_get", queue_try_get},
                                     {NULL, NULL}};
  shmlua_addmethods(L, SHMLUA_QUEUE_MT, methods);
}
