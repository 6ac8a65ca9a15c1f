/* Walking the parts of the compiled-in docs/api.md (see apidoc.h). */
#include "apidoc.h"

#include <string.h>

/* Where the line after the one starting at s begins (or end). */
static const char *nextline(const char *s, const char *end) {
  const char *nl = memchr(s, '\n', (size_t)(end - s));
  return nl ? nl + 1 : end;
}

/* The number of '#' of a heading line ("## x"), 0 if it is not one. */
static int headinglevel(const char *s, const char *end) {
  int n = 0;
  while (s + n < end && s[n] == '#')
    n++;
  return n > 0 && n <= 3 && s + n < end && s[n] == ' ' ? n : 0;
}

static int isnamechar(char c) {
  return c == '_' || c == '.' || c == ':' || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* An entry's name: the identifiers and separators its title starts with (after a backtick). */
static void findname(shmlua_docpart *p) {
  const char *s = p->title, *end = p->title + p->titlelen;
  size_t n = 0;
  p->name = p->title;
  p->namelen = p->titlelen;
  p->memberat = 0;
  if (p->level != 3)
    return;
  if (s < end && *s == '`')
    s++;
  while (s + n < end && isnamechar(s[n]))
    n++;
  while (n > 0 && (s[n - 1] == '.' || s[n - 1] == ':'))
    n--;
  p->name = s;
  p->namelen = n;
  for (size_t i = n; i > 0; i--)
    if (s[i - 1] == '.' || s[i - 1] == ':') {
      p->memberat = i;
      break;
    }
}

int shmlua_doc_next(shmlua_docpart *part) {
  const char *doc = (const char *)shmlua_apidoc, *end = doc + shmlua_apidoc_size;
  const char *s = part->next ? part->next : doc, *line, *last;
  int fenced = 0;
  while (s < end && !headinglevel(s, end))
    s = nextline(s, end);
  if (s >= end)
    return 0;
  part->level = headinglevel(s, end);
  part->title = s + part->level + 1;
  line = nextline(s, end);
  part->titlelen = (size_t)(line - part->title);
  while (part->titlelen > 0 &&
         (part->title[part->titlelen - 1] == '\n' || part->title[part->titlelen - 1] == ' '))
    part->titlelen--;
  findname(part);
  part->text = s;
  last = line; /* the end of the last line that is not blank */
  for (; line < end && (fenced || !headinglevel(line, end)); line = nextline(line, end)) {
    if (strncmp(line, "```", 3) == 0)
      fenced = !fenced;
    if (*line != '\n')
      last = nextline(line, end);
  }
  part->len = (size_t)(last - s);
  while (part->len > 0 && s[part->len - 1] == '\n')
    part->len--;
  part->next = line;
  return 1;
}

int shmlua_doc_memberof(const shmlua_docpart *part, const char *class, size_t len, char *sep) {
  if (part->level != 3 || part->memberat != len + 1 || memcmp(part->name, class, len) != 0)
    return 0;
  if (sep)
    *sep = part->name[len];
  return 1;
}
