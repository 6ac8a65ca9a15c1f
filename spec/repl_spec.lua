-- The REPL as a person uses it: shmlua in a pseudo-terminal (tmux), keys typed, the screen
-- read back. HOME is a fresh folder, so the history file is this spec's own.
local H = require "helper"
local Term = require "tmuxterm"

local home

-- Waits until the REPL shows its prompt and nothing after it: it is reading a line. Keys
-- typed before that go through the terminal's own line editing, where a Ctrl-D is lost.
local function idle(t)
  t:waitfor("\n>\n$", 10, true)
end

local function repl(args)
  local t = Term.start(("HOME=%s %s %s"):format(home, H.quote(H.shmlua), args or ""))
  idle(t)
  return t
end

-- The name of the block in the global m, printed and read from the screen.
local function blockname(t)
  t:type("print('NAME:' .. m.name)")
  local name = t:waitfor("NAME:[%w_]+", 5, true):match("NAME:([%w_]+)")
  assert.is_true(H.exists(name), name)
  return name
end

-- Creates an owned block in the global m; returns its name.
local function newblock(t)
  t:type("m = shm.create(64)")
  return blockname(t)
end

before_each(function()
  home = H.sh("mktemp -d"):match("%S+")
end)

after_each(function()
  H.sh("rm -rf " .. H.quote(home))
end)

describe("the shmlua REPL #lua54", function()
  local t
  after_each(function() if t then t:stop() end end)

  it("greets, prints expressions without '=' or 'return', and runs statements", function()
    t = repl()
    t:waitfor("shmlua %d+%.%d+%.%d+ with Lua 5%.4", 10, true)
    t:waitfor("\n>")
    t:type("1 + 1")
    t:waitfor("\n2\n")
    t:type("x = 'set'")
    t:type("x, nil, 3")
    t:waitfor("set%s+nil%s+3\n", 5, true)
    t:type("=x")
    t:waitfor("\nset\n")
  end)

  it("shows blocks by their name and size, and 'closed' once closed", function()
    t = repl()
    t:type("m = shm.create(100)")
    t:type("m")
    local screen = t:waitfor("shm%.block: %S+ %(100 bytes%)", 5, true)
    local name = screen:match("shm%.block: (%S+) %(100 bytes%)")
    assert.is_true(H.exists(name))
    t:type("m:close()")
    t:type("m")
    t:waitfor("shm.block: " .. name .. " (closed)")
  end)

  it("reads on while a chunk is incomplete, with the >> prompt", function()
    t = repl()
    t:type("function twice(x)")
    t:waitfor("\n>>")
    t:type("return 2 * x")
    t:type("end")
    t:type("twice(21)")
    t:waitfor("\n42\n")
  end)

  it("reports errors with a traceback and goes on", function()
    t = repl()
    t:type("error('oops')")
    t:waitfor("stdin:1: oops\nstack traceback:")
    t:type("'still alive'")
    t:waitfor("\nstill alive\n")
  end)

  it("Ctrl-C interrupts a running loop: 'interrupted!', then the prompt again", function()
    t = repl()
    -- the output (not the echoed line) says the chunk runs, so Ctrl-C cannot come too early
    t:type("print('run' .. 'ning') while true do end")
    t:waitfor("\nrunning\n")
    t:key("C-c")
    t:waitfor("interrupted!")
    t:type("'after loop'")
    t:waitfor("\nafter loop\n")
  end)

  -- Waits in the kernel: set up, the wait, then an expression (and the output it must give
  -- after "after") showing the object is still usable after the interruption.
  for _, case in ipairs({
    -- (the child gets the Ctrl-C too: same foreground group; whether it is over yet varies)
    { "a wait for a child process", "h = shm.spawn(function() os.execute('sleep 30') end)",
      "h:wait()", "h.pid > 0", "true" },
    { "a wait on a semaphore nobody releases", "s = shm.semaphore(0)", "s:acquire()",
      "s:tryacquire()", "false" },
    { "an atomic wait on an int64 array", "b = shm.create(8) a = b:array('int64')",
      "a:wait(1, 0)", "a:wait(1, 0, 0)", "timed%-out" },
    { "a pop from an empty queue", "q = shm.queue()", "q:pop()", "q:pop(0)", "nil%s+timeout" },
    { "a barrier wait nobody else reaches", "br = shm.barrier(2)", "br:wait()", "br.broken",
      "true" },
  }) do
    it("Ctrl-C interrupts " .. case[1], function()
      t = repl()
      t:type(case[2])
      t:type("print('wait' .. 'ing') " .. case[3])
      t:waitfor("\nwaiting\n")
      local before = os.time()
      t:key("C-c")
      t:waitfor("interrupted!")
      assert.is_true(os.time() - before < 5)
      t:type("print('af' .. 'ter', " .. case[4] .. ")")
      t:waitfor("\nafter%s+" .. case[5] .. "\n", 5, true)
    end)
  end

  it("Ctrl-C interrupts a lock of a mutex another process holds", function()
    t = repl()
    t:type("mu, held, done = shm.mutex(), shm.event(), shm.event()")
    -- Ctrl-C goes to the terminal's whole foreground group, the child too: it shrugs it off
    t:type("h = shm.spawn(function() mu:lock() held:set() " ..
      "repeat pcall(done.wait, done) until done.isset mu:unlock() end)")
    t:type("print('held' .. ':', held:wait(5))")
    t:waitfor("\nheld:%s+true\n", 5, true)
    t:type("print('lock' .. 'ing') mu:lock()")
    t:waitfor("\nlocking\n")
    local before = os.time()
    t:key("C-c")
    t:waitfor("interrupted!")
    assert.is_true(os.time() - before < 5)
    t:type("mu:trylock()")
    t:waitfor("\nnil%s+busy\n", 5, true) -- still the child's
    t:type("done:set() print('child' .. ':', h:wait(5))")
    t:waitfor("\nchild:%s+true\n", 5, true)
    t:type("print('relocked' .. ':', mu:lock(5))") -- the interrupted lock left nothing behind
    t:waitfor("\nrelocked:%s+true\n", 5, true)
  end)

  it("Ctrl-C at the prompt drops the line being typed", function()
    t = repl()
    t:type("x = ")
    t:waitfor("\n>>")
    t:key("C-c")
    H.sh("sleep 0.2")
    t:type("'fresh line'")
    t:waitfor("\nfresh line\n")
    idle(t)
    t:type("unfinished", true)
    t:key("C-c")
    H.sh("sleep 0.2")
    t:type("1 + 2")
    t:waitfor("\n3\n")
  end)

  it("Ctrl-D ends it with status 0 and its owned blocks unlinked", function()
    t = repl()
    local name = newblock(t)
    idle(t)
    t:key("C-d")
    t:waitfor("EXIT:0")
    assert.is_false(H.exists(name))
  end)

  it("SIGTERM ends it with its blocks unlinked and the terminal usable", function()
    t = Term.start(("HOME=%s %s; stty -a | grep -o ' -\\?echo '"):format(home,
      H.quote(H.shmlua)))
    idle(t)
    local name = newblock(t)
    t:type("print('PID:' .. io.open('/proc/self/stat'):read('n'))")
    local pid = t:waitfor("PID:%d+", 5, true):match("PID:(%d+)")
    H.sh("sleep 0.2")
    assert(H.sh("kill -s TERM " .. pid))
    t:waitfor("EXIT:")
    assert.matches("\n echo\n", t:screen()) -- echo is on again, not " -echo"
    assert.is_false(H.exists(name))
  end)

  -- A host built without readline (-DSHMLUA_READLINE=OFF) reads plain lines, no history.
  local readline = H.sh("ldd " .. H.quote(H.shmlua)):find("libreadline") ~= nil
  local it_readline = readline and it or pending

  it_readline("keeps its history in ~/.shmlua_history, for the next session", function()
    t = repl()
    t:type("remembered = 'from the first session'")
    t:waitfor("> remembered = 'from the first session'\n>\n$", 10, true)
    t:key("C-d")
    t:waitfor("EXIT:0")
    t:stop()
    local f = assert(io.open(home .. "/.shmlua_history"))
    assert.matches("remembered = 'from the first session'", f:read("*a"), 1, true)
    f:close()
    t = repl()
    t:waitfor("\n>")
    t:key("Up")
    t:waitfor("> remembered = 'from the first session'")
  end)

  it("runs after a script with -i, the script's globals there", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write("answer = 42")
    f:close()
    t = repl("-i " .. script)
    t:type("answer")
    t:waitfor("\n42\n")
    os.remove(script)
  end)
end)

