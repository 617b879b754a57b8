/*
 * db_sqlite: the SQLite driver. One sqlite3 handle per pooled connection, opened with
 * NOMUTEX (the pool guarantees one thread at a time), in WAL mode with
 * synchronous=NORMAL: a committed transaction survives a crash of the process (kill -9);
 * only a power loss may lose the last transactions. Foreign keys are on and a busy
 * timeout makes writers wait for each other instead of failing.
 *
 * Prepared statements are cached per connection, keyed by their SQL text.
 */
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_SLOTS 256 /* power of two; statements beyond it are not cached */

struct db_stmt {
    sqlite3_stmt *s;
    struct db_conn *c;
    const char *sql; /* the cache key (the statement's own copy) */
    bool cached;
};

struct db_conn {
    sqlite3 *db;
    struct db_stmt *cache[CACHE_SLOTS];
    int ncached;
};

static int map_error(sqlite3 *db, int rc, struct err *err, const char *what)
{
    int e;
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        e = EEXIST;
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        e = ENOENT;
        break;
    case SQLITE_NOMEM:
        e = ENOMEM;
        break;
    default:
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            e = EBUSY;
            break;
        case SQLITE_CONSTRAINT:
            e = EINVAL;
            break;
        default:
            e = EIO;
        }
    }
    err_set(err, 0, "sqlite %s: %s (%d)", what, db ? sqlite3_errmsg(db) : "?", rc);
    if (err)
        err->code = e;
    return -e;
}

static void sq_disconnect(struct db_conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (c->cache[i]) {
            sqlite3_finalize(c->cache[i]->s);
            free(c->cache[i]);
        }
    }
    sqlite3_close_v2(c->db);
    free(c);
}

static int sq_exec(struct db_conn *c, const char *sql, struct err *err)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : map_error(c->db, sqlite3_extended_errcode(c->db), err, "exec");
}

static int sq_connect(const char *target, int timeout_ms, struct db_conn **ret, struct err *err)
{
    /* The database holds password and token hashes: create it private. SQLite gives the
     * -wal and -shm files the same mode. An existing file keeps its mode. */
    int fd = open(target, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(err, errno, "sqlite open '%s'", target);
        if (err)
            err->code = EIO;
        return -EIO;
    }
    close(fd);
    struct db_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, ENOMEM, "sqlite connect");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(target, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        err_set(err, 0, "sqlite open '%s': %s", target,
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        if (err)
            err->code = EIO;
        rc = -EIO;
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, timeout_ms);
    /* WAL: readers never block the writer; NORMAL: fsync at checkpoints only, which
     * keeps every commit across a process crash. */
    rc = sq_exec(c,
                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                 "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
                 err);
    if (rc < 0)
        goto fail;
    *ret = c;
    return 0;
fail:
    sq_disconnect(c);
    return rc;
}

static bool sq_healthy(struct db_conn *c)
{
    (void)c;
    return true;
}

static uint32_t hash_sql(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int sq_prepare(struct db_conn *c, const char *sql, struct db_stmt **ret, struct err *err)
{
    uint32_t h = hash_sql(sql);
    unsigned idx = 0;
    bool slot_free = false;
    for (unsigned probe = 0; probe < 8; probe++) {
        idx = (h + probe) & (CACHE_SLOTS - 1);
        struct db_stmt *e = c->cache[idx];
        if (!e) {
            slot_free = true;
            break;
        }
        if (strcmp(e->sql, sql) == 0) {
            *ret = e;
            return 0;
        }
    }
    struct db_stmt *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, ENOMEM, "sqlite prepare");
    int rc =
        sqlite3_prepare_v3(c->db, sql, -1, slot_free ? SQLITE_PREPARE_PERSISTENT : 0, &s->s, NULL);
    if (rc != SQLITE_OK) {
        free(s);
        return map_error(c->db, rc, err, "prepare");
    }
    s->c = c;
    s->sql = sqlite3_sql(s->s);
    if (slot_free) {
        s->cached = true;
        c->cache[idx] = s;
        c->ncached++;
    }
    *ret = s;
    return 0;
}

static void sq_bind_int(struct db_stmt *s, int i, int64_t v)
{
    sqlite3_bind_int64(s->s, i, v);
}

static void sq_bind_text(struct db_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s->s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s->s, i);
}

static void sq_bind_blob(struct db_stmt *s, int i, const void *p, size_t n)
{
    /* A zero-length blob is stored as an empty blob, not as NULL. */
    sqlite3_bind_blob64(s->s, i, n ? p : "", n, SQLITE_STATIC);
}

static int sq_step(struct db_stmt *s, struct err *err)
{
    int rc = sqlite3_step(s->s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return map_error(s->c->db, sqlite3_extended_errcode(s->c->db), err, "step");
}

static bool sq_col_null(struct db_stmt *s, int i)
{
    return sqlite3_column_type(s->s, i) == SQLITE_NULL;
}

static int64_t sq_col_int(struct db_stmt *s, int i)
{
    return sqlite3_column_int64(s->s, i);
}

static const char *sq_col_text(struct db_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s->s, i);
}

static const void *sq_col_blob(struct db_stmt *s, int i, size_t *len)
{
    const void *p = sqlite3_column_blob(s->s, i);
    *len = (size_t)sqlite3_column_bytes(s->s, i);
    return p;
}

static bool sq_writes(struct db_stmt *s)
{
    return !sqlite3_stmt_readonly(s->s);
}

static int64_t sq_changes(struct db_stmt *s)
{
    return sqlite3_changes64(s->c->db);
}

static void sq_done(struct db_stmt *s)
{
    if (s->cached) {
        sqlite3_reset(s->s);
        sqlite3_clear_bindings(s->s);
    } else {
        sqlite3_finalize(s->s);
        free(s);
    }
}

const struct db_driver db_sqlite_driver = {
    .name = "sqlite",
    .dialect = DB_SQLITE,
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .healthy = sq_healthy,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .bind_int = sq_bind_int,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .col_null = sq_col_null,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .writes = sq_writes,
    .changes = sq_changes,
    .done = sq_done,
};
