/*
 * http server: libmicrohttpd underneath, requests handed to one handler function.
 *
 * Theory of operation. Connections cost memory, not threads. libmicrohttpd runs in its
 * epoll mode on a small fixed set of loop threads (loop_threads), each owning its share of
 * the connections. The loops never block: a request whose handler may block (a store
 * call, argon2id, anything but the cheap routes that http_config.inline_ok names) is
 * suspended (MHD_suspend_connection) and handed to a bounded pool of worker threads
 * (workers, with at most queue requests waiting; 503 beyond). The worker runs the handler,
 * whose answer is kept with the request; the connection is then resumed and its loop thread
 * sends the answer. A handler may also defer its answer (http_req_defer) and have it
 * finished later from any thread (http_req_continue), so a long wait (a run with ?wait=1)
 * holds no thread at all.
 *
 * Streaming bodies (Server-Sent Events) are http_stream objects: producers push bytes
 * into them from any thread, or the stream pulls from a fill function; the loop writes
 * them. While a stream has nothing to send its connection is suspended, and a housekeeping
 * thread (one per server, ticking every HTTP_TICK_MS) writes the keepalive text and notices
 * a client that has gone (its socket is polled for hang-up), which ends the stream at once.
 *
 * Deadlines, not idle timers: the same thread drops a connection whose request headers are
 * not complete header_timeout seconds after it connected (or after its previous answer,
 * for a kept-alive connection), and one whose body arrives slower than min_body_rate bytes
 * per second on average once header_timeout has passed; it answers 408 and logs one line.
 * Upgraded (WebSocket) connections belong to their own loop after the 101 (http/ws.h).
 *
 * Strict parsing (http/reqcheck.h): conflicting framing headers, HTTP/1.1 without Host, a
 * query with more than max_query_params parameters each get one 400 and a closed
 * connection.
 *
 * The body is read into a bounded buffer (max_body bytes; 413 beyond, decided from
 * Content-Length before reading when it is given). The URL is NOT percent-decoded by the
 * server (libmicrohttpd would turn %00 into a C string terminator): handlers decode what
 * they use, with path rules that refuse NUL. Each request gets a random id for the logs.
 *
 * A handler answers exactly once with one of the http_reply_* functions; if it returns
 * without answering (and without deferring), the server answers 500. Every response
 * carries the security headers.
 */
#ifndef PYROOM_HTTP_SERVER_H
#define PYROOM_HTTP_SERVER_H

#include "base/buf.h"
#include "base/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;
struct http_server;

#define HTTP_MAX_PARAMS 4

struct http_req {
    struct MHD_Connection *conn;
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* raw (still percent-encoded) path, without the query */
    struct buf body;    /* request body, at most max_body bytes */
    char id[17];        /* request id, hex */
    char remote[64];    /* client address, text */
    int64_t user_id;    /* set by the API layer for the access log; 0 when anonymous */
    int status;         /* status answered, 0 until then */
    bool too_large;     /* body exceeded max_body */
    const char *param[HTTP_MAX_PARAMS]; /* route parameters (raw), set by the router */
    size_t nparam;
    const char *rest;    /* route's trailing wildcard (raw), or NULL */
    const char *route;   /* route template that matched (a literal), or NULL */
    char param_buf[256]; /* storage of param[] (NUL-separated copies) */
    int64_t started_us;  /* monotonic start time, microseconds */
};

typedef void (*http_handler_fn)(struct http_req *req, void *ctx);

/* Told once per request when it ends, on a loop thread: the route template the handler
 * named with http_req_set_route (NULL when none), the status answered (0 when the client
 * went away before an answer), and the duration. For metrics; must not block. */
typedef void (*http_done_fn)(void *ctx, const struct http_req *req, const char *route, int status,
                             double duration_ms);

/* Called on a loop thread with the upgraded socket, after the 101 answer (must not block). The
 * callee owns the fd until it calls http_upgrade_close(handle). extra holds bytes the client
 * already sent after the request (usually none). */
typedef void (*http_upgrade_fn)(void *ctx, int fd, void *handle, const char *extra,
                                size_t extra_len);

struct http_config {
    const char *listen_host; /* numeric IPv4 or IPv6 address */
    uint16_t listen_port;
    size_t max_body;             /* bytes */
    unsigned max_connections;    /* concurrent connections */
    unsigned connection_timeout; /* seconds of silence while an answer is being written */
    unsigned header_timeout;     /* seconds to send complete request headers (0: none) */
    unsigned min_body_rate;      /* bytes/s a body must average after header_timeout */
    unsigned max_query_params;   /* parameters in a query string (400 beyond) */
    size_t connection_memory;    /* libmicrohttpd's buffer per connection, bytes */
    unsigned loop_threads;       /* libmicrohttpd event loops */
    unsigned workers;            /* threads running handlers that may block */
    unsigned queue;              /* requests waiting for a worker (503 beyond) */
    bool access_log;             /* one JSON line per request */
    bool trust_proxy;            /* client address from the last X-Forwarded-For entry */
    /* Open connections per client address, 0: no limit. Behind --trust-proxy the address is
     * the forwarded one and the cap counts its open requests (a proxy's own address would
     * otherwise be capped for everyone behind it). */
    unsigned max_per_ip;
    /* Cheap routes run on the loop thread itself (health, the page's files); NULL: none. */
    bool (*inline_ok)(const char *method, const char *path);
    http_done_fn on_done; /* may be NULL */
    void *on_done_ctx;
};

