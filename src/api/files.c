/*
 * file endpoints: the tree of a workspace, raw file bytes with etags, folders, moves.
 * Paths come raw from the URL and are decoded and checked by workspace/path (one place
 * for the rules). Writes are conditional on If-Match so two tabs autosaving the same
 * file never overwrite each other silently: the second gets 412 with the current etag.
 * A file's history (?history=1, ?version=N, ?diff=A..B) is answered by history.c.
 */
#include "api/internal.h"
#include "http/etag.h"
#include "workspace/path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool api_url_path(struct http_req *req, char *path)
{
    const char *reason = "empty path";
    if (!req->rest ||
        path_from_url(req->rest, strlen(req->rest), path, PATH_BUF_SIZE, &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid path: %s", reason);
        return false;
    }
    return true;
}

static bool body_path(struct http_req *req, json_t *body, const char *key, char path[PATH_BUF_SIZE])
{
    bool bad = false;
    const char *p = api_str(req, body, key, true, &bad);
    if (bad)
        return false;
    const char *reason = NULL;
    if (path_check(p, strlen(p), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid '%s' path: %s", key, reason);
        return false;
    }
    snprintf(path, PATH_BUF_SIZE, "%s", p);
    return true;
}

/* Turns If-Match into the one etag the store checks atomically: the current etag when
 * the header's list matches it (so "*" and lists work), else an etag that never matches.
 * Returns false after answering 400 for a malformed header. */
static bool if_match(struct api *api, struct http_req *req, int64_t ws, const char *path,
                     struct store_cond *cond, char *out, size_t len)
{
    const char *h = http_req_header(req, "If-Match");
    if (!h)
        return true;
    struct etag_list list;
    if (etag_parse(h, &list) < 0) {
        api_reply_error(req, bad_request, "malformed If-Match header");
        return false;
    }
    struct store_file *cur = NULL;
    bool exists = store_file_get(api->store, ws, path, false, &cur, NULL) == 0;
    if (exists && etag_list_match(&list, cur->etag, ETAG_STRONG))
        snprintf(out, len, "%s", cur->etag);
    else
        snprintf(out, len, "-"); /* no etag is "-": the store answers -ESTALE */
    store_file_free(cur);
    cond->if_match = out;
    return true;
}

static const char *guess_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } t[] = {
        {".png", "image/png"},         {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},       {".gif", "image/gif"},
        {".svg", "image/svg+xml"},     {".pdf", "application/pdf"},
        {".json", "application/json"}, {".csv", "text/csv; charset=utf-8"},
    };
    const char *dot = strrchr(path_basename(path), '.');
    for (size_t i = 0; dot && i < sizeof(t) / sizeof(t[0]); i++)
        if (strcasecmp(dot, t[i].ext) == 0)
            return t[i].type;
    /* Text by default: the page shows it in the editor. Never text/html: a user's file
     * must not become a page on our origin. */
    return "text/plain; charset=utf-8";
}