describe("examples/two_shells.md #lua54", function()
  it("plays out in two REPLs: one creates and writes, the other attaches and changes", function()
    local first, second = repl(), repl()
    finally(function() first:stop() second:stop() end)
    first:type("a = {1, 1, 2, 3, 5, 8}")
    first:type("m = shm.create(#a * 8)")
    first:type("b = m:array('int64')")
    first:type("b:set(a)")
    first:type("b")
    first:waitfor("shm.array: int64[6] {1, 1, 2, 3, 5, 8}")
    local name = blockname(first)
    second:type(("existing = shm.attach(%q)"):format(name))
    second:type("c = existing:array('int64', 1, 6)")
    second:type("c[-1] = 888")
    second:type("c")
    second:waitfor("shm.array: int64[6] {1, 1, 2, 3, 5, 888}")
    local listing = H.sh(H.quote(H.shmlua) .. " --ls")
    local pids = listing:match("\n" .. name .. " [^\n]* (%d+,%d+)\n")
    assert.is_not_nil(pids, listing)
    first:type("b")
    first:waitfor("shm.array: int64[6] {1, 1, 2, 3, 5, 888}")
    second:type("existing:close()")
    second:waitfor("\ntrue\n")
    idle(second)
    second:key("C-d")
    second:waitfor("EXIT:0")
    assert.is_true(H.exists(name))
    idle(first)
    first:key("C-d")
    first:waitfor("EXIT:0")
    assert.is_false(H.exists(name))
  end)
end)
