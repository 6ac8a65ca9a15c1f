/* The dict's least-recently-used list: a touch moves an entry to the head with one undo
   record; eviction (dict_table.c) takes from the tail. Moving an entry writes only its
   neighbours' links, so a neighbour's header needs only its range checked (header_at). The
   lowest of the dict's files: it calls none of the others. */
#include "dict_internal.h"

void dict_lru_unlink(ctx *c, entry *e) {
  entry *p = NULL, *n = NULL;
  if (e->lru_prev && !(p = header_at(c, e->lru_prev)))
    return;
  if (e->lru_next && !(n = header_at(c, e->lru_next)))
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

void dict_lru_push(ctx *c, entry *e) {
  uint32_t off = offset_of(c, e);
  entry *head = NULL;
  if (c->s->lru_head && !(head = header_at(c, c->s->lru_head)))
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
  entry *head = header_at(c, head_off), *next = next_off ? header_at(c, next_off) : NULL;
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
   after a death, the next locker finishes the move (dict_finish_move) rather than undoing it.
   Finishing is only right because a touch is the last change of its operation: nothing
   logged after it is undone underneath it. */
void dict_touch(ctx *c, entry *e) {
  uint32_t off = offset_of(c, e);
  entry *prev;
  shmlua_dict_undo *u;
  if (c->s->lru_head == off)
    return;
  if (!(prev = header_at(c, e->lru_prev))) /* not the head: it has a previous entry */
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
void dict_finish_move(ctx *c, shmlua_dict_undo u) {
  entry *e, *prev;
  if (c->s->lru_head == u.offset || !(e = header_at(c, u.offset)) ||
      !(prev = header_at(c, (uint32_t)u.old)) || prev == e)
    return;
  move_to_head(c, e, u.offset, prev, (uint32_t)(u.old >> 32));
}
