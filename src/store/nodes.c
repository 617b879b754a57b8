/* store nodes: cluster membership, heartbeats and the bus; see nodes.h. */
#include "store/nodes.h"

#include "store/internal.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static void node_done(void *p)
{
    struct store_node *n = p;
    free(n->id);
    free(n->advertise);
    free(n->token);
}

static int read_node(struct db *db, struct db_stmt *s, void *out)
{
    struct store_node *n = out;
    int rc = 0;
    n->id = col_strdup(db, s, 0, &rc);
    n->advertise = col_strdup(db, s, 1, &rc);
    n->token = col_strdup(db, s, 2, &rc);
    n->started_at = col_int(db, s, 3);
    n->heartbeat_at = col_int(db, s, 4);
    return rc;
}

/* The first column of the rows of s (already queried, or rc < 0), as malloc'd strings. */
static int collect_ids(struct db *db, struct db_stmt *s, int rc, char ***ret, size_t *ret_n,
                       struct err *err)
{
    char **ids = NULL;
    size_t n = 0;
    while (rc == 0) {
        int r = db_step(db, s, err);
        if (r <= 0) {
            rc = r;
            break;
        }
        char **grown = realloc(ids, (n + 1) * sizeof(*ids));
        const char *id = col_text(db, s, 0);
        if (!grown || !id || !(grown[n] = strdup(id))) {
            if (grown)
                ids = grown;
            rc = err_set(err, ENOMEM, "node ids");
            break;
        }
        ids = grown;
        n++;
    }
    if (s)
        db_done(db, s);
    if (rc < 0) {
        store_node_ids_free(ids, n);
        return rc;
    }
    *ret = ids;
    *ret_n = n;
    return 0;
}

int store_node_join(struct store *st, const char *id, const char *advertise, const char *token,
                    struct err *err)
{
    struct db db;
    int64_t now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL,
                "INSERT INTO nodes (id, advertise, token, started_at, heartbeat_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " advertise = excluded.advertise, token = excluded.token,"
                " heartbeat_at = excluded.heartbeat_at",
                err, "tttii", id, advertise, token, now, now);
    conn_put(&db);
    return rc;
}

int store_node_beat(struct store *st, const char *id, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n, "UPDATE nodes SET heartbeat_at = ? WHERE id = ?", err, "it",
                store_now_ms(), id);
    conn_put(&db);
    if (rc == 0 && n == 0)
        rc = err_set(err, ENOENT, "node %s is not in the cluster", id);
    return rc;
}

int store_node_drain(struct store *st, const char *id, struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL, "UPDATE nodes SET draining = 1 WHERE id = ?", err, "t", id);
    conn_put(&db);
    return rc;
}

int store_node_pick(struct store *st, const char *except, int64_t alive_after_ms, char **ret,
                    struct err *err)
{
    struct db db;
    struct db_stmt *s = NULL;
    char **ids = NULL;
    size_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_query(&db, &s,
                  "SELECT id FROM nodes WHERE id <> ? AND draining = 0 AND heartbeat_at >= ?"
                  " ORDER BY random() LIMIT 1",
                  err, "ti", except, alive_after_ms);
    rc = collect_ids(&db, s, rc, &ids, &n, err);
    conn_put(&db);
    if (rc == 0 && n == 0)
        rc = -ENOENT;
    if (rc == 0) {
        *ret = ids[0];
        ids[0] = NULL;
    }
    store_node_ids_free(ids, n);
    return rc;
}

int store_node_get(struct store *st, const char *id, struct store_node **ret, struct err *err)
{
    struct store_node *n = calloc(1, sizeof(*n));
    if (!n)
        return err_set(err, ENOMEM, "node");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_one(&db, n, sizeof(*n), read_node, node_done,
                       "SELECT id, advertise, token, started_at, heartbeat_at FROM nodes"
                       " WHERE id = ?",
                       err, "t", id);
        conn_put(&db);
    }
    if (rc < 0) {
        store_node_free(n);
        return rc;
    }
    *ret = n;
    return 0;
}

void store_node_free(struct store_node *n)
{
    if (!n)
        return;
    node_done(n);
    free(n);
}

void store_node_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

int store_nodes_dead(struct store *st, const char *except, int64_t before_ms,
                     const char *same_advertise, char ***ret, size_t *ret_n, struct err *err)
{
    struct db db;
    struct db_stmt *s = NULL;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_query(&db, &s,
                  "SELECT id FROM nodes WHERE id <> ? AND (heartbeat_at < ? OR advertise = ?)"
                  " ORDER BY id",
                  err, "tit", except, before_ms, same_advertise ? same_advertise : "");
    rc = collect_ids(&db, s, rc, ret, ret_n, err);
    conn_put(&db);
    return rc;
}

