/*
 * fuzz_ws: WebSocket frame parsing. The input is fed to a server-side parser twice, whole
 * and in pieces of varying size (taken from the input's first byte), and the two runs must
 * agree exactly: the same events with the same payloads, then the same error. Every text
 * event must be valid UTF-8, every message within max_message, the output queue within
 * its bound, and each ws_feed call must make progress. A third run with stream_binary must
 * deliver the same binary bytes in pieces and the same other events (compared, message by
 * message, whenever the whole run ended without an error). Finally the input is sent as a message
 * through a client and must come out of a server unchanged.
 */
#include "base/utf8.h"
#include "http/ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096
#define MAX_QUEUE   8192

struct log {
    uint8_t bytes[1 << 16]; /* every event in order: type, length, payload, ... */
    size_t len;
    uint8_t bin[1 << 16]; /* binary messages only: their bytes, 0xee after each */
    size_t bin_len;
    size_t bin_done;      /* bin_len at the end of the last complete message */
    uint8_t ctl[1 << 16]; /* every other event: type, length, payload, ... */
    size_t ctl_len;
    int err;
};

static void record(uint8_t *buf, size_t *len, size_t cap, const struct ws_event *ev)
{
    if (*len + ev->len + 6 > cap)
        abort();
    buf[(*len)++] = (uint8_t)ev->type;
    memcpy(buf + *len, &ev->len, 4);
    *len += 4;
    memcpy(buf + *len, ev->data, ev->len);
    *len += ev->len;
}

/* Logs one event. Streamed binary pieces go to `bin` only (their boundaries depend on how
 * the bytes arrived); a whole message goes to both logs, so that a streamed run can be
 * compared with a whole one message by message. */
static void note(struct log *l, const struct ws_event *ev, bool merge_binary)
{
    if (ev->type == WS_BINARY) {
        if (l->bin_len + ev->len + 1 > sizeof(l->bin))
            abort();
        memcpy(l->bin + l->bin_len, ev->data, ev->len);
        l->bin_len += ev->len;
        if (ev->fin) {
            l->bin[l->bin_len++] = 0xee;
            l->bin_done = l->bin_len;
        }
        if (merge_binary)
            return;
    } else {
        record(l->ctl, &l->ctl_len, sizeof(l->ctl), ev);
    }
    record(l->bytes, &l->len, sizeof(l->bytes), ev);
}

static void run(const uint8_t *in, size_t size, size_t step, bool stream, struct log *l)
{
    struct ws *ws;
    struct ws_config cfg = {.role = WS_SERVER,
                            .max_message = MAX_MESSAGE,
                            .max_queue = MAX_QUEUE,
                            .stream_binary = stream};
    if (ws_new(&cfg, &ws) < 0)
        abort();
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, in, size);
    l->len = l->bin_len = l->bin_done = l->ctl_len = 0;
    l->err = 0;
    size_t off = 0;
    while (off < size && !l->err) {
        size_t end = off + step < size ? off + step : size;
        while (off < end) {
            size_t used = 0;
            struct ws_event ev;
            int r = ws_feed(ws, buf + off, end - off, &used, &ev);
            if (used > end - off)
                abort();
            if (r < 0) {
                l->err = r;
                if (!ws_finished(ws))
                    abort();
                break;
            }
            if (used == 0 && ev.type == WS_NONE)
                abort(); /* no progress */
            off += used;
            if (ev.type == WS_TEXT && !utf8_valid(ev.data, ev.len))
                abort();
            if ((ev.type == WS_TEXT || (ev.type == WS_BINARY && !stream)) && ev.len > MAX_MESSAGE)
                abort();
            if ((ev.type == WS_PING || ev.type == WS_PONG || ev.type == WS_CLOSE) && ev.len > 125)
                abort();
            if (ev.type != WS_NONE && !(stream && ev.type == WS_BINARY && ev.len == 0 && !ev.fin))
                note(l, &ev, stream);
            if (ws_queued(ws) > MAX_QUEUE + WS_CONTROL_RESERVE)
                abort();
            /* drain the pongs, as a socket would (the same in every run, so that the
             * runs stay comparable; the flood limit is a unit test) */
            if (ev.type == WS_PING) {
                const void *o;
                size_t ol;
                ws_out(ws, &o, &ol);
                ws_out_done(ws, ol);
            }
        }
    }
    free(buf);
    ws_free(ws);
}

static struct log whole, pieces, streamed;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (data[0] % 17) + 1;
    data++;
    size--;

    run(data, size, size ? size : 1, false, &whole);
    run(data, size, step, false, &pieces);
    if (whole.err != pieces.err || whole.len != pieces.len ||
        memcmp(whole.bytes, pieces.bytes, whole.len) != 0)
        abort();
    run(data, size, step, true, &streamed);
    /* Where the whole run ended cleanly, streaming changes only how binary messages are
     * cut: the same bytes per complete message, the same other events, no error. (Where it
     * failed, the stream may legitimately go further: streamed messages have no
     * max_message; and the pieces of a message still incomplete at the end are delivered
     * only when streaming.) */
    if (whole.err == 0 &&
        (streamed.err != 0 || streamed.bin_done != whole.bin_done ||
         memcmp(streamed.bin, whole.bin, whole.bin_done) != 0 ||
         streamed.ctl_len != whole.ctl_len || memcmp(streamed.ctl, whole.ctl, whole.ctl_len) != 0))
        abort();

    /* round trip: the input as one binary message, client to server */
    struct ws *c, *s;
    struct ws_config cc = {.role = WS_CLIENT, .max_message = 1, .max_queue = 1 << 20};
    struct ws_config sc = {.role = WS_SERVER, .max_message = 1 << 20, .max_queue = 1 << 10};
    if (ws_new(&cc, &c) < 0 || ws_new(&sc, &s) < 0)
        abort();
    if (ws_send(c, WS_BINARY, data, size) < 0)
        abort();
    const void *o;
    size_t ol, off = 0;
    ws_out(c, &o, &ol);
    uint8_t *wire = malloc(ol);
    memcpy(wire, o, ol);
    bool got = false;
    while (off < ol) {
        size_t used;
        struct ws_event ev;
        if (ws_feed(s, wire + off, ol - off, &used, &ev) < 0)
            abort();
        off += used;
        if (ev.type == WS_BINARY) {
            if (got || ev.len != size || memcmp(ev.data, data, size) != 0)
                abort();
            got = true;
        }
    }
    if (!got)
        abort();
    free(wire);
    ws_free(c);
    ws_free(s);
    return 0;
}
