/*
 * member endpoints: who a workspace is shared with.
 *   GET    /api/workspaces/{id}/members            any member: the owner and the members
 *   POST   /api/workspaces/{id}/members            the owner (or an admin): add or change
 *                                                  {"username","role"}
 *   DELETE /api/workspaces/{id}/members/{user_id}  the owner (or an admin), or the member
 *                                                  themself (leaving)
 * Every change is audit-logged ("member_add", "member_role", "member_remove") with the
 * workspace as target. A stranger gets 404 for all of them (access.h). A removed member, or
 * one whose role changed, loses their live views at once (api_live_revoke: event streams and
 * terminal clients, on every node); the page reconnects with what is left of their rights.
 */
#include "api/internal.h"
#include "api/live.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static json_t *member_json(int64_t id, const char *name, enum store_member_role role,
                           int64_t added_at)
{
    return json_pack("{s:o,s:s,s:o}", "user", api_ref_json(id, name), "role",
                     store_member_role_name(role), "added_at", api_time(added_at));
}

static void h_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    struct store_member_list *l = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    int r = store_member_list(api->store, w->id, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "member");
    } else {
        json_t *items = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(items, member_json(l->items[i].user_id, l->items[i].username,
                                                     l->items[i].role, l->items[i].added_at));
        http_reply_json(req, 200,
                        json_pack("{s:o,s:o,s:I}", "owner",
                                  api_ref_json(w->owner_id, w->owner_name), "items", items,
                                  "max_members", (json_int_t)api->cfg->max_members));
    }
    store_member_list_free(l);
    store_workspace_free(w);
    api_caller_done(&c);
}

/* Whether ws already has its maximum of members (user_id not counted: a role change). */
static int members_full(struct api *api, int64_t ws, int64_t user_id, bool *ret)
{
    struct store_member_list *l = NULL;
    int r = store_member_list(api->store, ws, &l, NULL);
    if (r < 0)
        return r;
    size_t others = 0;
    for (size_t i = 0; i < l->n; i++)
        others += l->items[i].user_id != user_id;
    *ret = others >= api->cfg->max_members;
    store_member_list_free(l);
    return 0;
}

static void h_add(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    struct store_user *u = NULL;
    json_t *body = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_OWNER, &w))
        return;
    bool bad = false, full = false, added = false;
    enum store_member_role role;
    if (!(body = api_body(req)))
        goto out;
    const char *username = api_str(req, body, "username", true, &bad);
    const char *role_name = bad ? NULL : api_str(req, body, "role", true, &bad);
    if (bad)
        goto out;
    if (store_member_role_parse(role_name, &role) < 0 ||
        (role != STORE_MEMBER_VIEWER && role != STORE_MEMBER_EDITOR)) {
        api_reply_error(req, invalid_field, "role is \"viewer\" or \"editor\"");
        goto out;
    }
    int r = store_user_get_by_name(api->store, username, &u, NULL);
    if (r == -ENOENT) {
        api_reply_error(req, not_found, "no such user");
        goto out;
    }
    if (r == 0 && u->id == w->owner_id) {
        api_reply_error(req, conflict, "the owner already has every right here");
        goto out;
    }
    if (r == 0)
        r = members_full(api, w->id, u->id, &full);
    if (r == 0 && full) {
        api_reply_error(req, too_large, "this workspace has %llu members (the limit)",
                        (unsigned long long)api->cfg->max_members);
        goto out;
    }
    if (r == 0)
        r = store_member_set(api->store, w->id, u->id, role, &added, NULL);
    if (r < 0) {
        api_fail(req, r, "member");
        goto out;
    }
    char target[32], detail[160];
    snprintf(target, sizeof(target), "workspace:%lld", (long long)w->id);
    snprintf(detail, sizeof(detail), "user:%lld %s", (long long)u->id,
             store_member_role_name(role));
    api_audit(api, req, c.user.id, added ? "member_add" : "member_role", target, detail);
    if (!added)
        api_live_revoke(api, u->id, NULL, 0);
    http_reply_json(req, added ? 201 : 200, member_json(u->id, u->username, role, store_now_ms()));
out:
    store_user_free(u);
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_remove(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    int64_t user_id;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    if (!api_param_id(req, 1, &user_id))
        goto out;
    /* A member may leave; only the owner (or an admin) removes someone else. */
    if (user_id != c.user.id && !api_access_check(api, req, &c, w, API_ACCESS_OWNER, NULL))
        goto out;
    int r = store_member_delete(api->store, w->id, user_id, NULL);
    if (r == -ENOENT) {
        api_reply_error(req, not_found, "no such member");
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "member");
        goto out;
    }
    char target[32], detail[32];
    snprintf(target, sizeof(target), "workspace:%lld", (long long)w->id);
    snprintf(detail, sizeof(detail), "user:%lld", (long long)user_id);
    api_audit(api, req, c.user.id, "member_remove", target, detail);
    api_live_revoke(api, user_id, NULL, 0);
    http_reply_empty(req, 204);
out:
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_member_routes(struct router *r)
{
    router_add(r, "GET", "/api/workspaces/{}/members", h_list);
    router_add(r, "POST", "/api/workspaces/{}/members", h_add);
    router_add(r, "DELETE", "/api/workspaces/{}/members/{}", h_remove);
}
