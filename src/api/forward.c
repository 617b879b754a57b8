/*
 * forward: the relay of requests and terminal WebSockets to the node that owns them; see
 * forward.h. Reaching the owner (connection, request text, forward_fetch) is forward_peer.c.
 *
 * Theory of operation. A handler (on an HTTP worker) connects to the owner, sends the
 * request and defers its answer (http_req_defer): from then on one relay thread, with one
 * epoll set, owns the owner's socket. It reads the answer's head (and a plain answer's
 * body) without holding a worker, then hands the answer back to a worker
 * (http_req_continue) which replies: whole, as an event stream, or as a 101. An event
 * stream is a pull-mode http_stream whose fill reads the owner's socket (non-blocking;
 * the relay thread only wakes the stream when the socket is readable), so a slow client
 * slows the owner down instead of filling memory. A WebSocket is joined to the owner's on
 * the same relay thread, each direction through a bounded buffer: no thread per terminal.
 *
 * Lifetimes. Items are on fw->items while the relay may see events for them. Whoever
 * ends an item (the relay thread, or a stream's on_close on an HTTP loop thread) removes
 * its sockets from the epoll set and moves it to fw->grave under fw->mu; only the relay
 * thread frees the grave, between two epoll_wait batches, so an event already taken from
 * the kernel never points at freed memory.
 */
#include "api/forward.h"

#include "api/forward_internal.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "http/head.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define TUNNEL_BUF    (64u << 10) /* bytes waiting in each direction of a joined WebSocket */
#define RELAY_TICK_MS 500         /* the relay thread checks answer deadlines this often */

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

/* ---- the relay ------------------------------------------------------------------------- */

enum phase {
    P_HEAD,      /* reading the owner's answer head */
    P_BODY,      /* reading a plain answer's body */
    P_ANSWERING, /* a worker is answering the client with it */
    P_STREAM,    /* an event stream: the client's stream pulls from the owner's socket */
    P_TUNNEL,    /* a WebSocket joined to the owner's */
};

struct item;

/* One socket of an item in the epoll set. */
struct end {
    struct item *it;
    int side; /* 0: the client's (tunnel), 1: the owner's */
};

/* Bytes read from one side, waiting to be written to the other. */
struct pipe_buf {
    char *data;
    size_t len, off;
};

struct forward;

struct item {
    struct forward *fw;
    enum phase phase;
    bool upgrade;            /* a WebSocket handshake */
    bool dead;               /* on the grave list */
    struct http_req *req;    /* until answered */
    char node[64];           /* the owner, for logs */
    const char *why;         /* why the owner is deemed unreachable, or NULL */
    int peer;                /* socket to the owner */
    int client;              /* the upgraded client socket (P_TUNNEL), or -1 */
    void *handle;            /* http_upgrade_close's */
    struct end ends[2];      /* epoll data */
    struct buf in;           /* the answer as read: head, then body */
    struct http_head h;      /* parsed once P_HEAD is over */
    size_t pos;              /* bytes of in already given to the stream */
    int64_t deadline_us;     /* P_HEAD and P_BODY: the whole answer by then */
    struct http_stream *out; /* P_STREAM */
    struct pipe_buf dir[2];  /* P_TUNNEL: dir[i] read from side i */
    struct item *next;
};

struct forward {
    pthread_mutex_t mu;
    int ep;   /* epoll set of the owners' (and tunnels' clients') sockets */
    int wake; /* eventfd: stop, or a grave to empty */
    pthread_t thread;
    bool closing;       /* forward_stop: no new items */
    struct item *items; /* live */
    struct item *grave; /* ended, freed by the relay thread */
};

static void item_free(struct item *it)
{
    if (it->peer >= 0)
        close(it->peer);
    if (it->handle)
        http_upgrade_close(it->handle);
    http_stream_unref(it->out);
    buf_done(&it->in);
    free(it->dir[0].data);
    free(it->dir[1].data);
    free(it);
}