int store_lease_nodes_user(struct store *st, int64_t user_id, const char *except, char ***ret,
                           size_t *ret_n, struct err *err)
{
    struct db db;
    struct db_stmt *s = NULL;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_query(&db, &s,
                  "SELECT DISTINCT l.node FROM leases l JOIN workspaces w ON w.id = l.workspace_id"
                  " WHERE w.owner_id = ? AND l.node <> ? AND l.expires_at > ? ORDER BY l.node",
                  err, "iti", user_id, except, store_now_ms());
    rc = collect_ids(&db, s, rc, ret, ret_n, err);
    conn_put(&db);
    return rc;
}

int store_node_reap(struct store *st, const char *id, const char *reason, int *ret_runs,
                    struct err *err)
{
    struct db db;
    int64_t runs = 0, now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0)
        rc = db_run(&db, &runs,
                    "UPDATE runs SET status = 'failed', reason = ?, finished_at = ?"
                    " WHERE node = ? AND status IN ('queued', 'running')",
                    err, "tit", reason, now, id);
    if (rc == 0)
        rc = db_run(&db, NULL, "DELETE FROM leases WHERE node = ?", err, "t", id);
    if (rc == 0)
        rc = db_run(&db, NULL, "DELETE FROM streams WHERE node = ?", err, "t", id);
    if (rc == 0)
        rc = db_run(&db, NULL, "DELETE FROM nodes WHERE id = ?", err, "t", id);
    rc = db_end(&db, rc, err);
    conn_put(&db);
    if (rc == 0 && ret_runs)
        *ret_runs = (int)runs;
    return rc;
}

int store_runs_fail_orphans(struct store *st, const char *reason, int *ret_runs, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n,
                "UPDATE runs SET status = 'failed', reason = ?, finished_at = ?"
                " WHERE status IN ('queued', 'running')"
                " AND (node IS NULL OR node NOT IN (SELECT id FROM nodes))",
                err, "ti", reason, store_now_ms());
    conn_put(&db);
    if (rc == 0 && ret_runs)
        *ret_runs = (int)n;
    return rc;
}

int store_node_leave(struct store *st, const char *id, struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL, "DELETE FROM streams WHERE node = ?", err, "t", id);
    if (rc == 0)
        rc = db_run(&db, NULL, "DELETE FROM nodes WHERE id = ?", err, "t", id);
    conn_put(&db);
    return rc;
}

int store_leases_count_user(struct store *st, int64_t user_id, int64_t except_ws, int64_t *ret,
                            struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_row_ints(&db, ret, 1,
                     "SELECT COUNT(*) FROM leases l JOIN workspaces w ON w.id = l.workspace_id"
                     " WHERE w.owner_id = ? AND l.workspace_id <> ? AND l.expires_at > ?",
                     err, "iii", user_id, except_ws, store_now_ms());
    conn_put(&db);
    return rc;
}

int store_counter_add(struct store *st, const char *name, int64_t win, int64_t delta,
                      int64_t *ret_cur, int64_t *ret_prev, struct err *err)
{
    struct db db;
    int64_t cur = 0, prev = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    /* One atomic statement per change: concurrent nodes never lose an increment. */
    rc = db_row_ints(&db, &cur, 1,
                     "INSERT INTO counters (name, win, n) VALUES (?, ?, ?)"
                     " ON CONFLICT (name, win) DO UPDATE SET n = counters.n + excluded.n"
                     " RETURNING n",
                     err, "tii", name, win, delta);
    if (rc == 0) {
        rc = db_row_ints(&db, &prev, 1, "SELECT n FROM counters WHERE name = ? AND win = ?", err,
                         "ti", name, win - 1);
        if (rc == -ENOENT)
            rc = 0;
    }
    conn_put(&db);
    if (rc == 0) {
        *ret_cur = cur;
        *ret_prev = prev;
    }
    return rc;
}

int store_counters_expire(struct store *st, const char *prefix, int64_t before_win, struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    size_t n = strlen(prefix);
    rc = db_run(&db, NULL, "DELETE FROM counters WHERE substr(name, 1, ?) = ? AND win < ?", err,
                "iti", (int64_t)n, prefix, before_win);
    conn_put(&db);
    return rc;
}

int store_runs_unfinished_user(struct store *st, int64_t user_id, const char *node,
                               int64_t *ret_total, int64_t *ret_elsewhere, struct err *err)
{
    struct db db;
    int64_t v[2] = {0, 0};
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_row_ints(&db, v, 2,
                     "SELECT COUNT(*), COALESCE(SUM(CASE WHEN node = ? THEN 0 ELSE 1 END), 0)"
                     " FROM runs WHERE user_id = ? AND status IN ('queued', 'running')",
                     err, "ti", node, user_id);
    conn_put(&db);
    if (rc == 0) {
        *ret_total = v[0];
        *ret_elsewhere = v[1];
    }
    return rc;
}

