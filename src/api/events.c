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
 *
 * A user's own stream (GET /api/events, api/notifications.c) is a subscriber of no
 * workspace (ws 0): it hears only what api_users_event sends to its user (the review
 * bell's `notification`), from this node or, over the bus, from any other. It counts
 * against the same cap on a user's streams, and ends with the user's credential like the
 * others.
 */
#include "api/cluster.h"
#include "api/live.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "exec/terminals.h"
#include "http/sse.h"
#include "store/nodes.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_QUEUE (256u << 10) /* bytes of event text waiting per subscriber */
#define KEEPALIVE_MS 15000        /* a comment line this often keeps proxies honest */

/* A subscriber. Written only under its registry's mu (struct events); the stream itself is the HTTP
 * server's, and this file only pushes text into it (http_stream_write) and ends it
 * (http_stream_end). */
struct sub {
    struct api *api;
    int64_t ws;       /* 0: the user's own stream (GET /api/events) */
    int64_t user_id;  /* who opened it */
    char session[80]; /* the session's token hash, "" for a Bearer stream */
    int64_t token_id; /* the API token's id, 0 for a cookie stream */
    bool revoked;     /* its credential ended: the stream was ended */
    bool resynced;    /* the last thing queued was a resync (no second one) */
    struct http_stream *stream;
    struct sub *next;

    char username[64];
    char client[API_CLIENT_MAX + 1]; /* the page's id for presence (?client=), "" for none */
};

/* The node's subscribers (api->events). */
struct events {
    pthread_mutex_t mu; /* everything below, and each sub */
    struct sub *subs;
    bool closing; /* api_events_close: no new streams */
    /* Streams one user may hold open on this node (--max-event-streams-per-user). A
     * stream costs a connection's memory, not a thread; the cap keeps one user from taking
     * all of --max-connections. A closed stream frees its place at once (the server
     * notices the hang-up). */
    unsigned per_user_cap;
};

int api_events_new(unsigned max_per_user, struct events **ret)
{
    struct events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    pthread_mutex_init(&ev->mu, NULL);
    ev->per_user_cap = max_per_user ? max_per_user : 1;
    *ret = ev;
    return 0;
}

void api_events_free(struct events *ev)
{
    if (!ev)
        return;
    /* The HTTP server has stopped: every stream's sub_closed has run. */
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

/* Writes the resync event to s, past its queue's cap (it replaces what was dropped). */
static int write_resync(struct sub *s)
{
    char frame[64];
    int n = snprintf(frame, sizeof(frame), "event: %s\ndata: {}\n\n",
                     s->ws ? EVENT_WS(resync) : EVENT_USER(resync));
    return http_stream_write(s->stream, frame, (size_t)n, true);
}

/* Queues text for s; a subscriber too far behind gets one resync (reload the tree)
 * instead, so a stalled reader costs bounded memory. Called with mu held. */
static void push(struct sub *s, const char *text, size_t len)
{
    int rc = http_stream_write(s->stream, text, len, false);
    if (rc == 0) {
        s->resynced = false;
    } else if (rc == -ENOBUFS && !s->resynced) {
        if (write_resync(s) == 0)
            s->resynced = true;
    }
}

/* Frames an event of type with data (borrowed) into ev; -1 when it cannot. */
static int frame(struct buf *ev, const char *type, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);
    buf_init(ev, EVENTS_QUEUE);
    int rc = text && sse_append(ev, type, text, strlen(text)) == 0 ? 0 : -1;
    free(text);
    if (rc < 0)
        buf_done(ev);
    return rc;
}

void api_events_publish(struct api *api, int64_t ws, const char *type, const char *path,
                        const char *etag, const char *message)
{
    struct events *evs = api->events;
    if (!evs)
        return;
    json_t *data = json_pack("{s:s}", "path", path ? path : "");
    if (!data)
        return;
    if (etag)
        json_object_set_new(data, "etag", json_string(etag));
    if (message)
        json_object_set_new(data, "message", json_string(message));
    api_events_publish_json(api, ws, type, data);
    json_decref(data);
}

void api_events_publish_json(struct api *api, int64_t ws, const char *type, json_t *data)
{
    struct events *evs = api->events;
    if (!evs)
        return;
    struct buf ev;
    if (frame(&ev, type, data) < 0)
        return;
    pthread_mutex_lock(&evs->mu);
    for (struct sub *s = evs->subs; s; s = s->next)
        if (s->ws == ws && ws && !s->revoked)
            push(s, ev.data, ev.len);
    pthread_mutex_unlock(&evs->mu);
    buf_done(&ev);
}

void api_users_event_local(struct api *api, const int64_t *users, size_t n, const char *type,
                           json_t *data)
{
    struct events *evs = api->events;
    struct buf ev;
    if (!evs || !n || frame(&ev, type, data) < 0)
        return;
    pthread_mutex_lock(&evs->mu);
    for (struct sub *s = evs->subs; s; s = s->next) {
        if (s->ws || s->revoked)
            continue;
        for (size_t i = 0; i < n; i++)
            if (users[i] == s->user_id) {
                push(s, ev.data, ev.len);
                break;
            }
    }
    pthread_mutex_unlock(&evs->mu);
    buf_done(&ev);
}

void api_users_event(struct api *api, const int64_t *users, size_t n, const char *type,
                     json_t *data)
{
    api_users_event_local(api, users, n, type, data);
    cluster_send_users(api->cluster, users, n, type, data);
}

void api_workspace_changed(struct api *api, int64_t ws, const char *path, const char *etag)
{
    const char *type = !etag    ? EVENT_WS(file_deleted)
                       : !*etag ? EVENT_WS(folder_created)
                                : EVENT_WS(file_changed);
    api_events_publish(api, ws, type, path, etag && *etag ? etag : NULL, NULL);
    api_terms_workspace_changed(api, ws, path, etag);
    cluster_send_event(api->cluster, ws, type, path, etag && *etag ? etag : NULL, NULL, true);
    if (!etag)
        api_doc_replaced(api, ws, path); /* deleted or moved away */
}

void api_events_resync(struct api *api, int64_t ws)
{
    struct events *evs = api->events;
    if (!evs)
        return;
    pthread_mutex_lock(&evs->mu);
    for (struct sub *s = evs->subs; s; s = s->next)
        if ((ws == 0 || s->ws == ws) && !s->revoked && !s->resynced && write_resync(s) == 0)
            s->resynced = true;
    pthread_mutex_unlock(&evs->mu);
}

/* The server is done with the stream (client gone, ended, shutdown): the place is free. */
static void sub_closed(void *ctx)
{
    struct sub *s = ctx;
    struct events *evs = s->api->events;
    api_events_closed(s->api, s->user_id);
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, -1);
    pthread_mutex_lock(&evs->mu);
    for (struct sub **p = &evs->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&evs->mu);
    if (*s->client)
        api_presence_left(s->api, s->ws, s->user_id, s->username, s->client);
    http_stream_unref(s->stream);
    free(s);
}

