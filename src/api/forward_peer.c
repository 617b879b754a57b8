/*
 * forward_peer: reaching the node that owns a request: its address and token from the
 * cluster, the connection (bounded in time), the request as the owner receives it (the
 * caller's own credentials, never ours), and forward_fetch, a whole answer read at once.
 * The relay that waits for answers is forward.c; see forward.h.
 */
#include "api/cluster.h"
#include "api/forward.h"
#include "api/forward_internal.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/pct.h"
#include "http/head.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_MS 3000 /* to reach a peer */

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
            if (pct_unreserved(*p))
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

void forward_unreachable(struct http_req *req, const char *node, const char *why)
{
    log_event(LOG_WARN, "peer unreachable",
              json_pack("{s:s,s:s,s:s}", "request_id", req->id, "node", node, "error", why));
    static const char *const h[] = {"Retry-After", "2", NULL};
    static const char body[] = "{\"error\":{\"code\":\"unavailable\",\"message\":"
                               "\"the node that owns this is not answering; try again\"}}";
    http_reply(req, 503, "application/json", body, sizeof(body) - 1, h);
}

/* Connects to node's address and sends req. The socket; -ENOENT when node is not a live
 * peer; -EHOSTUNREACH (*why says what failed) or another -errno from the store. */
int forward_dial_peer(struct api *api, struct http_req *req, const char *node,
                      const char *const *query, bool upgrade, const char **why)
{
    char *url = NULL, *token = NULL;
    int rc = cluster_peer(api->cluster, node, &url, &token);
    if (rc < 0)
        return rc;
    struct buf b;
    buf_init(&b, req->body.len + HEAD_MAX * 2);
    int fd = dial(url);
    if (fd < 0) {
        *why = "connect failed";
        fd = -EHOSTUNREACH;
    } else if (build_request(&b, req, token, query, upgrade) < 0 ||
               write_all(fd, b.data, b.len) < 0) {
        close(fd);
        *why = "send failed";
        fd = -EHOSTUNREACH;
    }
    buf_done(&b);
    free(url);
    free(token);
    return fd;
}

/* forward_dial_peer, answering req when it fails: the socket, 0 when node is not a live peer, or
 * -1 after answering (503 when the peer did not answer). */
int forward_open_to(struct api *api, struct http_req *req, const char *node,
                    const char *const *query, bool upgrade)
{
    const char *why = NULL;
    int fd = forward_dial_peer(api, req, node, query, upgrade, &why);
    if (fd == -ENOENT)
        return 0;
    if (fd == -EHOSTUNREACH)
        forward_unreachable(req, node, why);
    else if (fd < 0)
        api_fail(req, fd, "node");
    return fd < 0 ? -1 : fd;
}

int forward_fetch(struct api *api, struct http_req *req, const char *node, json_t **ret)
{
    const char *why = NULL;
    int fd = forward_dial_peer(api, req, node, NULL, false, &why);
    if (fd < 0)
        return fd;
    /* The whole answer (the peer closes: HTTP/1.0), bounded in bytes and time. */
    struct buf b;
    buf_init(&b, BODY_MAX);
    char chunk[16384];
    int rc = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, ANSWER_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        ssize_t n = pr == 1 ? recv(fd, chunk, sizeof(chunk), 0) : -1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            break;
        if (n < 0 || buf_append(&b, chunk, (size_t)n) < 0) {
            rc = -EHOSTUNREACH;
            break;
        }
    }
    close(fd);
    struct http_head h;
    json_t *body = NULL;
    if (rc == 0 && b.len && http_head_parse(b.data, b.len, &h) == 0 && h.status == 200) {
        size_t len = b.len - h.head_len;
        if (h.length >= 0 && (size_t)h.length < len)
            len = (size_t)h.length;
        body = json_loadb(b.data + h.head_len, len, JSON_REJECT_DUPLICATES, NULL);
    }
    buf_done(&b);
    if (!body)
        return -EHOSTUNREACH;
    *ret = body;
    return 0;
}
