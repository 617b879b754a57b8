/*
 * migrate: the schema, as numbered migrations applied in order at start-up. A migration
 * is never edited once landed: a change is a new entry at the end of the list.
 *
 * The SQL is shared by both dialects; three tokens name what differs:
 *   {ID}    an auto-assigned int64 primary key that is never reused
 *   {BLOB}  bytes
 *   {PATH}  text compared bytewise (file paths: ordering and prefix ranges must be
 *           byte order, whatever the database's default collation is)
 *
 * Conventions: times are BIGINT ms since the epoch; booleans BIGINT 0/1; enums TEXT with
 * the names the API speaks; a "none" id is NULL.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const migrations[] = {
    /* 1: everything issue 2, 4, 5 and 7 need. */
    "CREATE TABLE locks (name TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0);"
    "INSERT INTO locks (name) VALUES ('users');"

    "CREATE TABLE users ("
    " id {ID},"
    " username TEXT NOT NULL,"
    " username_key TEXT NOT NULL UNIQUE," /* lower-case ASCII: unique ignoring case */
    " password_hash TEXT NOT NULL,"
    " role TEXT NOT NULL,"
    " disabled BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL);"

    "CREATE TABLE sessions ("
    " id {ID},"
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " token_hash TEXT NOT NULL UNIQUE,"
    " csrf TEXT,"
    " created_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL,"
    " last_used_at BIGINT NOT NULL);"
    "CREATE INDEX sessions_user ON sessions (user_id);"
    "CREATE INDEX sessions_expires ON sessions (expires_at);"

    "CREATE TABLE api_tokens ("
    " id {ID},"
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " token_hash TEXT NOT NULL UNIQUE,"
    " created_at BIGINT NOT NULL,"
    " last_used_at BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX api_tokens_user ON api_tokens (user_id);"

    "CREATE TABLE workspaces ("
    " id {ID},"
    " owner_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " file_count BIGINT NOT NULL DEFAULT 0," /* kept by the store's file calls */
    " entry_count BIGINT NOT NULL DEFAULT 0,"
    " bytes BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX workspaces_owner ON workspaces (owner_id, id);"

    "CREATE TABLE files ("
    " workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,"
    " path {PATH} NOT NULL,"
    " kind TEXT NOT NULL," /* file | folder */
    " size BIGINT NOT NULL,"
    " etag TEXT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " content {BLOB}," /* last, so SQLite reads the metadata without the overflow pages */
    " PRIMARY KEY (workspace_id, path));"

    "CREATE TABLE submissions ("
    " id {ID},"
    " workspace_id BIGINT REFERENCES workspaces(id) ON DELETE SET NULL,"
    " workspace_name TEXT NOT NULL,"
    " author_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " message TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " decided_at BIGINT NOT NULL DEFAULT 0,"
    " decided_by BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    " previous_id BIGINT REFERENCES submissions(id) ON DELETE SET NULL,"
    " run_id BIGINT," /* runs reference submissions; this side is kept without a key */
    " file_count BIGINT NOT NULL DEFAULT 0,"
    " bytes BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX submissions_status ON submissions (status, id);"
    "CREATE INDEX submissions_author ON submissions (author_id, id);"
    "CREATE INDEX submissions_workspace ON submissions (workspace_id, id);"

    "CREATE TABLE submission_files ("
    " submission_id BIGINT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,"
    " path {PATH} NOT NULL,"
    " kind TEXT NOT NULL,"
    " size BIGINT NOT NULL,"
    " etag TEXT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " content {BLOB},"
    " PRIMARY KEY (submission_id, path));"

    "CREATE TABLE reviews ("
    " id {ID},"
    " submission_id BIGINT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,"
    " reviewer_id BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    " decision TEXT NOT NULL,"
    " comment TEXT NOT NULL,"
    " at BIGINT NOT NULL);"
    "CREATE INDEX reviews_submission ON reviews (submission_id, id);"

    "CREATE TABLE comments ("
    " id {ID},"
    " submission_id BIGINT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,"
    " author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    " body TEXT NOT NULL,"
    " path TEXT,"
    " line BIGINT NOT NULL DEFAULT 0,"
    " at BIGINT NOT NULL);"
    "CREATE INDEX comments_submission ON comments (submission_id, id);"

    "CREATE TABLE runs ("
    " id {ID},"
    " workspace_id BIGINT REFERENCES workspaces(id) ON DELETE SET NULL,"
    " submission_id BIGINT REFERENCES submissions(id) ON DELETE CASCADE,"
    " user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    " node TEXT,"
    " entry TEXT NOT NULL,"
    " args_json TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " exit_code BIGINT NOT NULL DEFAULT -1,"
    " signal BIGINT NOT NULL DEFAULT 0,"
    " limit_hit TEXT NOT NULL DEFAULT 'none',"
    " wall_ms BIGINT NOT NULL DEFAULT 0,"
    " cpu_ms BIGINT NOT NULL DEFAULT 0,"
    " peak_memory_bytes BIGINT NOT NULL DEFAULT 0,"
    " stdout_truncated BIGINT NOT NULL DEFAULT 0,"
    " stderr_truncated BIGINT NOT NULL DEFAULT 0,"
    " warm BIGINT NOT NULL DEFAULT 0,"
    " reason TEXT,"
    " created_at BIGINT NOT NULL,"
    " started_at BIGINT NOT NULL DEFAULT 0,"
    " finished_at BIGINT NOT NULL DEFAULT 0,"
    " stdout {BLOB},"
    " stderr {BLOB});"
    "CREATE INDEX runs_workspace ON runs (workspace_id, id);"
    "CREATE INDEX runs_submission ON runs (submission_id, id);"
    "CREATE INDEX runs_status ON runs (status);"

    "CREATE TABLE artifacts ("
    " id {ID},"
    " run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " content_type TEXT NOT NULL,"
    " size BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL,"
    " data {BLOB},"
    " UNIQUE (run_id, name));"

    "CREATE TABLE audit ("
    " id {ID},"
    " at BIGINT NOT NULL,"
    " actor_id BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " detail TEXT NOT NULL);"

    "CREATE TABLE leases ("
    " workspace_id BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,"
    " node TEXT NOT NULL,"
    " expires_at BIGINT NOT NULL);",

    /* Notices of a run (what its write-back kept or skipped), part of its record. */
    "ALTER TABLE runs ADD COLUMN notices TEXT;",

    /* 3: the cluster (issue 11). Nodes and their heartbeats; runs and leases name a node
     * id; counters hold cluster-wide rate limits (one row per key and time window);
     * streams are the open event streams, per node, for a per-user cap. */
    "CREATE TABLE nodes ("
    " id TEXT PRIMARY KEY,"
    " advertise TEXT NOT NULL,"
    " token TEXT NOT NULL,"
    " started_at BIGINT NOT NULL,"
    " heartbeat_at BIGINT NOT NULL);"
    "CREATE INDEX runs_node ON runs (node, status);"
    "CREATE INDEX leases_node ON leases (node);"
    "CREATE TABLE counters ("
    " name TEXT NOT NULL,"
    " win BIGINT NOT NULL,"
    " n BIGINT NOT NULL,"
    " PRIMARY KEY (name, win));"
    "CREATE TABLE streams ("
    " id {ID},"
    " node TEXT NOT NULL,"
    " user_id BIGINT NOT NULL,"
    " opened_at BIGINT NOT NULL);"
    "CREATE INDEX streams_user ON streams (user_id);"
    "CREATE INDEX streams_node ON streams (node);",

    /* 4: a node draining before it stops (SIGTERM): peers send it no new runs or terminals. */
    "ALTER TABLE nodes ADD COLUMN draining BIGINT NOT NULL DEFAULT 0;",

    /* 5: where a run's time went (issue 14): its phases in ms, -1 for one not reached. */
    "ALTER TABLE runs ADD COLUMN queue_ms BIGINT NOT NULL DEFAULT -1;"
    "ALTER TABLE runs ADD COLUMN prepare_ms BIGINT NOT NULL DEFAULT -1;"
    "ALTER TABLE runs ADD COLUMN start_ms BIGINT NOT NULL DEFAULT -1;"
    "ALTER TABLE runs ADD COLUMN program_ms BIGINT NOT NULL DEFAULT -1;"
    "ALTER TABLE runs ADD COLUMN exit_ms BIGINT NOT NULL DEFAULT -1;"
    "ALTER TABLE runs ADD COLUMN collect_ms BIGINT NOT NULL DEFAULT -1;",

    /* 6: sharing and history (issue 17). Members of a workspace with a role (viewer |
     * editor; the owner is not a member row); every stored version of a file, numbered
     * per path, with who wrote it and how (save | terminal | run | restore). */
    "CREATE TABLE workspace_members ("
    " workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,"
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " role TEXT NOT NULL,"
    " added_at BIGINT NOT NULL,"
    " PRIMARY KEY (workspace_id, user_id));"
    "CREATE INDEX workspace_members_user ON workspace_members (user_id, workspace_id);"
    "CREATE TABLE file_versions ("
    " id {ID},"
    " workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,"
    " path {PATH} NOT NULL,"
    " version BIGINT NOT NULL,"
    " size BIGINT NOT NULL,"
    " etag TEXT NOT NULL,"
    " author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    " source TEXT NOT NULL,"
    " at BIGINT NOT NULL,"
    " content {BLOB},"
    " UNIQUE (workspace_id, path, version));"
    "CREATE INDEX file_versions_age ON file_versions (workspace_id, id);",

    /* 7: co-editing (issue 17): the update logs of co-edited files (store/docs.h). */
    "CREATE TABLE doc_heads ("
    " workspace_id BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,"
    " path {PATH} NOT NULL,"
    " bytes BIGINT NOT NULL,"
    " PRIMARY KEY (workspace_id, path));"
    "CREATE TABLE doc_updates ("
    " id {ID},"
    " workspace_id BIGINT NOT NULL,"
    " path {PATH} NOT NULL,"
    " snapshot BIGINT NOT NULL,"
    " data {BLOB} NOT NULL,"
    " FOREIGN KEY (workspace_id, path) REFERENCES doc_heads (workspace_id, path)"
    " ON DELETE CASCADE);"
    "CREATE INDEX doc_updates_doc ON doc_updates (workspace_id, path, id);",

    /* 8: the review loop (issue 19). A reviewer's re-run with an expected output (its
     * pass/fail is computed from the run's stored stdout when read); unread notices of
     * decisions, comments and new submissions, one row per recipient (read_at 0: unread). */
    "CREATE TABLE submission_checks ("
    " run_id BIGINT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,"
    " submission_id BIGINT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,"
    " expected TEXT NOT NULL,"
    " compare TEXT NOT NULL);"
    "CREATE TABLE notifications ("
    " id {ID},"
    " user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL,"
    " submission_id BIGINT NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,"
    " actor_id BIGINT REFERENCES users(id) ON DELETE SET NULL,"
    " at BIGINT NOT NULL,"
    " read_at BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX notifications_user ON notifications (user_id, read_at, id);",

    /* 9: co-editing (issue 17): a document's id (the id of the snapshot that started it), so
     * an update or a save meant for a dropped document is refused rather than applied to the
     * document that replaced it (store/docs.h). */
    "ALTER TABLE doc_heads ADD COLUMN doc BIGINT NOT NULL DEFAULT 0;",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct token {
    const char *name;
    const char *sqlite;
    const char *postgres;
};

