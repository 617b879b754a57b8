/* ring: a terminal's scrollback; see ring.h. */
#include "exec/ring.h"

#include <stdlib.h>
#include <string.h>

void ring_init(struct ring *r, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
}

void ring_done(struct ring *r)
{
    free(r->data);
    ring_init(r, r->max);
}

void ring_append(struct ring *r, const char *p, size_t n)
{
    if (!r->max)
        return;
    if (n >= r->max) {
        p += n - r->max;
        n = r->max;
    }
    if (r->cap < r->max && r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n && cap < r->max)
            cap *= 2;
        if (cap > r->max)
            cap = r->max;
        char *d = realloc(r->data, cap);
        if (!d)
            return;
        r->data = d;
        r->cap = cap; /* start is 0 until cap == max: growing never has to unwrap */
    }
    for (size_t i = 0; i < n;) {
        size_t end = (r->start + r->len) % r->cap;
        if (r->len == r->cap) { /* full: overwrite the oldest */
            size_t k = r->cap - r->start;
            if (k > n - i)
                k = n - i;
            memcpy(r->data + r->start, p + i, k);
            r->start = (r->start + k) % r->cap;
            i += k;
            continue;
        }
        size_t k = (end >= r->start ? r->cap - end : r->start - end);
        if (k > n - i)
            k = n - i;
        if (k > r->cap - r->len)
            k = r->cap - r->len;
        memcpy(r->data + end, p + i, k);
        r->len += k;
        i += k;
    }
}

int ring_replay(const struct ring *r, ring_sink_fn fn, void *ctx)
{
    if (!r->len)
        return 0;
    size_t skip = 0;
    if (r->len == r->cap && r->cap == r->max) {
        for (size_t i = 0; i < r->len && i < 4096; i++)
            if (r->data[(r->start + i) % r->cap] == '\n') {
                skip = i + 1;
                break;
            }
    }
    size_t from = (r->start + skip) % r->cap, left = r->len - skip;
    while (left) {
        size_t k = r->cap - from < left ? r->cap - from : left;
        int rc = fn(ctx, r->data + from, k);
        if (rc < 0)
            return rc;
        from = (from + k) % r->cap;
        left -= k;
    }
    return 0;
}
