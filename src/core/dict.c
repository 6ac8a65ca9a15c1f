/* The shared dictionary (dict.h): shards of a hash table, an LRU list and a first-fit
   allocator with boundary tags over an arena, every shared word changed through the shard's
   undo log. An operation runs with its shard locked, in this order: find, change (each
   change logged), commit (the log emptied). Failing midway (no room, a damaged block) undoes
   the log in place, as the next locker does after a death. */
#include "dict.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "futex.h"
#include "mutex.h"

/* How long an operation waits for its shard's lock: a holder keeps it for one operation, so
   only a stopped process or a lock a peer wrote over takes longer. */
static const double LOCK_SECONDS = 2.0;

enum {
  FREE_BIT = 1,    /* in a chunk's size: the chunk is free */
  FIRST = 8,       /* arena offset of the first chunk; 0 means none */
  MIN_CHUNK = 16,  /* a free chunk's header and links */
  MIN_SPLIT = 64,  /* a remainder smaller than this stays with the chunk taken */
  LIST_HEAD = 16,  /* a list entry's value: head, tail, length */
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
  uint32_t nlog;
  int overflow, bad; /* the log filled up; something read from the block cannot be right */
  int64_t now;       /* milliseconds, read once when first needed; -1 before */
} ctx;

static uint64_t buckets_offset(void) {
  return ALIGN8(sizeof(shmlua_dict_shard));
}

static uint64_t arena_offset(uint32_t nbuckets) {
  return ALIGN8(buckets_offset() + 4 * (uint64_t)nbuckets);
}

static uint64_t shard_bytes(uint32_t nbuckets, uint64_t arena_size) {
  return (arena_offset(nbuckets) + arena_size + 63) & ~(uint64_t)63;
}

/* Small dicts keep one shard (one exact LRU order, every byte for any entry); from 2 MiB
   each shard has at least 1 MiB. */
static uint32_t shards_for(uint64_t bytes) {
  uint32_t n = 1;
  while (n < SHMLUA_DICT_SHARDS_MAX && bytes / (2 * (uint64_t)n) >= (1u << 20))
    n *= 2;
  return n;
}

static uint32_t buckets_for(uint64_t arena_size) {
  uint32_t n = 16;
  while (n < (1u << 24) && (uint64_t)n * 128 < arena_size)
    n *= 2;
  return n;
}

static int limits_ok(uint32_t nshards, uint32_t nbuckets, uint64_t arena_size) {
  return nshards >= 1 && nshards <= SHMLUA_DICT_SHARDS_MAX && !(nshards & (nshards - 1)) &&
         nbuckets >= 16 && nbuckets <= (1u << 24) && !(nbuckets & (nbuckets - 1)) &&
         arena_size % 8 == 0 && arena_size >= FIRST + MIN_CHUNK && arena_size <= UINT32_MAX;
}

static int check(const void *bytes, size_t size, shmlua_error *err) {
  const shmlua_dict_block *d = bytes;
  if (size < sizeof *d)
    return shmlua_failf(err, EPROTO, "dict layout of %zu bytes is too small", size);
  if (!limits_ok(d->nshards, d->nbuckets, d->arena_size) ||
      d->shard_size != shard_bytes(d->nbuckets, d->arena_size) ||
      d->shard_size * d->nshards != size - sizeof *d)
    return shmlua_failf(err, EPROTO, "dict limits do not match its size");
  return 0;
}

const shmlua_sync_type shmlua_dict_type = {SHMLUA_KIND_DICT, "dict", 0, check};

static uint64_t arena_for(uint64_t bytes, uint32_t nshards) {
  return ALIGN8((bytes + nshards - 1) / nshards) + FIRST;
}

int shmlua_dict_layout_size(uint64_t bytes, size_t *size, shmlua_error *err) {
  uint32_t nshards;
  uint64_t arena;
  if (bytes < SHMLUA_DICT_BYTES_MIN || bytes > SHMLUA_DICT_BYTES_MAX)
    return shmlua_failf(err, EINVAL, "capacity in bytes must be %u..%llu",
                        SHMLUA_DICT_BYTES_MIN, (unsigned long long)SHMLUA_DICT_BYTES_MAX);
  nshards = shards_for(bytes);
  arena = arena_for(bytes, nshards);
  *size = sizeof(shmlua_dict_block) + nshards * shard_bytes(buckets_for(arena), arena);
  return 0;
}

int shmlua_dict_init(void *addr, const void *arg, shmlua_error *err) {
  shmlua_dict_block *d = addr;
  uint64_t bytes = *(const uint64_t *)arg;
  d->nshards = shards_for(bytes);
  d->arena_size = arena_for(bytes, d->nshards);
  d->nbuckets = buckets_for(d->arena_size);
  d->shard_size = shard_bytes(d->nbuckets, d->arena_size);
  for (uint32_t i = 0; i < d->nshards; i++) {
    unsigned char *base = d->shards + i * d->shard_size;
    shmlua_dict_shard *s = (shmlua_dict_shard *)base;
    chunk *all = (chunk *)(base + arena_offset(d->nbuckets) + FIRST);
    if (shmlua_mutex_init(&s->lock, err) != 0)
      return -1;
    all->size = (uint32_t)(d->arena_size - FIRST) | FREE_BIT; /* the whole arena, free */
    s->free_head = FIRST;
    s->free_bytes = d->arena_size - FIRST;
  }
  return 0;
}

void shmlua_dict_open(shmlua_dict *h, void *addr, size_t size) {
  shmlua_dict_block *d = addr;
  h->d = d;
  h->nshards = d->nshards;
  h->nbuckets = d->nbuckets;
  h->arena_size = d->arena_size;
  h->shard_size = d->shard_size;
  /* A peer may rewrite the limits between the attach's check and here: fall back to the
     smallest layout that stays within the mapping. */
  if (!limits_ok(h->nshards, h->nbuckets, h->arena_size) ||
      h->shard_size != shard_bytes(h->nbuckets, h->arena_size) ||
      h->shard_size * h->nshards > size - sizeof *d) {
    h->nshards = 1;
    h->nbuckets = 16;
    h->arena_size = FIRST + MIN_CHUNK;
    h->shard_size = shard_bytes(h->nbuckets, h->arena_size);
  }
}

