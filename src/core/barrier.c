/* Barrier: a robust mutex guards the round's count and the member table; waiters sleep on a
   futex word in short slices and look for dead members between slices. */
#include "barrier.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "forked.h"
#include "futex.h"
#include "liveness.h"
#include "mutex.h"
#include "sync_wait.h"

static const double MEMBER_CHECK_SECONDS = 0.05;
/* The lock is held for a few instructions: waiting longer means its holder is stopped or the
   block is garbage, and a leave, a break or a check must not hang on that. */
static const double HOUSEKEEPING_SECONDS = 1.0;

/* The member slots whole in size bytes of layout. */
static size_t slots_in(size_t size) {
  return (size - sizeof(shmlua_barrier_block)) / sizeof(shmlua_barrier_member);
}

static int check_layout(const void *bytes, size_t size, shmlua_error *err) {
  const shmlua_barrier_block *b = bytes;
  if (size < sizeof *b)
    return shmlua_failf(err, EPROTO, "barrier layout of %zu bytes is too small", size);
  if (b->parties == 0 || b->parties > INT32_MAX)
    return shmlua_failf(err, EPROTO, "barrier of %u parties", (unsigned)b->parties);
  if (b->slots == 0 || b->slots != slots_in(size) ||
      (size - sizeof *b) % sizeof(shmlua_barrier_member) != 0)
    return shmlua_failf(err, EPROTO, "barrier of %u member slots in %zu bytes",
                        (unsigned)b->slots, size);
  if (b->arrived >= b->parties || b->broken > 1)
    return shmlua_failf(err, EPROTO, "barrier state out of range");
  return 0;
}

const shmlua_sync_type shmlua_barrier_type = {SHMLUA_KIND_BARRIER, "barrier", 0, check_layout};

int shmlua_barrier_layout_size(uint32_t parties, size_t *size, shmlua_error *err) {
  uint64_t slots = (uint64_t)parties + SHMLUA_BARRIER_OTHERS;
  if (parties < 1 || parties > INT32_MAX ||
      slots > (SIZE_MAX - sizeof(shmlua_barrier_block)) / sizeof(shmlua_barrier_member))
    return shmlua_failf(err, EINVAL, "parties must be 1..%d", INT32_MAX);
  *size = sizeof(shmlua_barrier_block) + (size_t)slots * sizeof(shmlua_barrier_member);
  return 0;
}

int shmlua_barrier_init(void *addr, const void *arg, shmlua_error *err) {
  shmlua_barrier_block *b = addr;
  if (shmlua_mutex_init(&b->lock, err) != 0)
    return -1;
  b->parties = *(const uint32_t *)arg;
  b->slots = b->parties + SHMLUA_BARRIER_OTHERS;
  return 0;
}

/* Ends the current round as broken. Lock held. */
static void break_locked(shmlua_barrier_block *b) {
  b->broken = 1;
  b->broken_round = b->generation + 1;
  b->arrived = 0;
  __atomic_add_fetch(&b->generation, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&b->wake, 1, __ATOMIC_SEQ_CST);
  shmlua_sync_wake(&b->wake, &b->sleepers, 0x7fffffff);
}

/* A holder that died mid-update leaves the round in doubt: break it, which resets it.
   0 or an errno (the file's own helpers answer with errnos; the public calls fill err). */
static int lock_barrier(shmlua_barrier_block *b, const struct timespec *deadline) {
  shmlua_error err;
  if (shmlua_mutex_lock(&b->lock, deadline, &err) == 0)
    return 0;
  if (err.code != EOWNERDEAD)
    return err.code;
  break_locked(b);
  shmlua_mutex_consistent(&b->lock, NULL);
  return 0;
}

static shmlua_barrier_member *member_of(const shmlua_barrier *h, pid_t pid) {
  for (uint32_t i = 0; i < h->slots; i++)
    if (h->b->members[i].pid == pid)
      return &h->b->members[i];
  return NULL;
}

static int lock_briefly(shmlua_barrier_block *b) {
  struct timespec deadline = shmlua_deadline(HOUSEKEEPING_SECONDS);
  return lock_barrier(b, &deadline);
}

