/* Forked children's results through shared slots, and descriptors of anonymous files for
   the large ones. The regions list, each region's taken bits and the descriptors kept are
   only changed by their owner; a slot's state is the child's to set (and the parent's to
   reset before a fork). */
#include "result.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <pthread.h>
#endif
#if !defined(__linux__)
#include <stdio.h>
#endif

#include "forked.h"
#include "self.h"

/* 1 KiB slots: a small result, or an error with its traceback, fits; 63 of them behind the
   region's header make 64 KiB of address space, of which only the pages written are memory. */
#define SLOT_SIZE 1024
#define SLOTS 63
#define REGION_SIZE ((size_t)SLOT_SIZE * (SLOTS + 1))

/* A slot's state. SENT is set before the descriptor is sent, so that a child killed just
   after sending it still has its parent look for it (and close it). */
enum { EMPTY, SMALL, SENT /* a descriptor may have been sent */ };

struct shmlua_result_slot {
  uint32_t state;
  uint32_t index; /* in its region */
  uint64_t len;
  uint32_t generation; /* how often the slot was taken: tells a stale descriptor */
  uint32_t unused;
  unsigned char data[SLOT_SIZE - 24];
};
_Static_assert(sizeof(shmlua_result_slot) == SLOT_SIZE, "a slot is SLOT_SIZE bytes");

/* What a child sends with its descriptor. */
typedef struct note {
  uint32_t index, generation;
} note;

/* kept[i] when no descriptor came for slot i, or when its note came without one (this
   process had too many open files to receive it). */
#define NONE (-1)
#define LOST (-2)

/* At the start of the region's mapping, inherited by every child (which reads the
   socket's end it sends on). */
typedef struct region {
  struct region *next;
  pid_t owner;
  int receiving, sending; /* the ends of the socketpair */
  uint64_t taken;         /* bit i: slot i */
  /* Descriptors received for slot i's child, in a private mapping (no malloc'd block only
     a shared mapping points to, which a leak checker would not find): a child forked
     meanwhile closes its copies of those its parent kept at the fork, which a shared array
     would not tell while the parent changes it. */
  int *kept;
} region;
#define KEPT_SIZE (SLOTS * sizeof(int))
_Static_assert(sizeof(region) <= SLOT_SIZE, "a region's header fits before its first slot");

/* This process's regions (a forked child's list is its parent's until it takes a slot); in
   a forked child the slot it sends its result to and that slot's generation then; how
   many descriptors the regions keep. */
static SHMLUA_FORKED_DATA region *regions;
static SHMLUA_FORKED_DATA shmlua_result_slot *inherited;
static SHMLUA_FORKED_DATA uint32_t inherited_generation;
static SHMLUA_FORKED_DATA size_t kept_count;

/* In a new child: its copies of the descriptors its parent keeps would hold other
   children's results (of any size) for as long as it lives. */
SHMLUA_FORKED static void close_kept_copies(void) {
  if (kept_count == 0)
    return;
  for (region *r = regions; r; r = r->next)
    for (unsigned i = 0; i < SLOTS; i++)
      if (r->kept[i] >= 0)
        close(r->kept[i]);
  kept_count = 0;
}

#if defined(__GLIBC__)
/* A child of a plain fork() made in a forked child may run the same code to its end: a
   handler run in every child of a fork forgets the slot there (glibc drops an unloaded
   library's handlers; elsewhere the pid is compared). */
static pthread_once_t hooking = PTHREAD_ONCE_INIT;
static bool hooked;

SHMLUA_FORKED static void forget_inherited(void) {
  inherited = NULL;
  close_kept_copies();
}

static void hook(void) {
  hooked = pthread_atfork(NULL, NULL, forget_inherited) == 0;
}
#else
static pid_t inherited_by;
#endif

static shmlua_result_slot *slot_at(region *r, unsigned i) {
  return (shmlua_result_slot *)((char *)r + (size_t)SLOT_SIZE * (i + 1));
}

static region *region_of(shmlua_result_slot *s) {
  return (region *)((char *)s - (size_t)SLOT_SIZE * (s->index + 1));
}

/* Datagrams keep each child's note whole, whatever arrives between; close-on-exec, so that
   no program started by exec holds them. */
static int socket_pair(int ends[2]) {
#if defined(__linux__)
  return socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ends);
