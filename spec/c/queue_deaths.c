/* A process killed at each point of a queue commit (src/core/queue.c): a child takes one end's
   robust lock, leaves the end as a death at that point would (written here field by field,
   in the order queue.c writes them) and exits holding the lock. The parent's next push or
   pop gets EOWNERDEAD, settles the end, and must find the message wholly in or wholly out
   and every count exact: it then fills the queue to its capacity and empties it. The same
   for a pop that finds no record at the head and skips to the tail, and for one whose skip
   finds the tail's lock held, and for a woken popper that fails. Prints one line per commit case (the skip cases only when they
   fail) and "ok" at the end; exits 1 after a mismatch. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "futex.h"
#include "mutex.h"
#include "queue.h"

enum { MESSAGES = 4, BYTES = 64, PREFIX = 4 };

static int failed;

/* What the last core call that failed left, and a call's outcome as an errno (the core
   returns 0, or -1 with the code in its shmlua_error). */
static shmlua_error last;
#define CODE(call) ((call) == 0 ? 0 : last.code)

static void expect(int ok, const char *what, const char *text) {
  if (!ok) {
    printf("FAIL %s: %s\n", what, text);
    failed = 1;
  }
}

static void *into(void *buffer, size_t len) {
  (void)len;
  return buffer;
}

/* What a dying process had done of its move when it died. */
typedef enum { ARMED, COUNTED, COMMITTED, FINISHED } cut;

/* A fresh queue of MESSAGES messages and BYTES bytes in an anonymous shared mapping. */
static void *new_queue(shmlua_queue *h, size_t *layout) {
  shmlua_queue_limits limits = {MESSAGES, BYTES};
  shmlua_error err;
  void *block;
  if (shmlua_queue_layout_size(&limits, layout, &err) != 0)
    exit(2);
  block = mmap(NULL, *layout, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED || shmlua_queue_init(block, &limits, &err) != 0)
    exit(2);
  shmlua_queue_open(h, block, *layout);
  return block;
}

/* Waits for a child that must have exited 0. */
static void reap(pid_t pid) {
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0)
    exit(2);
}

/* The child's side: take end's lock, move it past k records of len bytes each up to cut (a
   push writes payload for each), die. */
static void die_during(shmlua_queue *h, shmlua_queue_end *e, int is_tail, size_t len, size_t k,
                       cut at, const char *const *payload) {
  uint32_t prefix = (uint32_t)len;
  if (CODE(shmlua_mutex_lock(&e->lock, NULL, &last)) != 0)
    _exit(2);
  e->next_pos = e->pos + (PREFIX + len) * k;
  e->next_messages = e->messages + k;
  e->next_bytes = e->bytes + len * k;
  e->armed = (uint32_t)k;
  if (is_tail) { /* the records, then counts, then position */
    for (size_t i = 0; i < k; i++) {
      uint64_t at_pos = e->pos + (PREFIX + len) * i;
      memcpy(h->q->ring + at_pos % h->ring_size, &prefix, PREFIX);
      memcpy(h->q->ring + (at_pos + PREFIX) % h->ring_size, payload[i], len);
    }
    if (at >= COUNTED) {
      e->messages = e->next_messages;
      e->bytes = e->next_bytes;
    }
    if (at >= COMMITTED)
      e->pos = e->next_pos;
  } else { /* position, then counts */
    if (at >= COMMITTED)
      e->pos = e->next_pos;
    if (at >= FINISHED) {
      e->bytes = e->next_bytes;
      e->messages = e->next_messages;
    }
  }
  _exit(0); /* with the lock held: the kernel marks it owner-died */
}

/* Pops everything left; returns how many, and checks the payloads against want[]. */
static size_t drain(shmlua_queue *h, const char *const *want, size_t wanted,
                    const char *what) {
  char got[BYTES + 1];
  size_t n = 0, len;
  while (CODE(shmlua_queue_pop(h, into, got, &len, 0, NULL, &last)) == 0) {
    got[len] = '\0';
    expect(n < wanted && strcmp(got, want[n]) == 0, what, "unexpected message");
    n++;
  }
  return n;
}

