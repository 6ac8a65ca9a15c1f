-- The benchmarks in smoke mode (tiny sizes, one run): every operation of every side runs and
-- passes its check. Timings are not looked at: benchmarks are not tests.
local H = require "helper"

describe("bench/ smoke run #lua54", function()
  -- Under the sanitizers every process gets libasan preloaded, python3 included; timing
  -- loops there measure the sanitizer, and the same code paths are covered by the specs.
  local sanitized = (os.getenv("LD_PRELOAD") or ""):match("libasan") ~= nil

  it("measures every operation, all sides, with every check passing", function()
    if sanitized then
      pending("skipped under ASan: the plain build runs it")
      return
    end
    local json, png = os.tmpname(), os.tmpname()
    local out, ok = H.sh(("lua5.4 bench/driver.lua --smoke --build %s --json %s --png %s 2>&1")
      :format(H.quote(H.build), H.quote(json), H.quote(png)))
    local f = assert(io.open(json))
    local doc = f:read("*a")
    f:close()
    os.remove(json)
    os.remove(png)
    assert.is_true(ok, out)
    assert.matches("all checks passed", out, 1, true)
    assert.is_nil(out:find("FAIL", 1, true), out)
    package.path = "bench/?.lua;" .. package.path
    for _, op in ipairs(require "ops") do
      assert.matches('"id": "' .. op.id .. '"', doc, 1, true)
      assert.matches(op.label, out, 1, true)
    end
    for _, stage in ipairs({ "create", "attach", "touch", "read", "close" }) do
      assert.matches('"stage": "' .. stage .. '"', doc, 1, true)
    end
  end)
end)
