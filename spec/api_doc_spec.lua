-- docs/api.md against the real module: every public name the module has (functions and
-- values in `shm`, methods in each class's __methods table, fields a real object answers)
-- has a `### name` entry, every entry names something that exists, and every ```lua example
-- in the page runs.
local H = require "helper"
local shm = require "shm"

local root = os.getenv("PWD")

local readfile = H.readfile

local doc = readfile(root .. "/docs/api.md")

-- `### shm.create(size [, name [, opts]])` documents "shm.create"; `### block:close()` a
-- method; `### block.size` a field. Other headings (`### #buf`, `### buf[i]`) are prose.
local documented = {}
for name in doc:gmatch("\n### `?([%a_][%w_%.:]*)") do documented[name] = true end

-- A real object of each class (a metatable with a __methods table), to read its fields.
-- Each gets the block made for this spec; what a factory creates, it unlinks at once (the
-- mapping stays usable until the object is collected).
local function unlinked(object)
  assert(object):unlink()
  return object
end
local factories = {
  block = function(m) return m end,
  buf = function(m) return m.buf end,
  array = function(m) return m:array("int32") end,
  list = function() return unlinked(shm.list { 1, "two", shm.null }) end,
  process = function()
    local h = shm.exec("true")
    h:wait()
    return h
  end,
  mutex = function() return unlinked(shm.mutex()) end,
  guard = function() return unlinked(shm.mutex()):guard() end,
  semaphore = function() return unlinked(shm.semaphore(1)) end,
  barrier = function() return unlinked(shm.barrier(2)) end,
  event = function() return unlinked(shm.event()) end,
  cond = function() return unlinked(shm.cond(unlinked(shm.mutex()))) end,
  queue = function() return unlinked(shm.queue()) end,
  pool = function() return shm.pool(1) end, -- terminated when collected
  future = function()
    local f = shm.pool(1):submit(function() return 1 end)
    f:wait()
    return f
  end,
  view = function()
    local q = unlinked(shm.queue())
    q:push("x")
    return q:view()
  end,
  dict = function() return unlinked(shm.dict()) end,
}

-- Every identifier-like string literal of the binding's sources: any field a class answers
-- is named by one of them, so probing objects with these finds every field.
local function candidates()
  local set = {}
  local files = H.sh("ls " .. root .. "/src/lua/*.c " .. root .. "/src/lua/*.h; find " .. root
    .. "/lua -name '*.lua'")
  for path in files:gmatch("[^\n]+") do
    for word in readfile(path):gmatch('"([%a_][%w_]*)"') do set[word] = true end
  end
  return set
end

-- The public names the running module has.
local function public_names(block)
  local names, problems = {}, {}
  for k, v in pairs(shm) do
    names["shm." .. k] = true
    if type(v) == "table" then
      for k2 in pairs(v) do names["shm." .. k .. "." .. k2] = true end
    end
  end
  local words = candidates()
  -- The classes first: a factory may register a metatable, and adding to a table while
  -- next walks it is undefined (entries may be skipped).
  local classes = {}
  for tname, mt in pairs(debug.getregistry()) do
    if type(tname) == "string" and tname:match("^shm%.") and type(mt) == "table"
      and type(rawget(mt, "__methods")) == "table" then
      classes[tname] = mt
    end
  end
  for tname, mt in pairs(classes) do
    local class = tname:sub(5)
    local methods = mt.__methods
    for method in pairs(methods) do names[class .. ":" .. method] = true end
    local make = factories[class]
    if not make then
      problems[#problems + 1] = "no factory in spec/api_doc_spec.lua for class " .. tname
    else
      local object = make(block)
      for word in pairs(words) do
        local ok, value = pcall(function() return object[word] end)
        if ok and value ~= nil and methods[word] == nil then
          names[class .. "." .. word] = true
        end
      end
    end
  end
  return names, problems
end

-- Whether a documented name exists in the running module.
local function exists(name, block)
  local class, method = name:match("^([%a_][%w_]*):([%a_][%w_]*)$")
  if class then
    local mt = debug.getregistry()["shm." .. class]
    return type(mt) == "table" and type(rawget(mt, "__methods")) == "table"
      and mt.__methods[method] ~= nil
  end
  local head, rest = name:match("^([%a_][%w_]*)%.(.+)$")
  if head == "shm" then
    local value = shm
    for key in rest:gmatch("[^.]+") do
      if type(value) ~= "table" then return false end
      value = value[key]
    end
    return value ~= nil
  end
  local make = head and factories[head]
  return make ~= nil and make(block)[rest] ~= nil
end

local function sorted(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

describe("docs/api.md #lua54", function()
  local block

  setup(function() block = assert(shm.create(4096, H.name("apidoc"))) end)
  teardown(function()
    block:unlink()
    block:close()
  end)

  it("documents every public name of the module", function()
    local names, problems = public_names(block)
    assert.same({}, problems)
    local missing = {}
    for _, name in ipairs(sorted(names)) do
      if not documented[name] then missing[#missing + 1] = name end
    end
    assert.same({}, missing)
    -- The walk itself sees what the foundation has, or it could miss everything.
    for _, name in ipairs { "shm.create", "block:close", "block.size", "buf:hexdump" } do
      assert.is_true(names[name], name)
    end
  end)

  it("documents nothing the module lacks", function()
    local ghosts = {}
    for _, name in ipairs(sorted(documented)) do
      if not exists(name, block) then ghosts[#ghosts + 1] = name end
    end
    assert.same({}, ghosts)
  end)

  it("is what docs/python.md maps Python's calls to", function()
    local page, ghosts, methods = readfile(root .. "/docs/python.md"), {}, {}
    for name in page:gmatch("shm%.[%w_.]*[%w_]") do
      if not exists(name, block) then ghosts[#ghosts + 1] = name end
    end
    for _, mt in pairs(debug.getregistry()) do
      if type(mt) == "table" and type(rawget(mt, "__methods")) == "table" then
        for method in pairs(mt.__methods) do methods[method] = true end
      end
    end
    for method in page:gmatch(":([%a_][%w_]*)%(") do
      if not methods[method] then ghosts[#ghosts + 1] = ":" .. method end
    end
    assert.same({}, ghosts)
  end)

  it("has an example in every entry", function()
    local bare, entry, example = {}, nil, false
    for line in (doc .. "\n## end"):gmatch("[^\n]*") do
      if line:match("^##") then
        if entry and not example then bare[#bare + 1] = entry end
        entry, example = line:match("^### (.*)"), false
      elseif line == "```lua" then
        example = true
      end
    end
    assert.same({}, bare)
  end)

  it("has examples that run and clean up", function()
    local count = 0
    for code in doc:gmatch("\n```lua\n(.-)\n```") do
      count = count + 1
      local prog = code:match("^%-%- shmlua") and H.shmlua or "lua5.4"
      local out, ok = H.run(prog, "local shm = require 'shm'\n" .. code)
      assert(ok, ("example %d failed:\n%s\n-- output:\n%s"):format(count, code, out))
    end
    assert.is_true(count >= 10)
    for name in pairs(H.dev_shm()) do
      assert.is_nil(name:match("^doc_"), "an example left " .. name)
    end
  end)
end)
