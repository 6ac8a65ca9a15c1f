/* Ownership of shared-memory names. The list is only changed with signals blocked, so a
   signal handler that runs shmlua_owner_cleanup always sees a consistent list. */
#include "owner.h"

#include <errno.h>
#include <signal.h>
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

static void block_signals(sigset_t *old) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, old);
}

static void restore_signals(const sigset_t *old) {
  sigprocmask(SIG_SETMASK, old, NULL);
}

static void cleanup_at_exit(void) {
  shmlua_owner_cleanup();
}

int shmlua_owner_add(const char *path, shmlua_error *err) {
  static int registered;
  size_t len = strlen(path) + 1;
  owned *node = malloc(sizeof *node + len);
  sigset_t old;
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
  block_signals(&old);
  node->next = owned_head;
  owned_head = node;
  restore_signals(&old);
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
  sigset_t old;
  owned *node;
  block_signals(&old);
  node = detach(path);
  restore_signals(&old);
  free(node);
}

int shmlua_owner_owns(const char *path) {
  pid_t self = getpid();
  for (owned *node = owned_head; node; node = node->next)
    if (node->pid == self && strcmp(node->path, path) == 0)
      return 1;
  return 0;
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
