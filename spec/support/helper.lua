-- Shared by every spec: where the build is, how to run other processes (lua5.4, shmlua,
-- python3) that use the same build, and how to look at /dev/shm.
local H = {}

local root = os.getenv("PWD")
H.build = os.getenv("SHMLUA_BUILD") or (root .. "/build")
H.shmlua = H.build .. "/shmlua"
package.cpath = H.build .. "/?.so;" .. package.cpath
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path

-- Environment prefix so a child lua5.4 finds the same module.
H.env = ("LUA_CPATH='%s/?.so;;' LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;' "):format(
  H.build, root, root)

function H.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- A new temporary file holding contents; returns its path (os.remove it when done).
local function tmpfile(contents)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(contents)
  f:close()
  return path
end
H.tmpfile = tmpfile

-- The contents of a file (raises if it cannot be read).
function H.readfile(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Runs a shell command; returns its stdout, and os.execute's three results.
function H.sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  return out, ok, how, code
end

-- Runs Lua source in a fresh `prog` (lua5.4 by default) with args; stdout and status.
function H.run(prog, source, ...)
  local path = tmpfile(source)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.quote(a) end
  local out, ok, how, code = H.sh(("%s%s %s %s 2>&1"):format(H.env, prog, path,
    table.concat(args, " ")))
  os.remove(path)
  return out, ok, how, code
end

function H.lua(source, ...) return H.run("lua5.4", source, ...) end
function H.python(source, ...) return H.run("python3", source, ...) end
-- Debian's python3-numpy is for /usr/bin/python3 (the python3 first on PATH may lack it).
H.numpy_python = "/usr/bin/python3"
function H.numpy(source, ...) return H.run(H.numpy_python, source, ...) end

-- The names in /dev/shm now, as a set.
function H.dev_shm()
  local names = {}
  local p = assert(io.popen("ls -A /dev/shm"))
  for name in p:lines() do names[name] = true end
  p:close()
  return names
end

function H.exists(name)
  local f = io.open("/dev/shm/" .. name, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Wall-clock seconds since boot, to 10 ms, without starting a process (os.clock counts CPU
-- time, which a sleeping process does not use).
function H.now()
  local f = assert(io.open("/proc/uptime"))
  local t = f:read("n")
  f:close()
  return t
end

-- A new block already unlinked: usable until closed, nothing left to clean up.
function H.block(size)
  local m = assert(require("shm").create(size))
  m:unlink()
  return m
end

-- A name no other run will pick.
local counter = 0
function H.name(tag)
  counter = counter + 1
  return ("spec_%s_%d_%d"):format(tag or "x", math.random(1, 1e9), counter)
end
math.randomseed(os.time(), tonumber(tostring({}):match("0x(%x+)"), 16))

package.loaded["helper"] = H
return H
