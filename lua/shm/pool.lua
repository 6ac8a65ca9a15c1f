-- shm.pool(n [, opts]): n worker processes started once, fed through queues of values.
-- Compiled into the module (src/lua/pool.c loads it); written for Lua 5.1 to 5.4.
--
-- Each worker has a task queue of its own and all share one result queue. The parent hands
-- out tasks (a chunk of inputs, or one call) itself, at most DEPTH per worker, and so always
-- knows which tasks a worker holds: when one dies, the results it sent are read first, the
-- tasks still in its queue go back to be handed out again, and what is left is the one it
-- was running, which fails with how the worker ended. No task is lost or run twice.
local shm, private = ...
local encode, decode, calltraced = private.encode, private.decode, private.calltraced
local runchunk, encoderange, decodeinto = private.runchunk, private.encoderange, private.decodeinto
local puttask, putreply, getreply = private.puttask, private.putreply, private.getreply
local gettask = private.gettask
local newcollector, collectinto, collected, newthread =
  private.collector, private.collectinto, private.collected, private.thread
local newlist, current, chunksof = private.newlist, private.current, private.chunks
local now, getpid = private.now, private.pid
local unpack = table.unpack or unpack

local DEPTH = 2            -- tasks a worker holds: one running, one waiting
local POLL = 0.05          -- seconds between looks for dead workers while waiting
local LOOK_EVERY = 64      -- results between looks for dead workers while busy
local GRACE = 1            -- seconds between SIGTERM and SIGKILL in terminate
local FUNCTIONS_KEPT = 32  -- decoded functions a worker keeps
local BLOCKS_KEPT = 16     -- blocks a worker keeps attached between tasks
local IDLE_LOOK = 1        -- seconds between looks at those blocks while a worker waits
local MAX_WORKERS = 1024   -- a bad argument, not a fork bomb
local COLLECTED_MOST = 32768 -- results of a map collected for one table at the end (pool.c)

local function pack(...) return { n = select("#", ...), ... } end

