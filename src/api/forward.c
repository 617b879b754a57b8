/* forward: relaying requests and terminal WebSockets to the node that owns them; see
 * forward.h. */
#include "api/forward.h"

#include "api/cluster.h"
#include "base/buf.h"
#include "base/log.h"
#include "http/head.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_MS    3000        /* to reach a peer */
#define ANSWER_MS     90000       /* for a peer's whole answer (cancel waits up to 30 s) */
#define HEAD_MAX      16384       /* bytes of a peer's status line and headers */
#define BODY_MAX      (64u << 20) /* bytes of a peer's (non-streamed) answer */
#define STREAM_IDLE_S 20          /* an event stream sends a comment at least this often */

/* Headers of the caller's request that the owner needs to judge it as we did. */
static const char *const pass_headers[] = {
    "Cookie", "Authorization",     "X-CSRF-Token",          "Content-Type",           "Origin",
    "Accept", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol", NULL};

int forward_origin(struct api *api, struct http_req *req)
{
    const char *token = http_req_header(req, FORWARD_TOKEN_HEADER);
    if (!token)
        return 0;
    if (api->cluster && cluster_token_ok(api->cluster, token))
        return 1;
    api_reply_error(req, forbidden, "this node-to-node request is not authenticated");
    return -1;
}

/* Connects to an http://HOST:PORT URL; a connected blocking socket or -errno. */
static int dial(const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        return -EINVAL;
    const char *h = url + 7;
    char host[256], port[8] = "80";
    size_t hl;
    const char *end = h + strcspn(h, "/");
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close)
            return -EINVAL;
        hl = (size_t)(close - h - 1);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, h + 1, hl);
        h = close + 1;
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        hl = (size_t)((colon ? colon : end) - h);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, h, hl);
        h += hl;
    }
    host[hl] = '\0';
    if (*h == ':')
        snprintf(port, sizeof(port), "%.*s", (int)(end - h - 1), h + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return -EHOSTUNREACH;
    int fd = -ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int s = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s < 0)
            continue;
        int r = connect(s, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = s, .events = POLLOUT};
            int soerr = ETIMEDOUT;
            socklen_t sl = sizeof(soerr);
            if (poll(&p, 1, CONNECT_MS) == 1)
                (void)getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            r = soerr ? -1 : 0;
        }
        if (r == 0) {
            int one = 1;
            (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            (void)fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
            fd = s;
            break;
        }
        close(s);
    }
    freeaddrinfo(res);
    return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* A non-blocking socket (an upgraded one may be): wait for room, bounded. */
            struct pollfd pw = {.fd = fd, .events = POLLOUT};
            if (poll(&pw, 1, 30000) == 1)
                continue;
            return -EIO;
        }
        if (n <= 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads once, waiting up to ms: bytes read, 0 at end of stream, -ETIMEDOUT, -EIO. */
static ssize_t read_some(int fd, char *out, size_t max, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return -ETIMEDOUT;
    ssize_t n;
    while ((n = recv(fd, out, max, 0)) < 0 && errno == EINTR)
        ;
    return n < 0 ? -EIO : n;
}

static void append_query(struct buf *b, struct http_req *req, const char *const *query)
{
    char sep = '?';
    for (size_t i = 0; query && query[i]; i++) {
        const char *v = http_req_query(req, query[i]);
        if (!v)
            continue;
        buf_printf(b, "%c%s=", sep, query[i]);
        sep = '&';
        for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("-._~", *p))
                buf_append(b, p, 1);
            else
                buf_printf(b, "%%%02X", *p);
        }
    }
}

