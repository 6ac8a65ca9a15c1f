/* Names (name.c): what shmlua_name_check accepts and refuses, checked against shm_open on the
   real /dev/shm where the edge matters, and the random names. */
#include <fcntl.h>
#include <sys/mman.h>

#include "block.h"
#include "check.h"

/* Checks text (len bytes) is refused with code and a message containing part. */
#define REFUSED(text, len, code, part)                                                        \
  do {                                                                                        \
    shmlua_name n_;                                                                           \
    shmlua_error e_;                                                                          \
    CHECK_FAILS(shmlua_name_check(&n_, (text), (len), &e_), e_, (code), (part));              \
  } while (0)

static void accepted(const char *text, size_t len, const char *path) {
  shmlua_name n;
  shmlua_error err;
  if (CHECK(shmlua_name_check(&n, text, len, &err) == 0))
    CHECK_STR(n.path, path);
}

static void refusals(void) {
  char longest[SHMLUA_NAME_MAX + 3];
  REFUSED("", 0, EINVAL, "empty");
  REFUSED("/", 1, EINVAL, "empty");
  REFUSED("//x", 3, EINVAL, "'/' is only allowed first");
  REFUSED("a/b", 3, EINVAL, "'/' is only allowed first");
  REFUSED("a/", 2, EINVAL, "'/' is only allowed first");
  REFUSED(".", 1, EINVAL, "invalid name '.'");
  REFUSED("..", 2, EINVAL, "invalid name '..'");
  REFUSED("/..", 3, EINVAL, "invalid name '..'");
  REFUSED("a\0b", 3, EINVAL, "NUL");
  REFUSED("\0", 1, EINVAL, "NUL");
  /* The length counts after the slash: 255 bytes fit, 256 do not, with or without it. */
  memset(longest, 'n', sizeof longest);
  REFUSED(longest, SHMLUA_NAME_MAX + 1, ENAMETOOLONG, "longer than 255 bytes");
  longest[0] = '/';
  REFUSED(longest, SHMLUA_NAME_MAX + 2, ENAMETOOLONG, "longer than 255 bytes");
}

static void acceptances(void) {
  accepted("x", 1, "/x");
  accepted("/x", 2, "/x");      /* one slash is dropped: the same object */
  accepted("x\0tail", 1, "/x"); /* only len bytes count */
  accepted("...", 3, "/...");
  accepted(".hidden", 7, "/.hidden");
  accepted("a b\tc\xc3\xa9", 7, "/a b\tc\xc3\xa9");
}

/* The longest name is one the system takes: made and removed through the core. */
static void longest_is_real(void) {
  char text[SHMLUA_NAME_MAX + 1];
  shmlua_name n;
  shmlua_block b;
  shmlua_error err;
  int len = snprintf(text, sizeof text, "ctest_name_%ld_long_", (long)getpid());
  memset(text + len, 'z', sizeof text - (size_t)len);
  if (!CHECK(shmlua_name_check(&n, text, SHMLUA_NAME_MAX, &err) == 0))
    return;
  CHECK_INT(strlen(shmlua_name_user(&n)), SHMLUA_NAME_MAX);
  if (!CHECK(shmlua_block_create(&b, &n, 64, NULL, &err) == 0)) {
    fprintf(stderr, "  %s\n", err.message);
    return;
  }
  CHECK(check_shm_exists(&n));
  CHECK(shmlua_unlink(&n, &err) == 0);
  CHECK(!check_shm_exists(&n));
  shmlua_block_close(&b);
}

static void random_names(void) {
  shmlua_name a, b, again;
  shmlua_error err;
  if (!CHECK(shmlua_name_random(&a, &err) == 0) || !CHECK(shmlua_name_random(&b, &err) == 0))
    return;
  /* "/lua_" and 8 hex digits: 13 bytes, within the most portable limit of 14. */
  CHECK_INT(strlen(a.path), 13);
  CHECK(strncmp(a.path, "/" SHMLUA_AUTO_PREFIX, 5) == 0);
  CHECK_INT(strspn(a.path + 5, "0123456789abcdef"), 8);
  CHECK(strcmp(a.path, b.path) != 0); /* 32 random bits: equal once in 4 billion runs */
  CHECK(shmlua_name_check(&again, a.path, strlen(a.path), &err) == 0);
  CHECK_STR(again.path, a.path);
}

int main(void) {
  check_test = "name";
  refusals();
  acceptances();
  longest_is_real();
  random_names();
  return check_done();
}
