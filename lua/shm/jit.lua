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

-- block userdata -> { live = uint8_t ** (its address, NULL once unusable), ro }
local blocks = setmetatable({}, { __mode = "k" })
-- buf userdata -> { b = its block's table, p, n, limit }, array userdata -> the same and
-- step, t; only views C made, each kind apart (a buf's metamethod given an array is C's)
local bufs = setmetatable({}, { __mode = "k" })
local arrays = setmetatable({}, { __mode = "k" })

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
local NULL = ffi.cast("const uint8_t *", 0)

-- A view's table holds n, its length in elements, and p, a pointer one step before element
-- 1 (of its dtype's type for an array: the JIT specialises the loop on it, so one line
-- serves every dtype), so that element i is p[i] (no i - 1 in the loop), or p[i * step] for
-- an array's step, the distance between elements in elements (1 unless strided or
-- reversed). limit is NULL + n while n is below 2^31 (see within), else false.
local function track(view, block, live, size, ro, off, count, t, stride)
  local b = blocks[block]
  if not b then
    b = { live = cast(u8pp, live), ro = ro }
    blocks[block] = b
  end
  local v, n = { b = b }, size
  if t then
    local step = stride / sizes[t]
    n, v.p, v.step, v.t = count, cast(ptrs[t], b.live[0] + off) - step, step, t
    arrays[view] = v
  else
    v.p = b.live[0] - 1
    bufs[view] = v
  end
  v.n, v.limit = n, n < 2147483648 and NULL + n
end

-- Whether i is an integer in 1..v.n. For an i of 32 bits (tobit(i) == i folds away for a
-- loop's index) and n below 2^31, one unsigned compare of i - 1 with n, made a compare of
-- pointers (LuaJIT compares those unsigned, and for a loop from 1 adds i to NULL without
-- widening it): an i below 1 becomes an address at the top of the address space, and the
-- i - 1 that wraps 32 bits (i = -2^31) becomes 2^31 - 1, beyond n. Elsewhere doubles are compared. What this saves
-- in a compiled loop is measured in docs/performance.md ("LuaJIT's element access").
local function within(i, v)
  local limit = v.limit
  if limit and tobit(i) == i then return NULL + tobit(i - 1) < limit end
  return i >= 1 and i <= v.n and floor(i) == i
end

local cbufindex, cbufnewindex = bufmt.__index, bufmt.__newindex
local carrayindex, carraynewindex = arraymt.__index, arraymt.__newindex

bufmt.__index = function(u, i)
  local v = bufs[u]
  if v and type(i) == "number" and v.b.live[0] ~= nil and within(i, v) then
    return v.p[i]
  end
  return cbufindex(u, i)
end

bufmt.__newindex = function(u, i, x)
  local v = bufs[u]
  if v and type(i) == "number" and type(x) == "number" then
    local b = v.b
    -- band(x, 255) == x: x is an integer in 0..255 (anything else rounds or wraps); it folds
    -- away for a value the loop computed as band(i, 255) or i % 256
    if b.live[0] ~= nil and not b.ro and within(i, v) and band(x, 255) == x then
      v.p[i] = x
      return
    end
  end
  return cbufnewindex(u, i, x)
end

-- The view's table and the offset from p of element i, or nil for the slow path.
local function element(u, i, writing)
  local v = arrays[u]
  if not v or type(i) ~= "number" then return nil end
  local b = v.b
  if b.live[0] == nil or (writing and b.ro) or not within(i, v) then
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
