/*
 * submission endpoints: hand a workspace in for review, list and read submissions and
 * their snapshot files, withdraw, decide (approve or reject), comment, and diff two
 * submissions of the same workspace.
 *
 * Who may do what (docs/api.md, "Submissions"):
 *   - only a workspace's owner submits it; the snapshot is a copy made by the store in one
 *     transaction, so later edits of the workspace never change it;
 *   - submitters see, read and comment on their own submissions only: anyone else's is a
 *     404, as for workspaces; reviewers and admins see every submission;
 *   - only the author withdraws, and only while pending;
 *   - only reviewers and admins decide (a submitter gets 403 before anything is loaded),
 *     never on their own submission; a decision is a compare-and-set in the store, so
 *     deciding twice (or two reviewers at once) gives 409 already_decided.
 * Reviewers get no access to other people's workspaces here or anywhere: they review
 * snapshots, which are read-only.
 *
 * Every user-controlled size is bounded by the SUB_* constants (submissions_internal.h).
 * Handing in, deciding and commenting tell those concerned (notifications.c).
 */
#include "api/submissions_internal.h"
#include "base/utf8.h"
#include "workspace/path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON --------------------------------------------------------------------------- */

static json_t *id_or_null(int64_t id)
{
    return id > 0 ? json_integer((json_int_t)id) : json_null();
}

/* The list form: no files, run, reviews or comments. */
json_t *sub_json(const struct store_submission *s)
{
    return json_pack("{s:I,s:o,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:I}", "id", (json_int_t)s->id,
                     "workspace_id", id_or_null(s->workspace_id), "workspace_name",
                     s->workspace_name ? s->workspace_name : "", "author",
                     api_ref_json(s->author_id, s->author_name), "message",
                     s->message ? s->message : "", "status", store_sub_status_name(s->status),
                     "created_at", api_time(s->created_at), "decided_at", api_time(s->decided_at),
                     "decided_by", api_ref_json(s->decided_by, s->decided_by_name), "previous_id",
                     id_or_null(s->previous_id), "file_count", (json_int_t)s->file_count, "bytes",
                     (json_int_t)s->bytes);
}

json_t *sub_comment_json(const struct store_comment *c)
{
    return json_pack("{s:I,s:o,s:s,s:s?,s:o,s:o}", "id", (json_int_t)c->id, "author",
                     api_ref_json(c->author_id, c->author_name), "body", c->body, "path", c->path,
                     "line", c->line > 0 ? json_integer(c->line) : json_null(), "at",
                     api_time(c->at));
}

json_t *sub_review_json(const struct store_review *r)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:o}", "id", (json_int_t)r->id, "decision",
                     r->decision == STORE_SUB_APPROVED ? "approve" : "reject", "comment",
                     r->comment ? r->comment : "", "reviewer",
                     api_ref_json(r->reviewer_id, r->reviewer_name), "at", api_time(r->at));
}

/* The full form: the list form plus the snapshot's files, the run, reviews and comments.
 * Returns 0, or a -errno from the store. */
static int sub_full_json(struct api *api, const struct api_caller *c,
                         const struct store_submission *s, json_t **ret)
{
    struct store_file_list *files = NULL;
    struct store_review_list *reviews = NULL;
    struct store_comment_list *comments = NULL;
    int r = store_snapshot_list(api->store, s->id, &files, NULL);
    if (r == 0)
        r = store_review_list(api->store, s->id, &reviews, NULL);
    if (r == 0)
        r = store_comment_list(api->store, s->id, &comments, NULL);
    if (r == 0) {
        json_t *o = sub_json(s), *fa = json_array(), *ra = json_array(), *ca = json_array();
        for (size_t i = 0; i < files->n; i++)
            if (files->items[i].kind == STORE_KIND_FILE)
                json_array_append_new(fa, json_pack("{s:s,s:I,s:s}", "path", files->items[i].path,
                                                    "size", (json_int_t)files->items[i].size,
                                                    "etag", files->items[i].etag));
        for (size_t i = 0; i < reviews->n; i++)
            json_array_append_new(ra, sub_review_json(&reviews->items[i]));
        for (size_t i = 0; i < comments->n; i++)
            json_array_append_new(ca, sub_comment_json(&comments->items[i]));
        json_object_set_new(o, "files", fa);
        struct store_run *run = NULL;
        if (s->run_id && store_run_get(api->store, s->run_id, &run, NULL) == 0)
            json_object_set_new(o, "run", api_run_json(run, true));
        else
            json_object_set_new(o, "run", json_null());
        json_object_set_new(o, "reviews", ra);
        json_object_set_new(o, "comments", ca);
        const char *entry = sub_entry(files, run);
        json_object_set_new(o, "entry", entry ? json_string(entry) : json_null());
        store_run_free(run);
        json_t *earlier = s->previous_id ? sub_earlier_comments(api, c, s, &r) : json_array();
        if (earlier) {
            json_object_set_new(o, "earlier_comments", earlier);
            *ret = o;
        } else {
            json_decref(o);
        }
    }
    store_file_list_free(files);
    store_review_list_free(reviews);
    store_comment_list_free(comments);
    return r;
}