/* Takes it off the live list and out of the epoll set. Called with fw->mu held. */
static void bury(struct forward *fw, struct item *it)
{
    if (it->dead)
        return;
    it->dead = true;
    for (struct item **p = &fw->items; *p; p = &(*p)->next)
        if (*p == it) {
            *p = it->next;
            break;
        }
    if (it->peer >= 0)
        (void)epoll_ctl(fw->ep, EPOLL_CTL_DEL, it->peer, NULL);
    if (it->client >= 0)
        (void)epoll_ctl(fw->ep, EPOLL_CTL_DEL, it->client, NULL);
    it->next = fw->grave;
    fw->grave = it;
    uint64_t one = 1;
    (void)!write(fw->wake, &one, sizeof(one));
}

/* The answer is in hand (or the owner failed): a worker answers the client. */
struct answer_ctx {
    struct item *it;
};

static void answer(struct http_req *req, void *ctx);

static void hand_back(struct forward *fw, struct item *it)
{
    it->phase = P_ANSWERING;
    (void)epoll_ctl(fw->ep, EPOLL_CTL_DEL, it->peer, NULL);
    struct answer_ctx *a = malloc(sizeof(*a));
    struct http_req *req = it->req;
    if (!a) {
        /* Nothing can answer: the connection is resumed and closed by the server. */
        bury(fw, it);
        return;
    }
    *a = (struct answer_ctx){it};
    /* http_req_continue frees a (only) when the server is stopping; the item then waits
     * for forward_free. */
    pthread_mutex_unlock(&fw->mu);
    http_req_continue(req, answer, a);
    pthread_mutex_lock(&fw->mu);
}

/* An event stream's fill: what came with the head, then whatever the owner's socket has. */
static ssize_t stream_fill(void *ctx, char *out, size_t max)
{
    struct item *it = ctx;
    size_t have = it->in.len - it->h.head_len - it->pos;
    if (have) {
        size_t k = have < max ? have : max;
        memcpy(out, it->in.data + it->h.head_len + it->pos, k);
        it->pos += k;
        return (ssize_t)k;
    }
    ssize_t n;
    while ((n = recv(it->peer, out, max, MSG_DONTWAIT)) < 0 && errno == EINTR)
        ;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0; /* the relay thread wakes the stream when there is more */
    /* The owner's socket failing (not closing) is a stream cut short: say so. */
    return n > 0 ? n : n == 0 ? HTTP_FILL_END : HTTP_FILL_FAILED;
}

/* The client's stream is over (client gone, owner done, server stopping). */
static void stream_closed(void *ctx)
{
    struct item *it = ctx;
    struct forward *fw = it->fw;
    pthread_mutex_lock(&fw->mu);
    bury(fw, it);
    pthread_mutex_unlock(&fw->mu);
}

static void tunnel_watch(struct item *it);

/* A WebSocket's 101 went out: join the client's socket to the owner's. On an HTTP loop
 * thread; must not block. */
static void on_tunnel(void *ctx, int fd, void *handle, const char *extra, size_t extra_len)
{
    struct item *it = ctx;
    struct forward *fw = it->fw;
    pthread_mutex_lock(&fw->mu);
    it->client = fd;
    it->handle = handle;
    size_t early = it->in.len - it->h.head_len;
    bool ok = !fw->closing && extra_len <= TUNNEL_BUF && early <= TUNNEL_BUF &&
              (it->dir[0].data = malloc(TUNNEL_BUF)) && (it->dir[1].data = malloc(TUNNEL_BUF));
    if (ok) {
        memcpy(it->dir[0].data, extra, extra_len); /* the client's, for the owner */
        it->dir[0].len = extra_len;
        memcpy(it->dir[1].data, it->in.data + it->h.head_len, early); /* the owner's */
        it->dir[1].len = early;
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        it->phase = P_TUNNEL;
        struct epoll_event e0 = {.events = 0, .data.ptr = &it->ends[0]};
        struct epoll_event e1 = {.events = 0, .data.ptr = &it->ends[1]};
        ok = epoll_ctl(fw->ep, EPOLL_CTL_ADD, fd, &e0) == 0 &&
             epoll_ctl(fw->ep, EPOLL_CTL_ADD, it->peer, &e1) == 0;
        if (ok)
            tunnel_watch(it);
    }
    if (!ok)
        bury(fw, it); /* frees the two sockets */
    pthread_mutex_unlock(&fw->mu);
}

