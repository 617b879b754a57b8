/*
 * collab: the live half of working together in one workspace (issue 17): presence and
 * follow, and the relay of co-editing updates. Terminal mirroring is in terminals.c.
 *
 * Theory of operation. Everything rides the workspace's event stream (events.c), so it
 * reaches every node over the cluster bus like the file events do; the page talks back in
 * small POSTs.
 *   - Presence. A page opens the stream with ?client=ID (its own random id). Opening it
 *     publishes `presence_joined`, the end of the stream `presence_left`; the pages already
 *     there answer a join by posting their presence again, so the server keeps no presence
 *     table. A page that goes away posts {"left":true} (a vanished one's stream is found
 *     closed at a keepalive). POST /presence publishes `presence` {client, user, path, line,
 * column, scroll}: a follower moves its editor to it.
 *   - Co-editing. The page edits with a CRDT (Yjs); the server cannot run it, so it keeps
 *     per file the updates since the last snapshot (store/docs.h) and relays each one as
 *     `doc_update` (inline when it fits a bus notice, else by id: the page fetches the log
 *     after the last id it has). Saving stays the file API. When a file changes from
 *     elsewhere (a terminal, a run, a delete) its document is dropped and the pages hear
 *     `doc_reset`: they reload the file and start a new document.
 * Who may do what: api/access.h (viewers watch and follow, editors also co-edit).
 */
#include "api/cluster.h"
#include "api/live.h"
#include "base/log.h"
#include "store/docs.h"
#include "workspace/path.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inline a relayed update in its event up to this many base64 bytes: the event must fit a
 * bus notice (STORE_NOTIFY_MAX) with its envelope. */
#define INLINE_MAX 6000
/* Cursor and scroll positions are bounded so a page cannot send absurd numbers along. */
#define POSITION_MAX 1000000000

bool api_may_edit(struct api *api, const struct api_caller *c, const struct store_workspace *w)
{
    enum api_access a = API_ACCESS_NONE;
    return api_access_get(api, c, w, &a) == 0 && a >= API_ACCESS_EDITOR;
}

