/*
 * terminal endpoints: GET /api/workspaces/{id}/terminal (WebSocket) and
 * GET /api/workspaces/{id}/events (Server-Sent Events). The protocol is in docs/terminal.md.
 *
 * A WebSocket is a cross-site request the browser sends with our cookie whatever page
 * opened it (no CORS preflight, no SameSite help for same-site subdomains), so an attach
 * authenticated by cookie must come with an Origin equal to our own origin (http or https
 * on the Host it asked for): 403 otherwise. API tokens are not ambient; a client that
 * sends one may leave Origin out.
 */
#include "exec/terminals.h"

#include "api/cluster.h"
#include "api/drain.h"
#include "api/forward.h"
#include "api/live.h"
#include "base/log.h"
#include "base/metrics.h"
#include "exec/runs.h"
#include "http/ws.h"
#include "store/nodes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool same_origin(const char *origin, const char *host)
{
    if (!origin || !host || !*host)
        return false;
    const char *rest = NULL;
    if (!strncmp(origin, "http://", 7))
        rest = origin + 7;
    else if (!strncmp(origin, "https://", 8))
        rest = origin + 8;
    return rest && !strcasecmp(rest, host);
}

void api_terms_workspace_changed(struct api *api, int64_t ws, const char *path, const char *etag)
{
    pthread_rwlock_rdlock(&api->terms_lock);
    if (api->terms)
        terms_workspace_changed(api->terms, ws, path, etag);
    pthread_rwlock_unlock(&api->terms_lock);
}

/* A terminal's handshake, between the handler and the 101. */
struct pending {
    struct api *api;
    struct term_ref *ref;
};

/* On an HTTP loop thread, after the 101: possibly after api_stop_live, whose clearing of
 * api->terms the read lock orders against this attach (a client attached first is closed
 * by terms_free). */
static void on_upgrade(void *ctx, int fd, void *handle, const char *extra, size_t extra_len)
{
    struct pending *p = ctx;
    struct api *api = p->api;
    pthread_rwlock_rdlock(&api->terms_lock);
    if (api->terms) {
        terms_attach(api->terms, p->ref, fd, handle, extra, extra_len);
    } else {
        terms_ref_free(p->ref);
        http_upgrade_close(handle);
    }
    pthread_rwlock_unlock(&api->terms_lock);
    free(p);
}

/* A workspace whose environment lives on another node: the WebSocket is joined to that
 * node's (forward.c). True when req was answered that way; false when no live peer holds
 * the lease (a dead holder's lease is dropped on the way, so the caller may start here). */
static bool proxied_to_holder(struct api *api, struct http_req *req, int64_t ws)
{
    static const char *const query[] = {"name", "mode", NULL};
    struct store_lease *l = NULL;
    if (!api->cluster || forward_origin(api, req) != 0 ||
        store_lease_get(api->store, ws, &l, NULL) < 0)
        return false;
    bool done = strcmp(l->node, cluster_node(api->cluster)) != 0 &&
                forward_websocket(api, req, l->node, query);
    store_lease_free(l);
    return done;
}

/* --terminal-max-per-user over the whole cluster: a workspace with no live environment
 * anywhere may start one only while its owner's environments on every node are fewer.
 * (terms_open counts this node's.) Answers 429 and returns false. */
static bool environment_allowed(struct api *api, struct http_req *req,
                                const struct store_workspace *w)
{
    int64_t n = 0;
    uint64_t max = api->cfg->terminal_max_per_user;
    if (!max || store_lease_get(api->store, w->id, NULL, NULL) != -ENOENT ||
        store_leases_count_user(api->store, w->owner_id, w->id, &n, NULL) < 0 || (uint64_t)n < max)
        return true;
    api_reply_error(req, too_many_environments,
                    "you have %llu workspaces with live terminals; close one first",
                    (unsigned long long)max);
    return false;
}

