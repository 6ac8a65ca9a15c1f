/* A process killed at each instruction of a dict operation (src/core/dict*.c). For each
   operation, a child is single-stepped (ptrace) through it once to count its instructions;
   then, for each count k (a stride of them from a random start, the seed printed;
   SHMLUA_DICT_KILLS sets at most how many per operation, 0 for every instruction;
   SHMLUA_DICT_OPERATION picks one operation by name), a fresh child
   runs the operation on a fresh copy of the same dict and is killed with SIGKILL after k
   instructions, holding the shard's lock or not. The parent then uses the dict: no call may
   fail or hang, the keys from most to least recently used must come in the order they had
   before the operation or after it, each key must read as before the operation or as after
   it (or, for an eviction, as evicted), and once every key is deleted every byte must be
   free again.
   Prints one line per operation and "ok" at the end; exits 1 after a mismatch. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dict.h"

/* Killing at instruction k costs k single steps: by default at most KILLS_DEFAULT kills per
   operation and about STEPS_BUDGET steps (fewer kills in a slow build, e.g. ASan's). */
enum { BYTES = 2048, KEYS = 10, DESC = 256, KILLS_DEFAULT = 40, STEPS_BUDGET = 60000 };

static const char *const keys[KEYS] = {"a", "b",    "c",   "d",    "list",
                                       "n", "gone", "new", "pad1", "pad2"};
static int failed;
static size_t layout;
static unsigned char *pristine; /* the dict every trial starts from */
static long kills_wanted = KILLS_DEFAULT;

static void *into(void *ud, size_t len) {
  (void)len;
  return ud;
}

static shmlua_dict_value str(const char *s) {
  shmlua_dict_value v = {SHMLUA_DICT_STRING, {0}};
  v.as.string.bytes = s;
  v.as.string.len = strlen(s);
  return v;
}

static shmlua_dict_value integer(int64_t i) {
  shmlua_dict_value v = {SHMLUA_DICT_INTEGER, {0}};
  v.as.integer = i;
  return v;
}

static void must(int ok, const char *what) {
  if (!ok) {
    printf("FAIL %s\n", what);
    failed = 1;
  }
}

static void store(shmlua_dict *h, const char *key, shmlua_dict_value v, int64_t ttl) {
  shmlua_error err;
  int forcible;
  must(shmlua_dict_store(h, SHMLUA_DICT_SET, key, strlen(key), &v, ttl, &forcible, &err) == 0,
       "setup store");
}

/* The starting state: strings, a number, a three-element list, an entry that has expired,
   and filler so the next big value needs evictions. */
static void setup(shmlua_dict *h) {
  shmlua_error err;
  uint64_t len;
  shmlua_dict_value v;
  store(h, "a", str("alpha"), 0);
  store(h, "b", str("bravo-bravo-bravo"), 0);
  store(h, "c", str("charlie"), 0);
  store(h, "d", integer(7), 0);
  store(h, "gone", str("expired"), 1);
  for (int i = 0; i < 3; i++) {
    v = integer(i);
    must(shmlua_dict_push(h, "list", 4, 0, &v, &len, &err) == 0, "setup push");
  }
  store(h, "pad1",
        str("................................................................"
            "................................................................"),
        0);
  store(h, "pad2",
        str("................................................................"
            "................................................................"),
        0);
  usleep(3000); /* "gone" expires */
}

/* One line per key: its value as get sees it, a list as its elements (popped). */
static void describe(shmlua_dict *h, char out[KEYS][DESC]) {
  char buf[4096];
  for (int k = 0; k < KEYS; k++) {
    shmlua_dict_value v;
    shmlua_error err;
    int n = 0, rc;
    out[k][0] = '\0';
    while ((rc = shmlua_dict_pop(h, keys[k], strlen(keys[k]), 1, into, buf, &v, &err)) == 0 &&
           v.type != SHMLUA_DICT_NIL && n < 200)
      n += snprintf(out[k] + n, DESC - (size_t)n, "[%lld]", (long long)v.as.integer);
    if (rc == 0 && n > 0)
      continue;
    if (shmlua_dict_get(h, keys[k], strlen(keys[k]), into, buf, &v, NULL, &err) != 0) {
      snprintf(out[k], DESC, "error %.200s", err.message);
      continue;
    }
    switch (v.type) {
    case SHMLUA_DICT_NIL:
      snprintf(out[k], DESC, "nil");
      break;
    case SHMLUA_DICT_INTEGER:
      snprintf(out[k], DESC, "%lld", (long long)v.as.integer);
      break;
    case SHMLUA_DICT_STRING:
      snprintf(out[k], DESC, "'%.*s'", (int)v.as.string.len, v.as.string.bytes);
      break;
    default:
      snprintf(out[k], DESC, "type %d", (int)v.type);
    }
  }
}

