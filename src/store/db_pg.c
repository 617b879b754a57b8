/*
 * db_pg: the PostgreSQL driver over libpq. Each statement runs with PQexecParams: `?`
 * placeholders become $n, integers are sent as text typed int8, text as text, blobs in
 * binary typed bytea (no escaping anywhere: every value is a parameter). Results come
 * back in binary format, so blobs need no unescaping; integer columns are decoded by
 * their type (int2/int4/int8/bool) from network byte order.
 *
 * Each connection prepares a statement the first time it runs it (per SQL text and
 * parameter types) and reuses it after.
 *
 * Commits are durable (synchronous_commit is left on). A broken connection is reset when
 * the pool hands it out next.
 */
#include "store/internal.h"

#include <endian.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Type OIDs from pg_type.h (stable since forever). */
#define BOOLOID    16
#define BYTEAOID   17
#define INT8OID    20
#define INT2OID    21
#define INT4OID    23
#define TEXTOID    25
#define MAX_PARAMS 24

#define CACHE_SLOTS 512 /* prepared statements per connection; power of two */

/* A statement prepared on this connection, for one SQL text and one set of parameter
 * types (a NULL bound where text was bound before is another statement). */
struct prepared {
    char *key; /* sql, '\n', one letter per parameter type */
    char name[16];
};

struct db_conn {
    PGconn *pg;
    struct prepared cache[CACHE_SLOTS];
    int ncached;
};

struct db_stmt {
    struct db_conn *c;
    char *sql; /* with $n placeholders */
    int nparams;
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS];
    int formats[MAX_PARAMS];
    Oid types[MAX_PARAMS];
    char ints[MAX_PARAMS][24];
    PGresult *res;
    int row; /* the current row; -1 before the first */
    int nrows;
    bool executed;
    int64_t changes;
};

static int fail(struct err *err, int e, const char *what, const char *msg)
{
    err_set(err, 0, "postgres %s: %s", what, msg ? msg : "?");
    if (err) {
        /* libpq messages end with a newline. */
        size_t n = strlen(err->msg);
        while (n && (err->msg[n - 1] == '\n' || err->msg[n - 1] == ' '))
            err->msg[--n] = '\0';
        err->code = e;
    }
    return -e;
}

static int map_result(PGconn *pg, PGresult *res, struct err *err, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    int e = EIO;
    if (PQstatus(pg) != CONNECTION_OK)
        e = ENOTCONN; /* the server went away: the caller may say "unavailable" */
    else if (!res)
        e = ENOMEM;
    else if (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
                       strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0))
        e = ENOTCONN; /* connection exceptions, admin/crash shutdown, cannot connect now */
    else if (state && strcmp(state, "23505") == 0)
        e = EEXIST; /* unique_violation */
    else if (state && strcmp(state, "23503") == 0)
        e = ENOENT; /* foreign_key_violation */
    else if (state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0))
        e = EAGAIN; /* deadlock, serialization failure */
    else if (state && (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0))
        e = EBUSY; /* lock_not_available, query_canceled (timeouts) */
    else if (state && strncmp(state, "23", 2) == 0)
        e = EINVAL; /* other integrity violations: a bug or unvalidated input */
    return fail(err, e, what, msg);
}

static void quiet(void *arg, const char *message)
{
    /* NOTICEs ("relation already exists, skipping") are not errors; libraries don't print. */
    (void)arg;
    (void)message;
}

static int pg_connect(const char *target, int timeout_ms, struct db_conn **ret, struct err *err)
{
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", timeout_ms < 1000 ? 1 : timeout_ms / 1000);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {target, timeout, "pyroom", NULL};
    struct db_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, ENOMEM, "postgres connect");
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        int rc = fail(err, c->pg ? ENOTCONN : ENOMEM, "connect",
                      c->pg ? PQerrorMessage(c->pg) : "out of memory");
        PQfinish(c->pg);
        free(c);
        return rc;
    }
    PQsetNoticeProcessor(c->pg, quiet, NULL);
    *ret = c;
    return 0;
}

static void cache_clear(struct db_conn *c)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(c->cache[i].key);
        c->cache[i].key = NULL;
    }
    c->ncached = 0;
}