/* Answers status with the full form of submission id (read again, so it is current). */
static void reply_full(struct api *api, struct http_req *req, const struct api_caller *c,
                       int64_t id, int status)
{
    struct store_submission *s = NULL;
    json_t *o = NULL;
    int r = store_submission_get(api->store, id, &s, NULL);
    if (r == 0)
        r = sub_full_json(api, c, s, &o);
    if (r < 0)
        api_fail(req, r, "submission");
    else
        http_reply_json(req, status, o);
    store_submission_free(s);
}

/* ---- checks ------------------------------------------------------------------------- */

/* Text a person wrote (message, comment): 0..max bytes of UTF-8 without control
 * characters other than tab and line breaks. */
static bool valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max || !utf8_valid(s, n))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f)
            return false;
    return true;
}

static bool blank(const char *s)
{
    return !s || s[strspn(s, " \t\r\n")] == '\0';
}

/* A string member holding person-written text; answers 400 and returns false when it is
 * not a string or breaks valid_text. *ret is NULL when absent. */
static bool text_field(struct http_req *req, json_t *body, const char *key, size_t max,
                       const char **ret)
{
    bool bad = false;
    const char *s = api_str(req, body, key, false, &bad);
    if (bad)
        return false;
    if (s && !valid_text(s, max)) {
        api_reply_error(req, invalid_field,
                        "'%s' must be at most %zu bytes of text without control characters", key,
                        max);
        return false;
    }
    *ret = s;
    return true;
}

bool sub_may_see(const struct api_caller *c, const struct store_submission *s)
{
    return s->author_id == c->user.id || api_is_reviewer(c);
}

/* Loads submission id for the caller: absent or not visible → 404 answered, false. */
bool sub_load(struct api *api, struct http_req *req, const struct api_caller *c, int64_t id,
              struct store_submission **ret)
{
    struct store_submission *s = NULL;
    int r = store_submission_get(api->store, id, &s, NULL);
    if (r < 0) {
        api_fail(req, r, "submission");
        return false;
    }
    if (!sub_may_see(c, s)) {
        store_submission_free(s);
        api_reply_error(req, not_found, "no such submission");
        return false;
    }
    *ret = s;
    return true;
}

bool sub_request(struct api *api, struct http_req *req, struct api_caller *c,
                 struct store_submission **s)
{
    int64_t id;
    if (!api_auth(api, req, c))
        return false;
    if (!api_param_id(req, 0, &id) || !sub_load(api, req, c, id, s)) {
        api_caller_done(c);
        return false;
    }
    return true;
}

static void audit(struct api *api, struct http_req *req, int64_t actor, const char *action,
                  const struct store_submission *s)
{
    char target[48], detail[96];
    snprintf(target, sizeof(target), "submission:%lld", (long long)s->id);
    snprintf(detail, sizeof(detail), "{\"workspace\":%lld,\"author\":%lld}",
             (long long)s->workspace_id, (long long)s->author_id);
    api_audit(api, req, actor, action, target, detail);
}

/* ---- create ------------------------------------------------------------------------- */

/* Refuses a second pending submission of the same workspace (withdraw it first: reviewers
 * should not find two versions of one piece of work in their queue) and more than
 * SUB_PENDING_MAX pending ones per author (each holds a copy of a workspace). The check
 * and the insert are not one transaction: two concurrent submissions of one workspace may
 * both pass, which costs a duplicate in the queue, nothing worse. */
