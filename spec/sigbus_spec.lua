-- Issue 20: blocks made without reserving their storage, and a SIGBUS inside any access
-- shmlua makes to a block turned into a Lua error. Each case runs in its own process of the
-- Lua running the specs (H.lua_exe), which must end normally (a SIGBUS that got through would
-- kill it), real /dev/shm, real truncation by another process. The children's Lua parses on
-- every Lua (no 5.3 operators): the guards are the same C everywhere.
local H = require "helper"
local shm = require "shm"

local function child(source, wrap)
  local path = H.tmpfile(source)
  local cmd = H.env .. H.lua_exe .. " " .. path
  local out, ok, how, code = H.sh((wrap and wrap(cmd) or cmd) .. " 2>&1")
  os.remove(path)
  return out, ok, how, code
end

local function ends_normally(out, ok, how, code)
  assert.is_true(ok, ("child ended by %s %s:\n%s"):format(how, code, out))
  return out
end

-- The error every case must raise, for a block called name.
local function fault_pattern(name)
  return "block '" .. name:gsub("%p", "%%%0") .. "': no memory behind byte (%d+) %(truncated " ..
    "by another process, or /dev/shm is full%)"
end

local can_unshare = H.sh("unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /dev/shm' 2>&1 && echo yes")
local namespace_ok = can_unshare:match("yes\n$") ~= nil
local sanitized = (os.getenv("LD_PRELOAD") or ""):match("asan") ~= nil

local function in_small_shm(cmd)
  return "unshare -m sh -c " .. H.quote("mount -t tmpfs -o size=1m tmpfs /dev/shm && " .. cmd)
end

describe("shm.create(size, name, {reserve = false})", function()
  it("reserves nothing: the block uses no memory until touched, and says so", function()
    local name = H.name("lazy")
    local m = assert(shm.create(1073741824, name, { reserve = false }))
    finally(function() m:unlink() m:close() end)
    assert.matches("^shm%.block: " .. name .. " %(1073741824 bytes, not reserved%)$", tostring(m))
    local function stored()
      for _, b in ipairs(assert(shm.blocks())) do
        if b.name == name then return b.stored, b.size end
      end
    end
    local used, size = stored()
    assert.equal(0, used)
    assert.equal(1073741824, size)
    m.buf[536870912] = 7 -- one page in the middle
    assert.equal(4096, (stored()))
    assert.equal(7, m.buf[536870912])
  end)

  it("reserves by default, and reserve = true is the default", function()
    local a = assert(shm.create(10000, H.name("res"), { reserve = true }))
    local b = assert(shm.create(10000, H.name("res")))
    finally(function() a:unlink() b:unlink() end)
    for _, m in ipairs({ a, b }) do
      assert.matches("%(10000 bytes%)$", tostring(m))
      for _, info in ipairs(assert(shm.blocks())) do
        if info.name == m.name then assert.equal(12288, info.stored) end
      end
    end
  end)

  it("refuses a reserve option that is not a boolean", function()
    assert.has_error(function() shm.create(10, H.name("bad"), { reserve = "no" }) end)
  end)

  it("on a full /dev/shm: the write that finds no space raises, the process goes on", function()
    if not namespace_ok then
      pending("needs a private mount namespace (unshare -m as root): " .. can_unshare)
      return
    end
    local out = ends_normally(child([[
      local shm = require "shm"
      local m = assert(shm.create(4 * 2 ^ 20, "lazy", { reserve = false })) -- 4 MiB on 1 MiB
      local b, a = m.buf, m:array("int64")
      local failed, err
      for page = 0, 1023 do
        local ok, e = pcall(function() b[page * 4096 + 1] = page % 256 end)
        if not ok then failed, err = page, e break end
      end
      assert(failed, "no write failed")
      local byte = err:match("block 'lazy': no memory behind byte (%d+) %(truncated by " ..
        "another process, or /dev/shm is full%)$")
      local full = math.floor((tonumber(byte) - 1) / 4096) -- the page that found no space
      if rawget(_G, "jit") then
        -- LuaJIT's FFI store went on over a page of zeros (lost); the next access raised,
        -- and every access to the block does from then on
        assert(failed == full + 1, err)
      else
        assert(failed == full, err)
        for page = 0, failed - 1 do assert(b[page * 4096 + 1] == page % 256) end
      end
      -- every other way in finds the same wall
      for _, try in ipairs {
        function() return b[failed * 4096 + 2] end,
        function() return b:sub(1, failed * 4096 + 10) end,
        function() return b:fill(1, failed * 4096 + 1, failed * 4096 + 4096) end,
        function() return a:totable() end,
        function() return a:add(failed * 512 + 1, 1) end,
        function() return b:hexdump(failed * 4096 + 1, failed * 4096 + 16) end,
      } do
        local ok, e = pcall(try)
        assert(not ok and e:match("no memory behind byte %d+"), tostring(e))
      end
      m:unlink()
      m:close()
      local again = assert(shm.create(4096, "again")) -- the space came back
      again.buf:fill(1)
      again:unlink()
      print(full)
    ]], in_small_shm))
    assert.equal("256\n", out) -- 1 MiB of 4 KiB pages
  end)
end)

