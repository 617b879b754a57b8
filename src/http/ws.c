/*
 * ws: RFC 6455 framing; see ws.h.
 *
 * Theory of operation. Receiving is a two-state machine per frame: HEADER gathers the 2 to
 * 14 header bytes (in hdr[], since a header can arrive split across reads), PAYLOAD walks
 * the frame's payload as bytes arrive, unmasking in place. Every rule that can be judged
 * from the first two bytes (reserved bits, opcode, masking, control-frame shape,
 * fragmentation order) is judged as soon as they arrive, and a message's size is judged
 * from the length field, before any payload is read or any memory is taken for it.
 *
 * A message that arrives whole in one buffer and is a single frame is handed over where it
 * lies (no copy); a fragmented or split one is assembled in msg[], at most max_message
 * bytes. Control frames (at most 125 bytes) gather in ctl[]. Text is checked for UTF-8
 * incrementally, so an invalid byte fails the connection as soon as it is seen.
 *
 * Sending appends whole frames to one byte queue (out[out_head..out_len)), which ws_flush()
 * drains; frames are never interleaved, so control frames simply queue behind data.
 */
#include "http/ws.h"

#include "base/utf8.h"
#include "http/sha1.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

/* close status codes (RFC 6455 section 7.4.1) */
enum {
    CLOSE_NORMAL = 1000,
    CLOSE_PROTOCOL = 1002,
    CLOSE_NO_STATUS = 1005,
    CLOSE_ABNORMAL = 1006,
    CLOSE_BAD_DATA = 1007,
    CLOSE_TOO_BIG = 1009,
    CLOSE_TLS = 1015,
};

struct ws {
    struct ws_config cfg;

    /* the frame being received */
    uint8_t hdr[WS_FRAME_HEADER]; /* header bytes gathered so far */
    size_t hdr_len;
    bool in_payload;     /* header complete, payload under way */
    uint8_t opcode;      /* of the current frame */
    bool fin;            /* of the current frame */
    uint8_t mask[4];     /* masking key, when masked */
    bool masked;         /* the current frame is masked */
    uint64_t frame_len;  /* payload bytes in the current frame */
    uint64_t frame_done; /* payload bytes of it seen */

    /* the message being received (text or binary, perhaps in fragments) */
    uint8_t msg_type;       /* OP_TEXT, OP_BINARY, or 0 between messages */
    bool msg_streamed;      /* a binary message handed over in pieces */
    struct utf8_state utf8; /* text validity so far */
    uint8_t *msg;           /* assembled payload */
    size_t msg_len, msg_cap;
    uint8_t ctl[125]; /* control frame payload */
    size_t ctl_len;

    bool close_received; /* the peer's close frame arrived */
    bool close_sent;     /* our close frame is queued */
    int error;           /* first protocol error (negative errno), 0 if none */

    /* output queue: bytes out[out_head..out_len) wait to be written */
    uint8_t *out;
    size_t out_head, out_len, out_cap;
};

/* ---- handshake ---------------------------------------------------------------------- */

/* True when a comma-separated header value holds token (case-insensitive). */
static bool has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p += n;
    }
    return false;
}

