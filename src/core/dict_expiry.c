/* The dict's expiry: a key's time to live, and flushing every entry or the expired ones. */
#include "dict_internal.h"

#include <errno.h>

static int ttl_op(ctx *c, keyed *k, void *arg) {
  uint32_t *slot;
  entry *e = dict_lookup(c, k, &slot, 0);
  int64_t *ms = arg;
  if (!e)
    return c->bad ? EPROTO : ENOENT;
  *ms = e->expires ? (int64_t)e->expires - now_ms(c) : 0;
  return 0;
}

int shmlua_dict_ttl(shmlua_dict *h, const char *key, size_t klen, int64_t *ms,
                    shmlua_error *err) {
  return dict_with_key(h, key, klen, ttl_op, ms, err);
}

static int expire_op(ctx *c, keyed *k, void *arg) {
  uint32_t *slot;
  entry *e = dict_lookup(c, k, &slot, 0);
  int64_t ttl_ms = *(int64_t *)arg;
  if (!e)
    return c->bad ? EPROTO : ENOENT;
  set64(c, &e->expires, ttl_ms > 0 ? (uint64_t)(now_ms(c) + ttl_ms) : 0);
  return dict_commit(c);
}

int shmlua_dict_expire(shmlua_dict *h, const char *key, size_t klen, int64_t ttl_ms,
                       shmlua_error *err) {
  return dict_with_key(h, key, klen, expire_op, &ttl_ms, err);
}

static int flush_all_op(ctx *c, void *arg) {
  (void)arg;
  set64(c, &c->s->epoch, c->s->epoch + 1);
  return dict_commit(c);
}

int shmlua_dict_flush_all(shmlua_dict *h, shmlua_error *err) {
  return dict_each_shard(h, flush_all_op, NULL, err);
}

typedef struct flushing {
  uint64_t max, freed;
} flushing;

static int flush_one(ctx *c, entry *e, void *arg) {
  flushing *f = arg;
  keyed k = {(const char *)e->data, e->klen, e->hash};
  entry *found;
  uint32_t *slot;
  if (live(c, e))
    return 0;
  if (f->max && f->freed >= f->max)
    return -1;
  slot = dict_find(c, &k, &found);
  if (!slot || found != e)
    return EPROTO;
  dict_remove_at(c, slot, e);
  if (dict_commit(c) != 0)
    return EPROTO;
  f->freed++;
  return 0;
}

static int flush_expired_op(ctx *c, void *arg) {
  return dict_walk(c, flush_one, arg);
}

int shmlua_dict_flush_expired(shmlua_dict *h, uint64_t max, uint64_t *freed,
                              shmlua_error *err) {
  flushing f = {max, 0};
  int rc = dict_each_shard(h, flush_expired_op, &f, err);
  *freed = f.freed;
  return rc;
}