-- The loops of a chunk in a worker (runchunk calls one under one protected call): fn(x) for
-- each of the n inputs (nil ones too), its result in its place (a slot that holds a value is
-- set on the VM's fast path, and no second table is made), and count() after each in the
-- second. Nothing else per input: on an error runchunk reads the position from the loop's
-- variable i.
local function runall(fn, list, n)
  for i = 1, n do list[i] = fn(list[i]) end
end

local function runcounted(fn, list, n, count)
  for i = 1, n do
    list[i] = fn(list[i])
    count()
  end
end

-- In a worker: tasks until its queue is shut down or maxtasks are done. A task is
-- {id, function (encoded), kind, first, args, counted, count of a chunk}, args encoded, or
-- a chunk of integers as the table itself; a reply {id, true, results} (results of integers
-- only packed inside it, putreply) or {id, false, position in the chunk, message}. counted:
-- each input done is counted in the pool's counter (for a progress line; not counting
-- spares a guarded write per input).
--
-- A worker keeps the blocks it attaches for a task's function and inputs (blocks and array
-- views; decode finds them in `blocks`, by name, while the name still refers to the object
-- mapped), so a view sent again finds its mapping, and the page tables filled by the last
-- task, still there. Before each task, and every IDLE_LOOK seconds while it waits, it closes
-- the ones whose names were unlinked or made again (their memory goes back to the system)
-- and forgets the functions decoded until then (they may hold such a block).
local function worker(tasks, results, init, maxtasks, counter)
  if init then
    local ok, err = calltraced(init)
    if not ok then return "init", err end
  end
  local functions, kept, done, blocks = {}, 0, 0, {}
  local stack = newthread() -- where tasks are decoded (pool.c: a kept stack)
  local function closeblocks(all)
    local left, closed = 0, false
    for key, b in pairs(blocks) do
      if all or not current(b) then
        blocks[key] = nil
        b:close()
        closed = true
      else
        left = left + 1
      end
    end
    if closed then functions, kept = {}, 0 end
    if left >= BLOCKS_KEPT then closeblocks(true) end
  end
  local function run(task)
    if next(blocks) then closeblocks(false) end
    local fn = functions[task[2]]
    if not fn then
      if kept >= FUNCTIONS_KEPT then functions, kept = {}, 0 end
      local ok, f = pcall(decode, task[2], blocks)
      if not ok then return { task[1], false, 1, f } end
      fn, kept = f, kept + 1
      functions[task[2]] = fn
    end
    local args = task[5]
    if task[3] == "call" then
      args = pack(pcall(decode, args, blocks))
      if not args[1] then return { task[1], false, 1, args[2] } end
      local r = pack(calltraced(fn, unpack(args, 2, args.n)))
      if not r[1] then return { task[1], false, 1, r[2] } end
      return { task[1], true, pack(unpack(r, 2, r.n)) }
    end
    local decoded, list = true, args -- a chunk of integers came inside the message
    if type(args) ~= "table" then decoded, list = pcall(decode, args, blocks) end
    if not decoded then return { task[1], false, 1, list } end
    local counted = task[6] and counter or nil
    local n = task[7]
    local ok, k, msg = runchunk(fn, list, n, counted and runcounted or runall, counted)
    if not ok then return { task[1], false, k, msg } end
    task[5], task.count = list, n -- the results now, where nil ones leave holes
    local packed, put = pcall(putreply, results, task[1], list, n)
    if packed and put then return nil end -- sent; else as below, whose put says why not
    local sent
    ok, sent = pcall(encoderange, list, 1, n)
    if not ok then return { task[1], true, list } end -- the put below says which one
    return { task[1], true, sent }
  end
  local function answer(task)
    local reply = run(task)
    if not reply then return end
    local ok, why = pcall(results.put, results, reply)
    if not ok then
      -- say which value could not be sent (or that the result is too large)
      local k, msg = 1, why
      if task[3] == "map" and reply[2] and type(reply[3]) == "table" then
        for i = 1, task.count do
          local sendable, e = pcall(encode, reply[3][i])
          if not sendable then k, msg = i, e break end
        end
      end
      results:put({ task[1], false, k, "result: " .. tostring(msg) })
    end
  end
  while not maxtasks or done < maxtasks do
    local task, err = gettask(tasks, stack, next(blocks) and IDLE_LOOK or nil)
    if err == "timeout" then
      closeblocks(false)
    elseif err then
      break
    else
      answer(task)
      done = done + 1
    end
  end
  closeblocks(true)
  return "done"
end

local Pool = {}
local Future = {}
local Job = {} -- below
local encodetask -- below
local publicpool, publicfuture -- the classes scripts see (below)

local function checkopen(self)
  if self.state ~= "running" then
    error("shm.pool: the pool is " .. self.state, 4)
  end
end

local function startworker(self, w)
  local h, msg = shm.spawn(worker, w.queue, self.results, self.init, self.maxtasks, self.counter)
  if not h then error("shm.pool: cannot start a worker: " .. tostring(msg), 0) end
  private.daemon(h)
  w.handle, w.held, w.given = h, {}, 0
end

-- Puts a task on w's queue: pcall's outcome of try_put. A chunk of integers only goes
-- packed inside its message (puttask); any other chunk is encoded on its own first
-- (encodetask), and the message kept for a later try if the queue is full.
local function sendtask(w, task)
  local job, first = task.job, task.first
  if not task.message then
    local ok, sent = pcall(puttask, w.queue, job.inputs, first, first + task.count - 1, task.id,
      job.fn, "map", first, job.progress ~= nil, task.count)
    task.packed = not ok or sent ~= nil -- put, or failed: not to be encoded again
    if task.packed then return ok, sent end
    ok, sent = pcall(encodetask, task)
    if not ok then return ok, sent end
  end
  return pcall(w.queue.try_put, w.queue, task.message)
