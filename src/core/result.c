/* Forked children's results through shared slots. The regions list and each region's taken
   bits are only changed by their owner, outside signal handlers; a slot's state is the
   child's to set (and the parent's to reset before a fork and after the child is reaped). */
#include "result.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <pthread.h>
#endif

#include "forked.h"
#include "self.h"

/* 1 KiB slots: a small result, or an error with its traceback, fits; 63 of them behind the
   region's header make 64 KiB of address space, of which only the pages written are memory. */
#define SLOT_SIZE 1024
#define SLOTS 63
#define REGION_SIZE ((size_t)SLOT_SIZE * (SLOTS + 1))

/* A slot's state. A block's child and its parent's exit change it by atomic exchanges, so
   that one of them unlinks the block whichever comes first (abandon). */
enum { EMPTY, SMALL, BLOCK_STARTED /* a block may exist */, IN_BLOCK, ABANDONED };

struct shmlua_result_slot {
  uint32_t state;
  uint32_t index; /* in its region */
  uint64_t len;
  int32_t owner; /* the parent's pid and the slot's number in it name the block */
  uint32_t id;
  unsigned char data[SLOT_SIZE - 24];
};
_Static_assert(sizeof(shmlua_result_slot) == SLOT_SIZE, "a slot is SLOT_SIZE bytes");

typedef struct region {
  struct region *next;
  pid_t owner;
  uint32_t number; /* in its owner: regions made before it */
  uint64_t taken;  /* bit i: slot i */
} region;

/* This process's regions (a forked child's list is its parent's until it takes a slot), and
   in a forked child the slot it sends its result to. */
static SHMLUA_FORKED_DATA region *regions;
static SHMLUA_FORKED_DATA shmlua_result_slot *inherited;

#if defined(__GLIBC__)
/* A child of a plain fork() made in a forked child may run the same code to its end: a
   handler run in every child of a fork forgets the slot there (glibc drops an unloaded
   library's handlers; elsewhere the pid is compared). */
static pthread_once_t hooking = PTHREAD_ONCE_INIT;
static bool hooked;

SHMLUA_FORKED static void forget_inherited(void) {
  inherited = NULL;
}

static void hook(void) {
  hooked = pthread_atfork(NULL, NULL, forget_inherited) == 0;
}
#else
static pid_t inherited_by;
#endif

static shmlua_result_slot *slot_at(region *r, unsigned i) {
  return (shmlua_result_slot *)((char *)r + (size_t)SLOT_SIZE * (i + 1));
}

static region *region_of(shmlua_result_slot *s) {
  return (region *)((char *)s - (size_t)SLOT_SIZE * (s->index + 1));
}

static void block_name(const shmlua_result_slot *s, char name[64]);

/* Gives up the slot's result: unlinks its block if it has one; a child still making it finds
   the slot abandoned and unlinks the block itself. Async-signal-safe. */
static void abandon(shmlua_result_slot *s) {
  uint32_t state = __atomic_exchange_n(&s->state, ABANDONED, __ATOMIC_SEQ_CST);
  if (state == BLOCK_STARTED || state == IN_BLOCK) {
    char name[64];
    block_name(s, name);
    shm_unlink(name);
  }
}

/* At exit: the blocks of results nobody read (an os.exit before the handles were
   collected), and of those children still making theirs. */
static void abandon_all(void) {
  pid_t self = getpid();
  for (region *r = regions; r && r->owner == self; r = r->next)
    for (unsigned i = 0; i < SLOTS; i++)
      if (r->taken & (UINT64_C(1) << i))
        abandon(slot_at(r, i));
}

static region *new_region(pid_t self, shmlua_error *err) {
  static bool registered;
  void *p;
  region *r;
  if (!registered && atexit(abandon_all) != 0) {
    shmlua_fail(err, ENOMEM, "child results");
    return NULL;
  }
  registered = true;
  p = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  r = p;
  if (p == MAP_FAILED) {
    shmlua_fail(err, errno, "child results");
    return NULL;
  }
  r->owner = self;
  r->number = regions ? regions->number + 1 : 0;
  r->taken = 0;
  r->next = regions;
  return r;
}

