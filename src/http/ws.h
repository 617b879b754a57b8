/*
 * ws: the WebSocket protocol (RFC 6455) over a socket that someone else reads and writes,
 * made for a non-blocking epoll loop: bytes in, events out; frames in, bytes out.
 *
 *   handshake:  ws_handshake() checks the client's Upgrade request headers and computes
 *               Sec-WebSocket-Accept; the HTTP layer answers 101 and hands over the fd.
 *   receiving:  read() into your buffer, then call ws_feed() until it has used every byte.
 *               Each call returns at most one event (a message, a piece of a streamed
 *               binary message, a ping, a pong, a close). Pings are answered for you.
 *   sending:    ws_send() frames a message into the connection's output queue; ws_flush()
 *               writes what the socket accepts (or ws_out()/ws_out_done() to do it yourself).
 *   closing:    ws_close() queues a close frame; when ws_finished() is true, flush and
 *               close the fd.
 *
 * Limits (every size a client controls is bounded): an assembled text or binary message
 * holds at most max_message bytes (close 1009 beyond); with stream_binary, binary messages
 * are not assembled but handed over piece by piece as their bytes arrive, so a 10 MB paste
 * costs no memory here and the caller applies backpressure simply by not reading the socket
 * while it cannot take more. The output queue holds at most max_queue bytes of data frames
 * (ws_send answers -ENOBUFS beyond, so stop reading the PTY); control frames (pong, close)
 * may use WS_CONTROL_RESERVE more, and a peer that floods pings without reading gets
 * -ENOBUFS from ws_feed.
 *
 * Protocol errors (unmasked client frames, reserved bits or opcodes, bad fragmentation,
 * oversize control frames, invalid UTF-8 in text, a bad close code) make ws_feed return
 * -EPROTO, -EMSGSIZE or -EILSEQ after queueing the close frame the RFC asks for (1002, 1009,
 * 1007): flush it and close the socket.
 *
 * One struct ws per connection, used by one thread at a time. No I/O except ws_flush().
 */
#ifndef PYROOM_HTTP_WS_H
#define PYROOM_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_ACCEPT_SIZE     29   /* base64 of a SHA-1 (28 characters) and NUL */
#define WS_CONTROL_RESERVE 4096 /* bytes of queue kept for control frames past max_queue */
#define WS_FRAME_HEADER    14   /* the most header bytes a frame can have */

struct ws;

enum ws_role {
    WS_SERVER, /* requires masked frames from the peer, sends unmasked ones */
    WS_CLIENT, /* the reverse: for tests and benchmarks */
};

struct ws_config {
    enum ws_role role;
    size_t max_message; /* bytes in one assembled message (text; binary unless streamed) */
    size_t max_queue;   /* bytes of queued data frames before ws_send says -ENOBUFS */
    bool stream_binary; /* deliver binary messages in pieces as they arrive, unassembled */
};

enum ws_type {
    WS_NONE = 0,   /* no event: feed more bytes */
    WS_TEXT = 1,   /* a complete, valid UTF-8 text message */
    WS_BINARY = 2, /* a binary message, or with stream_binary a piece of one */
    WS_CLOSE = 8,  /* the peer closed; the reply is already queued */
    WS_PING = 9,   /* a ping (the pong is already queued) */
    WS_PONG = 10,  /* a pong */
};

struct ws_event {
    enum ws_type type;
    const uint8_t *data; /* payload: in your buffer or ours; valid until the next
                          * ws_feed() or ws_free(), and while you keep the bytes you fed */
    size_t len;          /* bytes at data */
    bool fin;            /* last piece of the message (always true except streamed pieces) */
    uint16_t code;       /* WS_CLOSE: the peer's status code, 1005 when it sent none */
};

/* Checks a client's opening handshake, given the values of its Upgrade, Connection,
 * Sec-WebSocket-Version and Sec-WebSocket-Key headers (NULL when absent), and writes the
 * Sec-WebSocket-Accept value to ret_accept. Returns 0; -EINVAL (answer 400) with a static
 * reason; -EPROTONOSUPPORT (answer 426 with "Sec-WebSocket-Version: 13") for a version
 * other than 13. The caller still checks the method (GET) and the Origin. */
int ws_handshake(const char *upgrade, const char *connection, const char *version, const char *key,
                 char ret_accept[WS_ACCEPT_SIZE], const char **ret_reason);

/* Sec-WebSocket-Accept for key: base64(SHA-1(key + the RFC's GUID)). */
void ws_accept_key(const char *key, char ret[WS_ACCEPT_SIZE]);

/* Creates a connection state. -EINVAL for a zero limit, -ENOMEM. Caller owns *ret. */
int ws_new(const struct ws_config *cfg, struct ws **ret);
/* Frees; accepts NULL. Does not close any fd. */
void ws_free(struct ws *ws);

/* Parses received bytes. Uses a prefix of data (*ret_used bytes, unmasking it in place:
 * data is modified) and fills *ret_ev with at most one event (type WS_NONE when the bytes
 * only advanced a frame). Returns 0, or a protocol error as described above (the close
 * frame is queued; stop feeding). Bytes fed after the peer's close are ignored. */
int ws_feed(struct ws *ws, void *data, size_t len, size_t *ret_used, struct ws_event *ret_ev);

/* Queues one message (WS_TEXT, WS_BINARY, WS_PING or WS_PONG) as a single frame. Text must
 * be valid UTF-8 (the caller's duty: we send JSON made by jansson). Returns 0; -ENOBUFS when
 * the queue has no room (nothing queued); -EMSGSIZE for a control payload over 125 bytes;
 * -EPIPE after a close was sent; -EINVAL for another type. */
int ws_send(struct ws *ws, enum ws_type type, const void *data, size_t len);

/* Queues a close frame with code (1000 normal, 1001 going away, 1008 policy...) and a
 * reason (may be NULL; cut to 123 bytes). Only the first close is sent; later calls are
 * no-ops. Returns 0. */
int ws_close(struct ws *ws, uint16_t code, const char *reason);

/* Bytes waiting in the output queue. */
size_t ws_queued(const struct ws *ws);
/* Payload bytes a ws_send(WS_BINARY, ...) could queue right now. */
size_t ws_send_room(const struct ws *ws);
/* The queued bytes (one contiguous run); then ws_out_done(ws, n) after writing n of them. */
void ws_out(const struct ws *ws, const void **ret_data, size_t *ret_len);
void ws_out_done(struct ws *ws, size_t n);
/* Writes queued bytes to fd (send with MSG_NOSIGNAL, or write for a non-socket) until it
 * would block. Returns 0 when the queue is empty, -EAGAIN when bytes remain (wait for
 * EPOLLOUT), or -errno for a dead connection. */
int ws_flush(struct ws *ws, int fd);

/* True when the conversation is over: our close is queued and the peer's close arrived
 * or a protocol error occurred. Flush, then close the fd. */
bool ws_finished(const struct ws *ws);

#endif
