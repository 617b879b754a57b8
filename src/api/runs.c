/*
 * run endpoints: start a run of a workspace, read it, follow its output (Server-Sent
 * Events), feed its stdin, cancel it, list a workspace's runs, fetch its figures.
 * Who may start, read or steer a workspace's runs is decided by access.h (viewers read and
 * follow, editors start, cancel and feed stdin; whoever started a run may always steer it);
 * runs of a submission's snapshot are readable by its author and by reviewers.
 */
#include "exec/runs.h"

#include "api/cluster.h"
#include "api/drain.h"
#include "api/forward.h"
#include "api/internal.h"
#include "api/limits.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "base/utf8.h"
#include "http/sse.h"
#include "store/nodes.h"
#include "workspace/path.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARG_BYTES    4096
#define SSE_KEEPALIVE_MS 15000

json_t *api_text_json(const void *data, size_t len)
{
    struct buf t;
    buf_init(&t, len * 3 + 8);
    (void)utf8_sanitize(data ? data : "", len, true, &t);
    json_t *j = json_stringn(t.data ? t.data : "", t.len);
    buf_done(&t);
    return j ? j : json_string("");
}

/* Where the run's time went (docs/runs.md); null for a phase it never reached. */
static json_t *timings_json(const struct store_run_timings *t)
{
    const struct {
        const char *name;
        int64_t ms;
    } f[] = {{"queue_ms", t->queue_ms}, {"prepare_ms", t->prepare_ms},
             {"start_ms", t->start_ms}, {"program_ms", t->program_ms},
             {"exit_ms", t->exit_ms},   {"collect_ms", t->collect_ms}};
    json_t *j = json_object();
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        json_object_set_new(j, f[i].name, f[i].ms >= 0 ? json_integer(f[i].ms) : json_null());
    return j;
}

json_t *api_run_json(const struct store_run *r, bool with_output)
{
    json_error_t je;
    json_t *args = json_loads(r->args_json ? r->args_json : "[]", 0, &je);
    json_t *arts = json_array();
    for (size_t i = 0; i < r->artifacts.n; i++) {
        const struct store_artifact *a = &r->artifacts.items[i];
        json_array_append_new(arts,
                              json_pack("{s:s,s:I,s:s}", "name", a->name, "size",
                                        (json_int_t)a->size, "content_type", a->content_type));
    }
    json_t *j = json_pack(
        "{s:I,s:o,s:o,s:s,s:o,s:s,s:o,s:o,s:s,s:I,s:I,s:I,s:o,s:b,s:o,s:o,s:o}", "id",
        (json_int_t)r->id, "workspace_id",
        r->workspace_id ? json_integer(r->workspace_id) : json_null(), "submission_id",
        r->submission_id ? json_integer(r->submission_id) : json_null(), "entry", r->entry, "args",
        args ? args : json_array(), "status", store_run_status_name(r->status), "exit_code",
        r->exit_code >= 0 ? json_integer(r->exit_code) : json_null(), "signal",
        r->signal ? json_integer(r->signal) : json_null(), "limit_hit",
        r->limit_hit ? r->limit_hit : "none", "wall_ms", (json_int_t)r->wall_ms, "cpu_ms",
        (json_int_t)r->cpu_ms, "peak_memory_bytes", (json_int_t)r->peak_memory_bytes, "artifacts",
        arts, "warm", r->warm, "reason", r->reason ? json_string(r->reason) : json_null(),
        "created_at", api_time(r->created_at), "finished_at", api_time(r->finished_at));
    json_object_set_new(j, "notices", r->notices ? json_string(r->notices) : json_null());
    json_object_set_new(j, "timings", timings_json(&r->timings));
    if (with_output) {
        json_object_set_new(j, "stdout", api_text_json(r->stdout_data, r->stdout_len));
        json_object_set_new(j, "stderr", api_text_json(r->stderr_data, r->stderr_len));
        json_object_set_new(j, "stdout_truncated", json_boolean(r->stdout_truncated));
        json_object_set_new(j, "stderr_truncated", json_boolean(r->stderr_truncated));
    }
    return j;
}

