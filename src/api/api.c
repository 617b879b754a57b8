/* api: routing, the error table, authentication and the JSON helpers every resource uses. */
#include "api/cluster.h"
#include "api/drain.h"
#include "api/forward.h"
#include "api/internal.h"
#include "api/live.h"
#include "auth/ratelimit.h"
#include "auth/token.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/utf8.h"
#include "exec/lang.h"
#include "exec/runs.h"
#include "exec/terminals.h"
#include "http/cookie.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the error table ------------------------------------------------------------------ */

void api_fail(struct http_req *req, int rc, const char *what)
{
    switch (rc) {
    case -ENOENT:
        api_reply_error(req, not_found, "no such %s", what);
        return;
    case -EEXIST:
        api_reply_error(req, exists, "the %s already exists", what);
        return;
    case -ENOTDIR:
        api_reply_error(req, conflict, "a parent folder of the %s is a file", what);
        return;
    case -EISDIR:
        api_reply_error(req, conflict, "the %s is a folder", what);
        return;
    case -EFBIG:
        api_reply_error(req, too_large, "the %s would pass a workspace limit", what);
        return;
    case -ESTALE:
        api_reply_error(req, etag_mismatch, "the %s changed since you read it", what);
        return;
    case -EALREADY:
        api_reply_error(req, already_decided, "the %s is no longer pending", what);
        return;
    case -EINVAL:
        api_reply_error(req, bad_request, "invalid %s", what);
        return;
    case -EACCES:
    case -EPERM:
        api_reply_error(req, forbidden, "you may not do this to the %s", what);
        return;
    case -EBUSY:
    case -EAGAIN:
        api_reply_error(req, unavailable, "the server is busy; try again");
        return;
    case -ENOTCONN: {
        /* The database is down or restarting: every node says so the same way, and a
         * client (or nginx) knows when to come back. */
        static const char body[] = "{\"error\":{\"code\":\"unavailable\",\"message\":"
                                   "\"the database is unreachable; try again shortly\"}}";
        static const char *const h[] = {"Retry-After", "2", NULL};
        http_reply(req, 503, "application/json", body, sizeof(body) - 1, h);
        return;
    }
    default:
        log_event(LOG_ERROR, "request failed",
                  json_pack("{s:s,s:s,s:i}", "request_id", req->id, "what", what, "errno", -rc));
        api_reply_error(req, internal, "something went wrong on the server");
        return;
    }
}

/* ---- JSON helpers ------------------------------------------------------------------- */

json_t *api_time(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char out[32];
    strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(out);
}

json_t *api_user_json(const struct store_user *u)
{
    return json_pack("{s:I,s:s,s:s,s:b,s:o}", "id", (json_int_t)u->id, "username", u->username,
                     "role", store_role_name(u->role), "disabled", u->disabled, "created_at",
                     api_time(u->created_at));
}

json_t *api_ref_json(int64_t id, const char *name)
{
    if (id <= 0)
        return json_null();
    return json_pack("{s:I,s:s?}", "id", (json_int_t)id, "username", name);
}

json_t *api_workspace_json(const struct store_workspace *w)
{
    return json_pack("{s:I,s:s,s:o,s:o,s:o,s:I,s:I}", "id", (json_int_t)w->id, "name", w->name,
                     "owner", api_ref_json(w->owner_id, w->owner_name), "created_at",
                     api_time(w->created_at), "updated_at", api_time(w->updated_at), "file_count",
                     (json_int_t)w->file_count, "bytes", (json_int_t)w->bytes);
}

json_t *api_file_json(const struct store_file *f)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:o}", "path", f->path, "kind", store_kind_name(f->kind),
                     "size", (json_int_t)f->size, "etag", f->etag, "updated_at",
                     api_time(f->updated_at));
}

bool api_valid_username(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 32)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return false;
    return true;
}

bool api_valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (k <= 0)
            return false;
        /* C0, DEL and C1 controls (NEL, CSI...), and the bidirectional overrides and
         * isolates that let a name display as something else ("Trojan Source",
         * CVE-2021-42574): the same code points the path rules refuse. */
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
            (cp >= 0x2066 && cp <= 0x2069))
            return false;
        i += (size_t)k;
    }
    return true;
}

/* Bodies that a page of another site can send without a CORS preflight: an HTML form
 * (urlencoded, multipart, text/plain) or sendBeacon/no-cors fetch (text/plain). Refusing
 * them on JSON endpoints closes login and registration CSRF, where no session token exists
 * yet to check. */