shmlua_result_slot *shmlua_result_take(pid_t self, shmlua_error *err) {
  shmlua_result_slot *s;
  region *r;
  unsigned i;
#if defined(__GLIBC__)
  pthread_once(&hooking, hook);
  if (!hooked) {
    shmlua_fail(err, ENOMEM, "child results");
    return NULL;
  }
#endif
  if (regions && regions->owner != self) /* a child of a plain fork(): its parent's */
    regions = NULL;
  for (r = regions; r && r->taken == (UINT64_C(1) << SLOTS) - 1; r = r->next)
    continue;
  if (!r) {
    if (!(r = new_region(self, err)))
      return NULL;
    regions = r;
  }
  for (i = 0; r->taken & (UINT64_C(1) << i); i++)
    continue;
  r->taken |= UINT64_C(1) << i;
  s = slot_at(r, i);
  s->state = EMPTY;
  s->index = i;
  s->len = 0;
  s->owner = (int32_t)self;
  s->id = r->number * SLOTS + i;
  return s;
}

SHMLUA_FORKED void shmlua_result_inherit(shmlua_result_slot *slot) {
  inherited = slot;
  regions = NULL;
#if !defined(__GLIBC__)
  inherited_by = getpid();
#endif
}

/* "/shmlua-result.<owner>.<id>" without stdio (async-signal-safe). */
static void block_name(const shmlua_result_slot *s, char name[64]) {
  static const char prefix[] = "/shmlua-result.";
  unsigned long numbers[2] = {(unsigned long)s->owner, s->id};
  size_t k = sizeof prefix - 1;
  memcpy(name, prefix, k);
  for (int n = 0; n < 2; n++) {
    char digits[24];
    int d = 0;
    unsigned long v = numbers[n];
    do
      digits[d++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    if (n > 0)
      name[k++] = '.';
    while (d > 0)
      name[k++] = digits[--d];
  }
  name[k] = '\0';
}

#if defined(__linux__)
/* tmpfs files take write and read: no mapping to fault on, and a full /dev/shm is ENOSPC
   here, where a mapping's write would be SIGBUS. */
static int fill(int fd, const struct iovec *parts, int n, size_t total) {
  (void)total;
  for (int i = 0; i < n; i++) {
    const char *p = parts[i].iov_base;
    size_t left = parts[i].iov_len;
    while (left > 0) {
      ssize_t w = write(fd, p, left);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1;
      p += w;
      left -= (size_t)w;
    }
  }
  return 0;
}

static int drain(int fd, unsigned char *out, size_t len) {
  while (len > 0) {
    ssize_t r = read(fd, out, len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)
        errno = EIO;
      return -1;
    }
    out += r;
    len -= (size_t)r;
  }
  return 0;
}
#else
/* Elsewhere (macOS) a shared-memory object is only read and written through a mapping. */
static int fill(int fd, const struct iovec *parts, int n, size_t total) {
  char *p;
  if (ftruncate(fd, (off_t)total) != 0 ||
      (p = mmap(NULL, total, PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
    return -1;
  for (int i = 0; i < n; i++) {
    memcpy(p, parts[i].iov_base, parts[i].iov_len);
    p += parts[i].iov_len;
  }
  munmap(p - total, total);
  return 0;
}

static int drain(int fd, unsigned char *out, size_t len) {
  void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return -1;
  memcpy(out, p, len);
  munmap(p, len);
  return 0;
}
#endif

/* A result larger than the slot, in a block named after the slot. Its state says so before
   the block is made: if the child dies from there on, the parent unlinks the name. A parent
   that exits meanwhile abandons the slot: then the child unlinks what it made. */
static int send_block(shmlua_result_slot *s, const struct iovec *parts, int n, size_t total,
                      shmlua_error *err) {
  uint32_t state = EMPTY;
  char name[64];
  int fd, code;
  block_name(s, name);
  if (!__atomic_compare_exchange_n(&s->state, &state, BLOCK_STARTED, false, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST))
    return 0; /* abandoned: nobody will read it */
  fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST) { /* left by a killed process that had the parent's pid */
    shm_unlink(name);
    fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0 || fill(fd, parts, n, total) != 0) {
    code = errno;
    if (fd >= 0) {
      close(fd);
      shm_unlink(name);
    }
    state = BLOCK_STARTED;
    __atomic_compare_exchange_n(&s->state, &state, EMPTY, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    return shmlua_failf(err, code, "a result of %zu bytes could not be sent", total);
  }
  close(fd);
  s->len = total;
  state = BLOCK_STARTED;
  if (!__atomic_compare_exchange_n(&s->state, &state, IN_BLOCK, false, __ATOMIC_SEQ_CST,
                                   __ATOMIC_SEQ_CST))
    shm_unlink(name); /* abandoned meanwhile */
  return 0;
}

SHMLUA_FORKED int shmlua_result_send(const struct iovec *parts, int n, shmlua_error *err) {
  shmlua_result_slot *s = inherited;
  size_t total = 0;
#if !defined(__GLIBC__)
  if (s && inherited_by != getpid())
    s = NULL;
#endif
  if (!s)
    return 0;
  for (int i = 0; i < n; i++)
    total += parts[i].iov_len;
  if (total > sizeof s->data) {
    if (send_block(s, parts, n, total, err))
      return -1;
  } else {
    /* Byte by byte through a volatile pointer, which no compiler turns into a call to
       memcpy: its code may lie in a page of libc the child has not entered, a fault (about
       2 us) for the few bytes most results are. */
    volatile unsigned char *p = s->data;
    for (int i = 0; i < n; i++)
      for (size_t k = 0; k < parts[i].iov_len; k++)
        *p++ = ((const unsigned char *)parts[i].iov_base)[k];
    s->len = total;
    __atomic_store_n(&s->state, SMALL, __ATOMIC_RELEASE);
  }
  inherited = NULL;
  return 0;
}

static int read_block(const shmlua_result_slot *s, unsigned char **data, shmlua_error *err) {
  char name[64];
  struct stat st;
  int fd, code;
  block_name(s, name);
  if ((fd = shm_open(name, O_RDONLY, 0)) < 0)
    return shmlua_fail(err, errno, "the child's result");
  if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != s->len) {
    code = errno;
    close(fd);
    return shmlua_fail(err, code ? code : EIO, "the child's result");
  }
  if (!(*data = malloc(s->len))) {
    close(fd);
    return shmlua_fail(err, ENOMEM, "the child's result");
  }
  if (drain(fd, *data, s->len) != 0) {
    code = errno;
    close(fd);
    free(*data);
    *data = NULL;
    return shmlua_fail(err, code, "the child's result");
  }
  close(fd);
  return 0;
}

int shmlua_result_collect(shmlua_result_slot *slot, unsigned char **data, size_t *len,
                          shmlua_error *err) {
  uint32_t state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
  *data = NULL;
  *len = 0;
  if (state == SMALL && slot->len > 0) {
    if (!(*data = malloc(slot->len)))
      return shmlua_fail(err, ENOMEM, "the child's result");
    memcpy(*data, slot->data, slot->len);
  } else if (state == IN_BLOCK && read_block(slot, data, err) != 0)
    return -1;
  if (*data)
    *len = slot->len;
  shmlua_result_discard(slot);
  return 0;
}

/* Whether the slot is this process's to give up: a child of a plain fork() (another
   library's) keeps its parent's records, whose slots it shares with the parent. */
static bool own(shmlua_result_slot *slot) {
  return region_of(slot)->owner == shmlua_self();
}

void shmlua_result_abandon(shmlua_result_slot *slot) {
  if (own(slot))
    abandon(slot);
}

void shmlua_result_discard(shmlua_result_slot *slot) {
  if (own(slot)) {
    abandon(slot);
    region_of(slot)->taken &= ~(UINT64_C(1) << slot->index);
  }
}
