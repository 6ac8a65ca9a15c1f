-- How shmlua ends, whatever the way: owned blocks are unlinked and no child is left behind.
-- Real scripts in real processes, stopped by real signals; /dev/shm is checked each time.
local H = require "helper"

-- Running (a zombie left to an init that has not reaped it yet counts as gone).
local function alive(pid)
  local f = io.open(("/proc/%d/stat"):format(pid))
  if not f then return false end
  local state = f:read("*a"):match("^%d+ %b() (%a)")
  f:close()
  return state ~= "Z"
end

-- Waits (polling) until f() is true or seconds pass; returns f()'s last value.
local function eventually(f, seconds)
  local deadline = H.now() + (seconds or 5)
  local v = f()
  while not v and H.now() < deadline do
    H.sh("sleep 0.02")
    v = f()
  end
  return v
end

-- Starts shmlua on a script that gets a fresh block name as arg[1]. The script's output
-- (stdout and stderr) is read through a pipe; close() gives the exit status. prefix: shell
-- commands run first (a `trap '' SIG; ` to start it with a signal ignored).
local function start(source, prefix)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("local name = arg[1]\n", source)
  f:close()
  local run = { path = path, name = H.name("cleanup") }
  finally(function()
    -- a spec that failed before the end leaves the host running (and closing the pipe
    -- would wait for it): SIGTERM, so it ends its children, SIGKILL if that is not enough
    if run.host and not run.finished then
      H.sh(("kill -s TERM %d; sleep 2; kill -s KILL %d 2>/dev/null"):format(run.host, run.host))
    end
    os.remove("/dev/shm/" .. run.name) -- should the host fail to
  end)
  run.p = assert(io.popen(("%s%sexec %s %s %s 2>&1"):format(prefix or "", H.env,
    H.quote(H.shmlua), path, run.name)))
  return run
end

