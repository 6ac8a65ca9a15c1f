-- Every example runs to completion in the host and leaves no block behind. Each runs with a
-- private, empty /dev/shm (a mount namespace) when the system allows it, so what is left
-- there afterwards is the example's own litter and nobody else's.
local H = require "helper"

local function examples()
  local list = {}
  local p = assert(io.popen("ls examples/*.lua"))
  for path in p:lines() do list[#list + 1] = path end
  p:close()
  return list
end

local private = select(2, H.sh("unshare -m true 2>/dev/null"))

-- Runs cmd; returns its output, success, and the names it left in /dev/shm.
local function run(cmd)
  if private then
    local out, ok = H.sh(("unshare -m sh -c %s 2>&1"):format(H.quote(
      "mount -t tmpfs -o size=256m tmpfs /dev/shm && " .. cmd ..
      "; status=$?; echo; echo LEFT: $(ls -A /dev/shm); exit $status")))
    local body, left = out:match("^(.*)\nLEFT: ?([^\n]*)\n$")
    return body or out, ok, left or "?"
  end
  local before = H.dev_shm()
  local out, ok = H.sh(cmd .. " 2>&1")
  local left = {}
  for name in pairs(H.dev_shm()) do
    if not before[name] then left[#left + 1] = name end
  end
  return out, ok, table.concat(left, " ")
end

describe("examples #lua54", function()
  for _, path in ipairs(examples()) do
    it(path .. " runs and cleans up", function()
      local out, ok, left = run(("%stimeout 120 %s %s"):format(H.env, H.shmlua, path))
      assert.is_true(ok, out)
      assert.equal("", left, out)
    end)
  end

  it("examples/demo's script is the README's first command", function()
    local readme = assert(io.open("README.md")):read("*a")
    assert.truthy(readme:find("bash examples/demo", 1, true))
    assert.truthy(readme:find("bash spec/run", 1, true))
  end)
end)
