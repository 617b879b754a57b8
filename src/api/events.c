/*
 * events: what changed in a workspace, for live environments and event subscribers.
 *
 * api_workspace_changed() is called by the file endpoints after a change is stored: it
 * pushes the change into the workspace's live environment (terminals) and publishes an
 * event. Changes made in a terminal come back through api/terminals.c's sync callback.
 * Subscribers (GET /api/workspaces/{id}/events) each have a bounded queue of event text;
 * one that falls EVENTS_QUEUE bytes behind gets a single `resync` event instead (reload the
 * tree), so a stalled reader costs bounded memory. With PostgreSQL, every event published
 * here also goes to the other nodes over the cluster bus (api/cluster.c), which hand it to
 * their own subscribers and, for stored changes, to the workspace's live environment.
 */
#include "api/cluster.h"
#include "api/live.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "exec/terminals.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENTS_QUEUE (256u << 10) /* bytes of event text waiting per subscriber */
#define KEEPALIVE_MS 15000        /* a comment line this often keeps proxies and us honest */
/* Streams one user may hold open on this node. Each holds an HTTP connection and its
 * thread, so without a cap one user could take all --max-connections of the node. A page
 * holds one per tab; a vanished reader is noticed at the next keepalive. */
#define EVENTS_PER_USER API_EVENTS_PER_USER

struct sub {
    int64_t ws;
    int64_t user_id;  /* who opened it */
    char session[80]; /* the session's token hash, "" for a Bearer stream */
    int64_t token_id; /* the API token's id, 0 for a cookie stream */
    bool revoked;     /* its credential ended: close the stream */
    struct buf q;     /* SSE text not sent yet */
    size_t pos;       /* bytes of q already sent */
    bool overflow;    /* q passed EVENTS_QUEUE: send resync */
    bool hello;       /* the first chunk (retry hint) went out */
    struct sub *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sub *subs;
static bool closing;

static void init_cv(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &ca);
    pthread_condattr_destroy(&ca);
}

void api_events_publish(int64_t ws, const char *type, const char *path, const char *etag,
                        const char *message)
{
    pthread_once(&once, init_cv);
    json_t *data = json_pack("{s:s}", "path", path ? path : "");
    if (!data)
        return;
    if (etag)
        json_object_set_new(data, "etag", json_string(etag));
    if (message)
        json_object_set_new(data, "message", json_string(message));
    char *text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!text)
        return;
    pthread_mutex_lock(&mu);
    for (struct sub *s = subs; s; s = s->next) {
        if (s->ws != ws || s->overflow)
            continue;
        if (buf_printf(&s->q, "event: %s\ndata: %s\n\n", type, text) < 0) {
            s->overflow = true;
            buf_reset(&s->q);
            s->pos = 0;
        }
    }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    free(text);
}

void api_workspace_changed(struct api *api, int64_t ws, const char *path, const char *etag)
{
    (void)api;
    const char *type = !etag    ? EVENT_WS(file_deleted)
                       : !*etag ? EVENT_WS(folder_created)
                                : EVENT_WS(file_changed);
    api_events_publish(ws, type, path, etag && *etag ? etag : NULL, NULL);
    terms_workspace_changed(api_terms(), ws, path, etag);
    cluster_send_event(api_cluster(), ws, type, path, etag && *etag ? etag : NULL, NULL, true);
}

