/* http requests: one request on its loop thread, from the request line to completion:
 * its state, the strict checks and refusals, the hand-over to a worker, the access log. */
#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/peraddr.h"
#include "http/reqcheck.h"
#include "http/server_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void new_id(char out[17])
{
    unsigned char raw[8];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 17, raw, sizeof(raw));
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

void srv_req_unref(struct req_state *st)
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

/* Called by libmicrohttpd with the raw request target as soon as the request line is in,
 * before it splits the query: the request's state starts here. */
void *srv_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
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

static void start_request(struct http_server *srv, struct req_state *st, struct MHD_Connection *c,
                          const char *url, const char *method, const char *version)
{
    struct http_req *req = &st->req;
    st->started = true;
    req->conn = c;
    req->method = method;
    req->path = url;
    req->started_us = clock_mono_us();
    buf_init(&req->body, srv->cfg.max_body);
    new_id(req->id);
    srv_remote_addr(c, req->remote, sizeof(req->remote));
    if (srv->cfg.trust_proxy)
        srv_forwarded_for(c, req->remote, sizeof(req->remote));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    st->conn = ci ? ci->socket_context : NULL;
    srv_conn_phase(srv, st->conn, PH_BODY);

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

enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *c, const char *url,
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
        srv_send_answer(st);
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
        srv_send_answer(st); /* a worker's answer, after the resume */
        return MHD_YES;
    }
    st->dispatched = true;
    srv_conn_phase(srv, st->conn, PH_BUSY);
    if (srv->cfg.inline_ok && srv->cfg.inline_ok(method, req->path)) {
        srv->handler(req, srv->ctx);
        srv_settle(st);
        srv_send_answer(st);
        return MHD_YES;
    }
    /* Suspend before the job exists: the worker may finish and resume at once. */
    pthread_mutex_lock(&st->mu);
    st->suspended = true;
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&st->mu);
    if (!srv_submit(srv, st, srv->handler, srv->ctx, true)) {
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

void srv_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
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
        double ms = (double)(clock_mono_us() - req->started_us) / 1000.0;
        int status = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? req->status : 0;
        metrics_http_request(req->method, req->route, req->status,
                             clock_mono_us() - req->started_us);
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
        cn->phase_us = clock_mono_us();
        cn->body_bytes = 0;
        cn->served++;
    }
    if (srv->stopping)
        pthread_cond_broadcast(&srv->tick_cv); /* http_server_stop waits for the last ones */
    pthread_mutex_unlock(&srv->mu);
    srv_req_unref(st);
}
