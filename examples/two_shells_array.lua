-- Python's documentation shares a NumPy array between "two shells" through one block; here
-- the same story with a typed array. This script is the first shell: it makes the array and
-- starts a second interpreter (a fresh process) that attaches by name and changes the last
-- number, which this process then sees. If python3 is installed, Python reads it too. Then a
-- whole-array step, as a Python user would do with NumPy on the shared array (np.sum,
-- argmax, c *= 2, c.sort()): each one call, in C, in place; NumPy checks it if installed.
-- Run: shmlua examples/two_shells_array.lua   (or lua5.4 with shm.so on LUA_CPATH)
local shm = require "shm"

local function show(a)
  return "{" .. table.concat(a:totable(), ", ") .. "}"
end

if arg[1] == "second" then -- the second shell
  local existing = assert(shm.attach(arg[2]))
  local c = existing:array("int64", 1, 6)
  print("second shell sees   " .. show(c))
  c[-1] = 888
  print("second shell writes " .. show(c))
  existing:close()
  return
end

local numbers = { 1, 1, 2, 3, 5, 8 }
local m <close> = assert(shm.create(#numbers * 8))
local b = m:array("int64")
b:set(numbers)
print(("first shell made %s: %s"):format(m.name, show(b)))

local interpreter = arg[-1] or "lua5.4"
local second = assert(io.popen(("%s %s second %s"):format(interpreter, arg[0], m.name)))
io.write(second:read("a"))
assert(second:close(), "the second shell failed")
print("first shell sees    " .. show(b))

if os.execute("command -v python3 >/dev/null 2>&1") then
  -- Python's memoryview.cast("q") reads the same native int64 values NumPy would.
  local python = assert(io.popen(("python3 -c '%s' %s"):format([[
import sys
from multiprocessing import shared_memory, resource_tracker
existing = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(existing._name, "shared_memory")  # Lua owns it (CPython gh-82300)
c = existing.buf.cast("q")
print("python sees         [" + ", ".join(map(str, c)) + "]")
c.release()
existing.close()
]], m.name)))
  io.write(python:read("a"))
  assert(python:close(), "python failed")
else
  print("(python3 is not installed: skipping the Python reader)")
end

-- The whole-array step: no Lua loop over the elements.
local largest, at = b:max()
print(("first shell: sum %d, largest %d at position %d"):format(b:sum(), largest, at))
b:cmul(2):sort(true)
print("first shell doubles and sorts (descending) " .. show(b))

-- Debian's python3-numpy is for /usr/bin/python3: NumPy sees the same numbers in the block.
if os.execute("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") then
  local numpy = assert(io.popen(("/usr/bin/python3 -c '%s' %s"):format([[
import sys
import numpy as np
from multiprocessing import shared_memory, resource_tracker
existing = shared_memory.SharedMemory(name=sys.argv[1])
resource_tracker.unregister(existing._name, "shared_memory")  # Lua owns it (CPython gh-82300)
c = np.ndarray((6,), dtype=np.int64, buffer=existing.buf)
print("numpy sees          %s, np.sum(c) = %d" % (c.tolist(), np.sum(c)))
del c
existing.close()
]], m.name)))
  io.write(numpy:read("a"))
  assert(numpy:close(), "numpy failed")
else
  print("(NumPy is not installed for /usr/bin/python3: skipping the NumPy reader)")
end
-- m is owned by this process: it is unlinked when the script ends.
