-- Two processes share one block: this script creates it and writes a greeting, then starts
-- a second interpreter (a fresh process, not a fork) that attaches by name, reads the
-- greeting and writes an answer, which this process then sees.
-- Run: shmlua examples/two_processes.lua   (or lua5.4 with shm.so on LUA_CPATH)
local shm = require "shm"

if arg[1] == "reader" then -- the second process
  local m = assert(shm.attach(arg[2]))
  print(("reader sees: %q"):format(m.buf:sub(1, 14)))
  m.buf:write(101, "hello back")
  m:close()
  return
end

local m <close> = assert(shm.create(128))
m.buf:write(1, "hello, reader!")
print("writer made " .. m.name)

local interpreter = arg[-1] or "lua5.4"
local child = assert(io.popen(("%s %s reader %s"):format(interpreter, arg[0], m.name)))
io.write(child:read("a"))
assert(child:close(), "the reader failed")

print(("writer sees the answer: %q"):format(m.buf:sub(101, 110)))
-- m is owned by this process: it is unlinked when the script ends.
