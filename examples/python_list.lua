-- A Python process and a Lua process share a list: the same bytes as Python's
-- multiprocessing.shared_memory.ShareableList. Lua makes a list that Python reads and
-- changes; then Python makes one that Lua reads. shm.null stands for Python's None.
-- Run: shmlua examples/python_list.lua   (needs python3)
local shm = require "shm"

if not os.execute("command -v python3 >/dev/null 2>&1") then
  print("python3 is not installed: nothing to share a list with")
  return
end

local function python(source, ...)
  local p = assert(io.popen(("python3 -c '%s' %s"):format(source, table.concat({ ... }, " "))))
  io.write(p:read("a"))
  assert(p:close(), "python failed")
end

local function show(l)
  local items = {}
  for i, v in ipairs(l) do items[i] = type(v) == "string" and ("%q"):format(v) or tostring(v) end
  return "{" .. table.concat(items, ", ") .. "}"
end

local l <close> = assert(shm.list({ "made in Lua", 42, 1.5, shm.null, true }))
print(("lua made %s: %s, format %s"):format(l.name, show(l), l.format))
python([[
import sys
from multiprocessing import shared_memory, resource_tracker
sl = shared_memory.ShareableList(name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")  # Lua owns it (CPython gh-82300)
print("python sees", list(sl))
sl[0] = "Python wrote"
sl[1] += 1
sl[3] = 2.5
sl.shm.close()
]], l.name)
print("lua sees " .. show(l))

local name = l.name .. "_py"
python([[
import sys
from multiprocessing import shared_memory, resource_tracker
sl = shared_memory.ShareableList(["made in Python", -1, None, False, "é"], name=sys.argv[1])
resource_tracker.unregister(sl.shm._name, "shared_memory")  # Lua unlinks it below
print("python made", sl.shm.name, "format", sl.format)
sl.shm.close()
]], name)
local theirs <close> = assert(shm.list.attach(name))
theirs:unlink()
print("lua sees " .. show(theirs))
