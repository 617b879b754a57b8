/* drain: stopping a node without losing work; see drain.h. */
#include "api/drain.h"

#include "api/api.h"
#include "api/cluster.h"
#include "api/forward.h"
#include "api/live.h"
#include "base/events.h"
#include "base/log.h"
#include "exec/runs.h"
#include "exec/terminals.h"
#include "store/nodes.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NOTICE_WS_MAX 1024 /* workspaces whose subscribers are told */

static atomic_bool g_draining;
static atomic_int_least64_t g_since_ms; /* when draining began (store_now_ms) */

bool api_draining(void)
{
    return atomic_load(&g_draining);
}

void api_drain_start(struct api *api)
{
    if (atomic_exchange(&g_draining, true))
        return;
    atomic_store(&g_since_ms, store_now_ms());
    struct err e = {0};
    if (api->cluster && store_node_drain(api->store, cluster_node(api->cluster), &e) < 0)
        log_event(LOG_WARN, "could not mark the node draining", json_pack("{s:s}", "error", e.msg));
    unsigned running = 0, queued = 0;
    if (api->runs)
        runs_stats(api->runs, &running, &queued);
    static int64_t ws[NOTICE_WS_MAX];
    pthread_rwlock_rdlock(&api->terms_lock); /* see struct api */
    size_t n = terms_notice_all(api->terms, DRAIN_NOTICE, ws, NOTICE_WS_MAX);
    pthread_rwlock_unlock(&api->terms_lock);
    for (size_t i = 0; i < n && i < NOTICE_WS_MAX; i++) {
        api_events_publish(api, ws[i], EVENT_WS(server_restarting), "", NULL, DRAIN_NOTICE);
        cluster_send_event(api->cluster, ws[i], EVENT_WS(server_restarting), "", NULL, DRAIN_NOTICE,
                           false);
    }
    log_event(LOG_INFO, "draining",
              json_pack("{s:I,s:i,s:i}", "grace_s", (json_int_t)api->cfg->drain_grace, "runs",
                        (int)(running + queued), "environments", (int)n));
}

bool api_drained(struct api *api)
{
    unsigned running = 0, queued = 0;
    if (api->runs)
        runs_stats(api->runs, &running, &queued);
    if (running + queued == 0)
        return true;
    if (store_now_ms() - atomic_load(&g_since_ms) < (int64_t)api->cfg->drain_grace * 1000)
        return false;
    /* Out of time: the runs end now, before the server waits for its handlers (a run's
     * `?wait=1` or event stream would hold them until its wall limit). */
    runs_stop(api->runs);
    return true;
}

static void restarting(struct http_req *req)
{
    static const char *const h[] = {"Retry-After", "2", NULL};
    static const char body[] = "{\"error\":{\"code\":\"unavailable\",\"message\":"
                               "\"this server is restarting; try again\"}}";
    http_reply(req, 503, "application/json", body, sizeof(body) - 1, h);
}

/* Relays req to a peer that is not draining, with fn (forward_request or
 * forward_websocket); 503 when there is none or when req came from a peer. */
static bool relay(struct api *api, struct http_req *req, const char *const *query,
                  bool (*fn)(struct api *, struct http_req *, const char *, const char *const *))
{
    int origin = forward_origin(api, req);
    if (origin < 0)
        return true; /* answered 403 */
    char *peer = NULL;
    bool done =
        origin == 0 && cluster_pick_peer(api->cluster, &peer) == 0 && fn(api, req, peer, query);
    free(peer);
    if (!done)
        restarting(req);
    return true;
}

bool drain_relay_run(struct api *api, struct http_req *req)
{
    static const char *const query[] = {"wait", NULL};
    if (!api_draining())
        return false;
    return relay(api, req, query, forward_request);
}

bool drain_relay_terminal(struct api *api, struct http_req *req, int64_t ws)
{
    static const char *const query[] = {"name", NULL};
    if (!api_draining())
        return false;
    struct store_lease *l = NULL;
    bool here = api->cluster && store_lease_get(api->store, ws, &l, NULL) == 0 &&
                strcmp(l->node, cluster_node(api->cluster)) == 0;
    store_lease_free(l);
    if (here)
        return false;
    return relay(api, req, query, forward_websocket);
}
