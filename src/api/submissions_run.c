/*
 * submission re-runs: a reviewer runs any file of a submission's snapshot in a fresh sandbox,
 * with stdin, and optionally checks its output against an expected output.
 *
 *   POST /api/submissions/{id}/runs       {"entry","stdin","args","limits",
 *                                          "expected_output","compare"}
 *   GET  /api/submissions/{id}/runs/{run} the run (with output) and its "check"
 *
 * The run is of the snapshot (runs of a submission never see the live workspace; the
 * run worker materialises the stored snapshot). The entry defaults to the submission's entry
 * file (sub_entry) and must be a file of the snapshot. Only reviewers and admins re-run (a
 * submitter gets 403 before anything is loaded, as for decisions); the author and reviewers
 * read the runs.
 *
 * Bounds: stdin is bounded by the request body (--max-body); an expected output longer than
 * a run may print (--run-output) could never match and is refused (413). The check's
 * verdict is computed when read, from the stored stdout (workspace/outcheck.h): it passes
 * when the run ended with status ok and its whole output matched. A truncated output never
 * passes.
 */
#include "api/submissions_internal.h"
#include "workspace/outcheck.h"
#include "workspace/path.h"

#include <errno.h>
#include <string.h>

/* What h_run records once the run exists. */
struct check_plan {
    int64_t submission_id;
    const char *expected; /* borrowed from the body */
    enum outcheck_mode mode;
};

static int record_check(struct api *api, int64_t run_id, void *ctx)
{
    struct check_plan *p = ctx;
    return store_check_add(api->store, run_id, p->submission_id, p->expected,
                           outcheck_mode_name(p->mode), NULL);
}

/* Resolves the body's "entry" (default: the submission's entry file) to a file of the
 * snapshot and writes it back into body. Answers 400 and returns false otherwise. */
