/* Ownership of shared-memory names. The list changes only by single pointer stores, each
   made once the node it links is complete (a signal fence keeps the compiler from moving
   them), so a signal handler that runs shmlua_owner_cleanup in the middle of a change sees
   a whole list, without blocking signals (two system calls per change, a tenth of a create
   and unlink). Nodes are freed only once unlinked: a handler runs to its end first. */
#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forked.h"
#include "name.h"

typedef struct owned {
  struct owned *next;
  pid_t pid;
  dev_t dev; /* the object made: a name made again by another process is another one */
  ino_t ino;
  char path[];
} owned;

static owned *volatile owned_head;

static void cleanup_at_exit(void) {
  shmlua_owner_cleanup();
}

int shmlua_owner_add(const char *path, int fd, shmlua_error *err) {
  static int registered;
  size_t len = strlen(path) + 1;
  struct stat st;
  owned *node;
  if (fstat(fd, &st) != 0)
    return shmlua_fail(err, errno, path + 1);
  if (!(node = malloc(sizeof *node + len)))
    return shmlua_fail(err, ENOMEM, path + 1);
  if (!registered) {
    if (atexit(cleanup_at_exit) != 0) {
      free(node);
      return shmlua_fail(err, ENOMEM, path + 1);
    }
    registered = 1;
  }
  node->pid = getpid();
  node->dev = st.st_dev;
  node->ino = st.st_ino;
  memcpy(node->path, path, len);
  node->next = owned_head;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  owned_head = node;
  return 0;
}

/* Takes the first node of this process named path out of the list; NULL if none. */
static owned *detach(const char *path) {
  pid_t self = getpid();
  for (owned *volatile *link = &owned_head; *link; link = &(*link)->next) {
    owned *node = *link;
    if (node->pid == self && strcmp(node->path, path) == 0) {
      *link = node->next;
      return node;
    }
  }
  return NULL;
}

void shmlua_owner_forget(const char *path) {
  free(detach(path));
}

/* Whether node's name still refers to the object this process made. 0 when the name is
   gone or is another object (removed, then made again by someone else); 1 when it is ours
   or cannot be looked at. Async-signal-safe: lstat of the file on Linux (no permission on
   the object needed, a symbolic link is not followed); elsewhere an open (a system call on
   macOS) and fstat. There is a window between the look and the unlink that this cannot
   close: a name removed and made again within it is unlinked. */
static int still_ours(const owned *node) {
  struct stat st;
#if defined(__linux__)
  static const char dir[] = "/dev/shm"; /* where glibc and musl keep POSIX shared memory */
  char file[sizeof dir + sizeof(shmlua_name)];
  size_t len = strlen(node->path);
  if (len >= sizeof file - sizeof dir)
    return 1;
  memcpy(file, dir, sizeof dir - 1);
  memcpy(file + sizeof dir - 1, node->path, len + 1);
  if (lstat(file, &st) != 0)
    return errno != ENOENT;
#else
  int fd = shm_open(node->path, O_RDONLY, 0), rc;
  if (fd < 0)
    return errno != ENOENT;
  rc = fstat(fd, &st);
  close(fd);
  if (rc != 0)
    return 1;
#endif
  return st.st_dev == node->dev && st.st_ino == node->ino;
}

SHMLUA_FORKED void shmlua_owner_cleanup(void) {
  /* Nodes are left allocated: free() is not async-signal-safe, and the process is ending. */
  owned *head = owned_head;
  pid_t self;
  int saved;
  if (!head) /* most forked children made no block: no system call, no code page touched */
    return;
  self = getpid();
  saved = errno;
  for (owned *node = head; node; node = node->next)
    if (node->pid == self && node->path[0] == '/') {
      if (still_ours(node))
        shm_unlink(node->path);
      node->path[0] = '\0';
    }
  errno = saved;
}