bool api_client_ok(const char *client)
{
    size_t n = client ? strlen(client) : 0;
    if (n == 0 || n > API_CLIENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = client[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* Publishes an event here and on the other nodes; consumes data. */
static void publish(struct api *api, int64_t ws, const char *type, json_t *data)
{
    if (!data)
        return;
    api_events_publish_json(api, ws, type, data);
    cluster_send_event_json(api->cluster, ws, type, data);
    json_decref(data);
}

static json_t *who(int64_t user_id, const char *username, const char *client)
{
    return json_pack("{s:s,s:o}", "client", client, "user", api_ref_json(user_id, username));
}

void api_presence_joined(struct api *api, int64_t ws, const struct api_caller *c,
                         const char *client)
{
    publish(api, ws, EVENT_WS(presence_joined), who(c->user.id, c->user.username, client));
}

void api_presence_left(struct api *api, int64_t ws, int64_t user_id, const char *username,
                       const char *client)
{
    publish(api, ws, EVENT_WS(presence_left), who(user_id, username, client));
}

/* An integer member in 0..POSITION_MAX, 0 when absent; answers 400 otherwise. */
static bool position(struct http_req *req, json_t *body, const char *key, json_int_t *ret)
{
    json_t *v = json_object_get(body, key);
    *ret = 0;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > POSITION_MAX) {
        api_reply_error(req, invalid_field, "'%s' must be an integer from 0 to %d", key,
                        POSITION_MAX);
        return false;
    }
    *ret = json_integer_value(v);
    return true;
}

static bool client_field(struct http_req *req, json_t *body, const char **ret)
{
    bool bad = false;
    const char *client = api_str(req, body, "client", true, &bad);
    if (bad)
        return false;
    if (!api_client_ok(client)) {
        api_reply_error(req, invalid_client, "a client id is 1 to %d letters, digits, '_' or '-'",
                        API_CLIENT_MAX);
        return false;
    }
    *ret = client;
    return true;
}

/* POST /api/workspaces/{id}/presence {"client","path","line","column","scroll"} or
 * {"client","left":true} */
static void h_presence(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    json_t *body = api_body(req);
    const char *client = NULL, *path = NULL, *reason = NULL;
    json_int_t line, column, scroll;
    bool bad = false;
    if (!body || !client_field(req, body, &client))
        goto out;
    json_t *left = json_object_get(body, "left");
    if (left && !json_is_boolean(left)) {
        api_reply_error(req, invalid_field, "'left' is a boolean");
        goto out;
    }
    if (json_is_true(left)) { /* the page is going (pagehide): do not wait for its stream */
        publish(api, w->id, EVENT_WS(presence_left), who(c.user.id, c.user.username, client));
        http_reply_empty(req, 204);
        goto out;
    }
    path = api_str(req, body, "path", false, &bad);
    if (bad)
        goto out;
    if (path && *path && path_check(path, strlen(path), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid path: %s", reason);
        goto out;
    }
    if (!position(req, body, "line", &line) || !position(req, body, "column", &column) ||
        !position(req, body, "scroll", &scroll))
        goto out;
    json_t *data = who(c.user.id, c.user.username, client);
    if (data)
        json_object_update_new(data, json_pack("{s:s,s:I,s:I,s:I}", "path", path ? path : "",
                                               "line", line, "column", column, "scroll", scroll));
    publish(api, w->id, EVENT_WS(presence), data);
    http_reply_empty(req, 204);
out:
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

static json_t *base64_json(const void *data, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b = malloc(cap);
    if (!b)
        return NULL;
    sodium_bin2base64(b, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *s = json_string(b);
    free(b);
    return s;
}

/* The kind of a document post: a start (snapshot, covers 0), a covering snapshot or an
 * update. Everything but a start names its document, so nothing meant for a dropped one
 * lands in the one that replaced it (store/docs.h). False after answering 400. */
static bool doc_fields(struct http_req *req, json_t *body, bool *snapshot, int64_t *covers,
                       int64_t *doc)
{
    json_t *snap = json_object_get(body, "snapshot"), *cov = json_object_get(body, "covers");
    json_t *dj = json_object_get(body, "doc");
    if ((snap && !json_is_boolean(snap)) ||
        (cov && (!json_is_integer(cov) || json_integer_value(cov) < 0))) {
        api_reply_error(req, invalid_field,
                        "'snapshot' is a boolean and 'covers' an update id (0 or more)");
        return false;
    }
    *snapshot = json_is_true(snap);
    *covers = cov ? json_integer_value(cov) : 0;
    *doc = 0;
    if (*snapshot && *covers == 0)
        return true;
    if (!dj || !json_is_integer(dj) || json_integer_value(dj) <= 0) {
        api_reply_error(req, invalid_field,
                        "'doc' is the id of the document the update is for (from its log)");
        return false;
    }
    *doc = json_integer_value(dj);
    return true;
}

/* POST /api/workspaces/{id}/docs/{path} {"client","doc","update","snapshot","covers"} */
static void h_doc_post(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    struct store_file *f = NULL;
    unsigned char *bin = NULL;
    char path[PATH_BUF_SIZE];
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    json_t *body = NULL;
    if (!api_url_path(req, path) || !(body = api_body(req)))
        goto out;
    const char *client = NULL, *b64 = NULL;
    bool bad = false;
    if (!client_field(req, body, &client) || !(b64 = api_str(req, body, "update", true, &bad)))
        goto out;
    bool snapshot = false;
    int64_t covers = 0, doc = 0;
    if (!doc_fields(req, body, &snapshot, &covers, &doc))
        goto out;
    size_t max = api->cfg->collab_doc_bytes, b64len = strlen(b64), len = 0;
    if (b64len / 4 * 3 > max + 3) {
        api_reply_error(req, too_large, "an update is at most %zu bytes", max);
        goto out;
    }
    bin = malloc(b64len / 4 * 3 + 3);
    if (!bin) {
        api_fail(req, -ENOMEM, "update");
        goto out;
    }
    if (sodium_base642bin(bin, b64len / 4 * 3 + 3, b64, b64len, NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len == 0) {
        api_reply_error(req, invalid_field, "'update' must be non-empty base64");
        goto out;
    }
    if (len > max) {
        api_reply_error(req, too_large, "an update is at most %zu bytes", max);
        goto out;
    }
    /* A document belongs to a stored file: that bounds how many a workspace can have. */
    int r = store_file_get(api->store, w->id, path, false, &f, NULL);
    if (r == 0 && f->kind == STORE_KIND_FOLDER)
        r = -EISDIR;
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    int64_t id = 0;
    struct err e = {0};
    r = store_doc_append(api->store, w->id, path, doc, bin, len, snapshot, covers, (int64_t)max,
                         (int64_t)api->cfg->max_workspace_bytes, &id, &e);
    switch (r) {
    case 0:
        break;
    case -EEXIST:
        api_reply_error(req, doc_exists, "another editor started this file's document; load it");
        goto out;
    case -ENOENT:
        api_reply_error(req, no_doc, "this file's document is gone; load the file again");
        goto out;
    case -EFBIG:
        api_reply_error(req, snapshot_needed,
                        "this file's document holds %zu bytes of updates; post a snapshot", max);
        goto out;
    case -EDQUOT:
        api_reply_error(req, too_large,
                        "this workspace's co-edited files hold %llu bytes of updates; close some",
                        (unsigned long long)api->cfg->max_workspace_bytes);
        goto out;
    default:
        api_fail(req, r, "document");
        goto out;
    }
    json_t *data =
        json_pack("{s:s,s:I,s:I,s:s,s:b}", "path", path, "doc", (json_int_t)(doc ? doc : id), "id",
                  (json_int_t)id, "client", client, "snapshot", snapshot);
    if (data && !snapshot && b64len <= INLINE_MAX)
        json_object_set_new(data, "update", json_string(b64));
    publish(api, w->id, EVENT_WS(doc_update), data);
    http_reply_json(
        req, 201,
        json_pack("{s:I,s:I}", "id", (json_int_t)id, "doc", (json_int_t)(doc ? doc : id)));
out:
    free(bin);
    store_file_free(f);
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

/* GET /api/workspaces/{id}/docs/{path}?after=N */
static void h_doc_get(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    struct store_doc_log *l = NULL;
    char path[PATH_BUF_SIZE];
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    if (!api_url_path(req, path))
        goto out;
    const char *a = http_req_query(req, "after");
    char *end = NULL;
    long long after = a ? strtoll(a, &end, 10) : 0;
    if (a && (!*a || *end || after < 0)) {
        api_reply_error(req, bad_request, "'after' must be an update id");
        goto out;
    }
    int r = store_doc_log(api->store, w->id, path, after, &l, NULL);
    if (r == -ENOENT) {
        api_reply_error(req, no_doc, "this file has no live document; start one");
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "document");
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l->n; i++)
        json_array_append_new(items, json_pack("{s:I,s:b,s:o}", "id", (json_int_t)l->items[i].id,
                                               "snapshot", l->items[i].snapshot, "update",
                                               base64_json(l->items[i].data, l->items[i].len)));
    http_reply_json(req, 200,
                    json_pack("{s:o,s:I,s:I,s:b}", "items", items, "doc", (json_int_t)l->doc,
                              "bytes", (json_int_t)l->bytes, "editable", api_may_edit(api, &c, w)));
out:
    store_doc_log_free(l);
    store_workspace_free(w);
    api_caller_done(&c);
}

void api_doc_replaced(struct api *api, int64_t ws, const char *path)
{
    bool dropped = false;
    struct err e = {0};
    if (store_doc_drop(api->store, ws, path, &dropped, &e) < 0) {
        log_event(LOG_WARN, "document drop failed",
                  json_pack("{s:I,s:s,s:s}", "workspace_id", (json_int_t)ws, "path", path, "error",
                            e.msg));
        return;
    }
    if (dropped)
        publish(api, ws, EVENT_WS(doc_reset), json_pack("{s:s}", "path", path));
}

bool api_doc_save_ok(struct api *api, struct http_req *req, int64_t ws, const char *path,
                     int64_t doc)
{
    int64_t live = 0;
    int r = store_doc_live(api->store, ws, path, &live, NULL);
    if (r < 0) {
        api_fail(req, r, "document");
        return false;
    }
    if (live != doc) {
        /* The drop (api_doc_replaced) comes right after the other write, and a page learns
         * that write's etag only by reading it afterwards: so no co-edited save can pass this
         * check with the new etag and still overwrite it. A new document started since is
         * not the one this page's text is (its text may be older). */
        api_reply_error(req, no_doc, "the file was written elsewhere; reload it");
        return false;
    }
    return true;
}

void api_collab_routes(struct router *r)
{
    router_add(r, "POST", "/api/workspaces/{}/presence", h_presence);
    router_add(r, "GET", "/api/workspaces/{}/docs/{*}", h_doc_get);
    router_add(r, "POST", "/api/workspaces/{}/docs/{*}", h_doc_post);
}
