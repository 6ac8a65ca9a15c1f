/* A key-value dictionary in shared memory with OpenResty's ngx.shared.DICT semantics: values
   with expiry, least-recently-used eviction, counters and lists. The store is split into
   shards (one for small dicts, up to 16), each with its own robust mutex, hash table, LRU
   list and share of the capacity, so processes on different keys rarely meet.

   Crash safety: every change to a shard's shared words goes through an undo log kept in the
   shard (the old value is written down before the word changes); an operation commits by
   emptying the log. The next locker after a death (EOWNERDEAD, or any log it finds not
   empty) puts the old values back, so an operation killed at any instruction either
   happened or did not. Evictions, and freeing the nodes of a dropped list, are each their
   own small operation: they are what a later operation would have done anyway.

   A peer that writes garbage over the block gets the others EPROTO: every offset read from
   the block is checked to lie within its shard before it is used, and every walk is
   bounded by the most entries a shard could hold. A step along a hash chain or the LRU list
   reads or writes only an entry's header (links, hash, key length), so it checks only that
   the header lies within the arena; an entry whose key or value is read is checked whole
   (its chunk in use, its key and value within it).
   Errors as error.h says: 0 or -1 with err (the codes below); open, capacity, free_space
   and count cannot fail. */
#ifndef SHMLUA_DICT_H
#define SHMLUA_DICT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sync_header.h"

#define SHMLUA_DICT_KEY_MAX 65536u  /* bytes of a key */
#define SHMLUA_DICT_BYTES_MIN 1024u /* smallest capacity */
#define SHMLUA_DICT_BYTES_MAX (1ull << 36)
#define SHMLUA_DICT_SHARDS_MAX 16u
#define SHMLUA_DICT_LOG_MAX 128u /* undo records of one operation */

typedef enum shmlua_dict_vtype {
  SHMLUA_DICT_NIL = 0, /* absent (or, to store, delete) */
  SHMLUA_DICT_BOOLEAN,
  SHMLUA_DICT_INTEGER,
  SHMLUA_DICT_FLOAT,
  SHMLUA_DICT_STRING,
  SHMLUA_DICT_LIST,    /* only as a stored entry's kind: made by push */
  SHMLUA_DICT_ENCODED, /* bytes (as.string) the caller encoded and decodes: a Lua table in
                          the binding's serialisation. Kept apart from STRING so a string
                          stays a string; not for lists. A build older than this type finds
                          such an entry damaged (EPROTO), never reads it as something else. */
} shmlua_dict_vtype;

typedef struct shmlua_dict_value {
  shmlua_dict_vtype type;
  union {
    int boolean;
    int64_t integer;
    double number;
    struct {
      const char *bytes;
      size_t len;
    } string; /* STRING and ENCODED */
  } as;
} shmlua_dict_value;

/* One undo record: width (4 or 8) bytes at offset from the shard's start held old; or, with
   width 16, an entry's move to the LRU head, finished rather than undone (dict_lru.c: dict_touch). */
typedef struct shmlua_dict_undo {
  uint32_t offset, width;
  uint64_t old;
} shmlua_dict_undo;

/* A shard: its lock, its state, its undo log, then its buckets and its arena. Offsets into
   the arena are 32-bit; 0 means none (the arena's first 8 bytes are never a chunk). */
typedef struct shmlua_dict_shard {
  union {
    pthread_mutex_t lock; /* robust */
    unsigned char lock_line[64];
  };
  uint32_t nlog;  /* undo records of the operation under way; 0: nothing to undo */
  uint32_t count; /* entries held, expired ones included until removed */
  uint32_t free_head, lru_head, lru_tail; /* lru_head is the most recently used */
  uint32_t garbage; /* chunks freed by the last operation, freed one by one after it */
  uint64_t free_bytes;
  uint64_t epoch; /* flush_all moves it: entries written in an older epoch are expired */
  shmlua_dict_undo log[SHMLUA_DICT_LOG_MAX];
} shmlua_dict_shard;

typedef struct shmlua_dict_block {
  union {
    struct {
      shmlua_sync_header header;
      uint32_t nshards, nbuckets; /* powers of two */
      uint64_t arena_size;        /* bytes of each shard's arena, 8 of them unused */
      uint64_t shard_size;        /* bytes of each shard: state, buckets, arena */
    };
    unsigned char limits_line[64];
  };
  unsigned char shards[]; /* nshards of shard_size bytes */
} shmlua_dict_block;

/* A process's handle: the limits are copied at open so a peer cannot change ours. */
typedef struct shmlua_dict {
  shmlua_dict_block *d;
  uint32_t nshards, nbuckets;
  uint64_t arena_size, shard_size;
} shmlua_dict;

extern const shmlua_sync_type shmlua_dict_type;

