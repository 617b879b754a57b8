/* http server: libmicrohttpd in epoll mode, a worker pool, streams, deadlines; see server.h. */
#include "http/server.h"

#include "base/log.h"
#include "base/metrics.h"
#include "http/peraddr.h"
#include "http/reqcheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_TICK_MS   250         /* housekeeping: deadlines, keepalives, hung-up streams */
#define HTTP_DRAIN_MS  1000        /* at shutdown, for open requests to finish */
#define UPGRADE_SNDBUF (128 << 10) /* bytes: kernel send buffer of an upgraded socket */

/* Lock order (a thread holding one may take those after it, never before):
 *   stream->mu, req_state->mu  ->  libmicrohttpd's own locks (suspend/resume)
 *   srv->mu is never held while calling into libmicrohttpd: it calls our completion
 *   callback with its locks held, and that callback takes srv->mu. */

/* One TCP connection (libmicrohttpd's socket context), for the deadlines. */
enum conn_phase {
    PH_HEADERS, /* waiting for complete request headers */
    PH_BODY,    /* receiving a request body */
    PH_BUSY,    /* being answered: no deadline */
};

struct conn {
    int fd;
    enum conn_phase phase;
    int64_t phase_us;    /* monotonic start of the phase */
    uint64_t body_bytes; /* received in PH_BODY */
    bool dropped;        /* a deadline passed: shut down, waiting for the close */
    unsigned served;     /* requests completed on it (kept alive) */
    char remote[64];
    struct conn *prev, *next;
};

struct job {
    struct req_state *st;
    http_handler_fn fn;
    void *ctx;
    struct job *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    http_handler_fn handler;
    void *ctx;
    struct http_config cfg;
    uint16_t port;
    pthread_mutex_t mu; /* conns, streams, addresses, the job queue, refs */
    pthread_cond_t job_cv;
    pthread_cond_t tick_cv;
    struct conn *conns;
    unsigned nconns;
    struct http_stream *streams;
    unsigned nstreams;
    struct req_state *reqs;   /* every live request, for the shutdown */
    struct peraddr *per_addr; /* requests in flight per forwarded address, or NULL */
    struct job *jobs, *jobs_tail;
    unsigned njobs;
    unsigned busy;
    unsigned refs; /* the owner's and one per deferred request */
    bool stopping;
    bool quiesced; /* http_server_quiesce ran (the owner's thread only) */
    pthread_t *workers;
    unsigned nworkers;
    pthread_t housekeeper;
    bool housekeeper_started;
};

/* One request. Shared by libmicrohttpd (until the completion callback) and by the worker
 * or deferral that answers it. */
struct req_state {
    struct http_req req;
    struct http_server *srv;
    struct conn *conn;
    pthread_mutex_t mu;
    unsigned refs;   /* libmicrohttpd's, plus one while a worker or deferral holds it */
    bool started;    /* the headers have been seen */
    bool dispatched; /* the handler was called (or the request refused) */
    unsigned defers; /* http_req_defer calls: a turn that made one leaves the answer to
                      * the continuation (which may already be running elsewhere) */
    bool suspended;  /* the connection is suspended for a worker */
    bool terminated; /* libmicrohttpd is done with it */
    bool too_many_params;
    bool too_large;            /* the body passed max_body: answered 413 once it is in */
    uint64_t dropped;          /* body bytes read and dropped after that */
    bool counted;              /* counted in srv->per_addr under req.remote */
    struct MHD_Response *resp; /* the answer, waiting to be queued by the loop */
    unsigned resp_status;
    char *owned[8];
    size_t nowned;
    struct req_state *prev, *next; /* srv->reqs, under srv->mu */
};

