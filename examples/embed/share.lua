-- Run by shmlua-embed (examples/embed/embed.c): the parent creates a block, a forked child
-- with a Lua state of its own attaches it by name, checks what it reads and answers in it.
local m <close> = assert(shm.create(64))
m.buf:write(1, "ping")
assert(fork_run([[
  local name = ...
  local m <close> = assert(shm.attach(name))
  assert(m.buf:sub(1, 4) == "ping", "the child read " .. m.buf:sub(1, 4))
  m.buf:write(1, "pong")
]], m.name))
print(("the child answered %q in block %s"):format(m.buf:sub(1, 4), m.name))
m:unlink()
