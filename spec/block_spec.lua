-- Blocks: create, attach, close, unlink, names, errors, ownership (issue 2).
local H = require "helper"
local shm = require "shm"

local function mode_of(name)
  local out = H.sh("stat -c %a /dev/shm/" .. name)
  return tonumber(out, 8)
end

describe("shm.create", function()
  it("makes a block of the asked size that is a real /dev/shm file", function()
    local m = assert(shm.create(100))
    assert.equal(100, m.size)
    assert.is_true(H.exists(m.name))
    assert.equal("100", H.sh("stat -c %s /dev/shm/" .. m.name):match("%d+"))
    assert.is_true(m:unlink())
  end)

  it("generates short random names that do not repeat", function()
    local seen = {}
    for _ = 1, 20 do
      local m = assert(shm.create(1))
      assert.is_nil(seen[m.name])
      seen[m.name] = true
      assert.is_true(#m.name + 1 <= 14, m.name)
      assert.is_nil(m.name:find("/"))
      m:unlink()
      m:close()
    end
  end)

  it("uses a given name, with or without the leading slash", function()
    local name = H.name("given")
    local m = assert(shm.create(10, "/" .. name))
    assert.equal(name, m.name)
    assert.is_true(H.exists(name))
    local again, msg, code = shm.create(10, name)
    assert.is_nil(again)
    assert.equal(name .. ": File exists", msg)
    assert.equal(17, code)
    m:unlink()
  end)

  it("applies the default mode 0600 and a given mode exactly, whatever the umask", function()
    local a = assert(shm.create(8))
    assert.equal(tonumber("600", 8), mode_of(a.name))
    local b = assert(shm.create(8, nil, { mode = tonumber("666", 8) }))
    assert.equal(tonumber("666", 8), mode_of(b.name)) -- the umask (022 here) would make 644
    local c = assert(shm.create(8, nil, { mode = tonumber("640", 8) }))
    assert.equal(tonumber("640", 8), mode_of(c.name))
    a:unlink(); b:unlink(); c:unlink()
  end)

  it("reserves the storage up front (st_blocks covers the size)", function()
    local m = assert(shm.create(1048576))
    local blocks = tonumber((H.sh("stat -c %b /dev/shm/" .. m.name)))
    assert.is_true(blocks * 512 >= 1048576)
    m:unlink()
  end)

  it("starts zero-filled", function()
    local m = assert(shm.create(4096))
    assert.equal(string.rep("\0", 4096), m.buf:sub(1))
    m:unlink()
  end)

  it("raises on wrong arguments before any system call", function()
    local before = H.dev_shm()
    for _, args in ipairs({
      { 0 }, { -1 }, { 1.5 }, { "8" }, {}, { nil }, { true }, { 0 / 0 }, { math.huge },
      { 8, "" }, { 8, "/" }, { 8, "a/b" }, { 8, "a\0b" }, { 8, ("x"):rep(256) }, { 8, 42 },
      { 8, "." }, { 8, ".." }, { 8, "//x" }, { 8, nil, { mode = -1 } },
      { 8, nil, { mode = 2 ^ 20 } }, { 8, nil, { mode = "600" } }, { 8, nil, { keep = 1 } },
      { 8, nil, { typo = true } }, { 8, nil, 5 },
    }) do
      local ok, err = pcall(shm.create, table.unpack(args, 1, 3))
      assert.is_false(ok)
      assert.matches("bad argument", err)
    end
    assert.error_matches(function() shm.create(8, nil, { mode = 2 ^ 20 }) end,
      "bad argument #3 .*mode must be permission bits %(0..0x0fff%)")
    assert.same(before, H.dev_shm())
  end)

  -- Lua's rule (luaL_checkinteger, string.sub): a float with an exact integer value is that
  -- integer; 1.5 is refused with Lua's own message.
  it("takes a float with an integer value wherever an integer is needed, as Lua does", function()
    local m = assert(shm.create(2 ^ 20, nil, { mode = 384.0 }))
    m:unlink()
    assert.equal(1048576, m.size)
    m.buf:write(1.0, "hello")
    assert.equal("el", m.buf:sub(2.0, 3.0))
    assert.equal(101, m.buf:byte(2.0))
    local a = m:array("int32", 1.0, 2.0)
    assert.equal(2, #a)
    a[1.0] = 7.0
    assert.equal(7, a[1])
    for _, call in ipairs({
      function() shm.create(1.5) end,
      function() m.buf:sub(1.5) end,
      function() m.buf:write(1.5, "x") end,
      function() m:array("int32", 1.5) end,
    }) do
      assert.error_matches(call, "number has no integer representation")
    end
    m:close()
  end)

  it("accepts the longest name the system allows", function()
    local name = H.name("long") .. "_"
    name = name .. ("x"):rep(255 - #name)
    local m = assert(shm.create(1, name))
    assert.equal(255, #m.name)
    m:unlink()
  end)

  it("reports a huge size as an error of the system, and leaves nothing", function()
    local before = H.dev_shm()
    local m, msg, code = shm.create(H.maxinteger)
    assert.is_nil(m)
    assert.is_number(code)
    assert.matches("^lua_%x+: ", msg)
    assert.same(before, H.dev_shm())
  end)
end)

describe("shm.attach", function()
  it("sees the same bytes and takes the real size", function()
    local m = assert(shm.create(5000))
    m.buf:write(1, "shared")
    local a = assert(shm.attach(m.name))
    assert.equal(5000, a.size)
    assert.equal("shared", a.buf:sub(1, 6))
    a.buf[1] = string.byte("S")
    assert.equal("Shared", m.buf:sub(1, 6))
    m:unlink()
  end)

  it("returns nil, message, errno for a missing block", function()
    local name = H.name("missing")
    local m, msg, code = shm.attach(name)
    assert.is_nil(m)
    assert.equal(name .. ": No such file or directory", msg)
    assert.equal(2, code)
  end)

  it("maps read-only on request: reads work, every write raises", function()
    local m = assert(shm.create(16))
    m.buf[1] = 7
    local r = assert(shm.attach(m.name, { readonly = true }))
    assert.is_true(r.readonly)
    assert.equal(7, r.buf[1])
    assert.error_matches(function() r.buf[1] = 1 end, "read%-only")
    assert.error_matches(function() r.buf:write(1, "x") end, "read%-only")
    assert.error_matches(function() r.buf:fill(0) end, "read%-only")
    assert.equal(7, r.buf[1])
    m:unlink()
  end)

  it("refuses an empty object without unlinking it", function()
    local name = H.name("empty")
    assert(io.open("/dev/shm/" .. name, "w")):close()
    local m, msg, code = shm.attach(name)
    assert.is_nil(m)
    assert.matches("empty", msg)
    assert.equal(22, code)
    assert.is_true(H.exists(name))
    os.remove("/dev/shm/" .. name)
  end)

  it("raises on bad arguments", function()
    for _, args in ipairs({ {}, { 1 }, { "" }, { "a/b" }, { "x", { readonly = "yes" } },
      { "x", { mode = 1 } }, { "x", 3 } }) do
      assert.is_false((pcall(shm.attach, table.unpack(args, 1, 2))))
    end
  end)
end)

describe("a block", function()
  it("closes idempotently, keeps name and size, never unlinks", function()
    local m = assert(shm.create(64))
    local name = m.name
    assert.is_true(m:close())
    assert.is_true(m:close())
    assert.is_true(m.closed)
    assert.equal(name, m.name)
    assert.equal(64, m.size)
    assert.is_true(H.exists(name))
    assert.equal("shm.block: " .. name .. " (closed)", tostring(m))
    assert.is_true(m:unlink())
  end)

  it("stays usable after unlink until closed; a second unlink is ENOENT", function()
    local m = assert(shm.create(64))
    assert.is_true(m:unlink())
    assert.is_false(H.exists(m.name))
    m.buf[64] = 99
    assert.equal(99, m.buf[-1])
    local ok, msg, code = m:unlink()
    assert.is_nil(ok)
    assert.equal(m.name .. ": No such file or directory", msg)
    assert.equal(2, code)
  end)

  it("shows name and size in tostring", function()
    local m = assert(shm.create(64))
    assert.equal("shm.block: " .. m.name .. " (64 bytes)", tostring(m))
    m:unlink()
  end)

  it("is closed by <close> (5.4), close() and by the garbage collector, never unlinked", function()
    -- this process's mappings of the block's object
    local function mappings(name)
      local n = 0
      for line in io.lines("/proc/self/maps") do
        if line:find("/dev/shm/" .. name, 1, true) then n = n + 1 end
      end
      return n
    end
    local name, outer
    if H.lua_version == "5.4" then
      name, outer = H.load([[
        local shm, mappings = ...
        local m <close> = assert(shm.create(64))
        assert(mappings(m.name) == 1)
        return m.name, m
      ]])(shm, mappings)
    else
      outer = assert(shm.create(64))
      name = outer.name
      assert.equal(1, mappings(name))
      outer:close()
    end
    assert.is_true(outer.closed)
    assert.equal(0, mappings(name))
    assert.is_true(H.exists(name))
    local buf
    do
      local m = assert(shm.attach(name))
      buf = m.buf
    end
    collectgarbage()
    collectgarbage()
    assert.equal(0, buf[1]) -- the buf keeps its block alive
    assert.equal(1, mappings(name))
    buf = nil
    collectgarbage()
    collectgarbage()
    assert.equal(0, mappings(name)) -- the collector closed it
    assert.is_true(H.exists(name))
    assert.is_true(shm.attach(name):unlink())
  end)

  it("raises clearly when methods get something else", function()
    local m = assert(shm.create(8))
    assert.error_matches(function() m.close(io.stdout) end, "shm.block expected")
    assert.error_matches(function() m.unlink({}) end, "shm.block expected")
    assert.is_nil(m.nothing)
    assert.is_nil(m[1])
    -- only a string key names a field: a number is not turned into "1", nor a float refused
    assert.is_nil(m[1.5])
    assert.is_nil(m[0 / 0])
    assert.is_nil(m[true])
    assert.is_nil(m[m])
    assert.is_nil(m.__methods)
    assert.equal(8, m.size)
    m:unlink()
  end)
end)
