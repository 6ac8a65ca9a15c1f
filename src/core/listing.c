/* Listing /dev/shm, and finding who maps each block by reading every /proc/<pid>/maps. */
#include "listing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/xattr.h>
#endif

#include "barrier.h"
#include "block.h"
#include "cond.h"
#include "event.h"
#include "mutex.h"
#include "queue.h"
#include "semaphore.h"
#include "sharelist.h"

/* Bytes read from each block to tell what it is: a block up to INSPECT_BYTES is read whole
   (a shared list is recognised then), a bigger one only its first HEADER_BYTES, where every
   fixed sync layout and the header of a queue fit. */
enum { INSPECT_BYTES = 64 * 1024, HEADER_BYTES = 4096 };

#if defined(__APPLE__)
#define st_mtim st_mtimespec
#define st_ctim st_ctimespec
#endif

typedef struct mapping {
  size_t block;
  pid_t pid;
} mapping;

/* Makes room for one more element in *array (of *cap elements of size bytes). */
static int grow_array(void **array, size_t *cap, size_t used, size_t size, shmlua_error *err) {
  void *grown;
  size_t cap2;
  if (used < *cap)
    return 0;
  cap2 = *cap ? 2 * *cap : 64;
  if (cap2 > SIZE_MAX / size || !(grown = realloc(*array, cap2 * size)))
    return shmlua_fail(err, ENOMEM, "listing blocks");
  *array = grown;
  *cap = cap2;
  return 0;
}

static double seconds_between(struct timespec from, struct timespec to) {
  double s = (double)(to.tv_sec - from.tv_sec) + (double)(to.tv_nsec - from.tv_nsec) / 1e9;
  return s > 0 ? s : 0;
}

static int later(struct timespec a, struct timespec b) {
  return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const shmlua_blockinfo *)a)->name, ((const shmlua_blockinfo *)b)->name);
}

static int by_block_then_pid(const void *a, const void *b) {
  const mapping *x = a, *y = b;
  if (x->block != y->block)
    return x->block < y->block ? -1 : 1;
  return (x->pid > y->pid) - (x->pid < y->pid);
}

