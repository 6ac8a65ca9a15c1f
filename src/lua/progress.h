/* A progress line on stderr (progress.c), drawn in place and only when stderr is a terminal:
   shm.map's and shm.pool's progress option. */
#ifndef SHMLUA_PROGRESS_H
#define SHMLUA_PROGRESS_H

#include <time.h>

#include "compat.h"

typedef struct shmlua_progress {
  int on;
  const char *what; /* its label, "shm.map" */
  lua_Integer total;
  lua_Integer *finished; /* items done, shared with forked workers; NULL when off */
  struct timespec start;
  double drawn; /* seconds from start to the last redraw */
} shmlua_progress;
/* wanted: the caller's option. Draws 0 of total at once. Pushes the owner of the shared
   count: keep it on the stack until shmlua_progress_end. */
void shmlua_progress_start(lua_State *L, shmlua_progress *p, int wanted, const char *what,
                           lua_Integer total);
/* In a worker forked after the start: one more item is finished. */
void shmlua_progress_step(shmlua_progress *p);
/* A deadline for a wait, so the line is redrawn in time: t, filled; NULL when there is no
   line (wait as long as needed). */
const struct timespec *shmlua_progress_next(const shmlua_progress *p, struct timespec *t);
/* Redraws with the items finished so far, at most every 0.1 s. */
void shmlua_progress_update(shmlua_progress *p);
/* Draws the last state and ends the line. */
void shmlua_progress_end(shmlua_progress *p);

#endif