static void h_tree(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    struct store_file_list *l = NULL;
    int r = store_file_list(api->store, w->id, false, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "workspace");
    } else {
        json_t *items = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(items, api_file_json(&l->items[i]));
        http_reply_json(req, 200, json_pack("{s:o,s:n}", "items", items, "next_offset"));
    }
    store_file_list_free(l);
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_get(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    char path[PATH_BUF_SIZE];
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    struct store_file *f = NULL;
    if (!api_url_path(req, path) || api_history_answer(api, req, w, path))
        goto out;
    int r = store_file_get(api->store, w->id, path, true, &f, NULL);
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    char etag[STORE_ETAG_LEN + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", f->etag);
    const char *inm = http_req_header(req, "If-None-Match");
    struct etag_list inm_list;
    bool not_modified =
        inm && etag_parse(inm, &inm_list) == 0 && etag_list_match(&inm_list, f->etag, ETAG_WEAK);
    const char *const h[] = {"ETag",
                             etag,
                             "Cache-Control",
                             "no-cache",
                             "Content-Disposition",
                             "inline",
                             "Content-Security-Policy",
                             API_USER_CONTENT_CSP,
                             NULL};
    if (not_modified)
        http_reply(req, 304, NULL, "", 0, h);
    else
        http_reply(req, 200, guess_type(path), f->content, (size_t)f->size, h);
out:
    store_file_free(f);
    store_workspace_free(w);
    api_caller_done(&c);
}

static void reply_stale(struct api *api, struct http_req *req, int64_t ws, const char *path)
{
    struct store_file *cur = NULL;
    json_t *current = json_null();
    if (store_file_get(api->store, ws, path, false, &cur, NULL) == 0) {
        json_decref(current);
        current = api_file_json(cur);
    }
    store_file_free(cur);
    http_reply_json(req, 412,
                    json_pack("{s:{s:s,s:s},s:o}", "error", "code",
                              api_error_name(API_ERR_etag_mismatch), "message",
                              "the file changed since you opened it", "current", current));
}

static void h_put(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    char path[PATH_BUF_SIZE], match[STORE_ETAG_LEN + 8];
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    struct store_file *f = NULL;
    if (!api_url_path(req, path))
        goto out;
    if ((int64_t)req->body.len > api->limits.max_file_bytes) {
        api_reply_error(req, too_large, "files are limited to %lld bytes",
                        (long long)api->limits.max_file_bytes);
        goto out;
    }
    /* A save by a page co-editing the file says so (X-Pyroom-Doc: the document's id,
     * collab.c): it keeps the document, and is refused once that document is gone; any other
     * write replaces the text the editors share, as a terminal's would. */
    const char *doc = http_req_header(req, "X-Pyroom-Doc");
    char *end = NULL;
    long long doc_id = doc ? strtoll(doc, &end, 10) : 0;
    bool co_edited = doc != NULL;
    if (co_edited && (!*doc || *end || doc_id <= 0 || !(*doc >= '0' && *doc <= '9'))) {
        api_reply_error(req, bad_request, "X-Pyroom-Doc is the id of the file's document");
        goto out;
    }
    if (co_edited && !api_doc_save_ok(api, req, w->id, path, doc_id))
        goto out;
    struct store_cond cond = {.author = c.user.id, .source = STORE_SOURCE_SAVE};
    if (!if_match(api, req, w->id, path, &cond, match, sizeof(match)))
        goto out;
    const char *inm = http_req_header(req, "If-None-Match");
    cond.create_only = inm && strcmp(inm, "*") == 0;
    bool created = false;
    int r = store_file_put(api->store, w->id, path, req->body.data ? req->body.data : "",
                           req->body.len, &cond, &api->limits, &f, &created, NULL);
    if (r == -ESTALE) {
        reply_stale(api, req, w->id, path);
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    if (!co_edited)
        api_doc_replaced(api, w->id, path);
    api_workspace_changed(api, w->id, path, f->etag);
    http_reply_json(req, created ? 201 : 200, api_file_json(f));
out:
    store_file_free(f);
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_delete(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    char path[PATH_BUF_SIZE], match[STORE_ETAG_LEN + 8];
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    if (!api_url_path(req, path))
        goto out;
    struct store_cond cond = {0};
    if (!if_match(api, req, w->id, path, &cond, match, sizeof(match)))
        goto out;
    int r = store_file_delete(api->store, w->id, path, &cond, NULL, NULL);
    if (r == -ESTALE) {
        reply_stale(api, req, w->id, path);
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    api_workspace_changed(api, w->id, path, NULL);
    http_reply_empty(req, 204);
out:
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_folder(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    char path[PATH_BUF_SIZE];
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    json_t *body = api_body(req);
    struct store_file *f = NULL;
    if (!body || !body_path(req, body, "path", path))
        goto out;
    int r = store_folder_create(api->store, w->id, path, &api->limits, &f, NULL);
    if (r < 0) {
        api_fail(req, r, "folder");
        goto out;
    }
    api_workspace_changed(api, w->id, path, "");
    http_reply_json(req, 201, api_file_json(f));
out:
    store_file_free(f);
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_move(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    char from[PATH_BUF_SIZE], to[PATH_BUF_SIZE];
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    json_t *body = api_body(req);
    struct store_file *f = NULL;
    if (!body || !body_path(req, body, "from", from) || !body_path(req, body, "to", to))
        goto out;
    int r = store_file_move(api->store, w->id, from, to, &api->limits, NULL);
    if (r == -EINVAL) {
        api_reply_error(req, invalid_path, "cannot move a folder into itself");
        goto out;
    }
    if (r == 0)
        r = store_file_get(api->store, w->id, to, false, &f, NULL);
    if (r < 0) {
        api_fail(req, r, r == -EEXIST ? "target" : "file");
        goto out;
    }
    api_workspace_changed(api, w->id, from, NULL);
    api_workspace_changed(api, w->id, to, f->etag);
    http_reply_json(req, 200, api_file_json(f));
out:
    store_file_free(f);
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_file_routes(struct router *r)
{
    router_add(r, "GET", "/api/workspaces/{}/files", h_tree);
    router_add(r, "GET", "/api/workspaces/{}/files/{*}", h_get);
    router_add(r, "PUT", "/api/workspaces/{}/files/{*}", h_put);
    router_add(r, "DELETE", "/api/workspaces/{}/files/{*}", h_delete);
    router_add(r, "POST", "/api/workspaces/{}/folders", h_folder);
    router_add(r, "POST", "/api/workspaces/{}/move", h_move);
}
