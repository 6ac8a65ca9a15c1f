-- The experimenter's tools: buf:hexdump (checked against the real xxd reading /dev/shm),
-- shm.watch, and the shmlua flags --dump and --watch.
local H = require "helper"
local Term = require "tmuxterm"
local shm = require "shm"

-- The visible screen only: with tmux's scroll-on-clear, earlier frames sit in the scrollback.
local function visible(t)
  return (H.sh(t.tmux .. "capture-pane -p 2>&1"))
end

-- Runs cmd in a terminal and check(t) on it, then always ends the terminal.
local function interact(cmd, check)
  local t = Term.start(cmd)
  local ok, err = pcall(check, t)
  t:stop()
  assert(ok, err)
end

-- shm.watch of a block in lua5.4 in a terminal.
local function watch_in_lua(name, interval)
  return (H.lua_exe .. " -e %s"):format(H.quote(("require('shm').watch(%q, {interval = %s})")
    :format(name, interval)))
end

-- A block filled with every byte value, in an order that is not simply ascending.
local function scrambled(size)
  local m = assert(shm.create(size, H.name("hex")))
  for i = 1, size do m.buf[i] = (i * 37 + 11) % 256 end
  return m
end

local function xxd(name, skip, len)
  local args = skip and ("-s %d -l %d "):format(skip, len) or ""
  return (H.sh("xxd " .. args .. "/dev/shm/" .. name))
end

describe("buf:hexdump", function()
  it("prints the whole block exactly as xxd prints its /dev/shm file", function()
    local m = scrambled(100)
    local dump = m.buf:hexdump()
    assert.equal(xxd(m.name), dump)
    assert.equal(7, select(2, dump:gsub("\n", "")))
    m:unlink()
  end)

  it("takes a range with string.sub's rules, offsets still counted from the block's start",
    function()
      local m = scrambled(300)
      assert.equal(xxd(m.name, 3, 41), m.buf:hexdump(4, 44))
      assert.equal(xxd(m.name, 280, 20), m.buf:hexdump(-20))
      assert.equal(xxd(m.name, 0, 300), m.buf:hexdump(-1000, 1000))
      assert.equal(xxd(m.name, 299, 1), m.buf:hexdump(300, 300))
      m:unlink()
    end)

  it("shows printable ASCII as itself and everything else as a dot", function()
    local m = assert(shm.create(8, H.name("hex")))
    m.buf:write(1, "A\0~\127 z\255\n")
    assert.equal("00000000: 4100 7e7f 207a ff0a                      A.~. z..\n",
      m.buf:hexdump())
    m:unlink()
  end)

  it("returns an empty string for an empty range", function()
    local m = scrambled(10)
    assert.equal("", m.buf:hexdump(5, 4))
    assert.equal("", m.buf:hexdump(11))
    m:unlink()
  end)

  it("raises on a closed block and on positions that are not integers", function()
    local m = scrambled(10)
    m:unlink()
    assert.has_error(function() m.buf:hexdump(1.5) end,
      "bad argument #1 to 'hexdump' (number has no integer representation)")
    assert.has_error(function() m.buf:hexdump("x") end)
    m:close()
    assert.has_error(function() m.buf:hexdump() end, "block '" .. m.name .. "' is closed")
  end)
end)

