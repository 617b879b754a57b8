/* Unit tests for exec/ring: the scrollback keeps the last max bytes, grows lazily, wraps,
 * and replays from a line start once it has wrapped. */
#include "exec/ring.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char buf[1 << 16];
    size_t len;
    int calls;
    int fail_after; /* 0: never */
};

static int sink(void *ctx, const char *p, size_t n)
{
    struct out *o = ctx;
    if (o->fail_after && o->calls >= o->fail_after)
        return -5;
    o->calls++;
    cr_assert_leq(o->len + n, sizeof(o->buf));
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static struct out *replay(const struct ring *r)
{
    static struct out o;
    memset(&o, 0, sizeof(o));
    cr_assert_eq(ring_replay(r, sink, &o), 0);
    o.buf[o.len] = '\0';
    return &o;
}

Test(ring, empty_and_zero_max_keep_nothing)
{
    struct ring r;
    ring_init(&r, 0);
    ring_append(&r, "abc", 3);
    cr_assert_eq(r.len, 0);
    cr_assert_null(r.data);
    cr_assert_eq(replay(&r)->calls, 0);
    ring_init(&r, 100);
    cr_assert_null(r.data, "nothing allocated before the first byte");
    cr_assert_eq(replay(&r)->len, 0);
    ring_done(&r);
}

Test(ring, grows_lazily_up_to_max)
{
    struct ring r;
    ring_init(&r, 1 << 20);
    ring_append(&r, "hello ", 6);
    cr_assert_eq(r.cap, 4096, "starts small");
    char big[10000];
    memset(big, 'x', sizeof(big));
    ring_append(&r, big, sizeof(big));
    cr_assert_eq(r.len, 10006);
    cr_assert_geq(r.cap, 10006);
    cr_assert_leq(r.cap, 16384);
    struct out *o = replay(&r);
    cr_assert_eq(o->len, 10006);
    cr_assert_eq(memcmp(o->buf, "hello xxx", 9), 0);
    ring_done(&r);
    cr_assert_null(r.data);
    cr_assert_eq(r.len, 0);
}

Test(ring, keeps_the_last_max_bytes_and_replays_from_a_line_start)
{
    struct ring r;
    ring_init(&r, 64);
    /* 20 numbered lines of 8 bytes: 160 bytes through a 64-byte ring. */
    char line[16];
    for (int i = 0; i < 20; i++) {
        snprintf(line, sizeof(line), "line%03d\n", i);
        ring_append(&r, line, 8);
    }
    cr_assert_eq(r.len, 64);
    cr_assert_eq(r.cap, 64);
    /* The last 64 bytes are exactly lines 12..19; the oldest starts a line, and the
     * replay skips to after the first newline: lines 13..19. */
    struct out *o = replay(&r);
    cr_assert_str_eq(o->buf, "line013\nline014\nline015\nline016\nline017\nline018\nline019\n");
    cr_assert_eq(o->calls, 2, "a wrapped ring is two pieces");
    ring_done(&r);
}

Test(ring, cut_mid_line_replays_from_the_next_line)
{
    struct ring r;
    ring_init(&r, 10);
    ring_append(&r, "abcdefgh\nXYZ", 12); /* keeps "cdefgh\nXYZ" */
    cr_assert_eq(r.len, 10);
    cr_assert_str_eq(replay(&r)->buf, "XYZ");
    ring_done(&r);
}

Test(ring, one_append_larger_than_max_keeps_its_tail)
{
    struct ring r;
    ring_init(&r, 8);
    ring_append(&r, "0123", 4);
    ring_append(&r, "abcdefghijklmnop", 16);
    cr_assert_eq(r.len, 8);
    /* Full and wrapped, no newline within: replayed whole. */
    cr_assert_str_eq(replay(&r)->buf, "ijklmnop");
    ring_done(&r);
}

Test(ring, byte_by_byte_equals_at_once)
{
    struct ring a, b;
    ring_init(&a, 100);
    ring_init(&b, 100);
    char text[1000];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('a' + (i * 7) % 26);
    for (size_t i = 0; i < sizeof(text); i++)
        ring_append(&a, text + i, 1);
    ring_append(&b, text, sizeof(text));
    char x[200], y[200];
    strcpy(x, replay(&a)->buf);
    strcpy(y, replay(&b)->buf);
    cr_assert_str_eq(x, y);
    cr_assert_eq(strlen(x), 100);
    cr_assert_eq(memcmp(x, text + 900, 100), 0);
    ring_done(&a);
    ring_done(&b);
}

Test(ring, a_sink_error_stops_the_replay)
{
    struct ring r;
    ring_init(&r, 16);
    ring_append(&r, "0123456789abcdef", 16);
    ring_append(&r, "XYZ", 3); /* wrapped: two pieces */
    static struct out o;
    memset(&o, 0, sizeof(o));
    o.fail_after = 1;
    cr_assert_eq(ring_replay(&r, sink, &o), -5);
    cr_assert_eq(o.calls, 1);
    ring_done(&r);
}