static bool valid_key(const char *key)
{
    /* base64 of 16 bytes: 22 characters and "==" */
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (int i = 0; i < 22; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

void ws_accept_key(const char *key, char ret[WS_ACCEPT_SIZE])
{
    struct sha1 s;
    uint8_t d[SHA1_BYTES];
    sha1_init(&s);
    sha1_update(&s, key, strlen(key));
    sha1_update(&s, WS_GUID, sizeof(WS_GUID) - 1);
    sha1_final(&s, d);
    sodium_bin2base64(ret, WS_ACCEPT_SIZE, d, sizeof(d), sodium_base64_VARIANT_ORIGINAL);
}

int ws_handshake(const char *upgrade, const char *connection, const char *version, const char *key,
                 char ret_accept[WS_ACCEPT_SIZE], const char **ret_reason)
{
    const char *why = NULL;
    if (!upgrade || !has_token(upgrade, "websocket"))
        why = "not a WebSocket upgrade (Upgrade: websocket missing)";
    else if (!connection || !has_token(connection, "upgrade"))
        why = "not a WebSocket upgrade (Connection: Upgrade missing)";
    else if (!version || strcmp(version, "13") != 0) {
        if (ret_reason)
            *ret_reason = "unsupported WebSocket version (13 is supported)";
        return -EPROTONOSUPPORT;
    } else if (!key || !valid_key(key))
        why = "missing or malformed Sec-WebSocket-Key";
    if (why) {
        if (ret_reason)
            *ret_reason = why;
        return -EINVAL;
    }
    ws_accept_key(key, ret_accept);
    return 0;
}

/* ---- life cycle ---------------------------------------------------------------------- */

int ws_new(const struct ws_config *cfg, struct ws **ret)
{
    if (!cfg || cfg->max_message == 0 || cfg->max_queue == 0)
        return -EINVAL;
    struct ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return -ENOMEM;
    ws->cfg = *cfg;
    *ret = ws;
    return 0;
}

void ws_free(struct ws *ws)
{
    if (!ws)
        return;
    free(ws->msg);
    free(ws->out);
    free(ws);
}

/* ---- sending ------------------------------------------------------------------------- */

size_t ws_queued(const struct ws *ws)
{
    return ws->out_len - ws->out_head;
}

size_t ws_send_room(const struct ws *ws)
{
    size_t q = ws_queued(ws) + WS_FRAME_HEADER;
    return q < ws->cfg.max_queue ? ws->cfg.max_queue - q : 0;
}

/* Appends one frame to the queue if it fits under limit bytes queued. */
static int queue_frame(struct ws *ws, uint8_t opcode, const void *data, size_t len, size_t limit)
{
    uint8_t h[WS_FRAME_HEADER];
    size_t hl = 2;
    bool mask = ws->cfg.role == WS_CLIENT;

    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    uint8_t key[4] = {0};
    if (mask) {
        h[1] |= 0x80;
        if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
            return -EIO;
        memcpy(h + hl, key, 4);
        hl += 4;
    }
    size_t need = hl + len;
    if (ws_queued(ws) + need > limit)
        return -ENOBUFS;
    if (ws->out_len + need > ws->out_cap) {
        /* drop what was written, then grow if still short */
        if (ws->out_head) {
            memmove(ws->out, ws->out + ws->out_head, ws->out_len - ws->out_head);
            ws->out_len -= ws->out_head;
            ws->out_head = 0;
        }
        if (ws->out_len + need > ws->out_cap) {
            size_t cap = ws->out_cap ? ws->out_cap : 4096;
            while (cap < ws->out_len + need)
                cap *= 2;
            uint8_t *p = realloc(ws->out, cap);
            if (!p)
                return -ENOMEM;
            ws->out = p;
            ws->out_cap = cap;
        }
    }
    uint8_t *dst = ws->out + ws->out_len;
    memcpy(dst, h, hl);
    if (len)
        memcpy(dst + hl, data, len);
    if (mask)
        for (size_t i = 0; i < len; i++)
            dst[hl + i] ^= key[i & 3];
    ws->out_len += need;
    return 0;
}

static size_t control_limit(const struct ws *ws)
{
    return ws->cfg.max_queue + WS_CONTROL_RESERVE;
}

int ws_send(struct ws *ws, enum ws_type type, const void *data, size_t len)
{
    if (ws->close_sent)
        return -EPIPE;
    switch (type) {
    case WS_TEXT:
    case WS_BINARY:
        return queue_frame(ws, (uint8_t)type, data, len, ws->cfg.max_queue);
    case WS_PING:
    case WS_PONG:
        if (len > 125)
            return -EMSGSIZE;
        return queue_frame(ws, (uint8_t)type, data, len, control_limit(ws));
    default:
        return -EINVAL;
    }
}

int ws_close(struct ws *ws, uint16_t code, const char *reason)
{
    uint8_t p[125];
    size_t n = 0;
    if (ws->close_sent)
        return 0;
    ws->close_sent = true;
    if (code != CLOSE_NO_STATUS && code != CLOSE_ABNORMAL && code != CLOSE_TLS) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof(p) - 2) {
            rl = sizeof(p) - 2;
            while (rl && ((uint8_t)reason[rl] & 0xc0) == 0x80)
                rl--; /* never cut a UTF-8 character in two */
        }
        if (rl)
            memcpy(p + 2, reason, rl);
        n += rl;
    }
    /* Best effort: if even the reserve is full the peer is not reading, and the caller is
     * about to drop the connection anyway. */
    (void)queue_frame(ws, OP_CLOSE, p, n, control_limit(ws));
    return 0;
}

