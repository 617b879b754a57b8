/*
 * buf: a growable byte buffer with a ceiling (curl's dynbuf). Every buffer that holds
 * bytes a user controls is created with the setting that bounds it; an append that
 * would pass the ceiling fails with -E2BIG and leaves the buffer unchanged.
 * The data is always NUL-terminated (not counted in len) so text can be used directly.
 */
#ifndef PYROOM_BASE_BUF_H
#define PYROOM_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used, excluding the terminating NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* ceiling on len in bytes */
};

void buf_init(struct buf *b, size_t max);
void buf_done(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends s and its NUL at *off of the fixed array dst (cap bytes), moving *off past it;
 * -E2BIG (and nothing written) when it does not fit. For NUL-separated string lists. */
int buf_pack_str(char *dst, size_t cap, size_t *off, const char *s);
/* Moves the data out (caller frees); the buffer is left empty. Never NULL on success. */
char *buf_take(struct buf *b, size_t *ret_len);

#endif