/* After the settling: exactly MESSAGES messages and BYTES payload bytes fit, no more. */
static void capacity(shmlua_queue *h, const char *what) {
  char fill[BYTES / MESSAGES + 1];
  size_t len, quarter = BYTES / MESSAGES;
  memset(fill, 'f', sizeof fill);
  for (int i = 0; i < MESSAGES - 1; i++)
    expect(CODE(shmlua_queue_push(h, fill, quarter, 0, NULL, &last)) == 0, what, "room lost");
  expect(CODE(shmlua_queue_push(h, fill, quarter + 1, 0, NULL, &last)) == EAGAIN, what,
         "room past the bytes");
  expect(CODE(shmlua_queue_push(h, fill, quarter, 0, NULL, &last)) == 0, what, "room lost");
  expect(CODE(shmlua_queue_push(h, "", 0, 0, NULL, &last)) == EAGAIN, what,
         "room past the messages");
  expect(shmlua_queue_count(h) == MESSAGES, what, "count after filling");
  for (int i = 0; i < MESSAGES; i++)
    expect(CODE(shmlua_queue_pop(h, into, fill, &len, 0, NULL, &last)) == 0, what,
           "fill message lost");
  expect(shmlua_queue_count(h) == 0, what, "count after emptying");
}

/* "first" and "second" are in the queue when the child dies in a push of "third" (is_tail)
   or in a pop of "first"; the parent then pushes "x" and pops everything. */
static void one(int is_tail, cut at, const char *what, int message_stays) {
  static const char *const pushed_kept[] = {"first", "second", "third", "x"},
                           *const pushed_lost[] = {"first", "second", "x"},
                           *const popped_kept[] = {"first", "second", "x"},
                           *const popped_lost[] = {"second", "x"};
  const char *const *want = is_tail ? (message_stays ? pushed_kept : pushed_lost)
                                    : (message_stays ? popped_kept : popped_lost);
  size_t wanted = 2 + (size_t)message_stays + (size_t)is_tail, layout;
  shmlua_queue h;
  void *block = new_queue(&h, &layout);
  pid_t pid;
  expect(CODE(shmlua_queue_push(&h, "first", 5, 0, NULL, &last)) == 0, what, "push first");
  expect(CODE(shmlua_queue_push(&h, "second", 6, 0, NULL, &last)) == 0, what, "push second");
  if ((pid = fork()) == 0) {
    static const char *const third[] = {"third"};
    if (is_tail)
      die_during(&h, &h.q->tail, 1, 5, 1, at, third);
    die_during(&h, &h.q->head, 0, 5, 1, at, NULL);
  }
  reap(pid);
  expect(shmlua_queue_count(&h) <= 3, what, "count out of range");
  expect(CODE(shmlua_queue_push(&h, "x", 1, 0, NULL, &last)) == 0, what,
         "push after the death");
  expect(drain(&h, want, wanted, what) == wanted, what, "wrong number of messages");
  expect(shmlua_queue_count(&h) == 0, what, "count after draining");
  capacity(&h, what);
  printf("%s: message %s\n", what, message_stays ? "kept" : "dropped");
  munmap(block, layout);
}

/* The same for a batch of two: "one" and "two" are in the queue when the child dies in a
   push of "six" and "ten" (is_tail) or in a pop of "one" and "two"; the parent pushes "x"
   (refused when the queue is full) and pops everything: both or neither of the batch. */
