-- Other processes see the same bytes: plain lua5.4 children, and Python's
-- multiprocessing.shared_memory in both directions (same names, same bytes).
local H = require "helper"
local shm = require "shm"

describe("a block shared with another process", function()
  it("is attached by name by a lua5.4 child, which writes what the parent reads", function()
    local m = assert(shm.create(256))
    m.buf:write(1, "from parent")
    local out, ok = H.lua([[
      local shm = require "shm"
      local m = assert(shm.attach(arg[1]))
      io.write(m.buf:sub(1, 11))
      m.buf:write(101, "from child")
      m:close()
    ]], m.name)
    assert.is_true(ok, out)
    assert.equal("from parent", out)
    assert.equal("from child", m.buf:sub(101, 110))
    assert.is_true(H.exists(m.name)) -- the child attached and exited: nothing unlinked
    m:unlink()
  end)

  it("works with `lua -l shm`", function()
    local m = assert(shm.create(16))
    -- lua5.1's and luajit's -l do not set the global: require gives the loaded module
    local out, ok = H.sh(H.env .. H.lua_exe .. " -l shm -e " ..
      H.quote(("shm = shm or require 'shm' shm.attach(%q).buf[16] = 42"):format(m.name)) .. " 2>&1")
    assert.is_true(ok, out)
    assert.equal(42, m.buf[16])
    m:unlink()
  end)
end)

describe("interoperability with Python's multiprocessing.shared_memory", function()
  it("attaches a block Python made, bytes checked both ways", function()
    local out, ok = H.python([[
import subprocess, sys
from multiprocessing import shared_memory
sm = shared_memory.SharedMemory(create=True, size=1000)
try:
    sm.buf[:5] = b"hello"
    sm.buf[999] = 7
    lua = subprocess.run(
        ["sh", "-c", sys.argv[1] + " -e \"" +
         "local m = assert(require('shm').attach('" + sm.name + "')) " +
         "assert(m.size == 1000, m.size) io.write(m.buf:sub(1, 5), m.buf[-1]) " +
         "m.buf:write(6, ' world') m:close()\""],
        capture_output=True, text=True)
    print(lua.stdout, lua.returncode, lua.stderr.strip())
    print(bytes(sm.buf[:11]).decode())
finally:
    sm.close()
    sm.unlink()
]], H.env .. H.lua_exe)
    assert.is_true(ok, out)
    assert.equal("hello7 0 \nhello world\n", out)
  end)

  it("lets Python attach a block shmlua made, with either form of the name", function()
    local m = assert(shm.create(4096))
    m.buf:write(1, "lua wrote this")
    m.buf[4096] = 200
    local out, ok = H.python([[
import sys
from multiprocessing import shared_memory, resource_tracker
for name in (sys.argv[1], "/" + sys.argv[1]):
    sm = shared_memory.SharedMemory(name=name)
    # CPython 3.11 registers attached blocks with its tracker and unlinks them at exit
    # (gh-82300): tell it this block is not Python's to remove.
    resource_tracker.unregister(sm._name, "shared_memory")
    print(sm.name.lstrip("/"), sm.size, bytes(sm.buf[:14]).decode(), sm.buf[4095])
    sm.buf[14:20] = b"+py ok"
    sm.close()
]], m.name)
    assert.is_true(ok, out)
    local line = ("%s 4096 lua wrote this 200\n"):format(m.name)
    assert.equal(line .. line, out)
    assert.equal("lua wrote this+py ok", m.buf:sub(1, 20))
    assert.is_true(H.exists(m.name))
    m:unlink()
  end)

  it("reports the same errors as Python for a missing name and an existing one", function()
    local m = assert(shm.create(8))
    local out = H.python([[
import sys, errno
from multiprocessing import shared_memory
for kw in ({"name": sys.argv[1] + "_missing"}, {"name": sys.argv[1], "create": True, "size": 8}):
    try:
        shared_memory.SharedMemory(**kw)
    except OSError as e:
        print(e.errno)
]], m.name)
    local _, _, missing = shm.attach(m.name .. "_missing")
    local _, _, exists = shm.create(8, m.name)
    assert.equal(("%d\n%d\n"):format(missing, exists), out)
    m:unlink()
  end)
end)
