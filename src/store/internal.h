/*
 * store internals: the driver interface and the connection pool. Nothing outside
 * src/store/ includes this file.
 *
 * Theory of operation. Every domain query is one SQL text shared by both drivers, written
 * with `?` placeholders (the PostgreSQL driver rewrites them to $1, $2, ...). The few
 * dialect differences are explicit: schema type names are tokens that migrate.c expands
 * ({ID}, {BLOB}, {PATH}), a write transaction begins with BEGIN IMMEDIATE on SQLite, and
 * migrations take an advisory lock on PostgreSQL. Row locks are taken portably by
 * updating the row first (`UPDATE workspaces SET updated_at = ? WHERE id = ? RETURNING
 * ...`): PostgreSQL locks that row until commit, SQLite already holds the write lock.
 * Errors a caller can act on are mapped by the drivers to the same errno values
 * (unique violation -EEXIST, foreign key -ENOENT, busy/lock timeout -EBUSY, deadlock
 * -EAGAIN, anything else -EIO).
 *
 * A store call borrows one connection from the pool for its duration (conn_get/conn_put),
 * so a connection is only ever used by one thread at a time.
 */
#ifndef PYROOM_STORE_INTERNAL_H
#define PYROOM_STORE_INTERNAL_H

#include "base/err.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct db_conn; /* a driver's connection */
struct db_stmt; /* a driver's statement: prepared, bound, stepped, then done */

enum db_dialect { DB_SQLITE, DB_POSTGRES };

