/* The values processes send each other (serial.c): through process results, queues and
   shm.map, within one family of processes. */
#ifndef SHMLUA_SERIAL_H
#define SHMLUA_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/* Pushes a string that encodes the n values from index first on; raises for what cannot be
   sent: C functions, userdata other than shmlua objects, threads, tables that contain
   themselves or nest too deep. */
void shmlua_serialize(lua_State *L, int first, int n);
/* The same encoding, left in a buffer the Lua state keeps: valid until the next encode. */
const char *shmlua_encode(lua_State *L, int first, int n, size_t *len);
/* Makes the buffer the encoder keeps, with room for a small message, if it is not there yet;
   what it holds is kept. Before a fork: a child making it would write to many pages it still
   shares with its parent, each write a copy-on-write fault. Raises only for memory. */
void shmlua_encoder_ready(lua_State *L);
/* The values t[first + 1 .. first + n] (t at table, read raw), each encoded as a message of
   its own (as shmlua_encode makes it), end to end in the buffer returned (as shmlua_encode
   leaves it); the k-th ends at ends[k] (k from 0). Raises as shmlua_serialize does, naming
   the value t[k]. */
const char *shmlua_encode_each(lua_State *L, int table, size_t first, size_t n, size_t *ends);
/* The list t[i..j] (t at table, holes kept), encoded as one table {t[i], ..., t[j]} and left
   as shmlua_encode leaves it; no table is made. */
const char *shmlua_encode_range(lua_State *L, int table, lua_Integer i, lua_Integer j,
                                size_t *len);
/* The list {v1, ..., vn} of the n values from first, with the one at position at replaced by
   the list t[i..j] (t at table) packed inline as shmlua_encode_range packs a list of
   integers, and left as shmlua_encode leaves it: one encoding of a message and its chunk, no
   string made for the chunk. NULL (nothing encoded) if t[i..j] is not integers only. */
const char *shmlua_encode_with_integers(lua_State *L, int first, int n, int at, int table,
                                        lua_Integer i, lua_Integer j, size_t *len);
/* Pushes the values encoded in data and returns their count; -1 (nothing pushed) if data is
   not such an encoding. */
int shmlua_deserialize(lua_State *L, const void *data, size_t len);
/* The same, keeping the blocks it attaches (for blocks and array views) in the table at
   index cache (0: none), by "r"/"w" and name, and using those again while their names still
   refer to the objects they map (core/block.h: shmlua_block_current). */
int shmlua_deserialize_keeping(lua_State *L, const void *data, size_t len, int cache);
/* Decodes data, a list as shmlua_encode_range makes it, into the table at table, keys moved
   by offset; 1, or 0 if data is not such an encoding (some keys may be set then). */
int shmlua_deserialize_into(lua_State *L, const void *data, size_t len, int table,
                            lua_Integer offset);
/* If data is a list as shmlua_encode_with_integers makes it, the packed list last and nil,
   booleans and numbers before it: pushes those and returns their count, with *integers at
   the packed list (inside data) and *count its length; -1, nothing pushed, for any other
   message (shmlua_deserialize reads it). Nothing it pushes allocates. */
int shmlua_deserialize_packed(lua_State *L, const void *data, size_t len,
                              const char **integers, uint32_t *count);
/* Sets the count integers at integers (as shmlua_deserialize_packed points at them) at keys
   offset + 1.. of the table at table, raw. Allocates only if the table must grow. */
void shmlua_integers_into(lua_State *L, const char *integers, uint32_t count, int table,
                          lua_Integer offset);

/* The integer data gives first, at key 1 of the list or table it encodes, read from its
   first bytes only (the rest may be corrupt): 1 and *value, or 0. */
int shmlua_first_integer(const void *data, size_t len, lua_Integer *value);
/* If data is a list whose values are only nil, booleans, numbers, strings and packed lists
   of integers (a pool's task), pushes it as a table and returns 1; else 0, nothing pushed
   (shmlua_deserialize reads it). data is read in place: still(L, ctx) is called before each
   read that follows a step that may have run the collector (data may be a queue's scratch,
   which a finalizer may free) and must raise if data is gone. */
int shmlua_deserialize_flat(lua_State *L, const void *data, size_t len,
                            void (*still)(lua_State *L, void *ctx), void *ctx);

#endif