struct http_stream {
    pthread_mutex_t mu;
    struct http_server *srv;
    struct MHD_Connection *c;
    int fd;
    struct http_stream_config cfg;
    struct buf q;    /* bytes to send */
    size_t pos;      /* bytes of q sent */
    bool suspended;  /* our reader suspended the connection */
    bool pending;    /* woken since the last fill */
    bool ended;      /* the producer ended the body */
    bool gone;       /* the client hung up: end with an error */
    bool closed;     /* the server is done with it */
    int64_t last_us; /* last output */
    unsigned refs;   /* the producer's and the response's */
    struct http_stream *prev, *next;
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

/* Keeps the answer with the request; the loop thread queues it (libmicrohttpd wants
 * responses queued from the connection's own thread or while it is suspended, and we
 * keep one rule for both). A second answer is refused. */
static int stash(struct http_req *req, unsigned status, struct MHD_Response *r)
{
    struct req_state *st = (struct req_state *)req;
    if (!r)
        return -ENOMEM;
    pthread_mutex_lock(&st->mu);
    bool taken = st->resp != NULL;
    if (!taken) {
        st->resp = r;
        st->resp_status = status;
        req->status = (int)status;
    }
    pthread_mutex_unlock(&st->mu);
    if (taken) {
        MHD_destroy_response(r);
        return -EALREADY;
    }
    return 0;
}

static int queue(struct http_req *req, int status, struct MHD_Response *r,
                 const char *const *headers)
{
    if (!r)
        return -ENOMEM;
    add_headers(r, security_headers);
    add_headers(r, headers);
    MHD_add_response_header(r, "X-Request-Id", req->id);
    return stash(req, (unsigned)status, r);
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

void http_req_set_route(struct http_req *req, const char *route)
{
    req->route = route;
}

/* ---- streams ------------------------------------------------------------------------- */

void http_stream_unref(struct http_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last)
        return;
    buf_done(&s->q);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Resumes the connection if our reader suspended it. Called with s->mu held. */
static void stream_kick(struct http_stream *s)
{
    if (s->suspended && !s->closed) {
        s->suspended = false;
        MHD_resume_connection(s->c);
    }
}

int http_stream_write(struct http_stream *s, const void *data, size_t len, bool force)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->closed || s->ended || s->gone) {
        rc = -EPIPE;
    } else {
        if (s->pos && s->pos == s->q.len) {
            buf_reset(&s->q);
            s->pos = 0;
        }
        size_t waiting = s->q.len - s->pos;
        if (!force && waiting + len > s->cfg.max_queue) {
            rc = -ENOBUFS;
        } else {
            if (s->q.len + len > s->q.max && s->pos) {
                /* Make room by dropping what was sent. */
                memmove(s->q.data, s->q.data + s->pos, waiting);
                s->q.len = waiting;
                s->pos = 0;
            }
            if (s->q.len + len > s->q.max)
                s->q.max = s->q.len + len; /* forced: a short notice past the soft cap */
            rc = buf_append(&s->q, data, len) < 0 ? -ENOMEM : 0;
        }
        if (rc == 0)
            stream_kick(s);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void http_stream_wake(struct http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->pending = true;
    stream_kick(s);
    pthread_mutex_unlock(&s->mu);
}

void http_stream_end(struct http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->ended = true;
    stream_kick(s);
    pthread_mutex_unlock(&s->mu);
}

/* libmicrohttpd's content reader, on the connection's loop thread. Never returns 0
 * without suspending the connection: a 0 alone would stall it (it waits for no event). */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_stream *s = cls;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (s->gone) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (s->pos < s->q.len) {
            size_t k = s->q.len - s->pos;
            if (k > max)
                k = max;
            memcpy(out, s->q.data + s->pos, k);
            s->pos += k;
            s->last_us = now_us();
            pthread_mutex_unlock(&s->mu);
            return (ssize_t)k;
        }
        if (s->ended) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->cfg.fill && s->pending) {
            s->pending = false;
            pthread_mutex_unlock(&s->mu);
            ssize_t n = s->cfg.fill(s->cfg.ctx, out, max);
            if (n < 0) {
                http_stream_end(s);
                continue; /* send what producers queued meanwhile, then end */
            }
            if (n > 0) {
                /* It may have more (or its end) without another wake: ask again next. */
                pthread_mutex_lock(&s->mu);
                s->last_us = now_us();
                s->pending = true;
                pthread_mutex_unlock(&s->mu);
                return n;
            }
            continue; /* nothing: look again (a wake may have come meanwhile) */
        }
        s->suspended = true;
        MHD_suspend_connection(s->c);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
}

/* The response is destroyed: the server is done with the stream. */
static void stream_free(void *cls)
{
    struct http_stream *s = cls;
    struct http_server *srv = s->srv;
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    s->suspended = false;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&srv->mu);
    if (s->prev)
        s->prev->next = s->next;
    else if (srv->streams == s)
        srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    srv->nstreams--;
    pthread_mutex_unlock(&srv->mu);
    if (s->cfg.on_close)
        s->cfg.on_close(s->cfg.ctx);
    http_stream_unref(s);
}

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

