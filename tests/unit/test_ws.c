/* Unit tests for http/ws and http/sha1: RFC 6455 framing, the handshake, SHA-1 vectors. */
#include "http/sha1.h"
#include "http/ws.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

Test(sha1, fips_vectors)
{
    uint8_t d[SHA1_BYTES];
    char h[41];
    sha1("abc", 3, d);
    hex(d, sizeof(d), h);
    cr_expect_str_eq(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    sha1("", 0, d);
    hex(d, sizeof(d), h);
    cr_expect_str_eq(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1(m, strlen(m), d);
    hex(d, sizeof(d), h);
    cr_expect_str_eq(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* a million 'a', fed in uneven pieces */
    struct sha1 s;
    char a[997];
    memset(a, 'a', sizeof(a));
    sha1_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof(a) ? left : sizeof(a);
        sha1_update(&s, a, n);
        left -= n;
    }
    sha1_final(&s, d);
    hex(d, sizeof(d), h);
    cr_expect_str_eq(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

Test(ws, handshake_rfc_example)
{
    char acc[WS_ACCEPT_SIZE];
    const char *r = NULL;
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc);
    cr_expect_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    cr_assert_eq(
        ws_handshake("websocket", "keep-alive, Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==", acc, &r),
        0);
    cr_expect_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    cr_expect_eq(ws_handshake("WebSocket", "upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==", acc, &r),
                 0);
    cr_expect_eq(ws_handshake(NULL, "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==", acc, &r), -EINVAL);
    cr_expect_eq(ws_handshake("websocket", "keep-alive", "13", "dGhlIHNhbXBsZSBub25jZQ==", acc, &r),
                 -EINVAL);
    cr_expect_eq(ws_handshake("websocket", "Upgradex", "13", "dGhlIHNhbXBsZSBub25jZQ==", acc, &r),
                 -EINVAL);
    cr_expect_eq(ws_handshake("websocket", "Upgrade", "8", "dGhlIHNhbXBsZSBub25jZQ==", acc, &r),
                 -EPROTONOSUPPORT);
    cr_expect_eq(ws_handshake("websocket", "Upgrade", "13", "short", acc, &r), -EINVAL);
    cr_expect_str_eq(r, "missing or malformed Sec-WebSocket-Key");
    cr_expect_eq(ws_handshake("websocket", "Upgrade", "13", NULL, acc, &r), -EINVAL);
    cr_expect_eq(ws_handshake("websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25j*Q==", acc, &r),
                 -EINVAL);
}

static struct ws *mk(enum ws_role role, size_t max_message, bool stream)
{
    struct ws *ws = NULL;
    struct ws_config c = {
        .role = role, .max_message = max_message, .max_queue = 1 << 20, .stream_binary = stream};
    cr_assert_eq(ws_new(&c, &ws), 0);
    return ws;
}

/* Feeds all of buf (a copy) and collects every event into evs (payload copied). */
struct got {
    enum ws_type type;
    uint8_t data[70000];
    size_t len;
    bool fin;
    uint16_t code;
};

static int feed_all(struct ws *ws, const void *buf, size_t len, size_t step, struct got *evs,
                    size_t max, size_t *ret_n)
{
    uint8_t *copy = malloc(len + 1);
    memcpy(copy, buf, len);
    size_t off = 0, n = 0;
    int r = 0;
    while (off < len) {
        size_t chunk = len - off < step ? len - off : step;
        size_t pos = 0;
        while (pos < chunk) {
            size_t used = 0;
            struct ws_event ev;
            r = ws_feed(ws, copy + off + pos, chunk - pos, &used, &ev);
            if (r < 0)
                goto out;
            cr_assert(used > 0 || ev.type != WS_NONE, "no progress");
            pos += used;
            if (ev.type != WS_NONE && n < max) {
                evs[n].type = ev.type;
                memcpy(evs[n].data, ev.data, ev.len);
                evs[n].len = ev.len;
                evs[n].fin = ev.fin;
                evs[n].code = ev.code;
                n++;
            }
            if (used == 0 && ev.type == WS_NONE)
                break;
        }
        off += chunk;
    }
out:
    free(copy);
    *ret_n = n;
    return r;
}

static struct got evs[8];

Test(ws, rfc_examples_client_side)
{
    /* RFC 6455 section 5.7: frames a server sends, parsed by a client */
    static const uint8_t hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const uint8_t frag[] = {0x01, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o'};
    static const uint8_t ping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};
    size_t n;
    for (size_t step = 1; step <= sizeof(frag); step++) {
        struct ws *c = mk(WS_CLIENT, 1024, false);
        cr_assert_eq(feed_all(c, hello, sizeof(hello), step, evs, 8, &n), 0);
        cr_assert_eq(n, 1);
        cr_expect_eq(evs[0].type, WS_TEXT);
        cr_expect_eq(evs[0].len, 5);
        cr_expect_eq(memcmp(evs[0].data, "Hello", 5), 0);
        cr_assert_eq(feed_all(c, frag, sizeof(frag), step, evs, 8, &n), 0);
        cr_assert_eq(n, 1, "step %zu", step);
        cr_expect_eq(evs[0].len, 5);
        cr_expect_eq(memcmp(evs[0].data, "Hello", 5), 0);
        cr_assert_eq(feed_all(c, ping, sizeof(ping), step, evs, 8, &n), 0);
        cr_assert_eq(n, 1);
        cr_expect_eq(evs[0].type, WS_PING);
        /* the pong is queued, masked (we are a client): 0x8a 0x85 key(4) payload(5) */
        const void *out;
        size_t ol;
        ws_out(c, &out, &ol);
        cr_assert_eq(ol, 11);
        cr_expect_eq(((const uint8_t *)out)[0], 0x8a);
        cr_expect_eq(((const uint8_t *)out)[1], 0x85);
        ws_free(c);
    }
}

Test(ws, rfc_examples_server_side)
{
    /* masked "Hello" and masked pong "Hello", from RFC 6455 section 5.7 */
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    static const uint8_t pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                   0x7f, 0x9f, 0x4d, 0x51, 0x58};
    size_t n;
    for (size_t step = 1; step <= sizeof(hello); step++) {
        struct ws *s = mk(WS_SERVER, 1024, false);
        cr_assert_eq(feed_all(s, hello, sizeof(hello), step, evs, 8, &n), 0);
        cr_assert_eq(n, 1);
        cr_expect_eq(evs[0].type, WS_TEXT);
        cr_expect_eq(memcmp(evs[0].data, "Hello", 5), 0);
        cr_assert_eq(feed_all(s, pong, sizeof(pong), step, evs, 8, &n), 0);
        cr_assert_eq(n, 1);
        cr_expect_eq(evs[0].type, WS_PONG);
        cr_expect_eq(memcmp(evs[0].data, "Hello", 5), 0);
        ws_free(s);
    }
}

Test(ws, extended_lengths)
{
    /* 256 bytes (16-bit length) and 65536 bytes (64-bit length), unmasked to a client */
    static uint8_t f[10 + 65536];
    size_t n;
    struct ws *c = mk(WS_CLIENT, 1 << 20, false);
    f[0] = 0x82;
    f[1] = 0x7e;
    f[2] = 0x01;
    f[3] = 0x00;
    memset(f + 4, 'x', 256);
    cr_assert_eq(feed_all(c, f, 4 + 256, 4096, evs, 8, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].type, WS_BINARY);
    cr_expect_eq(evs[0].len, 256);
    uint8_t h64[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
    memcpy(f, h64, 10);
    memset(f + 10, 'y', 65536);
    cr_assert_eq(feed_all(c, f, sizeof(f), 1000, evs, 8, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].len, 65536);
    cr_expect_eq(evs[0].data[65535], 'y');
    ws_free(c);
}

/* Moves every queued byte from one side to the other and collects events. */
static int pump(struct ws *from, struct ws *to, size_t step, size_t *ret_n)
{
    const void *out;
    size_t ol;
    ws_out(from, &out, &ol);
    void *copy = malloc(ol + 1);
    memcpy(copy, out, ol);
    ws_out_done(from, ol);
    int r = feed_all(to, copy, ol, step, evs, 8, ret_n);
    free(copy);
    return r;
}

Test(ws, round_trip_both_roles)
{
    struct ws *c = mk(WS_CLIENT, 1 << 20, false), *s = mk(WS_SERVER, 1 << 20, false);
    size_t n;
    cr_assert_eq(ws_send(c, WS_BINARY, "\x00\x01\x02", 3), 0);
    cr_assert_eq(pump(c, s, 2, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].type, WS_BINARY);
    cr_expect_eq(memcmp(evs[0].data, "\x00\x01\x02", 3), 0);
    cr_assert_eq(ws_send(s, WS_TEXT, "{\"type\":\"exit\"}", 15), 0);
    cr_assert_eq(pump(s, c, 3, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].type, WS_TEXT);
    cr_expect_eq(evs[0].len, 15);
    /* a server's frames are not masked: the second header byte has no mask bit */
    ws_send(s, WS_BINARY, "abc", 3);
    const void *out;
    size_t ol;
    ws_out(s, &out, &ol);
    cr_expect_eq(((const uint8_t *)out)[1], 3);
    ws_free(c);
    ws_free(s);
}

Test(ws, close_handshake)
{
    struct ws *c = mk(WS_CLIENT, 1024, false), *s = mk(WS_SERVER, 1024, false);
    size_t n;
    cr_assert_eq(ws_close(c, 1000, "bye"), 0);
    cr_expect_eq(ws_send(c, WS_TEXT, "x", 1), -EPIPE);
    cr_expect_not(ws_finished(c));
    cr_assert_eq(pump(c, s, 100, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].type, WS_CLOSE);
    cr_expect_eq(evs[0].code, 1000);
    cr_expect_eq(evs[0].len, 3);
    cr_expect(ws_finished(s), "the server echoed the close and is done");
    cr_assert_eq(pump(s, c, 100, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].type, WS_CLOSE);
    cr_expect(ws_finished(c));
    /* after the close, nothing more is parsed */
    size_t used;
    struct ws_event ev;
    uint8_t junk[4] = {0x81, 0x01, 'x', 0};
    cr_expect_eq(ws_feed(c, junk, 3, &used, &ev), 0);
    cr_expect_eq(used, 3);
    cr_expect_eq(ev.type, WS_NONE);
    ws_free(c);
    ws_free(s);
}

Test(ws, close_without_code_and_long_reason)
{
    struct ws *c = mk(WS_CLIENT, 1024, false), *s = mk(WS_SERVER, 1024, false);
    size_t n;
    uint8_t f[] = {0x88, 0x80, 1, 2, 3, 4};
    cr_assert_eq(feed_all(s, f, sizeof(f), 1, evs, 8, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].code, 1005);
    /* the echoed close is 1000 */
    cr_assert_eq(pump(s, c, 100, &n), 0);
    cr_expect_eq(evs[0].code, 1000);
    ws_free(c);
    ws_free(s);
    /* a reason over 123 bytes is cut, never in the middle of a character */
    c = mk(WS_CLIENT, 1024, false);
    s = mk(WS_SERVER, 1024, false);
    char reason[300] = "";
    for (int i = 0; i < 100; i++)
        strcat(reason, "\xc3\xa9");
    ws_close(s, 1001, reason);
    cr_assert_eq(pump(s, c, 7, &n), 0, "the cut reason is still valid UTF-8");
    cr_expect_eq(evs[0].code, 1001);
    cr_expect_eq(evs[0].len, 122);
    ws_free(c);
    ws_free(s);
}

static int feed_bytes(struct ws *ws, const uint8_t *f, size_t len, size_t *n)
{
    return feed_all(ws, f, len, len, evs, 8, n);
}

Test(ws, protocol_errors_close_with_the_right_code)
{
    struct {
        uint8_t f[16];
        size_t len;
        int err;
        uint16_t code;
        const char *what;
    } cases[] = {
        {{0x81, 0x01, 'x'}, 3, -EPROTO, 1002, "unmasked client frame"},
        {{0xc1, 0x80, 0, 0, 0, 0}, 6, -EPROTO, 1002, "RSV1 without an extension"},
        {{0x83, 0x80, 0, 0, 0, 0}, 6, -EPROTO, 1002, "reserved opcode 3"},
        {{0x8b, 0x80, 0, 0, 0, 0}, 6, -EPROTO, 1002, "reserved control opcode 11"},
        {{0x09, 0x80, 0, 0, 0, 0}, 6, -EPROTO, 1002, "fragmented ping"},
        {{0x89, 0xfe, 0, 126}, 4, -EPROTO, 1002, "ping longer than 125"},
        {{0x80, 0x80, 0, 0, 0, 0}, 6, -EPROTO, 1002, "continuation out of the blue"},
        {{0x01, 0x80, 0, 0, 0, 0, 0x01, 0x80, 0, 0, 0, 0}, 12, -EPROTO, 1002, "text in text"},
        {{0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28}, 8, -EILSEQ, 1007, "invalid UTF-8"},
        {{0x81, 0x81, 0, 0, 0, 0, 0xc3}, 7, -EILSEQ, 1007, "truncated UTF-8"},
        {{0x81, 0x83, 0, 0, 0, 0, 0xed, 0xa0, 0x80}, 9, -EILSEQ, 1007, "surrogate"},
        {{0x88, 0x81, 0, 0, 0, 0, 3}, 7, -EPROTO, 1002, "one-byte close"},
        {{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed}, 8, -EPROTO, 1002, "close code 1005"},
        {{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe7}, 8, -EPROTO, 1002, "close code 999"},
        {{0x88, 0x83, 0, 0, 0, 0, 0x03, 0xe8, 0xff}, 9, -EILSEQ, 1007, "close reason not UTF-8"},
        {{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
         14,
         -EPROTO,
         1002,
         "64-bit length MSB"},
        {{0x82, 0xfe, 0x04, 0x01, 0, 0, 0, 0}, 8, -EMSGSIZE, 1009, "1025 bytes over a 1024 limit"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ws *s = mk(WS_SERVER, 1024, false), *c = mk(WS_CLIENT, 1024, false);
        size_t n;
        int r = feed_bytes(s, cases[i].f, cases[i].len, &n);
        cr_expect_eq(r, cases[i].err, "%s: got %d", cases[i].what, r);
        cr_expect_eq(n, 0, "%s: no event", cases[i].what);
        cr_expect(ws_finished(s), "%s", cases[i].what);
        cr_assert_eq(pump(s, c, 100, &n), 0);
        cr_assert_eq(n, 1, "%s", cases[i].what);
        cr_expect_eq(evs[0].type, WS_CLOSE);
        cr_expect_eq(evs[0].code, cases[i].code, "%s: close %u", cases[i].what, evs[0].code);
        /* later feeds keep failing */
        size_t used;
        struct ws_event ev;
        uint8_t more[2] = {0x81, 0x80};
        cr_expect_eq(ws_feed(s, more, 2, &used, &ev), cases[i].err);
        ws_free(s);
        ws_free(c);
    }
}

Test(ws, fragmentation_with_interleaved_ping)
{
    struct ws *c = mk(WS_CLIENT, 1024, false), *s = mk(WS_SERVER, 1024, false);
    /* build: text "Hel" (fin=0), ping "p", cont "lo" (fin=0), cont "" (fin=1) */
    uint8_t f[64];
    size_t k = 0;
    uint8_t a[] = {0x01, 0x83, 0, 0, 0, 0, 'H', 'e', 'l'};
    uint8_t b[] = {0x89, 0x81, 0, 0, 0, 0, 'p'};
    uint8_t cc[] = {0x00, 0x82, 0, 0, 0, 0, 'l', 'o'};
    uint8_t d[] = {0x80, 0x80, 0, 0, 0, 0};
    memcpy(f + k, a, sizeof(a)), k += sizeof(a);
    memcpy(f + k, b, sizeof(b)), k += sizeof(b);
    memcpy(f + k, cc, sizeof(cc)), k += sizeof(cc);
    memcpy(f + k, d, sizeof(d)), k += sizeof(d);
    for (size_t step = 1; step <= k; step++) {
        size_t n;
        cr_assert_eq(feed_all(s, f, k, step, evs, 8, &n), 0);
        cr_assert_eq(n, 2, "step %zu", step);
        cr_expect_eq(evs[0].type, WS_PING);
        cr_expect_eq(evs[1].type, WS_TEXT);
        cr_expect_eq(evs[1].len, 5);
        cr_expect_eq(memcmp(evs[1].data, "Hello", 5), 0);
        cr_assert_eq(pump(s, c, 100, &n), 0);
        cr_expect_eq(evs[0].type, WS_PONG);
    }
    ws_free(c);
    ws_free(s);
}

Test(ws, utf8_split_across_fragments_is_fine)
{
    struct ws *s = mk(WS_SERVER, 1024, false);
    /* "é" = c3 a9 split across two fragments */
    uint8_t f[] = {0x01, 0x81, 0, 0, 0, 0, 0xc3, 0x80, 0x81, 0, 0, 0, 0, 0xa9};
    size_t n;
    cr_assert_eq(feed_all(s, f, sizeof(f), 1, evs, 8, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect_eq(evs[0].len, 2);
    ws_free(s);
}

Test(ws, message_limit_counts_fragments)
{
    struct ws *s = mk(WS_SERVER, 10, false);
    uint8_t f[] = {0x02, 0x86, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0x80, 0x85, 0, 0, 0, 0};
    size_t n;
    cr_expect_eq(feed_all(s, f, sizeof(f), 64, evs, 8, &n), -EMSGSIZE);
    ws_free(s);
}

Test(ws, streamed_binary_is_unbounded_and_unassembled)
{
    struct ws *c = mk(WS_CLIENT, 1, false), *s = mk(WS_SERVER, 16, true);
    static uint8_t big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    cr_assert_eq(ws_send(c, WS_BINARY, big, sizeof(big)), 0);
    const void *out;
    size_t ol;
    ws_out(c, &out, &ol);
    uint8_t *wire = malloc(ol);
    memcpy(wire, out, ol);
    size_t total = 0, pieces = 0, off = 0;
    bool fin = false;
    while (off < ol) {
        size_t chunk = ol - off < 4096 ? ol - off : 4096, used;
        struct ws_event ev;
        cr_assert_eq(ws_feed(s, wire + off, chunk, &used, &ev), 0);
        off += used;
        if (ev.type == WS_BINARY) {
            cr_assert_eq(memcmp(ev.data, big + total, ev.len), 0, "piece at %zu", total);
            total += ev.len;
            pieces++;
            fin = ev.fin;
        }
    }
    cr_expect_eq(total, sizeof(big));
    cr_expect(fin);
    cr_expect_gt(pieces, 20);
    /* text is still limited */
    size_t n;
    uint8_t t[] = {0x81, 0x91, 0, 0, 0, 0};
    cr_expect_eq(feed_all(s, t, sizeof(t), 64, evs, 8, &n), -EMSGSIZE);
    free(wire);
    ws_free(c);
    ws_free(s);
}

Test(ws, send_queue_is_bounded)
{
    struct ws *s = NULL;
    struct ws_config cfg = {.role = WS_SERVER, .max_message = 1024, .max_queue = 1000};
    cr_assert_eq(ws_new(&cfg, &s), 0);
    static uint8_t data[2000];
    cr_expect_eq(ws_send_room(s), 1000 - WS_FRAME_HEADER);
    cr_expect_eq(ws_send(s, WS_BINARY, data, 2000), -ENOBUFS);
    cr_expect_eq(ws_queued(s), 0, "nothing queued on refusal");
    cr_expect_eq(ws_send(s, WS_BINARY, data, 900), 0);
    cr_expect_eq(ws_send(s, WS_BINARY, data, 200), -ENOBUFS);
    cr_expect_eq(ws_send(s, WS_PING, data, 100), 0, "control frames use the reserve");
    cr_expect_eq(ws_send(s, WS_PING, data, 126), -EMSGSIZE);
    cr_expect_eq(ws_send(s, WS_CLOSE, data, 1), -EINVAL);
    size_t q = ws_queued(s);
    ws_out_done(s, 500);
    cr_expect_eq(ws_queued(s), q - 500);
    ws_out_done(s, 100000);
    cr_expect_eq(ws_queued(s), 0);
    cr_expect_eq(ws_send(s, WS_BINARY, data, 900), 0);
    ws_free(s);
}

Test(ws, ping_flood_without_reading_is_refused)
{
    struct ws *s = NULL;
    struct ws_config cfg = {.role = WS_SERVER, .max_message = 1024, .max_queue = 1000};
    cr_assert_eq(ws_new(&cfg, &s), 0);
    uint8_t ping[6 + 125] = {0x89, 0x80 | 125};
    int r = 0;
    for (int i = 0; i < 1000 && r == 0; i++) {
        uint8_t copy[sizeof(ping)];
        memcpy(copy, ping, sizeof(ping));
        size_t used;
        struct ws_event ev;
        r = ws_feed(s, copy, sizeof(copy), &used, &ev);
    }
    cr_expect_eq(r, -ENOBUFS);
    cr_expect_leq(ws_queued(s), 1000 + WS_CONTROL_RESERVE);
    cr_expect(ws_finished(s));
    ws_free(s);
}

Test(ws, flush_to_a_socket)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    struct ws *s = NULL, *c = mk(WS_CLIENT, 1 << 22, false);
    struct ws_config cfg = {.role = WS_SERVER, .max_message = 1024, .max_queue = 1 << 22};
    cr_assert_eq(ws_new(&cfg, &s), 0);
    static uint8_t data[1 << 21];
    memset(data, 'z', sizeof(data));
    cr_assert_eq(ws_send(s, WS_BINARY, data, sizeof(data)), 0);
    cr_expect_eq(ws_flush(s, sv[0]), -EAGAIN, "a 2 MiB frame does not fit a socket buffer");
    cr_expect_gt(ws_queued(s), 0);
    /* drain the other end while flushing */
    static uint8_t rx[(1 << 21) + 64];
    size_t got = 0;
    int r;
    while ((r = ws_flush(s, sv[0])) == -EAGAIN || got < sizeof(data) + 10) {
        ssize_t k = read(sv[1], rx + got, sizeof(rx) - got);
        cr_assert_gt(k, 0);
        got += (size_t)k;
    }
    cr_expect_eq(r, 0);
    cr_expect_eq(got, sizeof(data) + 10);
    size_t n;
    cr_assert_eq(feed_all(c, rx, got, 65536, evs, 0, &n), 0);
    close(sv[1]);
    ws_send(s, WS_TEXT, "x", 1);
    cr_expect_eq(ws_flush(s, sv[0]), -EPIPE, "a closed peer is an error, not a signal");
    close(sv[0]);
    ws_free(s);
    ws_free(c);
}

Test(ws, bad_config)
{
    struct ws *s = NULL;
    struct ws_config cfg = {.role = WS_SERVER, .max_message = 0, .max_queue = 10};
    cr_expect_eq(ws_new(&cfg, &s), -EINVAL);
    cfg.max_message = 10;
    cfg.max_queue = 0;
    cr_expect_eq(ws_new(&cfg, &s), -EINVAL);
    ws_free(NULL);
}