static int append_key(void *ud, const char *key, size_t klen) {
  char *out = ud;
  size_t n = strlen(out);
  if (n + klen + 2 > DESC)
    return -1;
  memcpy(out + n, key, klen);
  memcpy(out + n + klen, ",", 2);
  return 0;
}

/* The keys from most to least recently used (the LRU list walked from its head). */
static void lru_order(shmlua_dict *h, char out[DESC]) {
  shmlua_error err;
  out[0] = '\0';
  if (shmlua_dict_keys(h, 0, append_key, out, &err) != 0)
    snprintf(out, DESC, "error %.200s", err.message);
}

/* Everything deleted, nothing is left and every byte is free. */
static int all_free(shmlua_dict *h) {
  shmlua_error err;
  uint64_t freed;
  for (int k = 0; k < KEYS; k++) {
    shmlua_dict_value nil = {SHMLUA_DICT_NIL, {0}};
    int forcible;
    if (shmlua_dict_store(h, SHMLUA_DICT_SET, keys[k], strlen(keys[k]), &nil, 0, &forcible,
                          &err) != 0)
      return 0;
  }
  if (shmlua_dict_flush_expired(h, 0, &freed, &err) != 0)
    return 0;
  return shmlua_dict_count(h) == 0 && shmlua_dict_free_space(h) == shmlua_dict_capacity(h);
}

typedef struct operation {
  const char *name;
  void (*run)(shmlua_dict *h);
  int evicts; /* other keys may read as evicted */
} operation;

static void get(shmlua_dict *h, const char *key) {
  char buf[64];
  shmlua_dict_value v;
  shmlua_error err;
  shmlua_dict_get(h, key, strlen(key), into, buf, &v, NULL, &err);
}
static void op_get_oldest(shmlua_dict *h) { /* moves the LRU list's tail to its head */
  get(h, "a");
}
static void op_get_middle(shmlua_dict *h) {
  get(h, "c");
}
static void op_overwrite(shmlua_dict *h) { /* same size: the old entry's place fits */
  store(h, "a", str("ALPHA"), 0);
}
static void op_replace(shmlua_dict *h) {
  store(h, "b", str("a longer value than bravo had"), 0);
}
static void op_insert(shmlua_dict *h) {
  store(h, "new", str("fresh"), 5000);
}
static void op_delete(shmlua_dict *h) {
  shmlua_dict_value nil = {SHMLUA_DICT_NIL, {0}};
  store(h, "c", nil, 0);
}
static void op_incr(shmlua_dict *h) {
  shmlua_dict_value n = integer(5), out;
  shmlua_error err;
  int forcible;
  shmlua_dict_incr(h, "d", 1, &n, NULL, 0, &out, &forcible, &err);
}
static void op_incr_init(shmlua_dict *h) {
  shmlua_dict_value n = integer(5), init = integer(100), out;
  shmlua_error err;
  int forcible;
  shmlua_dict_incr(h, "n", 1, &n, &init, 0, &out, &forcible, &err);
}
static void op_push(shmlua_dict *h) {
  shmlua_dict_value v = integer(9);
  shmlua_error err;
  uint64_t len;
  shmlua_dict_push(h, "list", 4, 1, &v, &len, &err);
}
static void op_push_expired(shmlua_dict *h) { /* drops the expired entry, makes a list */
  shmlua_dict_value v = integer(5);
  shmlua_error err;
  uint64_t len;
  shmlua_dict_push(h, "gone", 4, 0, &v, &len, &err);
}
static void op_pop(shmlua_dict *h) {
  char buf[64];
  shmlua_dict_value v;
  shmlua_error err;
  shmlua_dict_pop(h, "list", 4, 0, into, buf, &v, &err);
}
static void op_drop_list(shmlua_dict *h) {
  shmlua_dict_value nil = {SHMLUA_DICT_NIL, {0}};
  store(h, "list", nil, 0);
}
static void op_evict(shmlua_dict *h) {
  static char big[1200];
  memset(big, 'x', sizeof big - 1);
  store(h, "new", str(big), 0);
}
static void op_expire(shmlua_dict *h) {
  shmlua_error err;
  shmlua_dict_expire(h, "a", 1, 1, &err);
  usleep(2000);
}
static void op_flush_all(shmlua_dict *h) {
  shmlua_error err;
  shmlua_dict_flush_all(h, &err);
}
static void op_flush_expired(shmlua_dict *h) {
  shmlua_error err;
  uint64_t freed;
  shmlua_dict_flush_expired(h, 0, &freed, &err);
}

