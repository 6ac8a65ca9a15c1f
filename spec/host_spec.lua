-- shmlua's command line: the same as lua5.4's (checked side by side with the real lua5.4),
-- plus --help and the block tools --ls and --rm.
local H = require "helper"
local shm = require "shm"

local dir = H.sh("mktemp -d"):match("%S+")

local function write(name, contents)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(contents)
  f:close()
  return path
end

-- Runs prog (shmlua by default) with args (a list); opts.stdin is fed to it, opts.env is a
-- prefix of variable assignments. Returns {out, err, ok, how, code}.
local function run(args, opts)
  opts = opts or {}
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = H.quote(a) end
  local input = opts.stdin and write("stdin", opts.stdin) or "/dev/null"
  local out, err = dir .. "/out", dir .. "/err"
  local _, ok, how, code = H.sh(("cd %s && %s%s %s %s <%s >%s 2>%s"):format(dir, H.env,
    opts.env or "", opts.prog or H.quote(H.shmlua), table.concat(quoted, " "), input, out, err))
  local function slurp(path)
    local f = assert(io.open(path))
    local s = f:read("*a")
    f:close()
    return s
  end
  return { out = slurp(out), err = slurp(err), ok = ok, how = how, code = code }
end

-- Prints the global arg (every index) and the script's `...`, the interpreter as INTERP.
local showargs = write("showargs.lua", [[
  local lo, hi = 0, 0
  for k in pairs(arg) do lo, hi = math.min(lo, k), math.max(hi, k) end
  for i = lo, hi do
    local v = arg[i] == arg[lo] and i < 0 and "INTERP" or arg[i]
    io.write(i, "=", tostring(v), " ")
  end
  print("|", ...)
]])

-- The same arguments given to lua5.4 and to shmlua must make the same arg table.
local function same_as_lua(args, stdin)
  local mine = run(args, { stdin = stdin })
  local lua = run(args, { stdin = stdin, prog = "lua5.4" })
  assert.equal(lua.out, mine.out)
  assert.equal(lua.code, mine.code)
  return mine
end

teardown(function() H.sh("rm -rf " .. H.quote(dir)) end)

describe("shmlua's arg table #lua54", function()
  it("has the script at 0, the interpreter and options below, the arguments above", function()
    local r = same_as_lua({ "-W", showargs, "a", "b c", "" })
    assert.equal("-2=INTERP -1=-W 0=" .. showargs .. ' 1=a 2=b c 3= |\ta\tb c\t\n', r.out)
  end)

  it("puts -e and -l operands among the negative indices", function()
    local r = same_as_lua({ "-e", "x = 1", "-lstring", showargs, "-e" })
    assert.matches("^%-4=INTERP %-3=%-e %-2=x = 1 %-1=%-lstring 0=", r.out)
    assert.matches(" 1=%-e |\t%-e\n$", r.out)
  end)

  it("takes the argument after -- as the script, even when it looks like an option", function()
    local r = same_as_lua({ "--", showargs, "-e", "--" })
    assert.matches(" 1=%-e 2=%-%- |\t%-e\t%-%-\n$", r.out)
  end)

  it("reads the script from stdin for -, with the arguments after it", function()
    local r = same_as_lua({ "-", "x", "y" }, "print(arg[0], arg[-1] ~= nil, ...)")
    assert.equal("-\ttrue\tx\ty\n", r.out)
  end)

  it("treats - after -- as a file name", function()
    local r = run({ "--", "-" }, { stdin = "print 'stdin ran'" })
    assert.is_nil(r.ok)
    assert.equal(1, r.code)
    assert.matches("cannot open %-", r.err)
  end)

  it("runs stdin when there is no script and stdin is not a terminal", function()
    local r = same_as_lua({}, "print(arg[0] ~= nil, #arg, ...)")
    assert.equal("true\t0\n", r.out)
    r = same_as_lua({ "--" }, "print(#arg, arg[1])")
    assert.equal("1\t--\n", r.out)
  end)
end)