#else
  /* Elsewhere (macOS, the BSDs) a datagram socket's default room, a few KiB, would refuse
     the notes of more than a few children sent before their parent waits. */
  int room = 256 * 1024;
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, ends) != 0)
    return -1;
  fcntl(ends[0], F_SETFD, FD_CLOEXEC);
  fcntl(ends[1], F_SETFD, FD_CLOEXEC);
  setsockopt(ends[0], SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
  setsockopt(ends[1], SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
  return 0;
#endif
}

static region *new_region(pid_t self, shmlua_error *err) {
  int ends[2] = {-1, -1}, *kept;
  region *r = MAP_FAILED;
  if ((kept = mmap(NULL, KEPT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                   0)) == MAP_FAILED ||
      socket_pair(ends) != 0 ||
      (r = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                0)) == MAP_FAILED) {
    int code = errno;
    if (ends[0] >= 0) {
      close(ends[0]);
      close(ends[1]);
    }
    if (kept != MAP_FAILED)
      munmap(kept, KEPT_SIZE);
    shmlua_fail(err, code, "child results");
    return NULL;
  }
  for (unsigned i = 0; i < SLOTS; i++)
    kept[i] = NONE;
  r->owner = self;
  r->receiving = ends[0];
  r->sending = ends[1];
  r->taken = 0;
  r->kept = kept;
  r->next = regions;
  return r;
}

shmlua_result_slot *shmlua_result_take(pid_t self, shmlua_error *err) {
  shmlua_result_slot *s;
  region *r;
  unsigned i;
#if defined(__GLIBC__)
  pthread_once(&hooking, hook);
  if (!hooked) {
    shmlua_fail(err, ENOMEM, "child results");
    return NULL;
  }
#endif
  if (regions && regions->owner != self) { /* a child of a plain fork(): its parent's */
    close_kept_copies();                   /* done by the fork's handler with glibc */
    regions = NULL;
  }
  for (r = regions; r && r->taken == (UINT64_C(1) << SLOTS) - 1; r = r->next)
    continue;
  if (!r) {
    if (!(r = new_region(self, err)))
      return NULL;
    regions = r;
  }
  for (i = 0; r->taken & (UINT64_C(1) << i); i++)
    continue;
  r->taken |= UINT64_C(1) << i;
  s = slot_at(r, i);
  s->state = EMPTY;
  s->index = i;
  s->len = 0;
  s->generation++;
  return s;
}

/* Reads the slot's generation now: a sender that outlived its record (or a process that
   took over the slot) must not pass for the slot's next child. */
SHMLUA_FORKED void shmlua_result_inherit(shmlua_result_slot *slot) {
#if !defined(__GLIBC__)
  close_kept_copies();
  inherited_by = getpid();
#endif
  inherited = slot;
  inherited_generation = slot->generation;
  regions = NULL;
}

#if defined(__linux__)
/* Not in /dev/shm: bound by memory, not by that mount's size. */
static int anonymous_file(void) {
  return memfd_create("shmlua-result", MFD_CLOEXEC);
}

/* Written and read as a file: no mapping to fault on, and memory running out is an error
   here, where a mapping's write would be SIGBUS. Read at its offsets: the descriptor
   received shares the child's offset, at the end. */
static int fill(int fd, const struct iovec *parts, int n, size_t total) {
  (void)total;
  for (int i = 0; i < n; i++) {
    const char *p = parts[i].iov_base;
    size_t left = parts[i].iov_len;
    while (left > 0) {
      ssize_t w = write(fd, p, left);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1;
      p += w;
      left -= (size_t)w;
    }
  }
  return 0;
}

static int drain(int fd, unsigned char *out, size_t len) {
  for (size_t done = 0; done < len;) {
    ssize_t r = pread(fd, out + done, len - done, (off_t)done);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)
        errno = EIO;
      return -1;
    }
    done += (size_t)r;
  }
  return 0;
}
#else
/* Elsewhere (macOS has no memfd_create) a shared-memory object whose name is random and
   removed at once: only a kill between the two calls could leave it. */
static int anonymous_file(void) {
  for (int tries = 0; tries < 16; tries++) {
    char name[32];
    int fd;
    snprintf(name, sizeof name, "/shmlua-r.%08x%08x", (unsigned)arc4random(),
             (unsigned)arc4random());
    if ((fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600)) >= 0) {
      shm_unlink(name);
      return fd;
    }
    if (errno != EEXIST)
      return -1;
  }
  return -1;
}

