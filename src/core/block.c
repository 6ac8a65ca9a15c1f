/* Named POSIX shared-memory blocks. */
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/xattr.h>
#endif
#include <unistd.h>

#include "escape.h"
#include "fault.h"
#include "owner.h"

enum { RANDOM_NAME_TRIES = 100 };

static void mark_closed(shmlua_block *b) {
  b->addr = NULL;
  b->live = NULL;
  b->lost = 0;
  b->size = 0;
  b->readonly = false;
  b->lazy = false;
  b->dev = 0;
  b->ino = 0;
}

static void identify(shmlua_block *b, const struct stat *st) {
  b->dev = st->st_dev;
  b->ino = st->st_ino;
}

static int allocate_backing(int fd, size_t size, bool lazy) {
  if (lazy)
    return ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
#if defined(__APPLE__)
  /* macOS has no posix_fallocate and cannot resize shared memory after the first ftruncate. */
  return ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
#else
  int rc;
  do
    rc = posix_fallocate(fd, 0, (off_t)size);
  while (rc == EINTR);
  return rc;
#endif
}

static int map(shmlua_block *b, int fd, size_t size, bool readonly) {
  void *addr = mmap(NULL, size, readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                    0);
  if (addr == MAP_FAILED)
    return errno;
  b->addr = addr;
  b->live = addr;
  b->lost = 0;
  b->size = size;
  b->readonly = readonly;
  shmlua_fault_install(); /* before anyone can touch it */
  return 0;
}

/* Notes this process as the block's creator, for listings (shmlua --ls): an extended
   attribute, since the bytes are the user's (Python reads them too). Where the file system
   has none (tmpfs before Linux 6.6, macOS) the creator is simply not known. */
static void record_creator(int fd) {
#if defined(__linux__)
  char pid[24];
  int len = snprintf(pid, sizeof pid, "%ld", (long)getpid());
  (void)fsetxattr(fd, SHMLUA_CREATOR_XATTR, pid, (size_t)len, 0);
#else
  (void)fd;
#endif
}

/* Opens a new object, retrying fresh random names on collision when none was given. */
static int open_new(shmlua_block *b, const shmlua_name *name, shmlua_error *err) {
  for (int tries = 0;; tries++) {
    int fd;
    if (name)
      b->name = *name;
    else if (shmlua_name_random(&b->name, err) != 0)
      return -1;
    fd = shm_open(b->name.path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
      return fd;
    if (name || errno != EEXIST || tries >= RANDOM_NAME_TRIES)
      return shmlua_fail(err, errno, shmlua_name_user(&b->name));
  }
}

int shmlua_block_create(shmlua_block *b, const shmlua_name *name, size_t size,
                        const shmlua_create_opts *opts, shmlua_error *err) {
  shmlua_create_opts defaults = {SHMLUA_DEFAULT_MODE, false, false};
  struct stat st;
  int fd, rc;
  mark_closed(b);
  if (!opts)
    opts = &defaults;
  if (size == 0)
    return shmlua_failf(err, EINVAL, "size must be positive");
  if (size > (size_t)INT64_MAX)
    return shmlua_failf(err, EFBIG, "size %zu: %s", size, "File too large");
  fd = open_new(b, name, err);
  if (fd < 0)
    return -1;
  /* Owned from the moment it exists: a fatal signal during a long reservation of a big
     block still finds the name in the list and removes it. */
  rc = 0;
  if (!opts->keep && shmlua_owner_add(b->name.path, fd, err) != 0)
    rc = err ? err->code : ENOMEM;
  if (rc == 0)
    rc = fchmod(fd, opts->mode & 07777) == 0 ? 0 : errno;
  if (rc == 0)
    record_creator(fd);
  if (rc == 0)
    rc = allocate_backing(fd, size, opts->lazy);
  if (rc == 0)
    rc = fstat(fd, &st) == 0 ? 0 : errno;
  if (rc == 0)
    rc = map(b, fd, size, false);
  close(fd);
  if (rc == 0)
    identify(b, &st);
  if (rc != 0) {
    /* The object is ours and half made: remove it so a failed create leaves nothing. */
    shm_unlink(b->name.path);
    shmlua_owner_forget(b->name.path);
    mark_closed(b);
    return shmlua_fail(err, rc, shmlua_name_user(&b->name));
  }
  b->lazy = opts->lazy;
  return 0;
}

/* Why a file that is not a regular file is refused: what it is. */
static const char *not_a_block(mode_t mode) {
  if (S_ISFIFO(mode))
    return "not a shared-memory block but a FIFO";
  if (S_ISDIR(mode))
    return "not a shared-memory block but a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "not a shared-memory block but a device";
  return "not a shared-memory block (not a regular file)";
}

/* Fails with EINVAL and the name, escaped for a terminal: "x: why". */
static int refuse(shmlua_error *err, const shmlua_name *name, const char *why) {
  char safe[SHMLUA_ESCAPED_SIZE(SHMLUA_NAME_MAX)];
  const char *user = shmlua_name_user(name);
  return shmlua_failf(err, EINVAL, "%s: %s",
                      shmlua_escape(user, strlen(user), safe, sizeof safe), why);
}

int shmlua_block_attach(shmlua_block *b, const shmlua_name *name, bool readonly,
                        shmlua_error *err) {
  struct stat st;
  int fd, rc;
  mark_closed(b);
  b->name = *name;
  /* Anyone may put a FIFO (or a device node) in /dev/shm: opening it must not wait for a
     writer, and it is refused below. O_NONBLOCK means nothing to a regular file's mmap. */
  fd = shm_open(name->path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                0);
  if (fd < 0)
    return shmlua_fail(err, errno, shmlua_name_user(name));
  if (fstat(fd, &st) != 0)
    rc = errno;
  else if (!S_ISREG(st.st_mode)) {
    close(fd);
    return refuse(err, name, not_a_block(st.st_mode));
  } else if (st.st_size == 0) {
    close(fd); /* mmap rejects a zero length, and there is nothing to share */
    return refuse(err, name, "block is empty (size 0)");
  } else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
    rc = errno;
  else if ((uintmax_t)st.st_size > SIZE_MAX)
    rc = EFBIG;
  else
    rc = map(b, fd, (size_t)st.st_size, readonly);
  close(fd);
  if (rc != 0)
    return shmlua_fail(err, rc, shmlua_name_user(name));
  identify(b, &st);
  return 0;
}

bool shmlua_block_current(const shmlua_block *b) {
  struct stat st;
  int fd, rc;
  if (!b->addr)
    return false;
  fd = shm_open(b->name.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0);
  if (fd < 0)
    return false;
  rc = fstat(fd, &st);
  close(fd);
  return rc == 0 && S_ISREG(st.st_mode) && st.st_dev == b->dev && st.st_ino == b->ino &&
         (uintmax_t)st.st_size == b->size;
}

void shmlua_block_close(shmlua_block *b) {
  b->live = NULL; /* unguarded accesses stop before the memory goes */
  shmlua_fault_unwatch(b);
  if (b->addr)
    munmap(b->addr, b->size);
  b->addr = NULL; /* name and size stay readable */
}

int shmlua_unlink(const shmlua_name *name, shmlua_error *err) {
  shmlua_owner_forget(name->path);
  if (shm_unlink(name->path) != 0)
    return shmlua_fail(err, errno, shmlua_name_user(name));
  return 0;
}