bool api_run_visible(struct api *api, struct http_req *req, const struct api_caller *c,
                     const struct store_run *r, enum api_access need)
{
    bool mine = r->user_id == c->user.id;
    if (api_is_admin(c))
        return true;
    enum api_access have = API_ACCESS_NONE;
    if (r->workspace_id) {
        struct store_workspace *w = NULL;
        if (store_workspace_get(api->store, r->workspace_id, &w, NULL) == 0 &&
            api_access_get(api, c, w, &have) < 0)
            have = API_ACCESS_NONE;
        store_workspace_free(w);
        /* Whoever started a run may steer it while they are still in the workspace; a
         * member who was removed no longer sees its runs, their own included. */
        if (have >= need || (mine && have >= API_ACCESS_VIEWER))
            return true;
    } else if (mine) {
        return true; /* a run of a snapshot, or of a deleted workspace */
    }
    if (r->submission_id) {
        struct store_submission *s = NULL;
        bool ok = store_submission_get(api->store, r->submission_id, &s, NULL) == 0 &&
                  (s->author_id == c->user.id || api_is_reviewer(c));
        store_submission_free(s);
        if (ok)
            return true;
    }
    if (have >= API_ACCESS_VIEWER)
        api_reply_error(req, read_only, "viewers may follow a run but not steer it");
    else
        api_reply_error(req, not_found, "no such run");
    return false;
}

static bool load_run(struct api *api, struct http_req *req, struct api_caller *c,
                     enum api_access need, struct store_run **ret)
{
    int64_t id;
    if (!api_auth(api, req, c))
        return false;
    struct store_run *r = NULL;
    int rc;
    if (!api_param_id(req, 0, &id))
        goto fail;
    if ((rc = store_run_get(api->store, id, &r, NULL)) < 0) {
        api_fail(req, rc, "run");
        goto fail;
    }
    if (!api_run_visible(api, req, c, r, need))
        goto fail;
    *ret = r;
    return true;
fail:
    store_run_free(r);
    api_caller_done(c);
    return false;
}

/* A run still live on another node is served there: its events, stdin and cancel reach the
 * process that runs it. True when req was answered that way. */
static bool served_by_owner(struct api *api, struct http_req *req, const struct store_run *r)
{
    if ((r->status != STORE_RUN_QUEUED && r->status != STORE_RUN_RUNNING) || !r->node ||
        !api->cluster || !strcmp(r->node, cluster_node(api->cluster)))
        return false;
    int from = forward_origin(api, req);
    if (from != 0)
        return from < 0; /* a peer asked us: answer here, never forward again */
    return forward_request(api, req, r->node, NULL);
}

/* Reads "limits" into l, lowering only. Answers 400 and returns false on a bad value. */
static bool read_limits(struct http_req *req, json_t *body, struct sb_limits *l)
{
    json_t *lim = json_object_get(body, "limits");
    if (!lim || json_is_null(lim))
        return true;
    if (!json_is_object(lim)) {
        api_reply_error(req, invalid_field, "'limits' must be an object");
        return false;
    }
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"wall_ms", offsetof(struct sb_limits, wall_ms)},
        {"cpu_ms", offsetof(struct sb_limits, cpu_ms)},
        {"memory_bytes", offsetof(struct sb_limits, memory_bytes)},
        {"pids", offsetof(struct sb_limits, pids)},
        {"output_bytes", offsetof(struct sb_limits, output_bytes)},
        {"files_bytes", offsetof(struct sb_limits, workspace_bytes)},
    };
    struct sb_limits req_l = {0};
    const char *key;
    json_t *v;
    json_object_foreach(lim, key, v)
    {
        size_t i = 0;
        while (i < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[i].key, key))
            i++;
        if (i == sizeof(keys) / sizeof(keys[0])) {
            api_reply_error(req, invalid_field, "unknown limit '%s'", key);
            return false;
        }
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            api_reply_error(req, invalid_field, "limit '%s' must be a positive integer", key);
            return false;
        }
        *(uint64_t *)((char *)&req_l + keys[i].off) = (uint64_t)json_integer_value(v);
    }
    /* pids below 8 would break Python's own threads (and pandas'): keep a floor. */
    if (req_l.pids && req_l.pids < 8)
        req_l.pids = 8;
    sb_limits_lower(l, &req_l);
    return true;
}

