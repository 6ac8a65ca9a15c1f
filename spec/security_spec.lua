-- Security (issue 7): exact modes whatever the umask, another user kept out of blocks it has
-- no permission for, read-only views that no write path gets through, and names that cannot
-- reach outside the shared-memory namespace.
local H = require "helper"
local shm = require "shm"

local function mode_of(name)
  return tonumber(H.sh("stat -c %a /dev/shm/" .. H.quote(name)), 8)
end

-- Runs Lua source in lua5.4 through a shell prefix (a umask, another user); output, status.
local function child(prefix, env, source, ...)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(source)
  f:close()
  os.execute("chmod 644 " .. path)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = H.quote(a) end
  local out, ok, how, code = H.sh(("%s %s" .. H.lua_exe .. " %s %s 2>&1"):format(prefix, env, path,
    table.concat(args, " ")))
  os.remove(path)
  return out, ok, how, code
end

describe("modes", function()
  it("are exactly the requested ones (default 0600) whatever the umask", function()
    local kinds = { "barrier", "block", "event", "list", "mutex", "queue", "semaphore" }
    -- the same checks in children under three umasks
    for _, umask in ipairs { "000", "022", "077" } do
      local out, ok = child("umask " .. umask .. " &&", H.env, [[
        local shm = require "shm"
        local kinds, umask = {}, ...
        for kind in (select(2, ...)):gmatch("%S+") do kinds[#kinds + 1] = kind end
        local makers = { -- each kind with a name and a mode
          block = function(name, mode) return shm.create(64, name, { mode = mode }) end,
          list = function(name, mode) return shm.list({ 1, "x" }, name, { mode = mode }) end,
          mutex = function(name, mode) return shm.mutex(name, { mode = mode }) end,
          semaphore = function(name, mode) return shm.semaphore(1, name, { mode = mode }) end,
          barrier = function(name, mode) return shm.barrier(2, name, { mode = mode }) end,
          event = function(name, mode) return shm.event(name, { mode = mode }) end,
          queue = function(name, mode) return shm.queue { name = name, mode = mode } end,
        }
        for _, kind in ipairs(kinds) do
          for _, mode in ipairs { false, 384, 420, 438, 416, 256, 0 } do -- 0600 0644 0666 0640 0400 0
            local name = ("spec_mode_%s_%s_%d"):format(kind, umask, mode or -1)
            local o = assert(makers[kind](name, mode or nil))
            local p = io.popen("stat -c %a /dev/shm/" .. name)
            local got = tonumber(p:read("*a"), 8)
            p:close()
            o:unlink()
            print(kind, umask, mode or "default", got == (mode or 384) and "ok" or
              ("got %o"):format(got))
          end
        end
      ]], umask, table.concat(kinds, " "))
      assert.is_true(ok, out)
      assert.is_nil(out:match("got"), out)
      assert.equal(#kinds * 7, select(2, out:gsub("ok\n", "")), out)
    end
  end)

  it("apply to a cond too", function()
    local m = assert(shm.mutex())
    local c = assert(shm.cond(m, nil, { mode = tonumber("640", 8) }))
    assert.equal(tonumber("640", 8), mode_of(c.name))
    c:unlink(); m:unlink()
  end)
end)

describe("another user", function()
  local setpriv = H.sh("command -v setpriv"):match("%S+")
  local other, env, dir
  if setpriv and H.sh("id -u"):match("^0\n") then
    -- nobody must find lua5.4 and a module it may read: a copy of shm.so in a folder for all
    dir = H.sh("mktemp -d"):match("%S+")
    os.execute(("cp %s/shm.so %s/ && chmod 755 %s && chmod 644 %s/shm.so"):format(
      H.quote(H.build), dir, dir, dir))
    other = setpriv .. " --reuid=nobody --regid=nogroup --clear-groups"
    env = ("env LUA_CPATH='%s/?.so' "):format(dir)
  end

  teardown(function()
    if dir then os.execute("rm -rf " .. H.quote(dir)) end
  end)

  local function as_nobody(source, ...)
    if not other then
      pending("needs root and setpriv to run a child as nobody")
      return nil
    end
    local out, ok = child(other, env, "local shm = require 'shm'\n" .. source, ...)
    assert.is_true(ok, out)
    return out
  end

  it("is really another user", function()
    local out = as_nobody [[print(io.popen("id -un"):read("*l"))]]
    if out then assert.equal("nobody\n", out) end
  end)

  it("cannot attach a 0600 block, read-write or read-only, nor remove it", function()
    local m = assert(shm.create(64))
    local out = as_nobody([[
      local name = ...
      for _, opts in ipairs { {}, { readonly = true } } do
        local b, msg, code = shm.attach(name, opts)
        assert(b == nil and code == 13 and msg == name .. ": Permission denied", msg)
      end
      local ok, msg, code = shm.remove(name)
      -- /dev/shm is sticky: only the owner removes (EPERM, which glibc's shm_unlink reports
      -- as EACCES, as open would)
      assert(not ok and code == 13, msg)
      print("kept out")
    ]], m.name)
    if out then assert.equal("kept out\n", out) end
    assert.is_true(H.exists(m.name))
    m:unlink()
  end)

  it("can read a 0644 block only through a read-only attach, and write to none of it", function()
    local m = assert(shm.create(64, nil, { mode = tonumber("644", 8) }))
    m.buf:write(1, "secret")
    local out = as_nobody([[
      local name = ...
      local b, msg, code = shm.attach(name)
      assert(b == nil and code == 13, msg)
      local r = assert(shm.attach(name, { readonly = true }))
      assert(r.readonly)
      print(r.buf:sub(1, 6))
      local ok, err = pcall(function() r.buf[1] = 0 end)
      assert(not ok and err:match("read%-only"), err)
      -- and the kernel agrees: the file itself cannot be opened for writing or truncated
      assert(io.open("/dev/shm/" .. name, "r+") == nil)
      local t = os.execute("truncate -s 0 /dev/shm/" .. name .. " 2>/dev/null")
      assert(t ~= true and t ~= 0, "nobody truncated the block") -- 5.1: the status
      print("read only")
    ]], m.name)
    if out then assert.equal("secret\nread only\n", out) end
    assert.equal("secret", m.buf:sub(1, 6))
    assert.equal(64, m.size)
    m:unlink()
  end)

  it("can use a 0666 block (so the refusals above are about permissions)", function()
    local m = assert(shm.create(64, nil, { mode = tonumber("666", 8) }))
    local out = as_nobody([[
      local b = assert(shm.attach(...))
      b.buf:write(1, "from nobody")
      print("wrote")
    ]], m.name)
    if out then
      assert.equal("wrote\n", out)
      assert.equal("from nobody", m.buf:sub(1, 11))
    end
    m:unlink()
  end)

  it("cannot attach a 0600 mutex, queue or list", function()
    local mu = assert(shm.mutex())
    local q = assert(shm.queue())
    local l = assert(shm.list({ 1 }))
    local out = as_nobody([[
      local m, q, l = ...
      local function refused(o, msg, code) assert(o == nil and code == 13, msg) end
      refused(shm.mutex.attach(m))
      refused(shm.queue.attach(q))
      refused(shm.list.attach(l))
      print("kept out")
    ]], mu.name, q.name, l.name)
    if out then assert.equal("kept out\n", out) end
    mu:unlink(); q:unlink(); l:unlink()
  end)
end)

describe("read-only views", function()
  -- In a child (a write through PROT_READ would be a signal, not an error): every method and
  -- __newindex of buf, typed arrays and lists is called on a read-only view and on a read-write
  -- view of the same bytes. Whatever changes the bytes through the read-write view must raise
  -- "read-only" through the read-only one, and leave the bytes as they were.
  it("reject every write path: buf, arrays, atomics, pack, lists", function()
    local out, ok = child("", H.env, [[
      local shm = require "shm"
      local args = {
        write = { 1, "abc" }, fill = { 7 }, pack = { 1, "i4", 5 }, sub = { 1, 7 },
        byte = { 1 }, unpack = { "i4" }, hexdump = {}, set = { { 1, 2 } }, totable = {},
        store = { 1, 7 }, add = { 1, 7 }, band = { 1, 0 }, bor = { 1, 7 },
        bxor = { 1, 7 }, exchange = { 1, 7 }, cas = { 1, 0, 7 }, load = { 1 },
        wait = { 1, 1, 0 }, notify = { 1 }, count = { 1 }, index = { 1 },
        __newindex = { 1, 9 }, __index = { 1 }, __len = {}, __tostring = {},
      }
      local skip = { close = true, unlink = true, __gc = true, __close = true }
      local views = {
        buf = function(b) return b.buf end,
        int32 = function(b) return b:array("int32") end,
        int64 = function(b) return b:array("int64") end,
        float64 = function(b) return b:array("float64") end,
      }
      local function try(view, name, fn)
        return pcall(fn, view, (table.unpack or unpack)(args[name] or { 1, 1, 1 }))
      end
      local writers, checked = {}, 0
      local function methods_of(class)
        local mt, t = debug.getregistry()[class], {}
        for k, v in pairs(mt.__methods) do t[k] = v end
        for k, v in pairs(mt) do
          if type(k) == "string" and k:match("^__") and type(v) == "function" then t[k] = v end
        end
        return t
      end
      -- fresh(): read-write view, read-only view, snapshot of the bytes, cleanup
      local function check(kind, class, fresh)
        for name, fn in pairs(methods_of(class)) do
          if not skip[name] then
            local rw, ro, snapshot, done = fresh()
            local before = snapshot()
            local ok, err = try(ro, name, fn)
            assert(snapshot() == before, kind .. ":" .. name .. " changed a read-only block")
            try(rw, name, fn)
            if snapshot() ~= before then
              writers[#writers + 1] = kind .. ":" .. name
              assert(not ok and tostring(err):match("read%-only"),
                kind .. ":" .. name .. " on a read-only view: " .. tostring(err))
            end
            done()
            checked = checked + 1
          end
        end
      end
      for kind, make in pairs(views) do
        check(kind, kind == "buf" and "shm.buf" or "shm.array", function()
          local b = assert(shm.create(64))
          local ro = assert(shm.attach(b.name, { readonly = true }))
          local other = assert(shm.create(64))
          other.buf:fill(3)
          args.copy = { make(other) } -- copy's source: other bytes
          return make(b), make(ro), function() return b.buf:sub(1) end,
            function() b:unlink(); other:unlink() end
        end)
      end
      check("list", "shm.list", function()
        local l = assert(shm.list({ 1, 2.5, "abc" }))
        local raw = assert(shm.attach(l.name))
        return l, assert(shm.list.attach(l.name, { readonly = true })),
          function() return raw.buf:sub(1) end, function() l:unlink() end
      end)
      table.sort(writers)
      print(checked .. " calls; writers: " .. table.concat(writers, " "))
    ]])
    assert.is_true(ok, out)
    -- the test finds the write paths by itself: these must be among them
    for _, w in ipairs { "buf:write", "buf:fill", string.pack and "buf:pack" or "buf:write", "buf:__newindex", "int32:store",
      "int32:add", "int32:cas", "int64:exchange", "float64:set", "float64:copy",
      "int32:__newindex", "list:__newindex" } do
      assert.truthy(out:find(w, 1, true), w .. " not found as a writer: " .. out)
    end
  end)
end)

describe("names", function()
  local escapes = { "../etc/passwd", "/../x", "..", ".", "/..", "/.", "a/b", "/a/b", "//x",
    "x/", "x\0y", "\0", "", "/", ("a"):rep(256), "../" .. ("a"):rep(300) }

  it("never reach a path outside the shared-memory namespace", function()
    local probe = "spec_escape_" .. math.random(1, 1e9)
    local tries = 0
    local function all(name)
      local calls = {
        function() return shm.create(8, name) end,
        function() return shm.attach(name) end,
        function() return shm.list({ 1 }, name) end,
        function() return shm.list.attach(name) end,
        function() return shm.mutex(name) end,
        function() return shm.mutex.attach(name) end,
        function() return shm.queue { name = name } end,
        function() return shm.event.attach(name) end,
        function() return shm.remove(name) end,
      }
      for _, call in ipairs(calls) do
        local ok, err = pcall(call)
        assert.is_false(ok, ("%q was accepted"):format(name))
        assert.truthy(tostring(err):match("invalid name") or tostring(err):match("string expected"),
          err)
        tries = tries + 1
      end
    end
    for _, name in ipairs(escapes) do all(name) end
    for _, prefix in ipairs { "../", "../../", "/../", "a/../", "./" } do
      all(prefix .. probe)
    end
    -- nothing appeared where a traversal would have put it
    for _, place in ipairs { "/dev/", "/", "/tmp/", "/dev/shm/" } do
      assert.is_nil(io.open(place .. probe), place .. probe)
    end
    assert.is_true(tries > 150)
  end)

  it("given to the host's --rm and --dump cannot remove or show files elsewhere", function()
    local probe = os.tmpname() -- /tmp/lua_XXXXXX
    local rel = "../.." .. probe
    local out, ok = H.sh(("%s --rm %s 2>&1"):format(H.quote(H.shmlua), H.quote(rel)))
    assert.is_nil(ok, out)
    assert.truthy(out:match("invalid name"), out)
    local f = io.open(probe)
    assert.is_not_nil(f, "the file outside /dev/shm was removed")
    f:close()
    os.remove(probe)
    out, ok = H.sh(("%s --dump ../../etc/passwd 2>&1"):format(H.quote(H.shmlua)))
    assert.is_nil(ok, out)
    assert.is_nil(out:match("root:"), out)
  end)

  it("take one leading slash as Python does, and at most 255 bytes", function()
    local name = H.name("slash")
    local m = assert(shm.create(8, "/" .. name))
    assert.equal(name, m.name)
    local a = assert(shm.attach("/" .. name))
    m:unlink()
    local long = ("b"):rep(255)
    local l = assert(shm.create(8, long))
    assert.is_true(H.exists(long))
    l:unlink()
  end)
end)
