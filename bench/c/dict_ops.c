/* The C floor of the dict rows: what a shared dictionary cannot do without. A table of 1024
   slots in shared memory, each a 16-byte key and a 32-byte value, behind one robust
   process-shared mutex: lock, hash the key, find its slot (open addressing), memcpy the value
   in or out, unlock. No expiry, no eviction, no crash recovery. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cbench.h"

enum { SLOTS = 2048, KEYS = 1024, KEY = 16, VALUE = 32 };

typedef struct slot {
  unsigned char key[KEY];
  unsigned char value[VALUE];
  int used;
} slot;

typedef struct table {
  pthread_mutex_t lock;
  slot slots[SLOTS];
} table;

static uint64_t hash(const unsigned char *k) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int i = 0; i < KEY; i++)
    h = (h ^ k[i]) * 0x100000001b3ull;
  return h;
}

static slot *find(table *t, const unsigned char *key) {
  for (uint64_t i = hash(key);; i++) {
    slot *s = &t->slots[i % SLOTS];
    if (!s->used || memcmp(s->key, key, KEY) == 0)
      return s;
  }
}

static table *make(void) {
  table *t = (table *)shmlua_cbench_shared(sizeof *t);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&t->lock, &attr);
  return t;
}

/* Key i as bench.lua and bench.py make it: "key" and 13 digits. */
static void key_of(unsigned char *key, long i) {
  char text[KEY + 1];
  snprintf(text, sizeof text, "key%013ld", i % KEYS);
  memcpy(key, text, KEY);
}

static void set(table *t, const unsigned char *key, const unsigned char *value) {
  slot *s;
  if (pthread_mutex_lock(&t->lock) != 0)
    shmlua_cbench_die("pthread_mutex_lock");
  s = find(t, key);
  memcpy(s->key, key, KEY);
  memcpy(s->value, value, VALUE);
  s->used = 1;
  pthread_mutex_unlock(&t->lock);
}

static unsigned char keys[KEYS][KEY];

static double dict_set(long n, long size, char **args, int64_t *check) {
  table *t = make();
  unsigned char value[VALUE];
  int64_t t0;
  (void)size, (void)args;
  memset(value, 'v', sizeof value);
  for (long i = 0; i < KEYS; i++)
    key_of(keys[i], i);
  t0 = shmlua_cbench_now();
  for (long i = 0; i < n; i++) {
    set(t, keys[i % KEYS], value);
    ++*check;
  }
  return (double)(shmlua_cbench_now() - t0) / (double)n;
}

static double dict_get(long n, long size, char **args, int64_t *check) {
  table *t = make();
  unsigned char value[VALUE], out[VALUE];
  int64_t t0;
  (void)size, (void)args;
  memset(value, 'v', sizeof value);
  for (long i = 0; i < KEYS; i++) {
    key_of(keys[i], i);
    set(t, keys[i], value);
  }
  t0 = shmlua_cbench_now();
  for (long i = 0; i < n; i++) {
    slot *s;
    if (pthread_mutex_lock(&t->lock) != 0)
      shmlua_cbench_die("pthread_mutex_lock");
    s = find(t, keys[i % KEYS]);
    memcpy(out, s->value, VALUE);
    pthread_mutex_unlock(&t->lock);
    *check += out[0] == 'v';
  }
  return (double)(shmlua_cbench_now() - t0) / (double)n;
}

const shmlua_cbench_op shmlua_cbench_dict_ops[] = {
    {"dict_set", dict_set}, {"dict_get", dict_get}, {NULL, NULL}};