/* Answers a terms_open or terms_watch that failed with r (e: its message) in workspace w. */
static void reply_open_error(struct api *api, struct http_req *req, const struct store_workspace *w,
                             int r, const struct err *e)
{
    switch (r) {
    case -EINVAL:
        api_reply_error(req, invalid_name,
                        "a terminal name is 1 to %d letters, digits, '_', '-' or '.'",
                        TERM_NAME_MAX);
        break;
    case -EUSERS:
        api_reply_error(req, too_many_environments,
                        "you have %llu workspaces with live terminals; close one first",
                        (unsigned long long)api->cfg->terminal_max_per_user);
        break;
    case -EMFILE:
        api_reply_error(req, too_many_terminals,
                        "this workspace has %llu terminals open; close one first",
                        (unsigned long long)api->cfg->terminal_max_per_workspace);
        break;
    case -EBUSY:
        api_reply_error(req, elsewhere,
                        "this workspace's terminals live on another node; try again");
        break;
    case -ENOSYS:
        api_reply_error(req, unavailable, "terminals are not available on this server");
        break;
    case -ESHUTDOWN:
    case -EAGAIN:
        api_reply_error(req, unavailable, "the terminal is restarting; try again");
        break;
    default:
        log_event(LOG_ERROR, "terminal open failed",
                  json_pack("{s:s,s:I,s:s}", "request_id", req->id, "workspace_id",
                            (json_int_t)w->id, "error", e->msg));
        api_reply_error(req, internal, "could not start the terminal");
        break;
    }
}

static void h_terminal(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_auth(api, req, &c))
        return;
    const char *origin = http_req_header(req, "Origin");
    if ((c.by_cookie || origin) && !same_origin(origin, http_req_header(req, "Host"))) {
        api_reply_error(req, forbidden_origin,
                        "a terminal may only be opened from this server's own pages");
        api_caller_done(&c);
        return;
    }
    int64_t id;
    if (!api_param_id(req, 0, &id) ||
        !api_workspace_load(api, req, &c, id, API_ACCESS_VIEWER, &w)) {
        api_caller_done(&c);
        return;
    }
    const char *name = http_req_query(req, "name");
    if (!name || !*name)
        name = "1";
    /* mode=view watches a live terminal: output only, and nothing is started. A caller who
     * may read the workspace but not change it can only watch. */
    const char *mode = http_req_query(req, "mode");
    bool watch = mode && !strcmp(mode, "view");
    if (mode && !watch && strcmp(mode, "edit")) {
        api_reply_error(req, bad_request, "mode is 'edit' (the default) or 'view'");
        goto out;
    }
    if (!watch && !api_may_edit(api, &c, w)) {
        api_reply_error(req, read_only,
                        "you may watch this workspace's terminals (mode=view), not type in them");
        goto out;
    }
    char accept[WS_ACCEPT_SIZE];
    const char *reason = "bad handshake";
    int r = ws_handshake(http_req_header(req, "Upgrade"), http_req_header(req, "Connection"),
                         http_req_header(req, "Sec-WebSocket-Version"),
                         http_req_header(req, "Sec-WebSocket-Key"), accept, &reason);
    if (r == -EPROTONOSUPPORT) {
        static const char body[] = "{\"error\":{\"code\":\"upgrade_required\",\"message\":"
                                   "\"WebSocket version 13 is required\"}}";
        static const char *const h[] = {"Sec-WebSocket-Version", "13", NULL};
        http_reply(req, 426, "application/json", body, sizeof(body) - 1, h);
        goto out;
    }
    if (r < 0) {
        api_reply_error(req, bad_handshake, "not a WebSocket request: %s", reason);
        goto out;
    }
    if (proxied_to_holder(api, req, w->id) || drain_relay_terminal(api, req, w->id))
        goto out;
    if (!watch && !environment_allowed(api, req, w))
        goto out;
    struct term_ref *ref = NULL;
    struct err e = {0};
    if (watch)
        r = api->terms ? terms_watch(api->terms, w->id, name, &ref) : -ENOSYS;
    else
        r = api->terms ? terms_open(api->terms, w->id, w->owner_id, name, &ref, &e) : -ENOSYS;
    if (watch && r == -ENOENT) {
        api_reply_error(req, no_terminal, "no live terminal '%s' to watch", name);
        goto out;
    }
    if (r == -EBUSY && proxied_to_holder(api, req, w->id))
        goto out; /* another node started it meanwhile */
    if (r < 0) {
        reply_open_error(api, req, w, r, &e);
        goto out;
    }
    terms_ref_set_caller(ref, c.user.id, c.by_cookie ? c.session_hash : NULL, c.token_id);
    /* Starting the environment may take a while: a credential revoked meanwhile is caught
     * by checking it again now; one revoked from here on is caught by terms_attach. */
    struct api_caller again;
    if (!api_auth(api, req, &again)) {
        terms_ref_free(ref);
        goto out;
    }
    api_caller_done(&again);
    const char *const h[] = {"Sec-WebSocket-Accept", accept, "Cache-Control", "no-store", NULL};
    struct pending *p = malloc(sizeof(*p));
    if (p)
        *p = (struct pending){api, ref};
    if (!p || http_reply_upgrade(req, on_upgrade, p, h) < 0) {
        free(p);
        terms_ref_free(ref);
        api_fail(req, -ENOMEM, "terminal");
    } else {
        metrics_inc(METRIC_TERMINALS_OPENED, NULL);
    }