/* Handles with a member slot, so that a normal exit leaves what close did not. */
static SHMLUA_FORKED_DATA shmlua_barrier *joined_handles; /* forked children look at it */
static pthread_mutex_t joined_lock = PTHREAD_MUTEX_INITIALIZER;

static void leave(shmlua_barrier *h) {
  shmlua_barrier_member *m;
  if (!h->b || h->joined != getpid() || lock_briefly(h->b) != 0)
    return;
  m = member_of(h, h->joined);
  if (m && --m->handles == 0)
    m->pid = 0;
  shmlua_mutex_unlock(&h->b->lock, NULL);
  h->joined = 0;
}

SHMLUA_FORKED void shmlua_barrier_leave_all(void) {
  /* None joined (as in most forked children): the lock is not taken, since locking writes
     to a page such a child would not write otherwise, a copy-on-write fault. */
  if (!__atomic_load_n(&joined_handles, __ATOMIC_RELAXED))
    return;
  pthread_mutex_lock(&joined_lock);
  for (shmlua_barrier *h = joined_handles; h; h = h->next)
    leave(h);
  pthread_mutex_unlock(&joined_lock);
}

static void track(shmlua_barrier *h) {
  static int registered;
  pthread_mutex_lock(&joined_lock);
  if (!registered)
    registered = atexit(shmlua_barrier_leave_all) == 0;
  h->next = joined_handles;
  __atomic_store_n(&joined_handles, h, __ATOMIC_RELAXED); /* leave_all looks unlocked */
  pthread_mutex_unlock(&joined_lock);
}

static void untrack(shmlua_barrier *h) {
  pthread_mutex_lock(&joined_lock);
  for (shmlua_barrier **link = &joined_handles; *link; link = &(*link)->next)
    if (*link == h) {
      __atomic_store_n(link, h->next, __ATOMIC_RELAXED);
      break;
    }
  pthread_mutex_unlock(&joined_lock);
}

static void check_members_locked(shmlua_barrier *h);

/* Takes (or shares) a member slot for this process: 0, or EUSERS when every slot is taken
   by a live member. Lock held. */
static int join_locked(shmlua_barrier *h) {
  pid_t self = getpid();
  uint64_t started;
  shmlua_barrier_member *m;
  if (h->joined == self)
    return 0;
  started = shmlua_process_started(self);
  m = member_of(h, self);
  if (!m || m->started != started) { /* none yet, or a dead process's that had our pid */
    if (!m && !(m = member_of(h, 0))) {
      check_members_locked(h); /* frees the slots of dead members, if any */
      m = member_of(h, 0);
    }
    if (!m)
      return EUSERS;
    m->pid = self;
    m->handles = 0;
    m->arrived_round = 0;
    m->started = started;
  }
  m->handles++;
  h->joined = self;
  return 0;
}

int shmlua_barrier_open(shmlua_barrier *h, void *addr, size_t size, shmlua_error *err) {
  int rc = 0;
  h->b = addr;
  h->parties = h->b->parties;
  /* A peer may rewrite the count after the attach's check: never past the mapping. */
  h->slots = h->b->slots;
  if (h->slots > slots_in(size))
    h->slots = (uint32_t)slots_in(size);
  h->joined = 0;
  if (lock_briefly(h->b) == 0) {
    rc = join_locked(h);
    shmlua_mutex_unlock(&h->b->lock, NULL);
  }
  if (rc != 0) {
    h->b = NULL;
    return shmlua_failcode(err, rc, "barrier");
  }
  track(h);
  return 0;
}

void shmlua_barrier_close(shmlua_barrier *h) {
  if (!h->b)
    return;
  untrack(h);
  leave(h);
  h->b = NULL;
}