int http_reply_stream(struct http_req *req, int status, const char *content_type,
                      const struct http_stream_config *cfg, const char *const *headers,
                      struct http_stream **ret)
{
    struct req_state *st = (struct req_state *)req;
    struct http_server *srv = st->srv;
    struct http_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->srv = srv;
    s->c = req->conn;
    s->fd = conn_fd(req->conn);
    s->cfg = *cfg;
    s->cfg.on_close = NULL; /* set once the answer is ours: a failed reply closes nothing */
    s->pending = cfg->fill != NULL;
    s->last_us = now_us();
    s->refs = 2; /* the producer's and the response's */
    buf_init(&s->q, cfg->max_queue + 4096);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, stream_free);
    if (!r) {
        buf_done(&s->q);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -ENOMEM;
    }
    pthread_mutex_lock(&srv->mu);
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;
    srv->nstreams++;
    pthread_mutex_unlock(&srv->mu);
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    /* From here the response owns one reference: destroying it (queued or not) runs
     * stream_free. */
    int rc = queue(req, status, r, headers);
    if (rc < 0) {
        http_stream_unref(s);
        return rc;
    }
    s->cfg.on_close = cfg->on_close;
    *ret = s;
    return 0;
}

/* ---- upgrades ------------------------------------------------------------------------ */

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
    /* A fixed send buffer: the kernel's autotuning lets a stalled reader's socket hold
     * megabytes (seen: ~4 MiB behind a terminal flood, which a Ctrl-C then had to wait
     * for). Output waits in the owner's bounded queue instead, where it is dropped or
     * paused by policy. */
    int sndbuf = UPGRADE_SNDBUF;
    (void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
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
    int rc = stash(req, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    if (rc < 0)
        free(u);
    return rc;
}

/* ---- addresses ----------------------------------------------------------------------- */

static void new_id(char out[17])
{
    unsigned char raw[8];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 17, raw, sizeof(raw));
}

static void sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static void remote_addr(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    sockaddr_text(ci ? ci->client_addr : NULL, out, len);
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

/* ---- requests ------------------------------------------------------------------------ */

static struct req_state *req_new(struct http_server *srv)
{
    struct req_state *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->srv = srv;
    st->refs = 1;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_lock(&srv->mu);
    st->next = srv->reqs;
    if (srv->reqs)
        srv->reqs->prev = st;
    srv->reqs = st;
    pthread_mutex_unlock(&srv->mu);
    return st;
}

static void req_unref(struct req_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool last = --st->refs == 0;
    pthread_mutex_unlock(&st->mu);
    if (!last)
        return;
    struct http_server *srv = st->srv;
    pthread_mutex_lock(&srv->mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        srv->reqs = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&srv->mu);
    if (st->resp)
        MHD_destroy_response(st->resp);
    buf_done(&st->req.body);
    for (size_t i = 0; i < st->nowned; i++)
        free(st->owned[i]);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

static void server_unref(struct http_server *srv);

/* Called by libmicrohttpd with the raw request target as soon as the request line is in,
 * before it splits the query: the request's state starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    struct http_server *srv = cls;
    struct req_state *st = req_new(srv);
    if (st && reqcheck_query_params(uri) > srv->cfg.max_query_params) {
        st->too_many_params = true;
        /* libmicrohttpd stores every parameter in the connection's small memory pool and,
         * when it runs out, closes the connection without an answer: give it one. The
         * buffer is the connection's own and is not used again for this request. */
        reqcheck_flatten_query((char *)uri);
    }
    return st;
}

struct header_walk {
    struct reqcheck_header h[64];
    size_t n;
    bool overflow;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct header_walk *w = cls;
    const char *watched[] = {"Host", "Content-Length", "Transfer-Encoding"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(key, watched[i]))
            continue;
        if (w->n == sizeof(w->h) / sizeof(w->h[0])) {
            w->overflow = true;
            return MHD_NO;
        }
        w->h[w->n++] = (struct reqcheck_header){key, value};
    }
    return MHD_YES;
}

/* Queues a refusal at once and closes the connection after it (the body, if any, is not
 * read). */
static void refuse(struct req_state *st, int status, const char *code, const char *msg)
{
    static const char *const close_hdr[] = {"Connection", "close", NULL};
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text)
        http_reply(&st->req, status, "application/json", text, strlen(text), close_hdr);
    free(text);
    st->dispatched = true;
}