int store_stream_open(struct store *st, const char *node, int64_t user_id, int64_t max,
                      struct err *err)
{
    struct db db;
    int64_t id = 0, n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    /* Insert first, then count: two nodes opening at once cannot both pass the cap. */
    rc = db_row_ints(&db, &id, 1,
                     "INSERT INTO streams (node, user_id, opened_at) VALUES (?, ?, ?) RETURNING id",
                     err, "tii", node, user_id, store_now_ms());
    if (rc == 0)
        rc = db_row_ints(&db, &n, 1, "SELECT COUNT(*) FROM streams WHERE user_id = ? AND id <= ?",
                         err, "ii", user_id, id);
    if (rc == 0 && n > max) {
        (void)db_run(&db, NULL, "DELETE FROM streams WHERE id = ?", NULL, "i", id);
        rc = err_set(err, EUSERS, "user %lld has %lld event streams open", (long long)user_id,
                     (long long)(n - 1));
    }
    conn_put(&db);
    return rc;
}

int store_stream_close(struct store *st, const char *node, int64_t user_id, struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL,
                "DELETE FROM streams WHERE id = (SELECT MIN(id) FROM streams"
                " WHERE node = ? AND user_id = ?)",
                err, "ti", node, user_id);
    conn_put(&db);
    return rc;
}

/* ---- the bus --------------------------------------------------------------------------- */

int store_notify(struct store *st, const char *channel, const char *payload, struct err *err)
{
    if (st->drv->dialect != DB_POSTGRES)
        return err_set(err, ENOTSUP, "no bus on %s", st->drv->name);
    if (strlen(payload) > STORE_NOTIFY_MAX)
        return err_set(err, E2BIG, "bus payload too large");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    struct db_stmt *s = NULL;
    rc = db_query(&db, &s, "SELECT pg_notify(?, ?)", err, "tt", channel, payload);
    if (rc == 0) {
        int r = db_step(&db, s, err);
        rc = r < 0 ? r : 0;
    }
    if (s)
        db_done(&db, s);
    conn_put(&db);
    return rc;
}

struct store_bus {
    char *target;  /* the libpq URL */
    char *channel; /* an identifier: [a-z_]+ */
    PGconn *pg;
};

static int bus_connect(struct store_bus *b, struct err *err)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {b->target, "5", "pyroom-bus", NULL};
    if (b->pg)
        PQfinish(b->pg);
    b->pg = PQconnectdbParams(keys, vals, 1);
    if (!b->pg || PQstatus(b->pg) != CONNECTION_OK)
        return err_set(err, EIO, "bus connect: %s",
                       b->pg ? PQerrorMessage(b->pg) : "out of memory");
    char sql[80];
    snprintf(sql, sizeof(sql), "LISTEN %s", b->channel);
    PGresult *res = PQexec(b->pg, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK
                 ? 0
                 : err_set(err, EIO, "bus listen: %s", PQerrorMessage(b->pg));
    PQclear(res);
    return rc;
}

int store_bus_open(struct store *st, const char *channel, struct store_bus **ret, struct err *err)
{
    if (st->drv->dialect != DB_POSTGRES)
        return err_set(err, ENOTSUP, "no bus on %s", st->drv->name);
    for (const char *p = channel; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return err_set(err, EINVAL, "bus channel '%s'", channel);
    struct store_bus *b = calloc(1, sizeof(*b));
    if (!b || !(b->target = strdup(st->target)) || !(b->channel = strdup(channel))) {
        store_bus_close(b);
        return err_set(err, ENOMEM, "bus");
    }
    int rc = bus_connect(b, err);
    if (rc < 0) {
        store_bus_close(b);
        return rc;
    }
    *ret = b;
    return 0;
}

int store_bus_reopen(struct store_bus *b, struct err *err)
{
    return bus_connect(b, err);
}

int store_bus_wait(struct store_bus *b, int timeout_ms, store_bus_fn fn, void *ctx, struct err *err)
{
    if (!b->pg || PQstatus(b->pg) != CONNECTION_OK)
        return err_set(err, EIO, "bus connection lost");
    struct pollfd p = {.fd = PQsocket(b->pg), .events = POLLIN};
    if (p.fd < 0)
        return err_set(err, EIO, "bus connection lost");
    int n = poll(&p, 1, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : err_set(err, errno, "bus poll");
    if (n > 0 && !PQconsumeInput(b->pg))
        return err_set(err, EIO, "bus read: %s", PQerrorMessage(b->pg));
    PGnotify *note;
    while ((note = PQnotifies(b->pg))) {
        fn(ctx, note->extra ? note->extra : "");
        PQfreemem(note);
    }
    if (PQstatus(b->pg) != CONNECTION_OK)
        return err_set(err, EIO, "bus connection lost");
    return 0;
}

void store_bus_close(struct store_bus *b)
{
    if (!b)
        return;
    if (b->pg)
        PQfinish(b->pg);
    free(b->target);
    free(b->channel);
    free(b);
}
