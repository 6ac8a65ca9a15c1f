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

/* SHMLUA_FORKED_DATA puts a zero-initialized variable such a child reads or writes into
   .data: with the module's few initialized variables, next to the start of its .bss
   (interrupt.c's running), all on one page (a first read of a .bss page faults too). Left in .bss it lay 32 KiB further on, behind fault.c's table:
   a second page, a second fault. */
#if defined(__ELF__) && defined(__GNUC__)
#define SHMLUA_FORKED_DATA __attribute__((section(".data")))
#else
#define SHMLUA_FORKED_DATA
#endif

#endif