/* Layout size for a capacity of bytes in *size; -1 (EINVAL) when out of range. */
int shmlua_dict_layout_size(uint64_t bytes, size_t *size, shmlua_error *err);

/* init callback: arg points to the uint64_t capacity. */
int shmlua_dict_init(void *addr, const void *arg, shmlua_error *err);

/* Starts using a created or attached (validated) dict mapped over size bytes. */
void shmlua_dict_open(shmlua_dict *h, void *addr, size_t size);

/* Where a read copies a string: a buffer of at least len bytes, or NULL (ENOMEM). Called
   with a shard locked: must not block or raise. */
typedef void *(*shmlua_dict_reserve)(void *ud, size_t len);

/* Every call below returns 0 or -1 with err. Expected outcomes have their own codes:
   ENOENT "not found", EEXIST "exists", ENOMEM "no memory", EDOM "not a number",
   ENOTSUP "value not a list", EISDIR "value is a list"; others (EPROTO: the block is
   damaged, ETIMEDOUT: a lock held for seconds, ENOTRECOVERABLE) are failures. */

/* The value of key into *out (strings and encoded bytes through reserve); type NIL when
   absent. With stale not NULL, an expired value is returned too and *stale tells. */
int shmlua_dict_get(shmlua_dict *h, const char *key, size_t klen, shmlua_dict_reserve reserve,
                    void *ud, shmlua_dict_value *out, int *stale, shmlua_error *err);

typedef enum shmlua_dict_mode {
  SHMLUA_DICT_SET,      /* store, evicting least recently used entries if needed */
  SHMLUA_DICT_SAFE_SET, /* store, ENOMEM instead of evicting */
  SHMLUA_DICT_ADD,      /* only when absent (EEXIST otherwise), evicting */
  SHMLUA_DICT_SAFE_ADD,
  SHMLUA_DICT_REPLACE, /* only when present (ENOENT otherwise), evicting */
} shmlua_dict_mode;

/* Stores v under key (v NIL deletes) with ttl_ms (0: for ever). *forcible: whether
   entries that had not expired were evicted to make room. */
int shmlua_dict_store(shmlua_dict *h, shmlua_dict_mode mode, const char *key, size_t klen,
                      const shmlua_dict_value *v, int64_t ttl_ms, int *forcible,
                      shmlua_error *err);

/* Adds n (INTEGER or FLOAT) to the number at key; absent and init not NULL: stores init + n
   with init_ttl_ms. The sum in *out: integer + integer stays an integer (wrapping). */
int shmlua_dict_incr(shmlua_dict *h, const char *key, size_t klen, const shmlua_dict_value *n,
                     const shmlua_dict_value *init, int64_t init_ttl_ms,
                     shmlua_dict_value *out, int *forcible, shmlua_error *err);

/* Milliseconds left before key expires in *ms (0: never). */
int shmlua_dict_ttl(shmlua_dict *h, const char *key, size_t klen, int64_t *ms,
                    shmlua_error *err);
int shmlua_dict_expire(shmlua_dict *h, const char *key, size_t klen, int64_t ttl_ms,
                       shmlua_error *err);

/* Every entry expires now (their memory is reused as needed). */
int shmlua_dict_flush_all(shmlua_dict *h, shmlua_error *err);
/* Frees up to max expired entries (0: all); how many in *freed. */
int shmlua_dict_flush_expired(shmlua_dict *h, uint64_t max, uint64_t *freed,
                              shmlua_error *err);

/* Calls each(ud, key, klen) for up to max keys that have not expired (0: all), a shard
   locked meanwhile; each returns 0, or -1 to stop with ENOMEM. */
int shmlua_dict_keys(shmlua_dict *h, uint64_t max,
                     int (*each)(void *ud, const char *key, size_t klen), void *ud,
                     shmlua_error *err);

uint64_t shmlua_dict_capacity(const shmlua_dict *h);
uint64_t shmlua_dict_free_space(const shmlua_dict *h);
uint64_t shmlua_dict_count(const shmlua_dict *h);

/* Lists: push v (STRING, INTEGER or FLOAT) at the head (left) or tail; the new length in
   *len. ENOTSUP when key holds something else. */
int shmlua_dict_push(shmlua_dict *h, const char *key, size_t klen, int left,
                     const shmlua_dict_value *v, uint64_t *len, shmlua_error *err);
/* Pops from the head (left) or tail into *out (NIL when empty or absent). */
int shmlua_dict_pop(shmlua_dict *h, const char *key, size_t klen, int left,
                    shmlua_dict_reserve reserve, void *ud, shmlua_dict_value *out,
                    shmlua_error *err);
int shmlua_dict_llen(shmlua_dict *h, const char *key, size_t klen, uint64_t *len,
                     shmlua_error *err);

#endif
