/*
 * fuzz_sse: the Server-Sent Events writer (http/sse.h). The input is an event name, a NUL,
 * then the data. Invariants: an accepted event parses back, with the HTML standard's
 * algorithm, into exactly one event of that name whose data equals the input with every
 * CR LF / CR turned into LF; a refused one leaves the buffer as it was; a buffer ceiling
 * is never passed.
 */
#include "http/sse.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The standard's line-based parser, for one stream; returns the number of dispatched
 * events and the last one's name and data. */
static int parse(const char *s, size_t len, struct buf *name, struct buf *out)
{
    int events = 0;
    struct buf d, ev;
    buf_init(&d, len + 1);
    buf_init(&ev, len + 1);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != '\n' && s[j] != '\r')
            j++;
        const char *line = s + i;
        size_t ll = j - i;
        if (j < len && s[j] == '\r' && j + 1 < len && s[j + 1] == '\n')
            j++;
        i = j + 1;
        if (ll == 0) {
            if (d.len) {
                events++;
                buf_reset(out);
                buf_append(out, d.data, d.len - 1); /* without the last LF */
                buf_reset(name);
                buf_append(name, ev.data ? ev.data : "", ev.len);
            }
            buf_reset(&d);
            buf_reset(&ev);
            continue;
        }
        if (line[0] == ':')
            continue;
        const char *colon = memchr(line, ':', ll);
        size_t fl = colon ? (size_t)(colon - line) : ll;
        const char *val = colon ? colon + 1 : line + ll;
        size_t vl = colon ? ll - fl - 1 : 0;
        if (vl && *val == ' ') {
            val++;
            vl--;
        }
        if (fl == 4 && !memcmp(line, "data", 4)) {
            buf_append(&d, val, vl);
            buf_append(&d, "\n", 1);
        } else if (fl == 5 && !memcmp(line, "event", 5)) {
            buf_reset(&ev);
            buf_append(&ev, val, vl);
        }
    }
    buf_done(&d);
    buf_done(&ev);
    return events;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    if (!nul)
        return 0;
    char name[128];
    size_t nl = (size_t)(nul - data);
    if (nl >= sizeof(name))
        return 0;
    memcpy(name, data, nl);
    name[nl] = '\0';
    const char *d = (const char *)nul + 1;
    size_t dl = size - nl - 1;

    struct buf out;
    buf_init(&out, 64 + dl * 2);
    (void)buf_append(&out, "x", 1);
    int rc = sse_append(&out, name, d, dl);
    if (rc < 0) {
        if (out.len != 1 || (rc != -EINVAL && rc != -E2BIG))
            abort();
        buf_done(&out);
        return 0;
    }
    if (!sse_valid_name(name) || memchr(d, '\0', dl))
        abort();
    struct buf got_name, got;
    buf_init(&got_name, nl + 1);
    buf_init(&got, dl + 1);
    /* Skip our leading "x" line content by parsing after it: it is not a full line, so
     * prepend a line break to make it one. */
    struct buf all;
    buf_init(&all, out.len + 2);
    buf_append(&all, "\n", 1);
    buf_append(&all, out.data + 1, out.len - 1);
    if (parse(all.data, all.len, &got_name, &got) != 1)
        abort();
    if (got_name.len != nl || (nl && memcmp(got_name.data, name, nl)))
        abort();
    /* expected data: CR LF and CR become LF */
    struct buf want;
    buf_init(&want, dl + 1);
    for (size_t i = 0; i < dl; i++) {
        if (d[i] == '\r') {
            buf_append(&want, "\n", 1);
            if (i + 1 < dl && d[i + 1] == '\n')
                i++;
        } else {
            buf_append(&want, d + i, 1);
        }
    }
    if (got.len != want.len || (want.len && memcmp(got.data, want.data, want.len)))
        abort();
    buf_done(&want);
    buf_done(&all);
    buf_done(&got);
    buf_done(&got_name);
    buf_done(&out);
    return 0;
}
