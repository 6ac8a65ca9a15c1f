-- The bad-input walker (used by spec/badinput_spec.lua). It finds every public function and
-- method of the live shm module and calls each with wrong arguments. It runs inside a child
-- process, one per function, so a crash is a signal the spec sees, not the runner dying:
--   lua5.4 badinput.lua list          -> "F <id>" per callable, "M <class>" per class without
--                                        fixtures
--   lua5.4 badinput.lua walk <id> <k> -> walks <id> from call k on; prints "PREFIX <p>" (of
--                                        the names it makes), "C <k>" before call k, "BAD <k>
--                                        <why>" for a wrong answer, then "FD <before> <after>"
--                                        (and "FDLIST" if they differ) and "DONE <calls>"
--   lua5.4 badinput.lua describe <id> <k> -> what call k of <id> is
-- Data-driven: a function or class added to the module is walked without touching this file;
-- a new class only needs a fixture (how to make one open, closed and read-only).
local shm = require "shm"

local W = {}

local prefix = ("badin_%d_"):format(math.random(1, 1e9))
local counter = 0

-- Per-call context: fresh objects, all released after the call.
local Ctx = {}
Ctx.__index = Ctx

function Ctx:name()
  counter = counter + 1
  local n = prefix .. counter
  self.names[#self.names + 1] = n
  return n
end

-- Remembers obj for release after the call: release(obj) if given, else obj:close().
function Ctx:track(obj, release)
  self.objects[#self.objects + 1] = { obj, release or function(o) o:close() end }
  return obj
end

-- A fresh open block of 64 bytes with a name of ours.
function Ctx:block(size)
  return self:track(assert(shm.create(size or 64, self:name())))
end

function Ctx:list(values)
  local l = assert(shm.list(values or { 1, 2.5, true, "abc", shm.null }, self:name()))
  return self:track(l)
end

-- A new synchronization object of kind ("mutex", ...) with args before its name.
function Ctx:sync(kind, ...)
  local args = table.pack(...)
  args[args.n + 1] = self:name()
  return self:track(assert(shm[kind](table.unpack(args, 1, args.n + 1))))
end

function Ctx:queue(opts)
  opts = opts or { messages = 4, bytes = 256 }
  opts.name = self:name()
  return self:track(assert(shm.queue(opts)))
end

function Ctx:dict()
  return self:track(assert(shm.dict { bytes = 4096, name = self:name() }))
end

-- A started program, killed and reaped after the call.
function Ctx:process(...)
  return self:track(assert(shm.exec(...)), function(h)
    h:kill("KILL")
    h:wait()
  end)
end

function Ctx:release()
  for i = #self.objects, 1, -1 do
    pcall(self.objects[i][2], self.objects[i][1])
  end
  for _, n in ipairs(self.names) do pcall(shm.remove, n) end
end

local function newctx()
  return setmetatable({ names = {}, objects = {} }, Ctx)
end

-- How to make objects of each class: a list of {state, maker(ctx)}. Every method is walked on
-- each state; list the open, closed and read-only states the class has (and variants that take
-- other code paths, such as the dtypes of an array).
local function rowblock(c)
  return c:track(assert(shm.attach(c:block().name, { readonly = true })))
end

local function closedblock(c)
  local b = c:block()
  b:close()
  return b
end

-- Process handles are slow to make (under ASan above all): one per state is kept across
-- calls while it is still in that state (a call may kill it, or release it through __gc).
local kept = {}
local function shared(state, make, still)
  local h = kept[state]
  if h == nil or not still(h) then
    h = make()
    kept[state] = h
  end
  return h
end

local function release_kept()
  for _, h in pairs(kept) do
    pcall(h.kill, h, "KILL")
    pcall(h.wait, h)
  end
  kept = {}
end

local function exited()
  local h = assert(shm.exec("true"))
  h:wait()
  return h
end

local function closesync(o)
  o:close()
  return o
end

local function arrays(states, dtypes)
  for _, t in ipairs(dtypes) do
    states[#states + 1] = { "open " .. t, function(c) return c:block():array(t) end }
  end
  states[#states + 1] = { "closed", function(c)
    local b = c:block()
    local a = b:array("int32")
    b:close()
    return a
  end }
  states[#states + 1] = { "readonly", function(c) return rowblock(c):array("int32") end }
  states[#states + 1] = { "empty", function(c) return c:block():array("int64", 65, 0) end }
  return states
end

W.fixtures = {
  ["shm.block"] = {
    { "open", function(c) return c:block() end },
    { "closed", closedblock },
    { "readonly", rowblock },
  },
  ["shm.buf"] = {
    { "open", function(c) return c:block().buf end },
    { "closed", function(c) return closedblock(c).buf end },
    { "readonly", function(c) return rowblock(c).buf end },
  },
  ["shm.array"] = arrays({}, { "int32", "uint64", "float64", "uint8" }),
  ["shm.list"] = {
    { "open", function(c) return c:list() end },
    { "closed", function(c)
      local l = c:list()
      l:close()
      return l
    end },
    { "readonly", function(c)
      return c:track(assert(shm.list.attach(c:list().name, { readonly = true })))
    end },
    { "empty", function(c) return c:list({}) end },
  },
  ["shm.null"] = { { "the value", function() return shm.null end } },
  ["shm.blocks entry"] = {
    { "a block's", function(c)
      local name = c:block().name
      for _, entry in ipairs(assert(shm.blocks())) do
        if entry.name == name then return entry end
      end
    end },
  },
  ["shm.mutex"] = {
    { "open", function(c) return c:sync("mutex") end },
    { "locked here", function(c)
      local m = c:sync("mutex")
      assert(m:lock())
      return m
    end },
    { "closed", function(c) return closesync(c:sync("mutex")) end },
  },
  ["shm.guard"] = {
    { "locked", function(c) return c:track(c:sync("mutex"):guard(), function(g) g:release() end) end },
    { "released", function(c)
      local g = c:sync("mutex"):guard()
      g:release()
      return g
    end },
  },
  ["shm.semaphore"] = {
    { "open", function(c) return c:sync("semaphore", 1) end },
    { "zero", function(c) return c:sync("semaphore", 0) end },
    { "closed", function(c) return closesync(c:sync("semaphore", 1)) end },
  },
  ["shm.barrier"] = {
    { "two parties", function(c) return c:sync("barrier", 2) end },
    { "one party", function(c) return c:sync("barrier", 1) end },
    { "closed", function(c) return closesync(c:sync("barrier", 2)) end },
  },
  ["shm.event"] = {
    { "clear", function(c) return c:sync("event") end },
    { "set", function(c)
      local e = c:sync("event")
      e:set()
      return e
    end },
    { "closed", function(c) return closesync(c:sync("event")) end },
  },
  ["shm.cond"] = {
    { "mutex free", function(c) return c:sync("cond", c:sync("mutex")) end },
    { "mutex held", function(c)
      local m = c:sync("mutex")
      assert(m:lock())
      return c:sync("cond", m)
    end },
    { "closed", function(c) return closesync(c:sync("cond", c:sync("mutex"))) end },
  },
  ["shm.queue"] = {
    { "empty", function(c) return c:queue() end },
    { "holding one", function(c)
      local q = c:queue()
      assert(q:push("abc"))
      return q
    end },
    { "full", function(c)
      local q = c:queue({ messages = 1, bytes = 64 })
      assert(q:push("abc"))
      return q
    end },
    { "shut down", function(c)
      local q = c:queue()
      q:shutdown()
      return q
    end },
    { "closed", function(c) return closesync(c:queue()) end },
  },
  ["shm.pool"] = {
    { "running", function(c)
      return c:track(shm.pool(1), function(p) p:terminate() end)
    end },
    { "closed", function()
      local p = shm.pool(1)
      p:close()
      return p
    end },
    { "terminated", function()
      local p = shm.pool(1)
      p:terminate()
      return p
    end },
  },
  ["shm.future"] = {
    { "done", function(c)
      local p = c:track(shm.pool(1), function(p) p:terminate() end)
      local f = p:submit(function() return 1 end)
      f:wait()
      return f
    end },
    { "of a terminated pool", function()
      local p = shm.pool(1)
      local f = p:submit(function() return 1 end)
      p:terminate()
      return f
    end },
  },
  ["shm.view"] = {
    { "open", function(c)
      local q = c:queue()
      assert(q:push("abcdef"))
      return assert(q:view())
    end },
    { "released", function(c)
      local q = c:queue()
      assert(q:push("abcdef"))
      local v = assert(q:view())
      v:release()
      return v
    end },
    { "queue closed", function(c)
      local q = c:queue()
      assert(q:push("abcdef"))
      local v = assert(q:view())
      q:close()
      return v
    end },
  },
  ["shm.dict"] = {
    { "empty", function(c) return c:dict() end },
    { "holding a string, a counter and a list", function(c)
      local d = c:dict()
      assert(d:set("k", "v") and d:incr("n", 1, 0) and d:rpush("l", "x"))
      return d
    end },
    { "holding a table with a block in it", function(c)
      local d = c:dict()
      assert(d:set("k", { 1, "x", { c:block() } }) and d:set("l", { n = 2 }))
      return d
    end },
    { "full", function(c)
      local d = c:dict()
      local i = 0
      while d:safe_set("k" .. i, ("x"):rep(100)) do i = i + 1 end
      return d
    end },
    { "closed", function(c) return closesync(c:dict()) end },
  },
  ["shm.process"] = {
    { "running", function()
      return shared("running", function() return assert(shm.exec("sleep", "1")) end,
        function(h)
          local ok, _, how = pcall(h.poll, h)
          return ok and how == "running"
        end)
    end },
    { "exited", function()
      return shared("exited", exited, function(h) return (pcall(h.poll, h)) end)
    end },
    -- a script can reach __gc through debug.getmetatable: every method must survive it
    { "collected", function()
      return shared("collected", function()
        local h = exited()
        getmetatable(h).__gc(h)
        return h
      end, function() return true end)
    end },
  },
}

-- A valid argument list per callable (after self), so each position can be spoiled alone.
-- Callables not listed start from no arguments.
W.shapes = {
  ["shm.create"] = function(c) return { 64, c:name(), { mode = 384 } } end,
  ["shm.attach"] = function(c) return { c:block().name, { readonly = true } } end,
  ["shm.watch"] = function(c) return { c:block().name, { count = 1, interval = 0.001 } } end,
  ["shm.buf:sub"] = function() return { 1, 8 } end,
  ["shm.buf:byte"] = function() return { 1, 8 } end,
  ["shm.buf:write"] = function() return { 1, "abc" } end,
  ["shm.buf:fill"] = function() return { 7, 1, 8 } end,
  ["shm.buf:hexdump"] = function() return { 1, 32 } end,
  ["shm.buf.__index"] = function() return { 1 } end,
  ["shm.buf.__newindex"] = function() return { 1, 7 } end,
  ["shm.buf:pack"] = function() return { 1, "i4z", 7, "ab" } end,
  ["shm.buf:unpack"] = function() return { "i4z", 1 } end,
  ["shm.block:array"] = function() return { "int32", 5, 4 } end,
  ["shm.array.__index"] = function() return { 1 } end,
  ["shm.array.__newindex"] = function() return { 1, 7 } end,
  ["shm.array:fill"] = function() return { 7, 1, 2 } end,
  ["shm.array:totable"] = function() return { 1, 2 } end,
  ["shm.array:set"] = function() return { { 1, 2 }, 1 } end,
  ["shm.array:copy"] = function(c) return { c:block():array("int32") } end,
  ["shm.array:load"] = function() return { 1 } end,
  ["shm.array:store"] = function() return { 1, 7 } end,
  ["shm.array:add"] = function() return { 1, 7 } end,
  ["shm.array:sub"] = function() return { 1, 7 } end,
  ["shm.array:band"] = function() return { 1, 7 } end,
  ["shm.array:bor"] = function() return { 1, 7 } end,
  ["shm.array:bxor"] = function() return { 1, 7 } end,
  ["shm.array:exchange"] = function() return { 1, 7 } end,
  ["shm.array:cas"] = function() return { 1, 0, 7 } end,
  ["shm.array:wait"] = function() return { 1, 1, 0.001 } end,
  ["shm.array:notify"] = function() return { 1, 1 } end,
  ["shm.array:sum"] = function() return { 1, 2 } end,
  ["shm.array:min"] = function() return { 1, 2 } end,
  ["shm.array:max"] = function() return { 1, 2 } end,
  ["shm.array:mean"] = function() return { 1, 2 } end,
  ["shm.array:dot"] = function(c) return { c:block():array("int32") } end,
  ["shm.array:count"] = function() return { 7, 1, 2 } end,
  ["shm.array:find"] = function() return { 7, 1 } end,
  ["shm.array:searchsorted"] = function() return { 7 } end,
  ["shm.array:cadd"] = function() return { 7 } end,
  ["shm.array:csub"] = function() return { 7 } end,
  ["shm.array:cmul"] = function() return { 2 } end,
  ["shm.array:cdiv"] = function() return { 1 } end,
  ["shm.array:axpy"] = function(c) return { 1, c:block():array("int32") } end,
  ["shm.array:clamp"] = function() return { 0, 7 } end,
  ["shm.array:arange"] = function() return { 0, 1 } end,
  ["shm.array:sort"] = function() return { true } end,
  ["shm.array:view"] = function() return { 1, 4, 2 } end,
  ["shm.array:reshape"] = function() return { 2, 4 } end,
  ["shm.array:row"] = function() return { 1 } end,
  ["shm.array:col"] = function() return { 1 } end,
  ["shm.parallel"] = function(c) return { 2, c:block():array("int32"), function(a) return #a end } end,
  ["shm.list()"] = function(c) return { { 1, 2.5, true, "abc" }, c:name() } end,
  ["shm.list.attach"] = function(c) return { c:list().name, { readonly = true } } end,
  ["shm.list.__index"] = function() return { 1 } end,
  ["shm.list.__newindex"] = function() return { 1, 7 } end,
  ["shm.list:count"] = function() return { 1 } end,
  ["shm.list:index"] = function() return { 1 } end,
  ["shm.spawn"] = function() return { function() end } end,
  ["shm.run"] = function() return { "/dev/null" } end,
  ["shm.exec"] = function() return { "true" } end,
  ["shm.waitall"] = function(c) return { { c:process("true") }, 0.001 } end,
  ["shm.map"] = function() return { function(x) return x end, { 1, 2 }, 2 } end,
  ["shm.remove"] = function(c) return { c:block().name } end,
  ["shm.process:wait"] = function() return { 0.001 } end,
  ["shm.process:kill"] = function() return { 0 } end,
  ["shm.mutex()"] = function(c) return { c:name() } end,
  ["shm.mutex.attach"] = function(c) return { c:sync("mutex").name } end,
  ["shm.mutex:lock"] = function() return { 0.001 } end,
  ["shm.mutex:guard"] = function() return { 0.001 } end,
  ["shm.mutex:with"] = function() return { function() end } end,
  ["shm.semaphore()"] = function(c) return { 1, c:name() } end,
  ["shm.semaphore.attach"] = function(c) return { c:sync("semaphore", 1).name } end,
  ["shm.semaphore:acquire"] = function() return { 0.001 } end,
  ["shm.semaphore:release"] = function() return { 1 } end,
  ["shm.barrier()"] = function(c) return { 2, c:name() } end,
  ["shm.barrier.attach"] = function(c) return { c:sync("barrier", 2).name } end,
  ["shm.barrier:wait"] = function() return { 0.001 } end,
  ["shm.event()"] = function(c) return { c:name() } end,
  ["shm.event.attach"] = function(c) return { c:sync("event").name } end,
  ["shm.event:wait"] = function() return { 0.001 } end,
  ["shm.cond()"] = function(c) return { c:sync("mutex"), c:name() } end,
  ["shm.cond.attach"] = function(c)
    local m = c:sync("mutex")
    return { c:sync("cond", m).name, m }
  end,
  ["shm.cond:wait"] = function() return { 0.001 } end,
  ["shm.queue()"] = function(c) return { { messages = 4, bytes = 256, name = c:name() } } end,
  ["shm.queue.attach"] = function(c) return { c:queue().name } end,
  ["shm.queue:push"] = function() return { "abc", 0.001 } end,
  ["shm.queue:try_push"] = function() return { "abc" } end,
  ["shm.queue:pop"] = function() return { 0.001 } end,
  ["shm.queue:put"] = function() return { { 1, "abc" }, 0.001 } end,
  ["shm.queue:try_put"] = function() return { { 1, "abc" } } end,
  ["shm.queue:get"] = function() return { 0.001 } end,
  ["shm.pool"] = function() return { 1, { maxtasks = 1 } } end,
  ["shm.pool:map"] = function() return { function(x) return x end, { 1, 2 }, 1 } end,
  ["shm.pool:imap"] = function() return { function(x) return x end, { 1, 2 }, 1 } end,
  ["shm.pool:imap_unordered"] = function() return { function(x) return x end, { 1, 2 } } end,
  ["shm.pool:submit"] = function() return { function(x) return x end, 1 } end,
  ["shm.future:wait"] = function() return { 0.001 } end,
  ["shm.queue:push_many"] = function() return { { "abc", "de" }, 1, 2, 0.001 } end,
  ["shm.queue:pop_many"] = function() return { {}, 2, 0.001 } end,
  ["shm.queue:put_many"] = function() return { { { 1 }, "de" }, 1, 2, 0.001 } end,
  ["shm.queue:get_many"] = function() return { {}, 2, 0.001 } end,
  ["shm.queue:view"] = function() return { 0.001 } end,
  ["shm.view:sub"] = function() return { 1, 3 } end,
  ["shm.view:byte"] = function() return { 1, 3 } end,
  ["shm.view:unpack"] = function() return { "c2", 1 } end,
  ["shm.dict()"] = function(c) return { { bytes = 4096, name = c:name() } } end,
  ["shm.dict.attach"] = function(c) return { c:dict().name } end,
  ["shm.dict:get"] = function() return { "k" } end,
  ["shm.dict:get_stale"] = function() return { "k" } end,
  ["shm.dict:set"] = function() return { "k", "v", 1 } end,
  ["shm.dict:safe_set"] = function() return { "k", "v", 1 } end,
  ["shm.dict:add"] = function() return { "k2", "v", 1 } end,
  ["shm.dict:safe_add"] = function() return { "k2", "v", 1 } end,
  ["shm.dict:replace"] = function() return { "k", 2, 1 } end,
  ["shm.dict:delete"] = function() return { "k" } end,
  ["shm.dict:incr"] = function() return { "n", 1, 0, 1 } end,
  ["shm.dict:ttl"] = function() return { "k" } end,
  ["shm.dict:expire"] = function() return { "k", 1 } end,
  ["shm.dict:flush_expired"] = function() return { 1 } end,
  ["shm.dict:get_keys"] = function() return { 1 } end,
  ["shm.dict:lpush"] = function() return { "l", "y" } end,
  ["shm.dict:rpush"] = function() return { "l", 2 } end,
  ["shm.dict:lpop"] = function() return { "l" } end,
  ["shm.dict:rpop"] = function() return { "l" } end,
  ["shm.dict:llen"] = function() return { "l" } end,
}

-- Callables that may wait: the argument position (after self) that is a timeout. The walker
-- gives it 1 ms (or `default`) and never a value that means "wait for ever" there (`forever`).
W.blocking = {
  ["shm.array:wait"] = { timeout = 3 },
  ["shm.process:wait"] = { timeout = 1 },
  ["shm.waitall"] = { timeout = 2 },
  ["shm.mutex:lock"] = { timeout = 1 },
  ["shm.mutex:guard"] = { timeout = 1 },
  ["shm.semaphore:acquire"] = { timeout = 1 },
  ["shm.barrier:wait"] = { timeout = 1 },
  ["shm.event:wait"] = { timeout = 1 },
  ["shm.cond:wait"] = { timeout = 1 },
  ["shm.queue:push"] = { timeout = 2 },
  ["shm.queue:pop"] = { timeout = 1 },
  ["shm.queue:put"] = { timeout = 2 },
  ["shm.queue:get"] = { timeout = 1 },
  ["shm.future:wait"] = { timeout = 1 },
  ["shm.queue:push_many"] = { timeout = 4 },
  ["shm.queue:pop_many"] = { timeout = 3 },
  ["shm.queue:put_many"] = { timeout = 4 },
  ["shm.queue:get_many"] = { timeout = 3 },
  ["shm.queue:view"] = { timeout = 1 },
  -- watch runs until Ctrl-C unless opts.count is set: an empty or absent opts is for ever
  ["shm.watch"] = { timeout = 2, default = { count = 1, interval = 0.001 },
    forever = function(v) return v == nil or (type(v) == "table" and next(v) == nil) end },
}

-- Callables that remove names they are given: walked only inside a private /dev/shm, where
-- a bad name cannot hit someone else's block.
W.destructive = { ["shm.remove"] = true }

local hostile = setmetatable({}, {
  __index = function() error("hostile __index") end,
  __len = function() return -1 end,
  __tostring = function() error("hostile __tostring") end,
})

-- The bad values: label and value (a function of the context for objects made per call).
W.values = {
  { "nil", nil }, { "true", true }, { "false", false },
  { "0", 0 }, { "-1", -1 }, { "1", 1 }, { "-0.0", -0.0 },
  { "mininteger", math.mininteger or -2 ^ 53 }, { "maxinteger", math.maxinteger or 2 ^ 53 },
  { "2^53", 2 ^ 53 }, { "2^63 (float)", 2 ^ 63 }, { "-2^63 (float)", -2 ^ 63 },
  { "1e308", 1e308 }, { "-1e308", -1e308 }, { "NaN", 0 / 0 }, { "inf", math.huge },
  { "-inf", -math.huge }, { "0.5", 0.5 }, { "1.5", 1.5 }, { "-1.5", -1.5 }, { "1e-300", 1e-300 },
  { "''", "" }, { "'x'", "x" }, { "'1'", "1" }, { "'0x10'", "0x10" }, { "'-1'", "-1" },
  { "'nan'", "nan" }, { "256 a's", ("a"):rep(256) }, { "1 MiB string", ("a"):rep(1048576) },
  { "'a\\0b'", "a\0b" }, { "'\\0'", "\0" }, { "'/'", "/" }, { "'..'", ".." },
  { "'../etc/passwd'", "../etc/passwd" }, { "'/../x'", "/../x" }, { "'a/b'", "a/b" },
  { "binary string", "\255\254\0\1\128" }, { "'%s%n'", "%s%n%s%n" },
  { "{}", {} }, { "{1,2,3}", { 1, 2, 3 } }, { "{x=1}", { x = 1 } },
  { "{mode='x'}", { mode = "x" } }, { "{readonly=1}", { readonly = 1 } },
  { "{[1.5]=true}", { [1.5] = true } }, { "hostile table", hostile },
  { "function", function() end }, { "coroutine", coroutine.create(function() end) },
  { "io.stdout", io.stdout }, { "light userdata", debug.upvalueid(newctx, 1) },
  { "a block", function(c) return c:block() end, made = true },
  { "a buf", function(c) return c:block().buf end, made = true },
  { "a closed block", function(c) local b = c:block(); b:close(); return b end, made = true },
}

-- Values that mean "no limit" (or a slow wait) in a timeout position, never used there.
local function forever(v, blocking)
  if blocking.forever then return blocking.forever(v) end
  local seconds = tonumber(v)
  return v == nil or (seconds ~= nil and seconds > 0.01)
end

-- Wrong receivers for a method: labels from W.values.
local wrongself = { "nil", "0", "'x'", "{}", "io.stdout", "a block", "a buf" }

local function valuebylabel(label)
  for _, v in ipairs(W.values) do
    if v[1] == label then return v end
  end
end

-- Every callable of the module, sorted: {id, fn, class, method} where method means self first.
function W.discover()
  local list, seen = {}, {}
  local function walk(t, path)
    if seen[t] then return end
    seen[t] = true
    for k, v in pairs(t) do
      local id = path .. "." .. tostring(k)
      if type(v) == "function" then
        list[#list + 1] = { id = id, fn = v }
      elseif type(v) == "table" then
        local mt = getmetatable(v)
        if type(mt) == "table" and type(mt.__call) == "function" then
          list[#list + 1] = { id = id .. "()", fn = function(...) return v(...) end }
        end
        walk(v, id)
      end
    end
  end
  walk(shm, "shm")
  local classes = {}
  for name, mt in pairs(debug.getregistry()) do
    if type(name) == "string" and name:match("^shm%.") and type(mt) == "table" then
      classes[#classes + 1] = name
      local methods = rawget(mt, "__methods")
      if type(methods) ~= "table" and type(rawget(mt, "__index")) == "table" then
        methods = mt.__index
      end
      for k, v in pairs(methods or {}) do
        if type(v) == "function" then
          list[#list + 1] = { id = name .. ":" .. k, fn = v, class = name, method = true }
        end
      end
      for k, v in pairs(mt) do
        if type(k) == "string" and k:match("^__") and type(v) == "function" then
          list[#list + 1] = { id = name .. "." .. k, fn = v, class = name, method = true }
        end
      end
    end
  end
  table.sort(list, function(a, b) return a.id < b.id end)
  table.sort(classes)
  return list, classes
end

-- The calls for one callable, in a fixed order: {self = state or value label, args = labels
-- or baseline markers, n = count}. Values are looked up when the call is made.
local function plan(entry)
  local calls = {}
  local blocking = W.blocking[entry.id]
  local shape = W.shapes[entry.id]
  local nbase = 0
  if shape then
    local c = newctx()
    nbase = #shape(c)
    c:release()
  end
  local npos = math.max(nbase, entry.method and 3 or 4)
  local selves = { false }
  if entry.method then
    -- A class without fixtures is only walked with wrong receivers (the spec flags it).
    selves = {}
    for k in ipairs(W.fixtures[entry.class] or {}) do selves[k] = k end
  end
  local function skip(pos, v)
    return blocking and pos == blocking.timeout and forever(v[2], blocking)
  end
  for _, self in ipairs(selves) do
    calls[#calls + 1] = { self = self, set = {}, n = nbase }
    for pos = 1, npos do
      for _, v in ipairs(W.values) do
        if not skip(pos, v) then
          calls[#calls + 1] = { self = self, set = { [pos] = v }, n = math.max(nbase, pos) }
        end
      end
    end
    for _, v in ipairs(W.values) do
      local set = {}
      for pos = 1, npos do set[pos] = v end
      if not blocking or not forever(v[2], blocking) then
        calls[#calls + 1] = { self = self, set = set, n = npos }
      end
    end
  end
  if entry.method then
    for _, label in ipairs(wrongself) do
      calls[#calls + 1] = { wrong = valuebylabel(label), set = {}, n = nbase }
    end
  end
  return calls
end

local function value(c, v)
  if v.made then return v[2](c) end
  return v[2]
end

local function makeself(c, entry, state)
  return W.fixtures[entry.class][state][2](c)
end

local function describe(entry, call)
  local parts = {}
  for pos = 1, call.n do
    parts[pos] = call.set[pos] and call.set[pos][1] or "ok"
  end
  local recv = call.wrong and ("self=" .. call.wrong[1]) or
      call.self and ("self " .. W.fixtures[entry.class][call.self][1])
  return ("%s(%s%s)"):format(entry.id, recv and (recv .. "; ") or "", table.concat(parts, ", "))
end

-- What a caller cannot act on: an internal error leaking out instead of a message.
local unclear = { "attempt to index", "attempt to call", "attempt to perform",
  "attempt to compare", "attempt to concatenate", "attempt to get length", "stack overflow",
  "C stack overflow" }

-- A message may quote what it was given, but not at any length (a script may pass megabytes).
local function judge(ok, ...)
  local n, r1, r2, r3 = select("#", ...), ...
  if not ok then
    if type(r1) ~= "string" then return "error value is a " .. type(r1) .. ", not a message" end
    if #r1 == 0 then return "empty error message" end
    if #r1 > 2000 then return ("error message of %d bytes"):format(#r1) end
    for _, u in ipairs(unclear) do
      if r1:find(u, 1, true) then return "unclear error: " .. r1 end
    end
    return nil
  end
  if n >= 2 and r1 == nil and r2 ~= nil then
    if type(r2) ~= "string" or #r2 == 0 then return "nil followed by a non-message " .. type(r2) end
    if n >= 3 and r3 ~= nil and type(r3) ~= "number" and type(r3) ~= "string" then
      return "nil, msg followed by a " .. type(r3)
    end
  end
  return nil
end

-- Closes objects a call returned (blocks, views, handles), so they do not pile up.
local function releaseresults(...)
  for i = 1, select("#", ...) do
    local r = select(i, ...)
    if type(r) == "userdata" then
      local mt = getmetatable(r)
      if type(mt) == "table" and type(mt.__name) == "string" and mt.__name:match("^shm%.") then
        pcall(function() r:close() end)
      end
    end
  end
end

local function pid()
  local f = assert(io.open("/proc/self/stat"))
  local p = f:read("*l"):match("^(%d+)")
  f:close()
  return p
end

-- The open fds of this process, as "fd->target", without the pipe of the listing itself
-- (popen holds both of its ends for a moment).
local function fds()
  local p = assert(io.popen("own=$(readlink /proc/$$/fd/1); cd /proc/" .. pid() .. "/fd && " ..
    "for f in *; do t=$(readlink $f); [ -n \"$t\" ] && [ \"$t\" != \"$own\" ] && " ..
    "echo \"$f->$t\"; done"))
  local list = p:read("*a"):gsub("\n", " ")
  p:close()
  return list
end

-- The fds once children the calls started have ended: a collected handle's child is reaped
-- (and its pidfd closed) at the next start or wait, so start and wait one while fds differ.
local function settle(before)
  local after = fds()
  for _ = 1, 40 do
    if after == before or not shm.exec then break end
    os.execute("sleep 0.05")
    local h = shm.exec("true")
    if h then h:wait() end
    h = nil
    collectgarbage("collect")
    after = fds()
  end
  return after
end

function W.walk(id, from, private)
  local entry
  for _, e in ipairs(W.discover()) do
    if e.id == id then entry = e end
  end
  assert(entry, "no callable " .. id)
  io.stdout:setvbuf("no")
  print("PREFIX " .. prefix)
  if W.destructive[id] and not private then
    print("SKIP removes names: walked only in a private /dev/shm")
    print("DONE 0")
    return
  end
  local calls = plan(entry)
  -- The first start makes the shared page and socket pair children send results through,
  -- kept for the process's life (api.md, shm.spawn): made before the count, not counted.
  if shm.spawn then assert(shm.spawn(function() end)):wait() end
  collectgarbage("collect")
  local before = fds()
  local made = 0
  for k = from, #calls do
    local call = calls[k]
    io.stdout:write("C ", k, "\n")
    local c = newctx()
    local shape = W.shapes[id]
    local args = shape and shape(c) or {}
    for pos, v in pairs(call.set) do args[pos] = value(c, v) end
    local blocking = W.blocking[id]
    if blocking and not call.set[blocking.timeout] then
      args[blocking.timeout] = blocking.default or 0.001
    end
    local function finish(...)
      releaseresults(select(2, ...))
      return judge(...)
    end
    local why
    if entry.method then
      local self
      if call.wrong then self = value(c, call.wrong) else self = makeself(c, entry, call.self) end
      why = finish(pcall(entry.fn, self, table.unpack(args, 1, call.n)))
    else
      why = finish(pcall(entry.fn, table.unpack(args, 1, call.n)))
    end
    if why then io.stdout:write("BAD ", k, " ", describe(entry, call), ": ", why, "\n") end
    c:release()
    made = made + 1
    if made % 200 == 0 then collectgarbage("collect") end
  end
  release_kept()
  collectgarbage("collect")
  collectgarbage("collect")
  local after = settle(before)
  print(("FD %d %d"):format(select(2, before:gsub(">", "")), select(2, after:gsub(">", ""))))
  if after ~= before then print("FDLIST " .. before .. "| " .. after) end
  print("DONE " .. made)
end

-- The description of call k of id (for the parent's report of a crash or hang).
function W.describe(id, k)
  for _, e in ipairs(W.discover()) do
    if e.id == id then
      local call = plan(e)[k]
      return call and describe(e, call) or "?"
    end
  end
end

if arg and arg[0] and arg[0]:match("badinput%.lua$") then
  if arg[1] == "list" then
    local list, classes = W.discover()
    for _, e in ipairs(list) do print("F " .. e.id) end
    for _, cl in ipairs(classes) do
      if not W.fixtures[cl] then print("M " .. cl) end
    end
  elseif arg[1] == "walk" then
    W.walk(arg[2], tonumber(arg[3]) or 1, os.getenv("SHMLUA_PRIVATE_SHM") == "1")
  elseif arg[1] == "describe" then
    print(W.describe(arg[2], tonumber(arg[3])))
  end
end

return W
