/* SHMLUA_FORKED marks the functions a child forked by shm.spawn runs between fork and _exit.
   A fork copies no page-table entries of file mappings, so the child faults on the first
   touch of each 64 KiB window of code (the kernel maps a window per fault), about 2 us
   each; spread over the module the child's path took 4-5 windows. Kept together at the
   start of the text (ELF linkers gather .text.hot sections there, next to the PLT), it takes
   one or two. */
#ifndef SHMLUA_FORKED_H
#define SHMLUA_FORKED_H

#if defined(__ELF__) && defined(__GNUC__)
#define SHMLUA_FORKED __attribute__((section(".text.hot.shmlua_forked")))
#else
#define SHMLUA_FORKED
#endif

#endif
