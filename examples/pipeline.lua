-- A pipeline of processes connected by queues: a reader produces lines, a tokenizer turns
-- them into words, a counter tallies the words. Each stage ends when its input queue is
-- shut down and empty, and then shuts down its output, so the end flows down the pipe.
-- Run: shmlua examples/pipeline.lua [file]   (or lua5.4 -l shm ...; default: this script)
local shm = require "shm"

local path = arg and arg[1] or (arg and arg[0]) or "examples/pipeline.lua"

local lines <close> = assert(shm.queue { messages = 64, bytes = 64 * 1024 })
local words <close> = assert(shm.queue { messages = 256, bytes = 64 * 1024 })

-- Runs fn on every message of input until it ends, then ends output.
local function stage(input, output, fn)
  return shm.spawn(function()
    local n = 0
    for msg in function() return input:pop() end do
      fn(msg, output)
      n = n + 1
    end
    if output then output:shutdown() end
    return n
  end)
end

local reader = shm.spawn(function()
  local n = 0
  for line in io.lines(path) do
    assert(lines:push(line))
    n = n + 1
  end
  lines:shutdown()
  return n
end)
local tokenizer = stage(lines, words, function(line, out)
  for word in line:gmatch("[%a_][%w_]*") do assert(out:push(word:lower())) end
end)

-- The counter is this process: it reads words until the tokenizer shuts the queue down.
local counts, total = {}, 0
for word in function() return words:pop() end do
  counts[word] = (counts[word] or 0) + 1
  total = total + 1
end

local _, nlines = reader:wait()
local _, tokenized = tokenizer:wait()
assert(tokenized == nlines, "every line went through the tokenizer")
local top = {}
for word, n in pairs(counts) do top[#top + 1] = { word, n } end
table.sort(top, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
print(("%s: %d lines, %d words, %d different"):format(path, nlines, total, #top))
for i = 1, math.min(5, #top) do print(("%6d  %s"):format(top[i][2], top[i][1])) end