describe("shm.watch", function()
  it("draws frames of the hex dump, `count` of them, then returns true", function()
    local m = scrambled(40)
    local out = H.lua(
      ("local shm = require 'shm'; print(shm.watch(%q, {count = 3, interval = 0.01}))")
      :format(m.name))
    local frame = ("%s: 40 bytes, bytes 1..40, every 0.01s\n"):format(m.name) .. m.buf:hexdump()
    assert.equal(frame:rep(3) .. "true\n", out)
    m:unlink()
  end)

  it("shows a range, or what the show function makes of the block", function()
    local m = scrambled(2000)
    m.buf:write(1, "abc")
    local out = H.lua(([[
      local shm = require 'shm'
      shm.watch(%q, {count = 1, i = 17, j = 40})
      shm.watch(%q, {count = 1, i = -8, j = 5000})
      shm.watch(%q, {count = 1, show = function(b)
        return ("%%s %%s %%d\n"):format(tostring(b.readonly), b.buf:sub(1, 3), #b.buf) end})
      shm.watch(%q, {count = 1})]]):format(m.name, m.name, m.name, m.name))
    assert.equal(("%s: 2000 bytes, bytes 17..40, every 1s\n"):format(m.name)
      .. m.buf:hexdump(17, 40)
      .. ("%s: 2000 bytes, bytes 1993..2000, every 1s\n"):format(m.name)
      .. m.buf:hexdump(-8)
      .. ("%s: 2000 bytes, every 1s\n"):format(m.name) .. "true abc 2000\n"
      .. ("%s: 2000 bytes, bytes 1..1024, every 1s\n"):format(m.name) .. m.buf:hexdump(1, 1024),
      out)
    m:unlink()
  end)

  it("returns nil, message, errno for a missing block and raises on bad options", function()
    local name = H.name("gone")
    assert.same({ nil, name .. ": No such file or directory", 2 }, { shm.watch(name) })
    local m = scrambled(8)
    for opts, msg in pairs {
      [{ interval = 0 }] = "option 'interval' must be a positive number of seconds",
      [{ interval = 0 / 0 }] = "option 'interval' must be a positive number of seconds",
      [{ count = 0 }] = "option 'count' must be positive",
      [{ count = 1.5 }] = "option 'count' must be an integer",
      [{ show = "x" }] = "option 'show' must be a function",
      [{ speed = 1 }] = "unknown option 'speed'",
    } do
      local ok, err = pcall(shm.watch, m.name, opts)
      assert.is_false(ok)
      assert.matches(msg, err, 1, true)
    end
    assert.has_error(function()
      shm.watch(m.name, { count = 1, show = function() return {} end })
    end, "option 'show' must return a string (got table)")
    assert.has_error(function() shm.watch("a/b") end)
    m:unlink()
  end)

  it("redraws in a terminal as another process writes, until Ctrl-C", function()
    local m = scrambled(64)
    interact(watch_in_lua(m.name, 0.05), function(t)
      t:waitfor(m.name .. ": 64 bytes")
      assert.is_nil(t:screen():find("from peer", 1, true))
      assert(H.lua(("local m = require('shm').attach(%q); m.buf:write(17, 'from peer')")
        :format(m.name)))
      t:waitfor("from peer")
      -- Redrawn in place: one frame on the screen, not a scroll of them.
      assert.equal(1, select(2, visible(t):gsub(m.name .. ": 64 bytes", "")))
      t:key("C-c")
      t:waitfor("EXIT:1")
      assert.matches("interrupted!", t:screen())
    end)
    m:unlink()
  end)

  it("marks in reverse video, on a terminal, the bytes that changed since the last frame",
    function()
      local m = scrambled(32)
      m.buf:fill(0)
      interact(watch_in_lua(m.name, 1), function(t)
        t:waitfor(m.name .. ": 32 bytes")
        assert(H.lua(("require('shm').attach(%q).buf:write(3, 'AB')"):format(m.name)))
        local deadline, screen = os.time() + 5, ""
        while not screen:find("\27%[7m4142") and os.time() <= deadline do
          H.sh("sleep 0.1")
          screen = H.sh(t.tmux .. "capture-pane -p -e")
        end
        assert.matches("00000000: 0000 \27%[7m4142.-0000  %.%.\27%[7mAB", screen)
        assert.is_nil(screen:match("00000010:[^\n]*\27"))
      end)
      m:unlink()
    end)

  it("writes no escape codes when stdout is not a terminal", function()
    local out = H.lua([[
      local shm = require 'shm'
      local m = assert(shm.create(16))
      local h = shm.spawn(function() os.execute('sleep 0.1') m.buf:write(1, 'X') end)
      shm.watch(m.name, {count = 2, interval = 0.4})
      h:wait()]])
    assert.is_nil(out:find("\27", 1, true))
    assert.matches("00000000: 5800 .* X%.", out)
  end)

  it("stops at Ctrl-C in the middle of a long interval", function()
    local m = scrambled(16)
    interact(watch_in_lua(m.name, 600), function(t)
      t:waitfor(m.name .. ": 16 bytes")
      local started = os.time()
      t:key("C-c")
      t:waitfor("EXIT:1", 3)
      assert.matches("interrupted!", t:screen())
      assert.is_true(os.time() - started <= 3)
    end)
    m:unlink()
  end)
end)

describe("shm.map's progress option", function()
  local script = [[
    local shm = require 'shm'
    local r = shm.map(function(x) os.execute('sleep 0.05') return x * 2 end,
      {1, 2, 3, 4, 5, 6, 7, 8}, 2, {progress = true, chunksize = 1})
    print(#r, r[1], r[8])]]

  it("draws nothing when stderr is not a terminal", function()
    local out, ok = H.lua(script)
    assert(ok, out)
    assert.equal("8\t2\t16\n", out)
  end)

  it("draws one line in place on a terminal, ending at all done", function()
    interact(H.lua_exe .. " -e " .. H.quote(script), function(t)
      local screen = t:waitfor("EXIT:0")
      assert.matches("shm.map: 8/8 done %(100%%%), %d+%.%ds\n8%s+2%s+16\n", screen)
      assert.equal(1, select(2, screen:gsub("shm%.map:", "")))
    end)
  end)

  it("moves per finished input, also inside a chunk", function()
    -- one worker, one chunk of six inputs: a line per chunk would jump from 0 to 6
    interact(H.lua_exe .. " -e " .. H.quote([[
      require('shm').map(function(x) os.execute('sleep 0.3') return x end,
        {1, 2, 3, 4, 5, 6}, 1, {progress = true, chunksize = 6})]]), function(t)
      t:waitfor("shm.map: 3/6 done (50%)", 5)
      t:waitfor("EXIT:0", 5)
    end)
  end)

  it("must be a boolean", function()
    local ok, err = pcall(shm.map, print, {}, 1, { progress = "yes" })
    assert.is_false(ok)
    assert.matches("bad argument #4 to " .. H.pcalled("map")
      .. " %(option 'progress' must be a boolean%)", err)
  end)
end)

describe("shmlua --dump and --watch #lua54", function()
  local function shmlua(args)
    return H.sh(("%s %s 2>&1"):format(H.quote(H.shmlua), args))
  end

  it("--dump prints a block or a range of it as xxd does", function()
    local m = scrambled(200)
    for args, xxdargs in pairs { [""] = { nil }, [" 4 20"] = { 3, 17 }, [" -16"] = { 184, 16 },
      [" 190 1000"] = { 189, 11 } } do
      local out, ok = shmlua("--dump " .. m.name .. args)
      assert(ok, out)
      assert.equal(xxd(m.name, xxdargs[1], xxdargs[2]), out)
    end
    m:unlink()
  end)

  it("--dump reports a missing block or a bad position, with status 1", function()
    local name = H.name("gone")
    local out, ok, _, code = shmlua("--dump " .. name)
    assert.is_nil(ok)
    assert.equal(1, code)
    assert.matches(": %-%-dump: " .. name .. ": No such file or directory\n$", out)
    local m = scrambled(8)
    out, ok = shmlua("--dump " .. m.name .. " 1.5")
    assert.is_nil(ok)
    assert.matches("number has no integer representation", out)
    m:unlink()
  end)

  it("--watch draws every second by default", function()
    local m = scrambled(8)
    local out = H.sh(("timeout -s INT 0.5 %s --watch %s"):format(H.quote(H.shmlua), m.name))
    assert.equal(("%s: 8 bytes, bytes 1..8, every 1s\n"):format(m.name) .. m.buf:hexdump(), out)
    m:unlink()
  end)

  it("--watch redraws as another process writes, until Ctrl-C", function()
    local m = scrambled(48)
    -- The shell traps SIGINT so that it outlives shmlua, which Ctrl-C kills, and says how.
    interact(("trap : INT; %s --watch %s 0.05"):format(H.quote(H.shmlua), m.name), function(t)
      t:waitfor(m.name .. ": 48 bytes, bytes 1..48, every 0.05s")
      assert(H.lua(("require('shm').attach(%q).buf:write(33, 'seen by watch')"):format(m.name)))
      t:waitfor("seen by watch")
      assert.equal(1, select(2, visible(t):gsub(m.name .. ": 48 bytes", "")))
      t:key("C-c")
      t:waitfor("EXIT:130")
    end)
    assert.is_true(H.exists(m.name)) -- watching never unlinks
    m:unlink()
  end)
end)