describe("a block truncated by another process between two loops over it", function()
  -- Deterministic: the truncation happens between loops. Where element access is C (5.1-5.4)
  -- the loop that meets the missing page raises there and the page before stays readable.
  -- Under LuaJIT the loop is compiled FFI code that checks the block once, when it starts:
  -- it completes over pages of zeros (its stores are lost) and then every access to the block
  -- raises, compiled or not; nothing dies by SIGBUS either way.
  it("raises the fault error (under LuaJIT from the next access), never a SIGBUS", function()
    local name = H.name("cut")
    finally(function() os.remove("/dev/shm/" .. name) end)
    local out = ends_normally(child(([[
      local shm = require "shm"
      local name = %q
      local m = assert(shm.create(65536, name))
      local b, a, d = m.buf, m:array("int32"), m:array("float64")
      local function fill(v) for i = 1, #b do b[i] = v end end
      local function sum(x) local s = 0 for i = 1, #x do s = s + x[i] end return s end
      for _ = 1, 100 do fill(1) assert(sum(a) == 16384 * 16843009) sum(d) end -- hot
      assert(os.execute("truncate -s 4096 /dev/shm/" .. name)) -- another process
      -- (a:sum reads four streams at once: one past the first may fault first)
      local wall = "block '" .. name .. "': no memory behind byte %%d+ %%(truncated"
      local ok, err = pcall(fill, 2)
      if rawget(_G, "jit") then
        assert(ok, err) -- went on over zeros
      else
        assert(not ok and err:match("byte 4097 "), err)
        assert(b[4096] == 2 and b[1] == 2 and a[1] == 33686018)
      end
      for _, try in ipairs({ function() return sum(a) end, function() return sum(d) end,
        function() fill(3) end, function() return b[4097] end, function() a[1025] = 1 end,
        function() return b:sub(4090, 4100) end, function() return a:sum() end }) do
        ok, err = pcall(try)
        assert(not ok and err:match(wall), tostring(err))
      end
      m:unlink()
      m:close()
      print("ok")
    ]]):format(name)))
    assert.equal("ok\n", out)
  end)
end)

-- A child that makes what setup says, starts a peer that truncates the block called name to
-- 0 bytes after 50 ms, and calls read until it raises (at most 10 s); prints the error.
local function truncated_while(setup, read)
  return child(([[
    local shm = require "shm"
    local name = %q
    %s
    os.execute("(sleep 0.05; truncate -s 0 /dev/shm/" .. name .. ") &")
    local deadline, calls = os.time() + 10, 0
    while true do
      local ok, err = pcall(read)
      calls = calls + 1
      if not ok then print(err) break end
      assert(os.time() < deadline, "no error after " .. calls .. " calls")
    end
    -- the process goes on: a new block works, the old handle can still be closed
    local other = assert(shm.create(4096))
    other.buf[4096] = 1
    assert(other.buf[4096] == 1)
    other:unlink()
    os.remove("/dev/shm/" .. name)
  ]]):format(setup.name, setup.source))
end

