/*
 * http server: libmicrohttpd underneath, requests handed to one handler function.
 *
 * Theory of operation. libmicrohttpd runs one thread per connection (bounded by
 * max_connections). We chose that over its epoll thread pool because our handlers block
 * by design: argon2id takes ~90 ms, `?wait=1` runs last seconds, and Server-Sent Event
 * streams wait for output. In a pool, one such handler would stall every other connection
 * that shares its thread. Keep-alive connections keep their thread, so the per-request
 * cost stays small.
 *
 * The body is read into a bounded buffer (max_body bytes; 413 beyond, decided from
 * Content-Length before reading when it is given). The URL is NOT percent-decoded by the
 * server (libmicrohttpd would turn %00 into a C string terminator): handlers decode what
 * they use, with path rules that refuse NUL. Each request gets a random id for the logs.
 *
 * A handler answers exactly once with one of the http_reply_* functions; if it returns
 * without answering, the server answers 500. Every response carries the security headers.
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
    const char *route;   /* the route template that matched (metrics label), or NULL */
    char param_buf[256]; /* storage of param[] (NUL-separated copies) */
    int64_t started_us;  /* monotonic start time, microseconds */
};

typedef void (*http_handler_fn)(struct http_req *req, void *ctx);

/* Streaming body producer: write at most max bytes into out and return how many; return 0
 * to be called again later (it may block for a while, we are on the connection's own
 * thread), or -1 to end the body. */
typedef ssize_t (*http_stream_fn)(void *ctx, uint64_t pos, char *out, size_t max);
typedef void (*http_free_fn)(void *ctx);

/* Called on its own thread with the upgraded socket, after the 101 answer. The callee owns
 * the fd until it calls http_upgrade_close(handle). extra holds bytes the client already
 * sent after the request (usually none). */
typedef void (*http_upgrade_fn)(void *ctx, int fd, void *handle, const char *extra,
                                size_t extra_len);

struct http_config {
    const char *listen_host; /* numeric IPv4 or IPv6 address */
    uint16_t listen_port;
    size_t max_body;             /* bytes */
    unsigned max_connections;    /* concurrent connections (= threads) */
    unsigned connection_timeout; /* seconds of inactivity before a connection is closed */
    bool access_log;             /* one JSON line per request */
    bool trust_proxy;            /* client address from the last X-Forwarded-For entry */
    unsigned max_per_ip;         /* connections per client address, 0: no limit */
};

int http_server_start(const struct http_config *cfg, http_handler_fn handler, void *ctx,
                      struct http_server **ret, struct err *err);
/* Stops accepting, lets in-flight requests finish, frees. Accepts NULL. */
void http_server_stop(struct http_server *srv);
/* The port actually bound (useful with port 0). */
uint16_t http_server_port(const struct http_server *srv);

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
int http_reply_stream(struct http_req *req, int status, const char *content_type, http_stream_fn fn,
                      void *ctx, http_free_fn free_fn, const char *const *headers);
int http_reply_upgrade(struct http_req *req, http_upgrade_fn fn, void *ctx,
                       const char *const *headers);
/* Ends an upgraded connection and releases its socket. */
void http_upgrade_close(void *handle);

/* Decodes %XX escapes (and '+' as space when plus_is_space, for query strings) of
 * src[0..len) into a new NUL-terminated string; NULL when malformed or when the result would
 * contain a NUL byte. Caller frees. */
char *http_unescape(const char *src, size_t len, bool plus_is_space);

#endif
