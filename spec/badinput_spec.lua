-- Bad input (issue 7): every public function and method of the module, found in the live
-- module, is called with wrong types, nil, negative, zero, huge, NaN, inf, float-for-integer,
-- empty, over-long and NUL-holding strings, and on open, closed and read-only objects. Each
-- call must raise a clear error or return nil, message, errno; none may crash or hang; nothing
-- may leak (fds of the walking process, /dev/shm entries). The walker (spec/support/
-- badinput.lua) runs in a child per function, inside a private /dev/shm when one can be made.
local H = require "helper"

local walker = "spec/support/badinput.lua"
local TIME_LIMIT = 300 -- seconds per child; a call that hangs is reported by name

-- A private tmpfs over /dev/shm (mount namespace, needs root) makes the leak count exact and
-- keeps bad names away from other people's blocks.
local private = H.sh("unshare -m sh -c 'mount -t tmpfs tmpfs /dev/shm' 2>/dev/null && echo yes")
  :match("yes") ~= nil

local function child(args)
  local cmd = ("%sSHMLUA_EXE=%s timeout -k 5 %d " .. H.lua_exe .. " %s %s"):format(H.env, H.quote(H.shmlua),
    TIME_LIMIT, walker, args)
  if private then
    cmd = ("unshare -m sh -c %s"):format(H.quote(
      "mount -t tmpfs -o size=512m tmpfs /dev/shm && SHMLUA_PRIVATE_SHM=1 " .. cmd ..
      "; echo STATUS $?; echo LEFT $(ls -A /dev/shm)"))
  else
    cmd = cmd .. "; echo STATUS $?"
  end
  return (H.sh(cmd .. " 2>&1"))
end

local listing = child("list")
local ids, missing = {}, {}
for line in listing:gmatch("[^\n]+") do
  local kind, what = line:match("^(%u) (.+)$")
  if kind == "F" then ids[#ids + 1] = what elseif kind == "M" then missing[#missing + 1] = what end
end

local totals = { calls = 0, functions = 0 }

-- Walks one callable; restarts after a crash or a hang at the call that follows it.
local function walk(id)
  local problems, from, calls = {}, 1, 0
  for _ = 1, 5 do -- at most 5 crashes or hangs per callable are reported
    local out = child(("walk %s %d"):format(H.quote(id), from))
    local last, done, fd0, fd1, fdlist, status, left, prefix
    for line in out:gmatch("[^\n]*") do
      last = tonumber(line:match("^C (%d+)$")) or last
      done = tonumber(line:match("^DONE (%d+)$")) or done
      local a, b = line:match("^FD (%d+) (%d+)$")
      if a then fd0, fd1 = tonumber(a), tonumber(b) end
      fdlist = line:match("^FDLIST (.*)$") or fdlist
      status = tonumber(line:match("^STATUS (%d+)$")) or status
      left = line:match("^LEFT ?(.*)$") or left
      prefix = line:match("^PREFIX (%S+)$") or prefix
      if line:match("^BAD ") then problems[#problems + 1] = line:sub(5) end
    end
    if done then
      calls = calls + done
      if status ~= 0 then problems[#problems + 1] = "walker exit status " .. tostring(status) end
      if fd0 ~= fd1 then
        problems[#problems + 1] = ("open fds went from %s to %s: %s"):format(fd0, fd1, fdlist)
      end
      if left and left ~= "" then problems[#problems + 1] = "left in /dev/shm: " .. left end
      if not private and prefix then
        for name in pairs(H.dev_shm()) do
          if name:sub(1, #prefix) == prefix then
            problems[#problems + 1] = "left in /dev/shm: " .. name
            H.sh("rm -f /dev/shm/" .. H.quote(name))
          end
        end
      end
      break
    end
    local k = last or from
    local what = status == 124 and "hung (killed after " .. TIME_LIMIT .. " s)" or
        ("died (status %s)"):format(status)
    local desc = child(("describe %s %d"):format(H.quote(id), k)):match("^[^\n]*")
    problems[#problems + 1] = ("call %d %s %s\n%s"):format(k, desc, what, out:sub(-1500))
    calls = calls + (k - from + 1)
    from = k + 1
  end
  totals.calls = totals.calls + calls
  totals.functions = totals.functions + 1
  return problems, calls
end

describe("bad input #lua53", function()
  it("finds the module's functions and classes", function()
    assert.is_true(#ids >= 10, listing)
  end)

  it("has fixtures (open, closed, read-only objects) for every class of the module", function()
    assert.same({}, missing)
  end)

  for _, id in ipairs(ids) do
    it(id .. ": raises a clear error or returns nil, msg, errno; no crash, hang or leak",
      function()
        local problems, calls = walk(id)
        assert.is_true(calls > 0 or problems[1] == nil, "no call made for " .. id)
        assert.same({}, problems)
      end)
  end

  it("reports how much it walked", function()
    print(("\nbad input: %d calls over %d functions and methods%s"):format(totals.calls,
      totals.functions, private and " (private /dev/shm)" or ""))
    assert.is_true(totals.calls > 0)
  end)
end)
