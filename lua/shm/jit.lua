-- LuaJIT's fast path for buf[i] and typed-array a[i]: the __index and __newindex of both
-- types become Lua functions that read and write the block through FFI, so a loop over a
-- block compiles to loads and stores instead of calls into C. Compiled into shm.so (src/lua/
-- jit.c) and run by luaopen_shm under LuaJIT with the parts of the C module it needs:
--   jit(bufmt, arraymt, bufclass, arrayclass)
-- The metatables' C metamethods stay the slow path: everything this code does not handle
-- itself (a closed or read-only block, an index out of range or not an integer, a value that
-- does not fit, a method name) goes to them, so messages and errors are exactly the C ones.
--
-- Safety: each access reads the block's address and size again; close() sets the address
-- to NULL (src/core/block.c), so a view of a closed block goes to C and raises, never
-- reads unmapped memory. The object is checked as C checks it (binding.h's tag: its
-- address mixed with its class's), so a userdata given these metatables through the debug
-- library is refused by C as well.
local ffi = require "ffi"
local bit = require "bit"

local bufmt, arraymt, bufclass, arrayclass = ...

-- Prefixes of the C structs (src/core/block.h, src/lua/buf.c, src/lua/array.c; static
-- asserts in src/lua/jit.c keep them in step), then the tag after each payload.
ffi.cdef [[
typedef struct { uint8_t *addr; size_t size; bool readonly; } shmlua_jit_block;
typedef struct { shmlua_jit_block *b; uintptr_t tag; } shmlua_jit_buf;
typedef struct { shmlua_jit_block *b; size_t offset; size_t count; int type;
                 uintptr_t tag; } shmlua_jit_array;
]]
local bufptr = ffi.typeof("shmlua_jit_buf *")
local arrayptr = ffi.typeof("shmlua_jit_array *")
local uptr = ffi.typeof("uintptr_t")
local cast, floor, tonumber, type = ffi.cast, math.floor, tonumber, type
local getmetatable = getmetatable
bufclass, arrayclass = cast(uptr, bufclass), cast(uptr, arrayclass)

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

local function isbuf(u)
  if type(u) ~= "userdata" or getmetatable(u) ~= bufmt then return nil end
  local p = cast(bufptr, u)
  return p.tag == bit.bxor(cast(uptr, p), bufclass) and p or nil
end

local function isarray(u)
  if type(u) ~= "userdata" or getmetatable(u) ~= arraymt then return nil end
  local p = cast(arrayptr, u)
  return p.tag == bit.bxor(cast(uptr, p), arrayclass) and p or nil
end

bufmt.__index = function(u, i)
  local p = isbuf(u)
  if p and type(i) == "number" then
    local b = p.b
    local addr = b.addr
    if addr ~= nil and i >= 1 and i <= tonumber(b.size) and floor(i) == i then
      return addr[i - 1]
    end
  end
  return cbufindex(u, i)
end

bufmt.__newindex = function(u, i, v)
  local p = isbuf(u)
  if p and type(i) == "number" and type(v) == "number" then
    local b = p.b
    local addr = b.addr
    if addr ~= nil and not b.readonly and i >= 1 and i <= tonumber(b.size) and floor(i) == i
      and v >= 0 and v <= 255 and floor(v) == v then
      addr[i - 1] = v
      return
    end
  end
  return cbufnewindex(u, i, v)
end

-- The open array at u and the 0-based element i names, or nil for the slow path.
local function element(u, i, writing)
  if type(u) ~= "userdata" or getmetatable(u) ~= arraymt or type(i) ~= "number" then
    return nil
  end
  local p = cast(arrayptr, u)
  if p.tag ~= bit.bxor(cast(uptr, p), arrayclass) then return nil end
  local b = p.b
  local addr = b.addr
  if addr == nil or (writing and b.readonly) or not (i >= 1 and i <= tonumber(p.count))
    or floor(i) ~= i then
    return nil
  end
  return p, addr + p.offset, i - 1
end

-- A 64-bit integer as a Lua number if it is exact (else nil: C raises, as on 5.1).
local function exact(v)
  if v <= EXACT and v >= -EXACT then return tonumber(v) end
end

arraymt.__index = function(u, i)
  local p, at, k = element(u, i, false)
  if p then
    local t = p.type
    if t == 9 then return cast(f64, at)[k]
    elseif t == 8 then return cast(f32, at)[k]
    elseif t == 0 then return cast(i8, at)[k]
    elseif t == 1 then return cast(u8, at)[k]
    elseif t == 2 then return cast(i16, at)[k]
    elseif t == 3 then return cast(u16, at)[k]
    elseif t == 4 then return cast(i32, at)[k]
    elseif t == 5 then return cast(u32, at)[k]
    else
      local v = exact(t == 6 and cast(i64, at)[k] or cast(u64, at)[k])
      if v then return v end
    end
  end
  return carrayindex(u, i)
end

-- Whether v fits integer dtype t (0..5) exactly.
local function fits(t, v)
  return floor(v) == v and v >= lo[t] and v <= hi[t]
end

arraymt.__newindex = function(u, i, v)
  local p, at, k = element(u, i, true)
  if p then
    local t = p.type
    if type(v) == "number" then
      if t == 9 then cast(f64, at)[k] = v return
      elseif t == 8 then cast(f32, at)[k] = v return
      elseif t >= 6 then
        if floor(v) == v and v <= EXACT and v >= -EXACT then
          if t == 6 then cast(i64, at)[k] = v else cast(u64, at)[k] = v end
          return
        end
      elseif fits(t, v) then
        if t == 0 then cast(i8, at)[k] = v
        elseif t == 1 then cast(u8, at)[k] = v
        elseif t == 2 then cast(i16, at)[k] = v
        elseif t == 3 then cast(u16, at)[k] = v
        elseif t == 4 then cast(i32, at)[k] = v
        else cast(u32, at)[k] = v end
        return
      end
    elseif (t == 6 or t == 7) and (ffi.istype(int64, v) or ffi.istype(uint64, v)) then
      if t == 6 then cast(i64, at)[k] = v else cast(u64, at)[k] = v end -- stored as C does
      return
    end
  end
  return carraynewindex(u, i, v)
end
