-- Processes: shm.spawn, shm.run, shm.exec, their handles, shm.waitall and shm.map, with real
-- forks, real programs and real signals.
local H = require "helper"
local shm = require "shm"

local function sleep(seconds) os.execute("sleep " .. seconds) end

local now = H.now

-- Whether the build has the shmlua host (the specs that start it are pending without it).
local function have_shmlua()
  local f = io.open(H.shmlua)
  if f then f:close() end
  return f ~= nil
end

-- The state letter of a process ("R", "S", "Z", ...), or nil once it is gone.
local function state(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local stat = f:read("*a")
  f:close()
  return stat:match("^%d+ %b() (%a)")
end

-- Whether the process ends (gone, or a zombie not yet reaped) within 5 seconds.
local function gone_or_zombie_soon(pid)
  for _ = 1, 100 do
    local s = state(pid)
    if s == nil or s == "Z" then return true end
    sleep(0.05)
  end
  return false
end

-- Waits (at most 5 seconds) until the process is a zombie: ended, not yet reaped.
local function zombie_soon(pid)
  for _ = 1, 100 do
    if state(pid) == "Z" then return true end
    sleep(0.05)
  end
  return false
end

-- A child that loops until it is killed.
local function forever() while true do end end

-- How many descriptors the process running it has open whose `ls -l` line holds `what`
-- (" -> ": all), as source too: a spec counts in another process with the same code. The
-- listing's own pipe is left out: the process holds both its ends for a moment, and a
-- listing that runs in that moment would count one more.
local COUNT_DESCRIPTORS = [[
  return function(what)
    local f = assert(io.open("/proc/self/stat"))
    local me = f:read("*a"):match("^%d+")
    f:close()
    local p = assert(io.popen("own=$(readlink /proc/$$/fd/1); ls -l /proc/" .. me ..
      "/fd | grep -- '" .. what .. "' | grep -cvF -- \"$own\""))
    local n = tonumber(p:read("*a"))
    p:close()
    return n
  end
]]
local descriptors = H.load(COUNT_DESCRIPTORS)()

describe("shm.spawn", function()
  it("runs the function in another process with the arguments and returns its values", function()
    local h = shm.spawn(function(a, b)
      local f = assert(io.open("/proc/self/stat"))
      local pid = tonumber(f:read("*a"):match("^%d+"))
      f:close()
      return a + b, pid
    end, 40, 2)
    assert.is_number(h.pid)
    local ok, sum, pid = h:wait()
    assert.is_true(ok)
    assert.equal(42, sum)
    assert.equal(h.pid, pid)
  end)

  it("carries nil, booleans, integers, floats, any bytes and nested tables back", function()
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    bytes = table.concat(bytes)
    local r = table.pack(shm.spawn(function()
      local shared = { 1 }
      return nil, false, true, H.maxinteger, H.mininteger, 0.1, -tonumber("0.0"), 1 / 0, -1 / 0,
        0 / 0, bytes, "", { 1, nil, 3, x = { y = { z = "deep" } }, [true] = 2.5, [-7] = shared,
        [8.5] = shared }, setmetatable({ 5 }, { __index = function() return "meta" end })
    end):wait())
    assert.equal(15, r.n)
    assert.is_true(r[1])
    assert.is_nil(r[2])
    assert.is_false(r[3])
    assert.is_true(r[4])
    assert.equal(H.maxinteger, r[5])
    assert.equal(H.mininteger, r[6])
    assert.equal(0.1, r[7])
    if H.native_integers then
      assert.equal("integer", math.type(r[5]))
      assert.equal("float", math.type(r[8]))
    end
    assert.equal(-math.huge, 1 / r[8]) -- negative zero stays negative
    assert.equal(math.huge, r[9])
    assert.equal(-math.huge, r[10])
    assert.is_true(r[11] ~= r[11])
    assert.equal(bytes, r[12])
    assert.equal("", r[13])
    local t = r[14]
    assert.same({ 1, nil, 3 }, { t[1], t[2], t[3] })
    assert.equal("deep", t.x.y.z)
    assert.equal(2.5, t[true])
    assert.same({ 1 }, t[-7])
    assert.same({ 1 }, t[8.5])
    assert.same({ 5 }, r[15])
    assert.is_nil(getmetatable(r[15])) -- data only
  end)

  -- Results come back through memory shared with the parent (a slot of 1 KiB, else an
  -- anonymous file passed by descriptor): the result blocks in /dev/shm of the parent pid
  -- (this process by default) that results once took, which must never appear.
  local function result_blocks(pid)
    local names = {}
    if not pid then
      local f = assert(io.open("/proc/self/stat"))
      pid = f:read("*a"):match("^%d+")
      f:close()
    end
    for name in pairs(H.dev_shm()) do
      if name:match("^shmlua%-result%." .. pid .. "%.") then names[#names + 1] = name end
    end
    return names
  end

  it("carries large results, beyond a slot's room, and leaves no block behind", function()
    local ok, s = shm.spawn(function() return ("x"):rep(3 * 1024 * 1024) end):wait()
    assert.is_true(ok)
    assert.equal(3 * 1024 * 1024, #s)
    for _, size in ipairs({ 990, 995, 996, 997, 998, 1000, 1010, 5000 }) do
      ok, s = shm.spawn(function() return ("z"):rep(size) end):wait()
      assert.is_true(ok)
      assert.equal(size, #s)
    end
    assert.same({}, result_blocks())
  end)

  -- A start's result takes no descriptor: a pipe's write end was one more in every child.
  it("gives the child no descriptor its parent did not have", function()
    if not io.open("/proc/self/stat") then return pending("no /proc") end
    local out = H.lua([[
      local shm = require "shm"
      local descriptors = (loadstring or load)(arg[1])()
      local function pipes() return descriptors("pipe:") end
      print(pipes(), select(2, shm.spawn(pipes):wait()))
    ]], COUNT_DESCRIPTORS)
    local before, inside = out:match("^(%d+)%s+(%d+)\n$")
    assert.is_truthy(before, out)
    assert.equal(before, inside)
  end)

  -- More children at once than a region has slots (63), also in a child that starts its
  -- own while its parent's slots are taken; results small and large.
  it("carries the results of many children at once, and of their own children", function()
    local hs = {}
    for i = 1, 140 do
      hs[i] = shm.spawn(function()
        if i % 10 == 0 then return i, ("b"):rep(2000) end
        return i
      end)
    end
    local nested = shm.spawn(function()
      local inner = {}
      for i = 1, 70 do inner[i] = shm.spawn(function() return i, ("c"):rep(i * 30) end) end
      local sum = 0
      for i = 70, 1, -1 do
        local ok, v, s = inner[i]:wait()
        assert(ok and v == i and #s == i * 30)
        sum = sum + v
      end
      return sum
    end)
    local r = shm.waitall(hs)
    for i = 1, 140 do
      assert.is_true(r[i][1])
      assert.equal(i, r[i][2])
      if i % 10 == 0 then assert.equal(2000, #r[i][3]) end
    end
    assert.same({ true, 70 * 71 / 2 }, { nested:wait() })
    assert.same({}, result_blocks())
  end)

  -- Nothing named: no block appears while a child sends 20 MiB (listed until the child has
  -- ended, before its parent reads it), so /dev/shm's size (64 MB in a Docker container)
  -- does not bound a result, and no other user can take the name beforehand.
  it("never puts a large result in /dev/shm, not even while the child sends it", function()
    local size = 20 * 1024 * 1024
    local h = shm.spawn(function() return ("r"):rep(size) end)
    local seen, ended = {}, false
    for _ = 1, 1000 do
      for _, name in ipairs(result_blocks()) do seen[#seen + 1] = name end
      if ended then break end
      ended = state(h.pid) == "Z" -- one more look once it has
      if not ended then sleep(0.01) end
    end
    assert.is_true(ended)
    assert.same({}, seen)
    local ok, s = h:wait()
    assert.is_true(ok)
    assert.equal(size, #s)
  end)

  -- A parent killed with SIGKILL after its child sent a large result, before reading it:
  -- what the child sent goes with the processes that held it, nothing stays in /dev/shm.
  it("leaves nothing in /dev/shm when the parent is killed with a large result unread",
    function()
      local out = os.tmpname()
      local script = H.tmpfile([[
        local shm = require "shm"
        local f = io.open("/proc/self/stat")
        local me = f:read("*a"):match("^%d+")
        f:close()
        local h = shm.spawn(function() return ("k"):rep(5 * 1024 * 1024) end)
        local function ended()
          local s = io.open("/proc/" .. h.pid .. "/stat")
          local st = s:read("*a"):match("^%d+ %b() (%a)")
          s:close()
          return st == "Z"
        end
        for _ = 1, 500 do
          if ended() then break end
          os.execute("sleep 0.01")
        end
        print(me, ended())
        io.stdout:flush()
        for _ = 1, 600 do os.execute("sleep 0.05") end -- until killed
      ]])
      local p = assert(io.popen(H.env .. H.lua_exe .. " " .. script .. " > " .. out ..
        " 2>&1 & echo $!"))
      local launched = p:read("*l")
      p:close()
      local said
      for _ = 1, 500 do
        said = H.readfile(out)
        if said:find("\n") then break end
        sleep(0.01)
      end
      local pid = said:match("^(%d+)%s+true\n$")
      os.execute("kill -9 " .. launched)
      os.remove(script)
      os.remove(out)
      assert.equal(launched, pid, said)
      assert.is_true(gone_or_zombie_soon(pid))
      assert.same({}, result_blocks(pid))
    end)

  -- Children whose parent does not read their large results end all the same (a send never
  -- waits), and once their handles are collected the parent holds no descriptor for them.
  it("lets children with unread large results end, and keeps nothing of them once collected",
    function()
      if not io.open("/proc/self/stat") then return pending("no /proc") end
      local n = 100 -- two regions' worth
      local function start()
        local hs = {}
        for i = 1, n do hs[i] = shm.spawn(function() return ("d"):rep(100000 + i) end) end
        return hs
      end
      -- the regions the next round needs; earlier handles collected and their children reaped
      assert.equal(n, #shm.waitall(start()))
      collectgarbage()
      collectgarbage()
      assert.is_true(shm.spawn(function() end):wait())
      local before = descriptors(" -> ")
      local hs = start()
      for i = 1, n do assert.is_true(zombie_soon(hs[i].pid)) end
      assert.same({}, result_blocks())
      hs = nil
      collectgarbage()
      collectgarbage()
      assert.is_true(shm.spawn(function() end):wait())
      assert.equal(before, descriptors(" -> "))
    end)

  -- The first start's region (a shared page and a socket pair) is kept; those made while it
  -- was full are given back once their children are collected: no descriptor or page grows
  -- with the most children a process once had.
  it("gives back the result regions made while the first was full", function()
    if not io.open("/proc/self/stat") then return pending("no /proc") end
    assert.is_true(shm.spawn(function() end):wait()) -- the first region
    local sockets = descriptors("socket:")
    local gate = shm.semaphore(0)
    gate:unlink() -- the children have it by the fork
    local hs = {}
    for i = 1, 130 do -- three regions' worth, all alive at once
      hs[i] = shm.spawn(function()
        gate:acquire()
        return i
      end)
    end
    assert.equal(sockets + 4, descriptors("socket:"))
    gate:release(130)
    for i = 1, 130 do assert.same({ true, i }, { hs[i]:wait(30) }) end
    assert.equal(sockets, descriptors("socket:"))
  end)

  -- A large result (sent as a file's descriptor) reaches a full wait after waits that timed
  -- out while the child was still writing it.
  it("carries a large result to waits that time out, and to a full wait after them", function()
    local size = 1024 * 1024
    local h = shm.spawn(function() return ("y"):rep(size) end)
    local ok, s = h:wait(0.0005)
    for _ = 1, 4 do
      if ok then break end
      ok, s = h:wait(0.0005)
    end
    if not ok then
      assert.equal("timeout", s)
      ok, s = h:wait()
    end
    assert.is_true(ok)
    assert.equal(size, #s)
  end)

  it("reports values that cannot be sent as an error, naming the value", function()
    local cases = {
      { function() return 1, coroutine.wrap(function() end) end,
        "value #2: a C function (not a field of a loaded module) cannot be sent" },
      { function() return { f = { coroutine.wrap(function() end) } } end,
        'value #1 at ["f"][1]: a C function' },
      { function() return io.stdout end, "value #1: " .. H.FILE .. " cannot be sent" },
      { function() return coroutine.create(function() end) end, "a thread cannot be sent" },
      { function() local t = {} t.self = t return t end,
        'value #1 at ["self"]: a table that contains itself' },
      { function()
          local t = {}
          for _ = 1, 150 do t = { t } end
          return t
        end, "nested over 100 levels" },
    }
    for _, case in ipairs(cases) do
      local ok, kind, msg = shm.spawn(case[1]):wait()
      assert.is_nil(ok)
      assert.equal("error", kind)
      assert.matches(case[2], msg, 1, true)
    end
  end)

  it("reports a Lua error with the child's traceback", function()
    local ok, kind, msg = shm.spawn(function()
      local function inner() error("broken in the child") end
      inner()
    end):wait()
    assert.is_nil(ok)
    assert.equal("error", kind)
    assert.matches("proc_spec.lua:%d+: broken in the child", msg)
    assert.matches("stack traceback:", msg, 1, true)
    assert.matches("in %a+ 'inner'", msg) -- 5.1: "in function 'inner'"
    assert.not_matches("shm.spawn", msg, 1, true) -- only the child's own frames
  end)

  it("reports error objects that are not strings", function()
    local _, _, msg = shm.spawn(function()
      error(setmetatable({}, { __tostring = function() return "custom object" end }))
    end):wait()
    assert.matches("^custom object\nstack traceback:", msg)
    _, _, msg = shm.spawn(function() error({}) end):wait()
    assert.matches("(error object is a table value)", msg, 1, true)
    _, _, msg = shm.spawn(function() coroutine.yield() end):wait()
    assert.matches("attempt to yield", msg, 1, true)
  end)

  it("reports os.exit codes like os.execute", function()
    assert.same({ nil, "exit", 7 }, { shm.spawn(function() os.exit(7) end):wait() })
    if H.lua_version ~= "5.1" then -- os.exit takes a boolean since 5.2
      assert.same({ true }, { shm.spawn(function() os.exit(true) end):wait() })
    end
  end)

  it("reports a child killed by a signal, by number or by name", function()
    for _, sig in ipairs({ "KILL", "SIGTERM", 1, "USR1" }) do
      local h = shm.spawn(forever)
      assert.same({ nil, "running" }, { h:poll() })
      assert.is_true(h:kill(sig))
      local expect = ({ KILL = 9, SIGTERM = 15, [1] = 1, USR1 = 10 })[sig]
      assert.same({ nil, "signal", expect }, { h:wait() })
      assert.equal(("shm.process: %d (signal %d)"):format(h.pid, expect), tostring(h))
    end
  end)

  it("kills with SIGTERM by default and refuses unknown signals", function()
    local h = shm.spawn(forever)
    assert.matches("^shm.process: %d+ %(running%)$", tostring(h))
    assert.error_matches(function() h:kill("NOPE") end, "unknown signal 'NOPE'")
    assert.error_matches(function() h:kill(1.5) end, "number has no integer representation")
    assert.is_true(h:kill())
    assert.same({ nil, "signal", 15 }, { h:wait() })
  end)

  it("does not signal a child that was already reaped (its pid may be reused)", function()
    local h = shm.spawn(function() end)
    assert.is_true(h:wait())
    local ok, msg, code = h:kill("KILL")
    assert.is_nil(ok)
    assert.matches("has already ended", msg)
    assert.equal(3, code) -- ESRCH
  end)

  it("times out a wait without stopping the child, and can wait again", function()
    local h = shm.spawn(function() sleep(1.5) return "late" end)
    local t0 = now()
    assert.same({ nil, "timeout" }, { h:wait(0.2) })
    local waited = now() - t0
    assert.is_true(waited >= 0.19 and waited < 1, waited)
    assert.same({ nil, "timeout" }, { h:wait(0) })
    assert.same({ true, "late" }, { h:wait(math.huge) })
    assert.same({ true, "late" }, { h:wait() }) -- the results stay
    assert.same({ true, "late" }, { h:wait(0) })
    assert.error_matches(function() h:wait(-1) end, "timeout must be")
    assert.error_matches(function() h:wait(0 / 0) end, "timeout must be")
  end)

  it("gives an ended child's results to a wait that has no time to wait", function()
    local h = shm.spawn(function() return "done" end)
    sleep(0.3) -- it has ended, and nobody has looked yet
    assert.same({ true, "done" }, { h:wait(0) })
  end)

  it("polls without blocking", function()
    local h = shm.spawn(function() sleep(1) return 1 end)
    local t0 = now()
    assert.same({ nil, "running" }, { h:poll() })
    assert.is_true(now() - t0 < 0.5)
    repeat sleep(0.05) until h:poll()
    assert.same({ true, 1 }, { h:poll() })
  end)

  it("flushes buffered output before forking, so nothing is written twice", function()
    local out = H.lua([[
      local shm = require "shm"
      io.write("parent before, ")
      local f = assert(io.open(arg[1], "w"))
      f:write("file before, ")
      shm.spawn(function() io.write("child, ") f:write("child, ") end):wait()
      f:close()
      f = assert(io.open(arg[1]))
      io.write(f:read("*a"), "\n")
      f:close()
      os.remove(arg[1])
    ]], os.tmpname())
    assert.equal("parent before, child, file before, child, \n", out)
  end)

  it("shares a block with the child both ways", function()
    local m = assert(shm.create(16))
    m.buf[1] = 7
    local ok, seen = shm.spawn(function()
      m.buf[2] = m.buf[1] * 6
      return m.buf[1]
    end):wait()
    assert.is_true(ok)
    assert.equal(7, seen)
    assert.equal(42, m.buf[2])
    m:unlink()
  end)

  it("lets a child attach by name and write where the parent sees it", function()
    local m = assert(shm.create(8))
    assert.is_true(shm.spawn(function(name)
      local mine = assert(shm.attach(name))
      mine.buf:write(1, "from kid")
    end, m.name):wait())
    assert.equal("from kid", m.buf:sub(1, 8))
    m:unlink()
  end)

  it("does not unlink the parent's blocks, and unlinks the child's own at its end", function()
    local m = assert(shm.create(8))
    local ok, childs = shm.spawn(function()
      local own = assert(shm.create(8))
      return own.name
    end):wait()
    assert.is_true(ok)
    assert.is_true(H.exists(m.name))
    assert.is_false(H.exists(childs))
    m:unlink()
  end)

  it("does not run the parent's finalizers in the child", function()
    local m = assert(shm.create(8))
    local guard = setmetatable({}, { __gc = function() m.buf[1] = 99 end }) -- luacheck: ignore
    assert.is_true(shm.spawn(function() return true end):wait())
    assert.equal(0, m.buf[1])
    guard = nil -- luacheck: ignore
    m:unlink()
  end)

  it("leaves no zombie when a finished child's handle is collected", function()
    local h = shm.spawn(function() end)
    local pid = h.pid
    assert.is_true(zombie_soon(pid)) -- ended, not yet reaped
    h = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_nil(state(pid))
  end)

  -- The collector sees a handle as a few bytes, so finished handles can pile up between its
  -- cycles: each must keep no more than its result (it kept an 8 KiB read buffer, 2.4 MB
  -- for these 300, and each later fork copied and faulted on those pages).
  it("keeps no more memory in a finished child's handle than its result", function()
    local f = io.open("/proc/self/status")
    if not f then return pending("no /proc/self/status") end
    f:close()
    local out = H.lua([[
      local shm = require "shm"
      collectgarbage("stop")
      local handles, data_kb = {}, {}
      for step = 1, 2 do
        for i = 1, step == 2 and 300 or 0 do
          handles[i] = shm.spawn(function() return i end)
          assert(select(2, handles[i]:wait()) == i)
        end
        local status = assert(io.open("/proc/self/status"))
        data_kb[step] = tonumber(status:read("*a"):match("\nVmData:%s*(%d+)"))
        status:close()
      end
      print(data_kb[2] - data_kb[1])
    ]])
    local grown = tonumber(out:match("^(%d+)\n$"))
    assert.is_truthy(grown, out)
    assert.is_true(grown < 1024, grown .. " KiB for 300 finished handles")
  end)

  it("reaps a child whose handle was collected while it ran, once it ends", function()
    local h = shm.spawn(function() sleep(1) end)
    local pid = h.pid
    h = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    local s = state(pid)
    assert.is_true(s ~= nil and s ~= "Z", s) -- still running: not waited for, not killed
    assert.is_true(zombie_soon(pid))
    shm.spawn(function() end):wait() -- any later start or wait reaps it
    assert.is_nil(state(pid))
  end)

  it("refuses to wait for another process's child", function()
    local h = shm.spawn(forever)
    local ok, kind, msg = shm.spawn(function() return h:poll() end):wait()
    assert.same({ nil, "error" }, { ok, kind })
    assert.matches("process " .. h.pid .. " is not a child of this process", msg, 1, true)
    h:kill("KILL")
    h:wait()
  end)

  it("waits for a child's own children before it ends", function()
    local m = assert(shm.create(8))
    local done = m:array("int32")
    local ok, inner = shm.spawn(function()
      local grandchild = shm.spawn(function()
        sleep(0.2)
        done[1] = 1 -- only a grandchild that was waited for, not terminated, gets here
      end)
      return grandchild.pid
    end):wait()
    assert.is_true(ok)
    assert.equal(1, done[1])
    assert.is_nil(state(inner))
    m:unlink()
  end)

  it("terminates a failing child's own children (SIGTERM, then SIGKILL)", function()
    local m = assert(shm.create(16))
    local pids = m:array("int32")
    local ok, kind, msg = shm.spawn(function()
      pids[1] = shm.spawn(forever).pid
      pids[2] = shm.exec("sh", "-c", "trap '' TERM; while :; do :; done").pid -- ignores TERM
      error("the child fails")
    end):wait(10)
    assert.same({ nil, "error" }, { ok, kind })
    assert.matches("the child fails", msg, 1, true)
    assert.is_nil(state(pids[1]))
    assert.is_nil(state(pids[2]))
    m:unlink()
  end)

  it("a Ctrl-C (SIGINT) to a forked child ends its wait at once, with a traceback", function()
    -- The child's function runs in a coroutine, and lua5.4 sets its interrupt hook on the
    -- main thread: the wait must still see it (not only when its 20 s run out).
    local S = require "sync_helper"
    local e = assert(shm.event())
    local h = shm.spawn(function() return e:wait(20) end)
    assert.is_true(S.asleep(h))
    local t0 = now()
    assert.is_true(h:kill("INT"))
    local ok, how, msg = h:wait(30)
    assert.same({ nil, "error" }, { ok, how })
    assert.matches("^interrupted!", msg)
    assert.matches("stack traceback:", msg, 1, true)
    if H.lua_version ~= "luajit" then -- LuaJIT's traceback of the dead coroutine is cut short
      assert.matches("in %a+ 'wait'", msg)
    end
    assert.is_true(now() - t0 < 5, "took " .. now() - t0)
    e:unlink()
  end)

  -- The function runs in a coroutine, and lua_sethook is per thread: the interrupt must
  -- reach the coroutine, not wait for the end of a loop that never ends.
  for _, loop in ipairs({ "started:set() while true do end",
    "coroutine.wrap(function() started:set() while true do end end)()" }) do
    it("a SIGINT to a forked child of shmlua interrupts `" .. loop .. "` at once", function()
      if not have_shmlua() then return pending("no shmlua host in " .. H.build) end
      local out = H.run(H.shmlua, [[
        local started = shm.event()
        local function now()
          local f = io.open("/proc/uptime")
          local t = f:read("*n")
          f:close()
          return t
        end
        local h = shm.spawn(function() ]] .. loop .. [[ end)
        assert(started:wait(10))
        local t0 = now()
        h:kill("INT")
        local ok, how, msg = h:wait(5)
        if how == "timeout" then h:kill("KILL") end
        print(how, ("%.2f"):format(now() - t0))
        print(msg)
      ]])
      local how, took = out:match("^(%a+)\t([%d.]+)\n")
      assert.equal("error", how, out)
      assert.matches("\n[^\n]*interrupted!\nstack traceback:", out)
      assert.is_true(tonumber(took) < 1, "took " .. took .. " s")
    end)
  end

  it("ends a child whose parent was killed (PDEATHSIG)", function()
    local out = H.lua([[
      local shm = require "shm"
      local h = shm.spawn(function() while true do end end)
      local f = io.open("/proc/self/stat")
      local me = f:read("*a"):match("^%d+")
      f:close()
      print(h.pid)
      io.stdout:flush()
      os.execute("kill -9 " .. me)
    ]])
    local pid = assert(tonumber(out:match("^(%d+)")), out)
    assert.is_true(gone_or_zombie_soon(pid))
  end)

  it("lets Ctrl-C interrupt a wait in lua5.4", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local shm = require "shm"
      local h = shm.spawn(function() while true do end end)
      print(h.pid)
      io.stdout:flush()
      h:wait()
    ]])
    f:close()
    local log = os.tmpname()
    -- SIGINT once the script is waiting (before, lua5.4 would die of it without a message):
    -- it printed, then sleeps ("S" in /proc/PID/stat), which only h:wait does.
    local out = H.sh(("%s" .. H.lua_exe .. " %s > %s 2>&1 & pid=$!; for i in $(seq 100); do "
      .. "grep -q . %s && break; sleep 0.05; done; for i in $(seq 100); do "
      .. "grep -q '^[0-9]* ([^)]*) S' /proc/$pid/stat && break; sleep 0.05; done; "
      .. "kill -INT $pid; wait $pid; "
      .. "echo status $? >> %s; cat %s"):format(H.env, script, log, log, log, log))
    os.remove(script)
    os.remove(log)
    assert.matches("interrupted!", out, 1, true)
    assert.matches("status 1", out, 1, true)
    assert.is_true(gone_or_zombie_soon(assert(tonumber(out:match("^(%d+)")))))
  end)

  it("checks its arguments", function()
    assert.error_matches(function() shm.spawn(42) end, "function expected")
  end)
end)

describe("shm.exec", function()
  it("starts a program with arguments and reports its exit code", function()
    assert.same({ true }, { shm.exec("true"):wait() })
    assert.same({ nil, "exit", 4 }, { shm.exec("sh", "-c", "exit $1", "sh", 4):wait() })
  end)

  it("passes arguments intact, spaces and quotes included", function()
    local path = os.tmpname()
    assert.is_true(shm.exec("sh", "-c", 'printf "%s|" "$@" > "$0"', path, "a b", "it's", ""):wait())
    local f = assert(io.open(path))
    assert.equal("a b|it's||", f:read("*a"))
    f:close()
    os.remove(path)
  end)

  it("reports a missing program as nil, message, errno", function()
    local ok, msg, code = shm.exec("no-such-program-shmlua")
    assert.is_nil(ok)
    assert.matches("no-such-program-shmlua: No such file or directory", msg, 1, true)
    assert.equal(2, code)
  end)

  it("reports a program killed by a signal", function()
    local h = assert(shm.exec("sleep", "10"))
    assert.same({ nil, "timeout" }, { h:wait(0.05) })
    h:kill("KILL")
    assert.same({ nil, "signal", 9 }, { h:wait() })
  end)

  it("refuses an argument with a zero byte", function()
    assert.error_matches(function() shm.exec("echo", "a\0b") end, "zero byte")
  end)
end)

describe("shm.run", function()
  it("starts a script with $SHMLUA_EXE and arguments; it attaches by name", function()
    local child = H.tmpfile([[
      local shm = require "shm"
      local m = assert(shm.attach(arg[1]))
      m.buf:write(1, arg[2])
      os.exit(tonumber(arg[3]))
    ]])
    local parent = H.tmpfile([[
      local shm = require "shm"
      local m = assert(shm.create(8))
      print(shm.run(arg[1], m.name, "written", 5):wait())
      print(m.buf:sub(1, 7))
    ]])
    local out = H.sh(("SHMLUA_EXE=" .. H.lua_exe .. " %s" .. H.lua_exe .. " %s %s 2>&1"):format(H.env, parent, child))
    os.remove(child)
    os.remove(parent)
    assert.equal("nil\texit\t5\nwritten\n", out)
  end)

  it("starts the same shmlua when run inside shmlua", function()
    if not have_shmlua() then return pending("no shmlua host in " .. H.build) end
    local child = H.tmpfile([[print("child", shm ~= nil, arg[1], arg[2])]])
    local out = H.run(H.shmlua, [[
      local h = shm.run(arg[1], "x y", 2)
      print(h:wait())
    ]], child)
    os.remove(child)
    assert.equal("child\ttrue\tx y\t2\ntrue\n", out)
  end)

  it("ends a script whose parent was killed (told through its environment)", function()
    if not have_shmlua() then return pending("no shmlua host in " .. H.build) end
    -- the child makes a marker file once it runs: the parent dies only then
    local child = H.tmpfile("io.open(arg[1], 'w'):close() while true do end")
    local marker = os.tmpname()
    os.remove(marker)
    local out = H.run("SHMLUA_EXE=" .. H.shmlua .. " " .. H.lua_exe, [[
      local shm = require "shm"
      local h = assert(shm.run(arg[1], arg[2]))
      local f = io.open("/proc/self/stat")
      local me = f:read("*a"):match("^%d+")
      f:close()
      print(h.pid)
      io.stdout:flush()
      os.execute(("i=0; while [ ! -e %s ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done;"
        .. "kill -9 %s"):format(arg[2], me))
    ]], child, marker)
    os.remove(child)
    local ran = io.open(marker)
    assert.is_not_nil(ran, "the child never ran")
    ran:close()
    os.remove(marker)
    local pid = assert(tonumber(out:match("^(%d+)")), out)
    assert.is_true(gone_or_zombie_soon(pid))
  end)

  it("reports an interpreter that cannot be found", function()
    local out = H.sh(("SHMLUA_EXE=/nonexistent/shmlua %s" .. H.lua_exe .. " -e 'print(require(\"shm\").run(\"x.lua\"))'")
      :format(H.env))
    assert.equal("nil\t/nonexistent/shmlua: No such file or directory\t2\n", out)
  end)
end)

describe("shm.waitall", function()
  it("waits for every handle and returns their results in order", function()
    local hs = {
      shm.spawn(function() sleep(0.2) return "slow" end),
      shm.spawn(function() return "fast", 2 end),
      shm.spawn(function() os.exit(3) end),
      shm.exec("true"),
    }
    local r = shm.waitall(hs)
    assert.same({ { true, "slow", n = 2 }, { true, "fast", 2, n = 3 }, { nil, "exit", 3, n = 3 },
      { true, n = 1 } }, r)
  end)

  it("times out, leaving the handles usable", function()
    local hs = { shm.spawn(function() return 1 end), shm.spawn(forever) }
    assert.same({ nil, "timeout" }, { shm.waitall(hs, 0.2) })
    hs[2]:kill("KILL")
    local r = shm.waitall(hs, 5)
    assert.same({ true, 1, n = 2 }, r[1])
    assert.same({ nil, "signal", 9, n = 3 }, r[2])
  end)

  it("accepts an empty list and checks its items", function()
    assert.same({}, shm.waitall({}))
    assert.error_matches(function() shm.waitall({ 1 }) end, "item 1 is not a process")
  end)
end)

describe("shm.map", function()
  it("returns the results in input order with n workers", function()
    local inputs = {}
    for i = 1, 50 do inputs[i] = i end
    local pids = {}
    local r = shm.map(function(x)
      local f = assert(io.open("/proc/self/stat"))
      local pid = f:read("*a"):match("^%d+")
      f:close()
      return { x * x, pid }
    end, inputs, 3)
    assert.equal(50, r.n)
    for i = 1, 50 do
      assert.equal(i * i, r[i][1])
      pids[r[i][2]] = true
    end
    local distinct = 0
    for _ in pairs(pids) do distinct = distinct + 1 end
    assert.is_true(distinct >= 3, distinct) -- several worker processes did the work
  end)

  it("keeps nil results in their place", function()
    local r = shm.map(function(x) if x % 2 == 0 then return x end end, { 1, 2, 3, 4 }, 2)
    assert.same({ nil, 2, nil, 4, n = 4 }, r)
  end)

  it("accepts a chunk size, more workers than inputs, and no inputs", function()
    local r = shm.map(function(x) return -x end, { 1, 2, 3 }, 8, { chunksize = 2 })
    assert.same({ -1, -2, -3, n = 3 }, r)
    assert.same({ n = 0 }, shm.map(print, {}))
  end)

  it("raises an error that names the failing input, with its traceback", function()
    local ok, err = pcall(shm.map, function(x)
      if x == 7 then error("seven is bad") end
      return x
    end, { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 2, { chunksize = 1 })
    assert.is_false(ok)
    assert.matches("shm.map: input #7: .*proc_spec.lua:%d+: seven is bad\nstack traceback:", err)
  end)

  it("names an input whose result cannot be sent", function()
    local ok, err = pcall(shm.map, function(x) return x == 2 and io.stdout or x end, { 1, 2, 3 })
    assert.is_false(ok)
    assert.matches("input #2: value #1: " .. H.FILE .. " cannot be sent", err, 1, true)
  end)

  it("reports a worker that died", function()
    local ok, err = pcall(shm.map, function(x)
      if x == 3 then os.exit(9) end
      return x
    end, { 1, 2, 3, 4 }, 2, { chunksize = 2 })
    assert.is_false(ok)
    assert.matches("inputs #3..#4: the worker exited with code 9", err, 1, true)
  end)

  it("checks its arguments", function()
    assert.error_matches(function() shm.map(print, {}, 0) end, "at least 1")
    assert.error_matches(function() shm.map(print, {}, 1, { chunk = 2 }) end, "unknown option 'chunk'")
    assert.error_matches(function() shm.map(print, { 1 }, 1, { chunksize = 0 }) end, "chunksize")
    assert.error_matches(function() shm.map(print, 5) end, "table expected")
  end)
end)