/* ---- the undo log ---- */

static int in_shard(const ctx *c, uint64_t offset, uint32_t width) {
  uint64_t state = offsetof(shmlua_dict_shard, count), log = offsetof(shmlua_dict_shard, log);
  return (width == 4 || width == 8) && offset % width == 0 &&
         ((offset >= state && offset + width <= log) ||
          (offset >= buckets_offset() && offset + width <= c->h->shard_size));
}

/* Writes down the old value of the width bytes at p before they change. 0 if the log is
   full (the operation will be undone). */
static int save(ctx *c, void *p, uint32_t width) {
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
static void set32(ctx *c, uint32_t *p, uint32_t v) {
  if (*p != v && save(c, p, 4))
    *p = v;
}

static void set64(ctx *c, uint64_t *p, uint64_t v) {
  if (*p != v && save(c, p, 8))
    *p = v;
}

/* A record of width MOVE_RECORD is not an old value but an entry's move to the head of the
   LRU list (touch): offset is the entry's arena offset, old its neighbours before the move. */
enum { MOVE_RECORD = 16 };
static void finish_move(ctx *c, shmlua_dict_undo u);

/* Puts back every recorded value, newest first (and finishes a move to the LRU head). Safe
   to run again after a death midway: the log is emptied last. Records that point outside
   the shard's state are skipped. */
static void undo(ctx *c) {
  uint32_t n = __atomic_load_n(&c->s->nlog, __ATOMIC_ACQUIRE);
  if (n > SHMLUA_DICT_LOG_MAX)
    n = SHMLUA_DICT_LOG_MAX;
  while (n-- > 0) {
    shmlua_dict_undo u = c->s->log[n];
    if (u.width == MOVE_RECORD)
      finish_move(c, u);
    if (!in_shard(c, u.offset, u.width))
      continue;
    if (u.width == 4)
      *(uint32_t *)(c->base + u.offset) = (uint32_t)u.old;
    else
      *(uint64_t *)(c->base + u.offset) = u.old;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  __atomic_store_n(&c->s->nlog, 0, __ATOMIC_RELEASE);
  c->nlog = 0;
  c->overflow = 0;
}

/* The operation is done: EPROTO (and undone) if the log overflowed or the block was found
   damaged on the way. */
static int commit(ctx *c) {
  if (c->overflow || c->bad) {
    undo(c);
    c->bad = 0;
    return EPROTO;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  __atomic_store_n(&c->s->nlog, 0, __ATOMIC_RELEASE);
  c->nlog = 0;
  return 0;
}

/* ---- reading the arena, checked ---- */

static int64_t now_ms(ctx *c) {
  if (c->now < 0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    c->now = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
  }
  return c->now;
}

/* The chunk at off if its header fits the arena and says at least min bytes; else NULL and
   the block is marked bad. */
static chunk *chunk_at(ctx *c, uint32_t off, uint64_t min) {
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

static uint64_t size_of(const void *ch) {
  return ((const chunk *)ch)->size & ~(uint32_t)7;
}

static uint64_t value_offset(uint32_t klen) {
  return ALIGN8(klen);
}

static int value_fits(uint32_t type, uint64_t vlen) {
  switch (type) {
  case SHMLUA_DICT_BOOLEAN:
    return vlen == 1;
  case SHMLUA_DICT_INTEGER:
  case SHMLUA_DICT_FLOAT:
    return vlen == 8;
  case SHMLUA_DICT_STRING:
    return 1;
  case SHMLUA_DICT_LIST:
    return vlen == LIST_HEAD;
  default:
    return 0;
  }
}

static entry *entry_at(ctx *c, uint32_t off) {
  entry *e = (entry *)chunk_at(c, off, ENTRY_HDR);
  if (!e)
    return NULL;
  if ((e->size & FREE_BIT) || e->klen > SHMLUA_DICT_KEY_MAX || !value_fits(e->type, e->vlen) ||
      ENTRY_HDR + value_offset(e->klen) + e->vlen > size_of(e)) {
    c->bad = 1;
    return NULL;
  }
  return e;
}

static node *node_at(ctx *c, uint32_t off) {
  node *n = (node *)chunk_at(c, off, NODE_HDR);
  if (!n)
    return NULL;
  if ((n->size & FREE_BIT) || !value_fits(n->type, n->len) ||
      n->type == SHMLUA_DICT_LIST || n->type == SHMLUA_DICT_BOOLEAN ||
      NODE_HDR + n->len > size_of(n)) {
    c->bad = 1;
    return NULL;
  }
  return n;
}

static uint32_t offset_of(const ctx *c, const void *p) {
  return (uint32_t)((const unsigned char *)p - c->arena);
}

static unsigned char *value_of(entry *e) {
  return e->data + value_offset(e->klen);
}

static int live(ctx *c, const entry *e) {
  return e->epoch == c->s->epoch && (e->expires == 0 || (int64_t)e->expires > now_ms(c));
}

/* ---- the allocator ---- */

static void unlink_free(ctx *c, chunk *ch) {
  chunk *p, *n;
  if (ch->prev) {
    if ((p = chunk_at(c, ch->prev, MIN_CHUNK)))
      set32(c, &p->next, ch->next);
  } else
    set32(c, &c->s->free_head, ch->next);
  if (ch->next && (n = chunk_at(c, ch->next, MIN_CHUNK)))
    set32(c, &n->prev, ch->prev);
}

static void push_free(ctx *c, chunk *ch) {
  uint32_t off = offset_of(c, ch);
  chunk *head;
  set32(c, &ch->next, c->s->free_head);
  set32(c, &ch->prev, 0);
  if (c->s->free_head && (head = chunk_at(c, c->s->free_head, MIN_CHUNK)))
    set32(c, &head->prev, off);
  set32(c, &c->s->free_head, off);
}

/* The chunk after ch, or NULL at the arena's end (or when damaged: then c->bad). */
static chunk *next_chunk(ctx *c, const chunk *ch) {
  uint64_t off = offset_of(c, ch) + size_of(ch);
  return off < c->arena_size ? chunk_at(c, (uint32_t)off, MIN_CHUNK) : NULL;
}

/* A chunk of need bytes (a multiple of 8) from the first free chunk that fits; 0 if none.
   Its first 16 bytes (the links) are saved, so an undo gives back a whole free chunk. */
static uint32_t alloc(ctx *c, uint64_t need) {
  uint32_t off = c->s->free_head;
  for (uint64_t steps = 0; off && steps <= c->max_chunks; steps++) {
    chunk *ch = chunk_at(c, off, MIN_CHUNK), *after;
    uint64_t size;
    if (!ch || !(ch->size & FREE_BIT)) {
      c->bad = 1;
      return 0;
    }
    size = size_of(ch);
    if (size < need) {
      off = ch->next;
      continue;
    }
    after = next_chunk(c, ch);
    unlink_free(c, ch);
    save(c, &ch->next, 4);
    save(c, &ch->prev, 4);
    if (size - need >= MIN_SPLIT) {
      chunk *rest = (chunk *)((unsigned char *)ch + need);
      rest->size = (uint32_t)(size - need) | FREE_BIT; /* inside ch: undone with ch */
      rest->prev_size = (uint32_t)need;
      push_free(c, rest);
      if (after)
        set32(c, &after->prev_size, (uint32_t)(size - need));
      size = need;
    }
    set32(c, &ch->size, (uint32_t)size);
    set64(c, &c->s->free_bytes, c->s->free_bytes - size);
    return off;
  }
  if (off)
    c->bad = 1; /* a free list longer than the arena can hold: a cycle */
  return 0;
}

/* Gives back the chunk at ch, merged with free neighbours. */
static void release(ctx *c, chunk *ch) {
  uint64_t size = size_of(ch), freed = size;
  chunk *after = next_chunk(c, ch);
  if (c->bad)
    return;
  if (after && (after->size & FREE_BIT)) {
    unlink_free(c, after);
    size += size_of(after);
    after = next_chunk(c, after);
  }
  if (ch->prev_size) {
    uint32_t off = offset_of(c, ch);
    chunk *before = off > ch->prev_size ? chunk_at(c, off - ch->prev_size, MIN_CHUNK) : NULL;
    if (!before || size_of(before) != ch->prev_size) {
      c->bad = 1;
      return;
    }
    if (before->size & FREE_BIT) {
      unlink_free(c, before);
      size += size_of(before);
      ch = before;
    }
  }
  if (c->bad)
    return;
  set32(c, &ch->size, (uint32_t)size | FREE_BIT);
  push_free(c, ch);
  if (after)
    set32(c, &after->prev_size, (uint32_t)size);
  set64(c, &c->s->free_bytes, c->s->free_bytes + freed);
}

/* ---- hash chains and the LRU list ---- */

static uint64_t hash_key(const char *k, size_t n) {
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

/* The link that points at key's entry (its bucket or the previous entry's hnext), or at the
   end of the chain (*slot == 0) when absent. NULL when the chain is damaged. */
static uint32_t *find(ctx *c, const char *key, uint32_t klen, uint32_t hash) {
  uint32_t *slot = &c->buckets[hash & (c->h->nbuckets - 1)];
  for (uint64_t steps = 0; *slot; steps++) {
    entry *e = steps <= c->max_chunks ? entry_at(c, *slot) : NULL;
    if (!e) {
      c->bad = 1;
      return NULL;
    }
    if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0)
      return slot;
    slot = &e->hnext;
  }
  return slot;
}

static void lru_unlink(ctx *c, entry *e) {
  entry *p = NULL, *n = NULL;
  if (e->lru_prev && !(p = entry_at(c, e->lru_prev)))
    return;
  if (e->lru_next && !(n = entry_at(c, e->lru_next)))
    return;
  if (p)
    set32(c, &p->lru_next, e->lru_next);
  else
    set32(c, &c->s->lru_head, e->lru_next);
  if (n)
    set32(c, &n->lru_prev, e->lru_prev);
  else
    set32(c, &c->s->lru_tail, e->lru_prev);
}

static void lru_push(ctx *c, entry *e) {
  uint32_t off = offset_of(c, e);
  entry *head = NULL;
  if (c->s->lru_head && !(head = entry_at(c, c->s->lru_head)))
    return;
  set32(c, &e->lru_prev, 0);
  set32(c, &e->lru_next, c->s->lru_head);
  if (head)
    set32(c, &head->lru_prev, off);
  else
    set32(c, &c->s->lru_tail, off);
  set32(c, &c->s->lru_head, off);
}

/* Moves e (at off, between prev and next) in front of the list's head. Every word written
   follows from those three and the head, and the head is written last: until then, doing
   it all again from the start gives the same list. */
static void move_to_head(ctx *c, entry *e, uint32_t off, entry *prev, uint32_t next_off) {
  uint32_t head_off = c->s->lru_head;
  entry *head = entry_at(c, head_off), *next = next_off ? entry_at(c, next_off) : NULL;
  if (!head || head == e || (next_off && !next))
    return;
  prev->lru_next = next_off;
  if (next)
    next->lru_prev = offset_of(c, prev);
  else
    c->s->lru_tail = offset_of(c, prev);
  e->lru_prev = 0;
  e->lru_next = head_off;
  head->lru_prev = off;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  c->s->lru_head = off;
}

/* Makes e the most recently used entry. One log record instead of one per word changed:
   after a death, the next locker finishes the move (finish_move) rather than undoing it.
   Finishing is only right because a touch is the last change of its operation: nothing
   logged after it is undone underneath it. */
static void touch(ctx *c, entry *e) {
  uint32_t off = offset_of(c, e);
  entry *prev;
  shmlua_dict_undo *u;
  if (c->s->lru_head == off)
    return;
  if (!(prev = entry_at(c, e->lru_prev))) /* not the head: it has a previous entry */
    return;
  if (c->nlog >= SHMLUA_DICT_LOG_MAX) {
    c->overflow = 1;
    return;
  }
  u = &c->s->log[c->nlog];
  u->offset = off;
  u->width = MOVE_RECORD;
  u->old = e->lru_prev | (uint64_t)e->lru_next << 32;
  __atomic_store_n(&c->s->nlog, ++c->nlog, __ATOMIC_RELEASE);
  __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the record, then the change */
  move_to_head(c, e, off, prev, e->lru_next);
}

/* The rest of a move to the head that a death interrupted (or nothing, if it was done). A
   record a peer wrote moves nothing it cannot check. */
static void finish_move(ctx *c, shmlua_dict_undo u) {
  entry *e, *prev;
  if (c->s->lru_head == u.offset || !(e = entry_at(c, u.offset)) ||
      !(prev = entry_at(c, (uint32_t)u.old)) || prev == e)
    return;
  move_to_head(c, e, u.offset, prev, (uint32_t)(u.old >> 32));
}

/* Hands a chunk to the shard's garbage, freed after the commit. Memory freed by an operation
   is never reused by the same operation: the undo would then put back the links of what was
   freed but not the bytes written over it. */
static void discard(ctx *c, chunk *ch) {
  set32(c, &ch->next, c->s->garbage);
  set32(c, &c->s->garbage, offset_of(c, ch));
}

/* Hands a list's nodes to the shard's garbage. */
static void drop_nodes(ctx *c, entry *e) {
  list_head *l = (list_head *)value_of(e);
  node *last;
  if (!l->head)
    return;
  if (!(last = node_at(c, l->tail)))
    return;
  set32(c, &last->next, c->s->garbage);
  set32(c, &c->s->garbage, l->head);
}

/* Removes the entry *slot points at. */
static void remove_at(ctx *c, uint32_t *slot, entry *e) {
  set32(c, slot, e->hnext);
  lru_unlink(c, e);
  if (e->type == SHMLUA_DICT_LIST)
    drop_nodes(c, e);
  set32(c, &c->s->count, c->s->count - 1);
  discard(c, (chunk *)e);
}

/* Frees the garbage, each chunk its own operation. */
static int collect(ctx *c) {
  for (uint64_t steps = 0; c->s->garbage; steps++) {
    chunk *n = steps <= c->max_chunks ? chunk_at(c, c->s->garbage, MIN_CHUNK) : NULL;
    if (!n || (n->size & FREE_BIT)) { /* what it held is lost: never freed twice */
      c->bad = 0;
      set32(c, &c->s->garbage, 0);
      commit(c);
      return EPROTO;
    }
    set32(c, &c->s->garbage, n->next);
    release(c, n);
    if (commit(c) != 0)
      return EPROTO;
  }
  return 0;
}

/* ---- locking ---- */

/* 0 or an errno (the file's steps answer with errnos; the public calls fill err). */
static int lock(shmlua_dict *h, uint32_t shard, ctx *c) {
  struct timespec deadline;
  shmlua_error err;
  int rc = 0;
  c->h = h;
  c->base = h->d->shards + shard * h->shard_size;
  c->s = (shmlua_dict_shard *)c->base;
  c->buckets = (uint32_t *)(c->base + buckets_offset());
  c->arena = c->base + arena_offset(h->nbuckets);
  c->arena_size = h->arena_size;
  c->max_chunks = h->arena_size / MIN_CHUNK;
  c->nlog = 0;
  c->overflow = c->bad = 0;
  c->now = -1;
  if (shmlua_mutex_trylock(&c->s->lock, &err) != 0) { /* the clock only when it is taken */
    rc = err.code;
    if (rc == EBUSY) {
      deadline = shmlua_deadline_coarse(LOCK_SECONDS);
      rc = shmlua_mutex_lock(&c->s->lock, &deadline, &err) == 0 ? 0 : err.code;
    }
  }
  if (rc == EOWNERDEAD) {
    undo(c);
    if (shmlua_mutex_consistent(&c->s->lock, &err) != 0) {
      shmlua_mutex_unlock(&c->s->lock, NULL);
      return err.code;
    }
    rc = 0;
  } else if (rc == 0 && __atomic_load_n(&c->s->nlog, __ATOMIC_ACQUIRE) != 0)
    undo(c); /* not left by a holder of ours: a peer wrote it */
  if (rc == 0 && c->s->garbage && collect(c) != 0) {
    shmlua_mutex_unlock(&c->s->lock, NULL);
    return EPROTO;
  }
  return rc;
}

static void unlock(ctx *c) {
  shmlua_mutex_unlock(&c->s->lock, NULL);
}

static uint32_t shard_of(const shmlua_dict *h, uint64_t hash) {
  return (uint32_t)(hash >> 32) & (h->nshards - 1);
}

static int fail(shmlua_error *err, int rc) {
  switch (rc) {
  case ENOENT:
    return shmlua_failf(err, rc, "not found");
  case EEXIST:
    return shmlua_failf(err, rc, "exists");
  case ENOMEM:
  case E2BIG:
    return shmlua_failf(err, ENOMEM, "no memory");
  case EDOM:
    return shmlua_failf(err, rc, "not a number");
  case ENOTSUP:
    return shmlua_failf(err, rc, "value not a list");
  case EISDIR:
    return shmlua_failf(err, rc, "value is a list");
  case EPROTO:
    return shmlua_failf(err, rc, "dict damaged (written over by another process?)");
  default:
    return shmlua_fail(err, rc, "lock");
  }
}

/* Runs op on key's shard, locked. */
typedef struct keyed {
  const char *key;
  uint32_t klen;
  uint32_t hash;
} keyed;

static int with_key(shmlua_dict *h, const char *key, size_t klen, int (*op)(ctx *, keyed *, void *),
                    void *arg, shmlua_error *err) {
  uint64_t hash = hash_key(key, klen);
  keyed k = {key, (uint32_t)klen, (uint32_t)hash};
  ctx c;
  int rc;
  if (klen == 0 || klen > SHMLUA_DICT_KEY_MAX)
    return shmlua_failf(err, EINVAL, "key of %zu bytes (1..%u allowed)", klen,
                        SHMLUA_DICT_KEY_MAX);
  if ((rc = lock(h, shard_of(h, hash), &c)) != 0)
    return fail(err, rc);
  rc = op(&c, &k, arg);
  if (c.nlog) { /* a failure left changes */
    undo(&c);
    rc = rc ? rc : EPROTO;
  }
  if (c.bad)
    rc = EPROTO;
  if (rc == 0 && c.s->garbage)
    rc = collect(&c);
  unlock(&c);
  return rc ? fail(err, rc) : 0;
}

/* The live entry key names (or, with stale, an expired one): *slot set, NULL if none. */
static entry *lookup(ctx *c, keyed *k, uint32_t **slot, int stale) {
  entry *e;
  *slot = find(c, k->key, k->klen, k->hash);
  if (!*slot || !**slot)
    return NULL;
  e = entry_at(c, **slot);
  return e && (stale || live(c, e)) ? e : NULL;
}

/* ---- values in and out ---- */

static uint64_t value_len(const shmlua_dict_value *v) {
  switch (v->type) {
  case SHMLUA_DICT_BOOLEAN:
    return 1;
  case SHMLUA_DICT_STRING:
    return v->as.string.len;
  default:
    return 8;
  }
}

static void put_value(unsigned char *dst, const shmlua_dict_value *v) {
  unsigned char b;
  switch (v->type) {
  case SHMLUA_DICT_BOOLEAN:
    b = v->as.boolean != 0;
    memcpy(dst, &b, 1);
    break;
  case SHMLUA_DICT_INTEGER:
    memcpy(dst, &v->as.integer, 8);
    break;
  case SHMLUA_DICT_FLOAT:
    memcpy(dst, &v->as.number, 8);
    break;
  default:
    if (v->as.string.len)
      memcpy(dst, v->as.string.bytes, v->as.string.len);
  }
}

static int get_value(uint32_t type, const unsigned char *src, uint64_t len,
                     shmlua_dict_reserve reserve, void *ud, shmlua_dict_value *out) {
  void *dst;
  out->type = (shmlua_dict_vtype)type;
  switch (type) {
  case SHMLUA_DICT_BOOLEAN:
    out->as.boolean = src[0] != 0;
    return 0;
  case SHMLUA_DICT_INTEGER:
    memcpy(&out->as.integer, src, 8);
    return 0;
  case SHMLUA_DICT_FLOAT:
    memcpy(&out->as.number, src, 8);
    return 0;
  default:
    if (!(dst = reserve(ud, (size_t)len)))
      return ENOMEM;
    memcpy(dst, src, (size_t)len);
    out->as.string.bytes = dst;
    out->as.string.len = (size_t)len;
    return 0;
  }
}

/* ---- operations ---- */

typedef struct getting {
  shmlua_dict_reserve reserve;
  void *ud;
  shmlua_dict_value *out;
  int *stale;
} getting;

static int get_op(ctx *c, keyed *k, void *arg) {
  getting *g = arg;
  uint32_t *slot;
  entry *e = lookup(c, k, &slot, g->stale != NULL);
  int rc;
  g->out->type = SHMLUA_DICT_NIL;
  if (!e)
    return c->bad ? EPROTO : 0;
  if (e->type == SHMLUA_DICT_LIST)
    return EISDIR;
  if (g->stale)
    *g->stale = !live(c, e);
  if ((rc = get_value(e->type, value_of(e), e->vlen, g->reserve, g->ud, g->out)) != 0)
    return rc;
  if (!g->stale || !*g->stale)
    touch(c, e);
  return commit(c);
}

int shmlua_dict_get(shmlua_dict *h, const char *key, size_t klen, shmlua_dict_reserve reserve,
                    void *ud, shmlua_dict_value *out, int *stale, shmlua_error *err) {
  getting g = {reserve, ud, out, stale};
  return with_key(h, key, klen, get_op, &g, err);
}

/* Evicts the least recently used entry as an operation of its own. 0 and *forced when it
   had not expired; ENOMEM when there is nothing to evict. */
static int evict(ctx *c, int *forced) {
  uint32_t *slot;
  entry *e, *x;
  if (!c->s->lru_tail)
    return ENOMEM;
  if (!(e = entry_at(c, c->s->lru_tail)))
    return EPROTO;
  slot = &c->buckets[e->hash & (c->h->nbuckets - 1)];
  for (uint64_t steps = 0; *slot != c->s->lru_tail; steps++) {
    if (!*slot || steps > c->max_chunks || !(x = entry_at(c, *slot)))
      return EPROTO;
    slot = &x->hnext;
  }
  if (live(c, e))
    *forced = 1;
  remove_at(c, slot, e);
  if (commit(c) != 0)
    return EPROTO;
  return c->s->garbage ? collect(c) : 0; /* a list's nodes: room for the store */
}

typedef struct storing {
  shmlua_dict_mode mode;
  const shmlua_dict_value *v;
  int64_t ttl_ms;
  int *forcible;
} storing;

/* Writes a new entry for k holding v (or a new empty list) in place of any old one. ENOMEM
   when it does not fit now, E2BIG when it never can; everything undone then. */
static int put_entry(ctx *c, keyed *k, uint32_t *slot, const shmlua_dict_value *v,
                     int64_t ttl_ms) {
  uint64_t vlen = v->type == SHMLUA_DICT_LIST ? LIST_HEAD : value_len(v);
  uint64_t need = ALIGN8(ENTRY_HDR + value_offset(k->klen) + vlen);
  uint32_t off;
  entry *e, *old = *slot ? entry_at(c, *slot) : NULL;
  if (old)
    remove_at(c, slot, old);
  if (c->bad)
    return EPROTO;
  if (need > c->arena_size - FIRST) {
    undo(c);
    return E2BIG; /* no eviction can make room */
  }
  if (!(off = alloc(c, need))) {
    int rc = c->bad ? EPROTO : ENOMEM;
    undo(c);
    return rc;
  }
  e = (entry *)(c->arena + off);
  e->hash = k->hash;
  e->expires = ttl_ms > 0 ? (uint64_t)(now_ms(c) + ttl_ms) : 0;
  e->epoch = c->s->epoch;
  e->klen = k->klen;
  e->vlen = (uint32_t)vlen;
  e->type = v->type;
  memcpy(e->data, k->key, k->klen);
  if (v->type == SHMLUA_DICT_LIST)
    memset(value_of(e), 0, LIST_HEAD);
  else
    put_value(value_of(e), v);
  /* the chain may have changed with the old entry gone: link at the bucket's head */
  slot = &c->buckets[k->hash & (c->h->nbuckets - 1)];
  e->hnext = *slot;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  set32(c, slot, off);
  lru_push(c, e);
  set32(c, &c->s->count, c->s->count + 1);
  return 0;
}

/* Bytes of a value rewritten in its entry, word by logged word: 64 words and the entry's
   fields stay well within the undo log. */
enum { IN_PLACE_MAX = 512 };
_Static_assert(IN_PLACE_MAX / 8 + 16 <= SHMLUA_DICT_LOG_MAX, "an in-place rewrite outgrew the log");

/* Rewrites the entry e in place when the new value fits its chunk closely and is small: no
   allocation, and each word of it logged like any other change. 0 if it does not apply. */
static int rewrite(ctx *c, entry *e, const shmlua_dict_value *v, int64_t ttl_ms) {
  uint64_t vlen = value_len(v), nwords = ALIGN8(vlen) / 8, words[IN_PLACE_MAX / 8];
  uint64_t need = ALIGN8(ENTRY_HDR + value_offset(e->klen) + vlen), *dst;
  if (e->type == SHMLUA_DICT_LIST || vlen > IN_PLACE_MAX || need > size_of(e) ||
      size_of(e) - need >= MIN_SPLIT)
    return 0;
  if (nwords)
    words[nwords - 1] = 0; /* the padding after the value */
  put_value((unsigned char *)words, v);
  dst = (uint64_t *)value_of(e);
  for (uint64_t i = 0; i < nwords; i++)
    set64(c, &dst[i], words[i]);
  set32(c, &e->vlen, (uint32_t)vlen);
  set32(c, &e->type, v->type);
  set64(c, &e->expires, ttl_ms > 0 ? (uint64_t)(now_ms(c) + ttl_ms) : 0);
  set64(c, &e->epoch, c->s->epoch);
  touch(c, e);
  return 1;
}

/* Stores, evicting (unless safe) until it fits. */
static int store_locked(ctx *c, keyed *k, shmlua_dict_mode mode, const shmlua_dict_value *v,
                        int64_t ttl_ms, int *forcible) {
  int safe = mode == SHMLUA_DICT_SAFE_SET || mode == SHMLUA_DICT_SAFE_ADD;
  for (;;) {
    uint32_t *slot;
    entry *e = lookup(c, k, &slot, 0);
    int rc;
    if (!slot)
      return EPROTO;
    if (e && (mode == SHMLUA_DICT_ADD || mode == SHMLUA_DICT_SAFE_ADD))
      return EEXIST;
    if (!e && mode == SHMLUA_DICT_REPLACE)
      return ENOENT;
    if (v->type == SHMLUA_DICT_NIL) {
      if (*slot && (e = entry_at(c, *slot)))
        remove_at(c, slot, e);
      return commit(c);
    }
    if (*slot && (e = entry_at(c, *slot)) && rewrite(c, e, v, ttl_ms))
      return commit(c);
    rc = put_entry(c, k, slot, v, ttl_ms);
    if (rc == 0)
      return commit(c);
    if (rc != ENOMEM || safe || (rc = evict(c, forcible)) != 0)
      return rc;
  }
}

static int store_op(ctx *c, keyed *k, void *arg) {
  storing *s = arg;
  return store_locked(c, k, s->mode, s->v, s->ttl_ms, s->forcible);
}

int shmlua_dict_store(shmlua_dict *h, shmlua_dict_mode mode, const char *key, size_t klen,
                      const shmlua_dict_value *v, int64_t ttl_ms, int *forcible,
                      shmlua_error *err) {
  storing s = {mode, v, ttl_ms, forcible};
  *forcible = 0;
  return with_key(h, key, klen, store_op, &s, err);
}

typedef struct adding {
  const shmlua_dict_value *n, *init;
  int64_t init_ttl_ms;
  shmlua_dict_value *out;
  int *forcible;
} adding;

static void sum(const shmlua_dict_value *a, const shmlua_dict_value *b, shmlua_dict_value *out) {
  if (a->type == SHMLUA_DICT_INTEGER && b->type == SHMLUA_DICT_INTEGER) {
    out->type = SHMLUA_DICT_INTEGER;
    out->as.integer = (int64_t)((uint64_t)a->as.integer + (uint64_t)b->as.integer);
  } else {
    out->type = SHMLUA_DICT_FLOAT;
    out->as.number = (a->type == SHMLUA_DICT_INTEGER ? (double)a->as.integer : a->as.number) +
                     (b->type == SHMLUA_DICT_INTEGER ? (double)b->as.integer : b->as.number);
  }
}

static int incr_op(ctx *c, keyed *k, void *arg) {
  adding *a = arg;
  uint32_t *slot;
  entry *e = lookup(c, k, &slot, 0);
  shmlua_dict_value old;
  uint64_t word;
  if (!slot)
    return EPROTO;
  if (!e) {
    if (!a->init)
      return ENOENT;
    sum(a->init, a->n, a->out);
    return store_locked(c, k, SHMLUA_DICT_SET, a->out, a->init_ttl_ms, a->forcible);
  }
  if (e->type != SHMLUA_DICT_INTEGER && e->type != SHMLUA_DICT_FLOAT)
    return EDOM;
  get_value(e->type, value_of(e), 8, NULL, NULL, &old);
  sum(&old, a->n, a->out);
  memcpy(&word, a->out->type == SHMLUA_DICT_INTEGER ? (void *)&a->out->as.integer
                                                    : (void *)&a->out->as.number,
         8);
  set64(c, (uint64_t *)value_of(e), word);
  set32(c, &e->type, a->out->type);
  touch(c, e);
  return commit(c);
}

int shmlua_dict_incr(shmlua_dict *h, const char *key, size_t klen, const shmlua_dict_value *n,
                     const shmlua_dict_value *init, int64_t init_ttl_ms, shmlua_dict_value *out,
                     int *forcible, shmlua_error *err) {
  adding a = {n, init, init_ttl_ms, out, forcible};
  *forcible = 0;
  return with_key(h, key, klen, incr_op, &a, err);
}

static int ttl_op(ctx *c, keyed *k, void *arg) {
  uint32_t *slot;
  entry *e = lookup(c, k, &slot, 0);
  int64_t *ms = arg;
  if (!e)
    return c->bad ? EPROTO : ENOENT;
  *ms = e->expires ? (int64_t)e->expires - now_ms(c) : 0;
  return 0;
}

int shmlua_dict_ttl(shmlua_dict *h, const char *key, size_t klen, int64_t *ms,
                    shmlua_error *err) {
  return with_key(h, key, klen, ttl_op, ms, err);
}

static int expire_op(ctx *c, keyed *k, void *arg) {
  uint32_t *slot;
  entry *e = lookup(c, k, &slot, 0);
  int64_t ttl_ms = *(int64_t *)arg;
  if (!e)
    return c->bad ? EPROTO : ENOENT;
  set64(c, &e->expires, ttl_ms > 0 ? (uint64_t)(now_ms(c) + ttl_ms) : 0);
  return commit(c);
}

int shmlua_dict_expire(shmlua_dict *h, const char *key, size_t klen, int64_t ttl_ms,
                       shmlua_error *err) {
  return with_key(h, key, klen, expire_op, &ttl_ms, err);
}

/* Runs op on every shard in turn, each locked; stops at the first failure. */
static int each_shard(shmlua_dict *h, int (*op)(ctx *, void *), void *arg, shmlua_error *err) {
  for (uint32_t i = 0; i < h->nshards; i++) {
    ctx c;
    int rc = lock(h, i, &c);
    if (rc != 0)
      return fail(err, rc);
    rc = op(&c, arg);
    if (rc == 0 && c.s->garbage)
      rc = collect(&c);
    unlock(&c);
    if (rc != 0)
      return rc == ENOMEM ? shmlua_fail(err, rc, "listing keys") : fail(err, rc);
  }
  return 0;
}

static int flush_all_op(ctx *c, void *arg) {
  (void)arg;
  set64(c, &c->s->epoch, c->s->epoch + 1);
  return commit(c);
}

int shmlua_dict_flush_all(shmlua_dict *h, shmlua_error *err) {
  return each_shard(h, flush_all_op, NULL, err);
}

/* Walks the LRU list from its most recent end, calling visit on each entry (which may remove
   it: the next one is read first). Bounded; EPROTO if the list is damaged. */
static int walk(ctx *c, int (*visit)(ctx *, entry *, void *), void *arg) {
  uint32_t off = c->s->lru_head;
  for (uint64_t steps = 0; off; steps++) {
    entry *e = steps <= c->max_chunks ? entry_at(c, off) : NULL;
    int rc;
    if (!e)
      return EPROTO;
    off = e->lru_next;
    if ((rc = visit(c, e, arg)) != 0)
      return rc == -1 ? 0 : rc; /* -1: stop */
  }
  return 0;
}

typedef struct flushing {
  uint64_t max, freed;
} flushing;

static int flush_one(ctx *c, entry *e, void *arg) {
  flushing *f = arg;
  uint32_t *slot;
  if (live(c, e))
    return 0;
  if (f->max && f->freed >= f->max)
    return -1;
  slot = find(c, (const char *)e->data, e->klen, e->hash);
  if (!slot || *slot != offset_of(c, e))
    return EPROTO;
  remove_at(c, slot, e);
  if (commit(c) != 0)
    return EPROTO;
  f->freed++;
  return 0;
}

static int flush_expired_op(ctx *c, void *arg) {
  return walk(c, flush_one, arg);
}

int shmlua_dict_flush_expired(shmlua_dict *h, uint64_t max, uint64_t *freed, shmlua_error *err) {
  flushing f = {max, 0};
  int rc = each_shard(h, flush_expired_op, &f, err);
  *freed = f.freed;
  return rc;
}

typedef struct listing {
  uint64_t max, seen;
  int (*each)(void *ud, const char *key, size_t klen);
  void *ud;
} listing;

static int list_one(ctx *c, entry *e, void *arg) {
  listing *l = arg;
  if (!live(c, e))
    return 0;
  if (l->max && l->seen >= l->max)
    return -1;
  l->seen++;
  return l->each(l->ud, (const char *)e->data, e->klen) == 0 ? 0 : ENOMEM;
}

static int keys_op(ctx *c, void *arg) {
  return walk(c, list_one, arg);
}

int shmlua_dict_keys(shmlua_dict *h, uint64_t max,
                     int (*each)(void *ud, const char *key, size_t klen), void *ud,
                     shmlua_error *err) {
  listing l = {max, 0, each, ud};
  return each_shard(h, keys_op, &l, err);
}

static shmlua_dict_shard *shard_at(const shmlua_dict *h, uint32_t i) {
  return (shmlua_dict_shard *)(h->d->shards + i * h->shard_size);
}

uint64_t shmlua_dict_capacity(const shmlua_dict *h) {
  return h->nshards * (h->arena_size - FIRST);
}

uint64_t shmlua_dict_free_space(const shmlua_dict *h) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < h->nshards; i++)
    n += __atomic_load_n(&shard_at(h, i)->free_bytes, __ATOMIC_RELAXED);
  return n;
}

uint64_t shmlua_dict_count(const shmlua_dict *h) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < h->nshards; i++)
    n += __atomic_load_n(&shard_at(h, i)->count, __ATOMIC_RELAXED);
  return n;
}