end

-- Hands out waiting tasks to workers that have room, oldest first: one to each before a
-- second to any, so every worker starts as soon as it can.
local function dispatch(self)
  local waiting = self.waiting
  for depth = 1, DEPTH do
    for _, w in ipairs(self.workers) do
      while waiting.first <= waiting.last and #w.held < depth and
          (not self.maxtasks or w.given < self.maxtasks) do
        local task = waiting[waiting.first]
        local ok, sent = true, true
        if not task.cancelled then
          ok, sent = sendtask(w, task)
          if ok and not sent then break end -- full of bytes: later
        end
        waiting[waiting.first] = nil
        waiting.first = waiting.first + 1
        if task.cancelled then -- dropped
        elseif ok then
          w.held[#w.held + 1] = task
          w.given = w.given + 1
          task.worker = w
        elseif task.message or task.packed then
          self.tasks[task.id] = nil
          task.job:fail(task, nil, "error", "task too large for the pool's queues: " .. sent)
        else -- an input that cannot be sent: the job fails at it
          self.tasks[task.id] = nil
          if type(sent) == "table" then
            task.job:fail(task, sent.k, "error", sent.why)
          else
            task.job:fail(task, nil, "error", sent)
          end
        end
      end
    end
  end
end

-- A task goes back to the head of the waiting line (taken back from a dead worker).
local function requeue(self, task)
  local waiting = self.waiting
  waiting.first = waiting.first - 1
  waiting[waiting.first] = task
  task.worker = nil
end

local function forget(task)
  local held = task.worker and task.worker.held
  if held then
    for i = 1, #held do
      if held[i] == task then table.remove(held, i) break end
    end
  end
end

-- Where the results packed in task id's reply go (getreply): the job's results table, or its
-- collector while all of a collecting job's results came packed, and the offset of the
-- chunk's keys; nothing if the task is no longer a running map's.
local function placeresults(self, id)
  local task = self.tasks[id]
  local job = task and task.job
  if getmetatable(job) ~= Job then return end
  if job.collecting and not job.results then
    if not job.collector then job.collector, job.collected = newcollector(job.count), {} end
    job.collected[#job.collected + 1] = task
    return job.collector, task.first - 1
  end
  if not job.results then job.results = newlist(job.count) end
  return job.results, task.first - 1
end

local function receive(self, reply)
  local task = self.tasks[reply[1]]
  if not task then return end -- a terminated job's
  self.tasks[reply[1]] = nil
  forget(task)
  if reply[2] then
    task.job:complete(task, reply[3])
  else
    task.job:fail(task, reply[3], "error", reply[4])
  end
end

-- Takes a reply off the results queue (waiting up to timeout if wait) to its task: true, or
-- nil and why not. A message that is no reply (corrupt: only a hostile writer makes one)
-- fails the task whose id it gives first, if one still runs (its real reply, if it comes,
-- is then dropped as a finished task's). One that names no task may have replaced any
-- reply: every task a worker holds fails, rather than one waiting for a reply that will
-- never come (no hang, as for the other shared objects' garbage: docs/reliability.md).
local CORRUPT = "a corrupt reply on the pool's results queue"
local function takereply(self, wait, timeout)
  local reply, err, id = getreply(self.results, placeresults, self, wait, timeout)
  if err == "corrupt" or (not err and type(reply) ~= "table") then
    if id then
      if self.tasks[id] then receive(self, { id, false, 1, CORRUPT }) end
    else
      for _, w in ipairs(self.workers) do
        for i = #w.held, 1, -1 do receive(self, { w.held[i].id, false, 1, CORRUPT }) end
      end
    end
    return true
  end
  if err then return nil, err end
  receive(self, reply)
  return true
end

-- A worker ended: read what it sent, take back what it never started, fail what it held.
local function buried(self, w, r)
  while takereply(self, false) do end
  local taken = {}
  while true do
    local message, err = w.queue:try_get()
    if err then break end
    taken[message[1]] = true
  end
  local held = w.held
  w.held = {}
  for i = #held, 1, -1 do
    local task = held[i]
    if taken[task.id] then
      requeue(self, task)
    else
      self.tasks[task.id] = nil
      if r[1] then
        task.job:fail(task, nil, "exit", 0)
      else
        task.job:fail(task, nil, r[2], r[3])
      end
    end
  end
  if r[1] and r[2] == "init" then
    self.failure = "init failed in a worker: " .. tostring(r[3])
  end
end

local function lookfordead(self)
  for _, w in ipairs(self.workers) do
    local r = pack(w.handle:poll())
    if not (r[1] == nil and r[2] == "running") then
      buried(self, w, r)
      if self.failure then
        local failure = self.failure
        self:terminate()
        error("shm.pool: " .. failure, 0)
      end
      startworker(self, w)
    end
  end
end

-- One step of the parent's work: hand out tasks, wait for one reply (until deadline at most).
local function pump(self, deadline)
  dispatch(self)
  local wait = POLL
  if deadline then
    wait = deadline - now()
    if wait > POLL then wait = POLL elseif wait < 0 then wait = 0 end
  end
  if not takereply(self, true, wait) then
    lookfordead(self)
    return
  end
  self.received = self.received + 1
  if self.received % LOOK_EVERY == 0 then lookfordead(self) end
end

-- Runs f(self, ...); any error from the parent's side (Ctrl-C's "interrupted!" among them)
-- terminates the pool before it goes on up, so no worker is left running.
local function guarded(self, f, ...)
  local r = pack(pcall(f, self, ...))
  if not r[1] then
    if self.state ~= "terminated" then self:terminate() end
    error(r[2], 0)
  end
  return unpack(r, 2, r.n)
end

-- A chunk's message, made when the chunk is handed out: the workers start on the first
-- chunks while the parent encodes the next ones. Raises if an input cannot be sent.
encodetask = function(task)
  local job, first = task.job, task.first
  local ok, args = pcall(encoderange, job.inputs, first, first + task.count - 1)
  if not ok then -- which one
    for k = 1, task.count do
      local sendable, why = pcall(encode, job.inputs[first + k - 1])
      if not sendable then error({ k = k, why = tostring(why) }, 0) end
    end
    error({ k = 1, why = args }, 0)
  end
  task.message = { task.id, job.fn, "map", first, args, job.progress ~= nil, task.count }
  return true
end

-- A call (args: its arguments) or a chunk of count inputs from first (encoded when handed out).
local function addtask(self, job, kind, first, args, count)
  local id = self.nextid
  self.nextid = id + 1
  local task = { id = id, job = job, first = first, count = kind == "call" and 1 or count,
                 message = kind == "call" and { id, job.fn, kind, first, args } or nil }
  self.tasks[id] = task
  local waiting = self.waiting
  waiting.last = waiting.last + 1
  waiting[waiting.last] = task
  return task
end

-- A job over a list of inputs in chunks: complete(task, results) and fail(task, k, kind, why).
Job.__index = Job

local function newjob(self, fn, inputs, chunksize, what, opts)
  if type(fn) ~= "function" then error(what .. ": bad argument #1 (function expected)", 0) end
  if type(inputs) ~= "table" then error(what .. ": bad argument #2 (table expected)", 0) end
  local count = #inputs
  local job = setmetatable({ pool = self, what = what, count = count,
                             finished = 0, left = 0, arrived = {}, have = {}, upto = 0,
                             fn = encode(fn) }, Job)
  if opts and opts.progress then job.progress, job.progresscount = private.progress(count) end
  if chunksize == nil then
    chunksize = math.ceil(count / (4 * #self.workers))
    if chunksize < 1 then chunksize = 1 end
  elseif type(chunksize) ~= "number" or chunksize < 1 or chunksize % 1 ~= 0 then
    error(what .. ": chunksize must be an integer >= 1", 0)
  elseif chunksize > count then
    chunksize = math.max(count, 1) -- one chunk; first + chunksize must not wrap (5.3's loops)
  end
  job.inputs = inputs
  for first = 1, count, chunksize do
    local last = math.min(first + chunksize - 1, count)
    addtask(self, job, "map", first, nil, last - first + 1)
    job.left = job.left + 1
  end
  return job
end

function Job:complete(task, results)
  self.left = self.left - 1
  -- made at the first results, not before the first chunk goes out: a large table may take
  -- fresh pages from the system, and the workers can run meanwhile
  if results ~= true then -- else placeresults gave them their place, and getreply filled it
    if not self.results then self.results = newlist(self.count) end
    if self.collector then -- what was collected goes to the table now, and the rest too
      for _, t in ipairs(self.collected) do
        collectinto(self.collector, self.results, t.first, t.count)
      end
      self.collector, self.collected = nil, nil
    end
    decodeinto(results, self.results, task.first - 1)
  end
  self.finished = self.finished + task.count
  self.arrived[#self.arrived + 1] = task
  local have = self.have
  have[task.first] = task
  while have[self.upto + 1] do
    local t = have[self.upto + 1]
    have[self.upto + 1] = nil
    self.upto = self.upto + t.count
  end
end

local function describe(kind, why)
  if kind == "signal" then return "the worker was killed by signal " .. tostring(why) end
  if kind == "exit" then return "the worker exited with code " .. tostring(why) end
  return tostring(why)
end

function Job:fail(task, k, kind, why)
  self.left = self.left - 1
  local index = task.first + (k or 1) - 1
  local msg = ("%s: %s #%d: %s"):format(self.what, self.item or "input", index,
    describe(kind, why))
  if not self.failure or index < self.failedat then
    self.failure, self.failedat = msg, index
  end
  -- no more of this job is handed out; what is running finishes
  local waiting = self.pool.waiting
  for i = waiting.first, waiting.last do
    local t = waiting[i]
    if t and t.job == self and not t.cancelled then
      t.cancelled = true
      self.pool.tasks[t.id] = nil
      self.left = self.left - 1
    end
  end
end

-- Removes cancelled tasks from the waiting line.
local function compact(self)
  local waiting, kept = self.waiting, {}
  for i = waiting.first, waiting.last do
    local t = waiting[i]
    if t and not t.cancelled then kept[#kept + 1] = t end
  end
  self.waiting = { first = 1, last = #kept }
  for i, t in ipairs(kept) do self.waiting[i] = t end
end

-- The job is over: its error, if a task failed, is the caller's (the pool goes on).
local function finishjob(self, job)
  compact(self)
  if job.progress then private.progress_finish(job.progress) end
  job.over = true
end

local function raisefailure(job, ...)
  if job.over and job.failure then error(job.failure, 0) end
  return ...
end

local function optsof(chunksize)
  if type(chunksize) == "table" then return chunksize.chunksize, chunksize end
  return chunksize, nil
end

local function listof(n, ...) return { n = n, ... } end

-- Runs a job to its end: its results in order, or its error. While all its results come as
-- integers, they are collected, and the table made of them at the end (pool.c: one SETLIST
-- on the stack of a thread the pool keeps, instead of a lua_rawseti each).
local function finish(self, job)
  local base = self.counter[1]
  job.collecting = job.count <= COLLECTED_MOST
  return raisefailure(job, guarded(self, function()
    while job.left > 0 do
      pump(self)
      if job.progress then private.progress_update(job.progress, self.counter[1] - base) end
    end
    finishjob(self, job)
    if job.failure then return nil end -- raised
    local results = job.results
    if not results and job.collector then
      self.stack = self.stack or newthread()
      results = collected(job.collector, listof, self.stack)
    end
    results = results or newlist(0) -- no inputs
    results.n = job.count
    return results
  end))
end

-- pool:map(fn, inputs [, chunksize | {chunksize = n, progress = true}]): results in order.
function Pool:map(fn, inputs, chunksize)
  checkopen(self)
  local size, opts = optsof(chunksize)
  return finish(self, newjob(self, fn, inputs, size, "pool:map", opts))
end

-- pool:parallel(a, fn): fn(chunk) for as many contiguous chunks of view a as the pool has
-- workers (shm.parallel's chunks), the first result of each in order. Handed out one to each
-- worker in turn, so when the pool is idle chunk k goes to worker k: called again on the same
-- array, each worker finds its part mapped (the block kept, its page tables filled).
function Pool:parallel(a, fn)
  checkopen(self)
  if type(fn) ~= "function" then error("pool:parallel: bad argument #2 (function expected)", 0) end
  local ok, chunks = pcall(chunksof, a, #self.workers)
  if not ok then -- "block 'x' is closed": the caller's error, not a line of this file's
    error((tostring(chunks):gsub("^shm/pool%.lua:%d+: ", "")), 0)
  end
  local job = newjob(self, fn, chunks, 1, "pool:parallel")
  job.item = "chunk"
  return finish(self, job)
end

local function iterator(self, fn, inputs, chunksize, what, ordered)
  checkopen(self)
  local size, opts = optsof(chunksize)
  local job = newjob(self, fn, inputs, size or 1, what, opts)
  local nexti, task, k = 1, nil, 0
  local function failedbefore(i) return job.failure and i >= job.failedat end
  local function inorder()
    while nexti > job.upto and job.left > 0 and not failedbefore(nexti) do pump(self) end
    if nexti > job.upto or failedbefore(nexti) then
      finishjob(self, job)
      return nil
    end
    nexti = nexti + 1
    return nexti - 1, job.results[nexti - 1]
  end
  local function asdone()
    while not (task and k < task.count) do
      task, k = nil, 0
      if job.arrived[1] then
        task = table.remove(job.arrived, 1)
      elseif job.left > 0 and not job.failure then
        pump(self)
      else
        finishjob(self, job)
        return nil
      end
    end
    k = k + 1
    return task.first + k - 1, job.results[task.first + k - 1]
  end
  local step = ordered and inorder or asdone
  return function() return raisefailure(job, guarded(self, step)) end
end

-- pool:imap(fn, inputs [, chunksize]): for i, result in ... , in input order.
function Pool:imap(fn, inputs, chunksize)
  return iterator(self, fn, inputs, chunksize, "pool:imap", true)
end

-- pool:imap_unordered(fn, inputs [, chunksize]): for i, result in ..., as they finish.
function Pool:imap_unordered(fn, inputs, chunksize)
  return iterator(self, fn, inputs, chunksize, "pool:imap_unordered", false)
end

-- A future: the outcome of one call, as a process handle's wait gives it.

function Future:complete(task, results)
  self.outcome = pack(true, unpack(results, 1, results.n))
  self.done = true
end

function Future:fail(task, k, kind, why)
  self.outcome = pack(nil, kind, why)
  self.done = true
end

function Future:wait(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    error(("bad argument #1 to 'wait' (timeout must be a number >= 0, got %s)"):format(
      type(timeout) == "number" and tostring(timeout) or type(timeout)), 3)
  end
  local pool = self.pool
  local deadline = timeout and now() + timeout
  if not self.done then
    guarded(pool, function()
      while not self.done and (not deadline or now() < deadline) do
        pump(pool, deadline)
      end
    end)
  end
  if not self.done then return nil, "timeout" end
  return unpack(self.outcome, 1, self.outcome.n)
end

function Future:poll()
  if not self.done and self.pool.state ~= "terminated" then
    guarded(self.pool, function()
      dispatch(self.pool)
      while takereply(self.pool, false) do end
      lookfordead(self.pool)
    end)
  end
  if not self.done then return nil, "running" end
  return unpack(self.outcome, 1, self.outcome.n)
end

-- pool:submit(fn, ...): a future with wait([timeout]), poll() and the field done.
function Pool:submit(fn, ...)
  checkopen(self)
  if type(fn) ~= "function" then error("pool:submit: bad argument #1 (function expected)", 0) end
  local future = setmetatable({ pool = self, done = false, fn = encode(fn) },
    { __index = Future })
  -- encoded here, decoded by the worker with the blocks it keeps
  local ok, args = pcall(encode, ...)
  if not ok then error("pool:submit: arguments: " .. tostring(args), 0) end
  addtask(self, future, "call", 1, args)
  guarded(self, dispatch)
  return publicfuture(future)
end

-- Ends the workers, at once: SIGTERM, SIGKILL after GRACE seconds; unfinished tasks fail.
function Pool:terminate()
  if self.state == "terminated" or self.pid ~= getpid() then return end
  self.state = "terminated"
  for _, w in ipairs(self.workers) do
    if w.handle then w.handle:kill("TERM") end
  end
  local deadline = now() + GRACE
  for _, w in ipairs(self.workers) do
    if w.handle and not w.handle:wait(math.max(0, deadline - now())) then
      w.handle:kill("KILL")
      w.handle:wait()
    end
  end
  self:release()
end

-- Fails what is left and removes the queues.
function Pool:release()
  for id, task in pairs(self.tasks) do
    self.tasks[id] = nil
    if not task.cancelled then task.job:fail(task, nil, "terminated", nil) end
  end
  self.waiting = { first = 1, last = 0 }
  for _, w in ipairs(self.workers) do
    w.queue:unlink()
    w.queue:close()
  end
  if self.results then
    self.results:unlink()
    self.results:close()
  end
  if self.counterblock then
    self.counterblock:unlink()
    self.counterblock:close()
  end
end

-- No new work; what was given finishes, then the workers end and are waited for.
function Pool:close()
  if self.state ~= "running" then return end
  guarded(self, function()
    self.state = "closing"
    while next(self.tasks) do pump(self) end
    for _, w in ipairs(self.workers) do w.queue:shutdown() end
    for _, w in ipairs(self.workers) do w.handle:wait() end
  end)
  self:terminate() -- nothing is left running: releases the queues
  self.state = "closed"
end

-- What a script holds: an empty table whose class (registered as shm.pool / shm.future, its
-- methods in __methods, as the module's other classes) finds the object's state here; the
-- state's own fields stay private. Weak keys: a collected pool's state is still here while
-- its __gc runs.
local states = setmetatable({}, { __mode = "k" })

-- Registers class tname: methods and metamethods (functions of the state) and fields (name ->
-- function of the state giving its value). Returns the function that wraps a state.
local function class(tname, methods, meta, fields)
  local mt = private.class(tname)
  local wrapped = mt.__methods -- the names are there already (src/lua/pool.c): fill them in
  local function state(obj, method)
    local s = states[obj]
    if s == nil then
      error(("bad argument #1 to '%s' (%s expected, got %s)"):format(method, tname,
        type(obj)), 3)
    end
    return s
  end
  for name, f in pairs(methods) do
    wrapped[name] = function(obj, ...) return f(state(obj, name), ...) end
  end
  for name, f in pairs(meta) do
    mt[name] = function(obj, ...)
      local s = states[obj]
      if s ~= nil then return f(s, ...) end
    end
  end
  mt.__methods = wrapped
  mt.__index = function(obj, key)
    local m = wrapped[key]
    if m ~= nil then return m end
    local field, s = fields[key], states[obj]
    if field and s ~= nil then return field(s) end
    return nil
  end
  mt.__newindex = function() error(tname .. " has no fields to set", 2) end
  return function(s)
    local obj = setmetatable({}, mt)
    states[obj] = s
    return obj
  end
end

local poolmeta = {}

function poolmeta.__tostring(self)
  return ("shm.pool: %d workers (%s)"):format(#self.workers, self.state)
end

-- A collected pool: its queues and first workers' handles are finalized after it (they were
-- made before it), but a replacement worker's handle may be gone already. Shutting the
-- queues down ends every idle worker; then what terminate does, where it can.
function poolmeta.__gc(self)
  if self.state == "terminated" or self.pid ~= getpid() then return end
  self.state = "terminated"
  for _, w in ipairs(self.workers) do pcall(w.queue.shutdown, w.queue) end
  local function each(method, ...)
    for _, w in ipairs(self.workers) do
      if w.handle then
        local ok, done = pcall(w.handle[method], w.handle, ...)
        if ok and done and method == "wait" then w.handle = nil end
      end
    end
  end
  each("kill", "TERM")
  each("wait", GRACE)
  each("kill", "KILL")
  each("wait")
  self:release()
end

-- `local p <close> = shm.pool(n)`: a normal end finishes the work, an error terminates.
function poolmeta.__close(self, err)
  if err ~= nil then self:terminate() else self:close() end
end

publicpool = class("shm.pool", {
  map = Pool.map, imap = Pool.imap, imap_unordered = Pool.imap_unordered, parallel = Pool.parallel,
  submit = Pool.submit, close = Pool.close, terminate = Pool.terminate,
}, poolmeta, {
  n = function(self) return #self.workers end,
  state = function(self) return self.state end,
})

publicfuture = class("shm.future", { wait = Future.wait, poll = Future.poll }, {
  __tostring = function(self)
    return "shm.future: " .. (self.done and "done" or "running")
  end,
}, { done = function(self) return self.done end })

local allowed = { init = true, maxtasks = true, name = true, mode = true, bytes = true }

return function(n, opts)
  if type(n) ~= "number" or n < 1 or n > MAX_WORKERS or n % 1 ~= 0 or
      (math.type and math.type(n) ~= "integer") then
    error(("bad argument #1 to 'pool' (number of workers must be an integer, 1 to %d)"):format(
      MAX_WORKERS), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #2 to 'pool' (table expected)", 2) end
  for k in pairs(opts) do
    if not allowed[k] then error(("bad argument #2 to 'pool' (unknown option '%s')"):format(
      tostring(k)), 2) end
  end
  if opts.init ~= nil and type(opts.init) ~= "function" then
    error("bad argument #2 to 'pool' (init must be a function)", 2)
  end
  local maxtasks = opts.maxtasks
  if maxtasks ~= nil and (type(maxtasks) ~= "number" or maxtasks < 1 or maxtasks % 1 ~= 0) then
    error("bad argument #2 to 'pool' (maxtasks must be an integer >= 1)", 2)
  end
  local bytes = opts.bytes or 1024 * 1024
  local function queue(suffix, messages)
    local q, msg = shm.queue { messages = messages, bytes = bytes, mode = opts.mode,
                               name = opts.name and opts.name .. suffix }
    if not q then error("shm.pool: cannot make a queue: " .. tostring(msg), 0) end
    return q
  end
  local self = { workers = {}, waiting = { first = 1, last = 0 }, tasks = {}, nextid = 1,
                 received = 0, state = "running", init = opts.init, maxtasks = maxtasks,
                 pid = getpid() }
  -- what is made goes away again if a later step fails
  local ok, err = pcall(function()
    self.counterblock = assert(shm.create(8))
    self.counter = self.counterblock:array("int64")
    self.results = queue("-results", 1024)
    for i = 1, n do self.workers[i] = { queue = queue("-tasks" .. i, DEPTH + 2) } end
    for _, w in ipairs(self.workers) do startworker(self, w) end
  end)
  setmetatable(self, { __index = Pool })
  if not ok then
    self:terminate()
    error(err, 2)
  end
  return publicpool(self) -- last: finalized before its queues and handles
end
