/*
 * live environments: what the page shows when a user reaches the terminal limit, and the
 * actions that free a slot. A WebSocket handshake refused with 429 is invisible to a
 * browser (it sees only a failed connection), so the page asks here instead.
 *
 *   GET    /api/terminals                          the caller's live environments
 *   DELETE /api/workspaces/{id}/terminals          ends that workspace's environment
 *   DELETE /api/workspaces/{id}/terminals/{name}   ends one terminal (its shell)
 *
 * The limit (--terminal-max-per-user) counts the caller's environments on every node, so
 * the list does too: this node's own, and those of each node that holds a lease on one of
 * the caller's workspaces, asked over forward_fetch (a peer asked that way answers with its
 * own only). A node that does not answer leaves its environments out and the answer says
 * "partial". The DELETEs go to the node that holds the workspace's environment.
 */
#include "api/cluster.h"
#include "api/forward.h"
#include "api/internal.h"
#include "api/live.h"
#include "exec/terminals.h"
#include "store/nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { LIST_MAX = 64 }; /* environments listed */

/* This node's environments of user_id, appended to items. */
static void list_local(struct api *api, int64_t user_id, json_t *items)
{
    struct terms_env_info info[LIST_MAX];
    size_t n = terms_list(api->terms, user_id, info, LIST_MAX);
    for (size_t i = 0; i < n && i < LIST_MAX; i++) {
        struct store_workspace *w = NULL;
        json_t *names = json_array();
        for (unsigned k = 0; k < info[i].nterms && k < TERMS_LIST_NAMES; k++)
            json_array_append_new(names, json_string(info[i].names[k]));
        (void)store_workspace_get(api->store, info[i].ws, &w, NULL);
        json_array_append_new(items, json_pack("{s:I,s:o,s:o,s:I,s:I,s:I,s:I}", "workspace_id",
                                               (json_int_t)info[i].ws, "workspace_name",
                                               w ? json_string(w->name) : json_null(), "terminals",
                                               names, "terminal_count", (json_int_t)info[i].nterms,
                                               "clients", (json_int_t)info[i].clients, "age_ms",
                                               (json_int_t)info[i].age_ms, "idle_ms",
                                               (json_int_t)info[i].idle_ms));
        store_workspace_free(w);
    }
}

/* A peer's items, checked field by field (a peer is trusted, but its answer is parsed). */
static void add_remote(json_t *items, json_t *answer)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(answer, "items"), i, it)
    {
        if (json_array_size(items) >= LIST_MAX)
            return;
        if (json_is_object(it) && json_is_integer(json_object_get(it, "workspace_id")) &&
            json_is_integer(json_object_get(it, "age_ms")))
            json_array_append(items, it);
    }
}

static int by_age(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "age_ms"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "age_ms"));
    return x < y ? -1 : x > y;
}

/* items, newest first. */
static void sort_items(json_t *items)
{
    size_t n = json_array_size(items);
    json_t **v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(items, i));
    qsort(v, n, sizeof(*v), by_age);
    json_array_clear(items);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, v[i]);
    free(v);
}

static void h_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    int origin = api->cluster ? forward_origin(api, req) : 0;
    if (origin < 0) {
        api_caller_done(&c);
        return;
    }
    json_t *items = json_array();
    bool partial = false;
    list_local(api, c.user.id, items);
    char **nodes = NULL;
    size_t nn = 0;
    if (origin == 0 && api->cluster &&
        store_lease_nodes_user(api->store, c.user.id, cluster_node(api->cluster), &nodes, &nn,
                               NULL) == 0) {
        for (size_t i = 0; i < nn; i++) {
            json_t *answer = NULL;
            int r = forward_fetch(api, req, nodes[i], &answer);
            if (r == 0)
                add_remote(items, answer);
            else if (r != -ENOENT) /* -ENOENT: a dead node, whose leases were just dropped */
                partial = true;
            json_decref(answer);
        }
        store_node_ids_free(nodes, nn);
    }
    sort_items(items);
    json_t *out = json_pack("{s:o,s:I,s:I}", "items", items, "max_per_user",
                            (json_int_t)api->cfg->terminal_max_per_user, "max_per_workspace",
                            (json_int_t)api->cfg->terminal_max_per_workspace);
    if (partial)
        json_object_set_new(out, "partial", json_true());
    http_reply_json(req, 200, out);
    api_caller_done(&c);
}

/* The node that holds workspace ws's environment, when it is a live peer: req is relayed
 * there (true). */
static bool ended_elsewhere(struct api *api, struct http_req *req, int64_t ws)
{
    struct store_lease *l = NULL;
    if (!api->cluster || forward_origin(api, req) != 0 ||
        store_lease_get(api->store, ws, &l, NULL) < 0)
        return false;
    bool done = strcmp(l->node, cluster_node(api->cluster)) != 0 &&
                forward_request(api, req, l->node, NULL);
    store_lease_free(l);
    return done;
}

static void h_end(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    const char *name = req->nparam > 1 ? req->param[1] : NULL;
    if (terms_end(api->terms, w->id, name) == 0)
        http_reply(req, 204, NULL, "", 0, NULL);
    else if (!ended_elsewhere(api, req, w->id))
        api_reply_error(req, not_found,
                        name ? "no such live terminal in this workspace"
                             : "this workspace has no live environment");
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_environment_routes(struct router *r)
{
    router_add(r, "GET", "/api/terminals", h_list);
    router_add(r, "DELETE", "/api/workspaces/{}/terminals", h_end);
    router_add(r, "DELETE", "/api/workspaces/{}/terminals/{}", h_end);
}