static void batch(int is_tail, cut at, const char *what, int batch_stays) {
  static const char *const all[] = {"one", "two", "six", "ten"},
                           *const pushed_lost[] = {"one", "two", "x"},
                           *const popped_kept[] = {"one", "two", "x"},
                           *const popped_lost[] = {"x"};
  const char *const *want = is_tail ? (batch_stays ? all : pushed_lost)
                                    : (batch_stays ? popped_kept : popped_lost);
  size_t wanted = is_tail ? (batch_stays ? 4 : 3) : (batch_stays ? 3 : 1), layout, pushed;
  shmlua_queue_message first[] = {{"one", 3}, {"two", 3}};
  shmlua_queue h;
  void *block = new_queue(&h, &layout);
  pid_t pid;
  expect(CODE(shmlua_queue_push_many(&h, first, 2, &pushed, 0, NULL, &last)) == 0 &&
             pushed == 2,
         what, "push the first two");
  if ((pid = fork()) == 0) {
    if (is_tail)
      die_during(&h, &h.q->tail, 1, 3, 2, at, all + 2);
    die_during(&h, &h.q->head, 0, 3, 2, at, NULL);
  }
  reap(pid);
  expect(CODE(shmlua_queue_push(&h, "x", 1, 0, NULL, &last)) ==
             (is_tail && batch_stays ? EAGAIN : 0),
         what, "push after the death");
  expect(drain(&h, want, wanted, what) == wanted, what, "wrong number of messages");
  expect(shmlua_queue_count(&h) == 0, what, "count after draining");
  capacity(&h, what);
  printf("%s: batch %s\n", what, batch_stays ? "kept" : "dropped");
  munmap(block, layout);
}

/* A queue holding "first" and "second" whose head no record starts at (a peer scribbled a
   length over it), so the next pop skips to the tail. */
static void *scribbled(shmlua_queue *h, size_t *layout) {
  uint32_t bogus = 0xffffffffu;
  void *block = new_queue(h, layout);
  if (CODE(shmlua_queue_push(h, "first", 5, 0, NULL, &last)) != 0 ||
      CODE(shmlua_queue_push(h, "second", 6, 0, NULL, &last)) != 0)
    exit(2);
  memcpy(h->q->ring, &bogus, PREFIX);
  return block;
}

/* A child dies in the skip (both locks held, the head moved as a pop moves it, up to at):
   the next pop settles the head, finds the queue empty, and the whole capacity is there. */
static void skip_death(cut at, const char *what) {
  shmlua_queue h;
  size_t layout, len;
  void *block = scribbled(&h, &layout);
  shmlua_queue_end *head = &h.q->head, *tail = &h.q->tail;
  char got[BYTES];
  pid_t pid;
  if ((pid = fork()) == 0) {
    if (CODE(shmlua_mutex_lock(&head->lock, NULL, &last)) != 0 ||
        CODE(shmlua_mutex_lock(&tail->lock, NULL, &last)) != 0)
      _exit(2);
    head->next_pos = tail->pos;
    head->next_messages = tail->messages;
    head->next_bytes = tail->bytes;
    head->armed = 1;
    if (at >= COMMITTED)
      head->pos = head->next_pos;
    if (at >= FINISHED) {
      head->bytes = head->next_bytes;
      head->messages = head->next_messages;
    }
    _exit(0);
  }
  reap(pid);
  expect(CODE(shmlua_queue_pop(&h, into, got, &len, 0, NULL, &last)) == EAGAIN, what,
         "pop after the death");
  expect(shmlua_queue_count(&h) == 0, what, "count after the skip");
  capacity(&h, what);
  munmap(block, layout);
}

/* The tail's lock held by a stopped process: a waiting pop that must skip ends at its own
   deadline (it neither hangs nor spins); once the holder is gone the skip goes through. */
static void skip_blocked(void) {
  const char *what = "skip with the tail locked";
  shmlua_queue h;
  size_t layout, len;
  void *block = scribbled(&h, &layout);
  struct timespec deadline, started, ended;
  char got[BYTES];
  int ready[2], status;
  pid_t pid;
  if (pipe(ready) != 0)
    exit(2);
  if ((pid = fork()) == 0) {
    if (CODE(shmlua_mutex_lock(&h.q->tail.lock, NULL, &last)) != 0)
      _exit(2);
    if (write(ready[1], "", 1) != 1)
      _exit(2);
    pause();
    _exit(0);
  }
  if (pid < 0 || read(ready[0], got, 1) != 1)
    exit(2);
  started = shmlua_now();
  deadline = shmlua_deadline(0.2);
  expect(CODE(shmlua_queue_pop(&h, into, got, &len, 1, &deadline, &last)) == ETIMEDOUT, what,
         "pop past its deadline");
  ended = shmlua_now();
  started.tv_sec += 1; /* the skip's own 1 s lock wait would be past this */
  expect(shmlua_before(&ended, &started), what, "pop overstayed its deadline");
  kill(pid, SIGKILL);
  if (waitpid(pid, &status, 0) != pid)
    exit(2);
  expect(CODE(shmlua_queue_pop(&h, into, got, &len, 0, NULL, &last)) == EAGAIN, what,
         "pop after the holder");
  expect(shmlua_queue_count(&h) == 0, what, "count after the skip");
  capacity(&h, what);
  close(ready[0]);
  close(ready[1]);
  munmap(block, layout);
}

