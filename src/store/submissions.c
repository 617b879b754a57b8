/*
 * submissions: immutable snapshots of a workspace handed in for review, the decisions on
 * them (reviews) and the discussion (comments). A decision is a compare-and-set on the
 * status (only from pending), so two reviewers deciding at once cannot both win.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_SELECT                                                                                 \
    "SELECT s.id, s.workspace_id, s.workspace_name, s.author_id, a.username, s.message,"           \
    " s.status, s.created_at, s.decided_at, s.decided_by, d.username, s.previous_id,"              \
    " s.run_id, s.file_count, s.bytes FROM submissions s JOIN users a ON a.id = s.author_id"       \
    " LEFT JOIN users d ON d.id = s.decided_by"

static void sub_done(void *p)
{
    struct store_submission *s = p;
    free(s->workspace_name);
    free(s->author_name);
    free(s->message);
    free(s->decided_by_name);
}

static int read_sub(struct db *db, struct db_stmt *st, void *out)
{
    struct store_submission *s = out;
    int rc = 0;
    s->id = col_int(db, st, 0);
    s->workspace_id = col_int(db, st, 1);
    s->workspace_name = col_strdup(db, st, 2, &rc);
    s->author_id = col_int(db, st, 3);
    s->author_name = col_strdup(db, st, 4, &rc);
    s->message = col_strdup(db, st, 5, &rc);
    if (store_sub_status_parse(col_text(db, st, 6), &s->status) < 0)
        s->status = STORE_SUB_PENDING;
    s->created_at = col_int(db, st, 7);
    s->decided_at = col_int(db, st, 8);
    s->decided_by = col_int(db, st, 9);
    s->decided_by_name = col_strdup(db, st, 10, &rc);
    s->previous_id = col_int(db, st, 11);
    s->run_id = col_int(db, st, 12);
    s->file_count = col_int(db, st, 13);
    s->bytes = col_int(db, st, 14);
    return rc;
}

static int sub_fetch(struct db *db, int64_t id, struct store_submission **ret, struct err *err)
{
    struct store_submission *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, ENOMEM, "submission");
    int rc = fetch_one(db, s, sizeof(*s), read_sub, sub_done, SUB_SELECT " WHERE s.id = ?", err,
                       "i", id);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *ret = s;
    return 0;
}

static int create_tx(struct db *db, int64_t ws, int64_t author_id, const char *message,
                     int64_t *ret_id, struct err *err)
{
    struct db_stmt *s;
    char *name = NULL;
    int64_t files = 0, bytes = 0, prev = 0, id = 0, now = store_now_ms();
    /* Lock the workspace row so no file change interleaves with the copy (PostgreSQL). */
    int rc = db_query(db, &s,
                      "UPDATE workspaces SET updated_at = updated_at WHERE id = ?"
                      " RETURNING name, file_count, bytes",
                      err, "i", ws);
    if (rc < 0)
        return rc;
    rc = db_step(db, s, err);
    if (rc == 1) {
        rc = 0;
        name = col_strdup(db, s, 0, &rc);
        files = col_int(db, s, 1);
        bytes = col_int(db, s, 2);
    } else if (rc == 0) {
        rc = err_set(err, ENOENT, "workspace %lld", (long long)ws);
    }
    db_done(db, s);
    if (rc < 0)
        goto out;
    rc = db_row_ints(db, &prev, 1,
                     "SELECT id FROM submissions WHERE workspace_id = ? ORDER BY id DESC LIMIT 1",
                     err, "i", ws);
    if (rc == -ENOENT)
        rc = 0;
    if (rc < 0)
        goto out;
    rc = db_row_ints(db, &id, 1,
                     "INSERT INTO submissions (workspace_id, workspace_name, author_id, message,"
                     " status, created_at, previous_id, file_count, bytes)"
                     " VALUES (?, ?, ?, ?, 'pending', ?, NULLIF(?, 0), ?, ?) RETURNING id",
                     err, "ititiiii", ws, name ? name : "", author_id, message ? message : "", now,
                     prev, files, bytes);
    if (rc < 0)
        goto out;
    rc = db_run(db, NULL,
                "INSERT INTO submission_files (submission_id, path, kind, size, etag, updated_at,"
                " content) SELECT ?, path, kind, size, etag, updated_at, content FROM files"
                " WHERE workspace_id = ?",
                err, "ii", id, ws);
    if (rc == 0)
        *ret_id = id;
out:
    free(name);
    return rc;
}

