/* Running a dict operation on its shard: the lock (and the repair after a death), the
   garbage collected afterwards, the failure told as a message. */
#include "dict_internal.h"

#include <errno.h>

#include "futex.h"
#include "mutex.h"

/* How long an operation waits for its shard's lock: a holder keeps it for one operation, so
   only a stopped process or a lock a peer wrote over takes longer. */
static const double LOCK_SECONDS = 2.0;

/* 0 or an errno (the dict's steps answer with errnos; the public calls fill err). */
static int lock_shard(shmlua_dict *h, uint32_t shard, ctx *c) {
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
  c->last_header = h->arena_size >= ENTRY_HDR ? h->arena_size - ENTRY_HDR : 0;
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
    dict_undo(c);
    if (shmlua_mutex_consistent(&c->s->lock, &err) != 0) {
      shmlua_mutex_unlock(&c->s->lock, NULL);
      return err.code;
    }
    rc = 0;
  } else if (rc == 0 && __atomic_load_n(&c->s->nlog, __ATOMIC_ACQUIRE) != 0)
    dict_undo(c); /* not left by a holder of ours: a peer wrote it */
  if (rc == 0 && c->s->garbage && dict_collect(c) != 0) {
    shmlua_mutex_unlock(&c->s->lock, NULL);
    return EPROTO;
  }
  return rc;
}

static void unlock_shard(ctx *c) {
  shmlua_mutex_unlock(&c->s->lock, NULL);
}

static uint32_t shard_of(const shmlua_dict *h, uint64_t hash) {
  return (uint32_t)(hash >> 32) & (h->nshards - 1);
}

/* -1 with err: the code rc an operation returned, with the words dict.h gives it. */
static int fail_with_message(shmlua_error *err, int rc) {
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

/* Runs op on key's shard, locked: undoes what a failing op left changed and frees the
   garbage after a success. 0, or -1 with err. */
int dict_with_key(shmlua_dict *h, const char *key, size_t klen,
                  int (*op)(ctx *, keyed *, void *), void *arg, shmlua_error *err) {
  uint64_t hash = dict_hash(key, klen);
  keyed k = {key, (uint32_t)klen, (uint32_t)hash};
  ctx c;
  int rc;
  if (klen == 0 || klen > SHMLUA_DICT_KEY_MAX)
    return shmlua_failf(err, EINVAL, "key of %zu bytes (1..%u allowed)", klen,
                        SHMLUA_DICT_KEY_MAX);
  if ((rc = lock_shard(h, shard_of(h, hash), &c)) != 0)
    return fail_with_message(err, rc);
  rc = op(&c, &k, arg);
  if (c.nlog) { /* a failure left changes */
    dict_undo(&c);
    rc = rc ? rc : EPROTO;
  }
  if (c.bad)
    rc = EPROTO;
  if (rc == 0 && c.s->garbage)
    rc = dict_collect(&c);
  unlock_shard(&c);
  return rc ? fail_with_message(err, rc) : 0;
}

/* Runs op on every shard in turn, each locked; stops at the first failure. */
int dict_each_shard(shmlua_dict *h, int (*op)(ctx *, void *), void *arg, shmlua_error *err) {
  for (uint32_t i = 0; i < h->nshards; i++) {
    ctx c;
    int rc = lock_shard(h, i, &c);
    if (rc != 0)
      return fail_with_message(err, rc);
    rc = op(&c, arg);
    if (rc == 0 && c.s->garbage)
      rc = dict_collect(&c);
    unlock_shard(&c);
    if (rc != 0)
      return rc == ENOMEM ? shmlua_fail(err, rc, "listing keys") : fail_with_message(err, rc);
  }
  return 0;
}

/* Walks the LRU list from its most recent end, calling visit on each entry (which may remove
   it: the next one is read first). Bounded; EPROTO if the list is damaged. */
int dict_walk(ctx *c, int (*visit)(ctx *, entry *, void *), void *arg) {
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