int shmlua_barrier_arrive(shmlua_barrier *h, const struct timespec *deadline, uint32_t *round,
                          uint32_t *index, shmlua_error *err) {
  shmlua_barrier_block *b = h->b;
  shmlua_barrier_member *m;
  int rc = lock_barrier(b, deadline);
  if (rc != 0)
    return shmlua_failcode(err, rc, "barrier");
  if ((rc = b->broken ? EPIPE : join_locked(h)) != 0) {
    shmlua_mutex_unlock(&b->lock, NULL);
    return shmlua_failcode(err, rc, "barrier");
  }
  *round = b->generation;
  if ((m = member_of(h, getpid())) != NULL)
    m->arrived_round = b->generation + 1;
  /* The shared count never holds parties, even for a moment: an attach checks it unlocked
     (check_layout) and a death here must not leave it out of range. */
  *index = b->arrived + 1;
  if (*index >= h->parties) {
    b->arrived = 0;
    __atomic_add_fetch(&b->generation, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&b->wake, 1, __ATOMIC_SEQ_CST);
    *index = h->parties;
  } else
    b->arrived = *index;
  shmlua_mutex_unlock(&b->lock, NULL);
  if (*index == h->parties)
    shmlua_sync_wake(&b->wake, &b->sleepers, 0x7fffffff);
  return 0;
}

/* A member that is gone and has not arrived in this round will never come: frees its slot
   and breaks the round. (One gone after arriving keeps its slot, so that the next round,
   which it will miss, breaks.) Lock held. */
static void check_members_locked(shmlua_barrier *h) {
  shmlua_barrier_block *b = h->b;
  int dead = 0;
  for (uint32_t i = 0; i < h->slots; i++) {
    shmlua_barrier_member *m = &b->members[i];
    if (m->pid > 0 && m->arrived_round != b->generation + 1 &&
        !shmlua_process_alive(m->pid, m->started)) {
      m->pid = 0;
      dead = 1;
    }
  }
  if (dead && !b->broken)
    break_locked(b);
}

static void check_members(shmlua_barrier *h) {
  if (lock_briefly(h->b) != 0)
    return;
  check_members_locked(h);
  shmlua_mutex_unlock(&h->b->lock, NULL);
}

/* The outcome of round once it is over: 0, EPIPE if it broke; EAGAIN while it goes on. */
static int outcome(const shmlua_barrier_block *b, uint32_t round) {
  if (__atomic_load_n(&b->generation, __ATOMIC_SEQ_CST) == round)
    return EAGAIN;
  return __atomic_load_n(&b->broken_round, __ATOMIC_SEQ_CST) == round + 1 ? EPIPE : 0;
}

/* shmlua_barrier_await's answer as an errno (0: the round ended). */
static int await(shmlua_barrier *h, uint32_t round, const struct timespec *deadline) {
  shmlua_barrier_block *b = h->b;
  for (;;) {
    struct timespec slice;
    shmlua_error err;
    uint32_t seen = __atomic_load_n(&b->wake, __ATOMIC_SEQ_CST);
    int rc = outcome(b, round);
    if (rc != EAGAIN)
      return rc;
    if (shmlua_sync_sleep(&b->wake, seen, &b->sleepers,
                          shmlua_sync_earlier(deadline, MEMBER_CHECK_SECONDS, &slice),
                          &err) == 0)
      continue;
    if (err.code == EINTR)
      return EINTR;
    if (err.code == ETIMEDOUT) {
      if (shmlua_sync_expired(deadline)) {
        shmlua_barrier_break(h, round);
        rc = outcome(b, round);
        return rc == EPIPE ? ETIMEDOUT : rc; /* 0: the round ended before the break */
      }
      check_members(h);
      if (outcome(b, round) == EAGAIN)
        return EINTR;
    }
  }
}

int shmlua_barrier_await(shmlua_barrier *h, uint32_t round, const struct timespec *deadline,
                         shmlua_error *err) {
  int rc = await(h, round, deadline);
  return rc == 0 ? 0 : shmlua_failcode(err, rc, "barrier");
}

void shmlua_barrier_break(shmlua_barrier *h, uint32_t round) {
  if (lock_briefly(h->b) != 0)
    return;
  if (h->b->generation == round && !h->b->broken)
    break_locked(h->b);
  shmlua_mutex_unlock(&h->b->lock, NULL);
}

int shmlua_barrier_reset(shmlua_barrier *h, shmlua_error *err) {
  int rc = lock_briefly(h->b);
  if (rc != 0)
    return shmlua_failcode(err, rc, "barrier");
  h->b->broken = 0;
  shmlua_mutex_unlock(&h->b->lock, NULL);
  return 0;
}

int shmlua_barrier_isbroken(const shmlua_barrier *h) {
  return (int)__atomic_load_n(&h->b->broken, __ATOMIC_SEQ_CST);
}