describe("shmlua's options #lua54", function()
  it("runs -e and -l in their order, before the script", function()
    write("mod1.lua", "io.write('mod1 loaded; ') return { n = 42 }")
    local r = run({ "-e", "io.write('e1; ')", "-lmod1", "-e", "io.write(mod1.n, '; ')",
      "-e", "print(x)" })
    assert.equal("e1; mod1 loaded; 42; nil\n", r.out)
    assert.is_true(r.ok)
  end)

  it("loads -l g=mod into the global g", function()
    write("mod2.lua", "return { n = 7 }")
    local r = run({ "-l", "g=mod2", "-e", "print(g.n, mod2, package.loaded.mod2 == g)" },
      { env = "LUA_PATH='./?.lua' " })
    assert.equal("7\tnil\ttrue\n", r.out)
  end)

  it("reports a module that cannot be found, with status 1", function()
    local r = run({ "-l", "no_such_module_x", "-e", "print 'not reached'" })
    assert.equal("", r.out)
    assert.equal(1, r.code)
    assert.matches("module 'no_such_module_x' not found", r.err)
  end)

  it("-v prints the version and the Lua copyright and runs nothing else", function()
    local r = run({ "-v" })
    assert.matches("^shmlua %d+%.%d+%.%d+ with Lua 5%.4%.%d+  Copyright", r.out)
    assert.is_true(r.ok)
    r = run({ "-v", "-e", "print 'after'" })
    assert.matches("\nafter\n$", r.out)
  end)

  it("-W turns warnings on", function()
    assert.equal("", run({ "-e", "warn 'quiet'" }).err)
    assert.equal("Lua warning: loud\n", run({ "-W", "-e", "warn 'loud'" }).err)
  end)

  it("runs LUA_INIT_5_4 (or else LUA_INIT) first, as code or as @file", function()
    write("init.lua", "io.write('init file; ')")
    local env = "LUA_INIT='io.write(\"LUA_INIT; \")' "
    assert.equal("LUA_INIT; main\n", run({ "-e", "print 'main'" }, { env = env }).out)
    assert.equal("LUA_INIT_5_4; main\n", run({ "-e", "print 'main'" },
      { env = env .. "LUA_INIT_5_4='io.write(\"LUA_INIT_5_4; \")' " }).out)
    assert.equal("init file; main\n", run({ "-e", "print 'main'" },
      { env = "LUA_INIT=@init.lua " }).out)
  end)

  it("reports an error in LUA_INIT under that name and stops", function()
    local r = run({ "-e", "print 'main'" }, { env = "LUA_INIT='error(\"bad init\")' " })
    assert.equal("", r.out)
    assert.equal(1, r.code)
    assert.matches("LUA_INIT:1: bad init", r.err, 1, true)
  end)

  it("-E ignores LUA_INIT and LUA_PATH", function()
    local env = "LUA_INIT='print \"init ran\"' LUA_PATH='/nowhere/?.lua' "
    local r = run({ "-E", "-e", "print(package.path:find('/nowhere', 1, true))" },
      { env = env })
    assert.equal("nil\n", r.out)
    r = run({ "-e", "print(package.path:find('/nowhere', 1, true) ~= nil)" }, { env = env })
    assert.equal("init ran\ntrue\n", r.out)
  end)

  it("-i runs the script, then reads statements and prints expressions", function()
    write("defs.lua", "x = 20")
    local r = run({ "-i", "defs.lua" }, { stdin = "x + 1\nlocal t = {}\nfor i = 1, 2 do\nprint(i)\nend\n" })
    -- (readline, when built in, echoes the lines after the prompts)
    assert.matches("^shmlua [^\n]*\n> .*21\n.*1\n2\n> \n$", r.out)
    assert.is_true(r.ok)
  end)

  it("rejects unknown options and options missing their operand, with the usage", function()
    for _, args in ipairs({ { "-x" }, { "-vx" }, { "--x" }, { "-e" }, { "-l" },
      { "-e", "-v" }, { "-h" }, { "-v", "--help" }, { "-v", "--ls" } }) do
      local r = run(args)
      local lua = run(args, { prog = "lua5.4" })
      assert.equal(1, r.code)
      assert.equal(lua.code, r.code)
      assert.equal(lua.err:match("^lua5%.4(: [^\n]*)"), r.err:match("^[^:]*(: [^\n]*)"))
      assert.matches("usage: .* %[options%] %[script %[args%]%]", r.err)
      assert.equal("", r.out)
    end
  end)

  it("--help prints the usage, with the tools, on stdout", function()
    local r = run({ "--help" })
    assert.is_true(r.ok)
    assert.equal("", r.err)
    assert.matches("usage: .* %[options%] %[script %[args%]%]", r.out)
    assert.matches("%-%-ls", r.out)
    assert.matches("%-%-rm NAME", r.out)
    assert.matches("%-%-dump NAME", r.out)
    assert.matches("%-%-watch NAME", r.out)
    assert.matches("%-%-help", r.out)
  end)

  it("prints lua5.4's usage, then its tools, after a bad option", function()
    local r = run({ "-h" })
    local lua = run({ "-h" }, { prog = "lua5.4" })
    local usage = lua.err:gsub("^[^\n]*\n", ""):gsub("lua5%.4", "PROG")
    local mine = r.err:gsub("^[^\n]*\n", ""):gsub(H.shmlua:gsub("%p", "%%%0"), "PROG")
    assert.equal(usage, mine:sub(1, #usage))
  end)
end)

describe("shmlua's errors #lua54", function()
  it("go to stderr with the program name and a traceback; the status is 1", function()
    local script = write("fails.lua", "local function f() error('deep') end\nf()\n")
    local r = run({ script })
    assert.equal(1, r.code)
    assert.equal("", r.out)
    assert.matches(": " .. script .. ":1: deep\nstack traceback:\n", r.err, 1, true)
    assert.matches("in local 'f'", r.err, 1, true)
  end)

  it("show an error object's __tostring, or its type", function()
    local r = run({ "-e", "error(setmetatable({}, {__tostring = function() return 'custom' end}))" })
    assert.matches(": custom\n$", r.err)
    r = run({ "-e", "error({})" })
    assert.matches("%(error object is a table value%)", r.err)
  end)

  it("stop the run at the first failing -e, and a syntax error is reported too", function()
    local r = run({ "-e", "print 'one'", "-e", "error('two')", "-e", "print 'three'" })
    assert.equal("one\n", r.out)
    assert.equal(1, r.code)
    r = run({ "-e", "x = = 1" })
    assert.matches("%(command line%):1: unexpected symbol near '='", r.err)
    assert.equal(1, r.code)
  end)

  it("in a script read from stdin give status 1 too", function()
    local r = run({}, { stdin = "error('from stdin')" })
    assert.equal(1, r.code)
    assert.matches("stdin:1: from stdin", r.err, 1, true)
  end)

  it("for a missing script name the file", function()
    local r = run({ "no_such_script.lua" })
    assert.equal(1, r.code)
    assert.matches("cannot open no_such_script.lua", r.err, 1, true)
  end)

  it("pass os.exit's status through", function()
    assert.equal(7, run({ "-e", "os.exit(7)" }).code)
    assert.equal(1, run({ "-e", "os.exit(false)" }).code)
    assert.is_true(run({ "-e", "os.exit(true, true)" }).ok)
  end)
end)

describe("shmlua's module #lua54", function()
  it("is the global shm, preloaded, and what require 'shm' returns", function()
    local r = run({ "-e", "print(type(shm), require('shm') == shm, type(package.preload.shm),"
      .. " type(shm.create))" })
    assert.equal("table\ttrue\tfunction\tfunction\n", r.out)
  end)

  it("leaves the Lua API to C modules loaded by require (lfs)", function()
    local r = run({ "-e", "local lfs = require 'lfs'; print(lfs.attributes('.', 'mode'))" })
    assert.equal("directory\n", r.out, r.err)
  end)

  it("runs busted itself", function()
    local r = run({ "/usr/bin/busted", "--version" })
    assert.matches("^%d+%.%d+", r.out, nil, false)
    assert.is_true(r.ok, r.err)
  end)
end)

describe("shmlua's coroutine library #lua54", function()
  -- coroutine.resume and coroutine.wrap are the host's own (they tell the Ctrl-C handler
  -- which thread runs): everything a script sees must be what lua5.4 gives.
  it("answers exactly as lua5.4's: values, errors, positions, closing, nesting", function()
    local script = write("coroutines.lua", [==[
      local function show(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]):gsub("0x%x+", "ADDR") end
        print(table.concat(t, " | ", 1, t.n))
      end
      local co = coroutine.create(function(a, b)
        local c = coroutine.yield(a + b)
        error("boom " .. c)
      end)
      show(coroutine.resume(co, 1, 2))
      show(coroutine.resume(co, "x"))
      show(coroutine.resume(co))
      show(coroutine.status(co))
      show(pcall(coroutine.resume, nil))
      show(pcall(coroutine.resume, 42))
      show(coroutine.resume(coroutine.running()))
      show(pcall(coroutine.wrap, 1))
      local g = coroutine.wrap(function(...) local x = coroutine.yield(...) return x * 2 end)
      show(g(1, 2, 3)) show(g(21)) show(pcall(g))
      show(pcall(coroutine.wrap(function() error("in wrap") end)))
      show(pcall(coroutine.wrap(function() error({}) end)))
      show(pcall(coroutine.wrap(function() error("level 2", 2) end)))
      show(pcall(coroutine.wrap(function()
        local x <close> = setmetatable({}, {__close = function() print("closed") end})
        error("tbc")
      end)))
      show(pcall(coroutine.wrap(function()
        local x <close> = setmetatable({}, {__close = function() error("in close") end})
        error("tbc2")
      end)))
      local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
      show(gen(), gen(), gen())
      show(select('#', coroutine.resume(coroutine.create(function() end))))
      show(coroutine.isyieldable(), coroutine.running())
      local outer = coroutine.wrap(function()
        local inner = coroutine.wrap(function() coroutine.yield("in") error("deep") end)
        coroutine.yield(inner())
        return pcall(inner)
      end)
      show(outer()) show(outer())
      local many = {}
      for i = 1, 300 do many[i] = i end
      show(select('#', coroutine.resume(coroutine.create(function(...) return ... end),
        table.unpack(many))))
      show(pcall(function() local f = coroutine.wrap(function() end) f() f() end))
      show(coroutine.close(coroutine.create(print)))
      local depth = 0
      local function nest() depth = depth + 1 return coroutine.wrap(nest)() end
      local ok, err = pcall(nest)
      show(ok, err:match("C stack overflow"), depth)
      print(debug.traceback(coroutine.create(function() end)))
    ]==])
    local r = same_as_lua({ script })
    assert.equal("", r.err)
    assert.matches("boom x\n", r.out)
  end)
end)

