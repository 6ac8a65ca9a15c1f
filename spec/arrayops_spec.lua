-- Whole-array methods of typed views (sum, min, sort, cadd, view, reshape, shm.parallel, ...):
-- values against NumPy reading the same block, on random data of every dtype with integer
-- limits, NaN and infinities, through contiguous, strided and reversed views; range rules,
-- closed and read-only blocks, bad arguments.
-- Lua 5.1-compatible syntax only (no <close>, //, bitwise operators): see BRIEF.
local H = require "helper"
local shm = require "shm"

-- Lua 5.3+ integers; on 5.1 and LuaJIT the integer limits are the doubles' exact range.
local MAXINT, MININT = math.maxinteger or 2 ^ 53, math.mininteger or -2 ^ 53

local sizes = { int8 = 1, uint8 = 1, int16 = 2, uint16 = 2, int32 = 4, uint32 = 4, int64 = 8,
  uint64 = 8, float32 = 4, float64 = 8 }
local dtypes = { "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
  "float32", "float64" }
local limits = { int8 = { -128, 127 }, uint8 = { 0, 255 }, int16 = { -32768, 32767 },
  uint16 = { 0, 65535 }, int32 = { -2147483648, 2147483647 }, uint32 = { 0, 4294967295 },
  int64 = { MININT, MAXINT },
  -- uint64 above 2^63 reads as a negative Lua integer (a[i]'s rule): NumPy would order those
  -- differently, so the data stays below
  uint64 = { 0, MAXINT } }

-- n random values for dtype: mostly small, with its limits, zeros, and for floats NaN,
-- infinities and -0.0.
local function random_values(dtype, n, specials)
  local t = {}
  local lim = limits[dtype]
  for i = 1, n do
    local r = math.random()
    if lim then
      if r < 0.05 then t[i] = lim[1]
      elseif r < 0.1 then t[i] = lim[2]
      elseif r < 0.15 then t[i] = 0
      elseif r < 0.5 then t[i] = math.random(math.max(lim[1], -100), math.min(lim[2], 100))
      else t[i] = math.random(lim[1], lim[2]) end
    else
      local top = dtype == "float32" and 4 or 10
      if specials and r < 0.02 then t[i] = 0 / 0
      elseif specials and r < 0.03 then t[i] = math.huge
      elseif specials and r < 0.04 then t[i] = -math.huge
      elseif r < 0.06 then t[i] = -0.0
      elseif r < 0.5 then t[i] = math.random(-50, 50)
      else t[i] = (math.random() - 0.5) * 10 ^ math.random(-5, top) end
    end
  end
  return t
end

-- What NumPy says, for each view: reductions, and each in-place operation's result under
-- shmlua's rules ("error" where a result does not fit a narrow integer dtype, or an integer
-- dtype gets a fraction). Integer arithmetic is done in int64, which wraps as Lua does.
local NUMPY = [==[
import sys
import numpy as np
from multiprocessing import shared_memory, resource_tracker
name, dtype, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
reductions_only = len(sys.argv) > 4
block = shared_memory.SharedMemory(name=name)
resource_tracker.unregister(block._name, "shared_memory")  # Lua owns it (CPython gh-82300)
a = np.ndarray((n,), dtype=dtype, buffer=block.buf)
isint = a.dtype.kind in "iu"
narrow = isint and a.dtype.itemsize < 8
info = np.iinfo(a.dtype) if isint else None
np.seterr(all="ignore")

def num(x):
    if isint:
        x = int(x) & (2**64 - 1)
        return str(x - 2**64 if x >= 2**63 else x)
    x = float(x)
    if x != x:
        return "(0/0)"
    if x in (float("inf"), float("-inf")):
        return "math.huge" if x > 0 else "-math.huge"
    return repr(x)

def arr(xs):
    return "{" + ",".join(num(x) for x in xs) + "}"

def result(xs, integral=True):
    if isint and (not integral or (narrow and (xs.min(initial=0) < info.min or xs.max(initial=0) > info.max))):
        return '"error"'
    return arr(xs)

def typed(x):
    return a.dtype.type(x)

out = []
for key, v in (("whole", a), ("step3", a[::3]), ("back2", a[::-2])):
    w = v.astype(np.int64) if isint else v
    f = {}
    f["sum"] = num(np.sum(w))
    f["min"] = "{%s,%d}" % (num(np.min(v)), np.argmin(v) + 1)
    f["max"] = "{%s,%d}" % (num(np.max(v)), np.argmax(v) + 1)
    f["mean"] = repr(float(np.mean(w))).replace("nan", "(0/0)").replace("inf", "math.huge")
    f["dot"] = num(np.dot(w, w))
    x = v[len(v) // 2]
    f["probe"] = num(x)
    f["count"] = str(np.count_nonzero(v == x))
    f["find"] = str(np.argmax(v == x) + 1) if x == x else "nil"
    if reductions_only:
        out.append(key + "={" + ",".join("%s=%s" % kv for kv in f.items()) + "}")
        continue
    s = np.sort(v)
    f["sort"] = arr(s)
    numbers = s[s == s] if not isint else s
    f["sortdesc"] = arr(np.concatenate([numbers[::-1], s[len(numbers):]]))
    probes = [numbers[0], numbers[len(numbers) // 2], numbers[-1]]
    f["probes"] = arr(probes)
    f["searchsorted"] = "{" + ",".join(str(np.searchsorted(s, p) + 1) for p in probes) + "}"
    lo, hi = numbers[len(numbers) // 4], numbers[3 * len(numbers) // 4]
    f["lo"], f["hi"] = num(lo), num(hi)
    f["clamp"] = arr(np.clip(v, lo, hi))
    f["abs"] = result(w if dtype.startswith("u") else np.abs(w))
    f["cumsum"] = result(np.cumsum(w))
    f["cadd"] = result(w + 3) if isint else arr(v + typed(3))
    f["cmul"] = result(w * 2) if isint else arr(v * typed(2))
    f["csub"] = result(w - w[::-1]) if isint else arr(v - v[::-1])
    f["cdiv"] = result(w // 2, bool(np.all(w % 2 == 0))) if isint else arr(v / typed(2))
    f["axpy"] = result(w + 2 * w[::-1]) if isint else arr(v + typed(2) * v[::-1])
    k = np.arange(len(v), dtype=np.int64)
    f["arange"] = result(5 + 3 * k) if isint else arr((5 + 3 * k.astype(np.float64)).astype(a.dtype))
    out.append(key + "={" + ",".join("%s=%s" % kv for kv in f.items()) + "}")
print("return {" + ",".join(out) + "}")
block.close()
]==]

-- The same three views in Lua.
local function views(a)
  return { whole = a, step3 = a:view(1, -1, 3), back2 = a:view(1, -1, -2) }
end

local function isnan(x) return x ~= x end

-- Whether got matches want: integers exactly; floats to tol relative to the larger of them
-- and scale, NaN as NaN.
local function close(want, got, tol, scale)
  if isnan(want) or isnan(got) then return isnan(want) and isnan(got) end
  if want == got then return true end
  return math.abs(want - got) <= tol * math.max(math.abs(want), math.abs(got), scale or 0)
end

local scale = 0 -- set per dtype below

local function assert_close(want, got, tol, what)
  if type(want) == "table" then
    assert(type(got) == "table", what .. ": a table expected")
    assert(#want == #got, ("%s: %d values expected, got %d"):format(what, #want, #got))
    for i = 1, #want do
      assert(close(want[i], got[i], tol, scale), ("%s [%d]: %s expected, got %s"):format(what, i,
        tostring(want[i]), tostring(got[i])))
    end
  else
    assert(close(want, got, tol, scale), ("%s: %s expected, got %s"):format(what, tostring(want),
      tostring(got)))
  end
end

-- Whether NumPy is there; if not, the enclosing describe is marked pending.
local function numpy_available()
  local _, ok = H.sh(H.numpy_python .. " -c 'import numpy' 2>/dev/null")
  if not ok then pending("needs Debian's python3-numpy for " .. H.numpy_python) end
  return ok
end

describe("whole-array methods against NumPy on the same block", function()
  if not numpy_available() then return end
  local runs = {}
  for _, dtype in ipairs(dtypes) do
    runs[#runs + 1] = { dtype, false }
    if dtype:find("float") then runs[#runs + 1] = { dtype, true } end
  end
  for _, run in ipairs(runs) do
    local dtype, specials = run[1], run[2]
    -- 32- and 64-bit integers: sums and products wrap as NumPy's do, beyond 2^53 (#lua53)
    -- (int64: 5.3's math.random cannot draw over its whole range, #lua54)
    local wide = ({ int32 = " #lua53", uint32 = " #lua53", int64 = " #lua54",
      uint64 = " #lua53" })[dtype] or ""
    it(("agree for %s%s (contiguous, every 3rd, reversed every 2nd)%s"):format(dtype,
      specials and " with NaN and infinities" or "", wide), function()
      local n = 1000
      local name = H.name("aops")
      local m = assert(shm.create(n * sizes[dtype], name))
      finally(function() m:close(); m:unlink() end)
      local a = m:array(dtype)
      local original = random_values(dtype, n, specials)
      a:set(original)
      local out, ok = H.numpy(NUMPY, name, dtype, n)
      assert(ok, out)
      local want = H.load(out)()
      -- float32: NumPy sums, averages and accumulates in float32, shmlua in double
      -- (float32 running sums of values up to 5e4 may cancel: an absolute floor too)
      local tol = dtype == "float32" and 1e-4 or dtype == "float64" and 1e-9 or 0
      scale = dtype == "float32" and 1e5 or 0
      for key, v in pairs(views(a)) do
        a:set(original)
        local w = want[key]
        local what = dtype .. " " .. key .. " "
        assert_close(w.sum, v:sum(), tol, what .. "sum")
        assert_close(w.min, { v:min() }, tol, what .. "min")
        assert_close(w.max, { v:max() }, tol, what .. "max")
        assert_close(w.mean, v:mean(), dtype:find("int64") and 1e-9 or tol, what .. "mean")
        assert_close(w.dot, v:dot(v), tol, what .. "dot")
        assert.equal(w.count, v:count(w.probe), what .. "count")
        assert.equal(w.find, v:find(w.probe), what .. "find")
        local function fresh()
          a:set(original)
          return v
        end
        assert_close(w.sort, fresh():sort():totable(), 0, what .. "sort")
        assert_close(w.sortdesc, fresh():sort(true):totable(), 0, what .. "sort(true)")
        local sorted = fresh():sort()
        local got = {}
        for i, p in ipairs(w.probes) do got[i] = sorted:searchsorted(p) end
        assert.same(w.searchsorted, got, what .. "searchsorted")
        assert_close(w.clamp, fresh():clamp(w.lo, w.hi):totable(), 0, what .. "clamp")
        local ops = {
          abs = function(x) return x:abs() end,
          cumsum = function(x) return x:cumsum() end,
          cadd = function(x) return x:cadd(3) end,
          cmul = function(x) return x:cmul(2) end,
          csub = function(x) return x:csub(x:view(1, -1, -1)) end, -- overlaps itself
          cdiv = function(x) return x:cdiv(2) end,
          axpy = function(x) return x:axpy(2, x:view(1, -1, -1)) end,
          arange = function(x) return x:arange(5, 3) end,
        }
        for op, f in pairs(ops) do
          local before = fresh():totable()
          if w[op] == "error" then
            assert.has_error(function() f(v) end)
            assert_close(before, v:totable(), 0, what .. op .. " changed nothing")
          else
            assert.equal(v, f(v), what .. op .. " returns the view")
            assert_close(w[op], v:totable(), tol, what .. op)
          end
        end
      end
    end)
  end
end)

-- NumPy's argmin and argmax of each run of the block (count runs of n elements) and of its
-- views; the values are checked in Lua: they must be the elements at those positions.
local EXTREMES = [==[
import sys
import numpy as np
from multiprocessing import shared_memory, resource_tracker
name, dtype, n, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
block = shared_memory.SharedMemory(name=name)
resource_tracker.unregister(block._name, "shared_memory")  # Lua owns it (CPython gh-82300)
runs = np.ndarray((count, n), dtype=dtype, buffer=block.buf)
out = []
for a in runs:
    views = ("%s={%d,%d}" % (key, np.argmin(v) + 1, np.argmax(v) + 1)
             for key, v in (("whole", a), ("step3", a[::3]), ("back2", a[::-2])))
    out.append("{" + ",".join(views) + "}")
print("return {" + ",".join(out) + "}")
del runs
block.close()
]==]

-- The same number: NaN as NaN, and a zero's sign.
local function same_number(want, got)
  return close(want, got, 0) and (want ~= 0 or 1 / want == 1 / got)
end


-- Runs of 16 blocks of 4 KiB and more go through several memory streams (arrayops.c): sums,
-- dots, counts and means of such runs, each dtype and view, against NumPy.
describe("reductions over long runs against NumPy", function()
  if not numpy_available() then return end
  for _, dtype in ipairs(dtypes) do
    -- 32- and 64-bit integers: sums wrap beyond 2^53 (#lua53); int64 values need 5.4's
    -- math.random (#lua54)
    local wide = ({ int32 = " #lua53", uint32 = " #lua53", int64 = " #lua54",
      uint64 = " #lua53" })[dtype] or ""
    it("agree for " .. dtype .. " (70000 elements: contiguous, every 3rd, reversed every 2nd)"
      .. wide, function()
        local n = 70000
        local name = H.name("aops")
        local m = assert(shm.create(n * sizes[dtype], name))
        finally(function() m:close(); m:unlink() end)
        local a = m:array(dtype)
        a:set(random_values(dtype, n, false))
        local out, ok = H.numpy(NUMPY, name, dtype, n, "reductions")
        assert(ok, out)
        local want = H.load(out)()
        local tol = dtype == "float32" and 1e-4 or dtype == "float64" and 1e-9 or 0
        scale = dtype == "float32" and 1e5 or 0
        for key, v in pairs(views(a)) do
          local w, what = want[key], dtype .. " " .. key .. " "
          assert_close(w.sum, v:sum(), tol, what .. "sum")
          assert_close(w.mean, v:mean(), dtype:find("int64") and 1e-9 or tol, what .. "mean")
          assert_close(w.dot, v:dot(v), tol, what .. "dot")
          assert.equal(w.count, v:count(w.probe), what .. "count")
        end
      end)
  end
end)
describe("min and max over many blocks", function()
  if not numpy_available() then return end
  -- shmlua searches blocks of 4 KiB, in 4 parts of the run at once (core/arrayops.c): runs
  -- of 13 blocks with extremes, ties, NaNs, infinities and zeros of either sign at and
  -- around the boundaries (B: elements a block; the parts are 4 blocks long here).
  local function runs_of(dtype, B, n)
    local lim = limits[dtype]
    local lo, hi, mid = -3.5, 3.5, 1.5
    if lim then lo, hi, mid = lim[1], lim[2], 1 end
    local nan, inf = 0 / 0, math.huge
    local runs = {
      { mid, { [2 * B] = lo, [2 * B + 1] = lo, [4 * B] = lo, [4 * B + 1] = lo, [B] = hi,
        [B + 1] = hi, [3 * B] = hi, [3 * B + 1] = hi } }, -- ties across blocks and parts
      { mid, { [12 * B + 5] = lo, [9 * B + 1] = lo, [n] = lo, [7 * B] = hi, [n - 1] = hi } },
      { mid, { [1] = lo, [n] = lo, [n - 36] = hi } }, -- first, last, first of the last block
      { mid, { [5 * B - 1] = lo, [5 * B + 2] = lo, [3 * B] = lo, [10 * B] = lo,
        [8 * B + 1] = hi, [4 * B] = hi } },
    }
    if not lim then
      local floats = {
        { mid, { [3] = lo, [n] = nan } }, -- a NaN last
        { mid, { [1] = lo, [11 * B + 3] = nan, [6 * B + 1] = nan, [n - 1] = nan } },
        { mid, { [1] = nan, [math.floor(n / 2)] = nan } }, -- a NaN first
        { mid, { [4 * B + 1] = nan, [8 * B + 1] = nan } }, -- NaNs opening parts
        { mid, { [7 * B + 1] = -0.0, [2 * B] = 0.0, [11 * B] = -0.0, [2 * B - 2] = hi } },
        { -mid, { [9 * B] = 0.0, [5 * B + 1] = -0.0, [n] = 0.0, [B + 3] = lo } },
        { mid, { [2 * B + 5] = -0.0, [2 * B + 3] = 0.0, [2 * B + 4] = -0.0 } }, -- one block
        { mid, { [10 * B] = -inf, [8 * B + 2] = -inf, [12 * B + 9] = inf, [3 * B + 3] = inf } },
        { mid, { [5 * B] = inf, [9 * B + 7] = lo, [6 * B] = -inf, [6 * B + 1] = nan } },
        { mid, { [5 * B] = inf, [9 * B + 7] = lo, [2 * B] = hi } }, -- infinity not extreme
      }
      for _, r in ipairs(floats) do runs[#runs + 1] = r end
    end
    return runs
  end

  for _, dtype in ipairs(dtypes) do
    it("agree with NumPy's argmin and argmax for " .. dtype, function()
      local size = sizes[dtype]
      local B = math.floor(4096 / size)
      local n = 12 * B + 38
      local runs = runs_of(dtype, B, n)
      local name = H.name("aext")
      local m = assert(shm.create(#runs * n * size, name))
      finally(function() m:close(); m:unlink() end)
      local function run(i) return m:array(dtype, (i - 1) * n * size + 1, n) end
      for i, r in ipairs(runs) do
        local a = run(i)
        a:fill(r[1])
        for pos, value in pairs(r[2]) do a[pos] = value end
      end
      local out, ok = H.numpy(EXTREMES, name, dtype, n, #runs)
      assert(ok, out)
      local want = H.load(out)()
      for i = 1, #runs do
        for key, v in pairs(views(run(i))) do
          local what = ("%s run %d %s "):format(dtype, i, key)
          for j, method in ipairs({ "min", "max" }) do
            local value, pos = v[method](v)
            assert.equal(want[i][key][j], pos, what .. method .. " position")
            assert(same_number(v[pos], value), what .. method .. ": " .. tostring(value) ..
              " is not the element at " .. pos .. ", " .. tostring(v[pos]))
          end
        end
      end
    end)
  end
end)

describe("ranges (string.sub's rules)", function()
  it("reductions take i..j, negative from the end, clamped; an empty run", function()
    local m = H.block(80)
    local a = m:array("int64"):arange(1) -- 1..10
    assert.equal(55, a:sum())
    assert.equal(2 + 3 + 4, a:sum(2, 4))
    assert.equal(9 + 10, a:sum(-2))
    assert.equal(55, a:sum(-100, 100))
    assert.equal(0, a:sum(5, 4))
    assert.equal(0, a:sum(11))
    assert.same({ 3, 3 }, { a:min(3, 5) })
    assert.same({ 5, 5 }, { a:max(3, 5) })
    assert.same({}, { a:min(5, 4) })
    assert.equal(4.0, a:mean(3, 5))
    assert.is_true(isnan(a:mean(5, 4)))
    assert.equal(1, a:count(7, 5, 8))
    assert.equal(0, a:count(7, 1, 6))
    assert.equal(7, a:find(7))
    assert.is_nil(a:find(7, 8))
    assert.equal(7, a:find(7, -4))
    assert.is_nil(a:find(7, 11))
    m:close()
  end)

  it("views take i..j and a step; a negative step walks from j down to i", function()
    local m = H.block(80)
    local a = m:array("int64"):arange(1)
    assert.same({ 2, 4, 6 }, a:view(2, 7, 2):totable())
    assert.same({ 7, 5, 3 }, a:view(2, 7, -2):totable())
    assert.same({ 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 }, a:view(1, -1, -1):totable())
    assert.same({ 9, 10 }, a:view(-2):totable())
    assert.same({}, a:view(5, 4):totable())
    assert.same({ 1 }, a:view(1, -1, MAXINT):totable())
    assert.same({ 10 }, a:view(1, -1, MININT):totable())
    -- a view of a view of a view: {1, 3, 5, 7, 9}, then its 2nd and 5th, then both
    assert.same({ 9, 27 }, a:view(1, -1, 2):view(2, -1, 3):view(1, 3):cmul(3):totable())
    assert.same({ 1, 2, 9, 4, 5, 6, 7, 8, 27, 10 }, a:totable())
    m:close()
  end)
end)

describe("views share memory", function()
  it("writes through a strided view land in the parent, with every existing method", function()
    local m = H.block(80)
    local a = m:array("int64"):arange(1)
    local odd = a:view(1, -1, 2)
    odd[1] = 100
    odd:fill(0, 2, 3)
    assert.same({ 100, 2, 0, 4, 0, 6, 7, 8, 9, 10 }, a:totable())
    odd:set({ -1, -2 }, 4)
    assert.same({ 100, 2, 0, 4, 0, 6, -1, 8, -2, 10 }, a:totable())
    a:view(1, -1, -1):copy(m:array("int32", 1, 2)) -- copy from an overlapping view
    assert.equal(100, a[-1])
    assert.equal(0, odd:add(2, 5)) -- atomics on a strided view
    assert.equal(5, a[3])
    assert.equal("shm.array: int64[5] {100, 5, 0, -1, 0}", tostring(odd))
    m:close()
  end)

  it("reshape gives rows and strided columns; shape", function()
    local m = H.block(48)
    local a = m:array("float64"):arange(1) -- 1..6
    local g = a:reshape(2, 3)
    assert.same({ 2, 3 }, g.shape)
    assert.same({ 6 }, a.shape)
    assert.same({ 4, 5, 6 }, g:row(2):totable())
    assert.same({ 1, 2, 3 }, g:row(-2):totable())
    assert.same({ 2, 5 }, g:col(2):totable())
    g:col(3):cmul(10)
    assert.same({ 1, 2, 30, 4, 5, 60 }, a:totable())
    assert.equal(1 * 1 + 4 * 4, g:col(1):dot(g:col(1)))
    local back = a:view(1, -1, -1):reshape(3, 2) -- 2-D over a reversed view
    assert.same({ 60, 5 }, back:row(1):totable())
    assert.same({ 5, 30, 1 }, back:col(2):totable())
    assert.equal(6, #g)
    m:close()
  end)

  it("keeps the block alive after the parent view is gone", function()
    local m = H.block(80)
    local v = m:array("int64"):arange(1):view(1, -1, 2)
    collectgarbage()
    collectgarbage()
    assert.same({ 1, 3, 5, 7, 9 }, v:totable())
    m:close()
  end)
end)

describe("in-place results that do not fit", function()
  it("raise and change nothing, for every narrow integer dtype", function()
    local m = H.block(16)
    local a = m:array("int8", 1, 4)
    a:set({ 101, 2, 100, -128 })
    assert.error_matches(function() a:cadd(28) end, "int8 value out of range %(%-128%.%.127%): 129")
    assert.error_matches(function() a:abs() end, "out of range")
    assert.error_matches(function() a:cdiv(2) end, "must be an integer")
    assert.error_matches(function() a:cmul(1.5) end, "must be an integer")
    assert.error_matches(function() a:cumsum() end, "out of range")
    assert.same({ 101, 2, 100, -128 }, a:totable())
    local u = m:array("uint16", 9, 4)
    u:set({ 0, 1, 2, 3 })
    assert.error_matches(function() u:csub(1) end, "uint16 value out of range")
    assert.same({ 0, 1, 2, 3 }, u:totable())
    assert.same({ 0, 2, 4, 6 }, u:cmul(2.0):totable()) -- an integral float is fine
    m:close()
  end)

  local wraps = math.maxinteger and it or pending -- integers that wrap: Lua 5.3+
  wraps("int64 wraps as Lua integers do; uint64 keeps its bits", function()
    local m = H.block(32)
    local a = m:array("int64", 1, 2)
    a:set({ math.maxinteger, math.mininteger })
    a:cadd(1)
    assert.same({ math.mininteger, math.mininteger + 1 }, a:totable())
    a:set({ math.mininteger, -5 })
    assert.same({ math.mininteger, 5 }, a:abs():totable()) -- as math.abs
    assert.equal(math.mininteger + 5, a:sum())
    local u = m:array("uint64", 17, 2)
    u:set({ -1, 1 })
    assert.equal(0, u:sum())
    assert.same({ -2, 0 }, u:csub(1):totable())
    m:close()
  end)
end)

describe("sorting", function()
  it("puts NaN last both ways and sorts strided views in place", function()
    local m = H.block(64)
    local a = m:array("float64")
    a:set({ 3, 0 / 0, -1, math.huge, 0 / 0, -math.huge, 2, 1 })
    local s = a:sort():totable()
    assert.same({ -math.huge, -1, 1, 2, 3, math.huge }, { table.unpack(s, 1, 6) })
    assert.is_true(isnan(s[7]) and isnan(s[8]))
    s = a:sort(true):totable()
    assert.same({ math.huge, 3, 2, 1, -1, -math.huge }, { table.unpack(s, 1, 6) })
    assert.is_true(isnan(s[7]) and isnan(s[8]))
    a:set({ 8, 7, 6, 5, 4, 3, 2, 1 })
    a:view(1, -1, 2):sort()
    assert.same({ 2, 7, 4, 5, 6, 3, 8, 1 }, a:totable())
    assert.equal(a, a:reverse())
    assert.same({ 1, 8, 3, 6, 5, 4, 7, 2 }, a:totable())
    assert.equal(4, a:view(1, -1, 2):sort():searchsorted(7))
    m:close()
  end)

  it("sorts long runs: few distinct keys, sorted, reversed, organ pipe", function()
    local n = 100000
    local m = H.block(4 * n)
    local a = m:array("int32")
    local function sorted_and_kept(count3, sum)
      for i = 2, n do
        if a[i - 1] > a[i] then error(("not sorted at %d"):format(i)) end
      end
      assert.equal(count3, a:count(3))
      assert.equal(sum, a:sum())
    end
    for i = 1, n do a[i] = math.random(1, 4) end
    local c3, s = a:count(3), a:sum()
    a:sort()
    sorted_and_kept(c3, s)
    a:sort() -- already sorted
    sorted_and_kept(c3, s)
    a:arange(n, -1):sort()
    assert.same({ 1, 2, 3 }, a:view(1, 3):totable())
    a:view(1, 50000):arange(1)
    a:view(50001):arange(50000, -1) -- up then down
    c3, s = a:count(3), a:sum()
    a:sort()
    sorted_and_kept(c3, s)
    m:close()
  end)
end)

describe("errors", function()
  local methods = { "sum", "min", "max", "mean", "dot", "count", "find", "searchsorted",
    "cadd", "csub", "cmul", "cdiv", "axpy", "clamp", "abs", "cumsum", "arange", "sort",
    "reverse", "view", "reshape", "row", "col" }
  local args = { dot = "self", count = 1, find = 1, searchsorted = 1, cadd = 1, csub = 1,
    cmul = 1, cdiv = 1, axpy = 1, clamp = 0, arange = 0, reshape = 2, row = 1, col = 1 }

  local function call(a, method)
    if method == "dot" then return a:dot(a) end
    if method == "axpy" then return a:axpy(1, a) end
    if method == "clamp" then return a:clamp(0, 1) end
    if method == "reshape" then return a:reshape(2, 2) end
    if method == "row" or method == "col" then
      local g = a:reshape(2, 2)
      return g[method](g, 1)
    end
    return a[method](a, args[method])
  end

  it("every method raises on a closed block", function()
    local m = H.block(32)
    local a = m:array("int64")
    m:close()
    for _, method in ipairs(methods) do
      assert.error_matches(function() call(a, method) end, "is closed", nil, nil, method)
    end
    assert.error_matches(function() shm.parallel(2, a, print) end, "is closed")
  end)

  it("writes raise on a read-only block; reads work", function()
    local m = assert(shm.create(32, H.name("aops_ro")))
    finally(function() m:close(); m:unlink() end)
    m:array("int64"):arange(1)
    local ro = assert(shm.attach(m.name, { readonly = true }))
    local a = ro:array("int64")
    for _, method in ipairs({ "cadd", "csub", "cmul", "cdiv", "axpy", "clamp", "abs",
      "cumsum", "arange", "sort", "reverse" }) do
      assert.error_matches(function() call(a, method) end, "is read%-only", nil, nil, method)
    end
    assert.equal(10, a:sum())
    assert.equal(30, a:dot(a))
    assert.same({ 4, 2 }, a:view(1, -1, -2):totable())
    assert.same({ 3, 4 }, a:reshape(2, 2):row(2):totable())
    m:array("int64"):cadd(a) -- a read-only view is a fine operand
    assert.same({ 2, 4, 6, 8 }, m:array("int64"):totable())
    ro:close()
    m:close()
  end)

  it("bad arguments name the problem", function()
    local m = H.block(32)
    local a, b = m:array("int64"), m:array("int32")
    assert.error_matches(function() a:dot(b) end, "lengths differ %(4 and 8%)")
    assert.error_matches(function() a:cadd(b) end, "lengths differ")
    assert.error_matches(function() a:cadd("1") end, "shm.array expected")
    assert.error_matches(function() a:cadd({}) end, "shm.array expected")
    assert.error_matches(function() a:axpy(1) end, "shm.array expected")
    assert.error_matches(function() a:axpy("x", a) end, "must be a number")
    assert.error_matches(function() a:count("1") end, "must be a number")
    assert.error_matches(function() a:clamp(2, 1) end, "must be >= lo")
    assert.error_matches(function() a:clamp(0, 2 ^ 70) end,
      H.native_integers and "must be an integer" or "beyond 2^53")
    assert.error_matches(function() m:array("float64"):clamp(0, 0 / 0) end, "not NaN")
    assert.error_matches(function() a:view(1, 2, 0) end, "step must not be 0")
    assert.error_matches(function() a:view(1.5) end, "number has no integer representation")
    assert.error_matches(function() a:reshape(3, 2) end, "cannot reshape 4 elements as 3 x 2")
    assert.error_matches(function() a:reshape(4, 0) end, "cols must be >= 1")
    assert.error_matches(function() a:row(1) end, "not a 2%-D view")
    assert.error_matches(function() a:reshape(2, 2):row(3) end, "index 3 out of range %(1%.%.2%)")
    assert.error_matches(function() a:reshape(2, 2):col(-3) end, "out of range")
    assert.error_matches(function() a.sum({}) end, "shm.array expected")
    assert.error_matches(function() shm.parallel(0, a, print) end, "at least 1")
    assert.error_matches(function() shm.parallel(2, a, 1) end, "function expected")
    assert.equal(0, a:count(0.5)) -- no int64 equals it
    assert.equal(0, m:array("float32"):count(0.1)) -- no float32 is 0.1
    assert.equal(8, m:array("float32"):count(0))
    if math.maxinteger then -- 2^53 + 1 is an integer no float64 holds (Lua 5.3+)
      local f = m:array("float64")
      f[1] = 2 ^ 53
      assert.equal(1, f:count(2 ^ 53))
      assert.equal(0, f:count(9007199254740993))
      assert.is_nil(f:find(9007199254740993))
    end
    m:close()
  end)
end)

describe("shm.parallel", function()
  it("runs fn on n contiguous chunks in forked workers; results in order", function()
    local m = H.block(8 * 1003)
    local a = m:array("float64"):arange(1)
    local sums = shm.parallel(3, a, function(chunk)
      chunk:cmul(2) -- the workers write into the shared block
      return chunk:sum(), #chunk, chunk[1]
    end)
    assert.equal(3, #sums)
    local total = 0
    for _, s in ipairs(sums) do total = total + s end
    assert.equal(1003 * 1004, total)
    assert.equal(2 * 1003 * 1004 / 2, a:sum())
    local firsts = shm.parallel(3, a:view(1, -1, -1), function(c) return c[1] end)
    assert.same({ 2006, 2006 - 2 * 335, 2006 - 4 * 335 + 2, n = 3 }, firsts)
    assert.same({ 1, 1, n = 2 }, shm.parallel(5, a:view(1, 2), function(c) return #c end))
    m:close()
  end)

  it("raises when a worker is killed (kill -9), naming its chunk", function()
    local m = H.block(64)
    local a = m:array("int64"):arange(1)
    assert.error_matches(function()
      shm.parallel(2, a, function(c)
        if c[1] == 5 then os.execute("kill -9 $PPID") end -- the shell's parent: this worker
        return c:sum()
      end)
    end, "inputs #2%.%.#2: the worker was killed by signal 9")
    assert.equal(36, a:sum()) -- the block is fine
    m:close()
  end)

  it("raises with the failing chunk's error", function()
    local m = H.block(64)
    local a = m:array("int64")
    assert.error_matches(function()
      shm.parallel(2, a, function(c) if c[1] == 0 and #c == 4 then error("boom") end end)
    end, "boom")
    m:close()
  end)
end)
