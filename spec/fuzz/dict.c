/* Fuzz target: a shared dict (src/core/dict*.c) as a peer may leave it. First byte even: the
   rest is a whole block, attached as a dict when it passes the checks. Odd: a correct dict
   is filled by operations the input picks, then overwritten by the rest of the input (all
   but its locks, whose bytes belong to the C library), as a peer could do after attach.
   Either way operations then run on it: each must return 0 or a message, never crash, read
   or write outside the block, or loop for ever. Values are strings, or the same bytes as an
   encoded value (a Lua table to the binding: opaque here); their decoding in the binding is
   serial.c's decoder, which the serial target covers. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "dict.h"
#include "mutex.h"
#include "require.h"

/* A read's buffer: kept in *ud for the caller to free (a read may fail after taking it);
   none for an absurd length. */
static void *reserve(void *ud, size_t len) {
  void **got = ud;
  free(*got);
  return *got = len <= 4096 ? malloc(len ? len : 1) : NULL;
}

static int count_key(void *ud, const char *key, size_t klen) {
  (void)key;
  (void)klen;
  ++*(int *)ud;
  return 0;
}

/* One operation picked by op on key number k. */
static void operate(shmlua_dict *h, uint8_t op, uint8_t k) {
  static const char filler[] = "a value of some bytes, longer than a key";
  char key[8];
  shmlua_dict_value v = {SHMLUA_DICT_STRING, {0}}, out = {SHMLUA_DICT_NIL, {0}};
  shmlua_error err;
  uint64_t n;
  int64_t ms;
  int forcible, rc = 0;
  void *got = NULL;
  snprintf(key, sizeof key, "k%u", (unsigned)(k % 16));
  v.as.string.bytes = filler;
  v.as.string.len = k % sizeof filler;
  switch (op % 10) {
  case 0:
    if (op / 10 % 2)
      v.type = SHMLUA_DICT_ENCODED;
    rc = shmlua_dict_store(h, (shmlua_dict_mode)(k % 5), key, strlen(key), &v, k % 3,
                           &forcible, &err);
    break;
  case 1:
    rc = shmlua_dict_get(h, key, strlen(key), reserve, &got, &out, NULL, &err);
    break;
  case 2:
    v.type = SHMLUA_DICT_NIL;
    rc = shmlua_dict_store(h, SHMLUA_DICT_SET, key, strlen(key), &v, 0, &forcible, &err);
    break;
  case 3:
    v.type = SHMLUA_DICT_INTEGER;
    v.as.integer = k;
    rc = shmlua_dict_incr(h, key, strlen(key), &v, &v, 0, &out, &forcible, &err);
    break;
  case 4:
    rc = shmlua_dict_push(h, key, strlen(key), k % 2, &v, &n, &err);
    break;
  case 5:
    rc = shmlua_dict_pop(h, key, strlen(key), k % 2, reserve, &got, &out, &err);
    break;
  case 6:
    rc = shmlua_dict_ttl(h, key, strlen(key), &ms, &err);
    break;
  case 7: {
    int keys = 0;
    rc = shmlua_dict_keys(h, 0, count_key, &keys, &err);
    break;
  }
  case 8:
    rc = shmlua_dict_flush_expired(h, k % 4, &n, &err);
    break;
  default:
    rc = k % 7 ? shmlua_dict_expire(h, key, strlen(key), k % 3, &err)
               : shmlua_dict_flush_all(h, &err);
  }
  if (rc != 0)
    REQUIRE_MESSAGE(&err);
  free(got);
  (void)shmlua_dict_count(h);
  (void)shmlua_dict_free_space(h);
}

static void run(shmlua_dict *h, const uint8_t *ops, size_t n) {
  for (size_t i = 0; i + 1 < n && i < 64; i += 2)
    operate(h, ops[i], ops[i + 1]);
}

static void init_locks(unsigned char *block, const shmlua_dict *h) {
  for (uint32_t i = 0; i < h->nshards; i++) {
    shmlua_dict_shard *s = (shmlua_dict_shard *)(block + sizeof(shmlua_dict_block) +
                                                 i * h->shard_size);
    REQUIRE(shmlua_mutex_init(&s->lock, NULL) == 0);
  }
}

static void attached(const uint8_t *data, size_t size) {
  unsigned char *block = fuzz_block(data, size);
  shmlua_error err;
  shmlua_dict h;
  if (shmlua_sync_validate(&shmlua_dict_type, block, size, &err) == 0) {
    shmlua_dict_open(&h, block, size);
    init_locks(block, &h);
    run(&h, data, size);
  } else
    REQUIRE_MESSAGE(&err);
  free(block);
}

static void scribbled(const uint8_t *data, size_t size) {
  uint64_t bytes = SHMLUA_DICT_BYTES_MIN;
  shmlua_error err;
  shmlua_dict h;
  size_t layout = 0, lock, lock_end;
  unsigned char *block;
  REQUIRE(shmlua_dict_layout_size(bytes, &layout, &err) == 0);
  block = calloc(1, layout);
  REQUIRE(block != NULL);
  REQUIRE(shmlua_dict_init(block, &bytes, &err) == 0);
  shmlua_dict_open(&h, block, layout);
  run(&h, data, size < 32 ? size : 32);
  lock = sizeof(shmlua_dict_block);
  lock_end = lock + sizeof(pthread_mutex_t);
  for (size_t i = 32; i < size; i += 3) { /* (offset, byte) pairs spread over the block */
    size_t at = ((size_t)data[i] << 8 | data[i + 1 < size ? i + 1 : i]) % layout;
    if (at < lock || at >= lock_end)
      block[at] = data[i + 2 < size ? i + 2 : i];
  }
  run(&h, data, size < 64 ? size : 64);
  free(block);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (data[0] % 2 == 0)
    attached(data + 1, size - 1);
  else
    scribbled(data + 1, size - 1);
  return 0;
}
