/*
 * runs: run records (queued -> running -> a final status), their captured output and
 * their artifacts (e.g. matplotlib figures as PNG).
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RUN_COLS                                                                                   \
    "id, workspace_id, submission_id, user_id, node, entry, args_json, status, exit_code,"         \
    " signal, limit_hit, wall_ms, cpu_ms, peak_memory_bytes, stdout_truncated,"                    \
    " stderr_truncated, warm, reason, created_at, started_at, finished_at, notices,"               \
    " queue_ms, prepare_ms, start_ms, program_ms, exit_ms, collect_ms"
#define RUN_NCOLS 28

void artifact_done(struct store_artifact *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->content_type);
    free(a->data);
}

static void artifact_done_v(void *p)
{
    artifact_done(p);
}

void run_done(struct store_run *r)
{
    if (!r)
        return;
    free(r->node);
    free(r->entry);
    free(r->args_json);
    free(r->limit_hit);
    free(r->reason);
    free(r->notices);
    free(r->stdout_data);
    free(r->stderr_data);
    for (size_t i = 0; i < r->artifacts.n; i++)
        artifact_done(&r->artifacts.items[i]);
    free(r->artifacts.items);
}

static void run_done_v(void *p)
{
    run_done(p);
}

static int read_run(struct db *db, struct db_stmt *s, void *out)
{
    struct store_run *r = out;
    int rc = 0;
    r->id = col_int(db, s, 0);
    r->workspace_id = col_int(db, s, 1);
    r->submission_id = col_int(db, s, 2);
    r->user_id = col_int(db, s, 3);
    r->node = col_strdup(db, s, 4, &rc);
    r->entry = col_strdup(db, s, 5, &rc);
    r->args_json = col_strdup(db, s, 6, &rc);
    if (store_run_status_parse(col_text(db, s, 7), &r->status) < 0)
        r->status = STORE_RUN_FAILED;
    r->exit_code = (int)col_int(db, s, 8);
    r->signal = (int)col_int(db, s, 9);
    r->limit_hit = col_strdup(db, s, 10, &rc);
    r->wall_ms = col_int(db, s, 11);
    r->cpu_ms = col_int(db, s, 12);
    r->peak_memory_bytes = col_int(db, s, 13);
    r->stdout_truncated = col_int(db, s, 14) != 0;
    r->stderr_truncated = col_int(db, s, 15) != 0;
    r->warm = col_int(db, s, 16) != 0;
    r->reason = col_strdup(db, s, 17, &rc);
    r->created_at = col_int(db, s, 18);
    r->started_at = col_int(db, s, 19);
    r->finished_at = col_int(db, s, 20);
    r->notices = col_strdup(db, s, 21, &rc);
    r->timings.queue_ms = col_int(db, s, 22);
    r->timings.prepare_ms = col_int(db, s, 23);
    r->timings.start_ms = col_int(db, s, 24);
    r->timings.program_ms = col_int(db, s, 25);
    r->timings.exit_ms = col_int(db, s, 26);
    r->timings.collect_ms = col_int(db, s, 27);
    return rc;
}

static int read_run_output(struct db *db, struct db_stmt *s, void *out)
{
    struct store_run *r = out;
    int rc = read_run(db, s, out);
    r->stdout_data = col_blobdup(db, s, RUN_NCOLS, &r->stdout_len, &rc);
    r->stderr_data = col_blobdup(db, s, RUN_NCOLS + 1, &r->stderr_len, &rc);
    return rc;
}

#define ART_COLS "id, run_id, name, content_type, size, created_at"

static int read_artifact(struct db *db, struct db_stmt *s, void *out)
{
    struct store_artifact *a = out;
    int rc = 0;
    a->id = col_int(db, s, 0);
    a->run_id = col_int(db, s, 1);
    a->name = col_strdup(db, s, 2, &rc);
    a->content_type = col_strdup(db, s, 3, &rc);
    a->size = col_int(db, s, 4);
    a->created_at = col_int(db, s, 5);
    return rc;
}

static int read_artifact_data(struct db *db, struct db_stmt *s, void *out)
{
    struct store_artifact *a = out;
    size_t len;
    int rc = read_artifact(db, s, out);
    a->data = col_blobdup(db, s, 6, &len, &rc);
    if (!a->data && rc == 0)
        a->data = calloc(1, 1);
    if (!a->data)
        rc = -ENOMEM;
    return rc;
}

static int run_fetch(struct db *db, int64_t id, struct store_run **ret, struct err *err)
{
    struct store_run *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(err, ENOMEM, "run");
    struct rows a;
    int rc = fetch_one(db, r, sizeof(*r), read_run_output, run_done_v,
                       "SELECT " RUN_COLS ", stdout, stderr FROM runs WHERE id = ?", err, "i", id);
    if (rc == 0) {
        rc = fetch_rows(db, &a, sizeof(struct store_artifact), read_artifact, artifact_done_v, 0,
                        "SELECT " ART_COLS " FROM artifacts WHERE run_id = ? ORDER BY name", err,
                        "i", id);
        if (rc == 0) {
            r->artifacts.items = a.items;
            r->artifacts.n = a.n;
        }
    }
    if (rc < 0) {
        store_run_free(r);
        return rc;
    }
    *ret = r;
    return 0;
}

int store_run_create(struct store *st, const struct store_run_new *n, struct store_run **ret,
                     struct err *err)
{
    if (!n || !n->entry || (n->workspace_id <= 0 && n->submission_id <= 0))
        return err_set(err, EINVAL, "run create: bad arguments");
    struct db db;
    int64_t id = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_row_ints(&db, &id, 1,
                     "INSERT INTO runs (workspace_id, submission_id, user_id, node, entry,"
                     " args_json, status, created_at)"
                     " VALUES (NULLIF(?, 0), NULLIF(?, 0), NULLIF(?, 0), ?, ?, ?, 'queued', ?)"
                     " RETURNING id",
                     err, "iiitttii", n->workspace_id, n->submission_id, n->user_id, n->node,
                     n->entry, n->args_json ? n->args_json : "[]", store_now_ms());
    if (rc == 0 && ret)
        rc = run_fetch(&db, id, ret, err);
    conn_put(&db);
    return rc;
}

/* After an UPDATE ... WHERE status IN (...) changed nothing: gone, or wrong state? */
static int why_unchanged(struct db *db, int64_t id, struct err *err)
{
    int64_t one;
    int rc = db_row_ints(db, &one, 1, "SELECT id FROM runs WHERE id = ?", err, "i", id);
    if (rc == 0)
        return err_set(err, EALREADY, "run %lld is not in that state", (long long)id);
    if (rc == -ENOENT)
        return err_set(err, ENOENT, "run %lld", (long long)id);
    return rc;
}

