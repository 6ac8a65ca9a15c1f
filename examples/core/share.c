/* shmlua's C core without Lua: a parent creates a block, a forked child attaches it by
   name and answers in it, the parent reads the answer and unlinks the block. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmlua/block.h>

static int child(const shmlua_name *name) {
  shmlua_block b;
  shmlua_error err;
  if (shmlua_block_attach(&b, name, false, &err) != 0) {
    fprintf(stderr, "child: %s\n", err.message);
    return 1;
  }
  int ok = memcmp(b.addr, "ping", 4) == 0;
  memcpy(b.addr, "pong", 4);
  shmlua_block_close(&b);
  return ok ? 0 : 1;
}

int main(void) {
  shmlua_block b;
  shmlua_error err;
  int status;
  pid_t pid;
  if (shmlua_block_create(&b, NULL, 4096, NULL, &err) != 0) { /* random name, owned */
    fprintf(stderr, "create: %s\n", err.message);
    return 1;
  }
  memcpy(b.addr, "ping", 4);
  fflush(NULL);
  pid = fork();
  if (pid == 0)
    _exit(child(&b.name));
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    fprintf(stderr, "the child failed\n");
    shmlua_unlink(&b.name, &err);
    return 1;
  }
  printf("the child answered \"%.4s\" in block %s\n", (const char *)b.addr,
         shmlua_name_user(&b.name));
  if (shmlua_unlink(&b.name, &err) != 0)
    fprintf(stderr, "unlink: %s\n", err.message);
  shmlua_block_close(&b);
  return 0;
}