int store_submission_create(struct store *st, int64_t ws, int64_t author_id, const char *message,
                            struct store_submission **ret, struct err *err)
{
    struct db db;
    struct store_submission *s = NULL;
    int64_t id = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        rc = create_tx(&db, ws, author_id, message, &id, err);
        if (rc == 0 && ret)
            rc = sub_fetch(&db, id, &s, err);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    if (rc < 0) {
        store_submission_free(s);
        return rc;
    }
    if (ret)
        *ret = s;
    return 0;
}

int store_submission_get(struct store *st, int64_t id, struct store_submission **ret,
                         struct err *err)
{
    struct db db;
    struct store_submission *s = NULL;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = sub_fetch(&db, id, &s, err);
    conn_put(&db);
    if (rc < 0 || !ret) {
        store_submission_free(s);
        return rc;
    }
    *ret = s;
    return 0;
}

int store_submission_list(struct store *st, enum store_sub_status status, int64_t author_id,
                          int limit, int offset, struct store_submission_list **ret,
                          struct err *err)
{
    if (status < STORE_SUB_ANY || status > STORE_SUB_WITHDRAWN)
        return err_set(err, EINVAL, "submission list: bad status");
    /* Four filters x two orders, composed from constant pieces only (values are bound). */
    char sql[1024];
    const char *where =
        status != STORE_SUB_ANY
            ? (author_id > 0 ? " WHERE s.status = ? AND s.author_id = ?"
                             : " WHERE s.status = ? AND ? = 0")
            : (author_id > 0 ? " WHERE ? = '' AND s.author_id = ?" : " WHERE ? = '' AND ? = 0");
    const char *order = status == STORE_SUB_PENDING ? " ORDER BY s.id" : " ORDER BY s.id DESC";
    snprintf(sql, sizeof(sql), "%s%s%s LIMIT ? OFFSET ?", SUB_SELECT, where, order);

    struct store_submission_list *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "submission list");
    struct db db;
    struct rows r;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_rows(&db, &r, sizeof(struct store_submission), read_sub, sub_done, limit, sql,
                        err, "tiii", status == STORE_SUB_ANY ? "" : store_sub_status_name(status),
                        author_id > 0 ? author_id : 0, sql_limit(limit), sql_offset(offset));
        conn_put(&db);
    }
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->items = r.items;
    l->n = r.n;
    l->more = r.more;
    *ret = l;
    return 0;
}

int store_submission_set_status(struct store *st, int64_t id, enum store_sub_status status,
                                int64_t actor_id, const char *comment, struct err *err)
{
    if (status != STORE_SUB_APPROVED && status != STORE_SUB_REJECTED &&
        status != STORE_SUB_WITHDRAWN)
        return err_set(err, EINVAL, "submission: bad target status");
    struct db db;
    int64_t n = 0, now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        /* The compare-and-set: only a pending submission changes. */
        rc = db_run(&db, &n,
                    "UPDATE submissions SET status = ?, decided_at = ?, decided_by = NULLIF(?, 0)"
                    " WHERE id = ? AND status = 'pending'",
                    err, "tiii", store_sub_status_name(status), now, actor_id, id);
        if (rc == 0 && n == 0) {
            int64_t one;
            rc = db_row_ints(&db, &one, 1, "SELECT id FROM submissions WHERE id = ?", err, "i", id);
            if (rc == 0)
                rc = err_set(err, EALREADY, "submission %lld is no longer pending", (long long)id);
        }
        if (rc == 0 && status != STORE_SUB_WITHDRAWN)
            rc = db_run(&db, NULL,
                        "INSERT INTO reviews (submission_id, reviewer_id, decision, comment, at)"
                        " VALUES (?, NULLIF(?, 0), ?, ?, ?)",
                        err, "iitti", id, actor_id, store_sub_status_name(status),
                        comment ? comment : "", now);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    return rc;
}

int store_submission_set_run(struct store *st, int64_t id, int64_t run_id, struct err *err)
{
    struct db db;
    int64_t n1 = 0, n2 = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        rc = db_run(&db, &n1, "UPDATE submissions SET run_id = ? WHERE id = ?", err, "ii", run_id,
                    id);
        if (rc == 0)
            rc = db_run(&db, &n2, "UPDATE runs SET submission_id = ? WHERE id = ?", err, "ii", id,
                        run_id);
        if (rc == 0 && (n1 == 0 || n2 == 0))
            rc = err_set(err, ENOENT, "submission %lld or run %lld", (long long)id,
                         (long long)run_id);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    return rc;
}

