-- The low-level example of Python's multiprocessing.shared_memory documentation, in Lua:
-- create a block, write bytes, attach a second handle, read back, close both, unlink once.
local shm = require "shm"

local a = assert(shm.create(10))
local buffer = a.buf
print("block", a.name, "of", #buffer, "bytes")

for i, v in ipairs({ 22, 33, 44, 55 }) do buffer[i] = v end -- modify several bytes
buffer[5] = 100                                              -- or one at a time

local b = assert(shm.attach(a.name)) -- attach to the existing block by its name
print("seen through the second handle:", table.concat({ b.buf:byte(1, 5) }, " "))

b.buf:write(1, "howdy")                -- modify through b with a string
print("seen through the first:", a.buf:sub(1, 5))

b:close() -- close each handle
a:close()
a:unlink() -- unlink once, to release the memory