void api_live_revoke(struct api *api, int64_t user_id, const char *session_hash, int64_t token_id)
{
    api_live_revoke_local(api, user_id, session_hash, token_id);
    cluster_send_revoke(api->cluster, user_id, session_hash, token_id);
}

void api_live_revoke_local(struct api *api, int64_t user_id, const char *session_hash,
                           int64_t token_id)
{
    struct events *evs = api->events;
    pthread_mutex_lock(&evs->mu);
    for (struct sub *s = evs->subs; s; s = s->next)
        if ((user_id > 0 && s->user_id == user_id) ||
            (session_hash && *session_hash && !strcmp(s->session, session_hash)) ||
            (token_id > 0 && s->token_id == token_id)) {
            s->revoked = true;
            http_stream_end(s->stream);
        }
    pthread_mutex_unlock(&evs->mu);
    pthread_rwlock_rdlock(&api->terms_lock);
    if (api->terms)
        terms_revoke(api->terms, user_id, session_hash, token_id);
    pthread_rwlock_unlock(&api->terms_lock);
}

void api_events_stream(struct api *api, struct http_req *req, int64_t ws,
                       const struct api_caller *c, const char *client)
{
    struct events *evs = api->events;
    pthread_mutex_lock(&evs->mu);
    bool closed = evs->closing;
    unsigned mine = 0;
    for (struct sub *o = evs->subs; o; o = o->next)
        mine += o->user_id == c->user.id && !o->revoked;
    bool full = mine >= evs->per_user_cap;
    pthread_mutex_unlock(&evs->mu);
    if (closed) {
        api_reply_error(req, unavailable, "the server is shutting down");
        return;
    }
    if (full) {
        metrics_inc(METRIC_RATE_LIMITED, (const char *[]){"event_streams"});
        api_too_many(req, 2, "too many open event streams; close a tab first");
        return;
    }
    struct sub *s = calloc(1, sizeof(*s));
    if (!s) {
        api_fail(req, -ENOMEM, "event stream");
        return;
    }
    s->api = api;
    s->ws = ws;
    s->user_id = c->user.id;
    snprintf(s->username, sizeof(s->username), "%s", c->user.username);
    if (client)
        snprintf(s->client, sizeof(s->client), "%s", client);
    s->token_id = c->token_id;
    if (c->by_cookie)
        snprintf(s->session, sizeof(s->session), "%s", c->session_hash);
    static const char *const h[] = {"Cache-Control", "no-store", "X-Accel-Buffering", "no", NULL};
    struct http_stream_config sc = {
        .max_queue = EVENTS_QUEUE,
        .keepalive_ms = KEEPALIVE_MS,
        .keepalive = ":\n\n",
        .on_close = sub_closed,
        .ctx = s,
    };
    int rc = http_reply_stream(req, 200, "text/event-stream", &sc, h, &s->stream);
    if (rc < 0) {
        free(s);
        api_fail(req, rc, "event stream");
        return;
    }
    /* The answer goes out after this handler returns, so sub_closed cannot run before the
     * link. */
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, 1); /* sub_closed takes it back */
    static const char hello[] = "retry: 2000\n: events follow\n\n";
    pthread_mutex_lock(&evs->mu);
    (void)http_stream_write(s->stream, hello, sizeof(hello) - 1, true);
    s->next = evs->subs;
    evs->subs = s;
    pthread_mutex_unlock(&evs->mu);
}

void api_events_open(struct api *api, struct http_req *req, int64_t ws, const struct api_caller *c,
                     const char *client)
{
    /* The cap on a user's streams holds across nodes: each open one is a row. */
    struct cluster *cl = api->cluster;
    int r = cl ? store_stream_open(api->store, cluster_node(cl), c->user.id,
                                   (int64_t)api->cfg->max_event_streams_per_user, NULL)
               : 0;
    if (r == -EUSERS)
        api_too_many(req, 15, "too many open event streams; close a tab or wait a little");
    else if (r < 0)
        api_fail(req, r, "event stream");
    else
        api_events_stream(api, req, ws, c, client);
    if (r == 0 && cl && (req->status == 429 || req->status == 503)) /* refused locally */
        (void)store_stream_close(api->store, cluster_node(cl), c->user.id, NULL);
}

void api_events_close(struct api *api)
{
    struct events *evs = api->events;
    if (!evs)
        return;
    pthread_mutex_lock(&evs->mu);
    evs->closing = true;
    for (struct sub *s = evs->subs; s; s = s->next)
        http_stream_end(s->stream);
    pthread_mutex_unlock(&evs->mu);
}