static bool pending_ok(struct api *api, struct http_req *req, const struct api_caller *c,
                       int64_t ws)
{
    struct store_submission_list *l = NULL;
    int r = store_submission_list(api->store, STORE_SUB_PENDING, c->user.id, SUB_PENDING_MAX, 0, &l,
                                  NULL);
    bool ok = false;
    if (r < 0) {
        api_fail(req, r, "submission");
        goto out;
    }
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].workspace_id == ws) {
            api_reply_error(req, conflict,
                            "submission #%lld of this workspace is still pending; withdraw it "
                            "first to submit again",
                            (long long)l->items[i].id);
            goto out;
        }
    if (l->n >= SUB_PENDING_MAX) {
        api_reply_error(req, too_large, "you already have %d pending submissions (the limit)",
                        SUB_PENDING_MAX);
        goto out;
    }
    ok = true;
out:
    store_submission_list_free(l);
    return ok;
}

static void h_create(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_workspace *w = NULL;
    struct store_submission *s = NULL;
    struct store_run *run = NULL;
    json_t *body = NULL;
    int64_t ws;
    const char *message = NULL;
    if (!api_auth(api, req, &c))
        return;
    if (!api_param_id(req, 0, &ws) || !api_workspace_load(api, req, &c, ws, API_ACCESS_OWNER, &w))
        goto out;
    if (w->owner_id != c.user.id) { /* an admin sees the workspace but may not submit it */
        api_reply_error(req, forbidden, "only the owner of a workspace may submit it");
        goto out;
    }
    if (!(body = api_body(req)) || !text_field(req, body, "message", SUB_MESSAGE_MAX, &message))
        goto out;
    if (w->file_count == 0) {
        api_reply_error(req, bad_request, "the workspace has no files to submit");
        goto out;
    }
    if (!pending_ok(api, req, &c, ws))
        goto out;
    /* The entry file runs first, on the workspace as it is, without saving anything back;
     * its result is attached to the submission for the reviewer. With
     * --require-passing-run a failing run refuses the submission (422, with the run). */
    int rr = api_run_check(api, ws, c.user.id, "main.py", &run);
    bool must_pass = api->cfg->require_passing_run;
    if (rr < 0 && must_pass) {
        api_reply_error(req, unavailable, "the check run could not start; try again in a moment");
        goto out;
    }
    if (must_pass && run->status != STORE_RUN_OK) {
        http_reply_json(req, 422,
                        json_pack("{s:{s:s,s:s},s:o}", "error", "code",
                                  api_error_name(API_ERR_run_failed), "message",
                                  "main.py must run without errors before it can be submitted",
                                  "run", api_run_json(run, true)));
        goto out;
    }
    int r = store_submission_create(api->store, ws, c.user.id, message ? message : "", &s, NULL);
    if (r < 0) {
        api_fail(req, r, "workspace");
        goto out;
    }
    if (run)
        (void)store_submission_set_run(api->store, s->id, run->id, NULL);
    audit(api, req, c.user.id, "submission_create", s);
    sub_notify(api, s, STORE_NOTIFY_SUBMISSION, c.user.id);
    reply_full(api, req, &c, s->id, 201);
out:
    store_run_free(run);
    store_submission_free(s);
    store_workspace_free(w);
    json_decref(body);
    api_caller_done(&c);
}

/* ---- read --------------------------------------------------------------------------- */

static void h_list(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    int limit, offset;
    api_page(req, &limit, &offset);
    enum store_sub_status status = STORE_SUB_ANY;
    const char *st = http_req_query(req, "status");
    const char *mine = http_req_query(req, "mine");
    struct store_submission_list *l = NULL;
    if (st && *st && store_sub_status_parse(st, &status) < 0) {
        api_reply_error(req, invalid_field,
                        "status is one of pending, approved, rejected, withdrawn");
        goto out;
    }
    /* Submitters see their own only, whatever they ask for. */
    int64_t author = !api_is_reviewer(&c) || (mine && strcmp(mine, "1") == 0) ? c.user.id : 0;
    int r = store_submission_list(api->store, status, author, limit, offset, &l, NULL);
    if (r < 0) {
        api_fail(req, r, "submission");
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(items, sub_json(&l->items[i]));
    json_t *body = json_pack("{s:o}", "items", items);
    api_page_next(body, offset, l->n, l->more);
    http_reply_json(req, 200, body);
out:
    store_submission_list_free(l);
    api_caller_done(&c);
}

static void h_get(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    json_t *o = NULL;
    if (!sub_request(api, req, &c, &s))
        return;
    int r = sub_full_json(api, &c, s, &o);
    if (r < 0)
        api_fail(req, r, "submission");
    else
        http_reply_json(req, 200, o);
    store_submission_free(s);
    api_caller_done(&c);
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } t[] = {
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".pdf", "application/pdf"},
        {".json", "application/json"},
        {".csv", "text/csv; charset=utf-8"},
    };
    const char *dot = strrchr(path_basename(path), '.');
    for (size_t i = 0; dot && i < sizeof(t) / sizeof(t[0]); i++)
        if (strcasecmp(dot, t[i].ext) == 0)
            return t[i].type;
    /* Never text/html or SVG: a submitted file must not become a page on our origin. */
    return "text/plain; charset=utf-8";
}

