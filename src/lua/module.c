/* luaopen_shm: the module table, assembled from every binding part (parts.h). The parts call
   no part's open function: this list is the only place that knows them all. */
#include "compat.h"
#include "luashm.h"
#include "parts.h"

int luaopen_shm(lua_State *L) {
  static void (*const parts[])(lua_State *) = {
      shmlua_open_block,       shmlua_open_buf,
      shmlua_open_mutex,       shmlua_open_semaphore,
      shmlua_open_barrier,     shmlua_open_event,
      shmlua_open_cond,        shmlua_open_queue,
      shmlua_open_queue_batch, /* after queue: methods of its class */
      shmlua_open_queue_view,  shmlua_open_queue_values,
      shmlua_open_dict,        shmlua_open_proc,
      shmlua_open_map,         shmlua_open_listing,
      shmlua_open_array,       shmlua_open_arrayops, /* after array and map */
      shmlua_open_pack,        shmlua_open_list, /* after block: uses shm.create, shm.attach */
      shmlua_open_hexdump,     shmlua_open_watch,
      shmlua_open_jit,         shmlua_open_serial,
      shmlua_open_pool,        shmlua_open_inspect,
      shmlua_open_help,        shmlua_open_complete,
  };
  shmlua_compat_open(L);
  lua_newtable(L);
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    parts[i](L);
  lua_pushliteral(L, SHMLUA_VERSION); /* CMake's project version */
  lua_setfield(L, -2, "version");
  return 1;
}
