/* Headers of synchronization objects: create with the header published last, attach with
   validation. */
#include "sync_header.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "escape.h"

enum { PUBLISH_WAIT_MS = 1000 }; /* how long an attacher waits for a creator mid-init */

const char *shmlua_sync_kind_name(unsigned kind) {
  static const char *const names[] = {"unknown", "mutex", "semaphore", "barrier",
                                      "event",   "cond",  "queue",     "dict"};
  return kind < sizeof names / sizeof names[0] ? names[kind] : names[0];
}

int shmlua_sync_validate(const shmlua_sync_type *t, const void *bytes, size_t size,
                         shmlua_error *err) {
  shmlua_sync_header h;
  if (size < sizeof h)
    return shmlua_failf(err, EPROTO, "block of %zu bytes is too small for a shmlua %s", size,
                        t->name);
  memcpy(&h, bytes, sizeof h);
  if (h.magic != SHMLUA_SYNC_MAGIC)
    return shmlua_failf(err, EPROTO, "not a shmlua %s (no shmlua header)", t->name);
  if (h.version != SHMLUA_SYNC_VERSION)
    return shmlua_failf(err, EPROTO, "shmlua %s of layout version %u, this build reads %u",
                        t->name, (unsigned)h.version, (unsigned)SHMLUA_SYNC_VERSION);
  if (h.kind != t->kind)
    return shmlua_failf(err, EPROTO, "a shmlua %s, not a %s", shmlua_sync_kind_name(h.kind),
                        t->name);
  if (h.size < sizeof h || h.size > size)
    return shmlua_failf(err, EPROTO, "shmlua %s claims %llu bytes, block has %zu", t->name,
                        (unsigned long long)h.size, size);
  /* Without it a header claiming fewer bytes than the layout would be used past them. */
  if (t->size && h.size != t->size)
    return shmlua_failf(err, EPROTO, "%s layout of %llu bytes, expected %zu", t->name,
                        (unsigned long long)h.size, t->size);
  return t->check ? t->check(bytes, (size_t)h.size, err) : 0;
}

int shmlua_sync_block_create(shmlua_block *b, const shmlua_sync_type *t,
                             const shmlua_name *name, size_t layout_size,
                             const shmlua_create_opts *opts,
                             int (*init)(void *addr, const void *arg, shmlua_error *err),
                             const void *arg, shmlua_error *err) {
  shmlua_sync_header *h;
  if (shmlua_block_create(b, name, layout_size, opts, err) != 0)
    return -1;
  h = (shmlua_sync_header *)b->addr;
  h->version = SHMLUA_SYNC_VERSION;
  h->kind = (uint16_t)t->kind;
  h->size = layout_size;
  if (init && init(b->addr, arg, err) != 0) {
    shmlua_unlink(&b->name, NULL);
    shmlua_block_close(b);
    return -1;
  }
  __atomic_store_n(&h->magic, SHMLUA_SYNC_MAGIC, __ATOMIC_RELEASE);
  return 0;
}

/* A creator publishes the magic last: give it a moment when the header is still all zero. */
static void await_publication(const shmlua_block *b) {
  const uint32_t *magic = (const uint32_t *)b->addr;
  struct timespec step = {0, 1000000L};
  if (b->size < sizeof(shmlua_sync_header))
    return;
  for (int ms = 0; ms < PUBLISH_WAIT_MS; ms++) {
    if (__atomic_load_n(magic, __ATOMIC_ACQUIRE) != 0)
      return;
    nanosleep(&step, NULL);
  }
}

int shmlua_sync_block_attach(shmlua_block *b, const shmlua_sync_type *t,
                             const shmlua_name *name, shmlua_error *err) {
  shmlua_error why;
  if (shmlua_block_attach(b, name, false, err) != 0)
    return -1;
  await_publication(b);
  if (shmlua_sync_validate(t, b->addr, b->size, &why) != 0) {
    char safe[SHMLUA_ESCAPED_SIZE(SHMLUA_NAME_MAX)];
    const char *user = shmlua_name_user(name);
    shmlua_block_close(b);
    return shmlua_failf(err, why.code, "%s: %s",
                        shmlua_escape(user, strlen(user), safe, sizeof safe), why.message);
  }
  return 0;
}
