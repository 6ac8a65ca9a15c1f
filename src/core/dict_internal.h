/* What the dict's files (dict*.c) share: a shard's arena as chunks, entries and list nodes,
   the context of one operation on one locked shard, and the checked readers and logged
   writers every change goes through (inline: they are the hot path of every operation).
   Errors: private to those files, the steps answer with an errno (0 or the code), as a core
   file's own helpers may (error.h); dict_with_key and dict_each_shard turn it into the
   core's rule (0, or -1 with err) for the public calls. */
#ifndef SHMLUA_DICT_INTERNAL_H
#define SHMLUA_DICT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "dict.h"

enum {
  FREE_BIT = 1,   /* in a chunk's size: the chunk is free */
  FIRST = 8,      /* arena offset of the first chunk; 0 means none */
  MIN_CHUNK = 16, /* a free chunk's header and links */
  MIN_SPLIT = 64, /* a remainder smaller than this stays with the chunk taken */
  LIST_HEAD = 16, /* a list entry's value: head, tail, length */
  /* A record of this width is not an old value but an entry's move to the head of the LRU
     list (dict_touch): offset is the entry's arena offset, old its neighbours before the move. */
  MOVE_RECORD = 16,
};

/* A chunk as the allocator sees it: size (| FREE_BIT) and the previous chunk's size, then
   the free list's links while free. */
typedef struct chunk {
  uint32_t size, prev_size;
  uint32_t next, prev;
} chunk;

/* A stored entry: its chunk header, then its links, then key and value (the value at the
   next multiple of 8 after the key). */
typedef struct entry {
  uint32_t size, prev_size;
  uint32_t hnext, lru_prev, lru_next, hash;
  uint64_t expires; /* CLOCK_MONOTONIC milliseconds; 0: never */
  uint64_t epoch;
  uint32_t klen, vlen, type, unused;
  unsigned char data[];
} entry;

/* A list's element: its chunk header, links, then the value. */
typedef struct node {
  uint32_t size, prev_size;
  uint32_t next, prev;
  uint32_t len, type;
  unsigned char data[];
} node;

typedef struct list_head {
  uint32_t head, tail;
  uint64_t len;
} list_head;

#define ALIGN8(n) (((n) + 7) & ~(uint64_t)7)
#define ENTRY_HDR ((uint64_t)sizeof(entry))
#define NODE_HDR ((uint64_t)sizeof(node))

/* One operation on one locked shard. */
typedef struct ctx {
  const shmlua_dict *h;
  shmlua_dict_shard *s;
  unsigned char *base; /* the shard's first byte: undo offsets count from here */
  uint32_t *buckets;
  unsigned char *arena;
  uint64_t arena_size, max_chunks;
  uint64_t last_header; /* the highest offset an entry's header fits at (0: none fits) */
  uint32_t nlog;
  int overflow, bad; /* the log filled up; something read from the block cannot be right */
  int64_t now;       /* milliseconds, read once when first needed; -1 before */
} ctx;

/* The key an operation is about. */
typedef struct keyed {
  const char *key;
  uint32_t klen;
  uint32_t hash;
} keyed;

/* ---- the layout of a shard (dict_layout.c) ---- */

static inline uint64_t buckets_offset(void) {
  return ALIGN8(sizeof(shmlua_dict_shard));
}

static inline uint64_t arena_offset(uint32_t nbuckets) {
  return ALIGN8(buckets_offset() + 4 * (uint64_t)nbuckets);
}

/* ---- the undo log (dict_undo.c) ---- */

/* Writes down the old value of the width bytes at p before they change. 0 if the log is
   full (the operation will be undone). */
static inline int save(ctx *c, void *p, uint32_t width) {
  shmlua_dict_undo *u;
  if (c->nlog >= SHMLUA_DICT_LOG_MAX) {
    c->overflow = 1;
    return 0;
  }
  u = &c->s->log[c->nlog];
  u->offset = (uint32_t)((unsigned char *)p - c->base);
  u->width = width;
  if (width == 4)
    u->old = *(uint32_t *)p;
  else
    u->old = *(uint64_t *)p;
  __atomic_store_n(&c->s->nlog, ++c->nlog, __ATOMIC_RELEASE);
  __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the record, then the change */
  return 1;
}

/* A word that keeps its value needs no record: an overwrite with the same value (a set of
   the same size, type and ttl, a repeated value) logs only what changes. */
static inline void set32(ctx *c, uint32_t *p, uint32_t v) {
  if (*p != v && save(c, p, 4))
    *p = v;
}

static inline void set64(ctx *c, uint64_t *p, uint64_t v) {
  if (*p != v && save(c, p, 8))
    *p = v;
}

void dict_undo(ctx *c);
int dict_commit(ctx *c);

/* ---- reading the arena, checked ---- */

static inline int64_t now_ms(ctx *c) {
  if (c->now < 0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    c->now = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
  }
  return c->now;
}

/* The chunk at off if its header fits the arena and says at least min bytes; else NULL and
   the block is marked bad. */
static inline chunk *chunk_at(ctx *c, uint32_t off, uint64_t min) {
  chunk *ch;
  uint64_t size;
  if (off < FIRST || off % 8 || off > c->arena_size - min) {
    c->bad = 1;
    return NULL;
  }
  ch = (chunk *)(c->arena + off);
  size = ch->size & ~(uint32_t)7;
  if (size < min || size > c->arena_size - off) {
    c->bad = 1;
    return NULL;
  }
  return ch;
}

static inline uint32_t offset_of(const ctx *c, const void *p) {
  return (uint32_t)((const unsigned char *)p - c->arena);
}

