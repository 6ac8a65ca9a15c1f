-- shm.help: the entries of docs/api.md, compiled into the module, for names, values and
-- classes. The page is read here on its own, so the module's copy must be this very page.
local H = require "helper"
local shm = require "shm"

local page
do
  local f = assert(io.open(os.getenv("PWD") .. "/docs/api.md", "rb"))
  page = f:read("*a")
  f:close()
end

-- The parts of the page: each heading with the text under it, blank lines at the end cut.
local function parts()
  local list, current, fenced = {}, nil, false
  for line in (page .. "\n"):gmatch("([^\n]*)\n") do
    local hashes = not fenced and line:match("^(#+) ")
    if hashes and #hashes <= 3 then
      current = { level = #hashes, title = line:sub(#hashes + 2), lines = {} }
      current.name = current.level == 3 and current.title:match("^`?([%a_][%w_.:]*[%w_])")
      list[#list + 1] = current
    end
    if line:match("^```") then fenced = not fenced end
    if current then current.lines[#current.lines + 1] = line end
  end
  for _, part in ipairs(list) do
    part.text = table.concat(part.lines, "\n"):gsub("\n+$", "")
  end
  return list
end

local function entries()
  local list = {}
  for _, part in ipairs(parts()) do
    if part.name then list[#list + 1] = part end
  end
  return list
end

describe("shm.help", function()
  it("gives every entry of docs/api.md as it is in the page", function()
    local list = entries()
    assert.is_true(#list > 100)
    for _, entry in ipairs(list) do
      assert.equal(entry.text, shm.help(entry.name))
    end
  end)

  it("gives the entry of a module function or table given as a value", function()
    assert.equal(shm.help("shm.create"), shm.help(shm.create))
    assert.equal(shm.help("shm.queue"), shm.help(shm.queue))         -- a callable table
    assert.equal(shm.help("shm.mutex.attach"), shm.help(shm.mutex.attach))
    assert.equal(shm.help("shm.null"), shm.help(shm.null))           -- a userdata value
    assert.equal(shm.help("shm.help"), shm.help(shm.help))
    local m = H.block(16)
    assert.equal(shm.help("block:close"), shm.help(m.close))         -- a method
  end)

  it("lists every entry a shared function has", function()
    local q = shm.queue()
    q:unlink()
    local text = shm.help(q.close) -- one close for every sync object
    assert.matches("^Several entries:\n", text)
    assert.matches("\n  queue:close%(%)", text)
    assert.matches("\n  mutex:close%(%)", text)
    q:close()
  end)

  it("gives a class: its section, what makes it, its fields and methods", function()
    local m = H.block(16)
    local q = shm.queue()
    q:unlink()
    local classes = {}
    for _, entry in ipairs(entries()) do
      local class, sep = entry.name:match("^([%a_][%w_]*)([.:])[%a_][%w_]*$")
      if class and class ~= "shm" then
        classes[class] = classes[class] or {}
        table.insert(classes[class], entry.title)
      end
    end
    for class, titles in pairs(classes) do
      local text = assert(shm.help(class), class)
      for _, title in ipairs(titles) do
        assert.is_truthy(text:find("\n  " .. title, 1, true), class .. ": " .. title)
      end
    end
    assert.equal(shm.help("buf"), shm.help(m.buf))
    assert.equal(shm.help("block"), shm.help(m))
    assert.equal(shm.help("queue"), shm.help(q))
    assert.matches("^## The byte view: buf\n", shm.help(m.buf))
    assert.matches("\nMade by\n  block%.buf ", shm.help(m.buf))
    assert.matches("\nMade by\n  shm%.queue%(%[opts%]%) ", shm.help(q))
    assert.matches("\nFields\n  queue%.name ", shm.help(q))
    q:close()
  end)

  it("gives the module, a section, or the entries a last part names", function()
    assert.equal(shm.help("shm"), shm.help(shm))
    assert.matches("^# The `shm` module: API reference\n", shm.help("shm"))
    assert.matches("\n  shm%.create%(size %[, name %[, opts%]%]%) ", shm.help("shm"))
    assert.matches("^## Conventions\n", shm.help("Conventions"))
    assert.matches("^## Processes\n.*\n  shm%.spawn%(fn, %.%.%.%) ", shm.help("processes"))
    assert.equal(shm.help("queue:try_pop"), shm.help("try_pop"))
    assert.matches("^Several entries:\n.*\n  queue:unlink", shm.help("unlink"))
  end)

  it("lists the topics without an argument", function()
    local text = shm.help()
    for _, part in ipairs(parts()) do
      if part.level == 2 then
        assert.is_truthy(text:find("\n  " .. part.title .. "\n", 1, true), part.title)
      end
    end
    for _, name in ipairs({ " shm.create", " shm.queue.attach", " block", " buf", " queue",
      " process", " guard" }) do
      assert.is_truthy(text:find(name, 1, true), name)
    end
    for line in text:gmatch("[^\n]+") do assert.is_true(#line <= 80, line) end
  end)

  it("says there is no entry for what the page does not document", function()
    for _, topic in ipairs({ "no_such_thing", "", "shm.", "queue:", nil, 42, print, {},
      io.stdout }) do
      local text, msg = shm.help(topic)
      assert.is_nil(text)
      assert.matches("^no entry for .* in the shm reference", msg)
    end
    assert.equal("no entry for 'zzz' in the shm reference (help() lists the topics)",
      select(2, shm.help("zzz")))
    assert.equal("no entry for nil in the shm reference (help() lists the topics)",
      select(2, shm.help(nil)))
  end)
end)
