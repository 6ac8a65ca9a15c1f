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

-- A host built without readline (-DSHMLUA_READLINE=OFF) reads plain lines: no history, no
-- completion.
local readline = H.sh("ldd " .. H.quote(H.shmlua)):find("libreadline") ~= nil
local it_readline = readline and it or pending

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
    t:waitfor('"set"%s+nil%s+3\n', 5, true)
    t:type("=x")
    t:waitfor('\n"set"\n')
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
    t:waitfor('\n"still alive"\n')
  end)

  -- (lua_sethook is per thread: a hook on the main thread never runs in a busy coroutine)
  for _, loop in ipairs({ "print('run' .. 'ning') while true do end",
    "coroutine.wrap(function() print('run' .. 'ning') while true do end end)()" }) do
    it("Ctrl-C interrupts `" .. loop .. "`: 'interrupted!', then the prompt again", function()
      t = repl()
      -- the output (not the echoed line) says the loop runs, so Ctrl-C cannot come too early
      t:type(loop)
      t:waitfor("\nrunning\n")
      t:key("C-c")
      t:waitfor("interrupted!")
      t:type("'after loop'")
      t:waitfor('\n"after loop"\n')
    end)
  end

  -- Whether process pid exists, running or a zombie not yet reaped.
  local function there(pid)
    local f = io.open("/proc/" .. pid .. "/stat")
    if f then f:close() end
    return f ~= nil
  end

  -- Ctrl-C stops the work, not just the wait: the children the statement started get
  -- SIGTERM (SIGKILL after a second if they ignore it) and are reaped, so none is left
  -- running or a zombie. `stubborn` shrugs off the Ctrl-C the terminal sends it too.
  local stubborn = "function stubborn() print('PI' .. 'D:' .. io.open('/proc/self/stat')"
    .. ":read('n')) while true do pcall(function() while true do end end) end end"
  local ignorer = "shm.exec('sh', '-c', [[trap '' INT TERM; echo PID:$$; while :; do :; done]])"
  for _, case in ipairs({
    { "h:wait()", "h = shm.spawn(stubborn) h:wait()", 1 },
    { "shm.waitall", "shm.waitall({shm.spawn(stubborn), " .. ignorer .. "})", 2 },
    { "shm.map", "shm.map(stubborn, {1, 2}, 2)", 2 },
  }) do
    it("Ctrl-C during " .. case[1] .. " stops and reaps the children it started", function()
      local pids = {}
      finally(function()
        for _, pid in ipairs(pids) do H.sh("kill -s KILL " .. pid .. " 2>/dev/null") end
      end)
      t = repl()
      t:type(stubborn)
      idle(t)
      t:type(case[2])
      local each = {}
      for i = 1, case[3] do each[i] = "PID:%d+" end
      local screen = t:waitfor(table.concat(each, ".*\n.*"), 10, true)
      for pid in screen:gmatch("PID:(%d+)") do pids[#pids + 1] = pid end
      assert.equal(case[3], #pids)
      t:key("C-c")
      t:waitfor("interrupted!")
      for _, pid in ipairs(pids) do
        local deadline = H.now() + 5
        while there(pid) and H.now() < deadline do H.sh("sleep 0.05") end
        assert.is_false(there(pid), "child " .. pid .. " is still there")
      end
      t:type("'after ' .. 'stop'")
      t:waitfor('\n"after stop"\n')
    end)
  end

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
    t:waitfor('\nnil%s+"busy"\n', 5, true) -- still the child's
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
    t:waitfor('\n"fresh line"\n')
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

  it("Ctrl-D with children still running says so, and Ctrl-C then stops them", function()
    -- (the shell in the terminal ignores the Ctrl-C, so it lives to show how shmlua ended)
    t = Term.start(("trap '' INT; HOME=%s %s"):format(home, H.quote(H.shmlua)))
    idle(t)
    t:type("a = shm.exec('sleep', '30')")
    t:type("b = shm.spawn(function() shm.exec('sleep', '30'):wait() end)")
    t:type("print('PI' .. 'DS:', a.pid, b.pid)")
    local pids = t:waitfor("PIDS:%s+%d+%s+%d+", 5, true):match("PIDS:([%d%s]+)")
    idle(t)
    t:key("C-d")
    t:waitfor("waiting for 2 children; Ctrl-C stops them")
    H.sh("sleep 0.3")
    assert.matches("Ctrl%-C stops them\n$", t:screen()) -- it waits
    t:key("C-c")
    t:waitfor("EXIT:130", 5) -- killed by SIGINT, as other programs are
    for pid in pids:gmatch("%d+") do assert.is_false(there(pid), pid) end
  end)

  it("writes no history file when its input is not a terminal", function()
    H.sh(("printf 'x = 1\\nx\\n' | HOME=%s %s -i >/dev/null 2>&1"):format(home,
      H.quote(H.shmlua)))
    H.sh(("HOME=%s %s </dev/null >/dev/null 2>&1"):format(home, H.quote(H.shmlua)))
    assert.is_nil(io.open(home .. "/.shmlua_history"))
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

describe("the shmlua REPL's help for people #lua54", function()
  local t
  after_each(function() if t then t:stop() end end)

  -- Types text, presses Tab (twice: the list of candidates), waits for what must show, then
  -- drops the line (Ctrl-U) and waits for the prompt to be idle again.
  local function tab(text, times, shows)
    t:type(text, true)
    t:key(times == 2 and "Tab Tab" or "Tab")
    local screen = t:waitfor(shows, 5, true)
    t:key("C-u")
    idle(t)
    return screen
  end

  it_readline("completes on Tab: keywords, globals, fields, methods, nested paths", function()
    t = repl()
    t:type("m = shm.create(64) q = shm.queue() a = m:array('int32')")
    t:type("nest = {b = {c = {deep = 1, deeper = 2}}}")
    idle(t)
    tab("shm.cr", 1, "\n> shm%.create\n$")
    tab("whi", 1, "\n> while\n$")
    tab("string.f", 2, "\nfind%s+format\n")
    tab("m.", 2, "\narray%s+buf%s+close%s+closed%s+name%s+readonly%s+size%s+unlink\n")
    tab("m.buf:", 2, "\nbyte%s+fill%s+hexdump%s+pack%s+sub%s+unpack%s+write\n")
    tab("q:p", 2, "\npop%s+pop_many%s+push%s+push_many%s+put%s+put_many\n")
    tab("q.c", 2, "\nclose%s+closed%s+count\n")
    tab("a:b", 2, "\nband%s+bor%s+bxor\n")
    tab("a:c", 2, "\ncadd%s+cas%s+cdiv%s+clamp%s+cmul%s+col%s+copy%s+count%s+csub%s+cumsum\n")
    tab("nest.b.c.d", 1, "\n> nest%.b%.c%.deep\n$")
    tab("nest.b.c.deep", 2, "\ndeep%s+deeper\n")
    -- the line is completed in place, and runs
    t:type("x = shm.ver", true)
    t:key("Tab")
    t:waitfor("\n> x = shm%.version\n$", 5, true)
    t:key("Enter")
    t:type("x")
    t:waitfor('\n"%d+%.%d+%.%d+"\n', 5, true)
  end)

  it_readline("runs nothing of the script's while completing: no __index function", function()
    t = repl()
    t:type("calls = 0 trap = setmetatable({real = {inner = 1}}, {__index = function(_, k) " ..
      "calls = calls + 1 return {} end})")
    idle(t)
    tab("trap.x.", 2, "\n> trap%.x%.\n$")
    tab("trap:", 2, "\n> trap:\n$")
    tab("trap.real.i", 1, "\n> trap%.real%.inner\n$") -- its raw fields do complete
    t:type("print('calls' .. ':', calls)")
    t:waitfor("\ncalls:%s+0\n", 5, true)
  end)

  it("prints tables as constructors, strings quoted, and the first result in _", function()
    t = repl()
    t:type("{1, 2, name = 'x', nested = {a = {}}, 'tab\\there'}")
    t:waitfor('\n{1, 2, "tab\\there", name = "x", nested = {a = {}}}\n')
    t:type("_[2] * 21")
    t:waitfor("\n42\n")
    t:type("_ + 1, 'second'")
    t:waitfor('\n43%s+"second"\n', 5, true)
    t:type("m = shm.create(64)")
    t:type("{m, m.size}")
    t:waitfor("\n{shm%.block: lua_%x+ %(64 bytes%), 64}\n", 5, true)
  end)

  it("prints a cycle as a back-reference", function()
    t = repl()
    t:type("t = {'first'} t.self = t")
    t:type("t")
    t:waitfor('\n<1>{"first", self = <table 1>}\n')
  end)

  it("prints a 10,000-element table in a few lines, with the count of what is left out",
    function()
      t = repl()
      t:type("big = {} for i = 1, 10000 do big[i] = i end")
      t:type("big")
      local screen = t:waitfor("\n  1, 2, 3, .-100, \226\128\166 9900 more\n}\n", 5, true)
      local shown = screen:match("\n> big\n(.-\n}\n)")
      local _, lines = shown:gsub("\n", "")
      assert.is_true(lines <= 8, shown)
      for line in shown:gmatch("[^\n]+") do assert.is_true(#line <= 100, line) end
    end)

  it("answers help with the reference entries of docs/api.md", function()
    t = repl()
    t:type("help(shm.create)")
    t:waitfor("\n### shm.create(size [, name [, opts]])\nMakes a new block of `size` bytes")
    t:type("m = shm.create(64)")
    t:type("help(m.buf)")
    t:waitfor("\n## The byte view: buf\n")
    t:waitfor("\n  buf:write(i, s)")
    t:type('help "queue"')
    t:waitfor("\n  queue:pop([timeout])")
    t:type("help()")
    t:waitfor("\nobjects (help \"queue\", help(q), help \"queue:pop\"):\n")
    t:type('help "no_such_topic"')
    t:waitfor("\nno entry for 'no_such_topic' in the shm reference")
  end)

  it("sets help and _ raw, past a script's __newindex that forbids new globals", function()
    local script = H.tmpfile("setmetatable(_G, {__newindex = function(_, k) " ..
      "error('new global ' .. k, 2) end})")
    finally(function() os.remove(script) end)
    t = repl("-i " .. H.quote(script))
    t:type("x = 1")
    t:waitfor("new global x")
    t:type("20 + 1")
    t:waitfor("\n21\n")
    t:type("_ * 2, type(help)")
    t:waitfor('\n42%s+"function"\n', 5, true)
  end)

  it("gives a script and -e none of it: no help, no _, print as lua5.4's", function()
    local script = H.tmpfile("print('script:', type(help), type(_), print({}) == nil)\n" ..
      "print(('x'):rep(2), {})")
    finally(function() os.remove(script) end)
    t = Term.start(("HOME=%s %s %s; %s -e %s; %s -i %s"):format(home, H.quote(H.shmlua),
      H.quote(script), H.quote(H.shmlua), H.quote("print('-e:', type(help), type(_))"),
      H.quote(H.shmlua), H.quote(script)))
    local screen = t:waitfor("\n>\n$", 10, true)
    assert.matches("\nscript:%s+nil%s+nil%s+true\n", screen)
    assert.matches("\nxx%s+table: 0x%x+\n", screen) -- print untouched
    assert.matches("\n%-e:%s+nil%s+nil\n", screen)
    t:type("type(help), type(_)") -- the REPL after -i has them
    t:waitfor('\n"function"%s+"nil"\n', 5, true)
  end)
end)

describe("examples/two_shells.md #lua54", function()
  it("plays out in two REPLs: one creates and writes, the other attaches and changes", function()
    local first, second = repl(), repl()
    finally(function() first:stop() second:stop() end)
    first:type("a = {1, 1, 2, 3, 5, 8}")
    first:type("m = shm.create(#a * 8)")
    first:type("b = m:array('int64')")
    if readline then
      idle(first)
      first:type("b:s", true)
      first:key("Tab Tab")
      first:waitfor("\nsearchsorted%s+set%s+sort%s+store%s+sub%s+sum\n> b:s\n$", 5, true)
      first:key("C-u")
    end
    first:type("b:set(a)")
    first:type("b")
    first:waitfor("shm.array: int64[6] {1, 1, 2, 3, 5, 8}")
    local name = blockname(first)
    first:type("m.name")
    first:waitfor(('\n"%s"\n'):format(name))
    second:type(("existing = shm.attach(%q)"):format(name))
    second:type("c = existing:array('int64', 1, 6)")
    second:type("c[-1] = 888")
    second:type("c")
    second:waitfor("shm.array: int64[6] {1, 1, 2, 3, 5, 888}")
    second:type("c:totable()")
    second:waitfor("\n{1, 1, 2, 3, 5, 888}\n")
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