struct db_driver {
    const char *name;
    enum db_dialect dialect;
    int (*connect)(const char *target, int timeout_ms, struct db_conn **ret, struct err *err);
    void (*disconnect)(struct db_conn *c);
    /* false when the connection is broken; the driver may try to repair it first. */
    bool (*healthy)(struct db_conn *c);
    /* Runs SQL without parameters (one or several statements). */
    int (*exec)(struct db_conn *c, const char *sql, struct err *err);
    int (*prepare)(struct db_conn *c, const char *sql, struct db_stmt **ret, struct err *err);
    /* Parameters count from 1. Text and blob pointers must stay valid until done(). */
    void (*bind_int)(struct db_stmt *s, int i, int64_t v);
    void (*bind_text)(struct db_stmt *s, int i, const char *v); /* NULL: SQL NULL */
    void (*bind_blob)(struct db_stmt *s, int i, const void *p, size_t n);
    /* 1: a row is ready; 0: done; < 0: -errno. */
    int (*step)(struct db_stmt *s, struct err *err);
    /* Columns count from 0, valid until the next step or done. */
    bool (*col_null)(struct db_stmt *s, int i);
    int64_t (*col_int)(struct db_stmt *s, int i);
    const char *(*col_text)(struct db_stmt *s, int i); /* NULL for SQL NULL */
    const void *(*col_blob)(struct db_stmt *s, int i, size_t *len);
    /* Whether the statement may write (SQLite: to take the store's writer lock first). */
    bool (*writes)(struct db_stmt *s);
    /* Rows changed by the last step of an INSERT/UPDATE/DELETE. */
    int64_t (*changes)(struct db_stmt *s);
    void (*done)(struct db_stmt *s);
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_postgres_driver;

struct pool_slot {
    struct db_conn *conn; /* NULL until first needed */
    bool busy;
};

struct store {
    const struct db_driver *drv;
    char *target; /* the path (sqlite) or the libpq URL */
    int timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int nslots;
    struct pool_slot *slots;
    /* SQLite: one writer at a time in this process. Without it, writers contending for the
     * database lock sleep in SQLite's busy handler (1..100 ms steps, unfair): measured with
     * 20 writer threads, p99 47 ms and 2.1 s worst case for 0.06 ms of work. */
    pthread_mutex_t write_lock;
};

/* A borrowed connection: the driver, its connection and its store. */
struct db {
    struct store *st;
    const struct db_driver *drv;
    struct db_conn *conn;
    int slot;
    bool in_tx;        /* between db_begin and db_end */
    bool write_locked; /* holds st->write_lock (SQLite) */
    bool auto_locked;  /* ... for one statement outside a transaction */
    int64_t since_us;  /* monotonic time conn_get was called (metrics) */
};

int conn_get(struct store *st, struct db *db, struct err *err);
void conn_put(struct db *db);

/* Transactions: begin (write: take the write lock now), then end with the result so far:
 * commits when rc >= 0, rolls back otherwise; returns rc, or the commit's error. */
int db_begin(struct db *db, bool write, struct err *err);
int db_end(struct db *db, int rc, struct err *err);

/* Prepares sql and binds the arguments described by fmt, one letter each:
 *   i int64_t   t const char * (NULL: SQL NULL)   b const void *, size_t (blob)
 *   n (no argument) SQL NULL */
int db_query(struct db *db, struct db_stmt **ret, const char *sql, struct err *err, const char *fmt,
             ...);
int db_vquery(struct db *db, struct db_stmt **ret, const char *sql, struct err *err,
              const char *fmt, va_list ap);
/* Runs a statement that returns no rows; *ret_changes (may be NULL) gets the rows changed. */
int db_run(struct db *db, int64_t *ret_changes, const char *sql, struct err *err, const char *fmt,
           ...);
/* Runs a query expected to return at most one row of integers; -ENOENT if none.
 * ret is an array of as many int64 as the row has columns (at most 8). */
int db_row_ints(struct db *db, int64_t *ret, int ncols, const char *sql, struct err *err,
                const char *fmt, ...);

/* Steps a statement (1 row, 0 done, < 0 -errno); SQLite writes outside a transaction take
 * the writer lock until db_done. */
int db_step(struct db *db, struct db_stmt *s, struct err *err);
void db_done(struct db *db, struct db_stmt *s);
static inline int64_t col_int(struct db *db, struct db_stmt *s, int i)
{
    return db->drv->col_int(s, i);
}
static inline bool col_null(struct db *db, struct db_stmt *s, int i)
{
    return db->drv->col_null(s, i);
}
static inline const char *col_text(struct db *db, struct db_stmt *s, int i)
{
    return db->drv->col_text(s, i);
}
/* A malloc'd copy of a text column (NULL stays NULL); sets *rc = -ENOMEM on failure. */
char *col_strdup(struct db *db, struct db_stmt *s, int i, int *rc);
/* A malloc'd, NUL-terminated copy of a blob column; NULL column: NULL and *len 0. */
void *col_blobdup(struct db *db, struct db_stmt *s, int i, size_t *len, int *rc);

/* Reading rows into structs: a row reader fills *out from the current row (0 or -ENOMEM);
 * a done function frees what a reader allocated in one element. */
typedef int (*row_fn)(struct db *db, struct db_stmt *s, void *out);
typedef void (*done_fn)(void *elem);

struct rows {
    void *items; /* malloc'd array of n elements */
    size_t n;
    bool more; /* a row past the limit existed (and was dropped) */
};

/* Runs a query and reads every row (limit > 0: at most limit, setting more). On error
 * nothing is left allocated. The query's fmt arguments follow fmt. */
int fetch_rows(struct db *db, struct rows *r, size_t size, row_fn read, done_fn done, int limit,
               const char *sql, struct err *err, const char *fmt, ...);
/* fetch_rows on a connection borrowed for the call (conn_get, conn_put). */
int query_rows(struct store *st, struct rows *r, size_t size, row_fn read, done_fn done, int limit,
               const char *sql, struct err *err, const char *fmt, ...);
/* A list query: query_rows into a new list *ret, a store_*_list of store.h (n, items, more:
 * read fills one element of items), set only on success. Evaluates to 0 or -errno; on
 * failure nothing is left allocated. */
#define LIST_QUERY(st, ret, read, done, limit, sql, err, ...)                                      \
    ({                                                                                             \
        __typeof__(*(ret)) list_ = calloc(1, sizeof(*list_));                                      \
        struct rows rows_;                                                                         \
        int rc_ = list_ ? query_rows((st), &rows_, sizeof(*list_->items), (read), (done), (limit), \
                                     (sql), (err), __VA_ARGS__)                                    \
                        : err_set((err), ENOMEM, "list");                                          \
        if (rc_ < 0) {                                                                             \
            free(list_);                                                                           \
        } else {                                                                                   \
            list_->items = rows_.items;                                                            \
            list_->n = rows_.n;                                                                    \
            list_->more = rows_.more;                                                              \
            *(ret) = list_;                                                                        \
        }                                                                                          \
        rc_;                                                                                       \
    })
/* Runs done on each of the n elements of items (size bytes each), then frees items. */
void rows_free(void *items, size_t n, size_t size, done_fn done);
/* Reads the first row into out (zeroed first); -ENOENT when there is none. */
int fetch_one(struct db *db, void *out, size_t size, row_fn read, done_fn done, const char *sql,
              struct err *err, const char *fmt, ...);

/* Grows a list's items array by one zeroed element; returns it, or NULL (-ENOMEM). */
void *list_push(void **items, size_t *n, size_t size);

/* Translates `?` placeholders to `$1..$n` (outside quotes); malloc'd, NULL on ENOMEM. */
char *sql_dollar_params(const char *sql);

/* Schema migrations (migrate.c). */
int migrate_run(struct store *st, int *ret_version, struct err *err);

/* Limit and offset as SQL parameters (limit 0: all; one extra row tells `more`). */
int64_t sql_limit(int limit);
static inline int64_t sql_offset(int offset)
{
    return offset > 0 ? offset : 0;
}

/* Stores data as path's next version, then prunes within lim (history.c). Called by the
 * file writes inside their transaction, after the workspace row is locked. */
int history_record(struct db *db, int64_t ws, const char *path, const void *data, size_t len,
                   const char *etag, int64_t now, const struct store_cond *cond,
                   const struct store_limits *lim, struct err *err);

/* Frees the fields of list elements (each module). */
void user_done(struct store_user *u);
void file_done(struct store_file *f);
void run_done(struct store_run *r);
void artifact_done(struct store_artifact *a);

#endif