static bool resolve_entry(struct api *api, struct http_req *req, const struct store_submission *s,
                          json_t *body)
{
    bool bad = false, ok = false;
    const char *entry = api_str(req, body, "entry", false, &bad), *reason = NULL;
    struct store_file_list *files = NULL;
    struct store_run *run = NULL;
    struct store_file *f = NULL;
    if (bad)
        return false;
    if (!entry) {
        int r = store_snapshot_list(api->store, s->id, &files, NULL);
        if (r < 0) {
            api_fail(req, r, "submission");
            goto out;
        }
        if (s->run_id)
            (void)store_run_get(api->store, s->run_id, &run, NULL);
        entry = sub_entry(files, run);
        if (!entry) {
            api_reply_error(req, invalid_field, "this submission has no Python file to run");
            goto out;
        }
        json_object_set_new(body, "entry", json_string(entry));
        ok = true;
        goto out;
    }
    if (path_check(entry, strlen(entry), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid entry: %s", reason);
        goto out;
    }
    int r = store_snapshot_get(api->store, s->id, entry, &f, NULL);
    if (r == -ENOENT || (r == 0 && f->kind != STORE_KIND_FILE)) {
        api_reply_error(req, invalid_field, "this submission has no file '%s'", entry);
        goto out;
    }
    if (r < 0) {
        api_fail(req, r, "file");
        goto out;
    }
    ok = true;
out:
    store_file_free(f);
    store_run_free(run);
    store_file_list_free(files);
    return ok;
}

/* Reads "expected_output" and "compare" into p (expected NULL when absent). Answers and
 * returns false on a bad value. */
static bool read_check(struct api *api, struct http_req *req, json_t *body, struct check_plan *p)
{
    bool bad = false;
    p->expected = api_str(req, body, "expected_output", false, &bad);
    const char *compare = bad ? NULL : api_str(req, body, "compare", false, &bad);
    if (bad)
        return false;
    if (compare && outcheck_mode_parse(compare, &p->mode) < 0) {
        api_reply_error(req, invalid_field, "'compare' is trim or exact");
        return false;
    }
    if (compare && !p->expected) {
        api_reply_error(req, invalid_field, "'compare' needs an 'expected_output'");
        return false;
    }
    json_t *e = json_object_get(body, "expected_output");
    if (p->expected && (json_string_length(e) != strlen(p->expected))) {
        api_reply_error(req, invalid_field, "'expected_output' must be text without NUL");
        return false;
    }
    if (p->expected && strlen(p->expected) > api->cfg->run_output) {
        api_reply_error(req, too_large,
                        "'expected_output' is longer than a run may print (%llu bytes)",
                        (unsigned long long)api->cfg->run_output);
        return false;
    }
    return true;
}

static void h_run(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    json_t *body = NULL;
    int64_t id;
    if (!api_auth(api, req, &c))
        return;
    if (!api_is_reviewer(&c)) {
        api_reply_error(req, forbidden, "only reviewers and admins re-run submissions");
        goto out;
    }
    if (!api_param_id(req, 0, &id) || !sub_load(api, req, &c, id, &s))
        goto out;
    if (!(body = req->body.len ? api_body(req) : json_object()))
        goto out;
    struct check_plan plan = {.submission_id = s->id, .mode = OUTCHECK_TRIM};
    if (!read_check(api, req, body, &plan) || !resolve_entry(api, req, s, body))
        goto out;
    struct api_run_hook hook = {.started = record_check, .ctx = &plan};
    api_run_start(api, req, &c, 0, s->id, body, plan.expected ? &hook : NULL);
out:
    json_decref(body);
    store_submission_free(s);
    api_caller_done(&c);
}

static json_t *line_json(const struct outcheck_line *l)
{
    return l->p ? api_text_json(l->p, l->len) : json_null();
}

/* Why an ended run did not pass its check (same: its output matched), or NULL: it passed. */
static const char *why_not(const struct store_run *r, bool same)
{
    if (r->stdout_truncated)
        return "the output was cut at the output limit";
    if (!same)
        return "the output differs";
    if (r->status != STORE_RUN_OK)
        return "the output matched, but the program did not end with status ok";
    return NULL;
}

/* The check of run r, or null when it was started without an expected output. */
static int check_json(struct api *api, const struct store_run *r, json_t **ret)
{
    struct store_check *k = NULL;
    int rc = store_check_get(api->store, r->id, &k, NULL);
    if (rc == -ENOENT) {
        *ret = json_null();
        return 0;
    }
    if (rc < 0)
        return rc;
    enum outcheck_mode mode = OUTCHECK_TRIM;
    (void)outcheck_mode_parse(k->compare, &mode);
    json_t *o =
        json_pack("{s:s,s:s}", "expected_output", k->expected, "compare", outcheck_mode_name(mode));
    bool ended = r->status != STORE_RUN_QUEUED && r->status != STORE_RUN_RUNNING;
    struct outcheck_diff d = {0};
    bool same = ended && !r->stdout_truncated &&
                outcheck_match(k->expected, strlen(k->expected),
                               r->stdout_data ? r->stdout_data : "", r->stdout_len, mode, &d);
    const char *reason = ended ? why_not(r, same) : NULL;
    json_object_set_new(o, "pass",
                        ended ? json_boolean(same && r->status == STORE_RUN_OK) : json_null());
    json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
    json_object_set_new(o, "difference",
                        ended && !same && !r->stdout_truncated
                            ? json_pack("{s:I,s:o,s:o}", "line", (json_int_t)d.line, "expected",
                                        line_json(&d.expected), "actual", line_json(&d.actual))
                            : json_null());
    store_check_free(k);
    *ret = o;
    return 0;
}

static void h_run_get(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL;
    struct store_run *r = NULL;
    json_t *check = NULL;
    int64_t run_id;
    if (!sub_request(api, req, &c, &s))
        return;
    if (!api_param_id(req, 1, &run_id))
        goto out;
    int rc = store_run_get(api->store, run_id, &r, NULL);
    if (rc == 0 && r->submission_id != s->id)
        rc = -ENOENT; /* a run of another submission is not found here */
    if (rc == 0)
        rc = check_json(api, r, &check);
    if (rc < 0) {
        api_fail(req, rc, "run");
        goto out;
    }
    json_t *o = api_run_json(r, true);
    json_object_set_new(o, "check", check);
    http_reply_json(req, 200, o);
out:
    store_run_free(r);
    store_submission_free(s);
    api_caller_done(&c);
}

void api_submission_run_routes(struct router *r)
{
    router_add(r, "POST", "/api/submissions/{}/runs", h_run);
    router_add(r, "GET", "/api/submissions/{}/runs/{}", h_run_get);
}
