/*
 * submission diffs: what changed between two submissions of the same workspace
 * (GET /api/submissions/{id}/diff?against=N), and the comments of earlier submissions carried
 * onto a resubmission, each line comment moved to where its line is now (workspace/linemap.h)
 * or marked as made on an earlier version.
 *
 * Both sides of a diff must be visible to the caller (sub_load) and linked: the same
 * workspace, or one the resubmission of the other. Diff text is bounded per answer
 * (SUB_DIFF_MAX_TOTAL) and per file (workspace/diff.h).
 */
#include "api/submissions_internal.h"
#include "workspace/diff.h"
#include "workspace/linemap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- diff --------------------------------------------------------------------------- */

/* One file's entry of a diff answer; old or new may be NULL (added, removed). *budget is
 * what is left of SUB_DIFF_MAX_TOTAL. */
static int diff_entry(struct api *api, int64_t from, int64_t to, const struct store_file *old,
                      const struct store_file *new, size_t *budget, json_t **ret)
{
    const char *path = new ? new->path : old->path;
    struct store_file *a = NULL, *b = NULL;
    char *text = NULL, *la = NULL, *lb = NULL;
    struct diff_stats st = {0};
    bool binary = false, too_large = false;
    int r = 0;
    if (old)
        r = store_snapshot_get(api->store, from, path, &a, NULL);
    if (r == 0 && new)
        r = store_snapshot_get(api->store, to, path, &b, NULL);
    if (r < 0)
        goto out;
    const char *ad = a && a->content ? a->content : "", *bd = b && b->content ? b->content : "";
    size_t an = a ? (size_t)a->size : 0, bn = b ? (size_t)b->size : 0;
    if (!diff_is_text(ad, an) || !diff_is_text(bd, bn)) {
        binary = true;
    } else if (an + bn > *budget) {
        too_large = true;
    } else {
        /* Patch labels: a/PATH and b/PATH, /dev/null for the missing side. */
        if (asprintf(&la, old ? "a/%s" : "/dev/null", path) < 0)
            la = NULL; /* undefined after a failure */
        if (asprintf(&lb, new ? "b/%s" : "/dev/null", path) < 0)
            lb = NULL;
        if (!la || !lb) {
            r = -ENOMEM;
            goto out;
        }
        size_t len = 0;
        r = diff_unified(ad, an, bd, bn, la, lb, DIFF_CONTEXT, &text, &len, &st);
        if (r == -EFBIG) {
            too_large = true;
            r = 0;
        } else if (r < 0) {
            goto out;
        } else {
            *budget -= len < *budget ? len : *budget;
        }
    }
    *ret = json_pack("{s:s,s:s,s:s?,s:b,s:b,s:I,s:I}", "path", path, "status",
                     !old   ? "added"
                     : !new ? "removed"
                            : "modified",
                     "diff", text, "binary", binary, "too_large", too_large, "added",
                     (json_int_t)st.added, "removed", (json_int_t)st.removed);
out:
    free(la);
    free(lb);
    free(text);
    store_file_free(a);
    store_file_free(b);
    return r;
}

/* The changed files between two snapshot listings (both sorted by path, bytewise). */
static int diff_files(struct api *api, int64_t from, int64_t to, const struct store_file_list *o,
                      const struct store_file_list *n, json_t *files)
{
    size_t i = 0, j = 0, budget = SUB_DIFF_MAX_TOTAL;
    int r = 0;
    while (r == 0 && (i < o->n || j < n->n)) {
        const struct store_file *x = i < o->n ? &o->items[i] : NULL;
        const struct store_file *y = j < n->n ? &n->items[j] : NULL;
        if (x && x->kind != STORE_KIND_FILE) {
            i++;
            continue;
        }
        if (y && y->kind != STORE_KIND_FILE) {
            j++;
            continue;
        }
        int cmp = !x ? 1 : !y ? -1 : strcmp(x->path, y->path);
        json_t *e = NULL;
        if (cmp < 0) {
            r = diff_entry(api, from, to, x, NULL, &budget, &e);
            i++;
        } else if (cmp > 0) {
            r = diff_entry(api, from, to, NULL, y, &budget, &e);
            j++;
        } else {
            if (strcmp(x->etag, y->etag) != 0)
                r = diff_entry(api, from, to, x, y, &budget, &e);
            i++;
            j++;
        }
        if (e)
            json_array_append_new(files, e);
    }
    return r;
}