static bool cross_site_sendable(const char *ctype)
{
    static const char *const simple[] = {"text/plain", "application/x-www-form-urlencoded",
                                         "multipart/form-data", NULL};
    if (!ctype)
        return false;
    while (*ctype == ' ' || *ctype == '\t')
        ctype++;
    for (size_t i = 0; simple[i]; i++) {
        size_t n = strlen(simple[i]);
        if (strncasecmp(ctype, simple[i], n) == 0 &&
            (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ' || ctype[n] == '\t'))
            return true;
    }
    return false;
}

json_t *api_body(struct http_req *req)
{
    if (cross_site_sendable(http_req_header(req, "Content-Type"))) {
        api_reply_error(req, unsupported_media_type,
                        "send the body as Content-Type: application/json");
        return NULL;
    }
    json_error_t e;
    json_t *v =
        json_loadb(req->body.data ? req->body.data : "", req->body.len, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        api_reply_error(req, invalid_json, "the body is not valid JSON: %s", e.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        api_reply_error(req, invalid_json, "the body must be a JSON object");
        return NULL;
    }
    return v;
}

const char *api_str(struct http_req *req, json_t *obj, const char *key, bool required, bool *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required) {
            api_reply_error(req, invalid_field, "'%s' is required", key);
            *bad = true;
        }
        return NULL;
    }
    if (!json_is_string(v)) {
        api_reply_error(req, invalid_field, "'%s' must be a string", key);
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

bool api_param_id(struct http_req *req, size_t i, int64_t *ret)
{
    const char *s = i < req->nparam ? req->param[i] : NULL;
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || errno || *end || v <= 0 || s[0] == '+' || s[0] == '0') {
        api_reply_error(req, not_found, "no such resource");
        return false;
    }
    *ret = v;
    return true;
}

void api_page(struct http_req *req, int *ret_limit, int *ret_offset)
{
    const char *l = http_req_query(req, "limit");
    const char *o = http_req_query(req, "offset");
    long limit = l ? strtol(l, NULL, 10) : 50;
    long offset = o ? strtol(o, NULL, 10) : 0;
    if (limit < 1)
        limit = 50;
    if (limit > 200)
        limit = 200;
    if (offset < 0 || offset > 1000000000)
        offset = 0;
    *ret_limit = (int)limit;
    *ret_offset = (int)offset;
}

void api_page_next(json_t *body, int offset, size_t n, bool more)
{
    json_object_set_new(body, "next_offset",
                        more ? json_integer(offset + (json_int_t)n) : json_null());
}

void api_audit(struct api *api, struct http_req *req, int64_t actor, const char *action,
               const char *target, const char *detail)
{
    struct err e = {0};
    if (store_audit_append(api->store, actor, action, target ? target : "", detail ? detail : "",
                           &e) < 0)
        log_event(
            LOG_ERROR, "audit append failed",
            json_pack("{s:s,s:s,s:s}", "request_id", req->id, "action", action, "error", e.msg));
}

/* ---- authentication ----------------------------------------------------------------- */

bool api_is_reviewer(const struct api_caller *c)
{
    return c->user.role == STORE_ROLE_REVIEWER || c->user.role == STORE_ROLE_ADMIN;
}

bool api_is_admin(const struct api_caller *c)
{
    return c->user.role == STORE_ROLE_ADMIN;
}

void api_caller_done(struct api_caller *c)
{
    free(c->user.username);
    free(c->user.password_hash);
    c->user.username = c->user.password_hash = NULL;
}

static bool is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

static void take_user(struct api_caller *c, struct store_user *u)
{
    c->user = *u;
    u->username = NULL;
    u->password_hash = NULL;
}

bool api_auth(struct api *api, struct http_req *req, struct api_caller *ret)
{
    memset(ret, 0, sizeof(*ret));
    char hash[TOKEN_HASH_SIZE];
    const char *authz = http_req_header(req, "Authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        struct store_token *t = NULL;
        token_hash(authz + 7, hash);
        int r = store_token_lookup(api->store, hash, &t, NULL);
        if (r < 0) {
            if (r != -ENOENT)
                api_fail(req, r, "token");
            else
                api_reply_error(req, unauthenticated, "the API token is not valid");
            return false;
        }
        take_user(ret, &t->user);
        ret->token_id = t->id;
        store_token_free(t);
        req->user_id = ret->user.id;
        return true;
    }
    const char *cookie = http_req_header(req, "Cookie");
    char value[TOKEN_SIZE];
    if (!cookie || cookie_get(cookie, "pyroom_session", value, sizeof(value)) < 0) {
        api_reply_error(req, unauthenticated, "please log in");
        return false;
    }
    token_hash(value, hash);
    struct store_session *s = NULL;
    int r = store_session_lookup(api->store, hash, &s, NULL);
    if (r < 0) {
        if (r != -ENOENT)
            api_fail(req, r, "session");
        else
            api_reply_error(req, unauthenticated, "your session has ended; log in again");
        return false;
    }
    ret->by_cookie = true;
    snprintf(ret->csrf, sizeof(ret->csrf), "%s", s->csrf ? s->csrf : "");
    snprintf(ret->session_hash, sizeof(ret->session_hash), "%s", hash);
    take_user(ret, &s->user);
    store_session_free(s);
    req->user_id = ret->user.id;
    if (is_write(req->method)) {
        const char *sent = http_req_header(req, "X-CSRF-Token");
        if (!sent || !token_equal(sent, ret->csrf)) {
            api_caller_done(ret);
            api_reply_error(req, csrf, "missing or wrong X-CSRF-Token header (reload the page)");
            return false;
        }
    }
    return true;
}

bool api_workspace_load(struct api *api, struct http_req *req, const struct api_caller *c,
                        int64_t id, enum api_access need, struct store_workspace **ret)
{
    struct store_workspace *w = NULL;
    int r = store_workspace_get(api->store, id, &w, NULL);
    if (r < 0) {
        api_fail(req, r, "workspace");
        return false;
    }
    if (!api_access_check(api, req, c, w, need, NULL)) {
        store_workspace_free(w);
        return false;
    }
    *ret = w;
    return true;
}

bool api_workspace_request(struct api *api, struct http_req *req, struct api_caller *c,
                           enum api_access need, struct store_workspace **ret)
{
    int64_t id;
    if (!api_auth(api, req, c))
        return false;
    if (!api_param_id(req, 0, &id) || !api_workspace_load(api, req, c, id, need, ret)) {
        api_caller_done(c);
        return false;
    }
    return true;
}

void api_too_many(struct http_req *req, unsigned retry_after, const char *message)
{
    char ra[16];
    snprintf(ra, sizeof(ra), "%u", retry_after ? retry_after : 1);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", api_error_name(API_ERR_rate_limited),
                             "message", message);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *const h[] = {"Retry-After", ra, NULL};
    http_reply(req, 429, "application/json", text ? text : "{}", text ? strlen(text) : 2, h);
    free(text);
}

/* ---- health --------------------------------------------------------------------------- */

static void h_health(struct http_req *req, void *ctx)
{
    (void)ctx;
    static const char body[] = "{\"status\":\"ok\"}";
    static const char *const h[] = {"Cache-Control", "no-store", NULL};
    http_reply(req, 200, "application/json", body, sizeof(body) - 1, h);
}

static void h_ready(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct err e = {0};
    if (api_draining()) {
        api_reply_error(req, unavailable, "this server is restarting");
        return;
    }
    if (store_ping(api->store, &e) < 0) {
        api_reply_error(req, unavailable, "the database does not answer");
        return;
    }
    http_reply_json(
        req, 200,
        json_pack("{s:s,s:s}", "status", "ready", "database", store_driver_name(api->store)));
}

static void h_limits(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    const struct settings *s = api->cfg;
    uint64_t zip_files, zip_bytes;
    api_archive_limits(api, &zip_files, &zip_bytes);
    json_t *run =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "wall_ms", (json_int_t)s->run_wall_ms, "idle_ms",
                  (json_int_t)s->run_idle_ms, "cpu_ms", (json_int_t)s->run_cpu_ms, "memory_bytes",
                  (json_int_t)s->run_memory, "pids", (json_int_t)s->run_pids, "output_bytes",
                  (json_int_t)s->run_output, "files_bytes", (json_int_t)s->run_files);
    json_t *files = json_pack("{s:I,s:I,s:I}", "max_file_bytes", (json_int_t)s->max_file_bytes,
                              "max_files", (json_int_t)s->max_files, "max_workspace_bytes",
                              (json_int_t)s->max_workspace_bytes);
    json_t *archive = json_pack("{s:I,s:I}", "max_files", (json_int_t)zip_files, "max_bytes",
                                (json_int_t)zip_bytes);
    http_reply_json(req, 200,
                    json_pack("{s:o,s:o,s:o}", "run", run, "files", files, "archive", archive));
}