/* ---- lists ---- */

/* The list at k, made (empty) if absent or expired; NULL with *rc otherwise. */
static list_head *list_for(ctx *c, keyed *k, int make, entry **owner, int *rc) {
  uint32_t *slot;
  entry *e = lookup(c, k, &slot, 0);
  static const shmlua_dict_value list = {SHMLUA_DICT_LIST, {0}};
  *rc = 0;
  if (!slot) {
    *rc = EPROTO;
    return NULL;
  }
  if (!e) {
    if (!make)
      return NULL;
    if ((*rc = put_entry(c, k, slot, &list, 0)) != 0)
      return NULL;
    slot = find(c, k->key, k->klen, k->hash);
    if (!slot || !(e = entry_at(c, *slot))) {
      *rc = EPROTO;
      return NULL;
    }
  }
  if (e->type != SHMLUA_DICT_LIST) {
    *rc = ENOTSUP;
    return NULL;
  }
  *owner = e;
  return (list_head *)value_of(e);
}

typedef struct pushing {
  int left;
  const shmlua_dict_value *v;
  uint64_t *len;
} pushing;

static int push_op(ctx *c, keyed *k, void *arg) {
  pushing *p = arg;
  entry *e;
  int rc;
  list_head *l = list_for(c, k, 1, &e, &rc);
  uint64_t need = ALIGN8(NODE_HDR + value_len(p->v));
  uint32_t off, *near_end, *far_end;
  node *n, *neighbour = NULL;
  if (!l)
    return rc;
  if (!(off = alloc(c, need))) {
    rc = c->bad ? EPROTO : ENOMEM;
    undo(c);
    return rc;
  }
  n = (node *)(c->arena + off);
  n->len = (uint32_t)value_len(p->v);
  n->type = p->v->type;
  put_value(n->data, p->v);
  near_end = p->left ? &l->head : &l->tail;
  far_end = p->left ? &l->tail : &l->head;
  if (*near_end && !(neighbour = node_at(c, *near_end)))
    return EPROTO;
  n->next = p->left ? *near_end : 0;
  n->prev = p->left ? 0 : *near_end;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (neighbour)
    set32(c, p->left ? &neighbour->prev : &neighbour->next, off);
  else
    set32(c, far_end, off);
  set32(c, near_end, off);
  set64(c, &l->len, l->len + 1);
  *p->len = l->len;
  touch(c, e);
  return commit(c);
}

