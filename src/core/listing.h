/* What is in /dev/shm now: each block's size, mode, owner, age, and the processes that map
   it (from /proc/<pid>/maps; none are found where /proc does not exist); what it is (from
   its header: a block, a shared list, a mutex, a queue, ...), the process that created it
   (recorded by shmlua where the file system keeps extended attributes) and, for a sync
   object, its state. Errors as error.h says: read returns 0 or -1 with err; free cannot
   fail. */
#ifndef SHMLUA_LISTING_H
#define SHMLUA_LISTING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "name.h"

#define SHMLUA_SHM_DIR "/dev/shm"

/* A sync object's state as read at listing time (a moment's view: it may change at once).
   Which fields mean something depends on the kind. */
typedef struct shmlua_syncstate {
  int known;      /* 0: nothing read (not a sync object, or its layout did not check) */
  pid_t holder;   /* mutex: the holder's thread id (its pid when single-threaded), 0 if
                         unlocked; -1 where the C library's mutex cannot be read */
  int owner_died; /* mutex: a holder died; the next lock says "owner-died" (or said it:
                         repairing) */
  int repairing;  /* mutex: held after "owner-died", consistent() not called yet */
  int not_recoverable;
  int64_t value;   /* semaphore: free units; event: 1 if set; queue: messages in it;
                         barrier: parties arrived in this round */
  int64_t limit;   /* barrier: parties; queue: its message capacity */
  int64_t waiters; /* processes sleeping in a wait on it (as far as it counts them) */
  int ended;       /* queue: shut down; barrier: broken */
} shmlua_syncstate;

typedef struct shmlua_blockinfo {
  char name[SHMLUA_NAME_MAX + 1]; /* without the leading slash */
  const char *kind;  /* "block", "list", "mutex", "semaphore", "barrier", "event", "cond",
                       "queue" */
  pid_t creator;     /* 0 when not known (made by another program, or no attributes here) */
  int creator_alive; /* 1, 0 (ended, or a zombie), or -1 when the creator is not known */
  shmlua_syncstate state;
  off_t size;
  off_t stored; /* bytes with storage behind them: size (in whole pages) for a block made
                   with its storage reserved, less for one made without until it is touched */
  mode_t mode;  /* permission bits */
  uid_t uid;
  double age;       /* seconds since the contents or attributes last changed */
  size_t first_pid; /* its mappers are pids[first_pid .. first_pid + npids - 1] */
  size_t npids;
} shmlua_blockinfo;

typedef struct shmlua_listing {
  shmlua_blockinfo *blocks; /* sorted by name */
  size_t count;
  pid_t *pids; /* ascending within each block */
  size_t npids;
} shmlua_listing;

/* Fills l (free it with shmlua_listing_free, also after a failure). Processes whose maps
   cannot be read (another user's, or ended meanwhile) are skipped. */
int shmlua_listing_read(shmlua_listing *l, shmlua_error *err);

void shmlua_listing_free(shmlua_listing *l);

#endif