void api_run_limits(const struct api *api, struct sb_limits *l)
{
    const struct settings *s = api->cfg;
    sb_limits_default(l);
    l->wall_ms = s->run_wall_ms;
    l->cpu_ms = s->run_cpu_ms;
    l->memory_bytes = s->run_memory;
    l->pids = s->run_pids;
    l->output_bytes = s->run_output;
    l->workspace_bytes = s->run_files;
    l->file_size_bytes = s->run_files;
    l->tmpfs_bytes = s->run_tmp;
}

/* A request answered with the stored run once the run has ended, holding no thread while
 * it runs (?wait=1, cancel). */
struct end_wait {
    struct api *api;
    struct http_req *req;
    int64_t run_id;
    int status;
};

static void reply_run(struct api *api, struct http_req *req, int64_t id, int status)
{
    struct store_run *r = NULL;
    int rc = store_run_get(api->store, id, &r, NULL);
    if (rc < 0)
        api_fail(req, rc, "run");
    else
        http_reply_json(req, status, api_run_json(r, true));
    store_run_free(r);
}

static void answer_run(struct http_req *req, void *ctx)
{
    struct end_wait *w = ctx;
    reply_run(w->api, req, w->run_id, w->status);
    free(w);
}

static void run_ended(void *ctx)
{
    struct end_wait *w = ctx;
    http_req_continue(w->req, answer_run, w);
}

static void answer_at_end(struct api *api, struct http_req *req, int64_t id, int status)
{
    struct end_wait *w = malloc(sizeof(*w));
    if (!w) {
        api_fail(req, -ENOMEM, "run");
        return;
    }
    *w = (struct end_wait){.api = api, .req = req, .run_id = id, .status = status};
    http_req_defer(req);
    if (!api->runs || runs_on_end(api->runs, id, run_ended, w) < 0)
        run_ended(w); /* over already (or not live here): answer now */
}

/* The cluster-wide limits on starting a run (api/limits.h): runs per minute, and runs at
 * once. Runs at once on this node are the run queue's business (exec/runs.c); runs the
 * user has going on other nodes count against --max-runs-per-user here, so spreading
 * runs over nodes gives no more than one node would. Answers 429 and returns false. */
static bool runs_allowed(struct api *api, struct http_req *req, const struct api_caller *c)
{
    char key[48];
    unsigned retry = 0;
    snprintf(key, sizeof(key), "runs:%lld", (long long)c->user.id);
    if (!api_limit_take(api, key, api->cfg->runs_per_minute, &retry)) {
        metrics_inc(METRIC_RATE_LIMITED, (const char *[]){"runs_per_minute"});
        metrics_inc(METRIC_RUNS_REFUSED, (const char *[]){"rate_limited"});
        api_too_many(req, retry, "you started too many runs in the last minute; wait a little");
        return false;
    }
    int64_t total = 0, elsewhere = 0;
    uint64_t max = api->cfg->max_runs_per_user;
    if (max && api->cluster &&
        store_runs_unfinished_user(api->store, c->user.id, cluster_node(api->cluster), &total,
                                   &elsewhere, NULL) == 0 &&
        elsewhere > 0 && (uint64_t)total >= max) {
        api_limit_give_back(api, key);
        api_too_many(req, 2, "you have as many runs going as you may; wait for one to finish");
        return false;
    }
    return true;
}