int store_run_set_running(struct store *st, int64_t id, bool warm, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n,
                "UPDATE runs SET status = 'running', started_at = ?, warm = ?"
                " WHERE id = ? AND status = 'queued'",
                err, "iii", store_now_ms(), (int64_t)warm, id);
    if (rc == 0 && n == 0)
        rc = why_unchanged(&db, id, err);
    conn_put(&db);
    return rc;
}

int store_run_save_output(struct store *st, int64_t id, const void *out, size_t out_len,
                          const void *errd, size_t err_len, struct err *err)
{
    if ((!out && out_len) || (!errd && err_len))
        return err_set(err, EINVAL, "run output: bad arguments");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL,
                "UPDATE runs SET stdout = ?, stderr = ? WHERE id = ? AND status = 'running'", err,
                "bbi", out, out_len, errd, err_len, id);
    conn_put(&db);
    return rc;
}

int store_run_finish(struct store *st, int64_t id, const struct store_run_result *res,
                     struct err *err)
{
    if (!res || res->status < STORE_RUN_OK || res->status > STORE_RUN_FAILED ||
        (!res->stdout_data && res->stdout_len) || (!res->stderr_data && res->stderr_len))
        return err_set(err, EINVAL, "run finish: bad result");
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n,
                "UPDATE runs SET status = ?, exit_code = ?, signal = ?, limit_hit = ?,"
                " wall_ms = ?, cpu_ms = ?, peak_memory_bytes = ?, stdout = ?,"
                " stdout_truncated = ?, stderr = ?, stderr_truncated = ?, reason = ?,"
                " notices = ?, finished_at = ?, queue_ms = ?, prepare_ms = ?, start_ms = ?,"
                " program_ms = ?, exit_ms = ?, collect_ms = ?"
                " WHERE id = ? AND status IN ('queued', 'running')",
                err, "tiitiiibibittiiiiiiii", store_run_status_name(res->status),
                (int64_t)res->exit_code, (int64_t)res->signal,
                res->limit_hit ? res->limit_hit : "none", res->wall_ms, res->cpu_ms,
                res->peak_memory_bytes, res->stdout_data, res->stdout_len,
                (int64_t)res->stdout_truncated, res->stderr_data, res->stderr_len,
                (int64_t)res->stderr_truncated, res->reason, res->notices, store_now_ms(),
                res->timings.queue_ms, res->timings.prepare_ms, res->timings.start_ms,
                res->timings.program_ms, res->timings.exit_ms, res->timings.collect_ms, id);
    if (rc == 0 && n == 0)
        rc = why_unchanged(&db, id, err);
    conn_put(&db);
    return rc;
}