/* ---- the handler ---------------------------------------------------------------------- */

bool api_inline_ok(const char *method, const char *path)
{
    if (!strcmp(path, "/api/health"))
        return true;
    /* The page: files read from a local directory, no database. */
    return (!strcmp(method, "GET") || !strcmp(method, "HEAD")) && strncmp(path, "/api/", 5) != 0 &&
           strcmp(path, "/api") != 0;
}

void api_handle(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    if (strncmp(req->path, "/api/", 5) != 0 && strcmp(req->path, "/api") != 0 &&
        strcmp(req->path, "/metrics") != 0) {
        req->route = "(page)";
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
            api_reply_error(req, method_not_allowed, "only GET is allowed here");
            return;
        }
        api_web_get(api, req);
        return;
    }
    if (forward_origin(api, req) < 0)
        return; /* a node-to-node request with a wrong token: answered 403 */
    http_handler_fn fn;
    switch (router_match(api->router, req, &fn)) {
    case HTTP_ROUTE_FOUND:
        fn(req, api);
        return;
    case HTTP_ROUTE_BAD_METHOD:
        api_reply_error(req, method_not_allowed, "%s is not allowed on this path", req->method);
        return;
    case HTTP_ROUTE_NOT_FOUND:
        api_reply_error(req, not_found, "no such API endpoint");
        return;
    }
}

