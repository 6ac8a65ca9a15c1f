/* The dict's undo log (dict.h says why): putting back what an operation, or a process that
   died in one, changed; and the commit that makes a change stay. */
#include "dict_internal.h"

#include <errno.h>

static int in_shard(const ctx *c, uint64_t offset, uint32_t width) {
  uint64_t state = offsetof(shmlua_dict_shard, count), log = offsetof(shmlua_dict_shard, log);
  return (width == 4 || width == 8) && offset % width == 0 &&
         ((offset >= state && offset + width <= log) ||
          (offset >= buckets_offset() && offset + width <= c->h->shard_size));
}

/* Puts back every recorded value, newest first (and finishes a move to the LRU head). Safe
   to run again after a death midway: the log is emptied last. Records that point outside
   the shard's state are skipped. */
void dict_undo(ctx *c) {
  uint32_t n = __atomic_load_n(&c->s->nlog, __ATOMIC_ACQUIRE);
  if (n > SHMLUA_DICT_LOG_MAX)
    n = SHMLUA_DICT_LOG_MAX;
  while (n-- > 0) {
    shmlua_dict_undo u = c->s->log[n];
    if (u.width == MOVE_RECORD)
      dict_finish_move(c, u);
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
int dict_commit(ctx *c) {
  if (c->overflow || c->bad) {
    dict_undo(c);
    c->bad = 0;
    return EPROTO;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  __atomic_store_n(&c->s->nlog, 0, __ATOMIC_RELEASE);
  c->nlog = 0;
  return 0;
}
