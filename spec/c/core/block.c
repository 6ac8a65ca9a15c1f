/* Blocks (block.c): create, attach, close and unlink on the real /dev/shm, their errors with
   errno and message, modes whatever the umask, and what another process sees. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>

#include "block.h"
#include "check.h"

static struct stat file_of(const shmlua_name *n) {
  char path[sizeof n->path + 16];
  struct stat st;
  memset(&st, 0, sizeof st);
  snprintf(path, sizeof path, "/dev/shm%s", n->path);
  CHECK(stat(path, &st) == 0);
  return st;
}

static void create_attach_close_unlink(void) {
  shmlua_name n = check_name();
  shmlua_block b, other;
  shmlua_error err;
  size_t zeros = 0;
  if (!CHECK(shmlua_block_create(&b, &n, 10000, NULL, &err) == 0))
    return;
  CHECK_INT(b.size, 10000);
  CHECK(!b.readonly);
  CHECK_STR(shmlua_name_user(&b.name), shmlua_name_user(&n));
  CHECK_INT(file_of(&n).st_size, 10000);
  for (size_t i = 0; i < b.size; i++)
    zeros += b.addr[i] == 0;
  CHECK_INT(zeros, 10000);
  memcpy(b.addr + 9995, "hello", 5);
  if (CHECK(shmlua_block_attach(&other, &n, false, &err) == 0)) {
    CHECK_INT(other.size, 10000);
    CHECK(other.addr != b.addr);
    CHECK(memcmp(other.addr + 9995, "hello", 5) == 0);
    other.addr[0] = 7; /* the same memory both ways */
    CHECK_INT(b.addr[0], 7);
    shmlua_block_close(&other);
    CHECK(other.addr == NULL);
    CHECK_INT(other.size, 10000); /* name and size stay after close */
    CHECK_STR(shmlua_name_user(&other.name), shmlua_name_user(&n));
    shmlua_block_close(&other); /* harmless twice */
  }
  /* Unlinking removes the name; the mapping stays usable until closed. */
  CHECK(shmlua_unlink(&n, &err) == 0);
  CHECK(!check_shm_exists(&n));
  b.addr[1] = 9;
  CHECK_INT(b.addr[1], 9);
  CHECK_FAILS(shmlua_unlink(&n, &err), err, ENOENT, ": No such file or directory");
  CHECK_FAILS(shmlua_block_attach(&other, &n, false, &err), err, ENOENT,
              "No such file or directory");
  CHECK(other.addr == NULL);
  shmlua_block_close(&b);
}

static void create_errors(void) {
  shmlua_name n = check_name();
  shmlua_block b, again;
  shmlua_error err;
  char want[400];
  CHECK_FAILS(shmlua_block_create(&b, &n, 0, NULL, &err), err, EINVAL,
              "size must be positive");
  CHECK(!check_shm_exists(&n));
  CHECK(b.addr == NULL);
  CHECK_FAILS(shmlua_block_create(&b, &n, SIZE_MAX, NULL, &err), err, EFBIG, "File too large");
  CHECK(!check_shm_exists(&n));
  /* More than /dev/shm holds: an error now (not SIGBUS later), and nothing left behind. */
  if (CHECK(shmlua_block_create(&b, &n, (size_t)1 << 50, NULL, &err) == -1)) {
    CHECK(err.code == ENOSPC || err.code == EFBIG);
    CHECK(strncmp(err.message, shmlua_name_user(&n), strlen(shmlua_name_user(&n))) == 0);
  }
  CHECK(!check_shm_exists(&n));
  if (!CHECK(shmlua_block_create(&b, &n, 64, NULL, &err) == 0))
    return;
  b.addr[0] = 42;
  snprintf(want, sizeof want, "%s: File exists", shmlua_name_user(&n));
  CHECK_FAILS(shmlua_block_create(&again, &n, 64, NULL, &err), err, EEXIST, want);
  CHECK(again.addr == NULL);
  CHECK_INT(b.addr[0], 42); /* the first one untouched and still there */
  CHECK(check_shm_exists(&n));
  CHECK(shmlua_unlink(&n, &err) == 0);
  shmlua_block_close(&b);
}