/* Such an object is only read and written through a mapping. */
static int fill(int fd, const struct iovec *parts, int n, size_t total) {
  char *p;
  if (ftruncate(fd, (off_t)total) != 0 ||
      (p = mmap(NULL, total, PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
    return -1;
  for (int i = 0; i < n; i++) {
    memcpy(p, parts[i].iov_base, parts[i].iov_len);
    p += parts[i].iov_len;
  }
  munmap(p - total, total);
  return 0;
}

static int drain(int fd, unsigned char *out, size_t len) {
  void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return -1;
  memcpy(out, p, len);
  munmap(p, len);
  return 0;
}
#endif

/* A note and room for one descriptor (two fit: a sender's extra is closed). */
typedef struct datagram {
  note n;
  struct iovec part;
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int))];
  } control;
  struct msghdr msg;
} datagram;

static void datagram_init(datagram *d) {
  memset(d, 0, sizeof *d);
  d->part = (struct iovec){&d->n, sizeof d->n};
  d->msg.msg_iov = &d->part;
  d->msg.msg_iovlen = 1;
  d->msg.msg_control = d->control.space;
  d->msg.msg_controllen = sizeof d->control.space;
}

/* The descriptor and its note in one datagram; never waits (a parent that does not read
   must not keep its child from its exit). */
static int send_descriptor(int socket, int fd, note n) {
  datagram d;
  struct cmsghdr *h;
  ssize_t w;
  datagram_init(&d);
  d.n = n;
  h = CMSG_FIRSTHDR(&d.msg);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof fd);
  memcpy(CMSG_DATA(h), &fd, sizeof fd);
  do
    w = sendmsg(socket, &d.msg, MSG_DONTWAIT);
  while (w < 0 && errno == EINTR);
  return w == (ssize_t)sizeof n ? 0 : -1;
}

/* A result larger than the slot, in an anonymous file whose descriptor goes to the parent.
   The state says so before the send (see SENT), and is reset when the send fails. */
static int send_file(shmlua_result_slot *s, const struct iovec *parts, int n, size_t total,
                     shmlua_error *err) {
  int fd = anonymous_file(), code;
  if (fd >= 0 && fill(fd, parts, n, total) == 0) {
    s->len = total;
    __atomic_store_n(&s->state, SENT, __ATOMIC_RELEASE);
    if (send_descriptor(region_of(s)->sending, fd, (note){s->index, inherited_generation}) ==
        0) {
      close(fd);
      return 0;
    }
    __atomic_store_n(&s->state, EMPTY, __ATOMIC_RELEASE);
  }
  code = errno;
  if (fd >= 0)
    close(fd);
  return shmlua_failf(err, code, "a result of %zu bytes could not be sent", total);
}

SHMLUA_FORKED int shmlua_result_send(const struct iovec *parts, int n, shmlua_error *err) {
  shmlua_result_slot *s = inherited;
  size_t total = 0;
#if !defined(__GLIBC__)
  if (s && inherited_by != getpid())
    s = NULL;
#endif
  if (!s)
    return 0;
  for (int i = 0; i < n; i++)
    total += parts[i].iov_len;
  if (total > sizeof s->data) {
    if (send_file(s, parts, n, total, err))
      return -1;
  } else {
    /* Byte by byte through a volatile pointer, which no compiler turns into a call to
       memcpy: its code may lie in a page of libc the child has not entered, a fault (about
       2 us) for the few bytes most results are. */
    volatile unsigned char *p = s->data;
    for (int i = 0; i < n; i++)
      for (size_t k = 0; k < parts[i].iov_len; k++)
        *p++ = ((const unsigned char *)parts[i].iov_base)[k];
    s->len = total;
    __atomic_store_n(&s->state, SMALL, __ATOMIC_RELEASE);
  }
  inherited = NULL;
  return 0;
}

/* Writes only when something is kept: the first write to the private page after each fork
   would be a copy-on-write fault. */
static void drop_kept(region *r, unsigned i) {
  if (r->kept[i] == NONE)
    return;
  if (r->kept[i] >= 0) {
    close(r->kept[i]);
    kept_count--;
  }
  r->kept[i] = NONE;
}

/* The descriptor a received datagram carries (-1 if none); any more are closed. */
static int descriptor_in(struct msghdr *msg) {
  int fd = -1;
  for (struct cmsghdr *h = CMSG_FIRSTHDR(msg); h; h = CMSG_NXTHDR(msg, h))
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
      for (size_t k = 0; k < (h->cmsg_len - CMSG_LEN(0)) / sizeof fd; k++) {
        int got;
        memcpy(&got, CMSG_DATA(h) + k * sizeof fd, sizeof fd);
        if (fd < 0)
          fd = got;
        else
          close(got);
      }
#if !defined(__linux__)
  if (fd >= 0)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  return fd;
}

