/* Operation 9: what creating and attaching 1 GiB costs in resident memory, stage by stage.
   Prints "stage NAME VmRSS RssShmem object" (KiB) lines before the usual result line. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cbench.h"

static long status_kb(const char *field) {
  char line[256];
  long kb = -1;
  size_t len = strlen(field);
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    shmlua_cbench_die("/proc/self/status");
  while (kb < 0 && fgets(line, sizeof line, f))
    if (strncmp(line, field, len) == 0 && line[len] == ':')
      sscanf(line + len + 1, "%ld", &kb);
  fclose(f);
  return kb;
}

/* fd < 0: the object is gone. */
static void stage(const char *name, int fd) {
  struct stat st;
  printf("stage %s %ld %ld ", name, status_kb("VmRSS"), status_kb("RssShmem"));
  if (fd < 0)
    printf("-\n");
  else if (fstat(fd, &st) == 0)
    printf("%lld\n", (long long)st.st_blocks / 2);
  else
    shmlua_cbench_die("fstat");
}

/* size: bytes of the block; the page walk steps by 4096 (the size every impl uses). */
static double memory(long n, long size, char **args, int64_t *check) {
  char name[64];
  int fd, fd2;
  unsigned char *created, *attached;
  (void)n, (void)args;
  snprintf(name, sizeof name, "/cbench_rss_%d", (int)getpid());
  fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    shmlua_cbench_die("shm_open");
  stage("start", -1);
  if (fchmod(fd, 0600) != 0 || posix_fallocate(fd, 0, size) != 0)
    shmlua_cbench_die("posix_fallocate");
  created = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  stage("create", fd);
  fd2 = shm_open(name, O_RDWR | O_CLOEXEC, 0);
  attached = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
  if (created == MAP_FAILED || attached == MAP_FAILED)
    shmlua_cbench_die("mmap");
  stage("attach", fd);
  for (long k = 0; k < size; k += 4096)
    created[k] = 1;
  stage("touch", fd);
  for (long k = 0; k < size; k += 4096)
    *check += attached[k];
  stage("read", fd);
  munmap(created, (size_t)size);
  munmap(attached, (size_t)size);
  close(fd2);
  close(fd);
  shm_unlink(name);
  stage("close", -1);
  return 0;
}

const shmlua_cbench_op shmlua_cbench_rss_ops[] = {{"memory", memory}, {NULL, NULL}};
