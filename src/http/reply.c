/* http replies: a handler's answer is stashed with its request and sent by the loop
 * thread; replies, upgrades, request accessors and unescaping; see server.h. */
#include "http/server_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

int srv_queue(struct http_req *req, int status, struct MHD_Response *r, const char *const *headers)
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
    return srv_queue(req, status, r, headers);
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
    return srv_queue(req, status, r, nocache);
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

/* Hands the stashed answer to libmicrohttpd (on the loop thread). */
void srv_send_answer(struct req_state *st)
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
void srv_settle(struct req_state *st)
{
    pthread_mutex_lock(&st->mu);
    bool answered = st->resp != NULL;
    pthread_mutex_unlock(&st->mu);
    if (!answered)
        http_reply_error(&st->req, 500, "internal", "the request was not answered");
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
