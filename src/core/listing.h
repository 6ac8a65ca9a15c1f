/* What is in /dev/shm now: each block's size, mode, owner, age, and the processes that map
   it (from /proc/<pid>/maps; none are found where /proc does not exist). */
#ifndef SHMLUA_LISTING_H
#define SHMLUA_LISTING_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "name.h"

#define SHMLUA_SHM_DIR "/dev/shm"

typedef struct shmlua_blockinfo {
  char name[SHMLUA_NAME_MAX + 1]; /* without the leading slash */
  off_t size;
  off_t stored; /* bytes with storage behind them: size (in whole pages) for a block made
                   with its storage reserved, less for one made without until it is touched */
  mode_t mode; /* permission bits */
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
