/*
 * live environments: what the page shows when a user reaches the terminal limit, and the
 * actions that free a slot. A WebSocket handshake refused with 429 is invisible to a
 * browser (it sees only a failed connection), so the page asks here instead.
 *
 *   GET    /api/terminals                          the caller's live environments here
 *   DELETE /api/workspaces/{id}/terminals          ends that workspace's environment
 *   DELETE /api/workspaces/{id}/terminals/{name}   ends one terminal (its shell)
 *
 * Environments are counted per node (terms_open's max_per_user), so the list is this
 * node's, the same set the limit was counted on.
 */
#include "api/internal.h"
#include "api/live.h"
#include "exec/terminals.h"

#include <errno.h>

static void h_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    enum { MAX = 64 };
    struct terms_env_info info[MAX];
    size_t n = terms_list(api->terms, c.user.id, info, MAX);
    json_t *items = json_array();
    for (size_t i = 0; i < n && i < MAX; i++) {
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
    http_reply_json(req, 200,
                    json_pack("{s:o,s:I,s:I}", "items", items, "max_per_user",
                              (json_int_t)api->cfg->terminal_max_per_user, "max_per_workspace",
                              (json_int_t)api->cfg->terminal_max_per_workspace));
    api_caller_done(&c);
}

static void h_end(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_workspace_request(api, req, &c, &w))
        return;
    const char *name = req->nparam > 1 ? req->param[1] : NULL;
    if (terms_end(api->terms, w->id, name) < 0)
        api_reply_error(req, not_found,
                        name ? "no such live terminal in this workspace"
                             : "this workspace has no live environment on this server");
    else
        http_reply(req, 204, NULL, "", 0, NULL);
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_environment_routes(struct router *r)
{
    router_add(r, "GET", "/api/terminals", h_list);
    router_add(r, "DELETE", "/api/workspaces/{}/terminals", h_end);
    router_add(r, "DELETE", "/api/workspaces/{}/terminals/{}", h_end);
}