static const operation operations[] = {
    {"get the oldest", op_get_oldest, 0},
    {"get one in the middle", op_get_middle, 0},
    {"overwrite", op_overwrite, 0},
    {"replace", op_replace, 0},
    {"insert", op_insert, 0},
    {"delete", op_delete, 0},
    {"incr", op_incr, 0},
    {"incr from init", op_incr_init, 0},
    {"lpush", op_push, 0},
    {"rpush over an expired value", op_push_expired, 0},
    {"rpop", op_pop, 0},
    {"drop a list", op_drop_list, 0},
    {"set evicting", op_evict, 1},
    {"expire", op_expire, 0},
    {"flush_all", op_flush_all, 0},
    {"flush_expired", op_flush_expired, 0},
};

static shmlua_dict fresh(void) {
  shmlua_dict h;
  void *block = mmap(NULL, layout, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) {
    perror("mmap");
    exit(2);
  }
  memcpy(block, pristine, layout);
  shmlua_dict_open(&h, block, layout);
  return h;
}

/* Runs op in a traced child, killed after steps instructions (0: never); returns how many
   instructions it took when it was not killed. */
static long run_child(shmlua_dict *h, const operation *op, long steps) {
  int status;
  long n = 0;
  pid_t pid = fork();
  if (pid == 0) {
    ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    raise(SIGSTOP);
    op->run(h);
    _exit(0);
  }
  waitpid(pid, &status, 0); /* stopped at its raise */
  for (;;) {
    if (steps && n == steps) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return n;
    }
    if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0) {
      perror("ptrace");
      exit(2);
    }
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) || WIFSIGNALED(status))
      return n;
    n++;
  }
}

static void check_operation(const operation *op) {
  char before[KEYS][DESC], after[KEYS][DESC], got[KEYS][DESC];
  char order_before[DESC], order_after[DESC], order[DESC];
  shmlua_dict h = fresh();
  long total, stride, kills = 0;
  lru_order(&h, order_before);
  describe(&h, before);
  munmap(h.d, layout);
  h = fresh();
  total = run_child(&h, op, 0);
  lru_order(&h, order_after);
  describe(&h, after);
  munmap(h.d, layout);
  if (kills_wanted) {
    long kills_here = 2 * STEPS_BUDGET / (total ? total : 1);
    kills_here = kills_here < 4 ? 4 : kills_here > kills_wanted ? kills_wanted : kills_here;
    stride = total / kills_here + 1;
  } else
    stride = 1;
  for (long k = 1 + random() % stride; k < total; k += stride, kills++) {
    h = fresh();
    run_child(&h, op, k);
    lru_order(&h, order);
    if (strcmp(order, order_before) != 0 && strcmp(order, order_after) != 0 && !op->evicts) {
      printf("FAIL %s killed at %ld of %ld: LRU order %s (before %s, after %s)\n", op->name, k,
             total, order, order_before, order_after);
      failed = 1;
    }
    describe(&h, got);
    for (int i = 0; i < KEYS; i++)
      if (strcmp(got[i], before[i]) != 0 && strcmp(got[i], after[i]) != 0 &&
          !(op->evicts && strcmp(got[i], "nil") == 0)) {
        printf("FAIL %s killed at %ld of %ld: %s is %s (before %s, after %s)\n", op->name, k,
               total, keys[i], got[i], before[i], after[i]);
        failed = 1;
      }
    if (!all_free(&h)) {
      printf("FAIL %s killed at %ld of %ld: bytes lost (%llu of %llu free)\n", op->name, k,
             total, (unsigned long long)shmlua_dict_free_space(&h),
             (unsigned long long)shmlua_dict_capacity(&h));
      failed = 1;
    }
    munmap(h.d, layout);
  }
  printf("%s: %ld instructions, %ld kills\n", op->name, total, kills);
}

int main(void) {
  uint64_t bytes = BYTES;
  shmlua_error err;
  shmlua_dict h;
  const char *wanted = getenv("SHMLUA_DICT_KILLS"), *only = getenv("SHMLUA_DICT_OPERATION");
  unsigned seed = (unsigned)getpid();
  if (wanted)
    kills_wanted = atol(wanted);
  srandom(seed);
  printf("seed %u\n", seed);
  if (shmlua_dict_layout_size(bytes, &layout, &err) != 0) {
    printf("FAIL setup: %s\n", err.message);
    return 1;
  }
  pristine = mmap(NULL, layout, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (pristine == MAP_FAILED || shmlua_dict_init(pristine, &bytes, &err) != 0) {
    printf("FAIL setup\n");
    return 1;
  }
  shmlua_dict_open(&h, pristine, layout);
  setup(&h);
  for (size_t i = 0; i < sizeof operations / sizeof operations[0]; i++)
    if (!only || strcmp(only, operations[i].name) == 0)
      check_operation(&operations[i]);
  if (!failed)
    printf("ok\n");
  return failed;
}