static void conn_phase(struct http_server *srv, struct conn *cn, enum conn_phase ph)
{
    if (!cn)
        return;
    pthread_mutex_lock(&srv->mu);
    cn->phase = ph;
    cn->phase_us = now_us();
    cn->body_bytes = 0;
    pthread_mutex_unlock(&srv->mu);
}

/* Hands the stashed answer to libmicrohttpd (on the loop thread). */
static void send_answer(struct req_state *st)
{
    pthread_mutex_lock(&st->mu);
    struct MHD_Response *r = st->resp;
    unsigned status = st->resp_status;
    st->resp = NULL;
    pthread_mutex_unlock(&st->mu);
    if (!r)
        return;
    if (MHD_queue_response(st->req.conn, status, r) != MHD_YES)
        st->req.status = 0;
    MHD_destroy_response(r);
}

/* Ends a handler's turn that did not defer: answers 500 when it did not answer. */
static void settle(struct req_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool answered = st->resp != NULL;
    pthread_mutex_unlock(&st->mu);
    if (!answered)
        http_reply_error(&st->req, 500, "internal", "the request was not answered");
}

static void *worker_main(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        while (!srv->jobs && !srv->stopping)
            pthread_cond_wait(&srv->job_cv, &srv->mu);
        if (!srv->jobs)
            break;
        struct job *j = srv->jobs;
        srv->jobs = j->next;
        if (!srv->jobs)
            srv->jobs_tail = NULL;
        srv->njobs--;
        srv->busy++;
        pthread_mutex_unlock(&srv->mu);
        struct req_state *st = j->st;
        pthread_mutex_lock(&st->mu);
        bool dead = st->terminated;
        unsigned defers = st->defers;
        pthread_mutex_unlock(&st->mu);
        /* A request whose client has gone is still run when it was deferred: the handler's
         * context is its to release. */
        if (!dead || j->fn != srv->handler)
            j->fn(&st->req, j->ctx);
        pthread_mutex_lock(&st->mu);
        bool deferred = st->defers != defers;
        pthread_mutex_unlock(&st->mu);
        if (!deferred) {
            settle(st);
            pthread_mutex_lock(&st->mu);
            if (st->suspended && !st->terminated) {
                st->suspended = false;
                MHD_resume_connection(st->req.conn);
            }
            pthread_mutex_unlock(&st->mu);
        }
        free(j);
        req_unref(st); /* the job's */
        pthread_mutex_lock(&srv->mu);
        srv->busy--;
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* Queues a job; false when the queue is full or the server stops. Takes a reference on st
 * when it succeeds. */
static bool submit(struct http_server *srv, struct req_state *st, http_handler_fn fn, void *ctx,
                   bool bounded)
{
    struct job *j = malloc(sizeof(*j));
    if (!j)
        return false;
    *j = (struct job){.st = st, .fn = fn, .ctx = ctx};
    pthread_mutex_lock(&st->mu);
    st->refs++;
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&srv->mu);
    bool ok = !srv->stopping && (!bounded || srv->njobs < srv->cfg.queue);
    if (ok) {
        if (srv->jobs_tail)
            srv->jobs_tail->next = j;
        else
            srv->jobs = j;
        srv->jobs_tail = j;
        srv->njobs++;
        pthread_cond_signal(&srv->job_cv);
    }
    pthread_mutex_unlock(&srv->mu);
    if (!ok) {
        free(j);
        pthread_mutex_lock(&st->mu);
        st->refs--;
        pthread_mutex_unlock(&st->mu);
    }
    return ok;
}

void http_req_defer(struct http_req *req)
{
    struct req_state *st = (struct req_state *)req;
    pthread_mutex_lock(&st->mu);
    st->defers++;
    st->refs++; /* the deferral's, dropped by http_req_continue */
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&st->srv->mu);
    st->srv->refs++;
    pthread_mutex_unlock(&st->srv->mu);
}

void http_req_continue(struct http_req *req, http_handler_fn fn, void *ctx)
{
    struct req_state *st = (struct req_state *)req;
    struct http_server *srv = st->srv;
    if (!submit(srv, st, fn, ctx, false)) {
        /* The server is stopping: nobody will answer; the context goes. */
        free(ctx);
        pthread_mutex_lock(&st->mu);
        bool resume = st->suspended && !st->terminated;
        st->suspended = false;
        if (resume)
            MHD_resume_connection(st->req.conn);
        pthread_mutex_unlock(&st->mu);
    }
    req_unref(st); /* the deferral's */
    server_unref(srv);
}

