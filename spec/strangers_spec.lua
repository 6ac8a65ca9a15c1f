-- Anyone can put anything in /dev/shm: a FIFO, a directory, a name full of terminal escape
-- sequences. None of it may hang or fool a reader: attaching refuses what is not a block at
-- once (a FIFO's open would wait for a writer for ever), and every name printed for a person
-- (shmlua --ls, the --watch header, error messages) has its unsafe bytes escaped as `ls -b`.
local H = require "helper"
local shm = require "shm"

-- The shell's status and output of a shmlua command, killed after 5 s if it hangs.
local function shmlua(args)
  local out, ok, how, code = H.sh(("timeout -s KILL 5 %s %s 2>&1"):format(H.quote(H.shmlua),
    args))
  return out, ok, how, code
end

describe("a FIFO in /dev/shm", function()
  local name
  before_each(function()
    name = H.name("fifo")
    assert(H.sh("mkfifo /dev/shm/" .. name .. " && echo made"):match("made"))
  end)
  after_each(function() os.remove("/dev/shm/" .. name) end)

  it("is refused at once by shm.attach, read-only or not, and by the sync objects' attach",
    function()
      local t0 = H.now()
      for _, attach in ipairs { function() return shm.attach(name, { readonly = true }) end,
        function() return shm.attach(name) end, function() return shm.mutex.attach(name) end,
        function() return shm.list.attach(name, { readonly = true }) end } do
        local ok, msg, code = attach()
        assert.is_nil(ok)
        assert.equal(name .. ": not a shared-memory block but a FIFO", msg)
        assert.equal(22, code)
      end
      assert.is_true(H.now() - t0 < 2)
    end)

  it("is refused by shmlua --dump and --watch with status 1, not waited on", function()
    for _, tool in ipairs { "--dump", "--watch" } do
      local out, ok, how, code = shmlua(tool .. " " .. name)
      assert.is_nil(ok)
      assert.equal("exit", how) -- not killed by the timeout
      assert.equal(1, code)
      assert.equal(": " .. tool .. ": " .. name .. ": not a shared-memory block but a FIFO\n",
        out:match(": %-%-.*"))
    end
  end)

  it("is not listed by shm.blocks or shmlua --ls", function()
    for _, b in ipairs(assert(shm.blocks())) do assert.not_equal(name, b.name) end
    local out, ok = shmlua("--ls")
    assert(ok, out)
    assert.is_nil(out:find(name, 1, true))
  end)
end)

describe("a directory in /dev/shm", function()
  it("is refused by shm.attach", function()
    local name = H.name("dir")
    assert(H.sh("mkdir /dev/shm/" .. name .. " && echo made"):match("made"))
    local ok, msg = shm.attach(name, { readonly = true })
    os.remove("/dev/shm/" .. name)
    assert.is_nil(ok)
    assert.equal(name .. ": not a shared-memory block but a directory", msg)
  end)
end)

describe("a name with terminal escapes", function()
  local evil = "\27]0;owned\7\27[2J\n" .. "forged row\\"
  local escaped = "\\033]0;owned\\a\\033[2J\\nforged row\\\\"

  it("is escaped as ls -b does in shmlua --ls, the --watch header and error messages", function()
    local name = H.name("esc") .. evil
    local m = assert(shm.create(16, name))
    finally(function() m:unlink() end)
    local out, ok = shmlua("--ls")
    assert(ok, out)
    assert.is_nil(out:find("\27", 1, true))
    local plain = name:sub(1, -#evil - 1)
    local row = out:match("\n(" .. plain .. "[^\n]*)")
    assert.equal(plain .. escaped, row:sub(1, #plain + #escaped))
    assert.matches("^ +block +16 ", row:sub(#plain + #escaped + 1))
    assert.is_nil(out:find("\nforged row", 1, true))
    out = H.sh(("timeout -s INT 0.5 %s --watch %s"):format(H.quote(H.shmlua), H.quote(name)))
    assert.equal(plain .. escaped .. ": 16 bytes, bytes 1..16, every 1s\n", out:match("^[^\n]*\n"))
    local _, msg = shm.attach(name .. "x")
    assert.equal(plain .. escaped .. "x: No such file or directory", msg)
    assert.equal(plain .. escaped .. ": File exists", select(2, shm.create(1, name)))
    assert.equal("shm.block: " .. plain .. escaped .. " (16 bytes)", tostring(m))
    assert.equal("shm.buf: " .. plain .. escaped .. " (16 bytes)", tostring(m.buf))
    local l = assert(shm.list({ 1 }, name .. "l"))
    assert.equal("shm.list: " .. plain .. escaped .. "l (1 items) {1}", tostring(l))
    l:unlink()
    l:close()
    m:close()
    assert.equal("block '" .. plain .. escaped .. "' is closed",
      select(2, pcall(function() return m.buf[1] end)):match("block '.*"))
    assert.matches("invalid name '\\033%[2Ja/b'",
      select(2, pcall(shm.create, 1, "\27[2Ja/b")), 1, false)
  end)

  it("keeps printable UTF-8 and escapes C1 controls and bytes that are not UTF-8", function()
    local name = H.name("utf") .. "é\194\155x\255"
    local _, msg = shm.attach(name)
    assert.equal(name:sub(1, -7) .. "é\\302\\233x\\377: No such file or directory", msg)
  end)
end)