int shmlua_dict_push(shmlua_dict *h, const char *key, size_t klen, int left,
                     const shmlua_dict_value *v, uint64_t *len, shmlua_error *err) {
  pushing p = {left, v, len};
  return with_key(h, key, klen, push_op, &p, err);
}

typedef struct popping {
  int left;
  shmlua_dict_reserve reserve;
  void *ud;
  shmlua_dict_value *out;
} popping;

static int pop_op(ctx *c, keyed *k, void *arg) {
  popping *p = arg;
  entry *e;
  int rc;
  list_head *l = list_for(c, k, 0, &e, &rc);
  uint32_t *near_end, next;
  node *n, *neighbour;
  p->out->type = SHMLUA_DICT_NIL;
  if (!l)
    return rc;
  near_end = p->left ? &l->head : &l->tail;
  if (!*near_end || !(n = node_at(c, *near_end)))
    return EPROTO; /* an empty list is never kept */
  if ((rc = get_value(n->type, n->data, n->len, p->reserve, p->ud, p->out)) != 0)
    return rc;
  next = p->left ? n->next : n->prev;
  if (l->len <= 1 || !next) {
    uint32_t *slot = find(c, k->key, k->klen, k->hash);
    if (!slot || *slot != offset_of(c, e))
      return EPROTO;
    remove_at(c, slot, e); /* the list's last node goes to the garbage with it */
    return commit(c);
  }
  if (!(neighbour = node_at(c, next)))
    return EPROTO;
  set32(c, p->left ? &neighbour->prev : &neighbour->next, 0);
  set32(c, near_end, next);
  set64(c, &l->len, l->len - 1);
  discard(c, (chunk *)n);
  touch(c, e);
  return commit(c);
}

int shmlua_dict_pop(shmlua_dict *h, const char *key, size_t klen, int left,
                    shmlua_dict_reserve reserve, void *ud, shmlua_dict_value *out,
                    shmlua_error *err) {
  popping p = {left, reserve, ud, out};
  return with_key(h, key, klen, pop_op, &p, err);
}

static int llen_op(ctx *c, keyed *k, void *arg) {
  entry *e;
  int rc;
  list_head *l = list_for(c, k, 0, &e, &rc);
  *(uint64_t *)arg = l ? l->len : 0;
  return rc;
}

int shmlua_dict_llen(shmlua_dict *h, const char *key, size_t klen, uint64_t *len,
                     shmlua_error *err) {
  return with_key(h, key, klen, llen_op, len, err);
}
