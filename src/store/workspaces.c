/* store/workspaces: workspaces (create, get, list, rename, delete); see store.h. */
#include "store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_COLS                                                                                    \
    "w.id, w.owner_id, u.username, w.name, w.created_at, w.updated_at, w.file_count,"              \
    " w.entry_count, w.bytes"
#define WS_FROM   " FROM workspaces w JOIN users u ON u.id = w.owner_id"
#define WS_SELECT "SELECT " WS_COLS WS_FROM

static void ws_done(void *p)
{
    struct store_workspace *w = p;
    free(w->owner_name);
    free(w->name);
}

static int read_ws(struct db *db, struct db_stmt *s, void *out)
{
    struct store_workspace *w = out;
    int rc = 0;
    w->id = col_int(db, s, 0);
    w->owner_id = col_int(db, s, 1);
    w->owner_name = col_strdup(db, s, 2, &rc);
    w->name = col_strdup(db, s, 3, &rc);
    w->created_at = col_int(db, s, 4);
    w->updated_at = col_int(db, s, 5);
    w->file_count = col_int(db, s, 6);
    w->entry_count = col_int(db, s, 7);
    w->bytes = col_int(db, s, 8);
    return rc;
}

/* read_ws and the caller's role (column 9). */
static int read_ws_shared(struct db *db, struct db_stmt *s, void *out)
{
    struct store_workspace *w = out;
    const char *role = col_text(db, s, 9);
    if (!role || store_member_role_parse(role, &w->member_role) < 0)
        w->member_role = STORE_MEMBER_NONE;
    return read_ws(db, s, out);
}

static int ws_fetch(struct db *db, int64_t id, struct store_workspace **ret, struct err *err)
{
    struct store_workspace *w = calloc(1, sizeof(*w));
    if (!w)
        return err_set(err, ENOMEM, "workspace");
    int rc =
        fetch_one(db, w, sizeof(*w), read_ws, ws_done, WS_SELECT " WHERE w.id = ?", err, "i", id);
    if (rc < 0) {
        free(w);
        return rc;
    }
    *ret = w;
    return 0;
}

int store_workspace_create(struct store *st, int64_t owner_id, const char *name,
                           struct store_workspace **ret, struct err *err)
{
    if (!name)
        return err_set(err, EINVAL, "workspace: no name");
    struct db db;
    int64_t id = 0, now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_row_ints(&db, &id, 1,
                     "INSERT INTO workspaces (owner_id, name, created_at, updated_at)"
                     " VALUES (?, ?, ?, ?) RETURNING id",
                     err, "itii", owner_id, name, now, now);
    if (rc == 0 && ret)
        rc = ws_fetch(&db, id, ret, err);
    conn_put(&db);
    return rc;
}

int store_workspace_get(struct store *st, int64_t id, struct store_workspace **ret, struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = ws_fetch(&db, id, ret, err);
    conn_put(&db);
    return rc;
}

/* A list: owner_id's workspaces (shared: and those they are a member of), or everyone's
 * when owner_id is 0. */
static int ws_list(struct store *st, int64_t owner_id, bool shared, int limit, int offset,
                   struct store_workspace_list **ret, struct err *err)
{
    if (shared)
        return LIST_QUERY(st, ret, read_ws_shared, ws_done, limit,
                          "SELECT " WS_COLS ", CASE WHEN w.owner_id = ? THEN 'owner' ELSE"
                          " m.role END" WS_FROM " LEFT JOIN workspace_members m"
                          " ON m.workspace_id = w.id AND m.user_id = ?"
                          " WHERE w.owner_id = ? OR m.user_id IS NOT NULL"
                          " ORDER BY w.id DESC LIMIT ? OFFSET ?",
                          err, "iiiii", owner_id, owner_id, owner_id, sql_limit(limit),
                          sql_offset(offset));
    if (owner_id > 0)
        return LIST_QUERY(st, ret, read_ws, ws_done, limit,
                          WS_SELECT " WHERE w.owner_id = ? ORDER BY w.id DESC LIMIT ? OFFSET ?",
                          err, "iii", owner_id, sql_limit(limit), sql_offset(offset));
    return LIST_QUERY(st, ret, read_ws, ws_done, limit,
                      WS_SELECT " ORDER BY w.id DESC LIMIT ? OFFSET ?", err, "ii", sql_limit(limit),
                      sql_offset(offset));
}

int store_workspace_list(struct store *st, int64_t owner_id, int limit, int offset,
                         struct store_workspace_list **ret, struct err *err)
{
    return ws_list(st, owner_id, false, limit, offset, ret, err);
}

int store_workspace_list_shared(struct store *st, int64_t user_id, int limit, int offset,
                                struct store_workspace_list **ret, struct err *err)
{
    if (user_id <= 0)
        return err_set(err, EINVAL, "shared workspace list: no user");
    return ws_list(st, user_id, true, limit, offset, ret, err);
}

int store_workspace_rename(struct store *st, int64_t id, const char *name, struct err *err)
{
    if (!name)
        return err_set(err, EINVAL, "workspace: no name");
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n, "UPDATE workspaces SET name = ?, updated_at = ? WHERE id = ?", err, "tii",
                name, store_now_ms(), id);
    conn_put(&db);
    if (rc == 0 && n == 0)
        rc = err_set(err, ENOENT, "workspace %lld", (long long)id);
    return rc;
}

int store_workspace_delete(struct store *st, int64_t id, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        /* Runs of the workspace go with it; runs attached to a submission stay. Files,
         * leases cascade; submissions keep their snapshots (workspace_id becomes NULL). */
        rc = db_run(&db, NULL, "DELETE FROM runs WHERE workspace_id = ? AND submission_id IS NULL",
                    err, "i", id);
        if (rc == 0)
            rc = db_run(&db, &n, "DELETE FROM workspaces WHERE id = ?", err, "i", id);
        if (rc == 0 && n == 0)
            rc = err_set(err, ENOENT, "workspace %lld", (long long)id);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    return rc;
}

void store_workspace_free(struct store_workspace *w)
{
    if (!w)
        return;
    ws_done(w);
    free(w);
}

void store_workspace_list_free(struct store_workspace_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), ws_done);
    free(l);
}
