/* The dict's hash table: chains of entries from each bucket; finding, adding and removing
   an entry, evicting the least recently used one. Above the allocator, the undo log and the
   LRU list, which it calls and which call none of it. */
#include "dict_internal.h"

#include <errno.h>
#include <string.h>

/* Whether the n bytes of a stored key and of k are the same: a short key word by word, in
   line (cheaper than the call to memcmp that long keys get). */
static int same_key(const unsigned char *stored, const keyed *k) {
  const char *key = k->key;
  uint32_t n = k->klen;
  uint64_t a, b;
  if (n > 32)
    return memcmp(stored, key, n) == 0;
  for (; n >= 8; stored += 8, key += 8, n -= 8) {
    memcpy(&a, stored, 8);
    memcpy(&b, key, 8);
    if (a != b)
      return 0;
  }
  while (n-- > 0)
    if (*stored++ != (unsigned char)*key++)
      return 0;
  return 1;
}

/* The link that points at k's entry (its bucket or the previous entry's hnext), or at the
   end of the chain (*slot == 0) when absent; *found the entry, checked whole, or NULL. NULL
   when the chain is damaged. A step reads only the header of an entry whose hash and length
   differ from k's: one range check covers it. */
uint32_t *dict_find(ctx *c, const keyed *k, entry **found) {
  uint32_t *slot = &c->buckets[k->hash & (c->h->nbuckets - 1)];
  *found = NULL;
  for (uint64_t steps = 0; *slot; steps++) {
    entry *e = steps <= c->max_chunks ? header_at(c, *slot) : NULL;
    if (!e) {
      c->bad = 1;
      return NULL;
    }
    if (e->hash == k->hash && e->klen == k->klen) {
      if (!entry_whole(c, e))
        return NULL;
      if (same_key(e->data, k)) {
        *found = e;
        return slot;
      }
    }
    slot = &e->hnext;
  }
  return slot;
}

/* Removes the entry *slot points at. */
void dict_remove_at(ctx *c, uint32_t *slot, entry *e) {
  set32(c, slot, e->hnext);
  dict_lru_unlink(c, e);
  if (e->type == SHMLUA_DICT_LIST)
    dict_drop_nodes(c, e);
  set32(c, &c->s->count, c->s->count - 1);
  dict_discard(c, (chunk *)e);
}

/* Writes a new entry for k holding v (or a new empty list) in place of old (the entry *slot
   points at, or NULL). ENOMEM when it does not fit now, E2BIG when it never can; everything
   undone then. */
int dict_put_entry(ctx *c, keyed *k, uint32_t *slot, entry *old, const shmlua_dict_value *v,
                   int64_t ttl_ms) {
  uint64_t vlen = v->type == SHMLUA_DICT_LIST ? LIST_HEAD : dict_value_len(v);
  uint64_t need = ALIGN8(ENTRY_HDR + value_offset(k->klen) + vlen);
  uint32_t off;
  entry *e;
  if (old)
    dict_remove_at(c, slot, old);
  if (c->bad)
    return EPROTO;
  if (need > c->arena_size - FIRST) {
    dict_undo(c);
    return E2BIG; /* no eviction can make room */
  }
  if (!(off = dict_alloc(c, need))) {
    int rc = c->bad ? EPROTO : ENOMEM;
    dict_undo(c);
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
    dict_put_value(value_of(e), v);
  /* the chain may have changed with the old entry gone: link at the bucket's head */
  slot = &c->buckets[k->hash & (c->h->nbuckets - 1)];
  e->hnext = *slot;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  set32(c, slot, off);
  dict_lru_push(c, e);
  set32(c, &c->s->count, c->s->count + 1);
  return 0;
}

/* Evicts the least recently used entry as an operation of its own. 0 and *forced when it
   had not expired; ENOMEM when there is nothing to evict. */
int dict_evict(ctx *c, int *forced) {
  uint32_t *slot;
  entry *e, *x;
  if (!c->s->lru_tail)
    return ENOMEM;
  if (!(e = entry_at(c, c->s->lru_tail)))
    return EPROTO;
  slot = &c->buckets[e->hash & (c->h->nbuckets - 1)];
  for (uint64_t steps = 0; *slot != c->s->lru_tail; steps++) {
    if (!*slot || steps > c->max_chunks || !(x = header_at(c, *slot)))
      return EPROTO;
    slot = &x->hnext;
  }
  if (live(c, e))
    *forced = 1;
  dict_remove_at(c, slot, e);
  if (dict_commit(c) != 0)
    return EPROTO;
  return c->s->garbage ? dict_collect(c) : 0; /* a list's nodes: room for the store */
}