static void h_file(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    struct store_file *f = NULL;
    char path[PATH_BUF_SIZE];
    const char *reason = "empty path";
    if (!sub_request(api, req, &c, &s))
        return;
    if (!req->rest ||
        path_from_url(req->rest, strlen(req->rest), path, sizeof(path), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid path: %s", reason);
        goto out;
    }
    int r = store_snapshot_get(api->store, s->id, path, &f, NULL);
    if (r == 0 && f->kind != STORE_KIND_FILE)
        r = -EISDIR;
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    char etag[STORE_ETAG_LEN + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", f->etag);
    const char *inm = http_req_header(req, "If-None-Match");
    const char *const h[] = {"ETag",
                             etag,
                             "Cache-Control",
                             "no-cache",
                             "Content-Disposition",
                             "inline",
                             "Content-Security-Policy",
                             API_USER_CONTENT_CSP,
                             NULL};
    if (inm && strstr(inm, f->etag))
        http_reply(req, 304, NULL, "", 0, h);
    else
        http_reply(req, 200, content_type(path), f->content ? f->content : "", (size_t)f->size, h);
out:
    store_file_free(f);
    store_submission_free(s);
    api_caller_done(&c);
}

/* The snapshot as a zip (archive.c streams it). */
static void h_archive(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    if (!sub_request(api, req, &c, &s))
        return;
    char name[300];
    snprintf(name, sizeof(name), "%s-submission-%lld", s->workspace_name, (long long)s->id);
    struct archive_source src = {.submission_id = s->id, .name = name};
    api_archive_reply(api, req, &src);
    store_submission_free(s);
    api_caller_done(&c);
}

/* ---- change ------------------------------------------------------------------------- */

static void h_withdraw(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    if (!sub_request(api, req, &c, &s))
        return;
    if (s->author_id != c.user.id) {
        api_reply_error(req, forbidden, "only the author may withdraw a submission");
        goto out;
    }
    int r =
        store_submission_set_status(api->store, s->id, STORE_SUB_WITHDRAWN, c.user.id, NULL, NULL);
    if (r < 0) {
        api_fail(req, r, "submission");
        goto out;
    }
    audit(api, req, c.user.id, "submission_withdraw", s);
    sub_notify_withdrawn(api, s);
    reply_full(api, req, &c, s->id, 200);
out:
    store_submission_free(s);
    api_caller_done(&c);
}

static void h_review(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    json_t *body = NULL;
    int64_t id;
    const char *comment = NULL;
    if (!api_auth(api, req, &c))
        return;
    /* Role first, before loading anything: a submitter learns nothing here. */
    if (!api_is_reviewer(&c)) {
        api_reply_error(req, forbidden, "only reviewers and admins decide submissions");
        goto out;
    }
    if (!api_param_id(req, 0, &id) || !sub_load(api, req, &c, id, &s))
        goto out;
    if (s->author_id == c.user.id) {
        api_reply_error(req, forbidden, "you cannot review your own submission");
        goto out;
    }
    bool bad = false;
    const char *decision =
        (body = api_body(req)) ? api_str(req, body, "decision", true, &bad) : NULL;
    if (!body || bad || !text_field(req, body, "comment", SUB_COMMENT_MAX, &comment))
        goto out;
    enum store_sub_status to;
    if (strcmp(decision, "approve") == 0) {
        to = STORE_SUB_APPROVED;
    } else if (strcmp(decision, "reject") == 0) {
        to = STORE_SUB_REJECTED;
    } else {
        api_reply_error(req, invalid_field, "'decision' is approve or reject");
        goto out;
    }
    if (to == STORE_SUB_REJECTED && blank(comment)) {
        api_reply_error(req, invalid_field, "a comment is required to reject: say what to change");
        goto out;
    }
    int r =
        store_submission_set_status(api->store, s->id, to, c.user.id, comment ? comment : "", NULL);
    if (r < 0) {
        api_fail(req, r, "submission");
        goto out;
    }
    audit(api, req, c.user.id,
          to == STORE_SUB_APPROVED ? "submission_approve" : "submission_reject", s);
    sub_notify(api, s, STORE_NOTIFY_DECISION, c.user.id);
    reply_full(api, req, &c, s->id, 200);
out:
    json_decref(body);
    store_submission_free(s);
    api_caller_done(&c);
}

/* Lines in a text, as an editor numbers them: "a\nb" and "a\nb\n" both have 2. */
static long count_lines(const char *p, size_t n)
{
    long lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    return lines + (n > 0 && p[n - 1] != '\n');
}

/* Checks the optional path and line of a comment against the snapshot; answers 400 (or
 * the store's error) and returns false when they do not name a file and one of its lines. */
static bool comment_place(struct api *api, struct http_req *req, json_t *body,
                          const struct store_submission *s, const char **ret_path, int *ret_line)
{
    bool bad = false, ok = false;
    const char *path = api_str(req, body, "path", false, &bad), *reason = NULL;
    json_t *jl = json_object_get(body, "line");
    struct store_file *f = NULL;
    if (bad)
        return false;
    if (jl && !json_is_null(jl) && !path) {
        api_reply_error(req, invalid_field, "a 'line' needs a 'path'");
        return false;
    }
    if (!path) {
        *ret_path = NULL;
        *ret_line = 0;
        return true;
    }
    if (path_check(path, strlen(path), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid 'path': %s", reason);
        return false;
    }
    int r = store_snapshot_get(api->store, s->id, path, &f, NULL);
    if (r == -ENOENT || (r == 0 && f->kind != STORE_KIND_FILE)) {
        api_reply_error(req, invalid_field, "this submission has no file '%s'", path);
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    long line = 0;
    if (jl && !json_is_null(jl)) {
        long max = count_lines(f->content ? f->content : "", (size_t)f->size);
        line = json_is_integer(jl) ? (long)json_integer_value(jl) : -1;
        if (line < 1 || line > max) {
            api_reply_error(req, invalid_field,
                            "'line' must be an integer from 1 to %ld (the lines of '%s')", max,
                            path);
            goto out;
        }
    }
    *ret_path = path;
    *ret_line = (int)line;
    ok = true;
out:
    store_file_free(f);
    return ok;
}

static void h_comment(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    struct store_comment_list *l = NULL;
    struct store_comment *cm = NULL;
    json_t *body = NULL;
    const char *text = NULL, *path = NULL;
    int line = 0;
    if (!sub_request(api, req, &c, &s))
        return;
    if (!(body = api_body(req)) || !text_field(req, body, "body", SUB_COMMENT_MAX, &text))
        goto out;
    if (blank(text)) {
        api_reply_error(req, invalid_field, "'body' is required");
        goto out;
    }
    if (!comment_place(api, req, body, s, &path, &line))
        goto out;
    int r = store_comment_list(api->store, s->id, &l, NULL);
    if (r == 0 && l->n >= SUB_COMMENTS_MAX) {
        api_reply_error(req, too_large, "a submission takes at most %d comments", SUB_COMMENTS_MAX);
        goto out;
    }
    if (r == 0)
        r = store_comment_add(api->store, s->id, c.user.id, text, path, line, &cm, NULL);
    if (r < 0) {
        api_fail(req, r, "comment");
        goto out;
    }
    sub_notify(api, s, STORE_NOTIFY_COMMENT, c.user.id);
    http_reply_json(req, 201, sub_comment_json(cm));
out:
    store_comment_free(cm);
    store_comment_list_free(l);
    json_decref(body);
    store_submission_free(s);
    api_caller_done(&c);
}

void api_submission_routes(struct router *r)
{
    router_add(r, "POST", "/api/workspaces/{}/submissions", h_create);
    router_add(r, "GET", "/api/submissions", h_list);
    router_add(r, "GET", "/api/submissions/{}", h_get);
    router_add(r, "GET", "/api/submissions/{}/files/{*}", h_file);
    router_add(r, "GET", "/api/submissions/{}/archive", h_archive);
    router_add(r, "POST", "/api/submissions/{}/withdraw", h_withdraw);
    router_add(r, "POST", "/api/submissions/{}/review", h_review);
    router_add(r, "POST", "/api/submissions/{}/comments", h_comment);
    api_submission_diff_routes(r);
    api_submission_run_routes(r);
    api_notification_routes(r);
}
