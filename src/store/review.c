/*
 * store review: reviewers' checks (expected outputs of re-runs) and notifications (see
 * review.h).
 */
#include "store/review.h"

#include "store/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks ------------------------------------------------------------------------- */

int store_check_add(struct store *st, int64_t run_id, int64_t submission_id, const char *expected,
                    const char *compare, struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL,
                "INSERT INTO submission_checks (run_id, submission_id, expected, compare)"
                " VALUES (?, ?, ?, ?)",
                err, "iitt", run_id, submission_id, expected, compare);
    conn_put(&db);
    return rc;
}

static void check_done(void *p)
{
    struct store_check *c = p;
    free(c->expected);
    free(c->compare);
}

static int read_check(struct db *db, struct db_stmt *s, void *out)
{
    struct store_check *c = out;
    int rc = 0;
    c->run_id = col_int(db, s, 0);
    c->submission_id = col_int(db, s, 1);
    c->expected = col_strdup(db, s, 2, &rc);
    c->compare = col_strdup(db, s, 3, &rc);
    return rc;
}

int store_check_get(struct store *st, int64_t run_id, struct store_check **ret, struct err *err)
{
    struct store_check *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, ENOMEM, "check");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_one(&db, c, sizeof(*c), read_check, check_done,
                       "SELECT run_id, submission_id, expected, compare FROM submission_checks"
                       " WHERE run_id = ?",
                       err, "i", run_id);
        conn_put(&db);
    }
    if (rc < 0) {
        free(c);
        return rc;
    }
    *ret = c;
    return 0;
}

void store_check_free(struct store_check *c)
{
    if (!c)
        return;
    check_done(c);
    free(c);
}

/* ---- notifications ------------------------------------------------------------------ */

static const char *const kind_names[] = {
    [STORE_NOTIFY_DECISION] = "decision",
    [STORE_NOTIFY_COMMENT] = "comment",
    [STORE_NOTIFY_SUBMISSION] = "submission",
};

const char *store_notify_kind_name(enum store_notify_kind k)
{
    return k <= STORE_NOTIFY_SUBMISSION ? kind_names[k] : "comment";
}

static enum store_notify_kind kind_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
        if (s && strcmp(s, kind_names[i]) == 0)
            return (enum store_notify_kind)i;
    return STORE_NOTIFY_COMMENT;
}

void store_user_ids_done(struct store_user_ids *u)
{
    if (!u)
        return;
    free(u->ids);
    u->ids = NULL;
    u->n = 0;
}

/* Runs sql, a write ending in RETURNING user_id; the ids into *ret (NULL: not wanted; one
 * id comes once however many of its rows the write touched). */
static int write_users(struct store *st, struct store_user_ids *ret, struct err *err,
                       const char *sql, const char *fmt, ...)
{
    if (ret)
        *ret = (struct store_user_ids){0};
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    struct db_stmt *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    rc = db_vquery(&db, &s, sql, err, fmt, ap);
    va_end(ap);
    size_t cap = 0;
    while (rc == 0 && (rc = db_step(&db, s, err)) == 1) {
        rc = 0;
        if (!ret)
            continue;
        int64_t id = col_int(&db, s, 0);
        bool seen = false;
        for (size_t i = 0; i < ret->n && !seen; i++)
            seen = ret->ids[i] == id;
        if (seen)
            continue;
        if (ret->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            int64_t *ids = realloc(ret->ids, ncap * sizeof(*ids));
            if (!ids) {
                rc = -ENOMEM;
                break;
            }
            ret->ids = ids;
            cap = ncap;
        }
        ret->ids[ret->n++] = id;
    }
    db_done(&db, s);
    conn_put(&db);
    if (rc < 0)
        store_user_ids_done(ret);
    return rc < 0 ? rc : 0;
}

/* Inserts one notification per user that `who` (a SELECT of user ids with two ? for the
 * submission and the actor) yields. `who` is one of this file's constants: the SQL is
 * composed from constant pieces only, every value is bound. */
static int notify(struct store *st, const char *who, enum store_notify_kind kind,
                  int64_t submission_id, int64_t actor_id, struct store_user_ids *ret,
                  struct err *err)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO notifications (user_id, kind, submission_id, actor_id, at)"
             " SELECT u, ?, ?, NULLIF(?, 0), ? FROM (%s) AS who RETURNING user_id",
             who);
    return write_users(st, ret, err, sql, "tiiiii", store_notify_kind_name(kind), submission_id,
                       actor_id, store_now_ms(), submission_id, actor_id);
}

