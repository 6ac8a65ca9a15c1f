-- Builds the shm module (and the shmlua command) from a checkout with CMake, no network:
--   luarocks [--lua-version 5.1..5.4] make lua/rockspec/shmlua-scm-1.rockspec   (top of the tree)
--   LuaJIT: luarocks --lua-version 5.1 make lua/rockspec/shmlua-scm-1.rockspec \
--           LUA_INCDIR=/usr/include/luajit-2.1
--   luarocks make --tree DIR lua/rockspec/shmlua-scm-1.rockspec  (into a tree of your own)
rockspec_format = "3.0"
package = "shmlua"
version = "scm-1"
source = {
  url = "git+file://.", -- not used by `luarocks make`, which builds the current directory
}
description = {
  summary = "POSIX shared memory for Lua 5.1-5.4 and LuaJIT: blocks, typed views, locks, queues",
  detailed = [[
Named POSIX shared-memory blocks that several processes map at once, byte and typed views
of them, process-shared locks, queues and atomics, and cleanup that survives crashes.
Interchangeable with Python's multiprocessing.shared_memory.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1, < 5.5", -- and LuaJIT (as 5.1)
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    CMAKE_INSTALL_BINDIR = "$(BINDIR)",
    SHMLUA_LUA_CDIR = "$(LIBDIR)",
    LUA_INCLUDE_DIR = "$(LUA_INCDIR)",
    SHMLUA_INSTALL_DEV = "OFF",
    SHMLUA_EXAMPLES = "OFF",
    SHMLUA_BENCH = "OFF",
    SHMLUA_SPEC_PROGRAMS = "OFF",
  },
}