int store_run_get(struct store *st, int64_t id, struct store_run **ret, struct err *err)
{
    struct db db;
    struct store_run *r = NULL;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, false, err);
    if (rc == 0) {
        rc = run_fetch(&db, id, &r, err);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    if (rc < 0 || !ret) {
        store_run_free(r);
        return rc;
    }
    *ret = r;
    return 0;
}

int store_run_list(struct store *st, int64_t workspace_id, int64_t submission_id, int limit,
                   int offset, struct store_run_list **ret, struct err *err)
{
    if (workspace_id <= 0 && submission_id <= 0)
        return err_set(err, EINVAL, "run list: no workspace or submission");
    if (workspace_id > 0)
        return LIST_QUERY(st, ret, read_run, run_done_v, limit,
                          "SELECT " RUN_COLS " FROM runs WHERE workspace_id = ?"
                          " ORDER BY id DESC LIMIT ? OFFSET ?",
                          err, "iii", workspace_id, sql_limit(limit), sql_offset(offset));
    return LIST_QUERY(st, ret, read_run, run_done_v, limit,
                      "SELECT " RUN_COLS " FROM runs WHERE submission_id = ?"
                      " ORDER BY id DESC LIMIT ? OFFSET ?",
                      err, "iii", submission_id, sql_limit(limit), sql_offset(offset));
}

int store_runs_fail_unfinished(struct store *st, const char *node, const char *reason,
                               int *ret_count, struct err *err)
{
    struct db db;
    int64_t n = 0, now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    if (node)
        rc = db_run(&db, &n,
                    "UPDATE runs SET status = 'failed', reason = ?, finished_at = ?"
                    " WHERE status IN ('queued', 'running') AND node = ?",
                    err, "tit", reason, now, node);
    else
        rc = db_run(&db, &n,
                    "UPDATE runs SET status = 'failed', reason = ?, finished_at = ?"
                    " WHERE status IN ('queued', 'running')",
                    err, "ti", reason, now);
    conn_put(&db);
    if (rc == 0 && ret_count)
        *ret_count = (int)n;
    return rc;
}

int store_artifact_add(struct store *st, int64_t run_id, const char *name, const char *content_type,
                       const void *data, size_t len, struct err *err)
{
    if (!name || !*name || !content_type || (!data && len))
        return err_set(err, EINVAL, "artifact: bad arguments");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL,
                "INSERT INTO artifacts (run_id, name, content_type, size, created_at, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                err, "ittiib", run_id, name, content_type, (int64_t)len, store_now_ms(),
                data ? data : "", len);
    conn_put(&db);
    return rc;
}

int store_artifact_list(struct store *st, int64_t run_id, struct store_artifact_list **ret,
                        struct err *err)
{
    return LIST_QUERY(st, ret, read_artifact, artifact_done_v, 0,
                      "SELECT " ART_COLS " FROM artifacts WHERE run_id = ? ORDER BY name", err, "i",
                      run_id);
}

int store_artifact_get(struct store *st, int64_t run_id, const char *name,
                       struct store_artifact **ret, struct err *err)
{
    if (!name)
        return err_set(err, EINVAL, "artifact: no name");
    struct store_artifact *a = calloc(1, sizeof(*a));
    if (!a)
        return err_set(err, ENOMEM, "artifact");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_one(&db, a, sizeof(*a), read_artifact_data, artifact_done_v,
                       "SELECT " ART_COLS ", data FROM artifacts WHERE run_id = ? AND name = ?",
                       err, "it", run_id, name);
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_artifact_free(a);
        return rc;
    }
    *ret = a;
    return 0;
}

void store_run_free(struct store_run *r)
{
    if (!r)
        return;
    run_done(r);
    free(r);
}

void store_run_list_free(struct store_run_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), run_done_v);
    free(l);
}

void store_artifact_free(struct store_artifact *a)
{
    if (!a)
        return;
    artifact_done(a);
    free(a);
}

void store_artifact_list_free(struct store_artifact_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), artifact_done_v);
    free(l);
}
