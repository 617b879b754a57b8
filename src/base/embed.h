/*
 * embed: a source file of the tree built into the binary as a NUL-terminated string.
 *
 * The Python that pyroom runs itself (the warm pool's half, the run's sitecustomize and
 * matplotlib backend, the language worker) lives in real .py files under src/, where it is
 * read, compiled and linted as Python (tests/runner/test_sources.py), and is embedded with
 * the assembler's .incbin: nothing has to be installed where a sandbox can see it.
 *
 *   EMBED_TEXT(warm_python, "src/exec/warm_python.py");
 *   ... warm_python is a `const char[]` holding the file and a final NUL.
 *
 * The path is relative to the top of the tree, where the build runs; the Makefile names
 * each embedded file as a prerequisite of the object that embeds it (the compiler's
 * dependency files do not see .incbin).
 */
#ifndef PYROOM_BASE_EMBED_H
#define PYROOM_BASE_EMBED_H

#define EMBED_TEXT(sym, path)                                                                      \
    __asm__(".pushsection .rodata\n" #sym ":\n.incbin \"" path "\"\n.byte 0\n.popsection\n");      \
    extern const char sym[]

#endif