describe("a block truncated by another process while this one reads it", function()
  local size = 1048576
  local cases = {
    { "buf[i]", "local m = assert(shm.create(" .. size .. ", name)); local b = m.buf",
      "function read() local s = 0; for i = 1, #b, 512 do s = s + b[i] end end" },
    { "buf[i] = v", "local m = assert(shm.create(" .. size .. ", name)); local b = m.buf",
      "function read() for i = 1, #b, 512 do b[i] = i % 256 end end" },
    { "a:totable()", "local m = assert(shm.create(" .. size .. ", name)); local a = m:array('float64')",
      "function read() return a:totable() end" },
    { "a[i]", "local m = assert(shm.create(" .. size .. ", name)); local a = m:array('int32')",
      "function read() for i = 1, #a, 128 do local _ = a[i] end end" },
    { "buf:sub (one string)", "local m = assert(shm.create(" .. size .. ", name)); local b = m.buf",
      "function read() return b:sub(1, -1) end" },
    { "buf:sub (small pieces)", "local m = assert(shm.create(" .. size .. ", name)); local b = m.buf",
      "function read() for i = 1, #b, 4096 do b:sub(i, i + 99) end end" },
    { "buf:unpack", "local m = assert(shm.create(" .. size .. ", name)); local b = m.buf",
      "function read() for i = 1, #b, 4096 do b:unpack('i8', i) end end", tags = " #lua53" },
    { "a:copy", "local m = assert(shm.create(" .. size .. ", name)); local a = m:array('uint8');" ..
      "local d = assert(shm.create(" .. size .. ")); d:unlink(); local to = d:array('uint8')",
      "function read() to:copy(a) end" },
    { "a queue's pop", "local q = assert(shm.queue { name = name, bytes = 65536 })",
      "function read() assert(q:push(('x'):rep(1000))); assert(q:pop(1)) end" },
    -- over 64 KiB and in one piece (five fill the ring exactly): made from the ring unlocked
    { "a queue's pop of a long message", "local q = assert(shm.queue { name = name, " ..
      "messages = 5, bytes = 1000000 }); local long = ('x'):rep(200000)",
      "function read() assert(q:push(long)); assert(#q:pop(1) == 200000) end" },
    { "a mutex's lock and unlock", "local mu = assert(shm.mutex(name))",
      "function read() assert(mu:lock(1)); mu:unlock() end" },
    { "a semaphore's release and acquire", "local s = assert(shm.semaphore(0, name))",
      "function read() s:release(); assert(s:acquire(1)); local _ = s.value end" },
    { "an event's set, wait and clear", "local e = assert(shm.event(name))",
      "function read() e:set(); assert(e:wait(1)); e:clear() end" },
    { "a cond's signal and wait", "local mu = assert(shm.mutex()); mu:unlink();" ..
      "local c = assert(shm.cond(mu, name))",
      "function read() c:signal(); assert(mu:lock(1)); c:wait(0.001); mu:unlock() end" },
    { "a barrier's wait", "local br = assert(shm.barrier(1, name))",
      "function read() assert(br:wait(1) == 1); local _ = br.broken end" },
    { "a strided view's v[i]", "local m = assert(shm.create(" .. size .. ", name));" ..
      "local v = m:array('int32'):view(1, -1, 3)",
      "function read() for i = 1, #v, 100 do local _ = v[i] end end" },
    { "a strided view's v[i] = x", "local m = assert(shm.create(" .. size .. ", name));" ..
      "local v = m:array('int32'):view(1, -1, -3)",
      "function read() for i = 1, #v, 100 do v[i] = i end end" },
    -- whole-array operations: each one kernel call over the block
    { "a:sum()", "local m = assert(shm.create(" .. size .. ", name)); local a = m:array('float64')",
      "function read() return a:sum() end" },
    { "a:view(1, -1, 2):sort()", "local m = assert(shm.create(" .. size .. ", name));" ..
      "local v = m:array('int32'):view(1, -1, 2)",
      "function read() v:sort(true) end" },
    { "a:cadd(1)", "local m = assert(shm.create(" .. size .. ", name)); local a = m:array('int16')",
      "function read() a:cadd(1) end" },
    { "a dict's set and get", "local d = assert(shm.dict { name = name, bytes = 65536 });" ..
      "local s = ('v'):rep(200)",
      "function read() assert(d:set('k', s)); assert(d:get('k') == s) end" },
    -- batches: a full queue's push_many and an emptied one's pop_many still read its header
    { "a queue's push_many", "local q = assert(shm.queue { name = name, bytes = 65536 });" ..
      "local batch = {}; for i = 1, 64 do batch[i] = ('x'):rep(100) end",
      "function read() q:push_many(batch, 1, -1, 0) end" },
    { "a queue's pop_many", "local q = assert(shm.queue { name = name, bytes = 65536 });" ..
      "for i = 1, 300 do assert(q:push(('x'):rep(100))) end; local got = {}",
      "function read() q:pop_many(got, 4, 0) end" },
    { "a queue's put and get", "local q = assert(shm.queue { name = name, bytes = 65536 })",
      "function read() assert(q:put({ 1, 'two', 3.5 })); assert(q:get(1)) end" },
    -- a view reads the ring in place, holding the head's lock
    { "a queue view's sub", "local q = assert(shm.queue { name = name, bytes = 65536 });" ..
      "assert(q:push(('m'):rep(60000))); local v = assert(q:view(1))",
      "function read() assert(#v:sub(1, -1) == 60000); v:byte(1, 10) end" },
  }
  for _, case in ipairs(cases) do
    it("raises the fault error through " .. case[1] .. ", and nothing crashes" .. (case.tags or ""),
      function()
      local name = H.name("trunc")
      finally(function() os.remove("/dev/shm/" .. name) end)
      local out = ends_normally(truncated_while({ name = name, source = case[2] .. "\n" .. case[3] },
        nil))
      assert.is_not_nil(out:match(fault_pattern(name) .. "\n$"), out)
      assert.is_false(H.exists(name))
    end)
  end
end)

describe("a SIGBUS that is not an access of shmlua's", function()
  it("goes on to the handler found before (none: the process dies by SIGBUS)", function()
    local out, ok, how, code = child([[
      local shm = require "shm"
      local m = assert(shm.create(4096)) -- the handler is in place from here on
      m:unlink()
      os.execute("kill -BUS $PPID")
      os.execute("sleep 5")
      print("survived")
    ]])
    assert.is_falsy(ok)
    if sanitized then -- ASan's handler was there first: it reports the signal and aborts
      assert.matches("AddressSanitizer:DEADLYSIGNAL", out)
      assert.matches("BUS", out)
    else
      assert.is_true((how == "exit" and code == 128 + 7) or (how == "signal" and code == 7),
        ("ended by %s %s:\n%s"):format(how, code, out))
    end
  end)
end)