/* On a worker: answer the client with what the owner said. */
static void answer(struct http_req *req, void *ctx)
{
    struct answer_ctx *a = ctx;
    struct item *it = a->it;
    struct forward *fw = it->fw;
    free(a);
    const struct http_head *h = &it->h;
    const char *hdrs[12];
    answer_headers(h, hdrs);
    pthread_mutex_lock(&fw->mu);
    it->req = NULL;
    pthread_mutex_unlock(&fw->mu);
    if (it->why) {
        forward_unreachable(req, it->node, it->why);
    } else if (it->upgrade && h->status == 101) {
        const char *const up[] = {"Sec-WebSocket-Accept", h->accept, "Cache-Control", "no-store",
                                  NULL};
        if (http_reply_upgrade(req, on_tunnel, it, up) == 0)
            return; /* on_tunnel owns it now */
    } else if (!it->upgrade && !strncasecmp(h->ctype, "text/event-stream", 17)) {
        struct http_stream_config sc = {
            .max_queue = 4096,
            /* The owner sends its own keepalives; one of ours could land inside an event
             * relayed in two pieces. A client that hangs up is still noticed. */
            .keepalive_ms = 0,
            .fill = stream_fill,
            .on_close = stream_closed,
            .ctx = it,
        };
        /* Not under fw->mu: the stream is not read before this handler returns. */
        int rc = http_reply_stream(req, h->status, "text/event-stream", &sc, hdrs, &it->out);
        pthread_mutex_lock(&fw->mu);
        if (rc == 0) {
            /* The relay wakes the stream when the owner's socket is readable. */
            it->phase = P_STREAM;
            struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                                    .data.ptr = &it->ends[1]};
            if (fw->closing || epoll_ctl(fw->ep, EPOLL_CTL_ADD, it->peer, &e) < 0)
                http_stream_end(it->out);
        }
        pthread_mutex_unlock(&fw->mu);
        if (rc == 0)
            return; /* stream_closed buries it */
        api_fail(req, rc, "stream");
    } else {
        size_t len = it->in.len - h->head_len;
        if (h->length >= 0 && (size_t)h->length < len)
            len = (size_t)h->length;
        if (h->status == 204 || h->status == 304)
            http_reply_empty(req, h->status);
        else
            http_reply(req, h->status,
                       *h->ctype     ? h->ctype
                       : it->upgrade ? "application/json"
                                     : "application/octet-stream",
                       it->in.data + h->head_len, len, hdrs);
    }
    pthread_mutex_lock(&fw->mu);
    bury(fw, it);
    pthread_mutex_unlock(&fw->mu);
}

/* Sets the epoll interest of a tunnel's two sockets from its buffers: read a side while
 * its buffer is empty, write a side while the other's buffer holds bytes. */
static void tunnel_watch(struct item *it)
{
    int fds[2] = {it->client, it->peer};
    for (int i = 0; i < 2; i++) {
        struct epoll_event e = {.events = EPOLLRDHUP, .data.ptr = &it->ends[i]};
        if (it->dir[i].len == it->dir[i].off)
            e.events |= EPOLLIN;
        if (it->dir[1 - i].len > it->dir[1 - i].off)
            e.events |= EPOLLOUT;
        (void)epoll_ctl(it->fw->ep, EPOLL_CTL_MOD, fds[i], &e);
    }
}