out:
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_events(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    const char *client = http_req_query(req, "client");
    if (client && !api_client_ok(client)) {
        api_reply_error(req, invalid_client, "a client id is 1 to %d letters, digits, '_' or '-'",
                        API_CLIENT_MAX);
        goto out;
    }
    api_events_open(api, req, w->id, &c, client);
    if (req->status == 200 && client)
        api_presence_joined(api, w->id, &c, client);
out:
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_events_closed(struct api *api, int64_t user_id)
{
    struct cluster *cl = api->cluster;
    if (cl)
        (void)store_stream_close(cluster_store(cl), cluster_node(cl), user_id, NULL);
}

/* Changes made in a terminal, as events. */
static void on_sync(void *ctx, int64_t ws, enum wsync_event ev, const char *path, const char *etag,
                    const char *message)
{
    struct api *api = ctx;
    static const enum event_ws events[] = {
        [WSYNC_FILE_CHANGED] = EVENT_WS_file_changed,
        [WSYNC_FILE_DELETED] = EVENT_WS_file_deleted,
        [WSYNC_FOLDER_CREATED] = EVENT_WS_folder_created,
        [WSYNC_LIMIT_EXCEEDED] = EVENT_WS_limit_exceeded,
        [WSYNC_CONFLICT] = EVENT_WS_conflict,
        [WSYNC_NOT_SAVED] = EVENT_WS_not_saved,
    };
    const char *name = event_ws_name(events[ev]);
    const char *e = ev == WSYNC_FILE_CHANGED ? etag : NULL;
    if (ev == WSYNC_FILE_CHANGED || ev == WSYNC_FILE_DELETED)
        api_doc_replaced(api, ws, path); /* before the change event: see api_doc_replaced */
    api_events_publish(api, ws, name, path, e, message);
    cluster_send_event(api->cluster, ws, name, path, e, message, false);
}

void api_terminal_routes(struct api *api, struct router *r)
{
    const struct settings *s = api->cfg;
    struct terms_config tc = {
        .data_dir = s->data_dir,
        .node = cluster_node(api->cluster),
        .files = api->limits,
        .idle_timeout_s = (unsigned)s->terminal_idle_timeout,
        .max_lifetime_s = (unsigned)s->terminal_max_lifetime,
        .max_per_user = (unsigned)s->terminal_max_per_user,
        .max_terminals = (unsigned)s->terminal_max_per_workspace,
        .scrollback = s->terminal_scrollback,
        .client_queue = s->terminal_client_queue,
        .ping_s = (unsigned)s->terminal_ping,
        .notify = on_sync,
        .notify_ctx = api,
        .inodes = s->run_inodes,
    };
    sb_limits_default(&tc.limits);
    tc.limits.memory_bytes = s->terminal_memory;
    tc.limits.pids = s->terminal_pids;
    tc.limits.cpu_ms = s->terminal_cpu_ms;
    tc.limits.file_size_bytes = s->run_files;
    tc.limits.workspace_bytes = s->run_files; /* the environment's file system: see terms_config */
    tc.limits.tmpfs_bytes = s->run_tmp;
    tc.limits.open_files = 1024;
    struct err e = {0};
    if (terms_new(&tc, api->store, api->sup, &api->terms, &e) < 0)
        log_event(LOG_ERROR, "terminals unavailable", json_pack("{s:s}", "error", e.msg));
    router_add(r, "GET", "/api/workspaces/{}/terminal", h_terminal);
    router_add(r, "GET", "/api/workspaces/{}/events", h_events);
}

void api_stop_live(struct api *api)
{
    /* Runs still going (past the drain's grace, or a SIGINT) end now: their streams hold
     * HTTP connections that the server's stop would otherwise wait for. */
    runs_stop(api->runs);
    api_metrics_stop(); /* its sampler reads the terminals freed below */
    api_events_close(api);
    forward_stop(api->forward);
    /* Terminal clients are upgraded connections: they must be closed before the HTTP
     * server stops, so the terminals end here. No handler runs any more
     * (http_server_quiesce); an upgrade callback still may, and takes the read lock. */
    pthread_rwlock_wrlock(&api->terms_lock);
    struct terms *t = api->terms;
    api->terms = NULL;
    pthread_rwlock_unlock(&api->terms_lock);
    terms_free(t);
}
