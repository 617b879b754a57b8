/* workspace endpoints: list (owned and shared), create (with a starter main.py), read,
 * rename, delete. Each item says the caller's "role" in it (access.h). */
#include "api/internal.h"

#include <string.h>

static const char starter[] =
    "\"\"\"Your first pyroom program. Press Run (Ctrl+Enter) to try it.\"\"\"\n"
    "\n"
    "\n"
    "def greet(name: str) -> str:\n"
    "    return f\"Hello, {name}!\"\n"
    "\n"
    "\n"
    "if __name__ == \"__main__\":\n"
    "    print(greet(\"pyroom\"))\n"
    "    squares = [n * n for n in range(1, 6)]\n"
    "    print(\"squares:\", squares)\n";

static void h_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    int limit, offset;
    api_page(req, &limit, &offset);
    const char *all = http_req_query(req, "all");
    bool everyone = all && strcmp(all, "1") == 0 && api_is_admin(&c);
    struct store_workspace_list *l = NULL;
    int r = everyone ? store_workspace_list(api->store, 0, limit, offset, &l, NULL)
                     : store_workspace_list_shared(api->store, c.user.id, limit, offset, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "workspace");
    } else {
        json_t *items = json_array();
        for (size_t i = 0; i < l->n; i++) {
            json_t *j = api_workspace_json(&l->items[i]);
            enum store_member_role role = everyone ? STORE_MEMBER_OWNER : l->items[i].member_role;
            json_object_set_new(j, "role", json_string(store_member_role_name(role)));
            json_array_append_new(items, j);
        }
        json_t *body = json_pack("{s:o}", "items", items);
        api_page_next(body, offset, l->n, l->more);
        http_reply_json(req, 200, body);
    }
    store_workspace_list_free(l);
    api_caller_done(&c);
}

static const char *read_name(struct http_req *req, json_t *body, bool *bad)
{
    const char *name = api_str(req, body, "name", true, bad);
    if (*bad)
        return NULL;
    if (!api_valid_name(name, 100)) {
        api_reply_error(req, invalid_field,
                        "workspace names are 1 to 100 characters without control characters");
        *bad = true;
        return NULL;
    }
    return name;
}

static void h_create(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    json_t *body = api_body(req);
    struct store_workspace *w = NULL;
    struct store_workspace_list *mine = NULL;
    bool bad = false;
    const char *name = body ? read_name(req, body, &bad) : NULL;
    if (!body || bad)
        goto out;
    int r = store_workspace_list(api->store, c.user.id, 1, (int)api->cfg->max_workspaces - 1, &mine,
                                 NULL);
    if (r == 0 && mine->n > 0) {
        api_reply_error(req, too_large, "you already have %llu workspaces (the limit)",
                        (unsigned long long)api->cfg->max_workspaces);
        goto out;
    }
    r = store_workspace_create(api->store, c.user.id, name, &w, NULL);
    int64_t id = r == 0 ? w->id : 0;
    struct store_cond by = {.author = c.user.id, .source = STORE_SOURCE_SAVE};
    if (r == 0)
        r = store_file_put(api->store, id, "main.py", starter, sizeof(starter) - 1, &by,
                           &api->limits, NULL, NULL, NULL);
    store_workspace_free(w);
    w = NULL;
    if (r == 0)
        r = store_workspace_get(api->store, id, &w, NULL);
    if (r < 0) {
        api_fail(req, r, "workspace");
        goto out;
    }
    http_reply_json(req, 201, api_workspace_json(w));
out:
    store_workspace_list_free(mine);
    store_workspace_free(w);
    json_decref(body);
    api_caller_done(&c);
}

static void h_get(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    enum api_access level = API_ACCESS_NONE;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    int r = api_access_get(api, &c, w, &level);
    if (r < 0) {
        api_fail(req, r, "workspace");
    } else {
        json_t *j = api_workspace_json(w);
        json_object_set_new(j, "role", json_string(api_access_name(level)));
        http_reply_json(req, 200, j);
    }
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_patch(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    json_t *body = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_OWNER, &w))
        return;
    int64_t id = w->id;
    if (!(body = api_body(req)))
        goto out;
    bool bad = false;
    const char *name = read_name(req, body, &bad);
    if (bad)
        goto out;
    int r = store_workspace_rename(api->store, id, name, NULL);
    store_workspace_free(w);
    w = NULL;
    if (r == 0)
        r = store_workspace_get(api->store, id, &w, NULL);
    if (r < 0)
        api_fail(req, r, "workspace");
    else
        http_reply_json(req, 200, api_workspace_json(w));
out:
    store_workspace_free(w);
    json_decref(body);
    api_caller_done(&c);
}

static void h_delete(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_OWNER, &w))
        return;
    int r = store_workspace_delete(api->store, w->id, NULL);
    if (r < 0)
        api_fail(req, r, "workspace");
    else
        http_reply_empty(req, 204);
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_workspace_routes(struct router *r)
{
    router_add(r, "GET", "/api/workspaces", h_list);
    router_add(r, "POST", "/api/workspaces", h_create);
    router_add(r, "GET", "/api/workspaces/{}", h_get);
    router_add(r, "PATCH", "/api/workspaces/{}", h_patch);
    router_add(r, "DELETE", "/api/workspaces/{}", h_delete);
}