static void start_request(struct http_server *srv, struct req_state *st, struct MHD_Connection *c,
                          const char *url, const char *method, const char *version)
{
    struct http_req *req = &st->req;
    st->started = true;
    req->conn = c;
    req->method = method;
    req->path = url;
    req->started_us = now_us();
    buf_init(&req->body, srv->cfg.max_body);
    new_id(req->id);
    remote_addr(c, req->remote, sizeof(req->remote));
    if (srv->cfg.trust_proxy)
        forwarded_for(c, req->remote, sizeof(req->remote));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    st->conn = ci ? ci->socket_context : NULL;
    conn_phase(srv, st->conn, PH_BODY);

    struct header_walk w = {.n = 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &w);
    struct reqcheck_refusal why;
    if (st->too_many_params) {
        char msg[96];
        snprintf(msg, sizeof(msg), "more than %u query parameters", srv->cfg.max_query_params);
        refuse(st, 400, "too_many_parameters", msg);
        return;
    }
    if (w.overflow) {
        refuse(st, 400, "bad_request", "too many framing headers");
        return;
    }
    if (!reqcheck_headers(version, w.h, w.n, &why)) {
        refuse(st, 400, why.code, why.message);
        return;
    }
    if (srv->per_addr) {
        st->counted = peraddr_take(srv->per_addr, req->remote);
        if (!st->counted) {
            refuse(st, 429, "rate_limited", "too many open requests from your address");
            return;
        }
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body is larger than %zu bytes", srv->cfg.max_body);
        refuse(st, 413, "too_large", msg);
        return;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st) {
        st = req_new(srv);
        if (!st)
            return MHD_NO;
        *con_cls = st;
    }
    struct http_req *req = &st->req;
    if (!st->started) {
        /* First call: headers only. Only refusals are answered now (and close the
         * connection); answering a good request here would lose keep-alive. */
        start_request(srv, st, c, url, method, version);
        send_answer(st);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (st->conn) {
            pthread_mutex_lock(&srv->mu);
            st->conn->body_bytes += *upload_data_size;
            pthread_mutex_unlock(&srv->mu);
        }
        if (st->too_large) {
            /* Read and drop the rest so that the 413 can be answered (libmicrohttpd takes
             * an answer only once the body is in), but not without end. */
            st->dropped += *upload_data_size;
            if (st->dropped > srv->cfg.max_body)
                return MHD_NO;
        } else if (!st->dispatched && buf_append(&req->body, upload_data, *upload_data_size) < 0) {
            st->too_large = true;
            buf_done(&req->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large && !st->dispatched) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body is larger than %zu bytes", srv->cfg.max_body);
        refuse(st, 413, "too_large", msg);
    }
    if (st->dispatched) {
        send_answer(st); /* a worker's answer, after the resume */
        return MHD_YES;
    }
    st->dispatched = true;
    conn_phase(srv, st->conn, PH_BUSY);
    if (srv->cfg.inline_ok && srv->cfg.inline_ok(method, req->path)) {
        srv->handler(req, srv->ctx);
        settle(st);
        send_answer(st);
        return MHD_YES;
    }
    /* Suspend before the job exists: the worker may finish and resume at once. */
    pthread_mutex_lock(&st->mu);
    st->suspended = true;
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&st->mu);
    if (!submit(srv, st, srv->handler, srv->ctx, true)) {
        /* The shutdown may have resumed it already (a second resume would cancel the
         * connection's next suspend). */
        pthread_mutex_lock(&st->mu);
        if (st->suspended) {
            st->suspended = false;
            MHD_resume_connection(c);
        }
        pthread_mutex_unlock(&st->mu);
        static const char *const h[] = {"Retry-After", "1", NULL};
        http_reply(req, 503, "application/json",
                   "{\"error\":{\"code\":\"unavailable\",\"message\":\"the server is busy; try "
                   "again\"}}",
                   72, h);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct req_state *st = *con_cls;
    if (!st)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&st->mu);
    st->terminated = true;
    st->suspended = false;
    pthread_mutex_unlock(&st->mu);
    struct http_req *req = &st->req;
    if (st->started) {
        double ms = (double)(now_us() - req->started_us) / 1000.0;
        int status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? req->status : 0;
        metrics_http_request(req->method, req->route, req->status, now_us() - req->started_us);
        if (srv->cfg.on_done)
            srv->cfg.on_done(srv->cfg.on_done_ctx, req, req->route, status, ms);
        if (srv->cfg.access_log) {
            json_t *f = json_pack("{s:s,s:s,s:s,s:i,s:f,s:s}", "request_id", req->id, "method",
                                  req->method, "path", req->path, "status", req->status,
                                  "duration_ms", ms, "remote", req->remote);
            if (f && req->user_id)
                json_object_set_new(f, "user_id", json_integer(req->user_id));
            if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
                json_object_set_new(f, "aborted", json_true());
            log_event(LOG_INFO, "request", f);
        }
    }
    /* A kept-alive connection waits for its next request's headers. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *cn = ci ? ci->socket_context : NULL;
    pthread_mutex_lock(&srv->mu);
    if (st->counted)
        peraddr_give(srv->per_addr, req->remote);
    if (cn) {
        cn->phase = PH_HEADERS;
        cn->phase_us = now_us();
        cn->body_bytes = 0;
        cn->served++;
    }
    if (srv->stopping)
        pthread_cond_broadcast(&srv->tick_cv); /* http_server_stop waits for the last ones */
    pthread_mutex_unlock(&srv->mu);
    req_unref(st);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *cn = calloc(1, sizeof(*cn));
        *socket_context = cn;
        if (!cn)
            return;
        cn->fd = conn_fd(c);
        cn->phase = PH_HEADERS;
        cn->phase_us = now_us();
        remote_addr(c, cn->remote, sizeof(cn->remote));
        pthread_mutex_lock(&srv->mu);
        cn->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = cn;
        srv->conns = cn;
        srv->nconns++;
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    struct conn *cn = *socket_context;
    if (!cn)
        return;
    /* Before libmicrohttpd closes the socket: the housekeeper never touches a closed fd. */
    pthread_mutex_lock(&srv->mu);
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        srv->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    srv->nconns--;
    pthread_mutex_unlock(&srv->mu);
    free(cn);
    *socket_context = NULL;
}