int store_notify_user(struct store *st, int64_t user_id, enum store_notify_kind kind,
                      int64_t submission_id, int64_t actor_id, struct store_user_ids *ret,
                      struct err *err)
{
    if (ret)
        *ret = (struct store_user_ids){0};
    if (user_id <= 0 || user_id == actor_id)
        return 0;
    return write_users(st, ret, err,
                       "INSERT INTO notifications (user_id, kind, submission_id, actor_id, at)"
                       " SELECT id, ?, ?, NULLIF(?, 0), ? FROM users WHERE id = ? AND disabled = 0"
                       " RETURNING user_id",
                       "tiiii", store_notify_kind_name(kind), submission_id, actor_id,
                       store_now_ms(), user_id);
}

int store_notify_reviewers(struct store *st, enum store_notify_kind kind, int64_t submission_id,
                           int64_t actor_id, struct store_user_ids *ret, struct err *err)
{
    return notify(st,
                  "SELECT id AS u FROM users WHERE ? > 0 AND id <> ? AND disabled = 0"
                  " AND role IN ('reviewer', 'admin')",
                  kind, submission_id, actor_id, ret, err);
}

int store_notify_participants(struct store *st, enum store_notify_kind kind, int64_t submission_id,
                              int64_t actor_id, struct store_user_ids *ret, struct err *err)
{
    return notify(st,
                  "SELECT DISTINCT p.u FROM (SELECT reviewer_id AS u, submission_id AS s"
                  " FROM reviews UNION SELECT author_id AS u, submission_id AS s FROM comments)"
                  " p JOIN users x ON x.id = p.u WHERE p.s = ? AND p.u <> ? AND x.disabled = 0",
                  kind, submission_id, actor_id, ret, err);
}

int store_notification_forget(struct store *st, int64_t submission_id, enum store_notify_kind kind,
                              struct store_user_ids *ret, struct err *err)
{
    return write_users(st, ret, err,
                       "DELETE FROM notifications WHERE submission_id = ? AND kind = ?"
                       " AND read_at = 0 RETURNING user_id",
                       "it", submission_id, store_notify_kind_name(kind));
}

static void notification_done(void *p)
{
    struct store_notification *n = p;
    free(n->workspace_name);
    free(n->actor_name);
}

static int read_notification(struct db *db, struct db_stmt *s, void *out)
{
    struct store_notification *n = out;
    int rc = 0;
    n->id = col_int(db, s, 0);
    n->kind = kind_parse(col_text(db, s, 1));
    n->submission_id = col_int(db, s, 2);
    n->workspace_name = col_strdup(db, s, 3, &rc);
    n->actor_id = col_int(db, s, 4);
    n->actor_name = col_null(db, s, 5) ? NULL : col_strdup(db, s, 5, &rc);
    n->at = col_int(db, s, 6);
    n->read_at = col_int(db, s, 7);
    if (store_sub_status_parse(col_text(db, s, 8), &n->status) < 0)
        n->status = STORE_SUB_PENDING;
    return rc;
}

int store_notification_list(struct store *st, int64_t user_id, bool unread_only, int limit,
                            int offset, struct store_notification_list **ret, struct err *err)
{
    struct store_notification_list *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "notification list");
    struct db db;
    struct rows r = {0};
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = db_row_ints(&db, &l->unread, 1,
                         "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at = 0",
                         err, "i", user_id);
        if (rc == 0)
            rc = fetch_rows(&db, &r, sizeof(struct store_notification), read_notification,
                            notification_done, limit,
                            "SELECT n.id, n.kind, n.submission_id, s.workspace_name, n.actor_id,"
                            " a.username, n.at, n.read_at, s.status FROM notifications n"
                            " JOIN submissions s ON s.id = n.submission_id"
                            " LEFT JOIN users a ON a.id = n.actor_id"
                            " WHERE n.user_id = ? AND (? = 0 OR n.read_at = 0)"
                            " ORDER BY n.id DESC LIMIT ? OFFSET ?",
                            err, "iiii", user_id, (int64_t)unread_only, sql_limit(limit),
                            sql_offset(offset));
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

int store_notification_read(struct store *st, int64_t user_id, int64_t submission_id, int64_t id,
                            int64_t *ret_changed, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n,
                "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at = 0"
                " AND (? = 0 OR submission_id = ?) AND (? = 0 OR id = ?)",
                err, "iiiiii", store_now_ms(), user_id, submission_id, submission_id, id, id);
    /* Keep the newest STORE_NOTIFY_KEEP_READ read rows of the user. */
    if (rc == 0 && n > 0)
        rc = db_run(&db, NULL,
                    "DELETE FROM notifications WHERE user_id = ? AND read_at > 0 AND id NOT IN"
                    " (SELECT id FROM notifications WHERE user_id = ? AND read_at > 0"
                    " ORDER BY id DESC LIMIT ?)",
                    err, "iii", user_id, user_id, (int64_t)STORE_NOTIFY_KEEP_READ);
    conn_put(&db);
    if (rc == 0 && ret_changed)
        *ret_changed = n;
    return rc;
}

void store_notification_list_free(struct store_notification_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), notification_done);
    free(l);
}
