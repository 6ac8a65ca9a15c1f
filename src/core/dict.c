/* The shared dictionary (dict.h): shards of a hash table, an LRU list and a first-fit
   allocator with boundary tags over an arena, every shared word changed through the shard's
   undo log. An operation runs with its shard locked, in this order: find, change (each
   change logged), commit (the log emptied). Failing midway (no room, a damaged block) undoes
   the log in place, as the next locker does after a death. */
#include "dict_internal.h"

#include <errno.h>
#include <string.h>

typedef struct getting {
  shmlua_dict_reserve reserve;
  void *ud;
  shmlua_dict_value *out;
  int *stale;
} getting;

static int get_op(ctx *c, keyed *k, void *arg) {
  getting *g = arg;
  uint32_t *slot;
  entry *e = dict_lookup(c, k, &slot, g->stale != NULL);
  int rc;
  g->out->type = SHMLUA_DICT_NIL;
  if (!e)
    return c->bad ? EPROTO : 0;
  if (e->type == SHMLUA_DICT_LIST)
    return EISDIR;
  if (g->stale)
    *g->stale = !live(c, e);
  if ((rc = dict_get_value(e->type, value_of(e), e->vlen, g->reserve, g->ud, g->out)) != 0)
    return rc;
  if (!g->stale || !*g->stale)
    dict_touch(c, e);
  return dict_commit(c);
}

int shmlua_dict_get(shmlua_dict *h, const char *key, size_t klen, shmlua_dict_reserve reserve,
                    void *ud, shmlua_dict_value *out, int *stale, shmlua_error *err) {
  getting g = {reserve, ud, out, stale};
  return dict_with_key(h, key, klen, get_op, &g, err);
}

typedef struct storing {
  shmlua_dict_mode mode;
  const shmlua_dict_value *v;
  int64_t ttl_ms;
  int *forcible;
} storing;

/* Bytes of a value rewritten in its entry, word by logged word: 64 words and the entry's
   fields stay well within the undo log. */
enum { IN_PLACE_MAX = 512 };
_Static_assert(IN_PLACE_MAX / 8 + 16 <= SHMLUA_DICT_LOG_MAX,
               "an in-place rewrite outgrew the log");

/* Rewrites the entry e in place when the new value fits its chunk closely and is small: no
   allocation, and each word of it logged like any other change. A string's (or encoded
   value's) whole words are read where they are; a scalar is written out first. 0 if it does
   not apply. */
static int rewrite(ctx *c, entry *e, const shmlua_dict_value *v, int64_t ttl_ms) {
  uint64_t vlen = dict_value_len(v), scalar = 0, w, *dst, i;
  uint64_t need = ALIGN8(ENTRY_HDR + value_offset(e->klen) + vlen);
  const unsigned char *src = (const unsigned char *)&scalar;
  if (e->type == SHMLUA_DICT_LIST || vlen > IN_PLACE_MAX || need > size_of(e) ||
      size_of(e) - need >= MIN_SPLIT)
    return 0;
  if (v->type == SHMLUA_DICT_STRING || v->type == SHMLUA_DICT_ENCODED)
    src = (const unsigned char *)v->as.string.bytes;
  else
    dict_put_value((unsigned char *)&scalar, v);
  dst = (uint64_t *)value_of(e);
  for (i = 0; i < vlen / 8; i++) {
    memcpy(&w, src + 8 * i, 8);
    set64(c, &dst[i], w);
  }
  if (vlen % 8) { /* the last word, zero-padded */
    w = 0;
    memcpy(&w, src + 8 * i, vlen % 8);
    set64(c, &dst[i], w);
  }
  set32(c, &e->vlen, (uint32_t)vlen);
  set32(c, &e->type, v->type);
  set64(c, &e->expires, ttl_ms > 0 ? (uint64_t)(now_ms(c) + ttl_ms) : 0);
  set64(c, &e->epoch, c->s->epoch);
  dict_touch(c, e);
  return 1;
}

/* Stores, evicting (unless safe) until it fits. */
static int store_locked(ctx *c, keyed *k, shmlua_dict_mode mode, const shmlua_dict_value *v,
                        int64_t ttl_ms, int *forcible) {
  int safe = mode == SHMLUA_DICT_SAFE_SET || mode == SHMLUA_DICT_SAFE_ADD;
  for (;;) {
    entry *e; /* expired or not */
    uint32_t *slot = dict_find(c, k, &e);
    int rc, present;
    if (!slot)
      return EPROTO;
    present = e && live(c, e);
    if (present && (mode == SHMLUA_DICT_ADD || mode == SHMLUA_DICT_SAFE_ADD))
      return EEXIST;
    if (!present && mode == SHMLUA_DICT_REPLACE)
      return ENOENT;
    if (v->type == SHMLUA_DICT_NIL) {
      if (e)
        dict_remove_at(c, slot, e);
      return dict_commit(c);
    }
    if (e && rewrite(c, e, v, ttl_ms))
      return dict_commit(c);
    rc = dict_put_entry(c, k, slot, e, v, ttl_ms);
    if (rc == 0)
      return dict_commit(c);
    if (rc != ENOMEM || safe || (rc = dict_evict(c, forcible)) != 0)
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
  return dict_with_key(h, key, klen, store_op, &s, err);
}

typedef struct adding {
  const shmlua_dict_value *n, *init;
  int64_t init_ttl_ms;
  shmlua_dict_value *out;
  int *forcible;
} adding;

static void sum(const shmlua_dict_value *a, const shmlua_dict_value *b,
                shmlua_dict_value *out) {
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
  entry *e = dict_lookup(c, k, &slot, 0);
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
  dict_get_value(e->type, value_of(e), 8, NULL, NULL, &old);
  sum(&old, a->n, a->out);
  memcpy(&word,
         a->out->type == SHMLUA_DICT_INTEGER ? (void *)&a->out->as.integer
                                             : (void *)&a->out->as.number,
         8);
  set64(c, (uint64_t *)value_of(e), word);
  set32(c, &e->type, a->out->type);
  dict_touch(c, e);
  return dict_commit(c);
}

int shmlua_dict_incr(shmlua_dict *h, const char *key, size_t klen, const shmlua_dict_value *n,
                     const shmlua_dict_value *init, int64_t init_ttl_ms,
                     shmlua_dict_value *out, int *forcible, shmlua_error *err) {
  adding a = {n, init, init_ttl_ms, out, forcible};
  *forcible = 0;
  return dict_with_key(h, key, klen, incr_op, &a, err);
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
  return dict_walk(c, list_one, arg);
}

int shmlua_dict_keys(shmlua_dict *h, uint64_t max,
                     int (*each)(void *ud, const char *key, size_t klen), void *ud,
                     shmlua_error *err) {
  listing l = {max, 0, each, ud};
  return dict_each_shard(h, keys_op, &l, err);
}
