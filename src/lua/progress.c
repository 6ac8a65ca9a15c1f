/* A progress line on stderr for long work started from Lua (shm.map's progress option).
   Drawn in place with a carriage return, only when stderr is a terminal: piped or redirected
   output stays clean. The count of finished items is in memory shared with the forked
   workers, so the line moves as each item ends, not only when a worker reports back. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/futex.h"
#include "class.h"
#include "progress.h"

#define COUNTER_MT "shm.progresscounter"

enum { REDRAW_MS = 100 }; /* often enough to look alive, rarely enough to cost nothing */

static double seconds_since(const struct timespec *t) {
  struct timespec now = shmlua_now();
  return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void draw(shmlua_progress *p) {
  double elapsed = seconds_since(&p->start);
  lua_Integer done = __atomic_load_n(p->finished, __ATOMIC_RELAXED);
  fprintf(stderr, "\r%s: %lld/%lld done (%d%%), %.1fs\033[K", p->what, (long long)done,
          (long long)p->total, p->total > 0 ? (int)(100 * done / p->total) : 100, elapsed);
  fflush(stderr);
  p->drawn = elapsed;
}

/* __gc of the userdata that owns the shared counter. */
static int counter_gc(lua_State *L) {
  lua_Integer **counter = luaL_checkudata(L, 1, COUNTER_MT);
  if (*counter)
    munmap(*counter, sizeof **counter);
  *counter = NULL;
  return 0;
}

void shmlua_progress_start(lua_State *L, shmlua_progress *p, int wanted, const char *what,
                           lua_Integer total) {
  lua_Integer **counter = shmlua_newscratch(L, sizeof *counter, COUNTER_MT, counter_gc);
  p->on = wanted && isatty(STDERR_FILENO);
  p->what = what;
  p->total = total;
  p->start = shmlua_now();
  p->finished = NULL;
  if (!p->on)
    return;
  p->finished = mmap(NULL, sizeof *p->finished, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p->finished == MAP_FAILED) { /* a display only: no line rather than an error */
    p->finished = NULL;
    p->on = 0;
    return;
  }
  *counter = p->finished;
  *p->finished = 0;
  draw(p);
}

void shmlua_progress_step(shmlua_progress *p) {
  if (p->finished)
    __atomic_add_fetch(p->finished, 1, __ATOMIC_RELAXED);
}

const struct timespec *shmlua_progress_next(const shmlua_progress *p, struct timespec *t) {
  if (!p->on)
    return NULL;
  *t = shmlua_deadline(REDRAW_MS / 1000.0);
  return t;
}

void shmlua_progress_update(shmlua_progress *p) {
  if (p->on && seconds_since(&p->start) - p->drawn >= REDRAW_MS / 1000.0)
    draw(p);
}

void shmlua_progress_end(shmlua_progress *p) {
  if (!p->on)
    return;
  draw(p);
  fputc('\n', stderr);
  p->on = 0;
}