/* Writes what dir[from] holds to the other side; false on a write error. */
static bool flush(struct item *it, int from)
{
    struct pipe_buf *b = &it->dir[from];
    int to = from == 0 ? it->peer : it->client;
    while (b->off < b->len) {
        ssize_t n = send(to, b->data + b->off, b->len - b->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        b->off += (size_t)n;
    }
    b->len = b->off = 0;
    return true;
}

/* Reads side into its empty buffer; false at end of stream or on an error. */
static bool fill_side(struct item *it, int side)
{
    struct pipe_buf *b = &it->dir[side];
    if (b->len > b->off)
        return true;
    ssize_t n;
    while ((n = recv(side == 0 ? it->client : it->peer, b->data, TUNNEL_BUF, MSG_DONTWAIT)) < 0 &&
           errno == EINTR)
        ;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    if (n <= 0)
        return false;
    b->len = (size_t)n;
    b->off = 0;
    return true;
}

/* The owner went away (stopped, or died): say so to the client in a close frame (1012
 * "service restart"); the page reconnects and is given a shell again, on a live node.
 * After the owner's own close frame, the client ignores this one. */
static void say_restart(int client)
{
    static const char bye[] = "the node running this terminal stopped; reconnect";
    unsigned char frame[2 + 2 + sizeof(bye)];
    frame[0] = 0x88; /* FIN, close */
    frame[1] = (unsigned char)(2 + sizeof(bye) - 1);
    frame[2] = 1012 >> 8;
    frame[3] = 1012 & 0xff;
    memcpy(frame + 4, bye, sizeof(bye) - 1);
    (void)send(client, frame, 4 + sizeof(bye) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void tunnel_event(struct forward *fw, struct item *it, int side, uint32_t ev)
{
    bool ok = true;
    if (ev & EPOLLOUT)
        ok = flush(it, 1 - side);
    if (ok && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        ok = fill_side(it, side) && flush(it, side);
    if (ok) {
        tunnel_watch(it);
        return;
    }
    if (side == 1 || !(ev & EPOLLOUT))
        say_restart(it->client);
    bury(fw, it);
}

/* The owner's answer arrives (P_HEAD, P_BODY). */
static void answer_event(struct forward *fw, struct item *it)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = recv(it->peer, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            it->why = "answer cut short";
            hand_back(fw, it);
            return;
        }
        if (n == 0) {
            /* The end: a plain answer is complete (HTTP/1.0, Connection: close). */
            if (it->phase == P_HEAD)
                it->why = "bad or no answer";
            hand_back(fw, it);
            return;
        }
        if (buf_append(&it->in, chunk, (size_t)n) < 0) {
            it->why = it->phase == P_HEAD ? "bad or no answer" : "answer too large";
            hand_back(fw, it);
            return;
        }
        if (it->phase == P_HEAD) {
            int r = http_head_parse(it->in.data, it->in.len, &it->h);
            if (r == -EAGAIN && it->in.len <= HEAD_MAX)
                continue;
            if (r < 0) {
                it->why = "bad or no answer";
                hand_back(fw, it);
                return;
            }
            it->phase = P_BODY;
            /* A stream and a 101 are answered at once; what follows is relayed. */
            if ((it->upgrade && it->h.status == 101) ||
                (!it->upgrade && !strncasecmp(it->h.ctype, "text/event-stream", 17))) {
                hand_back(fw, it);
                return;
            }
        }
        if (it->h.length >= 0 && it->in.len - it->h.head_len >= (size_t)it->h.length) {
            hand_back(fw, it);
            return;
        }
    }
}

static void *relay_main(void *arg)
{
    struct forward *fw = arg;
    struct epoll_event evs[64];
    pthread_mutex_lock(&fw->mu);
    for (;;) {
        /* Nothing taken from the kernel refers to the grave any more. */
        while (fw->grave) {
            struct item *it = fw->grave;
            fw->grave = it->next;
            item_free(it);
        }
        if (fw->closing)
            break;
        pthread_mutex_unlock(&fw->mu);
        int n = epoll_wait(fw->ep, evs, 64, RELAY_TICK_MS);
        pthread_mutex_lock(&fw->mu);
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                uint64_t v;
                (void)!read(fw->wake, &v, sizeof(v));
                continue;
            }
            struct end *e = evs[i].data.ptr;
            struct item *it = e->it;
            if (it->dead)
                continue;
            if (it->phase == P_TUNNEL)
                tunnel_event(fw, it, e->side, evs[i].events);
            else if (it->phase == P_STREAM && it->out)
                http_stream_wake(it->out);
            else if (it->phase == P_HEAD || it->phase == P_BODY)
                answer_event(fw, it);
        }
        int64_t now = clock_mono_us();
        for (struct item *it = fw->items, *next; it; it = next) {
            next = it->next;
            if ((it->phase == P_HEAD || it->phase == P_BODY) && now > it->deadline_us) {
                it->why = "no answer in time";
                hand_back(fw, it);
                next = fw->items; /* the list may have changed while unlocked */
            }
        }
    }
    pthread_mutex_unlock(&fw->mu);
    return NULL;
}