static void h_diff(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    struct store_submission *s = NULL, *o = NULL;
    struct store_file_list *fo = NULL, *fn = NULL;
    json_t *files = NULL;
    if (!sub_request(api, req, &c, &s))
        return;
    const char *against = http_req_query(req, "against");
    char *end = NULL;
    long long other = against ? strtoll(against, &end, 10) : 0;
    if (!against || !*against || *end || other <= 0) {
        api_reply_error(req, invalid_field, "'against' must be a submission id");
        goto out;
    }
    if (!sub_load(api, req, &c, other, &o))
        goto out;
    /* The same workspace, or linked as resubmissions (which survives its deletion). */
    bool same = (s->workspace_id > 0 && s->workspace_id == o->workspace_id) ||
                s->previous_id == o->id || o->previous_id == s->id;
    if (!same) {
        api_reply_error(req, invalid_field, "submission #%lld is not of the same workspace", other);
        goto out;
    }
    int r = store_snapshot_list(api->store, o->id, &fo, NULL);
    if (r == 0)
        r = store_snapshot_list(api->store, s->id, &fn, NULL);
    files = json_array();
    if (r == 0)
        r = diff_files(api, o->id, s->id, fo, fn, files);
    if (r < 0) {
        api_fail(req, r, "submission");
        goto out;
    }
    http_reply_json(req, 200,
                    json_pack("{s:I,s:I,s:O}", "from", (json_int_t)o->id, "to", (json_int_t)s->id,
                              "files", files));
out:
    json_decref(files);
    store_file_list_free(fo);
    store_file_list_free(fn);
    store_submission_free(o);
    store_submission_free(s);
    api_caller_done(&c);
}

/* ---- the entry file ----------------------------------------------------------------- */

static bool has_file(const struct store_file_list *files, const char *path)
{
    for (size_t i = 0; i < files->n; i++)
        if (files->items[i].kind == STORE_KIND_FILE && strcmp(files->items[i].path, path) == 0)
            return true;
    return false;
}

const char *sub_entry(const struct store_file_list *files, const struct store_run *run)
{
    if (run && run->entry && has_file(files, run->entry))
        return run->entry;
    if (has_file(files, "main.py"))
        return "main.py";
    for (size_t i = 0; i < files->n; i++) {
        const char *p = files->items[i].path;
        size_t n = strlen(p);
        if (files->items[i].kind == STORE_KIND_FILE && n > 3 && strcmp(p + n - 3, ".py") == 0)
            return p;
    }
    return NULL;
}

/* ---- comments carried to a resubmission --------------------------------------------- */

/* The line map of path from submission `from` to submission `to`: NULL in *ret when nothing
 * maps (the file is gone from either side, is not text, or is too large to diff). */
static int path_map(struct api *api, int64_t from, int64_t to, const char *path,
                    struct linemap **ret)
{
    struct store_file *a = NULL, *b = NULL;
    *ret = NULL;
    int r = store_snapshot_get(api->store, from, path, &a, NULL);
    if (r == 0)
        r = store_snapshot_get(api->store, to, path, &b, NULL);
    if (r == -ENOENT || r == -EISDIR) {
        r = 0; /* gone from either side: on an earlier version */
        goto out;
    }
    if (r < 0)
        goto out;
    const char *ad = a->content ? a->content : "", *bd = b->content ? b->content : "";
    if (!diff_is_text(ad, (size_t)a->size) || !diff_is_text(bd, (size_t)b->size))
        goto out;
    r = linemap_new(ad, (size_t)a->size, bd, (size_t)b->size, ret);
    if (r == -EFBIG)
        r = 0;
out:
    store_file_free(a);
    store_file_free(b);
    return r;
}

