-- LuaJIT's fast path for buf[i] and typed-array a[i]: the __index and __newindex of both
-- types become Lua functions that read and write the block through FFI, so a loop over a
-- block compiles to loads and stores instead of calls into C. Compiled into shm.so (src/lua/
-- jit.c) and run by luaopen_shm under LuaJIT:
--   jit(bufmt, arraymt) -> track, closed
-- The C side calls track(view, block, addr, size, readonly [, offset, count, dtype, stride])
-- for each buf or array it makes (views of views too: strided, reversed, reshaped), and closed(block) when it closes a block. The metatables' C
-- metamethods stay the slow path: everything this code does not handle itself (a closed or
-- read-only block, an index out of range or not an integer, a value that does not fit, a
-- method name, an object C did not make) goes to them, so messages and errors are the C ones.
--
-- Why a table per block instead of reading the C struct: the JIT hoists loads from Lua tables
-- out of a loop that stores into the block (FFI stores cannot change a table), not loads from
-- C memory, which such a store might alias. A closed block's table says addr = false at once.
-- A compiled loop keeps what it hoisted only while it runs no other code: a call into C (such
-- as close) leaves the trace, and LuaJIT runs no finalizer on a trace.
local ffi = require "ffi"

local bufmt, arraymt = ...

local u8p = ffi.typeof("uint8_t *")
local cast, floor, type = ffi.cast, math.floor, type

-- block userdata -> { addr = uint8_t * (false once closed), size, ro }
local blocks = setmetatable({}, { __mode = "k" })
-- buf or array userdata -> { b = its block's table, off, count, t, stride }; only views C made
local views = setmetatable({}, { __mode = "k" })

local function track(view, block, addr, size, ro, off, count, t, stride)
  local b = blocks[block]
  if not b then
    b = { addr = ffi.cast(u8p, addr), size = size, ro = ro }
    blocks[block] = b
  end
  views[view] = { b = b, off = off, count = count, t = t, stride = stride }
end

local function closed(block)
  local b = blocks[block]
  if b then b.addr = false end
end

-- The element pointer types in array.c's dtype order (0-based), and the values the integer
-- types narrower than 64 bits take. Each type has its own branch below, with constant
-- types, so a loop over one dtype compiles to one guard on it.
local i8, u8, i16, u16 = ffi.typeof("int8_t *"), ffi.typeof("uint8_t *"),
  ffi.typeof("int16_t *"), ffi.typeof("uint16_t *")
local i32, u32, i64, u64 = ffi.typeof("int32_t *"), ffi.typeof("uint32_t *"),
  ffi.typeof("int64_t *"), ffi.typeof("uint64_t *")
local f32, f64 = ffi.typeof("float *"), ffi.typeof("double *")
local lo = { [0] = -128, 0, -32768, 0, -2147483648, 0 }
local hi = { [0] = 127, 255, 32767, 65535, 2147483647, 4294967295 }
local EXACT = 2 ^ 53
local int64, uint64 = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

local cbufindex, cbufnewindex = bufmt.__index, bufmt.__newindex
local carrayindex, carraynewindex = arraymt.__index, arraymt.__newindex

bufmt.__index = function(u, i)
  local v = views[u]
  if v and type(i) == "number" then
    local b = v.b
    local addr = b.addr
    if addr and i >= 1 and i <= b.size and floor(i) == i then
      return addr[i - 1]
    end
  end
  return cbufindex(u, i)
end

bufmt.__newindex = function(u, i, x)
  local v = views[u]
  if v and type(i) == "number" and type(x) == "number" then
    local b = v.b
    local addr = b.addr
    if addr and not b.ro and i >= 1 and i <= b.size and floor(i) == i
      and x >= 0 and x <= 255 and floor(x) == x then
      addr[i - 1] = x
      return
    end
  end
  return cbufnewindex(u, i, x)
end

-- The view's table and the address of the element i names (index 0 there), or nil for the
-- slow path. Elements are stride bytes apart (negative: a reversed view).
local function element(u, i, writing)
  local v = views[u]
  if not v or type(i) ~= "number" then return nil end
  local b = v.b
  local addr = b.addr
  if not addr or (writing and b.ro) or not (i >= 1 and i <= v.count) or floor(i) ~= i then
    return nil
  end
  return v, addr + v.off + (i - 1) * v.stride, 0
end

-- A 64-bit integer as a Lua number if it is exact (else nil: C raises, as on 5.1).
local function exact(x)
  if x <= EXACT and x >= -EXACT then return tonumber(x) end
end

arraymt.__index = function(u, i)
  local v, at, k = element(u, i, false)
  if v then
    local t = v.t
    if t == 9 then return cast(f64, at)[k]
    elseif t == 8 then return cast(f32, at)[k]
    elseif t == 0 then return cast(i8, at)[k]
    elseif t == 1 then return cast(u8, at)[k]
    elseif t == 2 then return cast(i16, at)[k]
    elseif t == 3 then return cast(u16, at)[k]
    elseif t == 4 then return cast(i32, at)[k]
    elseif t == 5 then return cast(u32, at)[k]
    else
      local x = exact(t == 6 and cast(i64, at)[k] or cast(u64, at)[k])
      if x then return x end
    end
  end
  return carrayindex(u, i)
end

-- Whether x fits integer dtype t (0..5) exactly.
local function fits(t, x)
  return floor(x) == x and x >= lo[t] and x <= hi[t]
end

arraymt.__newindex = function(u, i, x)
  local v, at, k = element(u, i, true)
  if v then
    local t = v.t
    if type(x) == "number" then
      if t == 9 then cast(f64, at)[k] = x return
      elseif t == 8 then cast(f32, at)[k] = x return
      elseif t >= 6 then
        if floor(x) == x and x <= EXACT and x >= -EXACT then
          if t == 6 then cast(i64, at)[k] = x else cast(u64, at)[k] = x end
          return
        end
      elseif fits(t, x) then
        if t == 0 then cast(i8, at)[k] = x
        elseif t == 1 then cast(u8, at)[k] = x
        elseif t == 2 then cast(i16, at)[k] = x
        elseif t == 3 then cast(u16, at)[k] = x
        elseif t == 4 then cast(i32, at)[k] = x
        else cast(u32, at)[k] = x end
        return
      end
    elseif (t == 6 or t == 7) and (ffi.istype(int64, x) or ffi.istype(uint64, x)) then
      if t == 6 then cast(i64, at)[k] = x else cast(u64, at)[k] = x end -- as C does
      return
    end
  end
  return carraynewindex(u, i, x)
end

return track, closed