int forward_new(struct forward **ret)
{
    struct forward *fw = calloc(1, sizeof(*fw));
    if (!fw)
        return -ENOMEM;
    pthread_mutex_init(&fw->mu, NULL);
    fw->ep = epoll_create1(EPOLL_CLOEXEC);
    fw->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (fw->ep < 0 || fw->wake < 0 || epoll_ctl(fw->ep, EPOLL_CTL_ADD, fw->wake, &e) < 0 ||
        pthread_create(&fw->thread, NULL, relay_main, fw) != 0) {
        int rc = -errno;
        if (fw->ep >= 0)
            close(fw->ep);
        if (fw->wake >= 0)
            close(fw->wake);
        pthread_mutex_destroy(&fw->mu);
        free(fw);
        return rc ? rc : -EAGAIN;
    }
    *ret = fw;
    return 0;
}

void forward_stop(struct forward *fw)
{
    if (!fw)
        return;
    pthread_mutex_lock(&fw->mu);
    if (fw->closing) {
        pthread_mutex_unlock(&fw->mu);
        return;
    }
    /* Answers still being read get a 503 now, while the HTTP server can send it;
     * streams end; tunnels close with "reconnect". */
    for (struct item *it = fw->items, *next; it; it = next) {
        next = it->next;
        if (it->phase == P_HEAD || it->phase == P_BODY) {
            it->why = "this node is stopping";
            hand_back(fw, it);
            next = fw->items;
        } else if (it->phase == P_STREAM && it->out) {
            http_stream_end(it->out);
        } else if (it->phase == P_TUNNEL) {
            say_restart(it->client);
            bury(fw, it);
        }
    }
    fw->closing = true;
    uint64_t one = 1;
    (void)!write(fw->wake, &one, sizeof(one));
    pthread_mutex_unlock(&fw->mu);
    pthread_join(fw->thread, NULL);
}

void forward_free(struct forward *fw)
{
    if (!fw)
        return;
    forward_stop(fw);
    /* The HTTP server has stopped: no stream or continuation refers to an item now. */
    for (struct item *it = fw->items, *next; it; it = next) {
        next = it->next;
        item_free(it);
    }
    for (struct item *it = fw->grave, *next; it; it = next) {
        next = it->next;
        item_free(it);
    }
    close(fw->ep);
    close(fw->wake);
    pthread_mutex_destroy(&fw->mu);
    free(fw);
}

/* Sends req to node and leaves the answer to the relay. */
static bool relay(struct api *api, struct http_req *req, const char *node, const char *const *query,
                  bool upgrade)
{
    struct forward *fw = api->forward;
    if (!fw)
        return false;
    int fd = forward_open_to(api, req, node, query, upgrade);
    if (fd <= 0)
        return fd < 0;
    struct item *it = calloc(1, sizeof(*it));
    if (!it) {
        close(fd);
        api_fail(req, -ENOMEM, "forward");
        return true;
    }
    it->fw = fw;
    it->upgrade = upgrade;
    it->req = req;
    it->peer = fd;
    it->client = -1;
    it->ends[0] = (struct end){it, 0};
    it->ends[1] = (struct end){it, 1};
    snprintf(it->node, sizeof(it->node), "%s", node);
    buf_init(&it->in, upgrade ? HEAD_MAX * 2 : BODY_MAX);
    it->deadline_us = clock_mono_us() + (int64_t)(upgrade ? 60000 : ANSWER_MS) * 1000;
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    http_req_defer(req);
    pthread_mutex_lock(&fw->mu);
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &it->ends[1]};
    it->next = fw->items;
    fw->items = it;
    if (fw->closing || epoll_ctl(fw->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        it->why = "this node is stopping";
        hand_back(fw, it);
    }
    pthread_mutex_unlock(&fw->mu);
    return true;
}

bool forward_request(struct api *api, struct http_req *req, const char *node,
                     const char *const *query)
{
    return relay(api, req, node, query, false);
}

bool forward_websocket(struct api *api, struct http_req *req, const char *node,
                       const char *const *query)
{
    return relay(api, req, node, query, true);
}