static void pg_disconnect(struct db_conn *c)
{
    if (!c)
        return;
    cache_clear(c);
    PQfinish(c->pg);
    free(c);
}

/* After a server restart every pooled connection is broken, and libpq only finds out on
 * the next use. A statement that cannot have changed anything (BEGIN, or a SELECT outside
 * a transaction) is retried once on a fresh session, so readers do not see the restart. */
static bool reconnected(struct db_conn *c, const char *sql, PGTransactionStatusType before)
{
    if (before != PQTRANS_IDLE || PQstatus(c->pg) != CONNECTION_BAD)
        return false;
    while (*sql == ' ')
        sql++;
    if (strncasecmp(sql, "SELECT", 6) != 0 && strcasecmp(sql, "BEGIN") != 0)
        return false;
    PQreset(c->pg);
    cache_clear(c);
    return PQstatus(c->pg) == CONNECTION_OK;
}

static int pg_exec(struct db_conn *c, const char *sql, struct err *err)
{
    PGTransactionStatusType before = PQtransactionStatus(c->pg);
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && reconnected(c, sql, before)) {
        PQclear(res);
        res = PQexec(c->pg, sql);
        s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    }
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = map_result(c->pg, res, err, "exec");
    PQclear(res);
    return rc;
}

static bool pg_healthy(struct db_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK) {
        PQreset(c->pg);
        cache_clear(c); /* a new session has no prepared statements */
        if (PQstatus(c->pg) != CONNECTION_OK)
            return false;
    }
    /* A call that failed between BEGIN and the end leaves nothing open (db_end rolls
     * back), but be sure: a connection goes back to the pool idle. */
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE && pg_exec(c, "ROLLBACK", NULL) < 0)
        return false;
    return true;
}

static int pg_prepare(struct db_conn *c, const char *sql, struct db_stmt **ret, struct err *err)
{
    struct db_stmt *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, ENOMEM, "postgres prepare");
    s->sql = sql_dollar_params(sql);
    if (!s->sql) {
        free(s);
        return err_set(err, ENOMEM, "postgres prepare");
    }
    s->c = c;
    s->row = -1;
    *ret = s;
    return 0;
}

static void param(struct db_stmt *s, int i, const char *v, int len, int fmt, Oid type)
{
    if (i < 1 || i > MAX_PARAMS)
        return; /* a programmer error; the server then reports a missing parameter */
    s->values[i - 1] = v;
    s->lengths[i - 1] = len;
    s->formats[i - 1] = fmt;
    s->types[i - 1] = type;
    if (i > s->nparams)
        s->nparams = i;
}

static void pg_bind_int(struct db_stmt *s, int i, int64_t v)
{
    if (i < 1 || i > MAX_PARAMS)
        return;
    snprintf(s->ints[i - 1], sizeof(s->ints[i - 1]), "%lld", (long long)v);
    param(s, i, s->ints[i - 1], 0, 0, INT8OID);
}

static void pg_bind_text(struct db_stmt *s, int i, const char *v)
{
    param(s, i, v, 0, 0, v ? TEXTOID : 0);
}

static void pg_bind_blob(struct db_stmt *s, int i, const void *p, size_t n)
{
    param(s, i, n ? p : "", (int)n, 1, BYTEAOID);
}

static uint32_t hash_str(const char *p)
{
    uint32_t h = 2166136261u;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

/* The name of the prepared statement for s, preparing it on first use; NULL when the cache
 * is full or preparing failed (then the statement runs unprepared, which reports any
 * error the same way). Prepared statements skip parsing and planning on every call. */
static const char *prepared_name(struct db_stmt *s)
{
    struct db_conn *c = s->c;
    size_t n = strlen(s->sql);
    char *key = malloc(n + 2 + (size_t)s->nparams);
    if (!key)
        return NULL;
    memcpy(key, s->sql, n);
    key[n] = '\n';
    for (int i = 0; i < s->nparams; i++)
        key[n + 1 + i] = s->types[i] == INT8OID    ? 'i'
                         : s->types[i] == TEXTOID  ? 't'
                         : s->types[i] == BYTEAOID ? 'b'
                                                   : 'n';
    key[n + 1 + s->nparams] = '\0';
    uint32_t h = hash_str(key);
    for (unsigned probe = 0; probe < 16; probe++) {
        struct prepared *p = &c->cache[(h + probe) & (CACHE_SLOTS - 1)];
        if (p->key && strcmp(p->key, key) == 0) {
            free(key);
            return p->name;
        }
        if (!p->key) {
            snprintf(p->name, sizeof(p->name), "p%d", c->ncached);
            PGresult *r = PQprepare(c->pg, p->name, s->sql, s->nparams, s->types);
            bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok) {
                free(key);
                return NULL;
            }
            p->key = key;
            c->ncached++;
            return p->name;
        }
    }
    free(key);
    return NULL;
}