/* The request to send to the owner (token), as text. */
static int build_request(struct buf *b, struct http_req *req, const char *token,
                         const char *const *query, bool upgrade)
{
    buf_printf(b, "%s %s", req->method, req->path);
    append_query(b, req, query);
    buf_printf(b, " HTTP/1.%d\r\n", upgrade ? 1 : 0);
    const char *host = http_req_header(req, "Host");
    buf_printf(b, "Host: %s\r\n%s: %s\r\nX-Pyroom-Client: %s\r\n", host ? host : "pyroom",
               FORWARD_TOKEN_HEADER, token, req->remote);
    for (size_t i = 0; pass_headers[i]; i++) {
        const char *v = http_req_header(req, pass_headers[i]);
        if (v && !strpbrk(v, "\r\n"))
            buf_printf(b, "%s: %s\r\n", pass_headers[i], v);
    }
    if (upgrade)
        buf_printf(b, "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    else
        buf_printf(b, "Connection: close\r\nContent-Length: %zu\r\n\r\n", req->body.len);
    if (!upgrade && req->body.len)
        return buf_append(b, req->body.data, req->body.len);
    return b->data ? 0 : -ENOMEM;
}

/* Reads until the head is complete and parses it into h (the first body bytes stay in b
 * after h->head_len). */
static int read_head(int fd, struct buf *b, struct http_head *h, int ms)
{
    char chunk[4096];
    for (;;) {
        int r = b->len ? http_head_parse(b->data, b->len, h) : -EAGAIN;
        if (r != -EAGAIN)
            return r;
        if (b->len > HEAD_MAX)
            return -EPROTO;
        ssize_t n = read_some(fd, chunk, sizeof(chunk), ms);
        if (n <= 0)
            return n == 0 ? -EPROTO : (int)n;
        if (buf_append(b, chunk, (size_t)n) < 0)
            return -EPROTO;
    }
}

/* The headers to pass back with an answer, NULL-terminated into out (at least 11). */
static void answer_headers(const struct http_head *h, const char **out)
{
    size_t i = 0;
    if (*h->retry_after) {
        out[i++] = "Retry-After";
        out[i++] = h->retry_after;
    }
    if (*h->cache) {
        out[i++] = "Cache-Control";
        out[i++] = h->cache;
    }
    if (*h->csp) {
        out[i++] = "Content-Security-Policy";
        out[i++] = h->csp;
    }
    if (*h->version) {
        out[i++] = "Sec-WebSocket-Version";
        out[i++] = h->version;
    }
    if (!strncasecmp(h->ctype, "text/event-stream", 17)) {
        out[i++] = "X-Accel-Buffering";
        out[i++] = "no";
    }
    out[i] = NULL;
}

static void unreachable(struct http_req *req, const char *node, const char *why)
{
    log_event(LOG_WARN, "peer unreachable",
              json_pack("{s:s,s:s,s:s}", "request_id", req->id, "node", node, "error", why));
    static const char *const h[] = {"Retry-After", "2", NULL};
    static const char body[] = "{\"error\":{\"code\":\"unavailable\",\"message\":"
                               "\"the node that owns this is not answering; try again\"}}";
    http_reply(req, 503, "application/json", body, sizeof(body) - 1, h);
}

/* Connects to node's address and sends req. The socket, 0 when node is not a live peer,
 * or -1 after answering 503. */
static int open_to(struct api *api, struct http_req *req, const char *node,
                   const char *const *query, bool upgrade)
{
    char *url = NULL, *token = NULL;
    int rc = cluster_peer(api->cluster, node, &url, &token);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0) {
        api_fail(req, rc, "node");
        return -1;
    }
    struct buf b;
    buf_init(&b, req->body.len + HEAD_MAX * 2);
    int fd = dial(url);
    if (fd < 0) {
        unreachable(req, node, "connect failed");
    } else if (build_request(&b, req, token, query, upgrade) < 0 ||
               write_all(fd, b.data, b.len) < 0) {
        close(fd);
        fd = -1;
        unreachable(req, node, "send failed");
    }
    buf_done(&b);
    free(url);
    free(token);
    return fd < 0 ? -1 : fd;
}

/* ---- plain requests and event streams ------------------------------------------------- */

struct relay {
    int fd;
    struct buf pending; /* body bytes read with the head */
    size_t pos;
};