int http_server_start(const struct http_config *cfg, http_handler_fn handler, void *ctx,
                      struct http_server **ret, struct err *err);
/* Stops accepting, lets the handlers running finish and joins the workers (no handler
 * runs after it returns), ends the streams and answers deferred requests 503, waits a
 * moment for those answers to leave. Connections (upgraded ones included) stay open until
 * http_server_stop. Accepts NULL; a second call does nothing. */
void http_server_quiesce(struct http_server *srv);
/* Quiesces (if not yet), closes every connection, frees. Accepts NULL. */
void http_server_stop(struct http_server *srv);
/* The port actually bound (useful with port 0). */
uint16_t http_server_port(const struct http_server *srv);

/* Server figures (open connections, open streams, requests waiting for a worker). */
struct http_stats {
    unsigned connections;
    unsigned streams;
    unsigned queued;
    unsigned workers_busy;
};
void http_server_stats(struct http_server *srv, struct http_stats *ret);

/* Request accessors. Strings are owned by the request and live until it ends. */
const char *http_req_header(struct http_req *req, const char *name);
/* A query argument, percent-decoded; NULL when absent or when it holds a NUL byte. */
const char *http_req_query(struct http_req *req, const char *name);

/* Answers. Each returns 0, or -errno when the answer could not be queued. */
int http_reply(struct http_req *req, int status, const char *content_type, const void *data,
               size_t len, const char *const *headers);
/* Takes ownership of body (a json_t reference). */
int http_reply_json(struct http_req *req, int status, json_t *body);
int http_reply_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int http_reply_empty(struct http_req *req, int status);

/* Names the route template for the completion hook (a literal that outlives the request). */
void http_req_set_route(struct http_req *req, const char *route);

/* Keeps req open after its handler returns, holding no thread: the handler arranges for
 * http_req_continue(req, ...) to be called exactly once later, from any thread. */
void http_req_defer(struct http_req *req);
/* Runs fn(req, ctx) on a worker to answer a deferred request. */
void http_req_continue(struct http_req *req, http_handler_fn fn, void *ctx);
/* For a deferred request: fn(ctx) is called at most once, on the housekeeping thread
 * (within about HTTP_TICK_MS), when its client hangs up (or half-closes its socket) before
 * http_req_continue is called; never once http_req_continue has begun. It runs with the
 * request's lock held (http_req_continue waits for it): it must be quick, must not block
 * and must not call http_* functions on req. The request must still be continued. */
void http_req_on_gone(struct http_req *req, void (*fn)(void *ctx), void *ctx);

/* ---- streaming bodies ---------------------------------------------------------------- */

struct http_stream;

/* Pull mode: copy up to max bytes into out and return how many, 0 when there is nothing
 * now (call http_stream_wake when there is), HTTP_FILL_END when the body is complete,
 * HTTP_FILL_FAILED when it cannot be completed (see http_stream_fail). After a non-empty
 * answer it is called again before the stream waits for a wake. Called on a loop thread
 * with no lock of the stream held; must not block. */
#define HTTP_FILL_END    (-1)
#define HTTP_FILL_FAILED (-2)
typedef ssize_t (*http_fill_fn)(void *ctx, char *out, size_t max);
/* Called once when the stream is over for the server (client gone, body ended, server
 * stopping), on a loop thread; writes after it fail with -EPIPE. The producer still drops
 * its reference with http_stream_unref. */
typedef void (*http_close_fn)(void *ctx);

struct http_stream_config {
    size_t max_queue;       /* bytes waiting to be sent; http_stream_write fails beyond */
    unsigned keepalive_ms;  /* send keepalive after this long without output (0: never) */
    const char *keepalive;  /* the keepalive text, e.g. ":\n\n" for SSE */
    http_fill_fn fill;      /* pull mode (may be NULL: push only) */
    http_close_fn on_close; /* may be NULL */
    void *ctx;              /* for fill and on_close */
};

/* Answers req with status and a body that stays open. On success *ret holds a reference
 * for the caller (the producer). */
int http_reply_stream(struct http_req *req, int status, const char *content_type,
                      const struct http_stream_config *cfg, const char *const *headers,
                      struct http_stream **ret);
/* Queues bytes, from any thread: 0, -ENOBUFS when they would pass max_queue (nothing is
 * queued), -EPIPE when the stream is over. force ignores max_queue (a short notice). */
int http_stream_write(struct http_stream *s, const void *data, size_t len, bool force);
/* Tells a pull-mode stream that its fill function has something, from any thread. */
void http_stream_wake(struct http_stream *s);
/* Ends the body once what is queued is sent, from any thread. */
void http_stream_end(struct http_stream *s);
/* Ends it as failed, from any thread: what is queued is sent, then the connection closes
 * without the body's end (no last chunk), so the client sees a truncated transfer instead
 * of a complete body. For a producer that cannot finish what it started (a zip whose end
 * record will never come). */
void http_stream_fail(struct http_stream *s);
void http_stream_unref(struct http_stream *s);
int http_reply_upgrade(struct http_req *req, http_upgrade_fn fn, void *ctx,
                       const char *const *headers);
/* Ends an upgraded connection and releases its socket. */
void http_upgrade_close(void *handle);

/* Decodes %XX escapes (and '+' as space when plus_is_space, for query strings) of
 * src[0..len) into a new NUL-terminated string; NULL when malformed or when the result would
 * contain a NUL byte. Caller frees. */
char *http_unescape(const char *src, size_t len, bool plus_is_space);

#endif
