/*
 * members: who besides its owner may open a workspace, and with which role (viewer or
 * editor). The owner is never a row here: ownership stays in workspaces.owner_id, so a
 * member row can never make someone an owner. Rows go with their workspace or user.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool member_role_ok(enum store_member_role role)
{
    return role == STORE_MEMBER_VIEWER || role == STORE_MEMBER_EDITOR;
}

int store_member_get(struct store *st, int64_t ws, int64_t user_id, enum store_member_role *ret,
                     struct err *err)
{
    struct db db;
    struct db_stmt *s = NULL;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_query(&db, &s,
                  "SELECT role FROM workspace_members WHERE workspace_id = ? AND user_id = ?", err,
                  "ii", ws, user_id);
    if (rc == 0) {
        rc = db_step(&db, s, err);
        enum store_member_role role = STORE_MEMBER_NONE;
        if (rc == 1 &&
            (store_member_role_parse(col_text(&db, s, 0), &role) < 0 || !member_role_ok(role)))
            rc = err_set(err, EIO, "workspace %lld: bad member role", (long long)ws);
        else if (rc == 1) {
            rc = 0;
            if (ret)
                *ret = role;
        } else if (rc == 0)
            rc = -ENOENT; /* the common case for a stranger: no message needed */
        db_done(&db, s);
    }
    conn_put(&db);
    return rc;
}

int store_member_set(struct store *st, int64_t ws, int64_t user_id, enum store_member_role role,
                     bool *ret_added, struct err *err)
{
    if (!member_role_ok(role))
        return err_set(err, EINVAL, "member role must be viewer or editor");
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        rc = db_run(&db, &n,
                    "UPDATE workspace_members SET role = ? WHERE workspace_id = ? AND user_id = ?",
                    err, "tii", store_member_role_name(role), ws, user_id);
        if (rc == 0 && n == 0)
            rc = db_run(&db, NULL,
                        "INSERT INTO workspace_members (workspace_id, user_id, role, added_at)"
                        " VALUES (?, ?, ?, ?)",
                        err, "iiti", ws, user_id, store_member_role_name(role), store_now_ms());
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    if (rc == 0 && ret_added)
        *ret_added = n == 0;
    return rc;
}

int store_member_delete(struct store *st, int64_t ws, int64_t user_id, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n, "DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                err, "ii", ws, user_id);
    conn_put(&db);
    if (rc == 0 && n == 0)
        rc = err_set(err, ENOENT, "user %lld is not a member", (long long)user_id);
    return rc;
}

static void member_done(void *p)
{
    struct store_member *m = p;
    free(m->username);
}

static int read_member(struct db *db, struct db_stmt *s, void *out)
{
    struct store_member *m = out;
    int rc = 0;
    m->user_id = col_int(db, s, 0);
    m->username = col_strdup(db, s, 1, &rc);
    if (store_member_role_parse(col_text(db, s, 2), &m->role) < 0)
        m->role = STORE_MEMBER_VIEWER; /* never more than a viewer when unsure */
    m->added_at = col_int(db, s, 3);
    return rc;
}

int store_member_list(struct store *st, int64_t ws, struct store_member_list **ret, struct err *err)
{
    return LIST_QUERY(st, ret, read_member, member_done, 0,
                      "SELECT m.user_id, u.username, m.role, m.added_at FROM workspace_members m"
                      " JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?"
                      " ORDER BY u.username_key",
                      err, "i", ws);
}

void store_member_list_free(struct store_member_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), member_done);
    free(l);
}
