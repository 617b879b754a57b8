/* http server: libmicrohttpd glue, bounded bodies, security headers, access log. */
#include "http/server.h"

#include "base/log.h"
#include "base/metrics.h"
#include "http/peraddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct http_server {
    struct MHD_Daemon *daemon;
    http_handler_fn handler;
    void *ctx;
    struct http_config cfg;
    uint16_t port;
    struct peraddr *per_addr; /* requests in flight per forwarded address, or NULL */
};

/* Per-request strings that accessors hand out (decoded query values). */
struct req_state {
    struct http_req req;
    bool dispatched;
    bool counted; /* in srv->per_addr */
    char *owned[8];
    size_t nowned;
};

static const char *const security_headers[] = {
    "Content-Security-Policy",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options",
    "nosniff",
    "Referrer-Policy",
    "no-referrer",
    "X-Frame-Options",
    "DENY",
    "Cross-Origin-Opener-Policy",
    "same-origin",
    NULL,
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* libmicrohttpd would decode %00 into a string terminator; keep URLs raw instead. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *http_unescape(const char *src, size_t len, bool plus_is_space)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(src[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(src[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0') {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

const char *http_req_header(struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(struct http_req *req, const char *name)
{
    struct req_state *st = (struct req_state *)req;
    const char *raw = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!raw)
        return NULL;
    if (st->nowned == sizeof(st->owned) / sizeof(st->owned[0]))
        return NULL;
    char *v = http_unescape(raw, strlen(raw), true);
    if (v)
        st->owned[st->nowned++] = v;
    return v;
}

static void add_headers(struct MHD_Response *r, const char *const *h)
{
    for (size_t i = 0; h && h[i] && h[i + 1]; i += 2)
        MHD_add_response_header(r, h[i], h[i + 1]);
}

static int queue(struct http_req *req, int status, struct MHD_Response *r,
                 const char *const *headers)
{
    if (!r)
        return -ENOMEM;
    add_headers(r, security_headers);
    add_headers(r, headers);
    MHD_add_response_header(r, "X-Request-Id", req->id);
    enum MHD_Result ok = MHD_queue_response(req->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    if (ok != MHD_YES)
        return -EIO;
    req->status = status;
    return 0;
}

int http_reply(struct http_req *req, int status, const char *content_type, const void *data,
               size_t len, const char *const *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (r && content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    return queue(req, status, r, headers);
}

int http_reply_json(struct http_req *req, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return http_reply(req, 500, "application/json",
                          "{\"error\":{\"code\":\"internal\",\"message\":\"encoding failed\"}}", 62,
                          NULL);
    static const char *const nocache[] = {"Cache-Control", "no-store", NULL};
    size_t len = strlen(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return -ENOMEM;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    return queue(req, status, r, nocache);
}

int http_reply_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return http_reply_json(req, status,
                           json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

int http_reply_empty(struct http_req *req, int status)
{
    return http_reply(req, status, NULL, "", 0, NULL);
}

struct stream {
    http_stream_fn fn;
    http_free_fn free_fn;
    void *ctx;
};

static ssize_t stream_cb(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *s = cls;
    ssize_t n = s->fn(s->ctx, pos, out, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    if (s->free_fn)
        s->free_fn(s->ctx);
    free(s);
}

int http_reply_stream(struct http_req *req, int status, const char *content_type, http_stream_fn fn,
                      void *ctx, http_free_fn free_fn, const char *const *headers)
{
    struct stream *s = calloc(1, sizeof(*s));
    if (!s) {
        if (free_fn)
            free_fn(ctx);
        return -ENOMEM;
    }
    s->fn = fn;
    s->ctx = ctx;
    s->free_fn = free_fn;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_cb, s, stream_free);
    if (!r) {
        stream_free(s);
        return -ENOMEM;
    }
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    return queue(req, status, r, headers);
}

struct upgrade {
    http_upgrade_fn fn;
    void *ctx;
};

static void upgrade_cb(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)c;
    (void)con_cls;
    struct upgrade u = *(struct upgrade *)cls;
    free(cls);
    int one = 1;
    /* Keystrokes are tiny writes: without NODELAY, Nagle adds tens of ms of echo latency. */
    (void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    u.fn(u.ctx, sock, urh, extra, extra_in_size);
}

void http_upgrade_close(void *handle)
{
    MHD_upgrade_action(handle, MHD_UPGRADE_ACTION_CLOSE);
}

int http_reply_upgrade(struct http_req *req, http_upgrade_fn fn, void *ctx,
                       const char *const *headers)
{
    /* Freed by upgrade_cb, which libmicrohttpd calls once after sending the 101. */
    struct upgrade *u = malloc(sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->fn = fn;
    u->ctx = ctx;
    struct MHD_Response *r = MHD_create_response_for_upgrade(upgrade_cb, u);
    if (!r) {
        free(u);
        return -ENOMEM;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    add_headers(r, headers);
    enum MHD_Result ok = MHD_queue_response(req->conn, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    if (ok != MHD_YES)
        return -EIO;
    req->status = 101;
    return 0;
}

static void new_id(char out[17])
{
    unsigned char raw[8];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 17, raw, sizeof(raw));
}

static void remote_addr(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

/* Behind a proxy that appends the address it saw (nginx: $proxy_add_x_forwarded_for), the
 * last entry of X-Forwarded-For is the client; earlier entries are the client's own words. */
static void forwarded_for(struct MHD_Connection *c, char *out, size_t len)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!h)
        return;
    const char *last = strrchr(h, ',');
    last = last ? last + 1 : h;
    while (*last == ' ')
        last++;
    size_t n = strcspn(last, " ");
    unsigned char bin[sizeof(struct in6_addr)];
    char addr[64];
    if (n == 0 || n >= sizeof(addr))
        return;
    memcpy(addr, last, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1)
        snprintf(out, len, "%s", addr);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        /* First call: headers only. Answering here would lose keep-alive, so only an
         * announced oversized body is refused before it is read. */
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        *con_cls = st;
        struct http_req *req = &st->req;
        req->conn = c;
        req->method = method;
        req->path = url;
        req->started_us = now_us();
        buf_init(&req->body, srv->cfg.max_body);
        new_id(req->id);
        remote_addr(c, req->remote, sizeof(req->remote));
        if (srv->cfg.trust_proxy)
            forwarded_for(c, req->remote, sizeof(req->remote));
        if (srv->per_addr) {
            st->counted = peraddr_take(srv->per_addr, req->remote);
            if (!st->counted) {
                http_reply_error(req, 429, "rate_limited",
                                 "too many requests in flight from your address");
                st->dispatched = true;
                return MHD_YES;
            }
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
            req->too_large = true;
            http_reply_error(req, 413, "too_large", "request body is larger than %zu bytes",
                             srv->cfg.max_body);
            st->dispatched = true;
        }
        return MHD_YES;
    }
    struct http_req *req = &st->req;
    if (*upload_data_size) {
        if (!req->too_large && buf_append(&req->body, upload_data, *upload_data_size) < 0) {
            req->too_large = true;
            buf_done(&req->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->dispatched)
        return MHD_YES;
    st->dispatched = true;
    if (req->too_large) {
        http_reply_error(req, 413, "too_large", "request body is larger than %zu bytes",
                         srv->cfg.max_body);
        return MHD_YES;
    }
    srv->handler(req, srv->ctx);
    if (req->status == 0)
        http_reply_error(req, 500, "internal", "the request was not answered");
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return;
    struct http_req *req = &st->req;
    metrics_http_request(req->method, req->route, req->status, now_us() - req->started_us);
    if (srv->cfg.access_log) {
        json_t *f = json_pack("{s:s,s:s,s:s,s:i,s:f,s:s}", "request_id", req->id, "method",
                              req->method, "path", req->path, "status", req->status, "duration_ms",
                              (double)(now_us() - req->started_us) / 1000.0, "remote", req->remote);
        if (f && req->user_id)
            json_object_set_new(f, "user_id", json_integer(req->user_id));
        if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            json_object_set_new(f, "aborted", json_true());
        log_event(LOG_INFO, "request", f);
    }
    if (st->counted)
        peraddr_give(srv->per_addr, req->remote);
    buf_done(&req->body);
    for (size_t i = 0; i < st->nowned; i++)
        free(st->owned[i]);
    free(st);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_event(LOG_WARN, "http", json_pack("{s:s}", "detail", msg));
}

int http_server_start(const struct http_config *cfg, http_handler_fn handler, void *ctx,
                      struct http_server **ret, struct err *err)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return err_set(err, ENOMEM, "allocate server");
    srv->handler = handler;
    srv->ctx = ctx;
    srv->cfg = *cfg;
    /* Behind a proxy every connection comes from the proxy's address: count the clients'
     * requests by their forwarded address instead (http/peraddr.h). */
    if (cfg->trust_proxy && cfg->max_per_ip && !(srv->per_addr = peraddr_new(cfg->max_per_ip))) {
        free(srv);
        return err_set(err, ENOMEM, "allocate server");
    }

    struct sockaddr_storage ss = {0};
    socklen_t sslen;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->listen_host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(cfg->listen_port);
        sslen = sizeof(*v4);
    } else if (inet_pton(AF_INET6, cfg->listen_host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(cfg->listen_port);
        sslen = sizeof(*v6);
        flags |= MHD_USE_IPv6;
    } else {
        peraddr_free(srv->per_addr);
        free(srv);
        return err_set(err, EINVAL, "listen address '%s' is not a numeric IP address",
                       cfg->listen_host);
    }
    (void)sslen;
    srv->daemon = MHD_start_daemon(
        flags, cfg->listen_port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        1024u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->trust_proxy ? 0u : cfg->max_per_ip,
        MHD_OPTION_END);
    if (!srv->daemon) {
        peraddr_free(srv->per_addr);
        free(srv);
        return err_set(err, EADDRINUSE, "cannot listen on %s:%u", cfg->listen_host,
                       cfg->listen_port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->listen_port;
    *ret = srv;
    return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    /* Stop accepting first, then wait for the connection threads to finish. */
    MHD_quiesce_daemon(srv->daemon);
    MHD_stop_daemon(srv->daemon);
    peraddr_free(srv->per_addr);
    free(srv);
}
