/*
 * store: opening a database from its URL, the connection pool, transactions and the
 * small query helpers every domain file uses. See internal.h for the theory.
 */
#include "base/metrics.h"
#include "store/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- opening ----------------------------------------------------------------------- */

int store_open(const char *url, const struct store_options *opt, struct store **ret,
               struct err *err)
{
    const struct db_driver *drv;
    const char *target;
    if (!url)
        return err_set(err, EINVAL, "no database URL");
    if (strncmp(url, "sqlite:", 7) == 0) {
        drv = &db_sqlite_driver;
        target = url + 7;
        if (*target == '\0' || strcmp(target, ":memory:") == 0 || strncmp(target, "//", 2) == 0)
            return err_set(err, EINVAL, "database URL '%s': want sqlite:PATH", url);
    } else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        drv = &db_postgres_driver;
        target = url;
    } else {
        return err_set(err, EINVAL, "database URL '%s': want sqlite:PATH or postgres://...", url);
    }

    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return err_set(err, ENOMEM, "store open");
    st->drv = drv;
    st->timeout_ms = opt && opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 5000;
    st->nslots = opt && opt->pool_size > 0 ? opt->pool_size : 8;
    st->target = strdup(target);
    st->slots = calloc((size_t)st->nslots, sizeof(*st->slots));
    if (!st->target || !st->slots) {
        free(st->target);
        free(st->slots);
        free(st);
        return err_set(err, ENOMEM, "store open");
    }
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->write_lock, NULL);
    pthread_cond_init(&st->cond, NULL);

    /* One connection now, so a bad URL or an unreachable server fails at start-up. */
    int rc = drv->connect(st->target, st->timeout_ms, &st->slots[0].conn, err);
    if (rc < 0) {
        store_close(st);
        return rc;
    }
    *ret = st;
    return 0;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->nslots; i++)
        st->drv->disconnect(st->slots[i].conn);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->write_lock);
    pthread_mutex_destroy(&st->lock);
    free(st->slots);
    free(st->target);
    free(st);
}

const char *store_driver_name(const struct store *st)
{
    return st->drv->name;
}

int store_migrate(struct store *st, int *ret_version, struct err *err)
{
    return migrate_run(st, ret_version, err);
}

int store_ping(struct store *st, struct err *err)
{
    struct db db;
    int64_t one;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_row_ints(&db, &one, 1, "SELECT 1", err, "");
    conn_put(&db);
    return rc;
}

/* ---- the pool ---------------------------------------------------------------------- */

/* A failed statement in the metrics, by the kind the drivers map errors to. */
static int count_error(const struct store *st, int rc)
{
    if (rc >= 0)
        return rc;
    const char *kind = rc == -EEXIST || rc == -ENOENT ? "constraint"
                       : rc == -EBUSY                 ? "busy"
                       : rc == -EAGAIN                ? "deadlock"
                                                      : "error";
    metrics_inc(METRIC_STORE_ERRORS, (const char *[]){st->drv->name, kind});
    return rc;
}

int conn_get(struct store *st, struct db *db, struct err *err)
{
    int64_t since = metrics_now_us();
    int slot = -1;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        int empty = -1;
        for (int i = 0; i < st->nslots; i++) {
            if (st->slots[i].busy)
                continue;
            if (st->slots[i].conn) {
                slot = i;
                break;
            }
            if (empty < 0)
                empty = i;
        }
        if (slot < 0)
            slot = empty;
        if (slot >= 0)
            break;
        pthread_cond_wait(&st->cond, &st->lock);
    }
    st->slots[slot].busy = true;
    struct db_conn *c = st->slots[slot].conn;
    pthread_mutex_unlock(&st->lock);

    /* Connecting and repairing happen outside the lock: they may take a while. */
    int rc = 0;
    if (c && !st->drv->healthy(c)) {
        st->drv->disconnect(c);
        c = NULL;
    }
    if (!c)
        rc = st->drv->connect(st->target, st->timeout_ms, &c, err);

    pthread_mutex_lock(&st->lock);
    st->slots[slot].conn = rc < 0 ? NULL : c;
    if (rc < 0) {
        st->slots[slot].busy = false;
        pthread_cond_signal(&st->cond);
    }
    pthread_mutex_unlock(&st->lock);
    if (rc < 0)
        return count_error(st, rc);
    db->since_us = since;
    db->st = st;
    db->drv = st->drv;
    db->conn = c;
    db->slot = slot;
    db->in_tx = db->write_locked = db->auto_locked = false;
    return 0;
}