/* The mode is applied exactly, whatever the umask; the default is 0600. */
static void modes(void) {
  shmlua_name plain = check_name(), shared = check_name();
  shmlua_create_opts opts = {0664, false, false};
  shmlua_block a, b;
  shmlua_error err;
  mode_t old = umask(077);
  if (CHECK(shmlua_block_create(&a, &plain, 64, NULL, &err) == 0)) {
    CHECK_INT(file_of(&plain).st_mode & 07777, 0600);
    shmlua_unlink(&plain, &err);
    shmlua_block_close(&a);
  }
  if (CHECK(shmlua_block_create(&b, &shared, 64, &opts, &err) == 0)) {
    CHECK_INT(file_of(&shared).st_mode & 07777, 0664);
    shmlua_unlink(&shared, &err);
    shmlua_block_close(&b);
  }
  umask(old);
}

static void random_name(void) {
  shmlua_block b;
  shmlua_error err;
  if (!CHECK(shmlua_block_create(&b, NULL, 64, NULL, &err) == 0))
    return;
  CHECK(strncmp(shmlua_name_user(&b.name), SHMLUA_AUTO_PREFIX, 4) == 0);
  CHECK(check_shm_exists(&b.name));
  CHECK(shmlua_unlink(&b.name, &err) == 0);
  CHECK(!check_shm_exists(&b.name));
  shmlua_block_close(&b);
}

/* An object of size 0 (made by another program) cannot be mapped: a clear error. */
static void empty_object(void) {
  shmlua_name n = check_name();
  shmlua_block b;
  shmlua_error err;
  int fd = shm_open(n.path, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (!CHECK(fd >= 0))
    return;
  close(fd);
  CHECK_FAILS(shmlua_block_attach(&b, &n, false, &err), err, EINVAL,
              "block is empty (size 0)");
  CHECK(b.addr == NULL);
  CHECK(check_shm_exists(&n)); /* a failed attach never unlinks */
  shm_unlink(n.path);
}

/* A read-only attach in another process: it reads what the creator wrote, and a write to
   it is a real SIGSEGV. A writable attach there writes for the creator to read. */
static void other_process(void) {
  shmlua_name n = check_name();
  shmlua_block b;
  shmlua_error err;
  pid_t pid;
  int status = 0; /* read below even when waitpid failed */
  if (!CHECK(shmlua_block_create(&b, &n, 4096, NULL, &err) == 0))
    return;
  memcpy(b.addr, "ping", 4);
  if ((pid = check_fork()) == 0) {
    shmlua_block ro, rw;
    if (CHECK(shmlua_block_attach(&rw, &n, false, &err) == 0)) {
      memcpy(rw.addr + 4, "pong", 4);
      shmlua_block_close(&rw);
    }
    if (!CHECK(shmlua_block_attach(&ro, &n, true, &err) == 0) || !CHECK(ro.readonly) ||
        !CHECK(memcmp(ro.addr, "ping", 4) == 0))
      check_child_exit();
    fflush(NULL);
    signal(SIGSEGV, SIG_DFL); /* the kernel's verdict, not a sanitizer's report */
    signal(SIGBUS, SIG_DFL);
    ((volatile unsigned char *)ro.addr)[0] = 1; /* must not return */
    _exit(3);
  }
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS));
  CHECK(memcmp(b.addr, "pingpong", 8) == 0);
  CHECK(shmlua_unlink(&n, &err) == 0);
  shmlua_block_close(&b);
}

/* shmlua_block_current: true while the name refers to the object mapped, false once it is
   unlinked, made again (same size: only the identity tells), or the block is closed. */
static void current(void) {
  shmlua_name n = check_name();
  shmlua_block made, attached, again;
  shmlua_error err;
  if (!CHECK(shmlua_block_create(&made, &n, 4096, NULL, &err) == 0))
    return;
  CHECK(shmlua_block_current(&made));
  if (CHECK(shmlua_block_attach(&attached, &n, true, &err) == 0)) {
    CHECK(shmlua_block_current(&attached));
    CHECK(shmlua_unlink(&n, &err) == 0);
    CHECK(!shmlua_block_current(&attached)); /* gone */
    if (CHECK(shmlua_block_create(&again, &n, 4096, NULL, &err) == 0)) {
      CHECK(!shmlua_block_current(&attached)); /* another object of that name and size */
      CHECK(!shmlua_block_current(&made));
      CHECK(shmlua_block_current(&again));
      shmlua_block_close(&again);
      CHECK(!shmlua_block_current(&again)); /* closed */
      CHECK(shmlua_unlink(&n, &err) == 0);
    }
    shmlua_block_close(&attached);
  }
  shmlua_block_close(&made);
}

int main(void) {
  check_test = "block";
  create_attach_close_unlink();
  create_errors();
  modes();
  random_name();
  empty_object();
  other_process();
  current();
  return check_done();
}