void ws_out(const struct ws *ws, const void **ret_data, size_t *ret_len)
{
    *ret_data = ws->out ? ws->out + ws->out_head : (const void *)"";
    *ret_len = ws->out_len - ws->out_head;
}

void ws_out_done(struct ws *ws, size_t n)
{
    if (n > ws_queued(ws))
        n = ws_queued(ws);
    ws->out_head += n;
    if (ws->out_head == ws->out_len) {
        ws->out_head = ws->out_len = 0;
        if (ws->out_cap > 65536) { /* an idle connection keeps no big buffer */
            free(ws->out);
            ws->out = NULL;
            ws->out_cap = 0;
        }
    }
}

int ws_flush(struct ws *ws, int fd)
{
    while (ws_queued(ws)) {
        const uint8_t *p = ws->out + ws->out_head;
        size_t n = ws_queued(ws);
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
        ws_out_done(ws, (size_t)w);
    }
    return 0;
}

bool ws_finished(const struct ws *ws)
{
    return ws->close_sent && (ws->close_received || ws->error);
}

/* ---- receiving ----------------------------------------------------------------------- */

static int fail(struct ws *ws, uint16_t code, int err, const char *reason)
{
    ws_close(ws, code, reason);
    ws->error = err;
    return err;
}

static bool valid_close_code(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

/* XORs n bytes at p with the 4-byte key, starting at key position `phase`; eight bytes
 * at a time, since every byte a client sends passes through here. */
static void unmask(uint8_t *p, size_t n, const uint8_t key[4], size_t phase)
{
    uint8_t k8[8];
    for (size_t i = 0; i < 8; i++)
        k8[i] = key[(phase + i) & 3];
    uint64_t k;
    memcpy(&k, k8, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= k8[i & 7];
}

/* Judges the first two header bytes; returns the total header length or an error. */
static int check_start(struct ws *ws)
{
    uint8_t b0 = ws->hdr[0], b1 = ws->hdr[1];
    uint8_t op = b0 & 0x0f, len7 = b1 & 0x7f;
    bool fin = b0 & 0x80, masked = b1 & 0x80;

    if (b0 & 0x70)
        return fail(ws, CLOSE_PROTOCOL, -EPROTO, "reserved bits set");
    if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY && op != OP_CLOSE && op != OP_PING &&
        op != OP_PONG)
        return fail(ws, CLOSE_PROTOCOL, -EPROTO, "unknown opcode");
    if (masked != (ws->cfg.role == WS_SERVER))
        return fail(ws, CLOSE_PROTOCOL, -EPROTO,
                    masked ? "server frames must not be masked" : "client frames must be masked");
    if (op & 8) {
        if (!fin)
            return fail(ws, CLOSE_PROTOCOL, -EPROTO, "fragmented control frame");
        if (len7 > 125)
            return fail(ws, CLOSE_PROTOCOL, -EPROTO, "control frame too long");
    } else if (op == OP_CONT && !ws->msg_type) {
        return fail(ws, CLOSE_PROTOCOL, -EPROTO, "continuation without a message");
    } else if (op != OP_CONT && ws->msg_type) {
        return fail(ws, CLOSE_PROTOCOL, -EPROTO, "new message inside a fragmented one");
    }
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
}

/* The header is complete: decode it and start the frame. */
static int start_frame(struct ws *ws)
{
    const uint8_t *h = ws->hdr;
    uint8_t len7 = h[1] & 0x7f;
    size_t i = 2;
    uint64_t len = len7;

    if (len7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        i = 4;
    } else if (len7 == 127) {
        len = 0;
        for (int k = 0; k < 8; k++)
            len = len << 8 | h[2 + k];
        i = 10;
        if (len >> 63)
            return fail(ws, CLOSE_PROTOCOL, -EPROTO, "frame length out of range");
    }
    ws->opcode = h[0] & 0x0f;
    ws->fin = h[0] & 0x80;
    ws->masked = h[1] & 0x80;
    if (ws->masked)
        memcpy(ws->mask, h + i, 4);
    ws->frame_len = len;
    ws->frame_done = 0;
    ws->in_payload = true;
    ws->hdr_len = 0;

    if (ws->opcode & 8) {
        ws->ctl_len = 0;
        return 0;
    }
    if (ws->opcode != OP_CONT) { /* a new message */
        ws->msg_type = ws->opcode;
        ws->msg_streamed = ws->opcode == OP_BINARY && ws->cfg.stream_binary;
        ws->msg_len = 0;
        utf8_init(&ws->utf8);
        if (ws->msg_cap > 65536) {
            free(ws->msg);
            ws->msg = NULL;
            ws->msg_cap = 0;
        }
    }
    if (!ws->msg_streamed && len > ws->cfg.max_message - ws->msg_len)
        return fail(ws, CLOSE_TOO_BIG, -EMSGSIZE, "message too big");
    return 0;
}

static int append_msg(struct ws *ws, const uint8_t *p, size_t n)
{
    if (ws->msg_len + n > ws->msg_cap) {
        size_t cap = ws->msg_cap ? ws->msg_cap : 1024;
        while (cap < ws->msg_len + n)
            cap *= 2;
        if (cap > ws->cfg.max_message)
            cap = ws->cfg.max_message;
        uint8_t *m = realloc(ws->msg, cap);
        if (!m)
            return -ENOMEM;
        ws->msg = m;
        ws->msg_cap = cap;
    }
    memcpy(ws->msg + ws->msg_len, p, n);
    ws->msg_len += n;
    return 0;
}

/* A complete control frame in ctl[]. */
static int control(struct ws *ws, struct ws_event *ev)
{
    ev->type = (enum ws_type)ws->opcode;
    ev->data = ws->ctl;
    ev->len = ws->ctl_len;
    ev->fin = true;
    if (ws->opcode == OP_PING) {
        if (!ws->close_sent &&
            queue_frame(ws, OP_PONG, ws->ctl, ws->ctl_len, control_limit(ws)) < 0) {
            ws->error = -ENOBUFS; /* the peer pings without reading */
            ws->close_sent = true;
            return -ENOBUFS;
        }
        return 0;
    }
    if (ws->opcode == OP_PONG)
        return 0;
    /* close */
    uint16_t code = CLOSE_NO_STATUS;
    if (ws->ctl_len == 1)
        return fail(ws, CLOSE_PROTOCOL, -EPROTO, "close frame of one byte");
    if (ws->ctl_len >= 2) {
        code = (uint16_t)(ws->ctl[0] << 8 | ws->ctl[1]);
        if (!valid_close_code(code))
            return fail(ws, CLOSE_PROTOCOL, -EPROTO, "invalid close code");
        if (!utf8_valid(ws->ctl + 2, ws->ctl_len - 2))
            return fail(ws, CLOSE_BAD_DATA, -EILSEQ, "close reason is not UTF-8");
        ev->data = ws->ctl + 2;
        ev->len = ws->ctl_len - 2;
    }
    ev->code = code;
    ws->close_received = true;
    ws_close(ws, code == CLOSE_NO_STATUS ? CLOSE_NORMAL : code, NULL);
    return 0;
}

/* Gathers a frame's header from p[*used..len) into ws->hdr: 1 when it is complete (the
 * frame has started), 0 when more bytes are needed, or -errno. */
static int read_header(struct ws *ws, const uint8_t *p, size_t len, size_t *used)
{
    while (ws->hdr_len < 2 && *used < len)
        ws->hdr[ws->hdr_len++] = p[(*used)++];
    if (ws->hdr_len < 2)
        return 0;
    int need = check_start(ws);
    if (need < 0)
        return need;
    while (ws->hdr_len < (size_t)need && *used < len)
        ws->hdr[ws->hdr_len++] = p[(*used)++];
    if (ws->hdr_len < (size_t)need)
        return 0;
    int r = start_frame(ws);
    return r < 0 ? r : 1;
}

int ws_feed(struct ws *ws, void *data, size_t len, size_t *ret_used, struct ws_event *ret_ev)
{
    uint8_t *p = data;
    size_t used = 0;
    int r = 0;

    *ret_ev = (struct ws_event){.type = WS_NONE};
    if (ws->error) {
        *ret_used = 0;
        return ws->error;
    }
    if (ws->close_received) {
        *ret_used = len; /* nothing may follow a close */
        return 0;
    }
    if (len == 0) {
        *ret_used = 0;
        return 0;
    }
    for (;;) {
        if (!ws->in_payload) {
            int h = read_header(ws, p, len, &used);
            if (h <= 0) {
                r = h;
                break;
            }
        }

        /* payload: as much of the frame as this buffer holds */
        uint64_t left = ws->frame_len - ws->frame_done;
        size_t avail = len - used < left ? len - used : (size_t)left;
        uint8_t *chunk = p + used;
        if (ws->masked)
            unmask(chunk, avail, ws->mask, (size_t)(ws->frame_done & 3));
        bool whole = ws->frame_done == 0 && avail == ws->frame_len; /* all here, in place */
        used += avail;
        ws->frame_done += avail;
        bool complete = ws->frame_done == ws->frame_len;
        if (complete)
            ws->in_payload = false;

        if (ws->opcode & 8) {
            memcpy(ws->ctl + ws->ctl_len, chunk, avail);
            ws->ctl_len += avail;
            if (!complete)
                break;
            r = control(ws, ret_ev);
            break;
        }

        if (ws->msg_type == OP_TEXT && !utf8_feed(&ws->utf8, chunk, avail)) {
            r = fail(ws, CLOSE_BAD_DATA, -EILSEQ, "text is not UTF-8");
            break;
        }
        bool last = complete && ws->fin;
        if (ws->msg_streamed) {
            if (avail || last) {
                *ret_ev =
                    (struct ws_event){.type = WS_BINARY, .data = chunk, .len = avail, .fin = last};
                if (last)
                    ws->msg_type = 0;
                break;
            }
            if (!complete)
                break;
            continue; /* an empty middle fragment */
        }
        if (last && whole && ws->msg_len == 0) {
            *ret_ev = (struct ws_event){
                .type = (enum ws_type)ws->msg_type, .data = chunk, .len = avail, .fin = true};
        } else {
            if (avail && (r = append_msg(ws, chunk, avail)) < 0)
                break;
            if (!last) {
                if (!complete)
                    break;
                continue;
            }
            *ret_ev = (struct ws_event){.type = (enum ws_type)ws->msg_type,
                                        .data = ws->msg ? ws->msg : (const uint8_t *)"",
                                        .len = ws->msg_len,
                                        .fin = true};
        }
        if (ws->msg_type == OP_TEXT && !utf8_complete(&ws->utf8)) {
            *ret_ev = (struct ws_event){.type = WS_NONE};
            r = fail(ws, CLOSE_BAD_DATA, -EILSEQ, "text is not UTF-8");
            break;
        }
        ws->msg_type = 0;
        break;
    }
    if (r < 0)
        *ret_ev = (struct ws_event){.type = WS_NONE};
    *ret_used = used;
    return r;
}
