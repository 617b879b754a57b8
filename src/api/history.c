/*
 * history endpoints: a file's stored versions (store/history.c keeps them on every write).
 *   GET  /api/workspaces/{id}/files/{path}?history=1    the versions, newest first (paged)
 *   GET  /api/workspaces/{id}/files/{path}?version=N    version N's bytes
 *   GET  /api/workspaces/{id}/files/{path}?diff=A..B    the unified diff from A to B (JSON)
 *   POST /api/workspaces/{id}/restore {"path","version"}  version's bytes become the file
 *                                                         again: itself a new version
 * Reading needs viewer, restoring editor (access.h). Versions outlive a deletion of their
 * path, so a deleted file can be listed and restored.
 */
#include "api/internal.h"
#include "workspace/diff.h"
#include "workspace/path.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *version_json(const struct store_version *v)
{
    return json_pack("{s:I,s:I,s:s,s:o,s:s,s:o}", "version", (json_int_t)v->version, "size",
                     (json_int_t)v->size, "etag", v->etag, "author",
                     api_ref_json(v->author_id, v->author_name), "source",
                     store_source_name(v->source), "at", api_time(v->at));
}

static void reply_list(struct api *api, struct http_req *req, int64_t ws, const char *path)
{
    int limit, offset;
    api_page(req, &limit, &offset);
    struct store_version_list *l = NULL;
    int r = store_version_list(api->store, ws, path, limit, offset, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "history");
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(items, version_json(&l->items[i]));
    json_t *body = json_pack("{s:s,s:o}", "path", path, "items", items);
    api_page_next(body, offset, l->n, l->more);
    http_reply_json(req, 200, body);
    store_version_list_free(l);
}

/* Loads version n of path, answering 404 when it is not kept. */
static bool load_version(struct api *api, struct http_req *req, int64_t ws, const char *path,
                         int64_t n, struct store_version **ret)
{
    int r = store_version_get(api->store, ws, path, n, true, ret, NULL);
    if (r == -ENOENT)
        api_reply_error(req, not_found, "version %" PRId64 " of this file is not kept", n);
    else if (r < 0)
        api_fail(req, r, "version");
    return r == 0;
}

static void reply_version(struct api *api, struct http_req *req, int64_t ws, const char *path,
                          int64_t n)
{
    struct store_version *v = NULL;
    if (!load_version(api, req, ws, path, n, &v))
        return;
    char etag[STORE_ETAG_LEN + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", v->etag);
    /* A user's bytes: never rendered by the browser on our origin (see API_USER_CONTENT_CSP). */
    const char *const h[] = {"ETag",
                             etag,
                             "Cache-Control",
                             "private, max-age=31536000, immutable",
                             "Content-Security-Policy",
                             API_USER_CONTENT_CSP,
                             "X-Content-Type-Options",
                             "nosniff",
                             NULL};
    http_reply(req, 200, "application/octet-stream", v->content, (size_t)v->size, h);
    store_version_free(v);
}

static void reply_diff(struct api *api, struct http_req *req, int64_t ws, const char *path,
                       const char *spec)
{
    int64_t from, to;
    if (diff_range_parse(spec, strlen(spec), &from, &to) < 0) {
        api_reply_error(req, invalid_field, "diff is two version numbers: ?diff=A..B");
        return;
    }
    struct store_version *a = NULL, *b = NULL;
    char *text = NULL, la[64], lb[64];
    struct diff_stats st = {0};
    bool binary = false, too_large = false;
    if (!load_version(api, req, ws, path, from, &a) || !load_version(api, req, ws, path, to, &b))
        goto out;
    if (!diff_is_text(a->content, (size_t)a->size) || !diff_is_text(b->content, (size_t)b->size)) {
        binary = true;
    } else {
        snprintf(la, sizeof(la), "version %" PRId64, from);
        snprintf(lb, sizeof(lb), "version %" PRId64, to);
        int r = diff_unified(a->content, (size_t)a->size, b->content, (size_t)b->size, la, lb,
                             DIFF_CONTEXT, &text, NULL, &st);
        if (r == -EFBIG) {
            too_large = true;
        } else if (r < 0) {
            api_fail(req, r, "diff");
            goto out;
        }
    }
    http_reply_json(req, 200,
                    json_pack("{s:s,s:I,s:I,s:s?,s:b,s:b,s:I,s:I}", "path", path, "from",
                              (json_int_t)from, "to", (json_int_t)to, "diff", text, "binary",
                              binary, "too_large", too_large, "added", (json_int_t)st.added,
                              "removed", (json_int_t)st.removed));
out:
    free(text);
    store_version_free(a);
    store_version_free(b);
}

bool api_history_answer(struct api *api, struct http_req *req, const struct store_workspace *w,
                        const char *path)
{
    const char *history = http_req_query(req, "history");
    const char *version = http_req_query(req, "version");
    const char *diff = http_req_query(req, "diff");
    if ((history != NULL) + (version != NULL) + (diff != NULL) > 1) {
        api_reply_error(req, bad_request, "ask for one of history, version and diff");
        return true;
    }
    int64_t n;
    if (history) {
        if (strcmp(history, "1") != 0)
            api_reply_error(req, invalid_field, "history takes the value 1");
        else
            reply_list(api, req, w->id, path);
    } else if (version) {
        if (diff_version_parse(version, strlen(version), &n) < 0)
            api_reply_error(req, invalid_field, "version is a positive number");
        else
            reply_version(api, req, w->id, path, n);
    } else if (diff) {
        reply_diff(api, req, w->id, path, diff);
    }
    return history || version || diff;
}

static void h_restore(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    struct store_version *v = NULL;
    struct store_file *f = NULL;
    json_t *body = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    if (!(body = api_body(req)))
        goto out;
    bool bad = false;
    const char *path = api_str(req, body, "path", true, &bad);
    if (bad)
        goto out;
    const char *reason = NULL;
    if (path_check(path, strlen(path), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid path: %s", reason);
        goto out;
    }
    json_t *jv = json_object_get(body, "version");
    if (!json_is_integer(jv) || json_integer_value(jv) <= 0) {
        api_reply_error(req, invalid_field, "version is a positive integer");
        goto out;
    }
    if (!load_version(api, req, w->id, path, json_integer_value(jv), &v))
        goto out;
    struct store_cond cond = {.author = c.user.id, .source = STORE_SOURCE_RESTORE};
    bool created = false;
    int r = store_file_put(api->store, w->id, path, v->content, (size_t)v->size, &cond,
                           &api->limits, &f, &created, NULL);
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    api_doc_replaced(api, w->id, path); /* first: the pages then reload the restored text */
    api_workspace_changed(api, w->id, path, f->etag);
    http_reply_json(req, created ? 201 : 200, api_file_json(f));
out:
    store_file_free(f);
    store_version_free(v);
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_history_routes(struct router *r)
{
    router_add(r, "POST", "/api/workspaces/{}/restore", h_restore);
}