-- Reads output up to a line "ready <pid> [<child pids>]"; returns the pids as numbers.
local function ready(run)
  local seen = {}
  for line in run.p:lines() do
    if line:match("^ready") then
      local pids = {}
      for pid in line:gmatch("%d+") do pids[#pids + 1] = tonumber(pid) end
      run.host = pids[1]
      return table.unpack(pids)
    end
    seen[#seen + 1] = line
  end
  error("the script ended before it was ready:\n" .. table.concat(seen, "\n"))
end

-- Reads the rest of the output; returns it and the exit status (as io.popen's close does).
local function finish(run)
  local out = run.p:read("*a")
  local ok, how, code = run.p:close()
  run.finished = true
  os.remove(run.path)
  return out, ok, how, code
end

-- finish, once the host has ended (within 5 s: else the spec fails and its finally kills it).
local function finish_soon(run)
  assert.is_true(eventually(function() return not alive(run.host) end),
    "the host is still running")
  return finish(run)
end

local function signal(pid, sig)
  local _, ok = H.sh(("kill -s %s %d"):format(sig, pid))
  assert(ok, "kill -s " .. sig .. " failed: the process was gone already")
end

-- Lua for the script: this process's pid, as a string.
local MYPID = "io.open('/proc/self/stat'):read('*n')"

-- A script that creates an owned block, says it is ready, then does `body`.
local function owner(body)
  return ([[
    local m = assert(shm.create(64, name))
    print("ready", %s) io.stdout:flush()
    %s
  ]]):format(MYPID, body)
end

-- Runs owner(body), sends sig once it is ready (if given), checks that the block is gone;
-- returns the output and how the process ended.
local function ends(body, sig)
  local run = start(owner(body))
  local pid = ready(run)
  if sig then signal(pid, sig) end
  local out, _, how, code = finish_soon(run)
  assert.is_false(H.exists(run.name), out)
  return out, how, code
end

describe("shmlua unlinks its owned blocks #lua54", function()
  it("at a normal end", function()
    local out, how, code = ends("")
    assert.same({ "exit", 0 }, { how, code }, out)
  end)

  it("after an uncaught error, reported with status 1", function()
    local out, how, code = ends("error('boom')")
    assert.same({ "exit", 1 }, { how, code })
    assert.matches("boom\nstack traceback:", out)
  end)

  for _, case in ipairs({
    { "os.exit()", 0 }, { "os.exit(true)", 0 }, { "os.exit(false)", 1 }, { "os.exit(3)", 3 },
    { "os.exit(0, true)", 0 }, { "os.exit(5, true)", 5 }, { "os.exit(true, false)", 0 },
    { "os.exit(false, true)", 1 },
  }) do
    it("at " .. case[1], function()
      local out, how, code = ends(case[1] .. " print('not reached')")
      assert.same({ "exit", case[2] }, { how, code })
      assert.equal("", out)
    end)
  end

  it("at SIGINT during the script: 'interrupted!', the error path, status 1", function()
    local out, how, code = ends("while true do end", "INT")
    assert.same({ "exit", 1 }, { how, code })
    assert.matches("interrupted!", out)
  end)

  -- lua_sethook is per thread: the interrupt must reach the coroutine that runs, however
  -- deep, not wait on the main thread for a loop that never ends
  for _, case in ipairs({
    "coroutine.wrap(function() %s end)()",
    "coroutine.wrap(function() coroutine.wrap(function() %s end)() end)()",
    "assert(coroutine.resume(coroutine.create(function() %s end)))",
  }) do
    it("at SIGINT during a loop in `" .. case:format("...") .. "`", function()
      local run = start(([[
        local m = assert(shm.create(64, name))
        %s
        print("not reached")
      ]]):format(case:format(("print('ready', %s) io.stdout:flush() while true do end")
        :format(MYPID))))
      signal(ready(run), "INT")
      local out, _, how, code = finish_soon(run)
      assert.same({ "exit", 1 }, { how, code }, out)
      assert.matches("interrupted!", out)
      assert.is_nil(out:find("not reached"))
      assert.is_false(H.exists(run.name))
    end)
  end

  for _, case in ipairs({ { "TERM", 15, "while true do end" }, { "HUP", 1, "while true do end" },
    { "TERM", 15, "shm.exec('sleep', '30'):wait()" } }) do
    it(("at SIG%s during `%s`, then ends by that signal"):format(case[1], case[3]), function()
      local out, how, code = ends(case[3], case[1])
      assert.same({ "signal", case[2] }, { how, code }, out)
    end)
  end

  it("when its output goes to a pipe that was closed (SIGPIPE)", function()
    local name = H.name("cleanup")
    finally(function() os.remove("/dev/shm/" .. name) end)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("local m = assert(shm.create(64, arg[1])) while true do print('line') end")
    f:close()
    local out = H.sh(("%s%s %s %s | head -n 2"):format(H.env, H.quote(H.shmlua), path, name))
    os.remove(path)
    assert.equal("line\nline\n", out)
    assert.is_false(H.exists(name))
  end)

  it("not after SIGKILL: the litter shows in shmlua --ls and goes with shmlua --rm", function()
    local run = start(owner("while true do end"))
    signal(ready(run), "KILL")
    local _, _, how, code = finish(run)
    assert.equal("signal", how)
    assert.equal(9, code)
    assert.is_true(H.exists(run.name))
    local listing = H.sh(H.quote(H.shmlua) .. " --ls")
    assert.matches("\n" .. run.name:gsub("%p", "%%%0") .. " +block +64 +%d+ rw%-%-%-%-%-%-%- ", listing)
    local _, ok = H.sh(H.quote(H.shmlua) .. " --rm " .. run.name)
    assert.is_true(ok)
    assert.is_false(H.exists(run.name))
  end)
end)

-- A script with an owned block that runs loops under pcall for ever, each after a line
-- "ready <pid>", and prints what pcall returned.
local CAUGHT = ([[
  local m = assert(shm.create(64, name))
  while true do
    print(pcall(function()
      print("ready", %s) io.stdout:flush()
      while true do end
    end))
  end
]]):format(MYPID)

describe("SIGINT in shmlua, as in lua5.4 #lua54", function()
  it("interrupts a coroutine.resume'd loop: resume returns the error, the script goes on", function()
    local run = start(([[
      print(coroutine.resume(coroutine.create(function()
        print("ready", %s) io.stdout:flush()
        while true do end
      end)))
      print("after")
    ]]):format(MYPID))
    signal(ready(run), "INT")
    local out, ok = finish_soon(run)
    assert.is_true(ok, out)
    assert.matches("^false\t[^\n]*interrupted!\nafter\n$", out)
  end)

  -- lua.c sets its handler around every call whatever it inherited (a background job of a
  -- non-interactive shell starts with SIGINT ignored), and the handler makes the next SIGINT
  -- fatal until the next call: one that comes after the first was caught ends the process.
  it("started with SIGINT ignored, interrupts, and a second SIGINT ends it", function()
    local run = start(CAUGHT, "trap '' INT; ")
    local pid = ready(run)
    signal(pid, "INT")
    assert.matches("^false\t[^\n]*interrupted!$", run.p:read("*l"))
    ready(run) -- in the loop again
    signal(pid, "INT")
    local out, _, how, code = finish_soon(run)
    assert.same({ "signal", 2 }, { how, code }, out)
    assert.is_false(H.exists(run.name))
  end)

  it("leaves SIGTERM and SIGHUP ignored when they were (nohup)", function()
    local run = start(CAUGHT, "trap '' TERM HUP; ")
    local pid = ready(run)
    signal(pid, "TERM")
    signal(pid, "HUP")
    H.sh("sleep 0.3")
    assert.is_true(alive(pid))
    signal(pid, "INT")
    assert.matches("^false\t[^\n]*interrupted!$", run.p:read("*l"))
    ready(run)
    signal(pid, "INT")
    local out, _, how, code = finish_soon(run)
    assert.same({ "signal", 2 }, { how, code }, out)
  end)
end)

-- Lua that starts two children blocked for 30 seconds: `forked`, a function in a forked
-- child, and `ran`, a script in a fresh shmlua (which removes its file once it has read it).
local CHILDREN = [[
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write("os.remove(arg[0]) shm.exec('sleep', '30'):wait()")
  f:close()
  local forked = shm.spawn(function() shm.exec('sleep', '30'):wait() end)
  local ran = shm.run(script)
]]

-- A script with an owned block and four children (those of CHILDREN, a program, and a
-- program that ignores SIGTERM, so only the SIGKILL after the grace period ends it), that
-- reports their pids, then "body" when it starts `body`.
local function parent(body)
  return ([[
    local m = assert(shm.create(64, name))
    %s
    local program = shm.exec('sleep', '30')
    -- not on the pipe the spec reads to the end, so a survivor fails the spec, not hangs it
    local stubborn = shm.exec('sh', '-c',
      "exec >/dev/null 2>&1; trap '' TERM; while :; do :; done")
    print("ready", %s, forked.pid, ran.pid, program.pid, stubborn.pid) io.stdout:flush()
    print("body") io.stdout:flush()
    %s
  ]]):format(CHILDREN, MYPID, body)
end

-- Whether process pid ignores SIGTERM (bit 15 of SigIgn in /proc/PID/status).
local function ignores_term(pid)
  local f = io.open(("/proc/%d/status"):format(pid))
  local mask = f and f:read("*a"):match("\nSigIgn:%s*(%x+)")
  if f then f:close() end
  return mask ~= nil and math.floor(tonumber(mask, 16) / 16384) % 2 == 1
end

describe("shmlua's children #lua54", function()
  -- Without a signal from the spec, body runs after a pause, so the children are seen
  -- alive (and the stubborn one ignoring SIGTERM) first. With a signal, it is sent once the
  -- script is in body and, if given, in_body(host pid) is true.
  local function gone_after(body, sig, in_body)
    local run = start(parent(sig and body or "shm.exec('sleep', '1'):wait() " .. body))
    local host, forked, ran, program, stubborn = ready(run)
    assert.is_true(alive(forked) and alive(ran) and alive(program))
    assert.is_true(eventually(function() return ignores_term(stubborn) end),
      "the stubborn child never ignored SIGTERM")
    if sig then
      assert.equal("body", run.p:read("*l"))
      assert.is_true(not in_body or eventually(function() return in_body(host) end),
        "the host never got to where body waits")
      signal(host, sig)
    end
    local started = os.time()
    local out, _, how, code = finish(run)
    local survived = alive(stubborn)
    if survived then H.sh("kill -s KILL " .. stubborn) end -- no busy loop left by a failure
    assert.is_false(survived, "the child that ignores SIGTERM survived: " .. out)
    assert.is_true(os.time() - started < 10, "the host waited for its children")
    assert.is_false(alive(forked), out)
    assert.is_false(alive(ran), out)
    assert.is_false(alive(program), out)
    assert.is_false(H.exists(run.name))
    return out, how, code
  end

  it("are terminated when the host is killed by SIGTERM", function()
    assert.equal("signal", select(2, gone_after("while true do end", "TERM")))
  end)

  it("are terminated when the host is interrupted by SIGINT", function()
    assert.equal("exit", select(2, gone_after("while true do end", "INT")))
  end)

  it("are terminated when the host is hung up (SIGHUP)", function()
    assert.equal("signal", select(2, gone_after("while true do end", "HUP")))
  end)

  it("are waited for at os.exit(true) until a Ctrl-C, then terminated", function()
    local out, how = gone_after("os.exit(true)", "INT", function(host)
      local f = io.open(("/proc/%d/wchan"):format(host)) -- waiting in waitpid
      local wchan = f and f:read("*a") or ""
      if f then f:close() end
      return wchan == "do_wait" or not wchan:match("%a") -- or a kernel that hides it
    end)
    assert.equal("exit", how)
    assert.matches("interrupted!", out)
  end)

  it("are terminated after an uncaught error", function()
    local out = gone_after("error('parent fails')")
    assert.matches("parent fails", out)
  end)

  it("are terminated at os.exit with a failure status", function()
    local _, how, code = gone_after("os.exit(4)")
    assert.same({ "exit", 4 }, { how, code })
  end)

  it("get SIGTERM (Linux) when the host is killed by SIGKILL", function()
    local run = start(([[
      %s
      print("ready", %s, forked.pid, ran.pid) io.stdout:flush()
      while true do end
    ]]):format(CHILDREN, MYPID))
    local host, forked, ran = ready(run)
    H.sh("sleep 0.5")
    assert.is_true(alive(forked) and alive(ran))
    signal(host, "KILL")
    local started = os.time()
    finish(run) -- returns once nothing holds the pipe: the children and their sleeps ended
    assert.is_true(os.time() - started < 10, "the children outlived their parent")
    -- they closed the pipe while exiting; give the kernel a moment to finish the exit
    for _ = 1, 50 do
      if not alive(forked) and not alive(ran) then break end
      H.sh("sleep 0.1")
    end
    assert.is_false(alive(forked))
    assert.is_false(alive(ran))
  end)

  -- Started with SIGTERM ignored (nohup), a host's forked children inherit that: the
  -- parent-died SIGTERM must still end them.
  it("get SIGTERM (Linux) when the host started with SIGTERM ignored is killed", function()
    local script = H.tmpfile(([[
      local loop = os.tmpname()
      local f = assert(io.open(loop, "w"))
      f:write("os.remove(arg[0]) while true do end")
      f:close()
      local forked = shm.spawn(function() while true do end end)
      local ran = shm.run(loop)
      print("ready", %s, forked.pid, ran.pid) io.stdout:flush()
      while true do end
    ]]):format(MYPID))
    local log = os.tmpname()
    H.sh(("(trap '' TERM; %sexec %s %s) >%s 2>&1 &"):format(H.env, H.quote(H.shmlua), script,
      log))
    local pids
    eventually(function()
      local f = io.open(log)
      local out = f and f:read("*a") or ""
      if f then f:close() end
      pids = out:match("ready[%d%s]+")
      return pids
    end)
    os.remove(script)
    os.remove(log)
    assert.is_not_nil(pids, "the script never got ready")
    local host, forked, ran = pids:match("(%d+)%s+(%d+)%s+(%d+)")
    signal(host, "KILL")
    local ended = eventually(function() return not alive(forked) and not alive(ran) end)
    H.sh(("kill -s KILL %s %s 2>/dev/null"):format(forked, ran)) -- no busy loop left behind
    assert.is_true(ended, "the children outlived their parent")
  end)

  it("are waited for at a normal end, as at os.exit(true)", function()
    for _, ending in ipairs({ "", "os.exit(true)" }) do
      local marker = os.tmpname()
      os.remove(marker)
      local run = start(([[
        shm.spawn(function()
          shm.exec('sleep', '0.5'):wait()
          io.open(%q, "w"):close()
        end)
        print("ready") io.stdout:flush()
        %s
      ]]):format(marker, ending))
      ready(run)
      local out, ok = finish(run)
      assert.is_true(ok, out)
      assert.is_not_nil(io.open(marker), "the host ended before its child")
      os.remove(marker)
    end
  end)
end)