/* Starts a run described by body for the caller; answers. workspace_id or submission_id. */
void api_run_start(struct api *api, struct http_req *req, const struct api_caller *c,
                   int64_t workspace_id, int64_t submission_id, json_t *body,
                   const struct api_run_hook *hook)
{
    if (drain_relay_run(api, req))
        return; /* this node is stopping: a peer starts it */
    if (!api->runs) {
        api_reply_error(req, unavailable, "sandboxes are not available on this server");
        return;
    }
    bool bad = false;
    const char *entry = api_str(req, body, "entry", false, &bad);
    const char *stdin_s = bad ? NULL : api_str(req, body, "stdin", false, &bad);
    if (bad)
        return;
    if (!entry)
        entry = "main.py";
    const char *reason = NULL;
    if (path_check(entry, strlen(entry), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid entry: %s", reason);
        return;
    }
    if (!runs_interpreter(entry)) {
        api_reply_error(req, invalid_field, "pyroom can run .py and .sh files");
        return;
    }
    json_t *args = json_object_get(body, "args");
    size_t nargs = args && json_is_array(args) ? json_array_size(args) : 0;
    if (args && !json_is_null(args) && (!json_is_array(args) || nargs > SB_MAX_ARGS - 8)) {
        api_reply_error(req, invalid_field, "'args' must be a list of at most %d strings",
                        SB_MAX_ARGS - 8);
        return;
    }
    const char **argv = calloc(nargs + 1, sizeof(char *));
    if (!argv) {
        api_fail(req, -ENOMEM, "run");
        return;
    }
    for (size_t i = 0; i < nargs; i++) {
        json_t *a = json_array_get(args, i);
        if (!json_is_string(a) || json_string_length(a) > MAX_ARG_BYTES ||
            strlen(json_string_value(a)) != json_string_length(a)) {
            api_reply_error(req, invalid_field,
                            "each argument must be a string of at most %d bytes without NUL",
                            MAX_ARG_BYTES);
            free(argv);
            return;
        }
        argv[i] = json_string_value(a);
    }
    struct run_request rq = {
        .workspace_id = workspace_id,
        .submission_id = submission_id,
        .user_id = c->user.id,
        .entry = entry,
        .args = argv,
        .stdin_data = stdin_s,
        .stdin_len = stdin_s ? strlen(stdin_s) : 0,
        .interactive = json_is_true(json_object_get(body, "interactive")),
    };
    api_run_limits(api, &rq.limits);
    if (rq.interactive)
        rq.limits.idle_ms = api->cfg->run_idle_ms; /* waiting for a person does not count */
    char *args_json = args && json_is_array(args) ? json_dumps(args, JSON_COMPACT) : strdup("[]");
    rq.args_json = args_json;
    int64_t id = 0;
    if (!read_limits(req, body, &rq.limits))
        goto out;
    if (!runs_allowed(api, req, c))
        goto out;
    int rc = runs_start(api->runs, &rq, &id, NULL);
    if (rc == -EAGAIN) {
        metrics_inc(METRIC_RATE_LIMITED, (const char *[]){"run_queue"});
        metrics_inc(METRIC_RUNS_REFUSED, (const char *[]){"queue_full"});
        api_too_many(req, 2, "the server is busy with other runs; try again in a moment");
        goto out;
    }
    if (rc == 0 && hook)
        rc = hook->started(api, id, hook->ctx);
    if (rc < 0) {
        api_fail(req, rc, "run");
        goto out;
    }
    const char *wait = http_req_query(req, "wait");
    if (wait && strcmp(wait, "1") == 0) {
        answer_at_end(api, req, id, 200);
        goto out;
    }
    struct store_run *r = NULL;
    if ((rc = store_run_get(api->store, id, &r, NULL)) < 0)
        api_fail(req, rc, "run");
    else
        http_reply_json(req, 202, api_run_json(r, false));
    store_run_free(r);
out:
    free(args_json);
    free(argv);
}

int api_run_check(struct api *api, int64_t workspace_id, int64_t user_id, const char *entry,
                  struct store_run **ret)
{
    if (!api->sup)
        return -ENOTSUP;
    struct run_request rq = {
        .workspace_id = workspace_id,
        .user_id = user_id,
        .entry = entry,
        .no_write_back = true,
    };
    api_run_limits(api, &rq.limits);
    int64_t id;
    int rc = runs_start(api->runs, &rq, &id, NULL);
    if (rc < 0)
        return rc;
    (void)runs_wait(api->runs, id, (int)(rq.limits.wall_ms + 60000));
    return store_run_get(api->store, id, ret, NULL);
}

static void h_start(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    json_t *body = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    if ((body = req->body.len ? api_body(req) : json_object()))
        api_run_start(api, req, &c, w->id, 0, body, NULL);
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_get(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_run *r = NULL;
    if (!load_run(api, req, &c, API_ACCESS_VIEWER, &r))
        return;
    http_reply_json(req, 200, api_run_json(r, true));
    store_run_free(r);
    api_caller_done(&c);
}

static void h_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_VIEWER, &w))
        return;
    {
        int limit, offset;
        api_page(req, &limit, &offset);
        struct store_run_list *l = NULL;
        int rc = store_run_list(api->store, w->id, 0, limit, offset, &l, NULL);
        if (rc < 0) {
            api_fail(req, rc, "run");
        } else {
            json_t *items = json_array();
            for (size_t i = 0; i < l->n; i++)
                json_array_append_new(items, api_run_json(&l->items[i], false));
            json_t *body = json_pack("{s:o}", "items", items);
            api_page_next(body, offset, l->n, l->more);
            http_reply_json(req, 200, body);
        }
        store_run_list_free(l);
    }
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_cancel(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_run *r = NULL;
    if (!load_run(api, req, &c, API_ACCESS_EDITOR, &r))
        return;
    int64_t id = r->id;
    bool forwarded = served_by_owner(api, req, r);
    store_run_free(r);
    if (!forwarded && api->runs && runs_cancel(api->runs, id) == 0)
        answer_at_end(api, req, id, 200);
    else if (!forwarded)
        reply_run(api, req, id, 200);
    api_caller_done(&c);
}

