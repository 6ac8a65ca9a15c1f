/* Ownership of shared-memory names. The list changes only by single pointer stores, each
   made once the node it links is complete (a signal fence keeps the compiler from moving
   them), so a signal handler that runs shmlua_owner_cleanup in the middle of a change sees
   a whole list, without blocking signals (two system calls per change, a tenth of a create
   and unlink). Nodes are freed only once unlinked: a handler runs to its end first. */
#include "owner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct owned {
  struct owned *next;
  pid_t pid;
  char path[];
} owned;

static owned *volatile owned_head;

static void cleanup_at_exit(void) {
  shmlua_owner_cleanup();
}

int shmlua_owner_add(const char *path, shmlua_error *err) {
  static int registered;
  size_t len = strlen(path) + 1;
  owned *node = malloc(sizeof *node + len);
  if (!node)
    return shmlua_fail(err, ENOMEM, path + 1);
  if (!registered) {
    if (atexit(cleanup_at_exit) != 0) {
      free(node);
      return shmlua_fail(err, ENOMEM, path + 1);
    }
    registered = 1;
  }
  node->pid = getpid();
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

void shmlua_owner_cleanup(void) {
  /* Nodes are left allocated: free() is not async-signal-safe, and the process is ending. */
  pid_t self = getpid();
  int saved = errno;
  for (owned *node = owned_head; node; node = node->next)
    if (node->pid == self && node->path[0] == '/') {
      shm_unlink(node->path);
      node->path[0] = '\0';
    }
  errno = saved;
}
