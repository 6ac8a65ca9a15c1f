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
end)
