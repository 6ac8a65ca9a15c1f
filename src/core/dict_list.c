/* The dict's lists (ngx.shared.DICT's lpush, rpush, lpop, rpop, llen): an entry whose value
   is a head, a tail and a length over nodes of their own. */
#include "dict_internal.h"

#include <errno.h>

/* The list at k, made (empty) if absent or expired; NULL with *rc otherwise. */
static list_head *list_for(ctx *c, keyed *k, int make, entry **owner, int *rc) {
  entry *e; /* expired or not */
  uint32_t *slot = dict_find(c, k, &e);
  static const shmlua_dict_value list = {SHMLUA_DICT_LIST, {0}};
  *rc = 0;
  if (!slot) {
    *rc = EPROTO;
    return NULL;
  }
  if (!e || !live(c, e)) {
    if (!make)
      return NULL;
    if ((*rc = dict_put_entry(c, k, slot, e, &list, 0)) != 0)
      return NULL;
    if (!dict_find(c, k, &e) || !e) {
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

/* A push or a pop at the head (left) or the tail: the value pushed and where the new length
   goes, or where the value popped goes. */
typedef struct list_request {
  int left;
  const shmlua_dict_value *in;
  uint64_t *len;
  shmlua_dict_reserve reserve;
  void *ud;
  shmlua_dict_value *out;
} list_request;

static int push_op(ctx *c, keyed *k, void *arg) {
  list_request *r = arg;
  uint64_t vlen = dict_value_len(r->in);
  uint32_t off, *near_end, *far_end;
  node *n, *neighbour = NULL;
  entry *e;
  int rc;
  list_head *l = list_for(c, k, 1, &e, &rc);
  if (!l)
    return rc;
  if (!(off = dict_alloc(c, ALIGN8(NODE_HDR + vlen)))) {
    rc = c->bad ? EPROTO : ENOMEM;
    dict_undo(c);
    return rc;
  }
  n = (node *)(c->arena + off);
  n->len = (uint32_t)vlen;
  n->type = r->in->type;
  dict_put_value(n->data, r->in);
  near_end = r->left ? &l->head : &l->tail;
  far_end = r->left ? &l->tail : &l->head;
  if (*near_end && !(neighbour = node_at(c, *near_end)))
    return EPROTO;
  n->next = r->left ? *near_end : 0;
  n->prev = r->left ? 0 : *near_end;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  if (neighbour)
    set32(c, r->left ? &neighbour->prev : &neighbour->next, off);
  else
    set32(c, far_end, off);
  set32(c, near_end, off);
  set64(c, &l->len, l->len + 1);
  *r->len = l->len;
  dict_touch(c, e);
  return dict_commit(c);
}

int shmlua_dict_push(shmlua_dict *h, const char *key, size_t klen, int left,
                     const shmlua_dict_value *v, uint64_t *len, shmlua_error *err) {
  list_request r = {left, v, len, NULL, NULL, NULL};
  return dict_with_key(h, key, klen, push_op, &r, err);
}

static int pop_op(ctx *c, keyed *k, void *arg) {
  list_request *r = arg;
  uint32_t *near_end, next;
  node *n, *neighbour;
  entry *e;
  int rc;
  list_head *l = list_for(c, k, 0, &e, &rc);
  r->out->type = SHMLUA_DICT_NIL;
  if (!l)
    return rc;
  near_end = r->left ? &l->head : &l->tail;
  if (!*near_end || !(n = node_at(c, *near_end)))
    return EPROTO; /* an empty list is never kept */
  if ((rc = dict_get_value(n->type, n->data, n->len, r->reserve, r->ud, r->out)) != 0)
    return rc;
  next = r->left ? n->next : n->prev;
  if (l->len <= 1 || !next) {
    entry *found;
    uint32_t *slot = dict_find(c, k, &found);
    if (!slot || found != e)
      return EPROTO;
    dict_remove_at(c, slot, e); /* the list's last node goes to the garbage with it */
    return dict_commit(c);
  }
  if (!(neighbour = node_at(c, next)))
    return EPROTO;
  set32(c, r->left ? &neighbour->prev : &neighbour->next, 0);
  set32(c, near_end, next);
  set64(c, &l->len, l->len - 1);
  dict_discard(c, (chunk *)n);
  dict_touch(c, e);
  return dict_commit(c);
}

int shmlua_dict_pop(shmlua_dict *h, const char *key, size_t klen, int left,
                    shmlua_dict_reserve reserve, void *ud, shmlua_dict_value *out,
                    shmlua_error *err) {
  list_request r = {left, NULL, NULL, reserve, ud, out};
  return dict_with_key(h, key, klen, pop_op, &r, err);
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
  return dict_with_key(h, key, klen, llen_op, len, err);
}
