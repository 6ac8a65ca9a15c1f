/* Condition variable: a sequence number bumped by signals, futex sleep on it. */
#include "cond.h"

#include <errno.h>
#include <string.h>

#include "sync_wait.h"

static int check_layout(const void *bytes, size_t size, shmlua_error *err) {
  const shmlua_cond_block *c = bytes;
  shmlua_name name;
  size_t len;
  (void)size; /* t->size, checked already */
  len = strnlen(c->mutex_path, sizeof c->mutex_path);
  if (len == sizeof c->mutex_path || shmlua_name_check(&name, c->mutex_path, len, NULL) != 0)
    return shmlua_failf(err, EPROTO, "cond records no valid mutex name");
  return 0;
}

const shmlua_sync_type shmlua_cond_type = {SHMLUA_KIND_COND, "cond", sizeof(shmlua_cond_block),
                                           check_layout};

int shmlua_cond_init(void *addr, const void *arg, shmlua_error *err) {
  shmlua_cond_block *c = addr;
  (void)err;
  memcpy(c->mutex_path, ((const shmlua_name *)arg)->path, sizeof c->mutex_path);
  return 0;
}

uint32_t shmlua_cond_seq(const shmlua_cond_block *c) {
  return __atomic_load_n(&c->seq, __ATOMIC_SEQ_CST);
}

int shmlua_cond_sleep(shmlua_cond_block *c, uint32_t seq, const struct timespec *deadline,
                      shmlua_error *err) {
  return shmlua_sync_sleep(&c->seq, seq, &c->sleepers, deadline, err);
}

void shmlua_cond_signal(shmlua_cond_block *c, int n) {
  __atomic_add_fetch(&c->seq, 1, __ATOMIC_SEQ_CST);
  shmlua_sync_wake(&c->seq, &c->sleepers, n);
}

int shmlua_cond_mutex_name(const shmlua_cond_block *c, shmlua_name *out, shmlua_error *err) {
  char path[sizeof c->mutex_path];
  memcpy(path, c->mutex_path, sizeof path); /* a copy: another process may write meanwhile */
  path[sizeof path - 1] = '\0';
  if (shmlua_name_check(out, path, strlen(path), NULL) != 0)
    return shmlua_failf(err, EPROTO, "cond records no valid mutex name");
  return 0;
}
