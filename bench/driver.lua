-- Runs the benchmarks of bench/ops.lua and prints one table: shmlua, Python 3 and C time
-- per operation (and the Lua floor for element access), with ratios against the targets.
-- Every figure is the median of several runs; within a run each operation's sides run one
-- after the other (in a rotating order), so machine drift hits all of them alike. Each side
-- is a fresh process that times only the operation itself and prints "ns_per_op check".
--
-- lua5.4 bench/driver.lua --build DIR [--runs N] [--smoke] [--only PATTERN[,PATTERN]]
--                         [--json PATH] [--png PATH] [--md PATH]
-- --md also writes the table (and the memory table) as Markdown, for docs/performance.md.
local root = arg[0]:match("^(.*)/bench/driver%.lua$") or "."
package.path = root .. "/bench/?.lua;" .. package.path
local ops = require "ops"

local opts = { runs = 7, build = root .. "/build-bench" }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--smoke" then
      opts.smoke = true
    elseif a:match("^%-%-%a+$") and arg[i + 1] then
      opts[a:sub(3)] = arg[i + 1]
      i = i + 1
    else
      io.stderr:write("driver.lua: unknown argument ", a, "\n")
      os.exit(2)
    end
    i = i + 1
  end
  opts.runs = opts.smoke and 1 or math.tointeger(tonumber(opts.runs))
  assert(opts.runs and opts.runs >= 1, "--runs must be a positive integer")
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function shell(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end

local build = opts.build
local interpreter = build .. "/shmlua" -- what shm.run starts, and the C side too
local sides = {
  lua = ("SHMLUA_EXE=%s LUA_CPATH=%s lua5.4 %s"):format(quote(interpreter),
    quote(build .. "/?.so;" .. build .. "/bench/?.so;;"), quote(root .. "/bench/lua/bench.lua")),
  python = "python3 " .. quote(root .. "/bench/python/bench.py"),
  c = quote(build .. "/bench/shmlua_cbench"),
}
-- The whole-array rows' Python side: NumPy, which Debian installs for /usr/bin/python3 only.
sides.numpy = "/usr/bin/python3 " .. quote(root .. "/bench/python/numpy_bench.py")
sides.floor, sides.probe = sides.lua, sides.lua
local order = { "lua", "python", "c", "floor", "probe" }

-- A script that exits with 7, for the start+wait rows; and what runs it.
local script = os.tmpname()
do
  local f = assert(io.open(script, "w"))
  f:write("os.exit(7)\n")
  f:close()
end

local function size_of(op) return opts.smoke and (op.smoke_size or op.size) or op.size end
local function n_of(op) return opts.smoke and op.smoke or op.n end

-- Which operation of a side a row runs (nil: the side has none).
local function impl(op, side)
  if side == "floor" or side == "probe" then return op[side] and side .. "_" .. op.id or nil end
  local name = op.impls and op.impls[side]
  if name == false then return nil end
  return name or op.id
end

local failures = {}

-- Runs one side once: its ns per op, or nil and "FAIL" (the reason goes to failures).
local function measure(op, side)
  local name = impl(op, side)
  local n, size = n_of(op), size_of(op) or 0
  local extra = ""
  if op.id == "spawn_script" then
    extra = side == "c" and quote(interpreter) .. " " .. quote(script) or quote(script)
  end
  local cmd = ("SHMLUA_BENCH_CLOCK=%s %s %s %s %d %d %s 2>&1"):format(op.wall and "wall" or "cpu",
    op.env and op.env[side] or "", sides[op.runners and op.runners[side] or side], name, n,
    size, extra)
  local out, ok, code = shell(cmd)
  local ns, check = out:match("([%d.]+) (%-?%d+)%s*$")
  local want = (side == "probe" and op.probe_expect or op.expect)(n, size)
  if not ok or not ns then
    failures[#failures + 1] = ("%s/%s failed (%s): %s"):format(op.id, side, tostring(code), out)
    return nil, "FAIL"
  end
  if math.tointeger(tonumber(check)) ~= want then
    failures[#failures + 1] = ("%s/%s: check %s, expected %d"):format(op.id, side, check, want)
    return nil, "FAIL"
  end
  local paired = {}
  for other, paired_ns in out:gmatch("paired (%a+) ([%d.]+)") do paired[other] = tonumber(paired_ns) end
  return tonumber(ns), nil, paired
end

local function median(xs)
  if #xs == 0 then return nil end
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  local m = #s // 2
  return #s % 2 == 1 and s[m + 1] or (s[m] + s[m + 1]) / 2
end

-- --only takes Lua patterns separated by commas.
local function chosen(id)
  if not opts.only then return true end
  for pattern in opts.only:gmatch("[^,]+") do
    if id:match(pattern) then return true end
  end
  return false
end

local selected = {}
for _, op in ipairs(ops) do
  if chosen(op.id) then selected[#selected + 1] = op end
end

-- results[id][side] = { times..., status = "FAIL" once a run failed }
local results = {}
local t_start = os.time()
local function loadavg()
  local f = io.open("/proc/loadavg")
  if not f then return nil end
  local line = f:read("l")
  f:close()
  return line:match("^(%S+ %S+ %S+)")
end
local load_start = loadavg()
for run = 1, opts.runs do
  io.stderr:write(("run %d/%d\n"):format(run, opts.runs))
  for k, op in ipairs(selected) do
    results[op.id] = results[op.id] or {}
    for j = 0, #order - 1 do
      local side = order[(j + run + k) % #order + 1]
      if impl(op, side) then
        local r = results[op.id][side] or {}
        results[op.id][side] = r
        if not r.status then
          local ns, status, paired = measure(op, side)
          if ns then r[#r + 1] = ns else r.status = status end
          -- another side timed in the same processes (a paired row's floors)
          for other, paired_ns in pairs(paired or {}) do
            local o = results[op.id][other] or {}
            results[op.id][other] = o
            o[#o + 1] = paired_ns
          end
        end
      end
    end
  end
end
os.remove(script)

-- The memory stages of operation 9, once per side.
local memory = {}
local gib = opts.smoke and 16 * 1024 * 1024 or 1024 * 1024 * 1024
for _, side in ipairs({ "lua", "python", "c" }) do
  if chosen("memory") then
    local out, ok = shell(("%s memory 1 %d 2>&1"):format(sides[side], gib))
    local stages = {}
    for what, rss, shmem, obj in out:gmatch("stage%s+(%a+)%s+(%d+)%s+(%d+)%s+(%S+)") do
      stages[#stages + 1] = { stage = what, rss_kib = tonumber(rss), rss_shmem_kib = tonumber(shmem),
        object_kib = tonumber(obj) }
    end
    local check = out:match("(%-?%d+)%s*$")
    if not ok or #stages ~= 6 or tonumber(check) ~= gib // 4096 then
      failures[#failures + 1] = ("memory/%s failed: %s"):format(side, out)
    end
    memory[side] = stages
  end
end

-- Formatting.
local function human(ns)
  if not ns then return "" end
  if ns < 1e3 then return ("%.1f ns"):format(ns) end
  if ns < 1e6 then return ("%.2f us"):format(ns / 1e3) end
  if ns < 1e9 then return ("%.2f ms"):format(ns / 1e6) end
  return ("%.2f s"):format(ns / 1e9)
end

local rows, all_met = {}, true
for _, op in ipairs(selected) do
  local r = results[op.id]
  local med = {}
  for _, side in ipairs(order) do
    if r[side] then med[side] = not r[side].status and median(r[side]) or nil end
  end
  local row = { op = op, median = med, ratio = {}, verdicts = {} }
  for _, side in ipairs({ "python", "c", "floor", "probe" }) do
    if med.lua and med[side] then row.ratio[side] = med.lua / med[side] end
  end
  for _, t in ipairs(op.targets or {}) do
    local ratio = row.ratio[t.vs]
    local met = ratio and ratio <= t.max
    if ratio and not met then all_met = false end
    row.verdicts[#row.verdicts + 1] = { vs = t.vs, name = t.name, max = t.max, ratio = ratio,
      met = met }
  end
  rows[#rows + 1] = row
end

local function cell(side, row)
  local r = results[row.op.id][side]
  if not r then return "" end
  if r.status then return r.status end
  local s = human(row.median[side])
  if row.op.unit == "copy" and row.median[side] then
    s = s .. (" %.1fGB/s"):format(size_of(row.op) / row.median[side])
  end
  return s
end

local function ratio_text(x) return x and ("%.2f"):format(x) or "" end

local function verdict_text(row)
  local parts = {}
  for _, v in ipairs(row.verdicts) do
    local limit = v.max == 1 / 0.9 and "1/0.9" or v.max == 1 / 0.8 and "1/0.8" or
      ("%g"):format(v.max)
    parts[#parts + 1] = ("%s<=%s %s"):format(v.name or v.vs == "python" and "Py" or
      v.vs == "c" and "C" or "floor", limit, v.ratio == nil and "?" or v.met and "ok" or "MISSED")
  end
  return table.concat(parts, ", ")
end

-- How far apart a side's runs were: slowest / fastest ("" with fewer than two runs).
local function spread(row, side)
  local r = results[row.op.id][side]
  if not r or r.status or #r < 2 then return "" end
  return ("%.2f"):format(math.max(table.unpack(r)) / math.min(table.unpack(r)))
end

local header = { "operation", "shmlua", "Python", "C", "Lua table", "C __index", "/Py", "/C",
  "/table", "/__index", "spread", "targets" }
local lines = {}
for _, row in ipairs(rows) do
  local compared = row.op.targets and row.op.targets[#row.op.targets]
  local spreads = spread(row, "lua")
  if compared and spread(row, compared.vs) ~= "" then
    spreads = spreads .. " / " .. spread(row, compared.vs)
  end
  lines[#lines + 1] = { row.op.label, cell("lua", row), cell("python", row), cell("c", row),
    cell("floor", row), cell("probe", row), ratio_text(row.ratio.python), ratio_text(row.ratio.c),
    ratio_text(row.ratio.floor), ratio_text(row.ratio.probe), spreads, verdict_text(row) }
end
local widths = {}
for i, h in ipairs(header) do
  widths[i] = utf8.len(h)
  for _, l in ipairs(lines) do widths[i] = math.max(widths[i], utf8.len(l[i])) end
end
local function emit(cols)
  local out = {}
  for i, c in ipairs(cols) do
    out[i] = c .. (" "):rep(widths[i] - utf8.len(c))
  end
  print((table.concat(out, "  "):gsub("%s+$", "")))
end
print(("shmlua benchmarks: median of %d run%s, time per operation (element, copy, round "
  .. "trip, message or process); ratios are shmlua / other.\n\"Lua table\": the same loop "
  .. "over a plain table; \"C __index\": through a C metamethod that does nothing.\n"
  .. "spread: slowest / fastest run of shmlua, then of the side its last target compares "
  .. "with."):format(opts.runs, opts.runs == 1 and "" or "s"))
emit(header)
for _, l in ipairs(lines) do emit(l) end
local markdown = { "| " .. table.concat(header, " | ") .. " |",
  "|" .. ("---|"):rep(#header) }
for _, l in ipairs(lines) do markdown[#markdown + 1] = "| " .. table.concat(l, " | ") .. " |" end
for _, row in ipairs(rows) do
  if row.op.why then print(("  %s: %s"):format(row.op.id, row.op.why)) end
end
-- How noisy the run was: per side, the median over operations of max/min across runs.
local spreads = {}
if opts.runs > 1 then
  local parts = {}
  for _, side in ipairs({ "lua", "python", "c" }) do
    local xs = {}
    for _, row in ipairs(rows) do
      local r = results[row.op.id][side]
      if r and not r.status and #r > 1 then
        local lo, hi = math.min(table.unpack(r)), math.max(table.unpack(r))
        xs[#xs + 1] = hi / lo
      end
    end
    spreads[side] = median(xs)
    if spreads[side] then parts[#parts + 1] = ("%s %.2f"):format(side, spreads[side]) end
  end
  print("noise (median over operations of slowest/fastest run): " .. table.concat(parts, ", "))
end

if next(memory) then
  print(("\nmemory of one %d MiB block, KiB: VmRSS / RssShmem of the process, and tmpfs "
    .. "storage of the object"):format(gib // (1024 * 1024)))
  local stage_names = { "start", "create", "attach", "touch", "read", "close" }
  local what = { start = "before", create = "after create", attach = "after a 2nd attach",
    touch = "after writing 1 byte per page", read = "after reading each page via the 2nd map",
    close = "after close + unlink" }
  print(("%-40s %-28s %-28s %-28s"):format("stage", "shmlua", "Python", "C"))
  for i, s in ipairs(stage_names) do
    local cols = {}
    for j, side in ipairs({ "lua", "python", "c" }) do
      local st = memory[side] and memory[side][i]
      cols[j] = st and ("%d / %d / %s"):format(st.rss_kib, st.rss_shmem_kib,
        st.object_kib or "-") or ""
    end
    print(("%-40s %-28s %-28s %-28s"):format(what[s], cols[1], cols[2], cols[3]))
    if i == 1 then
      markdown[#markdown + 1] = "\n| stage (KiB: VmRSS / RssShmem / object) | shmlua | Python | C |"
      markdown[#markdown + 1] = "|---|---|---|---|"
    end
    markdown[#markdown + 1] = ("| %s | %s | %s | %s |"):format(what[s], cols[1], cols[2], cols[3])
  end
end

-- JSON, written by hand: numbers, strings and tables of them are all it has to hold.
local function json(v, indent)
  indent = indent or ""
  local t = type(v)
  if t == "nil" then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return math.type(v) == "integer" and tostring(v) or ("%.6g"):format(v)
  end
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return ("\\u%04x"):format(c:byte())
    end) .. '"'
  end
  local inner, parts = indent .. "  ", {}
  if #v > 0 or next(v) == nil then
    for _, x in ipairs(v) do parts[#parts + 1] = inner .. json(x, inner) end
    return "[\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = inner .. json(k) .. ": " .. json(v[k], inner) end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

local function first_line(cmd)
  local out = shell(cmd .. " 2>/dev/null")
  return (out:match("[^\n]*"))
end

local machine = {
  nproc = tonumber(first_line("nproc")),
  cpu = first_line("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'"),
  kernel = first_line("uname -r"),
  lua = first_line("lua5.4 -v"):match("^Lua %S+") or _VERSION,
  python = first_line("python3 --version"),
  load_start = load_start,
  load_end = loadavg(),
}

local doc = { machine = machine, runs = opts.runs, smoke = opts.smoke or false, spread = spreads,
  seconds = os.time() - t_start, operations = {}, memory = memory, all_targets_met = all_met }
for _, row in ipairs(rows) do
  local e = { id = row.op.id, label = row.op.label, n = n_of(row.op), size = size_of(row.op),
    note = row.op.why,
    unit = row.op.unit or "operation", ns = {}, runs_ns = {}, ratio = row.ratio,
    targets = row.verdicts }
  for side, r in pairs(results[row.op.id]) do
    e.ns[side] = row.median[side]
    e.runs_ns[side] = r.status and r.status or r
  end
  doc.operations[#doc.operations + 1] = e
end

local json_path = opts.json or (root .. "/bench/results/" ..
  (opts.smoke and "smoke" or os.date("!%Y%m%dT%H%M%SZ")) .. ".json")
do
  local f = assert(io.open(json_path, "w"))
  f:write(json(doc), "\n")
  f:close()
  print("\nresults: " .. json_path)
end

if opts.md then
  local f = assert(io.open(opts.md, "w"))
  f:write(table.concat(markdown, "\n"), "\n")
  f:close()
end

-- The chart: shmlua's ratios per operation (log scale), when gnuplot is there.
if shell("command -v gnuplot >/dev/null 2>&1 && echo yes"):match("yes") then
  local png = opts.png or json_path:gsub("%.json$", "") .. ".png"
  local data, series, has = os.tmpname(), {}, {}
  for _, row in ipairs(rows) do
    for c, side in ipairs({ "python", "c", "floor", "probe" }) do
      if row.ratio[side] then has[c] = true end
    end
  end
  for c = 1, 4 do
    if has[c] then series[#series + 1] = tostring(c + 1) end
  end
  local f = assert(io.open(data, "w"))
  for _, row in ipairs(rows) do
    f:write(('"%s" %s %s %s %s\n'):format(row.op.id, row.ratio.python or "NaN",
      row.ratio.c or "NaN", row.ratio.floor or "NaN", row.ratio.probe or "NaN"))
  end
  f:close()
  local _, ok = shell(("gnuplot -e %s %s 2>&1"):format(
    quote(("data='%s'; out='%s'; series='%s'"):format(data, png, table.concat(series, " "))),
    quote(root .. "/bench/chart.gp")))
  os.remove(data)
  print(ok and ("chart: " .. png) or "chart: gnuplot failed")
end

if #failures > 0 then
  io.stderr:write("\nFAILED checks:\n", table.concat(failures, "\n"), "\n")
  os.exit(1)
end
print(all_met and "all checks passed; all measured targets met"
  or "all checks passed; some targets MISSED (see the table)")
