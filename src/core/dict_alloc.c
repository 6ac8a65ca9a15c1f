/* The dict's allocator: first fit with boundary tags over a shard's arena, and the garbage
   that an operation frees only after its commit. */
#include "dict_internal.h"

#include <errno.h>

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
uint32_t dict_alloc(ctx *c, uint64_t need) {
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

/* Hands a chunk to the shard's garbage, freed after the commit. Memory freed by an operation
   is never reused by the same operation: the undo would then put back the links of what was
   freed but not the bytes written over it. */
void dict_discard(ctx *c, chunk *ch) {
  set32(c, &ch->next, c->s->garbage);
  set32(c, &c->s->garbage, offset_of(c, ch));
}

/* Hands a list's nodes to the shard's garbage. */
void dict_drop_nodes(ctx *c, entry *e) {
  list_head *l = (list_head *)value_of(e);
  node *last;
  if (!l->head)
    return;
  if (!(last = node_at(c, l->tail)))
    return;
  set32(c, &last->next, c->s->garbage);
  set32(c, &c->s->garbage, l->head);
}

/* Frees the garbage, each chunk its own operation. */
int dict_collect(ctx *c) {
  for (uint64_t steps = 0; c->s->garbage; steps++) {
    chunk *n = steps <= c->max_chunks ? chunk_at(c, c->s->garbage, MIN_CHUNK) : NULL;
    if (!n || (n->size & FREE_BIT)) { /* what it held is lost: never freed twice */
      c->bad = 0;
      set32(c, &c->s->garbage, 0);
      dict_commit(c);
      return EPROTO;
    }
    set32(c, &c->s->garbage, n->next);
    release(c, n);
    if (dict_commit(c) != 0)
      return EPROTO;
  }
  return 0;
}