static int pg_step(struct db_stmt *s, struct err *err)
{
    if (!s->executed) {
        s->executed = true;
        PGTransactionStatusType before = PQtransactionStatus(s->c->pg);
        ExecStatusType st;
        for (int attempt = 0;; attempt++) {
            /* Inside a failed transaction nothing can be prepared: run as is for the error. */
            const char *name = before == PQTRANS_INERROR ? NULL : prepared_name(s);
            if (name)
                s->res = PQexecPrepared(s->c->pg, name, s->nparams, s->values, s->lengths,
                                        s->formats, 1);
            else
                s->res = PQexecParams(s->c->pg, s->sql, s->nparams, s->types, s->values, s->lengths,
                                      s->formats, 1);
            st = s->res ? PQresultStatus(s->res) : PGRES_FATAL_ERROR;
            if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK || attempt > 0 ||
                !reconnected(s->c, s->sql, before))
                break;
            PQclear(s->res);
            s->res = NULL;
        }
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
            return map_result(s->c->pg, s->res, err, "query");
        s->nrows = st == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
        const char *n = PQcmdTuples(s->res);
        s->changes = n && *n ? strtoll(n, NULL, 10) : 0;
    }
    if (s->row + 1 < s->nrows) {
        s->row++;
        return 1;
    }
    return 0;
}

static bool pg_col_null(struct db_stmt *s, int i)
{
    return PQgetisnull(s->res, s->row, i);
}

static int64_t pg_col_int(struct db_stmt *s, int i)
{
    if (PQgetisnull(s->res, s->row, i))
        return 0;
    const char *v = PQgetvalue(s->res, s->row, i);
    int len = PQgetlength(s->res, s->row, i);
    uint64_t u64;
    uint32_t u32;
    uint16_t u16;
    switch (PQftype(s->res, i)) {
    case INT8OID:
        if (len != 8)
            return 0;
        memcpy(&u64, v, 8);
        return (int64_t)be64toh(u64);
    case INT4OID:
        if (len != 4)
            return 0;
        memcpy(&u32, v, 4);
        return (int32_t)be32toh(u32);
    case INT2OID:
        if (len != 2)
            return 0;
        memcpy(&u16, v, 2);
        return (int16_t)be16toh(u16);
    case BOOLOID:
        return len == 1 && v[0] != 0;
    default:
        return strtoll(v, NULL, 10); /* text */
    }
}

static const char *pg_col_text(struct db_stmt *s, int i)
{
    if (PQgetisnull(s->res, s->row, i))
        return NULL;
    return PQgetvalue(s->res, s->row, i); /* binary text is the bytes, NUL-terminated */
}

static const void *pg_col_blob(struct db_stmt *s, int i, size_t *len)
{
    if (PQgetisnull(s->res, s->row, i)) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)PQgetlength(s->res, s->row, i);
    return PQgetvalue(s->res, s->row, i);
}

static bool pg_writes(struct db_stmt *s)
{
    (void)s; /* row locks are the server's business */
    return false;
}

static int64_t pg_changes(struct db_stmt *s)
{
    return s->changes;
}

static void pg_done(struct db_stmt *s)
{
    PQclear(s->res);
    free(s->sql);
    free(s);
}

const struct db_driver db_postgres_driver = {
    .name = "postgres",
    .dialect = DB_POSTGRES,
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .healthy = pg_healthy,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind_int = pg_bind_int,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .step = pg_step,
    .col_null = pg_col_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .writes = pg_writes,
    .changes = pg_changes,
    .done = pg_done,
};
