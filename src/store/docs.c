/*
 * store docs: the update logs of co-edited files. See docs.h.
 *
 * doc_heads has one row per document (its id, its byte count, the row every append locks first:
 * `UPDATE ... RETURNING` locks it on PostgreSQL, SQLite holds the write lock already), and
 * doc_updates the updates, which go with their head (ON DELETE CASCADE).
 */
#include "store/docs.h"

#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>

int store_doc_append(struct store *st, int64_t ws, const char *path, int64_t doc, const void *data,
                     size_t len, bool snapshot, int64_t covers, int64_t max_bytes,
                     int64_t max_ws_bytes, int64_t *ret_id, struct err *err)
{
    if (!data || !len || (int64_t)len > max_bytes)
        return err_set(err, len ? EFBIG : EINVAL, "document update of %zu bytes", len);
    struct db db;
    int64_t id = 0, bytes = 0, head[2] = {0, 0};
    bool start = snapshot && covers == 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0 && start) {
        /* Starting the document: the primary key decides between racing editors. */
        rc = db_run(&db, NULL, "INSERT INTO doc_heads (workspace_id, path, bytes) VALUES (?, ?, 0)",
                    err, "it", ws, path);
    } else if (rc == 0) {
        rc = db_row_ints(&db, head, 2,
                         "UPDATE doc_heads SET bytes = bytes WHERE workspace_id = ? AND path = ?"
                         " RETURNING bytes, doc",
                         err, "it", ws, path);
        bytes = head[0];
        /* Meant for a document dropped since: this one is another, with its own history. */
        if (rc == 0 && head[1] != doc)
            rc = err_set(err, ENOENT, "document %lld of '%s' is gone (now %lld)", (long long)doc,
                         path, (long long)head[1]);
        if (rc == 0 && snapshot)
            rc = db_run(&db, NULL,
                        "DELETE FROM doc_updates WHERE workspace_id = ? AND path = ? AND id <= ?",
                        err, "iti", ws, path, covers);
        if (rc == 0 && snapshot)
            rc = db_row_ints(&db, &bytes, 1,
                             "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM doc_updates"
                             " WHERE workspace_id = ? AND path = ?",
                             err, "it", ws, path);
        if (rc == 0 && bytes + (int64_t)len > max_bytes)
            rc = err_set(err, EFBIG, "document '%s' holds %lld bytes", path, (long long)bytes);
    }
    /* The workspace's documents together, this one as it will be (the head row is locked or
     * new, so two appends to one document cannot both pass; two documents at once may pass
     * by one update each). */
    int64_t others = 0;
    if (rc == 0)
        rc = db_row_ints(&db, &others, 1,
                         "SELECT COALESCE(SUM(bytes), 0) FROM doc_heads"
                         " WHERE workspace_id = ? AND path <> ?",
                         err, "it", ws, path);
    if (rc == 0 && others + bytes + (int64_t)len > max_ws_bytes)
        rc = err_set(err, EDQUOT, "workspace %lld's documents hold %lld bytes", (long long)ws,
                     (long long)(others + bytes));
    if (rc == 0)
        rc = db_row_ints(&db, &id, 1,
                         "INSERT INTO doc_updates (workspace_id, path, snapshot, data)"
                         " VALUES (?, ?, ?, ?) RETURNING id",
                         err, "itib", ws, path, (int64_t)snapshot, data, len);
    if (rc == 0)
        rc = db_run(&db, NULL,
                    "UPDATE doc_heads SET bytes = ?, doc = ? WHERE workspace_id = ? AND path = ?",
                    err, "iiit", bytes + (int64_t)len, start ? id : doc, ws, path);
    rc = db_end(&db, rc, err);
    conn_put(&db);
    if (rc == 0 && ret_id)
        *ret_id = id;
    return rc;
}

static int read_update(struct db *db, struct db_stmt *s, void *out)
{
    struct store_doc_update *u = out;
    int rc = 0;
    u->id = col_int(db, s, 0);
    u->snapshot = col_int(db, s, 1) != 0;
    u->data = col_blobdup(db, s, 2, &u->len, &rc);
    return rc;
}

static void update_done(void *elem)
{
    struct store_doc_update *u = elem;
    free(u->data);
}

int store_doc_log(struct store *st, int64_t ws, const char *path, int64_t after,
                  struct store_doc_log **ret, struct err *err)
{
    struct store_doc_log *l = calloc(1, sizeof(*l));
    int64_t head[2] = {0, 0};
    if (!l)
        return err_set(err, ENOMEM, "document log");
    struct db db;
    struct rows r = {0};
    int rc = conn_get(st, &db, err);
    if (rc < 0) {
        free(l);
        return rc;
    }
    /* One read transaction: the head and its updates as of one moment. */
    rc = db_begin(&db, false, err);
    if (rc == 0)
        rc = db_row_ints(&db, head, 2,
                         "SELECT bytes, doc FROM doc_heads WHERE workspace_id = ? AND path = ?",
                         err, "it", ws, path);
    l->bytes = head[0];
    l->doc = head[1];
    if (rc == 0)
        rc = fetch_rows(&db, &r, sizeof(struct store_doc_update), read_update, update_done, 0,
                        "SELECT id, snapshot, data FROM doc_updates"
                        " WHERE workspace_id = ? AND path = ? AND id > ? ORDER BY id",
                        err, "iti", ws, path, after);
    rc = db_end(&db, rc, err);
    conn_put(&db);
    if (rc < 0) {
        rows_free(r.items, r.n, sizeof(struct store_doc_update), update_done);
        free(l);
        return rc;
    }
    l->items = r.items;
    l->n = r.n;
    *ret = l;
    return 0;
}

void store_doc_log_free(struct store_doc_log *l)
{
    if (!l)
        return;
    rows_free(l->items, l->n, sizeof(struct store_doc_update), update_done);
    free(l);
}

int store_doc_live(struct store *st, int64_t ws, const char *path, int64_t *ret_doc,
                   struct err *err)
{
    struct db db;
    int64_t doc = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_row_ints(&db, &doc, 1, "SELECT doc FROM doc_heads WHERE workspace_id = ? AND path = ?",
                     err, "it", ws, path);
    conn_put(&db);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    *ret_doc = rc == 0 ? doc : 0;
    return 0;
}

int store_doc_drop(struct store *st, int64_t ws, const char *path, bool *ret_dropped,
                   struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    if (path)
        rc = db_run(&db, &n, "DELETE FROM doc_heads WHERE workspace_id = ? AND path = ?", err, "it",
                    ws, path);
    else
        rc = db_run(&db, &n, "DELETE FROM doc_heads WHERE workspace_id = ?", err, "i", ws);
    conn_put(&db);
    if (rc == 0 && ret_dropped)
        *ret_dropped = n > 0;
    return rc;
}
