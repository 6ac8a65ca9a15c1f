-- The experimenter's tools: buf:hexdump (checked against the real xxd reading /dev/shm),
-- shm.watch, and the shmlua flags --dump and --watch.
local H = require "helper"
local shm = require "shm"

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
    local m <close> = scrambled(100)
    local dump = m.buf:hexdump()
    assert.equal(xxd(m.name), dump)
    assert.equal(7, select(2, dump:gsub("\n", "")))
    m:unlink()
  end)

  it("takes a range with string.sub's rules, offsets still counted from the block's start",
    function()
      local m <close> = scrambled(300)
      assert.equal(xxd(m.name, 3, 41), m.buf:hexdump(4, 44))
      assert.equal(xxd(m.name, 280, 20), m.buf:hexdump(-20))
      assert.equal(xxd(m.name, 0, 300), m.buf:hexdump(-1000, 1000))
      assert.equal(xxd(m.name, 299, 1), m.buf:hexdump(300, 300))
      m:unlink()
    end)

  it("shows printable ASCII as itself and everything else as a dot", function()
    local m <close> = assert(shm.create(8, H.name("hex")))
    m.buf:write(1, "A\0~\127 z\255\n")
    assert.equal("00000000: 4100 7e7f 207a ff0a                      A.~. z..\n",
      m.buf:hexdump())
    m:unlink()
  end)

  it("returns an empty string for an empty range", function()
    local m <close> = scrambled(10)
    assert.equal("", m.buf:hexdump(5, 4))
    assert.equal("", m.buf:hexdump(11))
    m:unlink()
  end)

  it("raises on a closed block and on positions that are not integers", function()
    local m <close> = scrambled(10)
    m:unlink()
    assert.has_error(function() m.buf:hexdump(1.5) end,
      "bad argument #1 to 'hexdump' (integer expected, got float)")
    assert.has_error(function() m.buf:hexdump("x") end)
    m:close()
    assert.has_error(function() m.buf:hexdump() end, "block '" .. m.name .. "' is closed")
  end)
end)

-- A terminal driven by tmux on a server of our own: start a command, read the screen, type.
local Term = {}
Term.__index = Term

function Term.start(cmd)
  local t = setmetatable({ socket = H.name("tmux") }, Term)
  t.tmux = "tmux -L " .. t.socket .. " "
  -- The shell stays after the command so its exit status can be read from the screen.
  assert(H.sh(t.tmux .. "new-session -d -x 100 -y 40 "
    .. H.quote(H.env .. cmd .. "; echo EXIT:$?; sleep 60") .. " 2>&1"))
  return t
end

function Term:screen()
  return (H.sh(self.tmux .. "capture-pane -p 2>&1"))
end

-- Waits until the screen shows pattern (a Lua pattern); returns the screen, or fails.
function Term:waitfor(pattern, seconds)
  local deadline = os.time() + (seconds or 5)
  repeat
    local screen = self:screen()
    if screen:find(pattern) then return screen end
    H.sh("sleep 0.05")
  until os.time() > deadline
  error(("the screen never showed %q:\n%s"):format(pattern, self:screen()))
end

function Term:keys(...)
  assert(H.sh(self.tmux .. "send-keys " .. table.concat({ ... }, " ")))
end

function Term:stop()
  H.sh(self.tmux .. "kill-server 2>/dev/null")
end

describe("shm.watch", function()
  it("draws frames of the hex dump, `count` of them, then returns true", function()
    local m <close> = scrambled(40)
    local out = H.lua(("local shm = require 'shm'; print(shm.watch(%q, {count = 3, interval = 0.01}))")
      :format(m.name))
    local frame = ("%s: 40 bytes, bytes 1..40, every 0.01s\n"):format(m.name) .. m.buf:hexdump()
    assert.equal(frame:rep(3) .. "true\n", out)
    m:unlink()
  end)

  it("shows a range, or what the show function makes of the block", function()
    local m <close> = scrambled(2000)
    m.buf:write(1, "abc")
    local out = H.lua(([[
      local shm = require 'shm'
      shm.watch(%q, {count = 1, i = 17, j = 40})
      shm.watch(%q, {count = 1, show = function(b)
        return ("%%s %%s %%d\n"):format(b.readonly, b.buf:sub(1, 3), #b.buf) end})
      shm.watch(%q, {count = 1})]]):format(m.name, m.name, m.name))
    assert.equal(("%s: 2000 bytes, bytes 17..40, every 1s\n"):format(m.name)
      .. m.buf:hexdump(17, 40)
      .. ("%s: 2000 bytes, every 1s\n"):format(m.name) .. "true abc 2000\n"
      .. ("%s: 2000 bytes, bytes 1..1024, every 1s\n"):format(m.name) .. m.buf:hexdump(1, 1024),
      out)
    m:unlink()
  end)

  it("returns nil, message, errno for a missing block and raises on bad options", function()
    local name = H.name("gone")
    assert.same({ nil, name .. ": No such file or directory", 2 }, { shm.watch(name) })
    local m <close> = scrambled(8)
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
    local m <close> = scrambled(64)
    local t = Term.start(("lua5.4 -e %s"):format(H.quote(
      ("require('shm').watch(%q, {interval = 0.05})"):format(m.name))))
    local ok, err = pcall(function()
      t:waitfor(m.name .. ": 64 bytes")
      assert.is_nil(t:screen():find("from peer", 1, true))
      assert(H.lua(("local m = require('shm').attach(%q); m.buf:write(17, 'from peer')")
        :format(m.name)))
      local screen = t:waitfor("from peer")
      -- Redrawn in place: one frame on the screen, not a scroll of them.
      assert.equal(1, select(2, screen:gsub(m.name .. ": 64 bytes", "")))
      t:keys("C-c")
      t:waitfor("EXIT:1")
      assert.matches("interrupted!", t:screen())
    end)
    t:stop()
    m:unlink()
    assert(ok, err)
  end)

  it("stops at Ctrl-C in the middle of a long interval", function()
    local m <close> = scrambled(16)
    local t = Term.start(("lua5.4 -e %s"):format(H.quote(
      ("require('shm').watch(%q, {interval = 600})"):format(m.name))))
    local ok, err = pcall(function()
      t:waitfor(m.name .. ": 16 bytes")
      local started = os.time()
      t:keys("C-c")
      t:waitfor("EXIT:1", 3)
      assert.matches("interrupted!", t:screen())
      assert.is_true(os.time() - started <= 3)
    end)
    t:stop()
    m:unlink()
    assert(ok, err)
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
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(script)
    f:close()
    local t = Term.start("lua5.4 " .. path)
    local ok, err = pcall(function()
      local screen = t:waitfor("EXIT:0")
      assert.matches("shm.map: 8/8 done %(100%%%), %d+%.%ds\n8%s+2%s+16\n", screen)
      assert.equal(1, select(2, screen:gsub("shm%.map:", "")))
    end)
    t:stop()
    os.remove(path)
    assert(ok, err)
  end)

  it("must be a boolean", function()
    local ok, err = pcall(shm.map, print, {}, 1, { progress = "yes" })
    assert.is_false(ok)
    assert.matches("bad argument #4 to '[%w.]*map' %(option 'progress' must be a boolean%)", err)
  end)
end)