static void h_stdin(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_run *r = NULL;
    if (!load_run(api, req, &c, API_ACCESS_EDITOR, &r))
        return;
    if (served_by_owner(api, req, r)) {
        store_run_free(r);
        api_caller_done(&c);
        return;
    }
    int rc = api->runs ? runs_stdin(api->runs, r->id, req->body.data, req->body.len) : -ENOENT;
    if (rc == -ENOENT)
        api_reply_error(req, conflict, "the run has finished");
    else if (rc == -EPIPE)
        api_reply_error(req, conflict, "the run's input is closed");
    else if (rc == -ENOBUFS)
        api_reply_error(req, too_large, "too much input is waiting to be read");
    else if (rc < 0)
        api_fail(req, rc, "run");
    else
        http_reply_empty(req, 204);
    store_run_free(r);
    api_caller_done(&c);
}

static void h_artifact(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_run *r = NULL;
    if (!load_run(api, req, &c, API_ACCESS_VIEWER, &r))
        return;
    char *name = req->rest ? http_unescape(req->rest, strlen(req->rest), false) : NULL;
    struct store_artifact *a = NULL;
    int rc = name ? store_artifact_get(api->store, r->id, name, &a, NULL) : -ENOENT;
    if (rc < 0) {
        api_fail(req, rc, "artifact");
    } else {
        static const char *const h[] = {"Cache-Control", "private, max-age=86400",
                                        "Content-Security-Policy", API_USER_CONTENT_CSP, NULL};
        http_reply(req, 200, a->content_type, a->data, (size_t)a->size, h);
    }
    store_artifact_free(a);
    free(name);
    store_run_free(r);
    api_caller_done(&c);
}

/* ---- Server-Sent Events ---------------------------------------------------------------- */

/* One follower of a run. The HTTP server pulls the live events with sse_fill on its loop
 * (woken by the run's notify); when the run has ended, its worker thread builds the tail
 * (the stored result) in run_done and wakes the stream again. */
struct sse {
    struct api *api;
    int64_t run_id;
    pthread_mutex_t mu;
    unsigned refs;           /* the stream's (sse_closed) and a pending run_done's */
    struct http_stream *out; /* NULL once closed */
    struct run_stream *live; /* NULL once the live part is over */
    struct buf tail;         /* what remains to send after the live part */
    size_t tail_pos;
    bool tail_ready;
    bool tail_failed; /* the stored run could not be read: no result, end with an error */
};

static void sse_unref(struct sse *s)
{
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last)
        return;
    runs_stream_close(s->live);
    buf_done(&s->tail);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The stored run as events: its output (when we had no live stream) and the result. */
static void build_tail(struct sse *s, bool with_output)
{
    struct store_run *r = NULL;
    struct buf t;
    buf_init(&t, s->tail.max);
    bool failed = store_run_get(s->api->store, s->run_id, &r, NULL) < 0;
    if (!failed) {
        json_t *events[3] = {NULL, NULL, NULL};
        const char *names[3] = {EVENT_RUN(stdout), EVENT_RUN(stderr), EVENT_RUN(result)};
        if (with_output && r->stdout_len)
            events[0] = json_pack("{s:o}", "data", api_text_json(r->stdout_data, r->stdout_len));
        if (with_output && r->stderr_len)
            events[1] = json_pack("{s:o}", "data", api_text_json(r->stderr_data, r->stderr_len));
        events[2] = api_run_json(r, true);
        for (int i = 0; i < 3; i++) {
            if (!events[i])
                continue;
            char *text = json_dumps(events[i], JSON_COMPACT);
            if (text)
                (void)sse_append(&t, names[i], text, strlen(text));
            free(text);
            json_decref(events[i]);
        }
    }
    store_run_free(r);
    pthread_mutex_lock(&s->mu);
    buf_done(&s->tail);
    s->tail = t;
    s->tail_ready = true;
    s->tail_failed = failed;
    struct http_stream *out = s->out;
    if (out)
        http_stream_wake(out);
    pthread_mutex_unlock(&s->mu);
}