describe("shmlua --ls and --rm #lua54", function()
  it("list a block with its size and mode, then remove it", function()
    local name = H.name("ls")
    finally(function() os.remove("/dev/shm/" .. name) end)
    local m = assert(shm.create(1234, name, { mode = tonumber("640", 8), keep = true }))
    local r = run({ "--ls" })
    assert.is_true(r.ok, r.err)
    assert.matches("^NAME +KIND +SIZE +STORED +MODE +UID +AGE +CREATOR +PIDS +STATE\n", r.out)
    local line = r.out:match("\n(" .. name:gsub("%p", "%%%0") .. " [^\n]*)")
    assert.is_not_nil(line, r.out)
    assert.matches(" block +1234 +4096 rw%-r%-%-%-%-%- ", line) -- reserved: a whole page
    assert.matches(" " .. H.sh("id -u"):match("%d+") .. " ", line)
    r = run({ "--rm", name })
    assert.is_true(r.ok, r.err)
    assert.is_false(H.exists(name))
    assert.is_nil(run({ "--ls" }).out:find(name, 1, true))
  end)

  it("--ls shows each block's kind, creator (and whether it runs) and a sync object's state",
    function()
      local mutex, queue = H.name("lsm"), H.name("lsq")
      finally(function() shm.remove(mutex, queue) end)
      local r = run({ "-e", ([[
        local m = assert(shm.mutex(%q, { keep = true })); m:lock()
        local q = assert(shm.queue { name = %q, keep = true }); q:push("x")
        os.exit(0)]]):format(mutex, queue) })
      assert.is_true(r.ok, r.err)
      local out = run({ "--ls" }).out
      -- The creator column: "<pid> gone", or "-" where /dev/shm keeps no extended attributes.
      local function columns(name)
        local row = out:match("\n(" .. name:gsub("%p", "%%%0") .. " [^\n]*)")
        local kind, creator, rest = row:match(
          "^%S+ +(%a+) +%d+ +%d+ rw%-%-%-%-%-%-%- +%d+ +%d+s +(%S+ ?g?o?n?e?) +%- +(.*)$")
        assert.is_true(creator == "-" or creator:match("^%d+ gone$") ~= nil, row)
        return kind, rest
      end
      local kind, state = columns(mutex)
      assert.equal("mutex", kind)
      assert.matches("^locked by %d+ %(died holding it%)$", state)
      assert.same({ "queue", "1 message" }, { columns(queue) })
    end)

  it("--rm removes several and fails (status 1) for a name that is not there", function()
    local a, b = H.name("rm"), H.name("rm")
    finally(function() os.remove("/dev/shm/" .. a) os.remove("/dev/shm/" .. b) end)
    assert(shm.create(8, a, { keep = true })):close()
    assert(shm.create(8, b, { keep = true })):close()
    local r = run({ "--rm", a, b })
    assert.is_true(r.ok, r.err)
    assert.is_false(H.exists(a))
    assert.is_false(H.exists(b))
    r = run({ "--rm", a })
    assert.equal(1, r.code)
    assert.matches("%-%-rm: .*" .. a:gsub("%p", "%%%0"), r.err)
  end)

  it("complain about wrong operands with the tool's usage", function()
    assert.matches("usage: .* %-%-rm NAME%.%.%.", run({ "--rm" }).err)
    assert.equal(1, run({ "--rm" }).code)
    assert.matches("usage: .* %-%-ls\n", run({ "--ls", "x" }).err)
    assert.matches("usage: .* %-%-dump NAME %[I %[J%]%]", run({ "--dump" }).err)
    assert.matches("I must be a number", run({ "--dump", "x", "one" }).err)
  end)
end)