static ssize_t relay_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct relay *r = ctx;
    if (r->pos < r->pending.len) {
        size_t k = r->pending.len - r->pos;
        if (k > max)
            k = max;
        memcpy(out, r->pending.data + r->pos, k);
        r->pos += k;
        return (ssize_t)k;
    }
    ssize_t n = read_some(r->fd, out, max, STREAM_IDLE_S * 1000);
    if (n == -ETIMEDOUT && max >= 3) {
        /* The owner sends comments itself; this one only tells us our client is gone. */
        memcpy(out, ":\n\n", 3);
        return 3;
    }
    return n > 0 ? n : -1;
}

static void relay_free(void *ctx)
{
    struct relay *r = ctx;
    close(r->fd);
    buf_done(&r->pending);
    free(r);
}

bool forward_request(struct api *api, struct http_req *req, const char *node,
                     const char *const *query)
{
    int fd = open_to(api, req, node, query, false);
    if (fd <= 0)
        return fd < 0;
    struct buf b;
    buf_init(&b, BODY_MAX);
    struct http_head h;
    const char *hdrs[12];
    if (read_head(fd, &b, &h, ANSWER_MS) < 0) {
        unreachable(req, node, "bad or no answer");
        goto out;
    }
    answer_headers(&h, hdrs);
    if (!strncasecmp(h.ctype, "text/event-stream", 17)) {
        struct relay *r = calloc(1, sizeof(*r));
        if (!r) {
            api_fail(req, -ENOMEM, "stream");
            goto out;
        }
        r->fd = fd;
        buf_init(&r->pending, b.len);
        buf_append(&r->pending, b.data + h.head_len, b.len - h.head_len);
        fd = -1;
        http_reply_stream(req, h.status, "text/event-stream", relay_read, r, relay_free, hdrs);
        goto out;
    }
    char chunk[16384];
    for (;;) {
        ssize_t n = read_some(fd, chunk, sizeof(chunk), ANSWER_MS);
        if (n == 0)
            break;
        if (n < 0 || buf_append(&b, chunk, (size_t)n) < 0) {
            unreachable(req, node, "answer cut short");
            goto out;
        }
    }
    size_t len = b.len - h.head_len;
    if (h.length >= 0 && (size_t)h.length < len)
        len = (size_t)h.length;
    if (h.status == 204 || h.status == 304)
        http_reply_empty(req, h.status);
    else
        http_reply(req, h.status, *h.ctype ? h.ctype : "application/octet-stream",
                   b.data + h.head_len, len, hdrs);
out:
    buf_done(&b);
    if (fd >= 0)
        close(fd);
    return true;
}

/* ---- WebSockets -------------------------------------------------------------------------- */

struct tunnel {
    int peer;         /* socket to the owner */
    struct buf early; /* bytes the owner sent after its 101 */
};

/* Copies what is readable on from to to; false at end of stream or error. */
static bool pump(int from, int to)
{
    char chunk[16384];
    ssize_t n;
    while ((n = recv(from, chunk, sizeof(chunk), MSG_DONTWAIT)) < 0 && errno == EINTR)
        ;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    return n > 0 && write_all(to, chunk, (size_t)n) == 0;
}

struct joined {
    int client, peer;
    void *handle;
    struct joined *next;
};

/* Live tunnels, so that shutdown can end them before the HTTP server goes away. */
static pthread_mutex_t tunnels_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tunnels_cv = PTHREAD_COND_INITIALIZER;
static struct joined *tunnels;
static bool tunnels_closing;

void forward_stop(void)
{
    pthread_mutex_lock(&tunnels_mu);
    tunnels_closing = true;
    for (struct joined *j = tunnels; j; j = j->next)
        shutdown(j->peer, SHUT_RDWR); /* its thread sees the end and closes both sides */
    while (tunnels)
        pthread_cond_wait(&tunnels_cv, &tunnels_mu);
    pthread_mutex_unlock(&tunnels_mu);
}

