/* A progress line on stderr for long work started from Lua (shm.map's progress option).
   Drawn in place with a carriage return, only when stderr is a terminal: piped or redirected
   output stays clean. */
#include <stdio.h>
#include <unistd.h>

#include "../core/futex.h"
#include "binding.h"

enum { REDRAW_MS = 100 }; /* often enough to look alive, rarely enough to cost nothing */

static double seconds_since(const struct timespec *t) {
  struct timespec now = shmlua_now();
  return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void draw(shmlua_progress *p, lua_Integer done) {
  double elapsed = seconds_since(&p->start);
  fprintf(stderr, "\r%s: %lld/%lld done (%d%%), %.1fs\033[K", p->what, (long long)done,
          (long long)p->total, p->total > 0 ? (int)(100 * done / p->total) : 100, elapsed);
  fflush(stderr);
  p->drawn = elapsed;
}

void shmlua_progress_start(shmlua_progress *p, int wanted, const char *what,
                           lua_Integer total) {
  p->on = wanted && isatty(STDERR_FILENO);
  p->what = what;
  p->total = total;
  p->start = shmlua_now();
  if (p->on)
    draw(p, 0);
}

void shmlua_progress_update(shmlua_progress *p, lua_Integer done) {
  if (p->on && seconds_since(&p->start) - p->drawn >= REDRAW_MS / 1000.0)
    draw(p, done);
}

void shmlua_progress_end(shmlua_progress *p, lua_Integer done) {
  if (!p->on)
    return;
  draw(p, done);
  fputc('\n', stderr);
  p->on = 0;
}
