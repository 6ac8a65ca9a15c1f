-- LuaJIT's fast path for buf[i] and typed-array a[i]: the __index and __newindex of both
-- types become Lua functions that read and write the block through FFI, so a loop over a
-- block compiles to loads and stores instead of calls into C. Compiled into shm.so (src/lua/
-- jit.c) and run by luaopen_shm under LuaJIT:
--   jit(bufmt, arraymt) -> track
-- The C side calls track(view, block, live, size, readonly [, offset, count, dtype, stride])
-- for each buf or array it makes (views of views too: strided, reversed, reshaped); live is
-- where the block keeps its address while it may be used (block.h), NULL once closed or once
-- a page was found gone (fault.h: the SIGBUS handler clears it). The metatables' C
-- metamethods stay the slow path: everything this code does not handle itself (a closed or
-- read-only block, an index out of range or not an integer, a value that does not fit, a
-- method name, an object C did not make) goes to them, so messages and errors are the C ones.
--
-- What the JIT hoists out of a loop: loads from Lua tables (FFI stores cannot change one), and
-- the load of the live address, a pointer, which no element store can alias (LuaJIT tells
-- FFI memory apart by type). So a compiled loop checks it once, when it starts: one that
-- closes its block calls into C, which leaves the trace; one running when another process
-- truncates the block completes over pages of zeros (fault.h) and the next access raises.
local ffi = require "ffi"

local bufmt, arraymt = ...

local u8pp = ffi.typeof("uint8_t **")
local bit = require "bit"
local cast, floor, band, tobit, type = ffi.cast, math.floor, bit.band, bit.tobit, type

-- block userdata -> { live = uint8_t ** (its address, NULL once unusable), size, ro }
local blocks = setmetatable({}, { __mode = "k" })
-- buf or array userdata -> { b = its block's table [, p, step, count, t] }; only views C made
local views = setmetatable({}, { __mode = "k" })

-- The element pointer types in array.c's dtype order (0-based), their sizes, and the values
-- the integer types take (the 64-bit ones: what a double holds exactly).
local ptrs = { [0] = "int8_t *", "uint8_t *", "int16_t *", "uint16_t *", "int32_t *",
  "uint32_t *", "int64_t *", "uint64_t *", "float *", "double *" }
for t = 0, 9 do ptrs[t] = ffi.typeof(ptrs[t]) end
local sizes = { [0] = 1, 1, 2, 2, 4, 4, 8, 8, 4, 8 }
local EXACT = 2 ^ 53
local lo = { [0] = -128, 0, -32768, 0, -2147483648, 0, -EXACT, -EXACT }
local hi = { [0] = 127, 255, 32767, 65535, 2147483647, 4294967295, EXACT, EXACT }
local int64, uint64 = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

-- A typed view's table holds step, the distance between elements in elements (1 unless
-- strided or reversed), and p, a pointer of its dtype's type one step before element 1, so
-- that element i is p[i * step] (p[i] when step is 1: no i - 1 in the loop). The JIT
-- specialises the loop on p's type, so one line serves every dtype.
local function track(view, block, live, size, ro, off, count, t, stride)
  local b = blocks[block]
  if not b then
    b = { live = cast(u8pp, live), size = size, ro = ro }
    blocks[block] = b
  end
  local v = { b = b }
  if t then
    local step = stride / sizes[t]
    v.p, v.step, v.count, v.t = cast(ptrs[t], b.live[0] + off) - step, step, count, t
  end
  views[view] = v
end

-- Whether i is an integer in 1..n. A loop's index is an integer in the trace: with n below
-- 2^31, tobit(n) (computed once, outside the loop) makes both compares integer ones and
-- floor(i) == i folds away; compared as doubles, each access converted i first.
local function within(i, n)
  if n < 2147483648 then n = tobit(n) end
  return i >= 1 and i <= n and floor(i) == i
end

local cbufindex, cbufnewindex = bufmt.__index, bufmt.__newindex
local carrayindex, carraynewindex = arraymt.__index, arraymt.__newindex

bufmt.__index = function(u, i)
  local v = views[u]
  if v and type(i) == "number" then
    local b = v.b
    local addr = b.live[0]
    if addr ~= nil and within(i, b.size) then
      return addr[i - 1]
    end
  end
  return cbufindex(u, i)
end

bufmt.__newindex = function(u, i, x)
  local v = views[u]
  if v and type(i) == "number" and type(x) == "number" then
    local b = v.b
    local addr = b.live[0]
    -- band(x, 255) == x: x is an integer in 0..255 (anything else rounds or wraps); it folds
    -- away for a value the loop computed as band(i, 255) or i % 256
    if addr ~= nil and not b.ro and within(i, b.size) and band(x, 255) == x then
      addr[i - 1] = x
      return
    end
  end
  return cbufnewindex(u, i, x)
end

-- The view's table and the offset from p of element i, or nil for the slow path.
local function element(u, i, writing)
  local v = views[u]
  if not v or type(i) ~= "number" or not v.p then return nil end
  local b = v.b
  if b.live[0] == nil or (writing and b.ro) or not within(i, v.count) then
    return nil
  end
  local step = v.step
  if step == 1 then return v, i end
  return v, i * step
end

arraymt.__index = function(u, i)
  local v, k = element(u, i, false)
  if v then
    local t = v.t
    local x = v.p[k]
    if t < 6 or t > 7 then return x end
    -- a 64-bit integer as a Lua number if it is exact (else C raises, as on 5.1)
    if x <= EXACT and x >= -EXACT then return tonumber(x) end
  end
  return carrayindex(u, i)
end

-- Whether the number x is a value integer dtype t (0..7) holds. tobit(x) == x (x is an
-- integer of 32 bits) folds away for a loop's integer, and leaves the 64-bit types no
-- compare at all.
local function fits(t, x)
  if tobit(x) == x then return t >= 6 or (x >= lo[t] and x <= hi[t]) end
  return floor(x) == x and x >= lo[t] and x <= hi[t]
end

arraymt.__newindex = function(u, i, x)
  local v, k = element(u, i, true)
  if v then
    local t = v.t
    if type(x) == "number" then
      if t >= 8 or fits(t, x) then
        v.p[k] = x
        return
      end
    elseif t >= 6 and t <= 7 and (ffi.istype(int64, x) or ffi.istype(uint64, x)) then
      v.p[k] = x -- as C stores them
      return
    end
  end
  return carraynewindex(u, i, x)
end

return track
