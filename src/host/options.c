/* Command-line options with lua5.4's rules: options come first and stop at the script,
   "--" or "-"; -e and -l take the next argument when nothing is glued to them. */
#include "options.h"

#include <string.h>

/* Whether an option is exactly two characters ("-v", not "-vx"). */
static int alone(const char *option) {
  return option[2] == '\0';
}

void shmlua_cmdline_parse(int argc, char **argv, shmlua_cmdline *cl) {
  cl->flags = 0;
  cl->bad = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    cl->script = i;
    if (a[0] != '-' || a[1] == '\0') /* the script, or "-" for stdin */
      return;
    switch (a[1]) {
    case '-': /* "--": the script is the next argument, even if it looks like an option */
      if (!alone(a))
        break;
      cl->script = i + 1;
      return;
    case 'i':
      if (!alone(a))
        break;
      cl->flags |= SHMLUA_OPT_REPL | SHMLUA_OPT_VERSION;
      continue;
    case 'v':
      if (!alone(a))
        break;
      cl->flags |= SHMLUA_OPT_VERSION;
      continue;
    case 'E':
      if (!alone(a))
        break;
      cl->flags |= SHMLUA_OPT_NOENV;
      continue;
    case 'W':
      if (!alone(a))
        break;
      continue;
    case 'e':
    case 'l':
      if (a[1] == 'e')
        cl->flags |= SHMLUA_OPT_EXEC;
      if (alone(a) && (++i >= argc || argv[i][0] == '-'))
        break; /* the argument is missing */
      continue;
    default:
      break;
    }
    cl->bad = cl->script;
    return;
  }
  cl->script = argc;
}

void shmlua_cmdline_usage(FILE *out, const char *progname) {
  fprintf(out,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables\n"
          "  -W        turn warnings on\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n"
          "Tools (alone, as the first argument):\n"
          "  --ls                     list shared-memory blocks (shm.blocks)\n"
          "  --rm NAME...             remove blocks by name (shm.remove)\n"
          "  --dump NAME [I [J]]      hex dump of bytes I..J of a block (buf:hexdump)\n"
          "  --watch NAME [SECONDS]   show a block's changes every SECONDS (shm.watch)\n"
          "  --help                   show this help\n",
          progname);
}

void shmlua_cmdline_complain(const char *progname, const char *option) {
  fflush(stdout);
  if ((option[1] == 'e' || option[1] == 'l') && option[2] == '\0')
    fprintf(stderr, "%s: '%s' needs argument\n", progname, option);
  else
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, option);
  shmlua_cmdline_usage(stderr, progname);
}