static void *tunnel_main(void *arg)
{
    struct joined *j = arg;
    struct pollfd p[2] = {{.fd = j->client, .events = POLLIN}, {.fd = j->peer, .events = POLLIN}};
    for (;;) {
        int r = poll(p, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(j->client, j->peer))
            break;
        if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !pump(j->peer, j->client))
            break;
    }
    /* The owner went away (stopped, or died): say so to the client in a close frame
     * (1012 "service restart"); the page reconnects and is given a shell again, on a
     * live node. After the owner's own close frame, the client ignores this one. */
    static const char bye[] = "the node running this terminal stopped; reconnect";
    unsigned char frame[2 + 2 + sizeof(bye)];
    frame[0] = 0x88; /* FIN, close */
    frame[1] = (unsigned char)(2 + sizeof(bye) - 1);
    frame[2] = 1012 >> 8;
    frame[3] = 1012 & 0xff;
    memcpy(frame + 4, bye, sizeof(bye) - 1);
    (void)send(j->client, frame, 4 + sizeof(bye) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(j->peer);
    http_upgrade_close(j->handle);
    pthread_mutex_lock(&tunnels_mu);
    for (struct joined **q = &tunnels; *q; q = &(*q)->next)
        if (*q == j) {
            *q = j->next;
            break;
        }
    pthread_cond_broadcast(&tunnels_cv);
    pthread_mutex_unlock(&tunnels_mu);
    free(j);
    return NULL;
}

static void on_tunnel(void *ctx, int fd, void *handle, const char *extra, size_t extra_len)
{
    struct tunnel *t = ctx;
    struct joined *j = calloc(1, sizeof(*j));
    pthread_t th;
    pthread_attr_t attr;
    bool ok = j && (extra_len == 0 || write_all(t->peer, extra, extra_len) == 0) &&
              (t->early.len == 0 || write_all(fd, t->early.data, t->early.len) == 0);
    if (ok) {
        j->client = fd;
        j->peer = t->peer;
        j->handle = handle;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256u << 10);
        pthread_mutex_lock(&tunnels_mu);
        ok = !tunnels_closing && pthread_create(&th, &attr, tunnel_main, j) == 0;
        if (ok) {
            j->next = tunnels;
            tunnels = j;
        }
        pthread_mutex_unlock(&tunnels_mu);
        pthread_attr_destroy(&attr);
    }
    if (!ok) {
        free(j);
        close(t->peer);
        http_upgrade_close(handle);
    }
    buf_done(&t->early);
    free(t);
}

bool forward_websocket(struct api *api, struct http_req *req, const char *node,
                       const char *const *query)
{
    int fd = open_to(api, req, node, query, true);
    if (fd <= 0)
        return fd < 0;
    struct buf b;
    buf_init(&b, HEAD_MAX * 2);
    struct http_head h;
    const char *hdrs[12];
    if (read_head(fd, &b, &h, 60000) < 0) {
        unreachable(req, node, "bad or no answer to the upgrade");
        goto out;
    }
    if (h.status != 101) {
        /* The owner's refusal (401, 403, 409, 429...): its body follows, sized. */
        char chunk[4096];
        while (h.length >= 0 && b.len - h.head_len < (size_t)h.length) {
            ssize_t n = read_some(fd, chunk, sizeof(chunk), 10000);
            if (n <= 0 || buf_append(&b, chunk, (size_t)n) < 0)
                break;
        }
        answer_headers(&h, hdrs);
        http_reply(req, h.status, *h.ctype ? h.ctype : "application/json", b.data + h.head_len,
                   b.len - h.head_len, hdrs);
        goto out;
    }
    struct tunnel *t = calloc(1, sizeof(*t));
    if (!t) {
        api_fail(req, -ENOMEM, "terminal");
        goto out;
    }
    t->peer = fd;
    buf_init(&t->early, b.len);
    buf_append(&t->early, b.data + h.head_len, b.len - h.head_len);
    const char *const up[] = {"Sec-WebSocket-Accept", h.accept, "Cache-Control", "no-store", NULL};
    if (http_reply_upgrade(req, on_tunnel, t, up) < 0) {
        buf_done(&t->early);
        free(t);
        goto out;
    }
    fd = -1;
out:
    buf_done(&b);
    if (fd >= 0)
        close(fd);
    return true;
}
