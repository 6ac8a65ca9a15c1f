/* The C floor's hand-over of a turn between two processes through one shared word: what
   shmlua's waits do (src/core/sync_wait.c), with nothing else. Used by the C ping-pong rows
   and, behind a Lua call, by benchsupport's word (the same loop in the Lua processes). */
#ifndef SHMLUA_CBENCH_HANDOFF_H
#define SHMLUA_CBENCH_HANDOFF_H

#include <stdint.h>

/* As shmlua's waits: 20 looks, then looks with sched_yield every 32 for at most 50 us (or
   until a yield lets another process run for 10 us), then the futex. */
enum { SHMLUA_CBENCH_SPIN_LOOKS = 20 };

/* Waits until *w == want: spin looks (polite: then as shmlua, above), then sleeps on the
   futex, counted in *sleepers so the other side wakes only a sleeper. */
void shmlua_cbench_await(uint32_t *w, uint32_t want, int spin, int polite, uint32_t *sleepers);

/* One look of a spin that has looks looks behind it: a pause, or every 32nd a sched_yield
   (two spinners on one CPU do not burn their time slices). */
void shmlua_cbench_relax(unsigned looks);

/* Stores value and wakes the other side (only if counted asleep, when sleepers is given). */
void shmlua_cbench_hand_over(uint32_t *w, uint32_t value, const uint32_t *sleepers);

#endif