static int is_dot_or_dotdot(const char *name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Whether pid runs: it exists and is not a zombie (a zombie has ended; its parent has just
   not reaped it yet). */
static int alive(pid_t pid) {
  char path[64], stat[512], *paren;
  FILE *f;
  size_t n;
  if (kill(pid, 0) != 0 && errno != EPERM)
    return 0;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  if (!(f = fopen(path, "re")))
    return 1; /* no /proc (macOS): kill said it exists */
  n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  paren = strrchr(stat, ')'); /* "pid (comm) S ...": comm may hold anything */
  return !(paren && paren[1] == ' ' && paren[2] == 'Z');
}

static pid_t creator_of(int fd) {
#if defined(__linux__)
  char text[24];
  ssize_t n = fgetxattr(fd, SHMLUA_CREATOR_XATTR, text, sizeof text - 1);
  long pid;
  char *end;
  if (n <= 0)
    return 0;
  text[n] = '\0';
  pid = strtol(text, &end, 10);
  return *end == '\0' && pid > 0 && pid <= INT32_MAX ? (pid_t)pid : 0;
#else
  (void)fd;
  return 0;
#endif
}

/* The holder of a robust mutex. The lock word holds the holder's thread id; when a holder
   dies the kernel clears it and sets the owner-died bit, and glibc's __owner still names the
   dead one. The next locker holds it "inconsistent" until consistent() or unlock(), which
   makes it not recoverable (glibc's markers in __owner). */
static void mutex_state(const pthread_mutex_t *m, shmlua_syncstate *s) {
#if defined(__GLIBC__) && defined(__linux__)
  enum {
    FUTEX_OWNER_DIED_BIT = 0x40000000,
    FUTEX_TID_BITS = 0x3fffffff,
    INCONSISTENT = 0x7fffffff,
    NOT_RECOVERABLE = 0x7ffffffe
  };
  unsigned lock = (unsigned)m->__data.__lock;
  int owner = m->__data.__owner;
  s->not_recoverable = owner == NOT_RECOVERABLE;
  s->repairing = owner == INCONSISTENT;
  s->owner_died = (lock & FUTEX_OWNER_DIED_BIT) != 0 || s->repairing;
  if (s->not_recoverable)
    s->holder = 0;
  else if (lock & FUTEX_TID_BITS)
    s->holder = (pid_t)(lock & FUTEX_TID_BITS);
  else
    s->holder = s->owner_died && owner > 0 && owner < NOT_RECOVERABLE ? (pid_t)owner : 0;
#else
  (void)m;
  s->holder = -1;
#endif
}

/* The state of the sync object of kind in bytes (n of them read, the header checked). */
static void sync_state(unsigned kind, const unsigned char *bytes, size_t n,
                       shmlua_syncstate *s) {
  static const size_t sizes[] = {
      [SHMLUA_KIND_MUTEX] = sizeof(shmlua_mutex_block),
      [SHMLUA_KIND_SEMAPHORE] = sizeof(shmlua_semaphore_block),
      [SHMLUA_KIND_BARRIER] = sizeof(shmlua_barrier_block),
      [SHMLUA_KIND_EVENT] = sizeof(shmlua_event_block),
      [SHMLUA_KIND_COND] = sizeof(shmlua_cond_block),
      [SHMLUA_KIND_QUEUE] = sizeof(shmlua_queue_block),
  };
  if (kind >= sizeof sizes / sizeof sizes[0] || n < sizes[kind])
    return;
  s->known = 1;
  switch (kind) {
  case SHMLUA_KIND_MUTEX:
    mutex_state(&((const shmlua_mutex_block *)bytes)->mutex, s);
    break;
  case SHMLUA_KIND_SEMAPHORE: {
    const shmlua_semaphore_block *b = (const void *)bytes;
    s->value = b->value;
    s->waiters = b->sleepers;
    break;
  }
  case SHMLUA_KIND_BARRIER: {
    const shmlua_barrier_block *b = (const void *)bytes;
    s->value = b->arrived;
    s->limit = b->parties;
    s->waiters = b->sleepers;
    s->ended = b->broken != 0;
    break;
  }
  case SHMLUA_KIND_EVENT: {
    const shmlua_event_block *b = (const void *)bytes;
    s->value = b->state != 0;
    s->waiters = b->sleepers;
    break;
  }
  case SHMLUA_KIND_COND:
    s->waiters = ((const shmlua_cond_block *)bytes)->sleepers;
    break;
  case SHMLUA_KIND_QUEUE: {
    const shmlua_queue_block *b = (const void *)bytes;
    s->value = (int64_t)(b->tail.messages - b->head.messages);
    s->limit = b->max_messages;
    /* the queue keeps a flag per side, not a count: a side with sleepers counts as one */
    s->waiters = (b->pop_sleeping != 0) + (b->push_sleeping != 0);
    s->ended = b->ended != 0;
    break;
  }
  }
}

/* What the block is, who made it and, for a sync object, its state: read from the file
   (never mapped, so a peer that truncates it cannot fault the listing). buf holds
   INSPECT_BYTES. A file that cannot be opened or read is a plain block. */
static void inspect(int dir, shmlua_blockinfo *b, unsigned char *buf) {
  shmlua_sync_header h;
  shmlua_sharelist list;
  ssize_t n;
  int fd = openat(dir, b->name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  struct stat st;
  b->kind = "block";
  b->creator_alive = -1;
  if (fd < 0)
    return;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  if ((b->creator = creator_of(fd)) > 0)
    b->creator_alive = alive(b->creator);
  n = pread(fd, buf, b->size <= INSPECT_BYTES ? INSPECT_BYTES : HEADER_BYTES, 0);
  close(fd);
  if (n < (ssize_t)sizeof h)
    return;
  memcpy(&h, buf, sizeof h);
  if (h.magic == SHMLUA_SYNC_MAGIC && h.kind >= SHMLUA_KIND_MUTEX &&
      h.kind <= SHMLUA_KIND_QUEUE) {
    b->kind = shmlua_sync_kind_name(h.kind);
    if (h.version == SHMLUA_SYNC_VERSION)
      sync_state(h.kind, buf, (size_t)n, &b->state);
  } else if ((size_t)n == (size_t)b->size &&
             shmlua_sharelist_open(&list, buf, (size_t)n, NULL) == 0 && list.count > 0)
    b->kind = "list"; /* an empty list is 16 zero bytes: as likely a fresh block */
}

static int read_blocks(shmlua_listing *l, shmlua_error *err) {
  DIR *dir = opendir(SHMLUA_SHM_DIR);
  struct timespec now;
  struct dirent *e;
  size_t cap = 0;
  int rc = 0;
  /* uint64_t: the sync layouts are read in place, at their alignment */
  uint64_t *buf = malloc(INSPECT_BYTES);
  if (!dir || !buf) {
    rc = dir ? shmlua_fail(err, ENOMEM, "listing blocks")
             : shmlua_fail(err, errno, SHMLUA_SHM_DIR);
    free(buf);
    if (dir)
      closedir(dir);
    return rc;
  }
  clock_gettime(CLOCK_REALTIME, &now);
  while (rc == 0 && (e = readdir(dir))) {
    shmlua_blockinfo *b;
    struct stat st;
    if (is_dot_or_dotdot(e->d_name) || strlen(e->d_name) > SHMLUA_NAME_MAX)
      continue;
    /* A name removed since readdir saw it is simply not listed. */
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    if ((rc = grow_array((void **)&l->blocks, &cap, l->count, sizeof *l->blocks, err)) != 0)
      break;
    b = &l->blocks[l->count++];
    memset(b, 0, sizeof *b);
    strcpy(b->name, e->d_name);
    b->size = st.st_size;
    b->stored = (off_t)st.st_blocks * 512; /* st_blocks counts 512-byte units everywhere */
    b->mode = st.st_mode & 07777;
    b->uid = st.st_uid;
    b->age = seconds_between(later(st.st_ctim, st.st_mtim) ? st.st_ctim : st.st_mtim, now);
    inspect(dirfd(dir), b, (unsigned char *)buf);
  }
  free(buf);
  closedir(dir);
  if (rc == 0 && l->count > 1) /* blocks is NULL when empty, which qsort must not get */
    qsort(l->blocks, l->count, sizeof *l->blocks, by_name);
  return rc;
}

/* The block a /proc/<pid>/maps line maps, or -1. Deleted files are not the listed blocks,
   even if a new block has the same name now. */
static long mapped_block(const shmlua_listing *l, char *line) {
  static const char marker[] = " " SHMLUA_SHM_DIR "/", deleted[] = " (deleted)";
  char *name = strstr(line, marker);
  shmlua_blockinfo key, *found;
  size_t len;
  if (!name)
    return -1;
  name += sizeof marker - 1;
  len = strcspn(name, "\n");
  if (len >= sizeof deleted - 1 &&
      memcmp(name + len - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0)
    return -1;
  if (len > SHMLUA_NAME_MAX)
    return -1;
  memcpy(key.name, name, len);
  key.name[len] = '\0';
  found = bsearch(&key, l->blocks, l->count, sizeof *l->blocks, by_name);
  return found ? (long)(found - l->blocks) : -1;
}

/* Adds one (block, pid) pair for each block the process maps. */
static int scan_process(const shmlua_listing *l, pid_t pid, mapping **m, size_t *n,
                        size_t *cap, char **line, size_t *linecap, shmlua_error *err) {
  char path[64];
  FILE *f;
  int rc = 0;
  snprintf(path, sizeof path, "/proc/%ld/maps", (long)pid);
  if (!(f = fopen(path, "re")))
    return 0; /* ended meanwhile, or not ours to read */
  while (rc == 0 && getline(line, linecap, f) > 0) {
    long block = mapped_block(l, *line);
    if (block < 0 ||
        (*n > 0 && (*m)[*n - 1].block == (size_t)block && (*m)[*n - 1].pid == pid))
      continue;
    if ((rc = grow_array((void **)m, cap, *n, sizeof **m, err)) == 0)
      (*m)[(*n)++] = (mapping){(size_t)block, pid};
  }
  fclose(f);
  return rc;
}

static int read_mappers(shmlua_listing *l, shmlua_error *err) {
  DIR *proc = l->count > 0 ? opendir("/proc") : NULL; /* no blocks: nothing to look for */
  mapping *m = NULL;
  size_t n = 0, cap = 0, linecap = 0, k = 0;
  char *line = NULL;
  struct dirent *e;
  int rc = 0;
  if (!proc) /* no /proc (macOS): nobody is known to map anything */
    return 0;
  while (rc == 0 && (e = readdir(proc))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (pid > 0 && *end == '\0')
      rc = scan_process(l, (pid_t)pid, &m, &n, &cap, &line, &linecap, err);
  }
  closedir(proc);
  free(line);
  if (rc == 0 && n > 0 && !(l->pids = malloc(n * sizeof *l->pids)))
    rc = shmlua_fail(err, ENOMEM, "listing blocks");
  if (rc == 0) {
    if (n > 0) /* m is NULL then, which qsort must not get */
      qsort(m, n, sizeof *m, by_block_then_pid);
    for (size_t i = 0; i < n; i++) {
      shmlua_blockinfo *b = &l->blocks[m[i].block];
      if (b->npids == 0)
        b->first_pid = k;
      else if (l->pids[k - 1] == m[i].pid)
        continue;
      l->pids[k++] = m[i].pid;
      b->npids++;
    }
    l->npids = k;
  }
  free(m);
  return rc;
}

int shmlua_listing_read(shmlua_listing *l, shmlua_error *err) {
  memset(l, 0, sizeof *l);
  if (read_blocks(l, err))
    return -1;
  return read_mappers(l, err);
}

void shmlua_listing_free(shmlua_listing *l) {
  free(l->blocks);
  free(l->pids);
  memset(l, 0, sizeof *l);
}