static ssize_t sse_fill(void *ctx, char *out, size_t max)
{
    struct sse *s = ctx;
    if (s->live) {
        ssize_t n = runs_stream_read(s->live, out, max, 0);
        if (n >= 0)
            return n;
        /* every live event is out; the tail follows once run_done has built it */
        runs_stream_close(s->live);
        s->live = NULL;
    }
    pthread_mutex_lock(&s->mu);
    ssize_t n = 0;
    if (s->tail_ready) {
        size_t k = s->tail.len - s->tail_pos;
        if (k > max)
            k = max;
        if (k)
            memcpy(out, s->tail.data + s->tail_pos, k);
        s->tail_pos += k;
        n = k ? (ssize_t)k : s->tail_failed ? HTTP_FILL_FAILED : HTTP_FILL_END;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void sse_wake(void *ctx)
{
    struct sse *s = ctx;
    /* Called with the runs lock held; only wakes. s->out is stable while the live stream
     * exists (sse_closed clears out after closing the live stream... see sse_closed). */
    pthread_mutex_lock(&s->mu);
    if (s->out)
        http_stream_wake(s->out);
    pthread_mutex_unlock(&s->mu);
}

static void run_done(void *ctx)
{
    struct sse *s = ctx;
    build_tail(s, false);
    sse_unref(s);
}

static void sse_closed(void *ctx)
{
    struct sse *s = ctx;
    pthread_mutex_lock(&s->mu);
    struct http_stream *out = s->out;
    s->out = NULL;
    pthread_mutex_unlock(&s->mu);
    http_stream_unref(out);
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, -1);
    sse_unref(s);
}

static void h_events(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_run *r = NULL;
    if (!load_run(api, req, &c, API_ACCESS_VIEWER, &r))
        return;
    if (served_by_owner(api, req, r))
        goto out;
    struct sse *s = calloc(1, sizeof(*s));
    if (!s) {
        api_fail(req, -ENOMEM, "run");
        goto out;
    }
    s->api = api;
    s->run_id = r->id;
    s->refs = 1;
    pthread_mutex_init(&s->mu, NULL);
    buf_init(&s->tail, (size_t)api->cfg->run_output * 16 + (1u << 20));
    static const char *const h[] = {"Cache-Control", "no-store", "X-Accel-Buffering", "no", NULL};
    struct http_stream_config sc = {
        .max_queue = 4096,
        .keepalive_ms = SSE_KEEPALIVE_MS,
        .keepalive = ":\n\n",
        .fill = sse_fill,
        .on_close = sse_closed,
        .ctx = s,
    };
    int rc = http_reply_stream(req, 200, "text/event-stream", &sc, h, &s->out);
    if (rc < 0) {
        sse_unref(s);
        api_fail(req, rc, "run");
        goto out;
    }
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, 1); /* sse_closed takes it back */
    /* Nothing reads the stream before this handler returns: set it up in peace. */
    s->live = api->runs ? runs_stream_open(api->runs, r->id) : NULL;
    if (s->live) {
        runs_stream_notify(s->live, sse_wake, s);
        s->refs++; /* run_done's */
        if (runs_on_end(api->runs, r->id, run_done, s) < 0) {
            s->refs--;
            build_tail(s, false); /* ended between the two calls */
        }
    } else {
        /* Not live here: everything comes from the store. */
        build_tail(s, true);
    }
out:
    store_run_free(r);
    api_caller_done(&c);
}

void api_run_routes(struct router *r)
{
    router_add(r, "POST", "/api/workspaces/{}/runs", h_start);
    router_add(r, "GET", "/api/workspaces/{}/runs", h_list);
    router_add(r, "GET", "/api/runs/{}", h_get);
    router_add(r, "GET", "/api/runs/{}/events", h_events);
    router_add(r, "POST", "/api/runs/{}/stdin", h_stdin);
    router_add(r, "POST", "/api/runs/{}/cancel", h_cancel);
    router_add(r, "GET", "/api/runs/{}/artifacts/{*}", h_artifact);
}