static void *nowhere(void *ud, size_t len) {
  (void)ud;
  (void)len;
  return NULL;
}

/* Whether process pid is asleep (in the kernel, not on a CPU or runnable). */
static int asleep(pid_t pid) {
  char path[64], state = 0;
  FILE *f;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (!(f = fopen(path, "r")))
    return 0;
  if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
    state = 0;
  fclose(f);
  return state == 'S';
}

/* Forks a popper that waits up to 1 s (into nowhere: it fails with ENOMEM) and returns once
   it sleeps on the queue (the poppers' flag set, the process asleep). The child exits 0 if
   its pop got a message. */
static pid_t sleeping_popper(shmlua_queue *h, int fails) {
  pid_t pid = fork();
  if (pid == 0) {
    struct timespec deadline = shmlua_deadline(1.0);
    char got[BYTES];
    size_t len;
    int rc = shmlua_queue_pop(h, fails ? nowhere : into, got, &len, 1, &deadline, NULL);
    _exit(rc == 0 ? 0 : 1);
  }
  if (pid < 0)
    exit(2);
  while (!__atomic_load_n(&h->q->pop_sleeping, __ATOMIC_SEQ_CST) || !asleep(pid))
    usleep(1000);
  return pid;
}

/* Two poppers asleep, the first fails when woken (no room for the message): the other must
   be woken too, and get the message, well before its deadline. */
static void wake_handed_on(void) {
  const char *what = "a woken popper that fails";
  size_t layout;
  shmlua_queue h;
  void *block = new_queue(&h, &layout);
  pid_t failing, other;
  int status;
  failing = sleeping_popper(&h, 1);
  other = sleeping_popper(&h, 0);
  expect(CODE(shmlua_queue_push(&h, "m", 1, 0, NULL, &last)) == 0, what, "push");
  expect(waitpid(failing, &status, 0) == failing, what, "failing popper");
  expect(waitpid(other, &status, 0) == other && WIFEXITED(status) && WEXITSTATUS(status) == 0,
         what, "the other popper slept through the message");
  expect(shmlua_queue_count(&h) == 0, what, "count after the pop");
  munmap(block, layout);
}

int main(void) {
  one(1, ARMED, "push killed after arming", 0);
  one(1, COUNTED, "push killed after its counts", 0);
  one(1, COMMITTED, "push killed after moving the tail", 1);
  one(1, FINISHED, "push killed before disarming", 1);
  one(0, ARMED, "pop killed after arming", 1);
  one(0, COMMITTED, "pop killed after moving the head", 0);
  one(0, FINISHED, "pop killed before disarming", 0);
  batch(1, ARMED, "batch push killed after arming", 0);
  batch(1, COUNTED, "batch push killed after its counts", 0);
  batch(1, COMMITTED, "batch push killed after moving the tail", 1);
  batch(1, FINISHED, "batch push killed before disarming", 1);
  batch(0, ARMED, "batch pop killed after arming", 1);
  batch(0, COMMITTED, "batch pop killed after moving the head", 0);
  batch(0, FINISHED, "batch pop killed before disarming", 0);
  skip_death(ARMED, "skip killed after arming");
  skip_death(COMMITTED, "skip killed after moving the head");
  skip_death(FINISHED, "skip killed before disarming");
  skip_blocked();
  wake_handed_on();
  if (failed)
    return 1;
  puts("ok");
  return 0;
}