void store_submission_free(struct store_submission *s)
{
    if (!s)
        return;
    sub_done(s);
    free(s);
}

void store_submission_list_free(struct store_submission_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), sub_done);
    free(l);
}

/* ---- reviews and comments ---------------------------------------------------------- */

static void review_done(void *p)
{
    struct store_review *r = p;
    free(r->reviewer_name);
    free(r->comment);
}

static int read_review(struct db *db, struct db_stmt *s, void *out)
{
    struct store_review *r = out;
    int rc = 0;
    r->id = col_int(db, s, 0);
    r->submission_id = col_int(db, s, 1);
    r->reviewer_id = col_int(db, s, 2);
    r->reviewer_name = col_strdup(db, s, 3, &rc);
    if (store_sub_status_parse(col_text(db, s, 4), &r->decision) < 0)
        r->decision = STORE_SUB_REJECTED;
    r->comment = col_strdup(db, s, 5, &rc);
    r->at = col_int(db, s, 6);
    return rc;
}

int store_review_list(struct store *st, int64_t submission_id, struct store_review_list **ret,
                      struct err *err)
{
    struct store_review_list *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "review list");
    struct db db;
    struct rows r;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_rows(&db, &r, sizeof(struct store_review), read_review, review_done, 0,
                        "SELECT r.id, r.submission_id, r.reviewer_id, u.username, r.decision,"
                        " r.comment, r.at FROM reviews r LEFT JOIN users u ON u.id = r.reviewer_id"
                        " WHERE r.submission_id = ? ORDER BY r.id",
                        err, "i", submission_id);
        conn_put(&db);
    }
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->items = r.items;
    l->n = r.n;
    *ret = l;
    return 0;
}

void store_review_list_free(struct store_review_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), review_done);
    free(l);
}

#define COMMENT_SELECT                                                                             \
    "SELECT c.id, c.submission_id, c.author_id, u.username, c.body, c.path, c.line, c.at"          \
    " FROM comments c LEFT JOIN users u ON u.id = c.author_id"

static void comment_done(void *p)
{
    struct store_comment *c = p;
    free(c->author_name);
    free(c->body);
    free(c->path);
}

static int read_comment(struct db *db, struct db_stmt *s, void *out)
{
    struct store_comment *c = out;
    int rc = 0;
    c->id = col_int(db, s, 0);
    c->submission_id = col_int(db, s, 1);
    c->author_id = col_int(db, s, 2);
    c->author_name = col_strdup(db, s, 3, &rc);
    c->body = col_strdup(db, s, 4, &rc);
    c->path = col_strdup(db, s, 5, &rc);
    c->line = (int)col_int(db, s, 6);
    c->at = col_int(db, s, 7);
    return rc;
}

int store_comment_add(struct store *st, int64_t submission_id, int64_t author_id, const char *body,
                      const char *path, int line, struct store_comment **ret, struct err *err)
{
    if (!body || line < 0)
        return err_set(err, EINVAL, "comment: bad arguments");
    struct store_comment *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, ENOMEM, "comment");
    struct db db;
    int64_t id = 0;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = db_row_ints(&db, &id, 1,
                         "INSERT INTO comments (submission_id, author_id, body, path, line, at)"
                         " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                         err, "iittii", submission_id, author_id, body, path, (int64_t)line,
                         store_now_ms());
        if (rc == 0)
            rc = fetch_one(&db, c, sizeof(*c), read_comment, comment_done,
                           COMMENT_SELECT " WHERE c.id = ?", err, "i", id);
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_comment_free(c);
        return rc;
    }
    *ret = c;
    return 0;
}

int store_comment_list(struct store *st, int64_t submission_id, struct store_comment_list **ret,
                       struct err *err)
{
    struct store_comment_list *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "comment list");
    struct db db;
    struct rows r;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_rows(&db, &r, sizeof(struct store_comment), read_comment, comment_done, 0,
                        COMMENT_SELECT " WHERE c.submission_id = ? ORDER BY c.id", err, "i",
                        submission_id);
        conn_put(&db);
    }
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->items = r.items;
    l->n = r.n;
    *ret = l;
    return 0;
}

void store_comment_free(struct store_comment *c)
{
    if (!c)
        return;
    comment_done(c);
    free(c);
}

void store_comment_list_free(struct store_comment_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), comment_done);
    free(l);
}
