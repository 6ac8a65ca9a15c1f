/* The dict's layout (dict.h): how a capacity splits into shards, each with its buckets and
   its arena; the checks an attach makes, and the counts read without a lock. */
#include "dict_internal.h"

#include <errno.h>

#include "mutex.h"

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

static int check_layout(const void *bytes, size_t size, shmlua_error *err) {
  const shmlua_dict_block *d = bytes;
  if (size < sizeof *d)
    return shmlua_failf(err, EPROTO, "dict layout of %zu bytes is too small", size);
  if (!limits_ok(d->nshards, d->nbuckets, d->arena_size) ||
      d->shard_size != shard_bytes(d->nbuckets, d->arena_size) ||
      d->shard_size * d->nshards != size - sizeof *d)
    return shmlua_failf(err, EPROTO, "dict limits do not match its size");
  return 0;
}

const shmlua_sync_type shmlua_dict_type = {SHMLUA_KIND_DICT, "dict", 0, check_layout};

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
