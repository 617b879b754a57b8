/*
 * ring: a terminal's scrollback, the last `max` bytes of its output.
 *
 * The buffer grows on demand up to max (a quiet terminal costs little), then wraps,
 * overwriting the oldest bytes. A new client gets the whole ring replayed; once it has
 * wrapped, the replay starts after the first newline (within 4 KiB) so that it does not
 * begin in the middle of a line or an escape sequence. Pure memory: no locks (the caller
 * holds its own), no I/O. The ring owns its buffer.
 */
#ifndef PYROOM_EXEC_RING_H
#define PYROOM_EXEC_RING_H

#include <stddef.h>

struct ring {
    char *data;
    size_t cap;   /* bytes allocated */
    size_t max;   /* bytes kept at most (0: keeps nothing) */
    size_t start; /* offset of the oldest byte (0 until it wraps) */
    size_t len;   /* bytes held */
};

/* An empty ring keeping at most max bytes (no allocation until the first append). */
void ring_init(struct ring *r, size_t max);
/* Frees the buffer; the ring is empty (and may be used again). */
void ring_done(struct ring *r);
/* Appends n bytes, dropping the oldest beyond max. When growing fails for want of memory,
 * it keeps what fits in the buffer it has. */
void ring_append(struct ring *r, const char *p, size_t n);

/* Receives the replay, in order, in at most two pieces; returns < 0 to stop. */
typedef int (*ring_sink_fn)(void *ctx, const char *p, size_t n);
/* Hands the held bytes to fn, from a line start once the ring has wrapped. Returns 0, or
 * the first negative value fn returned. */
int ring_replay(const struct ring *r, ring_sink_fn fn, void *ctx);

#endif
