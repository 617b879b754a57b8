/* store/leases: terminal environments' workspace leases (one node per workspace); see
 * store.h. */
#include "store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void lease_done(void *p)
{
    struct store_lease *l = p;
    free(l->node);
}

static int read_lease(struct db *db, struct db_stmt *s, void *out)
{
    struct store_lease *l = out;
    int rc = 0;
    l->workspace_id = col_int(db, s, 0);
    l->node = col_strdup(db, s, 1, &rc);
    l->expires_at = col_int(db, s, 2);
    return rc;
}

int store_lease_acquire(struct store *st, int64_t ws, const char *node, int64_t ttl_ms,
                        struct store_lease **ret, struct err *err)
{
    if (!node || !*node || ttl_ms <= 0)
        return err_set(err, EINVAL, "lease: bad arguments");
    struct store_lease *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "lease");
    struct db db;
    int64_t now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        /* Insert, or take over when it is ours or expired: one atomic statement. */
        rc = fetch_one(&db, l, sizeof(*l), read_lease, lease_done,
                       "INSERT INTO leases (workspace_id, node, expires_at) VALUES (?, ?, ?)"
                       " ON CONFLICT (workspace_id) DO UPDATE SET node = excluded.node,"
                       " expires_at = excluded.expires_at"
                       " WHERE leases.node = excluded.node OR leases.expires_at <= ?"
                       " RETURNING workspace_id, node, expires_at",
                       err, "itii", ws, node, now + ttl_ms, now);
        if (rc == -ENOENT) {
            int64_t one;
            rc = db_row_ints(&db, &one, 1, "SELECT id FROM workspaces WHERE id = ?", err, "i", ws);
            if (rc == 0)
                rc = err_set(err, EBUSY, "workspace %lld is leased by another node", (long long)ws);
        }
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_lease_free(l);
        return rc;
    }
    *ret = l;
    return 0;
}

int store_lease_release(struct store *st, int64_t ws, const char *node, struct err *err)
{
    if (!node)
        return err_set(err, EINVAL, "lease: no node");
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n, "DELETE FROM leases WHERE workspace_id = ? AND node = ?", err, "it", ws,
                node);
    conn_put(&db);
    if (rc == 0 && n == 0)
        rc = err_set(err, ENOENT, "lease");
    return rc;
}

int store_lease_get(struct store *st, int64_t ws, struct store_lease **ret, struct err *err)
{
    struct store_lease *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "lease");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_one(&db, l, sizeof(*l), read_lease, lease_done,
                       "SELECT workspace_id, node, expires_at FROM leases"
                       " WHERE workspace_id = ? AND expires_at > ?",
                       err, "ii", ws, store_now_ms());
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_lease_free(l);
        return rc;
    }
    *ret = l;
    return 0;
}

void store_lease_free(struct store_lease *l)
{
    if (!l)
        return;
    lease_done(l);
    free(l);
}