#if defined(MSG_CMSG_CLOEXEC)
#define RECEIVE_FLAGS (MSG_DONTWAIT | MSG_CMSG_CLOEXEC)
#else
#define RECEIVE_FLAGS MSG_DONTWAIT
#endif

/* Receives what r's children sent, without waiting, until slot i's descriptor is kept or
   none is left (a reaped child has sent all it will): the others are kept for their slots,
   stale ones (for a slot freed or taken again since) closed. */
static int receive_for(region *r, unsigned i, shmlua_error *err) {
  while (r->kept[i] == NONE) {
    datagram d;
    ssize_t got;
    uint32_t j;
    int fd;
    datagram_init(&d);
    if ((got = recvmsg(r->receiving, &d.msg, RECEIVE_FLAGS)) < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return shmlua_fail(err, errno, "the child's result");
    }
    fd = descriptor_in(&d.msg);
    j = d.n.index;
    if (got != (ssize_t)sizeof d.n || j >= SLOTS || !(r->taken & (UINT64_C(1) << j)) ||
        slot_at(r, j)->generation != d.n.generation) {
      if (fd >= 0)
        close(fd);
      continue;
    }
    drop_kept(r, j);
    r->kept[j] = fd >= 0 ? fd : LOST;
    kept_count += fd >= 0;
  }
  return 0;
}

/* The result in the file the slot's child sent, if it sent one. */
static int read_file(region *r, const shmlua_result_slot *s, unsigned char **data,
                     shmlua_error *err) {
  int fd = r->kept[s->index], code;
  struct stat st;
  if (fd == NONE) /* the child was killed before it sent it */
    return 0;
  if (fd == LOST)
    return shmlua_fail(err, EMFILE, "the child's result");
  if (fstat(fd, &st) != 0)
    return shmlua_fail(err, errno, "the child's result");
  if ((uint64_t)st.st_size < s->len)
    return shmlua_fail(err, EIO, "the child's result");
  if (!(*data = malloc(s->len)))
    return shmlua_fail(err, ENOMEM, "the child's result");
  if (drain(fd, *data, s->len) != 0) {
    code = errno;
    free(*data);
    *data = NULL;
    return shmlua_fail(err, code, "the child's result");
  }
  return 0;
}

int shmlua_result_collect(shmlua_result_slot *slot, unsigned char **data, size_t *len,
                          shmlua_error *err) {
  uint32_t state = __atomic_load_n(&slot->state, __ATOMIC_ACQUIRE);
  region *r = region_of(slot);
  *data = NULL;
  *len = 0;
  if (state == SMALL && slot->len > 0) {
    if (!(*data = malloc(slot->len)))
      return shmlua_fail(err, ENOMEM, "the child's result");
    memcpy(*data, slot->data, slot->len);
  } else if (state == SENT &&
             (receive_for(r, slot->index, err) != 0 || read_file(r, slot, data, err) != 0))
    return -1;
  if (*data)
    *len = slot->len;
  shmlua_result_discard(slot);
  return 0;
}

/* Gives back a region whose slots are all free: its mappings and its socketpair's two
   descriptors. A child still alive holds its own copies. */
static void release_region(region *r) {
  region **link = &regions;
  while (*link != r)
    link = &(*link)->next;
  *link = r->next;
  for (unsigned i = 0; i < SLOTS; i++)
    drop_kept(r, i);
  close(r->receiving);
  close(r->sending);
  munmap(r->kept, KEPT_SIZE);
  munmap(r, REGION_SIZE);
}

void shmlua_result_discard(shmlua_result_slot *slot) {
  region *r = region_of(slot);
  if (r->owner != shmlua_self()) /* a plain fork()'s child: the slot is its parent's */
    return;
  if (__atomic_load_n(&slot->state, __ATOMIC_ACQUIRE) == SENT)
    receive_for(r, slot->index, NULL); /* or its file waits in the socket */
  drop_kept(r, slot->index);
  r->taken &= ~(UINT64_C(1) << slot->index);
  /* The first region made is kept for the next starts (one start at a time would make and
     give back one each time); those made while it was full go once they are empty. */
  if (r->taken == 0 && r->next)
    release_region(r);
}