static const struct token tokens[] = {
    {"{ID}", "INTEGER PRIMARY KEY AUTOINCREMENT",
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
    {"{BLOB}", "BLOB", "BYTEA"},
    {"{PATH}", "TEXT", "TEXT COLLATE \"C\""},
};

/* The migration's SQL for a dialect; malloc'd. */
static char *expand(const char *sql, enum db_dialect d)
{
    size_t cap = strlen(sql) * 2 + 1, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    while (*sql) {
        const struct token *t = NULL;
        for (size_t i = 0; *sql == '{' && i < sizeof(tokens) / sizeof(tokens[0]); i++)
            if (strncmp(sql, tokens[i].name, strlen(tokens[i].name)) == 0)
                t = &tokens[i];
        const char *rep = t ? (d == DB_SQLITE ? t->sqlite : t->postgres) : sql;
        size_t len = t ? strlen(rep) : 1;
        if (n + len + 1 > cap) {
            cap = (n + len + 1) * 2;
            char *p = realloc(out, cap);
            if (!p) {
                free(out);
                return NULL;
            }
            out = p;
        }
        memcpy(out + n, rep, len);
        n += len;
        sql += t ? strlen(t->name) : 1;
    }
    out[n] = '\0';
    return out;
}

int migrate_run(struct store *st, int *ret_version, struct err *err)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    bool pg = db.drv->dialect == DB_POSTGRES;
    /* Nodes starting together: one migrates, the others wait and then find nothing to do.
     * (SQLite: BEGIN IMMEDIATE below serialises them.) */
    if (pg && (rc = db.drv->exec(db.conn, "SELECT pg_advisory_lock(7100451)", err)) < 0)
        goto out;
    rc = db.drv->exec(db.conn,
                      "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL,"
                      " applied_at BIGINT NOT NULL)",
                      err);
    if (rc < 0)
        goto unlock;
    rc = db_begin(&db, true, err);
    if (rc < 0)
        goto unlock;
    int64_t version = 0;
    rc = db_row_ints(&db, &version, 1, "SELECT COALESCE(MAX(version), 0) FROM schema_version", err,
                     "");
    if (rc == 0 && version > NMIGRATIONS)
        rc = err_set(err, EPROTO, "database schema version %lld is newer than this pyroom (%d)",
                     (long long)version, NMIGRATIONS);
    for (int v = (int)version + 1; rc >= 0 && v <= NMIGRATIONS; v++) {
        char *sql = expand(migrations[v - 1], db.drv->dialect);
        if (!sql) {
            rc = err_set(err, ENOMEM, "migration %d", v);
            break;
        }
        rc = db.drv->exec(db.conn, sql, err);
        free(sql);
        if (rc >= 0)
            rc = db_run(&db, NULL, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                        err, "ii", (int64_t)v, store_now_ms());
        if (rc >= 0)
            version = v;
    }
    rc = db_end(&db, rc, err);
    if (rc >= 0 && ret_version)
        *ret_version = (int)version;
unlock:
    if (pg)
        (void)db.drv->exec(db.conn, "SELECT pg_advisory_unlock(7100451)", NULL);
out:
    conn_put(&db);
    return rc < 0 ? rc : 0;
}