void conn_put(struct db *db)
{
    struct store *st = db->st;
    if (!st)
        return;
    if (db->write_locked) { /* not reached when every begin has its end */
        pthread_mutex_unlock(&st->write_lock);
        db->write_locked = false;
    }
    pthread_mutex_lock(&st->lock);
    st->slots[db->slot].busy = false;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
    metrics_observe_us(METRIC_STORE_DURATION, (const char *[]){st->drv->name},
                       metrics_now_us() - db->since_us);
    db->st = NULL;
}

/* ---- transactions and queries ------------------------------------------------------ */

static void write_lock(struct db *db)
{
    pthread_mutex_lock(&db->st->write_lock);
    db->write_locked = true;
}

static void write_unlock(struct db *db)
{
    if (db->write_locked) {
        db->write_locked = false;
        db->auto_locked = false;
        pthread_mutex_unlock(&db->st->write_lock);
    }
}

int db_begin(struct db *db, bool write, struct err *err)
{
    int rc;
    /* SQLite: take the write lock at BEGIN, so two writers queue instead of deadlocking
     * when both try to upgrade a read lock; in this process they queue on a mutex. */
    if (write && db->drv->dialect == DB_SQLITE) {
        write_lock(db);
        rc = db->drv->exec(db->conn, "BEGIN IMMEDIATE", err);
        if (rc < 0)
            write_unlock(db);
    } else {
        rc = db->drv->exec(db->conn, "BEGIN", err);
    }
    db->in_tx = rc == 0;
    return rc;
}

int db_end(struct db *db, int rc, struct err *err)
{
    if (rc >= 0) {
        int c = db->drv->exec(db->conn, "COMMIT", err);
        if (c == 0)
            goto out;
        rc = c;
    }
    (void)db->drv->exec(db->conn, "ROLLBACK", NULL);
out:
    db->in_tx = false;
    write_unlock(db);
    return rc;
}

int db_step(struct db *db, struct db_stmt *s, struct err *err)
{
    if (!db->in_tx && !db->write_locked && db->drv->dialect == DB_SQLITE && db->drv->writes(s)) {
        write_lock(db);
        db->auto_locked = true;
    }
    return count_error(db->st, db->drv->step(s, err));
}

void db_done(struct db *db, struct db_stmt *s)
{
    if (s)
        db->drv->done(s);
    if (db->auto_locked)
        write_unlock(db);
}

int db_vquery(struct db *db, struct db_stmt **ret, const char *sql, struct err *err,
              const char *fmt, va_list ap)
{
    struct db_stmt *s;
    int rc = db->drv->prepare(db->conn, sql, &s, err);
    if (rc < 0)
        return count_error(db->st, rc);
    int i = 1;
    for (const char *f = fmt; f && *f; f++, i++) {
        switch (*f) {
        case 'i':
            db->drv->bind_int(s, i, va_arg(ap, int64_t));
            break;
        case 't':
            db->drv->bind_text(s, i, va_arg(ap, const char *));
            break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            db->drv->bind_blob(s, i, p, n);
            break;
        }
        case 'n':
            db->drv->bind_text(s, i, NULL);
            break;
        default:
            db->drv->done(s);
            return err_set(err, EINVAL, "bad bind format '%c'", *f);
        }
    }
    *ret = s;
    return 0;
}

int db_query(struct db *db, struct db_stmt **ret, const char *sql, struct err *err, const char *fmt,
             ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = db_vquery(db, ret, sql, err, fmt, ap);
    va_end(ap);
    return rc;
}

