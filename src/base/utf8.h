/*
 * utf8: strict UTF-8 validation, whole or incremental (for bytes that arrive in pieces,
 * such as fragmented WebSocket text frames). "Valid" is Unicode's Table 3-7 exactly:
 * overlong forms, UTF-16 surrogates (U+D800..U+DFFF), code points above U+10FFFF and
 * stray continuation bytes are all refused, because every one of them has been used to
 * smuggle a '/', a '.' or a NUL past a check that compared bytes.
 */
#ifndef PYROOM_BASE_UTF8_H
#define PYROOM_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Incremental validator; zero-initialise (or utf8_init) before the first byte. */
struct utf8_state {
    uint32_t cp;    /* code point being assembled */
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* allowed range of the next continuation byte */
    bool bad;       /* an invalid byte was seen; sticky */
};

void utf8_init(struct utf8_state *s);
/* Feeds n bytes; returns false (and stays false) once any byte is invalid. */
bool utf8_feed(struct utf8_state *s, const void *data, size_t n);
/* True when everything fed so far is valid and no sequence is left half-way. */
bool utf8_complete(const struct utf8_state *s);
/* True when the n bytes are complete, valid UTF-8. */
bool utf8_valid(const void *data, size_t n);
/* Decodes the code point that starts data; returns its length in bytes (1..4), or
 * -EILSEQ when the bytes there are not a valid, complete sequence. n must be > 0. */
int utf8_decode(const void *data, size_t n, uint32_t *ret_cp);

struct buf;
/* Appends data to out as valid UTF-8, each invalid byte replaced by U+FFFD. Unless final,
 * an incomplete sequence at the very end is not consumed (a stream's next chunk may
 * complete it). Returns the bytes consumed, or -E2BIG when out is full. */
long utf8_sanitize(const void *data, size_t n, bool final, struct buf *out);

#endif
