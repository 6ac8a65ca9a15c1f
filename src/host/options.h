/* The command line, read as lua5.4 reads it: which options are given and where the script
   starts. Nothing runs here; run.c and main.c act on the result. */
#ifndef SHMLUA_HOST_OPTIONS_H
#define SHMLUA_HOST_OPTIONS_H

#include <stdio.h>

enum {
  SHMLUA_OPT_EXEC = 1 << 0,    /* -e: a statement to run, so no REPL by default */
  SHMLUA_OPT_REPL = 1 << 1,    /* -i */
  SHMLUA_OPT_VERSION = 1 << 2, /* -v, also implied by -i */
  SHMLUA_OPT_NOENV = 1 << 3,   /* -E */
};

typedef struct shmlua_cmdline {
  unsigned flags;
  int script; /* index in argv of the script; argc when there is none */
  int bad;    /* index in argv of an unusable option; 0 when all are fine */
} shmlua_cmdline;

void shmlua_cmdline_parse(int argc, char **argv, shmlua_cmdline *cl);

/* Usage text: to stdout for --help, after "unrecognized option" on stderr otherwise. */
void shmlua_cmdline_usage(FILE *out, const char *progname);

/* The complaint about argv[cl->bad], then the usage, on stderr. */
void shmlua_cmdline_complain(const char *progname, const char *option);

#endif
