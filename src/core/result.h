/* A forked child's result, sent through memory shared with its parent instead of a pipe: a
   pipe cost the parent pipe2, fcntl, read and two close calls a start, and the child a close
   and a writev. Each process maps regions of slots (MAP_SHARED, at its first start; every
   child inherits them); a start takes a free slot, the child writes its result there and
   exits, and the parent reads it once it has reaped the child (the exit orders the child's
   writes before the parent's waitpid). A result larger than a slot goes into an anonymous
   file (memfd_create on Linux, which /dev/shm's size does not bound; elsewhere a
   shared-memory object unlinked as soon as it is made) whose descriptor the child sends
   over its region's socket; the parent receives it after the reap. Nothing has a name, so a
   kill -9 of the parent or the child leaves nothing behind: a descriptor still in a socket
   goes with the last process holding that socket.
   Descriptors: two a region in each process that started children (the ends of a
   close-on-exec socketpair: it receives on one and keeps the other for the children it
   forks later), and, until their own children are collected, those it received for other
   children while it looked for one's. The first region is kept for the process's life
   (its 2 descriptors and 64 KiB of address space); one made while the others were full
   is given back once its slots are free. Errors as error.h says. */
#ifndef SHMLUA_RESULT_H
#define SHMLUA_RESULT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "error.h"

typedef struct shmlua_result_slot shmlua_result_slot;

/* In the parent, before the fork: a free slot of this process's (self) regions, or NULL with
   err (no memory or descriptors for another region). */
shmlua_result_slot *shmlua_result_take(pid_t self, shmlua_error *err);

/* In the new forked child: the slot it sends its result to. The parent's regions are not
   this process's own: its own children get slots of its own regions. */
void shmlua_result_inherit(shmlua_result_slot *slot);

/* In a forked child: sends the n parts as its result (at most once). 0, or -1 with err when a
   result larger than a slot could not be put in a file or sent (its parent has not received
   a region's worth of descriptors: the send never waits); a short result can still be sent.
   Sends nothing in a child of a plain fork() made by the child, which may run the same
   code: the slot is not its own. */
int shmlua_result_send(const struct iovec *parts, int n, shmlua_error *err);

/* In the parent, once the child is reaped: the result in *data (malloc'd, NULL and *len 0
   when none was sent), and the slot is free again. -1 with err (no memory, a file that
   cannot be read, a descriptor lost to this process's limit of open files): the slot keeps
   the result, shmlua_result_discard frees it. */
int shmlua_result_collect(shmlua_result_slot *slot, unsigned char **data, size_t *len,
                          shmlua_error *err);

/* In the parent, once the child is reaped (or if it never ran): frees the slot, its result
   discarded. Nothing in another process (a plain fork()'s child that inherited the record):
   the slot is its parent's. */
void shmlua_result_discard(shmlua_result_slot *slot);

#endif