int db_run(struct db *db, int64_t *ret_changes, const char *sql, struct err *err, const char *fmt,
           ...)
{
    struct db_stmt *s;
    va_list ap;
    va_start(ap, fmt);
    int rc = db_vquery(db, &s, sql, err, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return rc;
    while ((rc = db_step(db, s, err)) == 1)
        ;
    if (rc == 0 && ret_changes)
        *ret_changes = db->drv->changes(s);
    db_done(db, s);
    return rc;
}

int db_row_ints(struct db *db, int64_t *ret, int ncols, const char *sql, struct err *err,
                const char *fmt, ...)
{
    struct db_stmt *s;
    va_list ap;
    va_start(ap, fmt);
    int rc = db_vquery(db, &s, sql, err, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return rc;
    rc = db_step(db, s, err);
    if (rc == 1) {
        for (int i = 0; i < ncols; i++)
            ret[i] = db->drv->col_int(s, i);
        rc = 0;
        /* Finish the statement (PostgreSQL has all rows already; SQLite may have more). */
    } else if (rc == 0) {
        rc = -ENOENT;
    }
    db_done(db, s);
    return rc;
}

char *col_strdup(struct db *db, struct db_stmt *s, int i, int *rc)
{
    const char *t = db->drv->col_text(s, i);
    if (!t)
        return NULL;
    char *d = strdup(t);
    if (!d)
        *rc = -ENOMEM;
    return d;
}

void *col_blobdup(struct db *db, struct db_stmt *s, int i, size_t *len, int *rc)
{
    size_t n = 0;
    const void *p = db->drv->col_blob(s, i, &n);
    *len = 0;
    if (!p && db->drv->col_null(s, i))
        return NULL;
    char *d = malloc(n + 1);
    if (!d) {
        *rc = -ENOMEM;
        return NULL;
    }
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    *len = n;
    return d;
}

void *list_push(void **items, size_t *n, size_t size)
{
    /* Capacity is implied by n: 4, then doubling, so grow at 0, 4, 8, 16, ... */
    size_t k = *n;
    if (k == 0 || (k >= 4 && (k & (k - 1)) == 0)) {
        void *p = realloc(*items, (k ? 2 * k : 4) * size);
        if (!p)
            return NULL;
        *items = p;
    }
    char *e = (char *)*items + k * size;
    memset(e, 0, size);
    (*n)++;
    return e;
}

void rows_free(void *items, size_t n, size_t size, done_fn done)
{
    for (size_t i = 0; i < n; i++)
        done((char *)items + i * size);
    free(items);
}

static int vfetch_rows(struct db *db, struct rows *r, size_t size, row_fn read, done_fn done,
                       int limit, const char *sql, struct err *err, const char *fmt, va_list ap)
{
    struct db_stmt *s;
    int rc = db_vquery(db, &s, sql, err, fmt, ap);
    r->items = NULL;
    r->n = 0;
    r->more = false;
    if (rc < 0)
        return rc;
    while ((rc = db_step(db, s, err)) == 1) {
        if (limit > 0 && r->n == (size_t)limit) {
            r->more = true;
            continue;
        }
        void *e = list_push(&r->items, &r->n, size);
        if (!e) {
            rc = err_set(err, ENOMEM, "reading rows");
            break;
        }
        if ((rc = read(db, s, e)) < 0) {
            err_set(err, -rc, "reading rows"); /* the element stays counted: freed below */
            break;
        }
    }
    db_done(db, s);
    if (rc < 0) {
        rows_free(r->items, r->n, size, done);
        r->items = NULL;
        r->n = 0;
        r->more = false;
        return rc;
    }
    return 0;
}

int fetch_rows(struct db *db, struct rows *r, size_t size, row_fn read, done_fn done, int limit,
               const char *sql, struct err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfetch_rows(db, r, size, read, done, limit, sql, err, fmt, ap);
    va_end(ap);
    return rc;
}

int query_rows(struct store *st, struct rows *r, size_t size, row_fn read, done_fn done, int limit,
               const char *sql, struct err *err, const char *fmt, ...)
{
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    rc = vfetch_rows(&db, r, size, read, done, limit, sql, err, fmt, ap);
    va_end(ap);
    conn_put(&db);
    return rc;
}

int fetch_one(struct db *db, void *out, size_t size, row_fn read, done_fn done, const char *sql,
              struct err *err, const char *fmt, ...)
{
    struct db_stmt *s;
    va_list ap;
    va_start(ap, fmt);
    int rc = db_vquery(db, &s, sql, err, fmt, ap);
    va_end(ap);
    if (rc < 0)
        return rc;
    memset(out, 0, size);
    rc = db_step(db, s, err);
    if (rc == 1) {
        rc = read(db, s, out);
        if (rc < 0) {
            err_set(err, -rc, "reading a row");
            done(out);
            memset(out, 0, size);
        }
    } else if (rc == 0) {
        rc = -ENOENT;
    }
    db_done(db, s);
    return rc;
}

int64_t sql_limit(int limit)
{
    return limit > 0 ? (int64_t)limit + 1 : INT64_C(1) << 62;
}

char *sql_dollar_params(const char *sql)
{
    size_t len = strlen(sql), q = 0;
    for (const char *p = sql; *p; p++)
        q += *p == '?';
    char *out = malloc(len + q * 4 + 1);
    if (!out)
        return NULL;
    char *o = out;
    int n = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            *o++ = *p;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            *o++ = *p;
        } else if (*p == '?') {
            o += sprintf(o, "$%d", ++n);
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}
