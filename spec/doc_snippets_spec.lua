-- Every example in the guides runs, as docs/api.md's do (spec/api_doc_spec.lua): the ```lua
-- and ```python blocks of README.md, docs/*.md and examples/*.md, and the ```sh recipes of
-- docs/python.md (Python and Lua sharing blocks). Other ```sh blocks are commands to build,
-- test or benchmark the project, run by CI itself. Plus the resource-tracker recipe of
-- docs/python.md: with it, a Python that attached a Lua-made block leaves it alive.
local H = require "helper"
local shm = require "shm"

local root = os.getenv("PWD")
local PYTHON = "/usr/bin/python3" -- Debian's, with NumPy; the first on PATH may lack it

local readfile = H.readfile

-- The code blocks of a page: { lang = "lua", code = "...", line = n }.
local function blocks(page)
  local found, line = {}, 1
  local text = readfile(root .. "/" .. page)
  local pos = 1
  while true do
    local s, e, lang, code = text:find("\n```(%a+)\n(.-)\n```", pos)
    if not s then break end
    local _, newlines = text:sub(pos, s):gsub("\n", "")
    line = line + newlines
    found[#found + 1] = { lang = lang, code = code, line = line + 1 }
    local _, inside = code:gsub("\n", "")
    line = line + inside + 2
    pos = e + 1
  end
  return found
end

local function pages()
  local list = { "README.md" }
  for path in H.sh("cd " .. root .. " && ls docs/*.md examples/*.md"):gmatch("[^\n]+") do
    if path ~= "docs/api.md" then list[#list + 1] = path end
  end
  return list
end

-- Runs one block; returns its output and whether it succeeded.
local function run(block)
  local env = H.env .. "PATH=/usr/bin:/bin "
  if block.lang == "lua" then
    return H.run("lua5.4", "local shm = require 'shm'\n" .. block.code)
  elseif block.lang == "python" then
    return H.run(PYTHON, block.code)
  end
  local path = H.tmpfile(block.code)
  local out, ok = H.sh(("cd %s && %sbash -e %s 2>&1"):format(H.quote(root), env, path))
  os.remove(path)
  return out, ok
end

describe("the guides' examples #lua54", function()
  for _, page in ipairs(pages()) do
    it("run: " .. page, function()
      local count = 0
      for _, block in ipairs(blocks(page)) do
        if block.lang == "lua" or block.lang == "python"
          or (block.lang == "sh" and page == "docs/python.md") then
          count = count + 1
          local out, ok = run(block)
          assert(ok, ("%s:%d (%s) failed:\n%s\n-- output:\n%s"):format(page, block.line,
            block.lang, block.code, out))
          -- What a block says it prints (a trailing "# a  b  c" on its last line, or "-->")
          -- is what it prints, tabs read as the doc's double spaces.
          local said = block.code:match("#%s*([^\n#]+)$")
          if block.lang == "sh" and said then
            assert.equal(said:gsub("%s+$", ""), (out:gsub("\t", "  "):gsub("%s+$", "")))
          end
        end
      end
      if page == "README.md" or page == "docs/python.md" then assert.is_true(count >= 2) end
      for name in pairs(H.dev_shm()) do
        assert.is_nil(name:match("^doc_"), page .. ": an example left " .. name)
      end
    end)
  end
end)

describe("docs/python.md's resource-tracker recipe #lua54", function()
  -- The page's ```python block that defines attach(name).
  local recipe
  for _, block in ipairs(blocks("docs/python.md")) do
    if block.lang == "python" and block.code:find("def attach", 1, true) then recipe = block.code end
  end

  local function python_attaches(name, how)
    local out, ok = H.run(PYTHON, recipe .. ([[

m = %s(%q)
assert bytes(m.buf[:5]) == b"hello", bytes(m.buf[:5])
m.close()
]]):format(how, name))
    assert(ok, out)
  end

  it("leaves a block Lua made alive after the attaching Python exits", function()
    assert.is_not_nil(recipe)
    local m = assert(shm.create(64, H.name("tracker")))
    finally(function() m:close() shm.remove(m.name) end)
    m.buf:write(1, "hello")
    python_attaches(m.name, "attach")
    assert.is_true(H.exists(m.name))
    assert(shm.attach(m.name)):close()
  end)

  it("is needed: Python 3.12 and older unlink a block they only attached", function()
    local version = H.sh(PYTHON .. " -c 'import sys; print(sys.version_info[1])'")
    if tonumber(version) >= 13 then return end -- track=False exists; the trap remains opt-out
    local m = assert(shm.create(64, H.name("tracker")))
    finally(function() m:close() shm.remove(m.name) end)
    m.buf:write(1, "hello")
    python_attaches(m.name, "shared_memory.SharedMemory")
    assert.is_false(H.exists(m.name))
  end)
end)
