/* A forked child's result, sent through memory shared with its parent instead of a pipe: a
   pipe cost the parent pipe2, fcntl, read and two close calls a start, and the child a close
   and a writev. Each process maps regions of slots (MAP_SHARED, at its first start; every
   child inherits them); a start takes a free slot, the child writes its result there and
   exits, and the parent reads it once it has reaped the child (the exit orders the child's
   writes before the parent's waitpid). A result larger than a slot goes into a block that the
   child creates under a name derived from the slot; the parent reads and unlinks it, and
   unlinks the name when the child died on its way (kill -9), so nothing is left behind.
   Errors as error.h says. */
#ifndef SHMLUA_RESULT_H
#define SHMLUA_RESULT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "error.h"

typedef struct shmlua_result_slot shmlua_result_slot;

/* In the parent, before the fork: a free slot of this process's (self) regions, or NULL with
   err (no memory for another region). */
shmlua_result_slot *shmlua_result_take(pid_t self, shmlua_error *err);

/* In the new forked child: the slot it sends its result to. The parent's regions are not
   this process's own: its own children get slots of its own regions. */
void shmlua_result_inherit(shmlua_result_slot *slot);

/* In a forked child: sends the n parts as its result (at most once). 0, or -1 with err when a
   result larger than a slot could not be put in a block (a short result can still be sent).
   Sends nothing in a child of a plain fork() made by the child, which may run the same
   code: the slot is not its own. */
int shmlua_result_send(const struct iovec *parts, int n, shmlua_error *err);

/* In the parent, once the child is reaped: the result in *data (malloc'd, NULL and *len 0
   when none was sent), and the slot is free again. -1 with err (no memory, or a block that
   cannot be read): the slot keeps the result, shmlua_result_discard frees it. */
int shmlua_result_collect(shmlua_result_slot *slot, unsigned char **data, size_t *len,
                          shmlua_error *err);

/* In the parent: frees the slot, its result discarded (a child still running sends nothing
   more that could be left behind). Nothing in another process (a plain fork()'s child that
   inherited the record): the slot is its parent's. */
void shmlua_result_discard(shmlua_result_slot *slot);

/* In the parent: discards the slot's result and what a child still running would send, but
   keeps the slot taken (shmlua_result_discard frees it later). Nothing in another process,
   as shmlua_result_discard. Async-signal-safe once this process asked shmlua_self. */
void shmlua_result_abandon(shmlua_result_slot *slot);

#endif
