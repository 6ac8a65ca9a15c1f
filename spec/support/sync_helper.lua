-- For the sync specs: separately started lua5.4 processes (not forks) that attach objects by
-- name, and a 64-bit counter in a plain block that only a lock keeps exact.
local H = require "helper"
local shm = require "shm"

local S = {}

local scripts = {}
local outputs = setmetatable({}, { __mode = "k" }) -- process handle -> its output file

-- Starts `lua5.4 -` on source with args, as a process handle of its own (shm.exec), its
-- output in a file. The pid is the interpreter's: `sh -c exec` keeps it.
function S.start(source, ...)
  local path, out = os.tmpname(), os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("local shm = require 'shm'\n", source)
  f:close()
  scripts[#scripts + 1] = path
  scripts[#scripts + 1] = out
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.quote(a) end
  local h = assert(shm.exec("sh", "-c", ("%sexec " .. H.lua_exe .. " %s %s >%s 2>&1"):format(H.env, path,
    table.concat(args, " "), out)))
  outputs[h] = out
  return h
end

-- What a process started by S.start printed.
function S.output(h)
  local f = assert(io.open(outputs[h]))
  local s = f:read("*a")
  f:close()
  return s
end

-- Objects a spec makes: track(o) asserts o and remembers it; cleanup() (for after_each)
-- unlinks and closes them all and removes the temporary files S.start made.
function S.tracker()
  local made = {}
  local function track(o)
    made[#made + 1] = assert(o)
    return o
  end
  local function cleanup()
    for _, o in ipairs(made) do
      o:unlink()
      o:close()
    end
    made = {}
    for _, path in ipairs(scripts) do os.remove(path) end
    scripts = {}
  end
  return track, cleanup
end

-- Lua source of a counter in a block's first 8 bytes (non-atomic read-modify-write).
S.COUNTER = [[
local function bump(block)
  local a = block:array("int64", 1, 1)
  a[1] = a[1] + 1
end
local function count(block) return block:array("int64", 1, 1)[1] end
]]
local counter = H.load(S.COUNTER .. "return bump, count")
S.bump, S.count = counter()

-- Waits (polling) until f() is true or seconds pass; returns f()'s last value.
function S.eventually(f, seconds)
  local deadline = os.time() + (seconds or 10)
  local v = f()
  while not v and os.time() <= deadline do
    os.execute("sleep 0.02")
    v = f()
  end
  return v
end

-- Waits until process h sleeps in a futex (the wait a spec is about to act on), so the
-- spec does not act before the process got there. Without /proc (macOS), a pause instead.
function S.asleep(h)
  local path = "/proc/" .. h.pid .. "/wchan"
  local probe = io.open(path)
  if not probe then
    os.execute("sleep 0.2")
    return true
  end
  probe:close()
  return S.eventually(function()
    local f = io.open(path)
    local wchan = f and f:read("*a") or ""
    if f then f:close() end
    return wchan:find("futex", 1, true) ~= nil
  end)
end

return S
