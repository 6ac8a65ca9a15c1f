-- Hot paths recognise their userdata by a tag (src/lua/binding.h: shmlua_newtagged), not by
-- the metatable: another userdata given the class's metatable with debug.setmetatable (which
-- fools luaL_checkudata) must be refused with an error, never read as one of ours.
require "helper"
local shm = require "shm"

-- Calls each use(impostor) with a file handle (a full userdata of 16 bytes, as small as a
-- buf) wearing mt; returns the errors.
local function impostor_errors(mt, uses)
  local f = io.tmpfile()
  local saved = debug.getmetatable(f)
  debug.setmetatable(f, mt)
  local errors = {}
  for i, use in ipairs(uses) do
    local ok, err = pcall(use, f)
    errors[i] = ok and "no error" or tostring(err)
  end
  debug.setmetatable(f, saved)
  f:close()
  return errors
end

describe("tagged userdata", function()
  it("typed arrays refuse an impostor in element access and methods", function()
    local m = assert(shm.create(64))
    local a = m:array("int64")
    local errors = impostor_errors(debug.getmetatable(a), {
      function(x) return x[1] end,
      function(x) x[1] = 1 end,
      function(x) return #x end,
      function(x) return a.add(x, 1, 1) end,
      function(x) return a.copy(a, x) end,
    })
    for _, err in ipairs(errors) do assert.matches("shm.array expected", err) end
  end)

  it("sync objects refuse an impostor, and one kind for another", function()
    local mutex = assert(shm.mutex())
    local sem = assert(shm.semaphore(1))
    local errors = impostor_errors(debug.getregistry()["shm.mutex"], {
      function(x) return x:lock() end,
      function(x) return x.name end,
      function(x) return tostring(x) end,
      function(x) return mutex.unlock(x) end,
    })
    for _, err in ipairs(errors) do assert.matches("expected", err) end
    -- Each object has a metatable of its own, whose fields are that object's: an impostor
    -- wearing it reads them, never its own bytes as a mutex's; methods still refuse it.
    errors = impostor_errors(debug.getmetatable(mutex), {
      function(x) return x:lock() end,
      function(x) return tostring(x) end,
      function(x) return mutex.unlock(x) end,
      function(x) assert(x.name == mutex.name); error("expected: the lender's name") end,
    })
    for _, err in ipairs(errors) do assert.matches("expected", err) end
    assert.error_matches(function() mutex.lock(sem) end, "shm.mutex expected")
    assert.error_matches(function() sem.acquire(mutex) end, "shm.semaphore expected")
    assert.is_true(sem:acquire(0)) -- the real objects still work
    assert.is_true(mutex:lock(0))
    mutex:unlock()
  end)

  it("mutex guards refuse an impostor", function()
    local mutex = assert(shm.mutex())
    assert.is_true(mutex:unlink())
    local g = mutex:guard()
    local mt = debug.getmetatable(g)
    local errors = impostor_errors(mt, {
      function(x) return x:release() end,
      function(x) return tostring(x) end,
      function(x) return mt.__close(x) end,
      function(x) return mt.__gc(x) end,
    })
    for _, err in ipairs(errors) do assert.matches("shm.guard expected", err) end
    assert.equal("shm.guard (locked)", tostring(g)) -- the real guard still works
    g:release()
    assert.is_true(mutex:trylock())
    mutex:unlock()
    mutex:close()
  end)

  it("lists refuse an impostor in element access and methods", function()
    local l = assert(shm.list({ 1, "two" }))
    local errors = impostor_errors(debug.getmetatable(l), {
      function(x) return x[1] end,
      function(x) x[1] = 1 end,
      function(x) return #x end,
      function(x) return x.name end,
      function(x) return x:count(1) end,
      function(x) return l.unlink(x) end,
    })
    for _, err in ipairs(errors) do assert.matches("shm.list expected", err) end
    assert.equal("two", l[2]) -- the real list still works
    assert.is_true(l:unlink())
    l:close()
  end)

  it("blocks refuse an impostor in fields, methods and metamethods", function()
    local m = assert(shm.create(64))
    local errors = impostor_errors(debug.getmetatable(m), {
      function(x) return x.size end,
      function(x) return x.buf end,
      function(x) return x:close() end,
      function(x) return m.unlink(x) end,
      function(x) return tostring(x) end,
      function(x) return x:array("int64") end,
    })
    for _, err in ipairs(errors) do assert.matches("shm.block expected", err) end
    m.buf[1] = 5 -- the real block still works
    assert.equal(5, m.buf[1])
  end)

  it("still recognises its objects in a forked child", function()
    local m = assert(shm.create(16))
    local a, b = m:array("int64"), m.buf
    local h = shm.spawn(function()
      a[1] = 7
      b[9] = 8
      return a[1] + b[9]
    end)
    local ok, v = h:wait(10)
    assert.is_true(ok)
    assert.equal(15, v)
    assert.equal(7, a[1])
  end)
end)