/* Language workers (exec/lang.h), from the settings. Their per-user budget is cluster-wide
 * (api/limits.h, taken in lang.c). */
static int lang_start(struct api *api, const struct settings *cfg, struct store *store,
                      struct sup *sup, struct err *err)
{
    struct lang_config lc = {
        .max_workers = (unsigned)cfg->lang_workers,
        .idle_ms = cfg->lang_idle * 1000,
        .timeout_ms = cfg->lang_timeout_ms,
        .start_ms = cfg->lang_start_ms,
        .cancel_ms = cfg->lang_cancel_ms,
        .queue = (unsigned)cfg->lang_queue,
        .sync_bytes = cfg->lang_sync_bytes,
        .max_file_bytes = cfg->max_file_bytes,
        .preload = cfg->lang_preload,
    };
    /* A worker is a long-lived sandbox: its wall time is its lifetime; it needs few
     * processes (one thread per numerical library) and writes only its copy of the
     * workspace's Python files and the analysers' caches. */
    sb_limits_default(&lc.limits);
    lc.limits.wall_ms = cfg->lang_lifetime * 1000;
    lc.limits.cpu_ms = cfg->lang_cpu_ms;
    lc.limits.memory_bytes = cfg->lang_memory;
    lc.limits.pids = 16;
    lc.limits.output_bytes = 0; /* read with a cap by exec/lang */
    lc.limits.workspace_bytes = 2 * cfg->lang_sync_bytes + (16u << 20);
    return lang_new(&lc, store, sup, &api->lang, err);
}

static void run_changed(void *ctx, int64_t ws, const char *path, const char *etag)
{
    api_doc_replaced(ctx, ws, path); /* before the change event: see api_doc_replaced */
    api_workspace_changed(ctx, ws, path, etag);
}

/* Every route of the API: one call per resource (the api_..._routes of each file). */
static void add_routes(struct api *api, struct router *r)
{
    router_add(r, "GET", "/api/health", h_health);
    router_add(r, "GET", "/api/ready", h_ready);
    router_add(r, "GET", "/api/limits", h_limits);
    api_auth_routes(r);
    api_admin_routes(r);
    api_workspace_routes(r);
    api_member_routes(r);
    api_history_routes(r);
    api_file_routes(r);
    api_run_routes(r);
    api_submission_routes(r);
    api_terminal_routes(api, r);
    api_lang_routes(r);
    api_environment_routes(r);
    api_search_routes(r);
    api_archive_routes(r);
    api_collab_routes(r);
    api_metrics_routes(r);
    api_openapi_routes(r);
}