void api_events_resync(int64_t ws)
{
    pthread_once(&once, init_cv);
    pthread_mutex_lock(&mu);
    for (struct sub *s = subs; s; s = s->next)
        if (ws == 0 || s->ws == ws) {
            s->overflow = true; /* the next read sends `resync` */
            buf_reset(&s->q);
            s->pos = 0;
        }
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static ssize_t sse_read(void *ctx, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct sub *s = ctx;
    static const char hello[] = "retry: 2000\n: events follow\n\n";
    if (!s->hello) {
        s->hello = true;
        memcpy(out, hello, sizeof(hello) - 1);
        return (ssize_t)sizeof(hello) - 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += KEEPALIVE_MS / 1000;
    pthread_mutex_lock(&mu);
    while (!closing && !s->revoked && !s->overflow && s->pos == s->q.len)
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    ssize_t n;
    if (closing || s->revoked) {
        n = -1;
    } else if (s->overflow) {
        s->overflow = false;
        int k = snprintf(out, max, "event: %s\ndata: {}\n\n", EVENT_WS(resync));
        n = k > 0 && (size_t)k < max ? k : -1;
    } else if (s->pos < s->q.len) {
        size_t k = s->q.len - s->pos;
        if (k > max)
            k = max;
        memcpy(out, s->q.data + s->pos, k);
        s->pos += k;
        if (s->pos == s->q.len) {
            buf_reset(&s->q);
            s->pos = 0;
        }
        n = (ssize_t)k;
    } else {
        /* Nothing for a while: a comment line (and a failed write tells us it has gone). */
        memcpy(out, ":\n\n", 3);
        n = 3;
    }
    pthread_mutex_unlock(&mu);
    return n;
}

static void sse_free(void *ctx)
{
    struct sub *s = ctx;
    api_events_closed(s->user_id);
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, -1);
    pthread_mutex_lock(&mu);
    for (struct sub **p = &subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&mu);
    buf_done(&s->q);
    free(s);
}

void api_live_revoke(int64_t user_id, const char *session_hash, int64_t token_id)
{
    api_live_revoke_local(user_id, session_hash, token_id);
    cluster_send_revoke(api_cluster(), user_id, session_hash, token_id);
}

void api_live_revoke_local(int64_t user_id, const char *session_hash, int64_t token_id)
{
    pthread_once(&once, init_cv);
    pthread_mutex_lock(&mu);
    for (struct sub *s = subs; s; s = s->next)
        if ((user_id > 0 && s->user_id == user_id) ||
            (session_hash && *session_hash && !strcmp(s->session, session_hash)) ||
            (token_id > 0 && s->token_id == token_id))
            s->revoked = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    terms_revoke(api_terms(), user_id, session_hash, token_id);
}

void api_events_stream(struct http_req *req, int64_t ws, const struct api_caller *c)
{
    pthread_once(&once, init_cv);
    struct sub *s = calloc(1, sizeof(*s));
    if (!s) {
        api_fail(req, -ENOMEM, "event stream");
        return;
    }
    s->ws = ws;
    s->user_id = c->user.id;
    s->token_id = c->token_id;
    if (c->by_cookie)
        snprintf(s->session, sizeof(s->session), "%s", c->session_hash);
    buf_init(&s->q, EVENTS_QUEUE);
    pthread_mutex_lock(&mu);
    bool closed = closing;
    unsigned mine = 0;
    for (struct sub *o = subs; o; o = o->next)
        mine += o->user_id == s->user_id && !o->revoked;
    bool full = mine >= EVENTS_PER_USER;
    if (!closed && !full) {
        s->next = subs;
        subs = s;
    }
    pthread_mutex_unlock(&mu);
    if (full && !closed) {
        buf_done(&s->q);
        free(s);
        metrics_inc(METRIC_RATE_LIMITED, (const char *[]){"event_streams"});
        api_too_many(req, KEEPALIVE_MS / 1000,
                     "too many open event streams; close a tab or wait a little");
        return;
    }
    if (closed) {
        buf_done(&s->q);
        free(s);
        api_reply_error(req, unavailable, "the server is shutting down");
        return;
    }
    static const char *const h[] = {"Cache-Control", "no-store", "X-Accel-Buffering", "no", NULL};
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, 1); /* sse_free takes it back */
    http_reply_stream(req, 200, "text/event-stream", sse_read, s, sse_free, h);
}

void api_events_close(void)
{
    pthread_once(&once, init_cv);
    pthread_mutex_lock(&mu);
    closing = true;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}