/* ---- housekeeping -------------------------------------------------------------------- */

/* A connection that passed a deadline: answer 408 directly on the socket (libmicrohttpd
 * has nothing queued on it while it reads a request) and shut it down; libmicrohttpd then
 * sees the end and cleans up. Called with srv->mu held. */
static void drop(struct http_server *srv, struct conn *cn, const char *why)
{
#define TIMEOUT_BODY                                                                               \
    "{\"error\":{\"code\":\"request_timeout\",\"message\":\"the request came too slowly\"}}"
    static const char answer[] =
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        "Connection: close\r\nContent-Length: 76\r\n\r\n" TIMEOUT_BODY;
    _Static_assert(sizeof(TIMEOUT_BODY) - 1 == 76, "Content-Length of the 408 body");
#undef TIMEOUT_BODY
    cn->dropped = true;
    /* A kept-alive connection waiting for its next request is most likely idle, not slow:
     * close it quietly (a browser just opens another). */
    bool idle = cn->phase == PH_HEADERS && cn->served;
    if (!idle)
        (void)send(cn->fd, answer, sizeof(answer) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)shutdown(cn->fd, SHUT_RDWR);
    if (!idle)
        log_event(LOG_WARN, "slow client dropped",
                  json_pack("{s:s,s:s,s:I}", "remote", cn->remote, "reason", why, "bytes",
                            (json_int_t)cn->body_bytes));
    (void)srv;
}

static void check_deadlines(struct http_server *srv, int64_t now)
{
    int64_t limit = (int64_t)srv->cfg.header_timeout * 1000000;
    if (!limit)
        return;
    pthread_mutex_lock(&srv->mu);
    for (struct conn *cn = srv->conns; cn; cn = cn->next) {
        if (cn->dropped || cn->fd < 0)
            continue;
        int64_t age = now - cn->phase_us;
        if (cn->phase == PH_HEADERS && age > limit) {
            drop(srv, cn, "headers not complete within --header-timeout");
        } else if (cn->phase == PH_BODY && age > limit &&
                   (double)cn->body_bytes <
                       (double)srv->cfg.min_body_rate * (double)age / 1000000.0) {
            drop(srv, cn, "body slower than --min-body-rate");
        }
    }
    pthread_mutex_unlock(&srv->mu);
}

