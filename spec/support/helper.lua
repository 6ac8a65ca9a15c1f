-- Shared by every spec: where the build is, how to run other processes (the same Lua as the
-- specs, shmlua, python3) that use the same build, and how to look at /dev/shm.
local H = {}

-- The Lua running the specs ("5.1" .. "5.4", "luajit"; spec/run runs the suite with each) and
-- the interpreter children must use to load the same build of the module.
H.lua_version = rawget(_G, "jit") and "luajit" or _VERSION:match("%d+%.%d+")
H.lua_exe = os.getenv("SHMLUA_LUA_EXE") or (H.lua_version == "luajit" and "luajit"
  or "lua" .. H.lua_version)
-- Integers are their own subtype (5.3+); without, numbers are doubles, exact up to 2^53.
H.native_integers = math.type ~= nil
-- The largest and smallest integers this Lua holds exactly.
H.maxinteger = math.maxinteger or 2 ^ 53
H.mininteger = math.mininteger or -2 ^ 53
-- The iterators that walk a view (buf, array, list) in index order: ipairs follows __index
-- from 5.3 on and takes __ipairs on 5.2, pairs takes __pairs from 5.2 on; 5.1's and LuaJIT's
-- take neither (for i = 1, #v there).
H.view_iterators = {}
if H.lua_version ~= "5.1" and H.lua_version ~= "luajit" then
  H.view_iterators[#H.view_iterators + 1] = ipairs
  H.view_iterators[#H.view_iterators + 1] = pairs
end
-- How "bad argument" names module function f called through pcall: 'shm.f' as 5.4's
-- lauxlib finds it in package.loaded (the module names it so on every Lua).
function H.pcalled(f)
  return "'[%w.]*" .. f .. "'"
end
-- How a refused FILE* is named: its metatable has a __name from 5.3 on.
H.FILE = math.type and "a userdata (FILE*)" or "a userdata"
-- 5.1 and LuaJIT: the specs use 5.2's names
table.unpack = table.unpack or unpack
table.pack = table.pack or function(...) return { n = select("#", ...), ... } end

-- Specs run on every Lua (spec/run). Syntax and functions of newer Luas appear only in cases
-- tagged #lua54 (5.4 only: <close>, the shmlua host) or #lua53 (5.3 and later: integers,
-- string.pack), which spec/run leaves out elsewhere, and 5.4 syntax only inside a string
-- given to H.load (so the file still parses on 5.1).
-- The chunk sees the globals and busted's assert.
local chunkenv = setmetatable({ assert = require "luassert" }, { __index = _G })
function H.load(source, name)
  if setfenv then
    return setfenv(assert(loadstring(source, name or "=(spec)")), chunkenv)
  end
  return assert(load(source, name or "=(spec)", "t", chunkenv))
end

local root = os.getenv("PWD")
H.build = os.getenv("SHMLUA_BUILD") or (root .. "/build")
-- The shmlua host is always a Lua 5.4 program: a build for another Lua has none and uses
-- the one of the 5.4 build (SHMLUA_HOST_BUILD).
H.shmlua = (os.getenv("SHMLUA_HOST_BUILD") or H.build) .. "/shmlua"
-- The C programs of spec/c, built with the 5.4 build only (they hold no Lua).
H.programs = (os.getenv("SHMLUA_HOST_BUILD") or H.build) .. "/spec"
package.cpath = H.build .. "/?.so;" .. package.cpath
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path

-- Environment prefix so a child Lua (H.lua_exe) finds the same module.
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
  local s = f:read("*a")
  f:close()
  return s
end

-- Runs a shell command; returns its stdout, and os.execute's three results.
function H.sh(cmd)
  if H.lua_version == "5.1" or H.lua_version == "luajit" then -- close() tells no status
    local p = assert(io.popen("(" .. cmd .. "\n); printf '\\n%d' $?", "r"))
    local out, status = p:read("*a"):match("^(.*)\n(%d+)$")
    p:close()
    status = tonumber(status)
    if status > 128 then return out, nil, "signal", status - 128 end -- as sh reports it
    return out, status == 0 or nil, "exit", status
  end
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  local ok, how, code = p:close()
  return out, ok, how, code
end

-- Runs Lua source in a fresh `prog` (H.lua_exe for H.lua) with args; stdout and status.
function H.run(prog, source, ...)
  local path = tmpfile(source)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.quote(a) end
  local out, ok, how, code = H.sh(("%s%s %s %s 2>&1"):format(H.env, prog, path,
    table.concat(args, " ")))
  os.remove(path)
  return out, ok, how, code
end

function H.lua(source, ...) return H.run(H.lua_exe, source, ...) end

-- The system calls a Lua script makes, as `strace -f` writes them (options: more strace
-- arguments, such as "-e trace=futex"), with its output and status; nil if strace cannot
-- trace here (missing, or no ptrace).
function H.strace(options, source)
  local _, usable = H.sh("strace -qq -o /dev/null true 2>/dev/null")
  if not usable then return nil end
  local trace = os.tmpname()
  local out, ok = H.run(("strace -f -qq %s -o %s %s"):format(options, H.quote(trace),
    H.lua_exe), source)
  local f = assert(io.open(trace))
  local lines = f:read("*a")
  f:close()
  os.remove(trace)
  return lines, out, ok
end
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
  local t = f:read("*n")
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