int api_new(const struct settings *cfg, struct store *store, struct sup *sup, struct api **ret,
            struct err *err)
{
    struct api *api = calloc(1, sizeof(*api));
    if (!api)
        return err_set(err, ENOMEM, "allocate api");
    api->cfg = cfg;
    api->store = store;
    api->sup = sup;
    pthread_rwlock_init(&api->terms_lock, NULL);
    api->limits = (struct store_limits){
        .max_file_bytes = (int64_t)cfg->max_file_bytes,
        .max_entries = (int64_t)cfg->max_files,
        .max_workspace_bytes = (int64_t)cfg->max_workspace_bytes,
        .history_versions = (int64_t)cfg->history_versions,
        .history_bytes = (int64_t)cfg->history_bytes,
    };
    api->web_dirfd = open(cfg->web_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (api->web_dirfd < 0)
        log_event(LOG_WARN, "web page not found; the API still works",
                  json_pack("{s:s}", "web_dir", cfg->web_dir));
    /* Registrations: register_rate per hour per client address (0: no limit), counted on
     * this node. (Failed logins and runs per minute are counted cluster-wide: limits.h.) */
    struct ratelimit_config rg = {
        .rate = (double)cfg->register_rate / 3600.0,
        .burst = (double)cfg->register_rate,
        .slots = 4096,
    };
    if (cfg->register_rate && ratelimit_new(&rg, &api->signup_by_ip) < 0) {
        api_free(api);
        return err_set(err, ENOMEM, "allocate rate limits");
    }
    if (cfg->lang && lang_start(api, cfg, store, sup, err) < 0) {
        api_free(api);
        return -EIO;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    /* Before runs and terminals: they record the node id, and what a dead predecessor
     * left running must be failed before anyone reads it. */
    if (cluster_start(api, &api->cluster, err) < 0) {
        api_free(api);
        return -EIO;
    }
    int frc = api->cluster ? forward_new(&api->forward) : 0;
    if (frc < 0) {
        api_free(api);
        return err_set(err, -frc, "start the relay to peers");
    }
    struct runs_config rc = {
        .data_dir = cfg->data_dir,
        .node = cluster_node(api->cluster),
        .max_running =
            cfg->max_runs ? (unsigned)cfg->max_runs : (unsigned)(2 * (cores > 0 ? cores : 1)),
        .max_per_user = (unsigned)cfg->max_runs_per_user,
        .max_queued = (unsigned)cfg->run_queue,
        .output_bytes = cfg->run_output,
        .max_artifacts = cfg->max_artifacts,
        .max_artifact_bytes = cfg->max_artifact_bytes,
        .files = api->limits,
        .run_inodes = cfg->run_inodes,
        .max_queued_per_user = (unsigned)cfg->max_queued_per_user,
        .on_change = run_changed,
        .on_change_ctx = api,
        .warm = cfg->warm_pool,
    };
    metrics_set(METRIC_RUN_SLOTS, NULL, rc.max_running);
    if (runs_new(&rc, store, sup, &api->runs, err) < 0) {
        api_free(api);
        return -EIO;
    }
    if (api_events_new((unsigned)cfg->max_event_streams_per_user, &api->events) < 0) {
        api_free(api);
        return err_set(err, ENOMEM, "allocate event subscribers");
    }
    if (api_archives_new((unsigned)cfg->archive_streams, &api->archives) < 0) {
        api_free(api);
        return err_set(err, ENOMEM, "allocate zip downloads");
    }
    api->router = router_new();
    if (!api->router) {
        api_free(api);
        return err_set(err, ENOMEM, "allocate api");
    }
    add_routes(api, api->router);
    if (api_metrics_start(api) < 0) {
        api_free(api);
        return err_set(err, EAGAIN, "start the metrics sampler");
    }
    if (cluster_run(api->cluster, err) < 0) {
        api_free(api);
        return -EIO;
    }
    *ret = api;
    return 0;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    api_metrics_stop();
    api_archives_free(api->archives); /* their streams are closed: the server stopped */
    runs_free(api->runs);
    lang_free(api->lang);
    forward_free(api->forward);
    cluster_stop(api->cluster); /* its bus thread publishes events */
    terms_free(api->terms);     /* NULL after api_stop_live */
    api_events_free(api->events);
    pthread_rwlock_destroy(&api->terms_lock);
    ratelimit_free(api->signup_by_ip);
    router_free(api->router);
    if (api->web_dirfd >= 0)
        close(api->web_dirfd);
    free(api);
}
