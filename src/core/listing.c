/* Listing /dev/shm, and finding who maps each block by reading every /proc/<pid>/maps. */
#include "listing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#if defined(__APPLE__)
#define st_mtim st_mtimespec
#define st_ctim st_ctimespec
#endif

typedef struct mapping {
  size_t block;
  pid_t pid;
} mapping;

/* Makes room for one more element in *array (of *cap elements of size bytes). */
static int reserve(void **array, size_t *cap, size_t used, size_t size, shmlua_error *err) {
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

static int read_blocks(shmlua_listing *l, shmlua_error *err) {
  DIR *dir = opendir(SHMLUA_SHM_DIR);
  struct timespec now;
  struct dirent *e;
  size_t cap = 0;
  int rc = 0;
  if (!dir)
    return shmlua_fail(err, errno, SHMLUA_SHM_DIR);
  clock_gettime(CLOCK_REALTIME, &now);
  while (rc == 0 && (e = readdir(dir))) {
    shmlua_blockinfo *b;
    struct stat st;
    if (is_dot_or_dotdot(e->d_name) || strlen(e->d_name) > SHMLUA_NAME_MAX)
      continue;
    /* A name removed since readdir saw it is simply not listed. */
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    if ((rc = reserve((void **)&l->blocks, &cap, l->count, sizeof *l->blocks, err)) != 0)
      break;
    b = &l->blocks[l->count++];
    memset(b, 0, sizeof *b);
    strcpy(b->name, e->d_name);
    b->size = st.st_size;
    b->stored = (off_t)st.st_blocks * 512; /* st_blocks counts 512-byte units everywhere */
    b->mode = st.st_mode & 07777;
    b->uid = st.st_uid;
    b->age = seconds_between(later(st.st_ctim, st.st_mtim) ? st.st_ctim : st.st_mtim, now);
  }
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
    if (block < 0 || (*n > 0 && (*m)[*n - 1].block == (size_t)block && (*m)[*n - 1].pid == pid))
      continue;
    if ((rc = reserve((void **)m, cap, *n, sizeof **m, err)) == 0)
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