static inline uint64_t size_of(const void *ch) {
  return ((const chunk *)ch)->size & ~(uint32_t)7;
}

static inline uint64_t value_offset(uint32_t klen) {
  return ALIGN8(klen);
}

static inline int value_fits(uint32_t type, uint64_t vlen) {
  switch (type) {
  case SHMLUA_DICT_BOOLEAN:
    return vlen == 1;
  case SHMLUA_DICT_INTEGER:
  case SHMLUA_DICT_FLOAT:
    return vlen == 8;
  case SHMLUA_DICT_STRING:
  case SHMLUA_DICT_ENCODED:
    return 1;
  case SHMLUA_DICT_LIST:
    return vlen == LIST_HEAD;
  default:
    return 0;
  }
}

/* The entry whose header is at off, for reading and writing its header words (links, hash,
   klen) only: one range check, as a step along a chain or the LRU list needs. NULL (and bad)
   outside. */
static inline entry *header_at(ctx *c, uint32_t off) {
  if (off < FIRST || off > c->last_header || off % 8) {
    c->bad = 1;
    return NULL;
  }
  return (entry *)(c->arena + off);
}

/* Whether the entry at e (its header checked by header_at) is whole: its chunk in use and
   within the arena, its key and value within its chunk. Else bad. */
static inline int entry_whole(ctx *c, const entry *e) {
  uint64_t size = size_of(e);
  if ((e->size & FREE_BIT) || size > c->arena_size - offset_of(c, e) ||
      e->klen > SHMLUA_DICT_KEY_MAX || !value_fits(e->type, e->vlen) ||
      ENTRY_HDR + value_offset(e->klen) + e->vlen > size) {
    c->bad = 1;
    return 0;
  }
  return 1;
}

/* The entry at off, checked whole: what reads its key or value needs. */
static inline entry *entry_at(ctx *c, uint32_t off) {
  entry *e = header_at(c, off);
  return e && entry_whole(c, e) ? e : NULL;
}

static inline node *node_at(ctx *c, uint32_t off) {
  node *n = (node *)chunk_at(c, off, NODE_HDR);
  if (!n)
    return NULL;
  if ((n->size & FREE_BIT) || !value_fits(n->type, n->len) || n->type == SHMLUA_DICT_LIST ||
      n->type == SHMLUA_DICT_BOOLEAN || n->type == SHMLUA_DICT_ENCODED ||
      NODE_HDR + n->len > size_of(n)) {
    c->bad = 1;
    return NULL;
  }
  return n;
}

static inline unsigned char *value_of(entry *e) {
  return e->data + value_offset(e->klen);
}

static inline int live(ctx *c, const entry *e) {
  return e->epoch == c->s->epoch && (e->expires == 0 || (int64_t)e->expires > now_ms(c));
}

/* ---- the allocator and the garbage (dict_alloc.c) ---- */

uint32_t dict_alloc(ctx *c, uint64_t need);
void dict_discard(ctx *c, chunk *ch);
void dict_drop_nodes(ctx *c, entry *e);
int dict_collect(ctx *c);

/* ---- hash chains, eviction (dict_table.c) ---- */

/* A key's hash: its low 32 bits pick the bucket (and are kept in the entry), its high 32 bits
   the shard. Inline: an operation on a short key spends more on a call than on the hash. */
static inline uint64_t dict_hash(const char *k, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
  for (; n >= 8; k += 8, n -= 8) {
    memcpy(&w, k, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  if (n) {
    w = 0;
    memcpy(&w, k, n);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
  }
  h ^= h >> 29;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 32);
}

uint32_t *dict_find(ctx *c, const keyed *k, entry **found);

/* The live entry k names (or, with stale, an expired one): *slot set, NULL if none. */
static inline entry *dict_lookup(ctx *c, keyed *k, uint32_t **slot, int stale) {
  entry *e;
  *slot = dict_find(c, k, &e);
  return e && (stale || live(c, e)) ? e : NULL;
}

void dict_remove_at(ctx *c, uint32_t *slot, entry *e);
int dict_put_entry(ctx *c, keyed *k, uint32_t *slot, entry *old, const shmlua_dict_value *v,
                   int64_t ttl_ms);
int dict_evict(ctx *c, int *forced);

/* ---- the LRU list (dict_lru.c) ---- */

void dict_lru_unlink(ctx *c, entry *e);
void dict_lru_push(ctx *c, entry *e);
void dict_touch(ctx *c, entry *e);
void dict_finish_move(ctx *c, shmlua_dict_undo u);

/* ---- values in and out (dict_value.c) ---- */

static inline uint64_t dict_value_len(const shmlua_dict_value *v) {
  switch (v->type) {
  case SHMLUA_DICT_BOOLEAN:
    return 1;
  case SHMLUA_DICT_STRING:
  case SHMLUA_DICT_ENCODED:
    return v->as.string.len;
  default:
    return 8;
  }
}

void dict_put_value(unsigned char *dst, const shmlua_dict_value *v);
int dict_get_value(uint32_t type, const unsigned char *src, uint64_t len,
                   shmlua_dict_reserve reserve, void *ud, shmlua_dict_value *out);

/* ---- running operations on locked shards (dict_shard.c) ---- */

int dict_with_key(shmlua_dict *h, const char *key, size_t klen,
                  int (*op)(ctx *, keyed *, void *), void *arg, shmlua_error *err);
int dict_each_shard(shmlua_dict *h, int (*op)(ctx *, void *), void *arg, shmlua_error *err);
int dict_walk(ctx *c, int (*visit)(ctx *, entry *, void *), void *arg);

#endif
