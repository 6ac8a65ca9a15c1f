-- Error messages say where they come from and what went wrong, as Lua's own do: the function
-- named in "bad argument #n to 'f'" (also when Lua cannot name it: a method called through
-- pcall, a constructor that is a callable table), the option rather than an argument number,
-- the type of a value that was refused and what to do instead.
local H = require "helper"
local shm = require "shm"

local function block(size)
  local m = assert(shm.create(size))
  m:unlink()
  return m
end

-- The message of the error f raises, without the "file:line: " position.
local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok)
  return (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

describe("errors", function()
  -- #notjit: LuaJIT's debug information names these calls otherwise (a callable table's
  -- __call, a method's self): left out there, see spec/run.
  it("name the constructor that is a callable table (shm.semaphore, shm.mutex, ...) #notjit", function()
    assert.equal("bad argument #1 to 'semaphore' (value must be 0..2147483647)",
      message(function() return shm.semaphore(-1) end))
    assert.equal("bad argument #1 to 'barrier' (parties must be 1..2147483647)",
      message(function() return shm.barrier(0) end))
    assert.equal("bad argument #1 to 'mutex' (string expected, got number)",
      message(function() return shm.mutex(1) end))
    assert.equal("bad argument #2 to 'event' (table expected, got number)",
      message(function() return shm.event(nil, 1) end))
    -- shm.list makes its block with shm.create and attaches with shm.attach: still its name.
    assert.equal("bad argument #3 to 'list' (unknown option 'bogus')",
      message(function() return shm.list({}, nil, { bogus = 1 }) end))
    assert.equal("bad argument #2 to 'attach' (option 'readonly' must be a boolean)",
      message(function() return shm.list.attach("x", { readonly = 1 }) end))
  end)

  it("name the option of a constructor that takes its name among its options #notjit", function()
    assert.equal("bad argument #1 to 'queue' (option 'name' must be a string, got number)",
      message(function() return shm.queue { name = 1 } end))
    assert.matches("^bad argument #1 to 'queue' %(option 'name': .*'/'",
      message(function() return shm.queue { name = "a/b" } end))
  end)

  it("name a method or a constructor called through pcall, where Lua alone says '?' #notjit",
    function()
    local m = block(8)
    assert.matches("^bad argument #2 to 'array' %(unknown dtype 'x'", message(m.array, m, "x"))
    assert.matches("^bad argument #1 to 'array' %(unknown dtype 'x'",
      message(function() return m:array("x") end))
    local q = assert(shm.queue())
    q:unlink()
    assert.equal("bad argument #1 to 'shm.queue.attach' (string expected, got table)",
      message(shm.queue.attach, {}))
    assert.equal("bad argument #1 to 'shm.mutex' (string expected, got number)",
      message(shm.mutex, 1))
    m:close()
    q:close()
  end)

  -- The same messages on every Lua: lauxlib's checks (a wrong self, a string where an
  -- integer goes) raise through the module's naming too, and module functions are named as
  -- 5.4's lauxlib names them, also on 5.1 and LuaJIT, whose lauxlib says '?'.
  it("name what pcall calls the same on every Lua: methods with a bad self, module functions",
    function()
    local m = block(8)
    local mx = assert(shm.mutex())
    mx:unlink()
    local a = m:array("int32")
    assert.equal("bad argument #1 to 'lock' (shm.mutex expected, got number)",
      message(mx.lock, 1))
    assert.equal("bad argument #1 to 'unlock' (shm.mutex expected, got no value)",
      message(mx.unlock))
    assert.equal("bad argument #1 to 'close' (shm.block expected, got no value)",
      message(m.close))
    assert.equal("bad argument #1 to 'unlink' (shm.block expected, got number)",
      message(m.unlink, 1))
    assert.equal("bad argument #1 to 'write' (shm.buf expected, got number)",
      message(m.buf.write, 1))
    assert.equal("bad argument #2 to 'sub' (integer expected, got string)",
      message(m.buf.sub, m.buf, "x"))
    assert.equal("bad argument #2 to 'sub' (number has no integer representation)",
      message(m.buf.sub, m.buf, 1.5))
    assert.equal("bad argument #1 to 'sum' (shm.array expected, got number)",
      message(a.sum, 1))
    assert.equal("bad argument #1 to 'shm.create' (integer expected, got string)",
      message(shm.create, "x"))
    assert.equal("bad argument #1 to 'shm.attach' (string expected, got table)",
      message(shm.attach, {}))
    mx:close()
    m:close()
  end)

  it("say that buf[i] = 'A' got a string, and that buf:write copies strings", function()
    local m = block(4)
    assert.equal("byte value must be an integer from 0 to 255, got a string "
      .. "(buf:write(i, s) copies a string in)", message(function() m.buf[1] = "A" end))
    assert.equal("byte value must be an integer from 0 to 255, got 256",
      message(function() m.buf[1] = 256 end))
    assert.equal("byte value must be an integer from 0 to 255, got boolean",
      message(function() m.buf:fill(true) end))
    m:close()
  end)

  it("say which userdata a child returned; shmlua objects travel by name", function()
    local m = block(8)
    local q = assert(shm.queue())
    q:unlink()
    -- The start of the error message of a child that returned what fn returns.
    local function refused(fn)
      local ok, kind, msg = shm.spawn(fn):wait()
      assert.is_nil(ok)
      assert.equal("error", kind)
      return msg:match("^[^\n]*")
    end
    local named = assert(shm.create(8)) -- by name: not unlinked until the end
    local ok, got = shm.spawn(function() return named end):wait()
    assert.is_true(ok)
    assert.equal(named.name, got.name)
    named:unlink()
    named:close()
    assert.equal("value #2 at [1]: a userdata (shm.buf) cannot be sent to another process",
      refused(function() return 1, { m.buf } end))
    assert.equal("value #1: " .. H.FILE .. " cannot be sent to another process",
      refused(function() return io.stdout end))
    m:close()
    q:close()
  end)
end)