/* The line maps of one earlier submission, one per commented path, so that many comments on
 * one file cost one diff (a submission has at most SUB_COMMENTS_MAX comments). */
struct carry {
    struct api *api;
    int64_t from, to;
    size_t n;
    struct {
        const char *path; /* borrowed from the comment list */
        struct linemap *m;
    } maps[SUB_COMMENTS_MAX];
};

static int carry_map(struct carry *k, const char *path, struct linemap **ret)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->maps[i].path, path) == 0) {
            *ret = k->maps[i].m;
            return 0;
        }
    if (k->n == SUB_COMMENTS_MAX) {
        *ret = NULL;
        return 0;
    }
    int r = path_map(k->api, k->from, k->to, path, ret);
    if (r == 0) {
        k->maps[k->n].path = path;
        k->maps[k->n++].m = *ret;
    }
    return r;
}

/* One earlier comment as the resubmission shows it. */
static int carried_comment(struct carry *k, const struct store_comment *cm, json_t **ret)
{
    long now = 0;
    if (cm->path && cm->line > 0) {
        struct linemap *m = NULL;
        int r = carry_map(k, cm->path, &m);
        if (r < 0)
            return r;
        now = m ? linemap_line(m, cm->line) : 0;
    }
    json_t *o = sub_comment_json(cm);
    json_object_set_new(o, "submission_id", json_integer(cm->submission_id));
    json_object_set_new(o, "original_line", cm->line > 0 ? json_integer(cm->line) : json_null());
    json_object_set_new(o, "line", now > 0 ? json_integer(now) : json_null());
    /* A line comment whose line did not survive is on an earlier version. */
    json_object_set_new(o, "outdated", json_boolean(cm->path && cm->line > 0 && now == 0));
    *ret = o;
    return 0;
}

/* The comments and decisions of one earlier submission e, appended to out. */
static int carry_from(struct api *api, const struct store_submission *s,
                      const struct store_submission *e, json_t *out)
{
    struct store_comment_list *cl = NULL;
    struct store_review_list *rl = NULL;
    struct carry *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    *k = (struct carry){.api = api, .from = e->id, .to = s->id};
    int r = store_comment_list(api->store, e->id, &cl, NULL);
    if (r == 0)
        r = store_review_list(api->store, e->id, &rl, NULL);
    for (size_t i = 0; r == 0 && i < rl->n; i++) {
        json_t *o = sub_review_json(&rl->items[i]);
        json_object_set_new(o, "submission_id", json_integer(e->id));
        json_array_append_new(out, o);
    }
    for (size_t i = 0; r == 0 && i < cl->n; i++) {
        json_t *o = NULL;
        r = carried_comment(k, &cl->items[i], &o);
        if (r == 0)
            json_array_append_new(out, o);
    }
    for (size_t i = 0; i < k->n; i++)
        linemap_free(k->maps[i].m);
    free(k);
    store_comment_list_free(cl);
    store_review_list_free(rl);
    return r;
}

json_t *sub_earlier_comments(struct api *api, const struct api_caller *c,
                             const struct store_submission *s, int *ret_rc)
{
    json_t *out = json_array();
    int64_t prev = s->previous_id;
    int r = 0;
    for (int depth = 0; r == 0 && prev > 0 && depth < SUB_CARRY_DEPTH; depth++) {
        struct store_submission *e = NULL;
        r = store_submission_get(api->store, prev, &e, NULL);
        if (r == -ENOENT) {
            r = 0;
            break;
        }
        if (r == 0 && sub_may_see(c, e))
            r = carry_from(api, s, e, out);
        prev = r == 0 ? e->previous_id : 0;
        store_submission_free(e);
    }
    if (r < 0) {
        json_decref(out);
        *ret_rc = r;
        return NULL;
    }
    return out;
}

void api_submission_diff_routes(struct router *r)
{
    router_add(r, "GET", "/api/submissions/{}/diff", h_diff);
}