/* Keepalives and hung-up clients of the streams whose connection is suspended. */
static void check_streams(struct http_server *srv, int64_t now)
{
    pthread_mutex_lock(&srv->mu);
    unsigned n = srv->nstreams, k = 0;
    struct http_stream **all = n ? malloc(n * sizeof(*all)) : NULL;
    for (struct http_stream *s = srv->streams; all && s && k < n; s = s->next) {
        pthread_mutex_lock(&s->mu);
        s->refs++;
        pthread_mutex_unlock(&s->mu);
        all[k++] = s;
    }
    pthread_mutex_unlock(&srv->mu);
    if (!all)
        return;
    struct pollfd *p = calloc(k ? k : 1, sizeof(*p));
    for (unsigned i = 0; i < k; i++) {
        struct http_stream *s = all[i];
        pthread_mutex_lock(&s->mu);
        if (p)
            p[i] = (struct pollfd){.fd = -1};
        if (s->suspended && !s->closed) {
            unsigned ka = s->cfg.keepalive_ms;
            if (ka && s->cfg.keepalive && now - s->last_us >= (int64_t)ka * 1000 &&
                buf_append(&s->q, s->cfg.keepalive, strlen(s->cfg.keepalive)) == 0) {
                s->last_us = now;
                stream_kick(s);
            } else if (p && s->fd >= 0) {
                p[i] = (struct pollfd){.fd = s->fd, .events = POLLRDHUP};
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    /* The fds belong to suspended connections, which libmicrohttpd does not close; a stream
     * resumed meanwhile is skipped below (its poll answer may be about another socket). */
    if (p && poll(p, k, 0) > 0) {
        for (unsigned i = 0; i < k; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                continue;
            struct http_stream *s = all[i];
            pthread_mutex_lock(&s->mu);
            if (s->suspended && !s->closed) {
                s->gone = true;
                stream_kick(s);
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    free(p);
    for (unsigned i = 0; i < k; i++)
        http_stream_unref(all[i]);
    free(all);
}

static void *housekeeper_main(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += HTTP_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->tick_cv, &srv->mu, &ts);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->mu);
        int64_t now = now_us();
        check_deadlines(srv, now);
        check_streams(srv, now);
        pthread_mutex_lock(&srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
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

static void server_free(struct http_server *srv)
{
    peraddr_free(srv->per_addr);
    pthread_cond_destroy(&srv->job_cv);
    pthread_cond_destroy(&srv->tick_cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv->workers);
    free(srv);
}

static void server_unref(struct http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    bool last = --srv->refs == 0;
    pthread_mutex_unlock(&srv->mu);
    if (last)
        server_free(srv);
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
    srv->refs = 1;
    if (!srv->cfg.loop_threads)
        srv->cfg.loop_threads = 1;
    if (!srv->cfg.workers)
        srv->cfg.workers = 1;
    if (!srv->cfg.max_query_params)
        srv->cfg.max_query_params = 1;
    /* libmicrohttpd touches its whole pool when it resets it between requests: this is
     * what an open connection costs, whatever it does. */
    if (srv->cfg.connection_memory < 8192)
        srv->cfg.connection_memory = 8192;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->job_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->tick_cv, &ca);
    pthread_condattr_destroy(&ca);

    struct sockaddr_storage ss = {0};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->listen_host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(cfg->listen_port);
    } else if (inet_pton(AF_INET6, cfg->listen_host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(cfg->listen_port);
        flags |= MHD_USE_IPv6;
    } else {
        server_free(srv);
        return err_set(err, EINVAL, "listen address '%s' is not a numeric IP address",
                       cfg->listen_host);
    }
    srv->workers = calloc(srv->cfg.workers, sizeof(pthread_t));
    /* Behind a proxy every connection comes from the proxy's address: count the clients'
     * requests by their forwarded address instead (http/peraddr.h, start_request). */
    if (!srv->workers ||
        (cfg->trust_proxy && cfg->max_per_ip && !(srv->per_addr = peraddr_new(cfg->max_per_ip)))) {
        server_free(srv);
        return err_set(err, ENOMEM, "allocate workers");
    }
    unsigned per_ip = cfg->trust_proxy ? 0 : cfg->max_per_ip;
    srv->daemon = MHD_start_daemon(
        flags, cfg->listen_port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->cfg.connection_memory,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.loop_threads, MHD_OPTION_END);
    if (!srv->daemon) {
        server_free(srv);
        return err_set(err, EADDRINUSE, "cannot listen on %s:%u", cfg->listen_host,
                       cfg->listen_port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->listen_port;
    for (unsigned i = 0; i < srv->cfg.workers; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 1024 * 1024);
        if (pthread_create(&srv->workers[i], &attr, worker_main, srv) == 0)
            srv->nworkers++;
        pthread_attr_destroy(&attr);
    }
    srv->housekeeper_started = pthread_create(&srv->housekeeper, NULL, housekeeper_main, srv) == 0;
    if (!srv->nworkers || !srv->housekeeper_started) {
        http_server_stop(srv);
        return err_set(err, EAGAIN, "cannot start the HTTP threads");
    }
    *ret = srv;
    return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stats(struct http_server *srv, struct http_stats *ret)
{
    pthread_mutex_lock(&srv->mu);
    ret->connections = srv->nconns;
    ret->streams = srv->nstreams;
    ret->queued = srv->njobs;
    ret->workers_busy = srv->busy;
    pthread_mutex_unlock(&srv->mu);
}

/* At shutdown, after the workers are gone: every suspended connection is resumed, since
 * libmicrohttpd aborts the process when stopped with one still suspended. A stream ends with
 * an error; a deferred request is answered 503 (its continuation, if it ever comes, is
 * dropped). Later suspends cannot happen: streams are gone, submit refuses. */
static void resume_all(struct http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    unsigned ns = srv->nstreams, nr = 0, ks = 0, kr = 0;
    for (struct req_state *st = srv->reqs; st; st = st->next)
        nr++;
    struct http_stream **ss = malloc((ns ? ns : 1) * sizeof(*ss));
    struct req_state **rs = malloc((nr ? nr : 1) * sizeof(*rs));
    for (struct http_stream *s = srv->streams; ss && s && ks < ns; s = s->next) {
        pthread_mutex_lock(&s->mu);
        s->refs++;
        pthread_mutex_unlock(&s->mu);
        ss[ks++] = s;
    }
    for (struct req_state *st = srv->reqs; rs && st && kr < nr; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->refs++;
        pthread_mutex_unlock(&st->mu);
        rs[kr++] = st;
    }
    pthread_mutex_unlock(&srv->mu);
    if (!ss || !rs)
        log_msg(LOG_ERROR, "http: out of memory at shutdown: suspended connections may stay");
    for (unsigned i = 0; i < ks; i++) {
        struct http_stream *s = ss[i];
        pthread_mutex_lock(&s->mu);
        s->gone = true;
        stream_kick(s);
        pthread_mutex_unlock(&s->mu);
        http_stream_unref(s);
    }
    for (unsigned i = 0; i < kr; i++) {
        struct req_state *st = rs[i];
        pthread_mutex_lock(&st->mu);
        bool parked = st->suspended && !st->terminated;
        pthread_mutex_unlock(&st->mu);
        if (parked) /* refused when the request has its answer already */
            http_reply_error(&st->req, 503, "unavailable", "the server is shutting down");
        pthread_mutex_lock(&st->mu);
        if (st->suspended && !st->terminated) {
            st->suspended = false;
            MHD_resume_connection(st->req.conn);
        }
        pthread_mutex_unlock(&st->mu);
        req_unref(st);
    }
    free(ss);
    free(rs);
}

/* Waits up to ms for libmicrohttpd to finish the requests still open (the answers just
 * given, streams ending), so that they leave before the sockets close. */
static void drain(struct http_server *srv, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        bool open = false;
        for (struct req_state *st = srv->reqs; st && !open; st = st->next) {
            pthread_mutex_lock(&st->mu);
            open = st->started && !st->terminated;
            pthread_mutex_unlock(&st->mu);
        }
        if (!open || pthread_cond_timedwait(&srv->tick_cv, &srv->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&srv->mu);
}

void http_server_quiesce(struct http_server *srv)
{
    if (!srv || srv->quiesced)
        return;
    srv->quiesced = true;
    /* Stop accepting, let the workers finish what they run, resume every suspended
     * connection (streams end, deferred requests get a 503) and give those answers a
     * moment to leave. Deferred requests keep the server's memory until they continue;
     * their continuation is then dropped. */
    if (srv->daemon)
        MHD_quiesce_daemon(srv->daemon);
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->job_cv);
    pthread_cond_broadcast(&srv->tick_cv);
    pthread_mutex_unlock(&srv->mu);
    for (unsigned i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i], NULL);
    if (srv->housekeeper_started)
        pthread_join(srv->housekeeper, NULL);
    if (srv->daemon) {
        resume_all(srv);
        drain(srv, HTTP_DRAIN_MS);
    }
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    http_server_quiesce(srv);
    /* Then close every connection (each stream's on_close runs). */
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    server_unref(srv);
}
