/* docs/api.md as compiled into the module (CMake generates its bytes, embed.cmake), and a
   walk over its parts: what shm.help shows and where shm.complete finds documented fields. */
#ifndef SHMLUA_APIDOC_H
#define SHMLUA_APIDOC_H

#include <stddef.h>

extern const unsigned char shmlua_apidoc[];
extern const size_t shmlua_apidoc_size;

/* A heading and the text under it, up to the next heading. */
typedef struct shmlua_docpart {
  int level;         /* 1: the page ("# "), 2: a section ("## "), 3: an entry ("### ") */
  const char *title; /* the heading's text: "shm.create(size [, name [, opts]])" */
  size_t titlelen;
  const char *name; /* what an entry documents: "shm.create", "block:close" (else title) */
  size_t namelen;
  size_t memberat;  /* in name, where the last part starts ("close"), 0 if none */
  const char *text; /* the whole part, heading line included, no blank lines at its end */
  size_t len;
  const char *next; /* where the walk goes on */
} shmlua_docpart;

/* The first part when part->next is NULL (zero the struct), else the one after it.
   Returns 0 past the last part. */
int shmlua_doc_next(shmlua_docpart *part);

/* Whether the entry documents a member of class (len bytes): "block" for "block.size" and
   "block:close"; sep, if not NULL, gets '.' or ':'. */
int shmlua_doc_memberof(const shmlua_docpart *part, const char *class, size_t len, char *sep);

#endif
