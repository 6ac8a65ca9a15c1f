-- Who unlinks: the creating process at its exit, whatever the way it ends; never attaching,
-- closing or garbage collection; never a process that only attached.
local H = require "helper"

-- Runs a lua5.4 script that creates a block named arg[1] and then ends as `ending` says.
local function creator(ending, opts)
  local name = H.name("own")
  local out, ok, how, code = H.lua(([[
    local shm = require "shm"
    local m = assert(shm.create(64, arg[1], %s))
    io.write("made ", m.name, "\n")
    io.stdout:flush()
    %s
  ]]):format(opts or "nil", ending), name)
  assert.matches("made " .. name, out, 1, true)
  return name, out, ok, how, code
end

describe("an owned block", function()
  it("is unlinked when its creator ends normally", function()
    local name, out, ok = creator("")
    assert.is_true(ok, out)
    assert.is_false(H.exists(name))
  end)

  it("is unlinked when its creator ends with an uncaught error", function()
    local name, out, ok, _, code = creator("error('boom')")
    assert.is_nil(ok)
    assert.equal(1, code)
    assert.matches("boom", out)
    assert.is_false(H.exists(name))
  end)

  for _, exit in ipairs({ "os.exit(3)", "os.exit(false)", "os.exit(0, true)", "os.exit(true, false)" }) do
    it("is unlinked when its creator calls " .. exit, function()
      local name, out = creator(exit)
      assert.is_false(H.exists(name), out)
    end)
  end

  it("is unlinked even if it was closed (or collected) before the end", function()
    local name = creator("m:close() m = nil collectgarbage()")
    assert.is_false(H.exists(name))
  end)

  it("may be unlinked early; the exit then has nothing left to do", function()
    local name, out, ok = creator("assert(m:unlink())")
    assert.is_true(ok, out)
    assert.is_false(H.exists(name))
  end)

  it("stays when created with keep = true", function()
    local name, out, ok = creator("", "{ keep = true }")
    assert.is_true(ok, out)
    assert.is_true(H.exists(name))
    os.remove("/dev/shm/" .. name)
  end)

  it("is never unlinked by a process that only attached (Python's gh-82300)", function()
    local shm = require "shm"
    local m = assert(shm.create(8))
    -- each ending and the status it must give: the attach must have worked for the check
    -- to mean anything
    local endings = { [""] = 0, ["error('x')"] = 1, ["os.exit(3)"] = 3, ["m:close()"] = 0 }
    for ending, status in pairs(endings) do
      local out, _, how, code = H.lua(([[
        local m = assert(require("shm").attach(arg[1]))
        print("attached " .. m.size)
        io.stdout:flush()
        %s
      ]]):format(ending), m.name)
      assert.matches("^attached 8\n", out, ending)
      assert.same({ "exit", status }, { how, code }, ending)
      assert.is_true(H.exists(m.name), ending)
    end
    m:unlink()
  end)

  it("stays after its creator is killed with SIGKILL: nothing can run then", function()
    -- Nothing in the process runs after SIGKILL: the block stays until someone removes it
    -- (`shmlua --rm`, or shm.remove). This pins the documented limit.
    local name, out = creator("os.execute('kill -9 ' .. io.open('/proc/self/stat'):read('*n'))")
    assert.is_true(H.exists(name), out)
    os.remove("/dev/shm/" .. name)
  end)

  it("is never unlinked by a forked child; the child's own blocks are the child's", function()
    local shm = require "shm"
    local m = assert(shm.create(64))
    for _, ending in ipairs({ "", "error('x')", "os.exit(2)" }) do
      m.buf:fill(0) -- the child writes its block's name here: a stale one must not pass
      local h = assert(shm.spawn(H.load(([[
        local shm, parent = ...
        local mine = assert(shm.create(8))
        parent.buf:write(1, mine.name .. "\0")
        parent:close()
        %s
      ]]):format(ending)), shm, m))
      assert.equal(ending == "", (h:wait()) == true, ending) -- it ran to its ending
      assert.is_true(H.exists(m.name), ending)
      local child_block = m.buf:sub(1):match("^[^%z]+")
      assert.matches("^lua_", child_block)
      assert.is_false(H.exists(child_block), ending)
    end
    assert.is_true(m:unlink())
  end)

  -- A makes a block, a list and every sync object; they are removed (shmlua --rm) and B
  -- makes new objects of the same names; then A ends. A's cleanup must leave B's objects:
  -- the names no longer refer to what A made.
  local MAKER = [[
    local shm = require "shm"
    local n, go = select("#", ...), select(-1, ...)
    local made = {
      assert(shm.create(64, arg[1])),
      assert(shm.list({ 1, "two" }, arg[2])),
      assert(shm.mutex(arg[3])),
      assert(shm.semaphore(0, arg[4])),
      assert(shm.barrier(2, arg[5])),
      assert(shm.event(arg[6])),
      assert(shm.queue { name = arg[7], messages = 2, bytes = 16 }),
    }
    made[8] = assert(shm.cond(made[3], arg[8]))
    assert(n == 9)
    print("made") io.stdout:flush()
    while not io.open(go) do os.execute("sleep 0.02") end
  ]]
  local endings = {
    { H.lua_exe, "ends normally", "", { true } },
    { H.lua_exe, "ends by an error", "error('boom')", { nil, "exit", 1 } },
    { H.lua_exe, "calls os.exit(3)", "os.exit(3)", { nil, "exit", 3 } },
    { H.shmlua, "is killed by SIGTERM (the host's signal handler)", "while true do end",
      { nil, "signal", 15 } },
  }
  for _, e in ipairs(endings) do
    local prog, how, ending, status = e[1], e[2], e[3], e[4]
    it("leaves what another process made under a name it used, when it " .. how, function()
      local shm = require "shm"
      local names = {}
      for i = 1, 8 do names[i] = H.name("reuse") end
      local go, out = os.tmpname(), os.tmpname()
      os.remove(go)
      local script = H.tmpfile(MAKER .. ending)
      local args = {}
      for i, v in ipairs(names) do args[i] = H.quote(v) end
      local a = assert(shm.exec("sh", "-c", ("%sexec %s %s %s %s >%s 2>&1"):format(H.env, prog,
        script, table.concat(args, " "), go, out)))
      local function output()
        local f = assert(io.open(out))
        local s = f:read("*a")
        f:close()
        return s
      end
      local t0 = os.time()
      while not output():find("made") and os.time() - t0 < 20 do os.execute("sleep 0.02") end
      assert.matches("made", output())
      local _, removed = H.sh(H.shmlua .. " --rm " .. table.concat(args, " "))
      assert.is_true(removed)
      for _, name in ipairs(names) do
        assert.is_false(H.exists(name))
        assert(shm.create(8, name, { keep = true })):close()
      end
      if prog == H.shmlua then
        a:kill("TERM")
      else
        assert(io.open(go, "w")):close()
      end
      local ended = { a:wait(20) }
      os.remove(go)
      os.remove(script)
      local survivors = 0
      for _, name in ipairs(names) do
        if H.exists(name) then survivors = survivors + 1 end
        shm.remove(name)
      end
      os.remove(out)
      assert.same(status, ended) -- it got to its ending
      assert.equal(#names, survivors)
    end)
  end
end)

