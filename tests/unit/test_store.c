/*
 * Unit tests of src/store through store.h. Every test runs twice: on SQLite (a temporary
 * file) and on PostgreSQL when PYROOM_TEST_PG holds a URL (each test in its own schema),
 * skipped otherwise. `make check` starts a cluster with scripts/pg.sh and sets it.
 */
#include "store/internal.h"
#include "store/store.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct store *st;
static char url[1024];
static char tmpdir[256];
static char schema[64];
static struct err E;

#define OK(x)                                                                                      \
    do {                                                                                           \
        err_clear(&E);                                                                             \
        int r_ = (x);                                                                              \
        cr_assert_eq(r_, 0, "%s = %d: %s", #x, r_, E.msg);                                         \
    } while (0)
#define FAILS(code, x)                                                                             \
    do {                                                                                           \
        err_clear(&E);                                                                             \
        int r_ = (x);                                                                              \
        cr_assert_eq(r_, code, "%s = %d, want %d: %s", #x, r_, code, E.msg);                       \
    } while (0)

static void open_store(void)
{
    struct store_options opt = {.pool_size = 4, .busy_timeout_ms = 10000};
    OK(store_open(url, &opt, &st, &E));
    int v = 0;
    OK(store_migrate(st, &v, &E));
    cr_assert_geq(v, 1);
}

static void setup_sqlite(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyroom-store-test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(url, sizeof(url), "sqlite:%s/t.db", tmpdir);
    open_store();
}

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("PYROOM_TEST_PG"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void setup_pg(void)
{
    const char *base = getenv("PYROOM_TEST_PG");
    if (!base || !*base)
        cr_skip_test("PYROOM_TEST_PG not set");
    snprintf(schema, sizeof(schema), "t%d", (int)getpid());
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema,
             schema);
    pg_admin(sql);
    snprintf(url, sizeof(url), "%s%soptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? "&" : "?", schema);
    open_store();
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            cr_log_warn("could not remove %s", tmpdir);
        tmpdir[0] = '\0';
    }
    if (schema[0]) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
        pg_admin(sql);
        schema[0] = '\0';
    }
}

/* Each test body runs on both drivers. */
#define BOTH(name)                                                                                 \
    static void name(void);                                                                        \
    Test(sqlite, name, .init = setup_sqlite, .fini = teardown)                                     \
    {                                                                                              \
        name();                                                                                    \
    }                                                                                              \
    Test(postgres, name, .init = setup_pg, .fini = teardown)                                       \
    {                                                                                              \
        name();                                                                                    \
    }                                                                                              \
    static void name(void)

static int64_t mkuser(const char *name)
{
    struct store_user *u;
    OK(store_user_create(st, name, "$argon2id$hash", STORE_ROLE_SUBMITTER, true, &u, &E));
    int64_t id = u->id;
    store_user_free(u);
    return id;
}

static int64_t mkws(int64_t owner, const char *name)
{
    struct store_workspace *w;
    OK(store_workspace_create(st, owner, name, &w, &E));
    int64_t id = w->id;
    store_workspace_free(w);
    return id;
}

static void put(int64_t ws, const char *path, const char *text)
{
    OK(store_file_put(st, ws, path, text, strlen(text), NULL, NULL, NULL, NULL, &E));
}

/* Checks the workspace's counters against its listing. */
static void check_totals(int64_t ws)
{
    struct store_workspace *w;
    struct store_file_list *l;
    OK(store_workspace_get(st, ws, &w, &E));
    OK(store_file_list(st, ws, false, &l, &E));
    int64_t files = 0, bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        files += l->items[i].kind == STORE_KIND_FILE;
        bytes += l->items[i].size;
    }
    cr_assert_eq(w->entry_count, (int64_t)l->n);
    cr_assert_eq(w->file_count, files);
    cr_assert_eq(w->bytes, bytes);
    store_workspace_free(w);
    store_file_list_free(l);
}

/* ---- helpers that need no database ------------------------------------------------ */

Test(store, dollar_params)
{
    char *s = sql_dollar_params("SELECT ? , '?' , \"a?\" , ? || ?");
    cr_assert_str_eq(s, "SELECT $1 , '?' , \"a?\" , $2 || $3");
    free(s);
}

Test(store, names_and_etag)
{
    enum store_role r;
    cr_assert_eq(store_role_parse("reviewer", &r), 0);
    cr_assert_eq(r, STORE_ROLE_REVIEWER);
    cr_assert_eq(store_role_parse("root", &r), -EINVAL);
    cr_assert_str_eq(store_role_name(STORE_ROLE_ADMIN), "admin");
    enum store_run_status rs;
    cr_assert_eq(store_run_status_parse("cancelled", &rs), 0);
    cr_assert_str_eq(store_run_status_name(rs), "cancelled");
    enum store_sub_status ss;
    cr_assert_eq(store_sub_status_parse("withdrawn", &ss), 0);
    cr_assert_str_eq(store_sub_status_name(ss), "withdrawn");
    char a[STORE_ETAG_LEN + 1], b[STORE_ETAG_LEN + 1];
    store_etag("x", 1, a);
    store_etag("y", 1, b);
    cr_assert_eq(strlen(a), STORE_ETAG_LEN);
    cr_assert_str_neq(a, b);
    cr_assert_gt(store_now_ms(), INT64_C(1600000000000));
    cr_assert_str_eq(store_kind_name(STORE_KIND_FOLDER), "folder");
    /* Every _free accepts NULL. */
    store_user_free(NULL);
    store_user_list_free(NULL);
    store_session_free(NULL);
    store_token_free(NULL);
    store_token_list_free(NULL);
    store_workspace_free(NULL);
    store_workspace_list_free(NULL);
    store_file_free(NULL);
    store_file_list_free(NULL);
    store_run_free(NULL);
    store_run_list_free(NULL);
    store_artifact_free(NULL);
    store_artifact_list_free(NULL);
    store_submission_free(NULL);
    store_submission_list_free(NULL);
    store_review_list_free(NULL);
    store_comment_free(NULL);
    store_comment_list_free(NULL);
    store_audit_list_free(NULL);
    store_lease_free(NULL);
    store_close(NULL);
}

Test(store, bad_urls)
{
    struct store *s = NULL;
    cr_assert_eq(store_open("mysql://x", NULL, &s, NULL), -EINVAL);
    cr_assert_eq(store_open("sqlite:", NULL, &s, NULL), -EINVAL);
    cr_assert_eq(store_open("sqlite::memory:", NULL, &s, NULL), -EINVAL);
    cr_assert_eq(store_open(NULL, NULL, &s, NULL), -EINVAL);
    struct err e = {0};
    cr_assert_eq(store_open("sqlite:/nonexistent-dir/x/y.db", NULL, &s, &e), -EIO);
    cr_assert_neq(e.msg[0], '\0');
    /* Unreachable is its own error: the API answers it 503 unavailable, not 500. */
    cr_assert_eq(store_open("postgres://nobody@127.0.0.1:1/none", NULL, &s, &e), -ENOTCONN);
    cr_assert_null(s);
}

/* ---- open, migrate, ping ----------------------------------------------------------- */

Test(sqlite, database_file_is_private, .init = setup_sqlite, .fini = teardown)
{
    char path[300];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/t.db", tmpdir);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);
    snprintf(path, sizeof(path), "%s/t.db-wal", tmpdir);
    if (stat(path, &sb) == 0)
        cr_assert_eq(sb.st_mode & 0777, 0600, "wal mode %o", sb.st_mode & 0777);
}

BOTH(migrate_is_idempotent)
{
    int v1 = 0, v2 = 0;
    OK(store_migrate(st, &v1, &E));
    OK(store_migrate(st, &v2, &E));
    cr_assert_eq(v1, v2);
    OK(store_ping(st, &E));
    const char *name = store_driver_name(st);
    cr_assert(strcmp(name, "sqlite") == 0 || strcmp(name, "postgres") == 0);
    /* A second store on the same database sees the schema in place. */
    struct store *s2;
    OK(store_open(url, NULL, &s2, &E));
    OK(store_migrate(s2, &v2, &E));
    cr_assert_eq(v1, v2);
    store_close(s2);
}

/* ---- users ------------------------------------------------------------------------- */

BOTH(users_basics)
{
    struct store_user *a, *b, *u;
    OK(store_user_create(st, "Alice", "hashA", STORE_ROLE_SUBMITTER, true, &a, &E));
    cr_assert_eq(a->role, STORE_ROLE_ADMIN, "the first user is admin");
    cr_assert_str_eq(a->username, "Alice");
    cr_assert_gt(a->created_at, 0);
    OK(store_user_create(st, "bob", "hashB", STORE_ROLE_SUBMITTER, true, &b, &E));
    cr_assert_eq(b->role, STORE_ROLE_SUBMITTER);
    FAILS(-EEXIST, store_user_create(st, "ALICE", "h", STORE_ROLE_SUBMITTER, true, NULL, &E));

    OK(store_user_get_by_name(st, "alice", &u, &E));
    cr_assert_eq(u->id, a->id);
    cr_assert_str_eq(u->username, "Alice");
    cr_assert_str_eq(u->password_hash, "hashA");
    store_user_free(u);
    OK(store_user_get(st, b->id, &u, &E));
    cr_assert_str_eq(u->password_hash, "hashB");
    store_user_free(u);
    FAILS(-ENOENT, store_user_get(st, 9999, &u, &E));
    FAILS(-ENOENT, store_user_get_by_name(st, "carol", &u, &E));

    OK(store_user_set_role(st, b->id, STORE_ROLE_REVIEWER, &E));
    OK(store_user_set_password(st, b->id, "hashB2", &E));
    OK(store_user_get(st, b->id, &u, &E));
    cr_assert_eq(u->role, STORE_ROLE_REVIEWER);
    cr_assert_str_eq(u->password_hash, "hashB2");
    store_user_free(u);
    FAILS(-ENOENT, store_user_set_role(st, 9999, STORE_ROLE_ADMIN, &E));
    FAILS(-ENOENT, store_user_set_disabled(st, 9999, true, &E));

    /* A user created without first_is_admin on an empty table: see users_not_first_admin. */
    mkuser("carol");
    struct store_user_list *l;
    OK(store_user_list(st, 2, 0, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert(l->more);
    cr_assert_str_eq(l->items[0].username, "Alice");
    cr_assert_null(l->items[0].password_hash);
    store_user_list_free(l);
    OK(store_user_list(st, 2, 2, &l, &E));
    cr_assert_eq(l->n, 1);
    cr_assert_not(l->more);
    cr_assert_str_eq(l->items[0].username, "carol");
    store_user_list_free(l);
    OK(store_user_list(st, 0, 0, &l, &E));
    cr_assert_eq(l->n, 3);
    store_user_list_free(l);
    store_user_free(a);
    store_user_free(b);
}

BOTH(users_not_first_admin)
{
    struct store_user *u;
    OK(store_user_create(st, "rev", "h", STORE_ROLE_REVIEWER, false, &u, &E));
    cr_assert_eq(u->role, STORE_ROLE_REVIEWER);
    store_user_free(u);
}

struct race {
    int i;
    int rc;
};

static void *create_racer(void *arg)
{
    struct race *r = arg;
    char name[32];
    snprintf(name, sizeof(name), "racer%d", r->i);
    r->rc = store_user_create(st, name, "h", STORE_ROLE_SUBMITTER, true, NULL, NULL);
    return NULL;
}

BOTH(first_admin_is_atomic)
{
    enum { N = 8 };
    pthread_t t[N];
    struct race r[N];
    for (int i = 0; i < N; i++) {
        r[i].i = i;
        pthread_create(&t[i], NULL, create_racer, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(r[i].rc, 0);
    }
    struct store_user_list *l;
    OK(store_user_list(st, 0, 0, &l, &E));
    int admins = 0;
    for (size_t i = 0; i < l->n; i++)
        admins += l->items[i].role == STORE_ROLE_ADMIN;
    cr_assert_eq(l->n, N);
    cr_assert_eq(admins, 1);
    store_user_list_free(l);
}

/* ---- sessions and tokens ----------------------------------------------------------- */

BOTH(sessions)
{
    int64_t a = mkuser("alice"), b = mkuser("bob");
    int64_t later = store_now_ms() + 3600 * 1000;
    struct store_session *s;
    OK(store_session_create(st, a, "hash-a1", "csrf-1", later, &s, &E));
    cr_assert_eq(s->user_id, a);
    cr_assert_str_eq(s->csrf, "csrf-1");
    cr_assert_str_eq(s->user.username, "alice");
    store_session_free(s);
    FAILS(-EEXIST, store_session_create(st, a, "hash-a1", NULL, later, NULL, &E));
    FAILS(-ENOENT, store_session_create(st, 9999, "hash-x", NULL, later, NULL, &E));
    OK(store_session_create(st, a, "hash-a2", NULL, later, NULL, &E));
    OK(store_session_create(st, b, "hash-b1", NULL, later, NULL, &E));
    OK(store_session_create(st, b, "hash-old", NULL, store_now_ms() - 1, NULL, &E));

    OK(store_session_lookup(st, "hash-a1", &s, &E));
    cr_assert_eq(s->user.id, a);
    cr_assert_eq(s->user.role, STORE_ROLE_ADMIN);
    cr_assert_null(s->user.password_hash);
    cr_assert_eq(s->expires_at, later);
    OK(store_session_touch(st, s->id, later + 1000, &E));
    int64_t sid = s->id;
    store_session_free(s);
    OK(store_session_lookup(st, "hash-a1", &s, &E));
    cr_assert_eq(s->expires_at, later + 1000);
    store_session_free(s);
    FAILS(-ENOENT, store_session_touch(st, 9999, later, &E));
    FAILS(-ENOENT, store_session_lookup(st, "hash-old", &s, &E));
    FAILS(-ENOENT, store_session_lookup(st, "nope", &s, &E));

    int n = -1;
    OK(store_session_purge(st, &n, &E));
    cr_assert_eq(n, 1);

    OK(store_session_delete(st, "hash-a1", &E));
    FAILS(-ENOENT, store_session_delete(st, "hash-a1", &E));
    FAILS(-ENOENT, store_session_lookup(st, "hash-a1", &s, &E));
    OK(store_session_lookup(st, "hash-a2", &s, &E));
    store_session_free(s);
    OK(store_session_delete_user(st, a, &E));
    FAILS(-ENOENT, store_session_lookup(st, "hash-a2", &s, &E));
    (void)sid;

    /* Disabling ends the sessions; enabling does not bring them back. */
    OK(store_session_lookup(st, "hash-b1", &s, &E));
    store_session_free(s);
    OK(store_user_set_disabled(st, b, true, &E));
    FAILS(-ENOENT, store_session_lookup(st, "hash-b1", &s, &E));
    OK(store_user_set_disabled(st, b, false, &E));
    FAILS(-ENOENT, store_session_lookup(st, "hash-b1", &s, &E));
    /* A session created for a disabled user cannot be used. */
    OK(store_user_set_disabled(st, b, true, &E));
    OK(store_session_create(st, b, "hash-b2", NULL, later, NULL, &E));
    FAILS(-ENOENT, store_session_lookup(st, "hash-b2", &s, &E));
    struct store_user *u;
    OK(store_user_get(st, b, &u, &E));
    cr_assert(u->disabled);
    store_user_free(u);
}

BOTH(tokens)
{
    int64_t a = mkuser("alice"), b = mkuser("bob");
    struct store_token *t;
    OK(store_token_create(st, a, "ci", "th-1", &t, &E));
    cr_assert_str_eq(t->name, "ci");
    cr_assert_eq(t->last_used_at, 0);
    int64_t id1 = t->id;
    store_token_free(t);
    OK(store_token_create(st, a, "laptop", "th-2", NULL, &E));
    OK(store_token_create(st, b, "b", "th-3", NULL, &E));
    FAILS(-EEXIST, store_token_create(st, b, "dup", "th-3", NULL, &E));

    struct store_token_list *l;
    OK(store_token_list(st, a, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert_str_eq(l->items[0].name, "ci");
    cr_assert_str_eq(l->items[1].name, "laptop");
    store_token_list_free(l);

    OK(store_token_lookup(st, "th-1", &t, &E));
    cr_assert_eq(t->user.id, a);
    cr_assert_str_eq(t->user.username, "alice");
    cr_assert_gt(t->last_used_at, 0);
    store_token_free(t);
    OK(store_token_list(st, a, &l, &E));
    cr_assert_gt(l->items[0].last_used_at, 0, "lookup recorded last_used_at");
    cr_assert_eq(l->items[1].last_used_at, 0);
    store_token_list_free(l);
    FAILS(-ENOENT, store_token_lookup(st, "th-x", &t, &E));

    FAILS(-ENOENT, store_token_delete(st, b, id1, &E)); /* not bob's */
    OK(store_token_delete(st, a, id1, &E));
    FAILS(-ENOENT, store_token_lookup(st, "th-1", &t, &E));

    OK(store_user_set_disabled(st, b, true, &E));
    FAILS(-ENOENT, store_token_lookup(st, "th-3", &t, &E));
    OK(store_user_set_disabled(st, b, false, &E));
    OK(store_token_lookup(st, "th-3", &t, &E));
    store_token_free(t);
}

/* ---- workspaces -------------------------------------------------------------------- */

BOTH(workspaces)
{
    int64_t a = mkuser("alice"), b = mkuser("bob");
    struct store_workspace *w;
    OK(store_workspace_create(st, a, "first", &w, &E));
    cr_assert_eq(w->owner_id, a);
    cr_assert_str_eq(w->owner_name, "alice");
    cr_assert_str_eq(w->name, "first");
    cr_assert_eq(w->file_count, 0);
    cr_assert_eq(w->bytes, 0);
    int64_t w1 = w->id;
    store_workspace_free(w);
    int64_t w2 = mkws(a, "second");
    int64_t w3 = mkws(b, "bobs");
    FAILS(-ENOENT, store_workspace_create(st, 9999, "x", NULL, &E));

    struct store_workspace_list *l;
    OK(store_workspace_list(st, a, 0, 0, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert_eq(l->items[0].id, w2, "newest first");
    cr_assert_eq(l->items[1].id, w1);
    store_workspace_list_free(l);
    OK(store_workspace_list(st, 0, 2, 0, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert(l->more);
    cr_assert_eq(l->items[0].id, w3);
    store_workspace_list_free(l);
    OK(store_workspace_list(st, 0, 2, 2, &l, &E));
    cr_assert_eq(l->n, 1);
    cr_assert_not(l->more);
    store_workspace_list_free(l);

    put(w1, "main.py", "print(1)\n");
    put(w1, "src/util.py", "x = 1\n");
    OK(store_workspace_get(st, w1, &w, &E));
    cr_assert_eq(w->file_count, 2);
    cr_assert_eq(w->entry_count, 3);
    cr_assert_eq(w->bytes, 15);
    int64_t updated = w->updated_at;
    store_workspace_free(w);

    OK(store_workspace_rename(st, w1, "renamed", &E));
    OK(store_workspace_get(st, w1, &w, &E));
    cr_assert_str_eq(w->name, "renamed");
    cr_assert_geq(w->updated_at, updated);
    store_workspace_free(w);
    FAILS(-ENOENT, store_workspace_rename(st, 9999, "x", &E));

    OK(store_workspace_delete(st, w1, &E));
    FAILS(-ENOENT, store_workspace_get(st, w1, &w, &E));
    FAILS(-ENOENT, store_workspace_delete(st, w1, &E));
    struct store_file *f;
    FAILS(-ENOENT, store_file_get(st, w1, "main.py", false, &f, &E));
    struct store_file_list *fl;
    FAILS(-ENOENT, store_file_list(st, w1, false, &fl, &E));
}

/* ---- files ------------------------------------------------------------------------- */

BOTH(files_put_get)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    struct store_file *f;
    bool created = false;
    OK(store_file_put(st, ws, "main.py", "print(1)\n", 9, NULL, NULL, &f, &created, &E));
    cr_assert(created);
    cr_assert_str_eq(f->path, "main.py");
    cr_assert_eq(f->kind, STORE_KIND_FILE);
    cr_assert_eq(f->size, 9);
    cr_assert_null(f->content);
    char want[STORE_ETAG_LEN + 1];
    store_etag("print(1)\n", 9, want);
    cr_assert_str_eq(f->etag, want);
    cr_assert_gt(f->updated_at, 0);
    store_file_free(f);

    OK(store_file_get(st, ws, "main.py", true, &f, &E));
    cr_assert_eq(f->size, 9);
    cr_assert_eq(memcmp(f->content, "print(1)\n", 9), 0);
    store_file_free(f);

    /* Replace; binary content with NUL and high bytes survives both drivers. */
    const unsigned char bin[] = {0, 1, 2, 0xff, 0xfe, 0, '\\', 'x', '\'', 0};
    created = true;
    OK(store_file_put(st, ws, "main.py", bin, sizeof(bin), NULL, NULL, &f, &created, &E));
    cr_assert_not(created);
    cr_assert_eq(f->size, (int64_t)sizeof(bin));
    store_file_free(f);
    OK(store_file_get(st, ws, "main.py", true, &f, &E));
    cr_assert_eq(f->size, (int64_t)sizeof(bin));
    cr_assert_eq(memcmp(f->content, bin, sizeof(bin)), 0);
    store_file_free(f);

    /* Empty files have empty (non-NULL) content. */
    OK(store_file_put(st, ws, "empty.txt", NULL, 0, NULL, NULL, NULL, NULL, &E));
    OK(store_file_get(st, ws, "empty.txt", true, &f, &E));
    cr_assert_eq(f->size, 0);
    cr_assert_not_null(f->content);
    store_etag("", 0, want);
    cr_assert_str_eq(f->etag, want);
    store_file_free(f);

    /* Unicode and odd characters in paths are plain data. */
    put(ws, "données/été 'quoted' \"x\".py", "ok");
    OK(store_file_get(st, ws, "données/été 'quoted' \"x\".py", true, &f, &E));
    cr_assert_str_eq(f->content, "ok");
    store_file_free(f);

    FAILS(-ENOENT, store_file_get(st, ws, "nope.py", false, &f, &E));
    FAILS(-ENOENT, store_file_put(st, 9999, "a.py", "x", 1, NULL, NULL, NULL, NULL, &E));
    FAILS(-EINVAL, store_file_put(st, ws, "/abs", "x", 1, NULL, NULL, NULL, NULL, &E));
    FAILS(-EINVAL, store_file_put(st, ws, "a//b", "x", 1, NULL, NULL, NULL, NULL, &E));
    FAILS(-EINVAL, store_file_put(st, ws, "a/", "x", 1, NULL, NULL, NULL, NULL, &E));
    FAILS(-EINVAL, store_file_put(st, ws, "", "x", 1, NULL, NULL, NULL, NULL, &E));
    check_totals(ws);
}

BOTH(files_parents_and_kinds)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    put(ws, "a/b/c.txt", "c");
    struct store_file *f;
    OK(store_file_get(st, ws, "a", false, &f, &E));
    cr_assert_eq(f->kind, STORE_KIND_FOLDER);
    cr_assert_str_eq(f->etag, "");
    store_file_free(f);
    OK(store_file_get(st, ws, "a/b", false, &f, &E));
    cr_assert_eq(f->kind, STORE_KIND_FOLDER);
    store_file_free(f);
    FAILS(-EISDIR, store_file_get(st, ws, "a/b", true, &f, &E));
    FAILS(-EISDIR, store_file_put(st, ws, "a/b", "x", 1, NULL, NULL, NULL, NULL, &E));
    FAILS(-ENOTDIR, store_file_put(st, ws, "a/b/c.txt/d", "x", 1, NULL, NULL, NULL, NULL, &E));
    FAILS(-ENOTDIR, store_file_put(st, ws, "a/b/c.txt/d/e", "x", 1, NULL, NULL, NULL, NULL, &E));
    FAILS(-ENOTDIR, store_folder_create(st, ws, "a/b/c.txt/x", NULL, NULL, &E));

    OK(store_folder_create(st, ws, "x/y/z", NULL, &f, &E));
    cr_assert_str_eq(f->path, "x/y/z");
    cr_assert_eq(f->kind, STORE_KIND_FOLDER);
    store_file_free(f);
    FAILS(-EEXIST, store_folder_create(st, ws, "x/y", NULL, NULL, &E));
    FAILS(-EEXIST, store_folder_create(st, ws, "a/b/c.txt", NULL, NULL, &E));

    /* Sorted bytewise: "a" < "a/b" < "a/b/c.txt" < "a-b" < "a0" < "b". */
    put(ws, "a-b", "1");
    put(ws, "a0", "2");
    put(ws, "B", "3");
    struct store_file_list *l;
    OK(store_file_list(st, ws, false, &l, &E));
    const char *want[] = {"B", "a", "a-b", "a/b", "a/b/c.txt", "a0", "x", "x/y", "x/y/z"};
    cr_assert_eq(l->n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l->n; i++) {
        cr_assert_str_eq(l->items[i].path, want[i], "item %zu", i);
        cr_assert_null(l->items[i].content);
    }
    store_file_list_free(l);
    OK(store_file_list(st, ws, true, &l, &E));
    cr_assert_str_eq(l->items[0].content, "3");
    cr_assert_null(l->items[1].content);
    store_file_list_free(l);
    check_totals(ws);
}

BOTH(files_conditions)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    struct store_file *f;
    OK(store_file_put(st, ws, "a.txt", "one", 3, NULL, NULL, &f, NULL, &E));
    char etag1[STORE_ETAG_LEN + 1];
    strcpy(etag1, f->etag);
    store_file_free(f);

    struct store_cond stale = {.if_match = "0123456789abcdef0123456789abcdef"};
    FAILS(-ESTALE, store_file_put(st, ws, "a.txt", "two", 3, &stale, NULL, NULL, NULL, &E));
    FAILS(-ESTALE, store_file_put(st, ws, "new.txt", "x", 1, &stale, NULL, NULL, NULL, &E));
    struct store_cond good = {.if_match = etag1};
    OK(store_file_put(st, ws, "a.txt", "two", 3, &good, NULL, &f, NULL, &E));
    cr_assert_str_neq(f->etag, etag1);
    store_file_free(f);
    /* The second tab still holds etag1: refused, and the content is the first tab's. */
    FAILS(-ESTALE, store_file_put(st, ws, "a.txt", "three", 5, &good, NULL, NULL, NULL, &E));
    OK(store_file_get(st, ws, "a.txt", true, &f, &E));
    cr_assert_str_eq(f->content, "two");
    store_file_free(f);

    struct store_cond create = {.create_only = true};
    FAILS(-EEXIST, store_file_put(st, ws, "a.txt", "x", 1, &create, NULL, NULL, NULL, &E));
    OK(store_file_put(st, ws, "b.txt", "x", 1, &create, NULL, NULL, NULL, &E));

    /* Delete honours If-Match for files; a folder with If-Match is stale. */
    FAILS(-ESTALE, store_file_delete(st, ws, "a.txt", &stale, NULL, &E));
    OK(store_folder_create(st, ws, "dir", NULL, NULL, &E));
    struct store_cond any = {.if_match = ""};
    FAILS(-ESTALE, store_file_delete(st, ws, "dir", &any, NULL, &E));
    OK(store_file_get(st, ws, "a.txt", false, &f, &E));
    struct store_cond cur = {.if_match = f->etag};
    OK(store_file_delete(st, ws, "a.txt", &cur, NULL, &E));
    store_file_free(f);
    FAILS(-ENOENT, store_file_delete(st, ws, "a.txt", NULL, NULL, &E));
    check_totals(ws);
}

BOTH(files_limits)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    struct store_limits lim = {.max_file_bytes = 10, .max_entries = 4, .max_workspace_bytes = 20};
    OK(store_file_put(st, ws, "a", "0123456789", 10, NULL, &lim, NULL, NULL, &E));
    FAILS(-EFBIG, store_file_put(st, ws, "b", "0123456789X", 11, NULL, &lim, NULL, NULL, &E));
    OK(store_file_put(st, ws, "b", "0123456789", 10, NULL, &lim, NULL, NULL, &E));
    /* 20 bytes used: one more byte anywhere is refused, replacing with less is fine. */
    FAILS(-EFBIG, store_file_put(st, ws, "c", "x", 1, NULL, &lim, NULL, NULL, &E));
    OK(store_file_put(st, ws, "b", "01234", 5, NULL, &lim, NULL, NULL, &E));
    OK(store_file_put(st, ws, "c", "x", 1, NULL, &lim, NULL, NULL, &E));
    /* 3 entries; a file in a new folder needs 2 more. */
    FAILS(-EFBIG, store_file_put(st, ws, "d/e", "x", 1, NULL, &lim, NULL, NULL, &E));
    FAILS(-EFBIG, store_folder_create(st, ws, "d/e", &lim, NULL, &E));
    OK(store_folder_create(st, ws, "d", &lim, NULL, &E));
    FAILS(-EFBIG, store_folder_create(st, ws, "f", &lim, NULL, &E));
    FAILS(-EFBIG, store_file_move(st, ws, "c", "g/c", &lim, &E));
    OK(store_file_move(st, ws, "c", "d/c", &lim, &E));
    /* Nothing of the refused calls stayed behind. */
    struct store_file *f;
    FAILS(-ENOENT, store_file_get(st, ws, "d/e", false, &f, &E));
    FAILS(-ENOENT, store_file_get(st, ws, "g", false, &f, &E));
    check_totals(ws);
    /* A workspace over a lowered limit can still shrink. */
    struct store_limits tight = {.max_entries = 1, .max_workspace_bytes = 1};
    OK(store_file_put(st, ws, "a", "0", 1, NULL, &tight, NULL, NULL, &E));
    FAILS(-EFBIG, store_file_put(st, ws, "a", "01", 2, NULL, &tight, NULL, NULL, &E));
    OK(store_file_delete(st, ws, "b", NULL, NULL, &E));
    check_totals(ws);
}

BOTH(files_delete_subtree)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    put(ws, "a/x.py", "1");
    put(ws, "a/b/y.py", "22");
    put(ws, "a-b/z.py", "333");
    put(ws, "ab", "4444");
    put(ws, "a0", "5");
    int n = 0;
    OK(store_file_delete(st, ws, "a", NULL, &n, &E));
    cr_assert_eq(n, 4); /* a, a/x.py, a/b, a/b/y.py */
    struct store_file_list *l;
    OK(store_file_list(st, ws, false, &l, &E));
    const char *want[] = {"a-b", "a-b/z.py", "a0", "ab"};
    cr_assert_eq(l->n, 4);
    for (size_t i = 0; i < l->n; i++)
        cr_assert_str_eq(l->items[i].path, want[i]);
    store_file_list_free(l);
    check_totals(ws);
    OK(store_file_delete(st, ws, "a-b/z.py", NULL, &n, &E));
    cr_assert_eq(n, 1);
    check_totals(ws);
}

BOTH(files_move)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    put(ws, "src/main.py", "m");
    put(ws, "src/lib/util.py", "uu");
    put(ws, "src-old/keep.py", "k");
    put(ws, "notes.txt", "n");

    OK(store_file_move(st, ws, "notes.txt", "docs/notes.md", NULL, &E));
    struct store_file *f;
    OK(store_file_get(st, ws, "docs/notes.md", true, &f, &E));
    cr_assert_str_eq(f->content, "n");
    store_file_free(f);
    FAILS(-ENOENT, store_file_get(st, ws, "notes.txt", false, &f, &E));

    OK(store_file_move(st, ws, "src", "app/été", NULL, &E));
    struct store_file_list *l;
    OK(store_file_list(st, ws, false, &l, &E));
    const char *want[] = {
        "app",  "app/été",       "app/été/lib", "app/été/lib/util.py", "app/été/main.py",
        "docs", "docs/notes.md", "src-old",     "src-old/keep.py"};
    cr_assert_eq(l->n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < l->n; i++)
        cr_assert_str_eq(l->items[i].path, want[i], "item %zu", i);
    store_file_list_free(l);
    /* Moving back from a unicode prefix (substr counts characters, not bytes). */
    OK(store_file_move(st, ws, "app/été", "src", NULL, &E));
    OK(store_file_get(st, ws, "src/lib/util.py", true, &f, &E));
    cr_assert_str_eq(f->content, "uu");
    store_file_free(f);

    FAILS(-EINVAL, store_file_move(st, ws, "src", "src/lib/x", NULL, &E));
    FAILS(-EEXIST, store_file_move(st, ws, "src/main.py", "src-old/keep.py", NULL, &E));
    FAILS(-EEXIST, store_file_move(st, ws, "src", "src", NULL, &E));
    FAILS(-EEXIST, store_file_move(st, ws, "src/main.py", "src", NULL, &E));
    FAILS(-ENOENT, store_file_move(st, ws, "nope", "x", NULL, &E));
    FAILS(-ENOTDIR, store_file_move(st, ws, "src", "docs/notes.md/x", NULL, &E));
    /* "src-old" is not inside "src". */
    OK(store_file_move(st, ws, "src-old", "src/old", NULL, &E));
    OK(store_file_get(st, ws, "src/old/keep.py", false, &f, &E));
    store_file_free(f);
    check_totals(ws);
}

struct writer {
    int64_t ws;
    int id;
    int ok, big, other;
};

static void *writer(void *arg)
{
    struct writer *w = arg;
    struct store_limits lim = {.max_entries = 60};
    char path[64], body[100];
    for (int i = 0; i < 40; i++) {
        snprintf(path, sizeof(path), "t%d/f%d.txt", w->id, i % 20);
        int n = snprintf(body, sizeof(body), "writer %d round %d", w->id, i);
        int rc = store_file_put(st, w->ws, path, body, (size_t)n, NULL, &lim, NULL, NULL, NULL);
        if (rc == 0)
            w->ok++;
        else if (rc == -EFBIG)
            w->big++;
        else
            w->other++;
    }
    return NULL;
}

BOTH(files_parallel_writers)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    enum { N = 6 };
    pthread_t t[N];
    struct writer w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct writer){.ws = ws, .id = i};
        pthread_create(&t[i], NULL, writer, &w[i]);
    }
    int ok = 0, big = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].other, 0, "writer %d: unexpected errors", i);
        ok += w[i].ok;
        big += w[i].big;
    }
    cr_assert_eq(ok + big, N * 40);
    cr_assert_gt(big, 0, "the entry limit was reached");
    struct store_workspace *ws_;
    OK(store_workspace_get(st, ws, &ws_, &E));
    cr_assert_leq(ws_->entry_count, 60, "limit kept under concurrency");
    store_workspace_free(ws_);
    check_totals(ws);
}

/* ---- runs -------------------------------------------------------------------------- */

BOTH(runs)
{
    int64_t u = mkuser("alice");
    int64_t ws = mkws(u, "w");
    struct store_run_new n = {.workspace_id = ws,
                              .user_id = u,
                              .node = "node-a",
                              .entry = "main.py",
                              .args_json = "[\"x\"]"};
    struct store_run *r;
    OK(store_run_create(st, &n, &r, &E));
    cr_assert_eq(r->status, STORE_RUN_QUEUED);
    cr_assert_eq(r->timings.queue_ms, -1); /* not finished: no phases (DEFAULT -1) */
    cr_assert_eq(r->workspace_id, ws);
    cr_assert_eq(r->submission_id, 0);
    cr_assert_str_eq(r->entry, "main.py");
    cr_assert_str_eq(r->args_json, "[\"x\"]");
    cr_assert_str_eq(r->node, "node-a");
    cr_assert_eq(r->exit_code, -1);
    cr_assert_str_eq(r->limit_hit, "none");
    cr_assert_null(r->stdout_data);
    cr_assert_eq(r->started_at, 0);
    int64_t id = r->id;
    store_run_free(r);

    OK(store_run_set_running(st, id, true, &E));
    FAILS(-EALREADY, store_run_set_running(st, id, true, &E));
    FAILS(-ENOENT, store_run_set_running(st, 9999, true, &E));

    const char out[] = "hello\0world";
    struct store_run_result res = {.status = STORE_RUN_LIMIT,
                                   .exit_code = -1,
                                   .signal = 9,
                                   .limit_hit = "memory",
                                   .wall_ms = 120,
                                   .cpu_ms = 80,
                                   .peak_memory_bytes = 1 << 20,
                                   .stdout_data = out,
                                   .stdout_len = sizeof(out),
                                   .stdout_truncated = true,
                                   .stderr_data = "err",
                                   .stderr_len = 3,
                                   .timings = {0, 3, 20, 90, -1, 7}};
    OK(store_run_finish(st, id, &res, &E));
    FAILS(-EALREADY, store_run_finish(st, id, &res, &E));
    res.status = STORE_RUN_RUNNING;
    FAILS(-EINVAL, store_run_finish(st, id, &res, &E));

    OK(store_artifact_add(st, id, "figure-1.png", "image/png", "\x89PNG\0", 5, &E));
    OK(store_artifact_add(st, id, "figure-0.png", "image/png", "", 0, &E));
    FAILS(-EEXIST, store_artifact_add(st, id, "figure-1.png", "image/png", "x", 1, &E));
    FAILS(-ENOENT, store_artifact_add(st, 9999, "a", "x", "x", 1, &E));

    OK(store_run_get(st, id, &r, &E));
    cr_assert_eq(r->status, STORE_RUN_LIMIT);
    cr_assert_eq(r->signal, 9);
    cr_assert_str_eq(r->limit_hit, "memory");
    cr_assert_eq(r->wall_ms, 120);
    cr_assert_eq(r->cpu_ms, 80);
    cr_assert_eq(r->peak_memory_bytes, 1 << 20);
    cr_assert_eq(r->timings.queue_ms, 0);
    cr_assert_eq(r->timings.prepare_ms, 3);
    cr_assert_eq(r->timings.start_ms, 20);
    cr_assert_eq(r->timings.program_ms, 90);
    cr_assert_eq(r->timings.exit_ms, -1);
    cr_assert_eq(r->timings.collect_ms, 7);
    cr_assert_eq(r->stdout_len, sizeof(out));
    cr_assert_eq(memcmp(r->stdout_data, out, sizeof(out)), 0);
    cr_assert(r->stdout_truncated);
    cr_assert_str_eq(r->stderr_data, "err");
    cr_assert_not(r->stderr_truncated);
    cr_assert(r->warm);
    cr_assert_gt(r->started_at, 0);
    cr_assert_geq(r->finished_at, r->started_at);
    cr_assert_eq(r->artifacts.n, 2);
    cr_assert_str_eq(r->artifacts.items[0].name, "figure-0.png");
    cr_assert_eq(r->artifacts.items[1].size, 5);
    cr_assert_null(r->artifacts.items[1].data);
    store_run_free(r);

    struct store_artifact *a;
    OK(store_artifact_get(st, id, "figure-1.png", &a, &E));
    cr_assert_str_eq(a->content_type, "image/png");
    cr_assert_eq(a->size, 5);
    cr_assert_eq(memcmp(a->data, "\x89PNG\0", 5), 0);
    store_artifact_free(a);
    FAILS(-ENOENT, store_artifact_get(st, id, "nope.png", &a, &E));
    struct store_artifact_list *al;
    OK(store_artifact_list(st, id, &al, &E));
    cr_assert_eq(al->n, 2);
    store_artifact_list_free(al);

    /* History: newest first, paginated, without output. */
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        n.node = i % 2 ? "node-b" : "node-a";
        OK(store_run_create(st, &n, &r, &E));
        ids[i] = r->id;
        store_run_free(r);
    }
    struct store_run_list *l;
    OK(store_run_list(st, ws, 0, 3, 0, &l, &E));
    cr_assert_eq(l->n, 3);
    cr_assert(l->more);
    cr_assert_eq(l->items[0].id, ids[4]);
    cr_assert_null(l->items[0].stdout_data);
    store_run_list_free(l);
    OK(store_run_list(st, ws, 0, 3, 3, &l, &E));
    cr_assert_eq(l->n, 3);
    cr_assert_not(l->more);
    cr_assert_eq(l->items[2].id, id);
    store_run_list_free(l);

    OK(store_run_set_running(st, ids[0], false, &E));
    int count = 0;
    OK(store_runs_fail_unfinished(st, "node-b", "server restarted", &count, &E));
    cr_assert_eq(count, 2);
    OK(store_runs_fail_unfinished(st, NULL, "server restarted", &count, &E));
    cr_assert_eq(count, 3);
    OK(store_run_get(st, ids[0], &r, &E));
    cr_assert_eq(r->status, STORE_RUN_FAILED);
    cr_assert_str_eq(r->reason, "server restarted");
    cr_assert_gt(r->finished_at, 0);
    store_run_free(r);
    OK(store_run_get(st, id, &r, &E));
    cr_assert_eq(r->status, STORE_RUN_LIMIT, "finished runs are left alone");
    store_run_free(r);
    FAILS(-ENOENT, store_run_get(st, 9999, &r, &E));
    FAILS(-ENOENT, store_run_create(st, &(struct store_run_new){.workspace_id = 9999, .entry = "x"},
                                    NULL, &E));
    /* Deleting the workspace deletes its runs and their artifacts. */
    OK(store_workspace_delete(st, ws, &E));
    FAILS(-ENOENT, store_run_get(st, id, &r, &E));
    FAILS(-ENOENT, store_artifact_get(st, id, "figure-1.png", &a, &E));
}

/* ---- submissions ------------------------------------------------------------------- */

BOTH(submissions)
{
    int64_t admin = mkuser("admin"), sub = mkuser("sub"), rev = mkuser("rev");
    int64_t ws = mkws(sub, "homework");
    put(ws, "main.py", "print('v1')");
    put(ws, "data/in.txt", "42");

    struct store_submission *s;
    OK(store_submission_create(st, ws, sub, "please review", &s, &E));
    cr_assert_eq(s->status, STORE_SUB_PENDING);
    cr_assert_eq(s->workspace_id, ws);
    cr_assert_str_eq(s->workspace_name, "homework");
    cr_assert_str_eq(s->author_name, "sub");
    cr_assert_str_eq(s->message, "please review");
    cr_assert_eq(s->previous_id, 0);
    cr_assert_eq(s->decided_at, 0);
    cr_assert_null(s->decided_by_name);
    cr_assert_eq(s->file_count, 2);
    cr_assert_eq(s->bytes, 13);
    int64_t s1 = s->id;
    store_submission_free(s);
    FAILS(-ENOENT, store_submission_create(st, 9999, sub, "x", NULL, &E));

    /* The snapshot does not follow the workspace. */
    put(ws, "main.py", "print('v2')");
    put(ws, "extra.py", "");
    struct store_file_list *fl;
    OK(store_snapshot_list(st, s1, &fl, &E));
    cr_assert_eq(fl->n, 3);
    cr_assert_str_eq(fl->items[0].path, "data");
    cr_assert_str_eq(fl->items[2].path, "main.py");
    store_file_list_free(fl);
    struct store_file *f;
    OK(store_snapshot_get(st, s1, "main.py", &f, &E));
    cr_assert_str_eq(f->content, "print('v1')");
    store_file_free(f);
    FAILS(-ENOENT, store_snapshot_get(st, s1, "extra.py", &f, &E));
    FAILS(-ENOENT, store_snapshot_list(st, 9999, &fl, &E));

    OK(store_submission_create(st, ws, sub, "v2", &s, &E));
    cr_assert_eq(s->previous_id, s1);
    int64_t s2 = s->id;
    store_submission_free(s);
    int64_t ws2 = mkws(admin, "other");
    OK(store_submission_create(st, ws2, admin, "", &s, &E));
    int64_t s3 = s->id;
    store_submission_free(s);

    /* Pending: oldest first; filter by author. */
    struct store_submission_list *l;
    OK(store_submission_list(st, STORE_SUB_PENDING, 0, 0, 0, &l, &E));
    cr_assert_eq(l->n, 3);
    cr_assert_eq(l->items[0].id, s1);
    cr_assert_eq(l->items[2].id, s3);
    store_submission_list_free(l);
    OK(store_submission_list(st, STORE_SUB_PENDING, sub, 1, 0, &l, &E));
    cr_assert_eq(l->n, 1);
    cr_assert(l->more);
    cr_assert_eq(l->items[0].id, s1);
    store_submission_list_free(l);

    /* Decide: compare-and-set from pending only, with a review record. */
    OK(store_submission_set_status(st, s1, STORE_SUB_REJECTED, rev, "missing tests", &E));
    FAILS(-EALREADY, store_submission_set_status(st, s1, STORE_SUB_APPROVED, rev, "", &E));
    FAILS(-EALREADY, store_submission_set_status(st, s1, STORE_SUB_WITHDRAWN, sub, NULL, &E));
    FAILS(-ENOENT, store_submission_set_status(st, 9999, STORE_SUB_APPROVED, rev, "", &E));
    FAILS(-EINVAL, store_submission_set_status(st, s2, STORE_SUB_PENDING, rev, "", &E));
    OK(store_submission_set_status(st, s2, STORE_SUB_APPROVED, rev, NULL, &E));
    OK(store_submission_set_status(st, s3, STORE_SUB_WITHDRAWN, admin, NULL, &E));
    OK(store_submission_get(st, s1, &s, &E));
    cr_assert_eq(s->status, STORE_SUB_REJECTED);
    cr_assert_eq(s->decided_by, rev);
    cr_assert_str_eq(s->decided_by_name, "rev");
    cr_assert_gt(s->decided_at, 0);
    store_submission_free(s);
    struct store_review_list *rl;
    OK(store_review_list(st, s1, &rl, &E));
    cr_assert_eq(rl->n, 1, "the refused second decision left no review");
    cr_assert_eq(rl->items[0].decision, STORE_SUB_REJECTED);
    cr_assert_str_eq(rl->items[0].comment, "missing tests");
    cr_assert_str_eq(rl->items[0].reviewer_name, "rev");
    store_review_list_free(rl);
    OK(store_review_list(st, s3, &rl, &E));
    cr_assert_eq(rl->n, 0, "withdrawing is not a review");
    store_review_list_free(rl);

    OK(store_submission_list(st, STORE_SUB_ANY, 0, 0, 0, &l, &E));
    cr_assert_eq(l->n, 3);
    cr_assert_eq(l->items[0].id, s3, "newest first");
    store_submission_list_free(l);
    OK(store_submission_list(st, STORE_SUB_APPROVED, 0, 0, 0, &l, &E));
    cr_assert_eq(l->n, 1);
    cr_assert_eq(l->items[0].id, s2);
    store_submission_list_free(l);
    OK(store_submission_list(st, STORE_SUB_ANY, admin, 0, 0, &l, &E));
    cr_assert_eq(l->n, 1);
    cr_assert_eq(l->items[0].status, STORE_SUB_WITHDRAWN);
    store_submission_list_free(l);
    OK(store_submission_list(st, STORE_SUB_PENDING, 0, 0, 0, &l, &E));
    cr_assert_eq(l->n, 0);
    store_submission_list_free(l);

    /* Comments. */
    struct store_comment *c;
    OK(store_comment_add(st, s1, rev, "line comment", "main.py", 1, &c, &E));
    cr_assert_str_eq(c->author_name, "rev");
    cr_assert_str_eq(c->path, "main.py");
    cr_assert_eq(c->line, 1);
    store_comment_free(c);
    OK(store_comment_add(st, s1, sub, "thanks", NULL, 0, &c, &E));
    cr_assert_null(c->path);
    store_comment_free(c);
    FAILS(-ENOENT, store_comment_add(st, 9999, sub, "x", NULL, 0, NULL, &E));
    struct store_comment_list *cl;
    OK(store_comment_list(st, s1, &cl, &E));
    cr_assert_eq(cl->n, 2);
    cr_assert_str_eq(cl->items[0].body, "line comment");
    cr_assert_str_eq(cl->items[1].body, "thanks");
    store_comment_list_free(cl);

    /* A run attached at submission time; a reviewer's run of the snapshot. */
    struct store_run *r;
    OK(store_run_create(
        st, &(struct store_run_new){.workspace_id = ws, .user_id = sub, .entry = "main.py"}, &r,
        &E));
    int64_t run1 = r->id;
    store_run_free(r);
    OK(store_submission_set_run(st, s2, run1, &E));
    FAILS(-ENOENT, store_submission_set_run(st, s2, 9999, &E));
    OK(store_run_create(
        st, &(struct store_run_new){.submission_id = s2, .user_id = rev, .entry = "main.py"}, &r,
        &E));
    int64_t run2 = r->id;
    store_run_free(r);
    struct store_run_list *rls;
    OK(store_run_list(st, 0, s2, 0, 0, &rls, &E));
    cr_assert_eq(rls->n, 2);
    cr_assert_eq(rls->items[0].id, run2);
    store_run_list_free(rls);

    /* The workspace goes; the submissions, snapshots and attached runs stay. */
    OK(store_workspace_delete(st, ws, &E));
    OK(store_submission_get(st, s2, &s, &E));
    cr_assert_eq(s->workspace_id, 0);
    cr_assert_str_eq(s->workspace_name, "homework");
    cr_assert_eq(s->run_id, run1);
    store_submission_free(s);
    OK(store_snapshot_get(st, s2, "main.py", &f, &E));
    cr_assert_str_eq(f->content, "print('v2')");
    store_file_free(f);
    OK(store_run_get(st, run1, &r, &E));
    cr_assert_eq(r->workspace_id, 0);
    cr_assert_eq(r->submission_id, s2);
    store_run_free(r);
}

struct decider {
    int64_t sub, reviewer;
    int rc;
};

static void *decide(void *arg)
{
    struct decider *d = arg;
    d->rc = store_submission_set_status(st, d->sub,
                                        d->reviewer % 2 ? STORE_SUB_APPROVED : STORE_SUB_REJECTED,
                                        d->reviewer, "verdict", NULL);
    return NULL;
}

BOTH(deciding_twice_at_once)
{
    int64_t author = mkuser("author");
    int64_t ws = mkws(author, "w");
    struct store_submission *s;
    OK(store_submission_create(st, ws, author, "", &s, &E));
    enum { N = 6 };
    pthread_t t[N];
    struct decider d[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof(name), "rev%d", i);
        d[i] = (struct decider){.sub = s->id, .reviewer = mkuser(name)};
    }
    for (int i = 0; i < N; i++)
        pthread_create(&t[i], NULL, decide, &d[i]);
    int won = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert(d[i].rc == 0 || d[i].rc == -EALREADY, "rc %d", d[i].rc);
        won += d[i].rc == 0;
    }
    cr_assert_eq(won, 1);
    struct store_review_list *rl;
    OK(store_review_list(st, s->id, &rl, &E));
    cr_assert_eq(rl->n, 1);
    store_review_list_free(rl);
    store_submission_free(s);
}

BOTH(empty_lists)
{
    int64_t u = mkuser("alice");
    int64_t ws = mkws(u, "w");
    struct store_file_list *l;
    OK(store_file_list(st, ws, false, &l, &E));
    cr_assert_eq(l->n, 0);
    store_file_list_free(l);
    OK(store_file_list(st, ws, true, &l, &E));
    cr_assert_eq(l->n, 0);
    store_file_list_free(l);
    struct store_submission *s;
    OK(store_submission_create(st, ws, u, "empty", &s, &E));
    OK(store_snapshot_list(st, s->id, &l, &E));
    cr_assert_eq(l->n, 0);
    store_file_list_free(l);
    store_submission_free(s);
    struct store_run_list *rl;
    OK(store_run_list(st, ws, 0, 10, 0, &rl, &E));
    cr_assert_eq(rl->n, 0);
    cr_assert_not(rl->more);
    store_run_list_free(rl);
}

/* ---- audit, leases ----------------------------------------------------------------- */

BOTH(audit)
{
    int64_t a = mkuser("alice");
    OK(store_audit_append(st, a, "login", "user:1", "{\"ip\":\"127.0.0.1\"}", &E));
    OK(store_audit_append(st, 0, "login_failed", "user:mallory", NULL, &E));
    OK(store_audit_append(st, a, "role_change", "user:2", "reviewer", &E));
    FAILS(-EINVAL, store_audit_append(st, a, "", "", "", &E));
    struct store_audit_list *l;
    OK(store_audit_list(st, 2, 0, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert(l->more);
    cr_assert_str_eq(l->items[0].action, "role_change");
    cr_assert_str_eq(l->items[0].actor_name, "alice");
    cr_assert_eq(l->items[1].actor_id, 0);
    cr_assert_null(l->items[1].actor_name);
    cr_assert_str_eq(l->items[1].detail, "");
    store_audit_list_free(l);
    OK(store_audit_list(st, 2, 2, &l, &E));
    cr_assert_eq(l->n, 1);
    cr_assert_str_eq(l->items[0].detail, "{\"ip\":\"127.0.0.1\"}");
    cr_assert_gt(l->items[0].at, 0);
    store_audit_list_free(l);
}

BOTH(leases)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    struct store_lease *l;
    FAILS(-ENOENT, store_lease_get(st, ws, &l, &E));
    OK(store_lease_acquire(st, ws, "node-a", 60000, &l, &E));
    cr_assert_str_eq(l->node, "node-a");
    int64_t exp = l->expires_at;
    store_lease_free(l);
    FAILS(-EBUSY, store_lease_acquire(st, ws, "node-b", 60000, &l, &E));
    usleep(2000);
    OK(store_lease_acquire(st, ws, "node-a", 60000, &l, &E)); /* renew */
    cr_assert_gt(l->expires_at, exp);
    store_lease_free(l);
    OK(store_lease_get(st, ws, &l, &E));
    cr_assert_str_eq(l->node, "node-a");
    store_lease_free(l);
    FAILS(-ENOENT, store_lease_release(st, ws, "node-b", &E));
    OK(store_lease_release(st, ws, "node-a", &E));
    FAILS(-ENOENT, store_lease_get(st, ws, &l, &E));
    /* An expired lease can be taken by anyone. */
    OK(store_lease_acquire(st, ws, "node-a", 1, NULL, &E));
    usleep(5000);
    FAILS(-ENOENT, store_lease_get(st, ws, &l, &E));
    OK(store_lease_acquire(st, ws, "node-b", 60000, &l, &E));
    cr_assert_str_eq(l->node, "node-b");
    store_lease_free(l);
    FAILS(-ENOENT, store_lease_acquire(st, 9999, "node-a", 1000, NULL, &E));
    OK(store_workspace_delete(st, ws, &E));
}

/* ---- the pool under load, crash safety --------------------------------------------- */

struct mixer {
    int64_t ws;
    int id;
    int failures;
};

static void *mixer(void *arg)
{
    struct mixer *m = arg;
    char path[32];
    for (int i = 0; i < 50; i++) {
        snprintf(path, sizeof(path), "m%d/%d", m->id, i % 5);
        if (store_file_put(st, m->ws, path, "x", 1, NULL, NULL, NULL, NULL, NULL) < 0)
            m->failures++;
        struct store_file_list *l;
        if (store_file_list(st, m->ws, false, &l, NULL) < 0)
            m->failures++;
        else
            store_file_list_free(l);
        if (store_ping(st, NULL) < 0)
            m->failures++;
    }
    return NULL;
}

BOTH(pool_many_threads)
{
    /* 12 threads over a pool of 4 connections: they queue, nothing fails. */
    int64_t ws = mkws(mkuser("alice"), "w");
    enum { N = 12 };
    pthread_t t[N];
    struct mixer m[N];
    for (int i = 0; i < N; i++) {
        m[i] = (struct mixer){.ws = ws, .id = i};
        pthread_create(&t[i], NULL, mixer, &m[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(m[i].failures, 0, "thread %d", i);
    }
    check_totals(ws);
}

BOTH(acknowledged_write_survives_kill9)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* The child: its own store (as a restarted server would have), writes, and tells
         * the parent after each acknowledged write; then keeps writing until killed. */
        struct store *c;
        if (store_open(url, NULL, &c, NULL) < 0)
            _exit(1);
        char path[32], body[64];
        for (int i = 0;; i++) {
            snprintf(path, sizeof(path), "f%d.txt", i % 200);
            int n = snprintf(body, sizeof(body), "write %d", i);
            if (store_file_put(c, ws, path, body, (size_t)n, NULL, NULL, NULL, NULL, NULL) < 0)
                _exit(2);
            if (write(fds[1], &i, sizeof(i)) != sizeof(i))
                _exit(3);
        }
    }
    close(fds[1]);
    int last = -1, i;
    while (last < 300 && read(fds[0], &i, sizeof(i)) == sizeof(i))
        last = i;
    kill(pid, SIGKILL);
    /* Writes acknowledged after our last read may also be there; none may be missing. */
    while (read(fds[0], &i, sizeof(i)) == sizeof(i))
        last = i;
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    cr_assert(WIFSIGNALED(status), "the writer was killed (status %d)", status);
    cr_assert_geq(last, 300);

    /* Reopen as a restarted server would, and read the last acknowledged write back. */
    store_close(st);
    st = NULL;
    OK(store_open(url, NULL, &st, &E));
    OK(store_migrate(st, NULL, &E));
    char path[32], body[64];
    snprintf(path, sizeof(path), "f%d.txt", last % 200);
    snprintf(body, sizeof(body), "write %d", last);
    struct store_file *f;
    OK(store_file_get(st, ws, path, true, &f, &E));
    cr_assert_str_eq(f->content, body);
    store_file_free(f);
    check_totals(ws);
}

/* PostgreSQL restarts (here: every session of ours killed): readers recover at once, the
 * next write works, nothing is lost. */
Test(postgres, survives_lost_connections, .init = setup_pg, .fini = teardown)
{
    int64_t ws = mkws(mkuser("alice"), "w");
    put(ws, "a.txt", "before");
    for (int round = 0; round < 2; round++) {
        pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND pid <> pg_backend_pid()");
        struct store_file *f;
        if (round == 1)
            put(ws, "c.txt", "write first"); /* BEGIN is retried on a new session */
        OK(store_file_get(st, ws, "a.txt", true, &f, &E));
        cr_assert_str_eq(f->content, "before");
        store_file_free(f);
        OK(store_ping(st, &E));
        put(ws, "b.txt", "after");
    }
    check_totals(ws);
}

/* A run's write-back is one transaction: a failure in the middle stores nothing of it,
 * while a refused change (a precondition) is skipped and the rest is stored. */
BOTH(files_apply_is_all_or_nothing)
{
    int64_t u = mkuser("applier");
    int64_t ws = mkws(u, "w");
    OK(store_file_put(st, ws, "keep.py", "v1", 2, NULL, NULL, NULL, NULL, &E));
    struct store_file *f = NULL;
    OK(store_file_get(st, ws, "keep.py", false, &f, &E));
    char etag[STORE_ETAG_LEN + 1];
    memcpy(etag, f->etag, sizeof(etag));
    store_file_free(f);

    struct store_change ok[] = {
        {.op = STORE_CHANGE_PUT, .path = "new/a.py", .data = "a", .len = 1, .create_only = true},
        {.op = STORE_CHANGE_PUT, .path = "keep.py", .data = "v2", .len = 2, .if_match = "stale"},
        {.op = STORE_CHANGE_FOLDER, .path = "empty"},
    };
    OK(store_files_apply(st, ws, ok, 3, NULL, &E));
    cr_assert_eq(ok[0].rc, 0);
    cr_assert_eq(ok[1].rc, -ESTALE); /* refused, the others go on */
    cr_assert_eq(ok[2].rc, 0);
    OK(store_file_get(st, ws, "new/a.py", false, &f, &E));
    cr_assert_str_eq(f->etag, ok[0].etag);
    store_file_free(f);

    /* A hard failure in the middle (a trigger refuses one insert): nothing is stored. */
    struct db db;
    OK(conn_get(st, &db, &E));
    if (db.drv->dialect == DB_SQLITE) {
        OK(db.drv->exec(db.conn,
                        "CREATE TRIGGER boom BEFORE INSERT ON files WHEN NEW.path = 'boom.txt'"
                        " BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                        &E));
    } else {
        OK(db.drv->exec(db.conn,
                        "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN"
                        " IF NEW.path = 'boom.txt' THEN RAISE EXCEPTION 'boom'; END IF;"
                        " RETURN NEW; END $$ LANGUAGE plpgsql;"
                        "CREATE TRIGGER boom BEFORE INSERT ON files FOR EACH ROW"
                        " EXECUTE FUNCTION boom();",
                        &E));
    }
    conn_put(&db);
    struct store_change bad[] = {
        {.op = STORE_CHANGE_PUT, .path = "keep.py", .data = "v3", .len = 2, .if_match = etag},
        {.op = STORE_CHANGE_DELETE, .path = "new/a.py"},
        {.op = STORE_CHANGE_PUT, .path = "boom.txt", .data = "x", .len = 1},
        {.op = STORE_CHANGE_PUT, .path = "after.py", .data = "y", .len = 1},
    };
    cr_assert_lt(store_files_apply(st, ws, bad, 4, NULL, &E), 0);
    OK(store_file_get(st, ws, "keep.py", true, &f, &E));
    cr_assert_eq(f->size, 2);
    cr_assert_eq(memcmp(f->content, "v1", 2), 0, "keep.py changed by a failed batch");
    store_file_free(f);
    struct store_version_list *vl = NULL; /* and its history did not change either */
    OK(store_version_list(st, ws, "keep.py", 0, 0, &vl, &E));
    cr_assert_eq(vl->n, 1);
    store_version_list_free(vl);
    OK(store_file_get(st, ws, "new/a.py", false, &f, &E)); /* not deleted */
    store_file_free(f);
    FAILS(-ENOENT, store_file_get(st, ws, "after.py", false, NULL, &E));
}

/* ---- history and members (issue 17) ----------------------------------------------------- */

static int64_t nversions(int64_t ws, const char *path)
{
    struct store_version_list *l = NULL;
    OK(store_version_list(st, ws, path, 0, 0, &l, &E));
    int64_t n = (int64_t)l->n;
    store_version_list_free(l);
    return n;
}

/* Every put is a version, by whichever call wrote it; a failed batch leaves none. */
BOTH(history_follows_every_write)
{
    int64_t u = mkuser("historian");
    int64_t ws = mkws(u, "w");
    struct store_cond by = {.author = u, .source = STORE_SOURCE_SAVE};
    OK(store_file_put(st, ws, "a.py", "v1", 2, &by, NULL, NULL, NULL, &E));
    OK(store_file_put(st, ws, "a.py", "v1", 2, &by, NULL, NULL, NULL, &E)); /* same bytes */
    cr_assert_eq(nversions(ws, "a.py"), 1);
    struct store_change ch[] = {
        {.op = STORE_CHANGE_PUT,
         .path = "a.py",
         .data = "v2",
         .len = 2,
         .source = STORE_SOURCE_RUN},
    };
    OK(store_files_apply(st, ws, ch, 1, NULL, &E));
    struct store_version_list *l = NULL;
    OK(store_version_list(st, ws, "a.py", 0, 0, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert_eq(l->items[0].version, 2);
    cr_assert_eq(l->items[0].source, STORE_SOURCE_RUN);
    cr_assert_eq(l->items[0].author_id, 0);
    cr_assert_null(l->items[0].author_name);
    cr_assert_eq(l->items[1].author_id, u);
    cr_assert_str_eq(l->items[1].author_name, "historian");
    store_version_list_free(l);
    struct store_version *v = NULL;
    OK(store_version_get(st, ws, "a.py", 1, true, &v, &E));
    cr_assert_eq(v->size, 2);
    cr_assert_eq(memcmp(v->content, "v1", 3), 0); /* NUL-terminated */
    store_version_free(v);
    FAILS(-ENOENT, store_version_get(st, ws, "a.py", 3, false, NULL, &E));

    /* A refused put (stale) adds no version (a failed batch: files_apply_is_all_or_nothing). */
    struct store_cond stale = {.if_match = "nope"};
    FAILS(-ESTALE, store_file_put(st, ws, "a.py", "v9", 2, &stale, NULL, NULL, NULL, &E));
    cr_assert_eq(nversions(ws, "a.py"), 2);

    /* Versions outlive the file; the workspace takes them along. */
    OK(store_file_delete(st, ws, "a.py", NULL, NULL, &E));
    cr_assert_eq(nversions(ws, "a.py"), 2);
    OK(store_workspace_delete(st, ws, &E));
    cr_assert_eq(nversions(ws, "a.py"), 0);
}

BOTH(history_budget)
{
    int64_t u = mkuser("budget");
    int64_t ws = mkws(u, "w");
    struct store_limits lim = {.history_versions = 2, .history_bytes = 10};
    char text[8];
    for (int i = 1; i <= 4; i++) {
        snprintf(text, sizeof(text), "%d", i);
        OK(store_file_put(st, ws, "a", text, 1, NULL, &lim, NULL, NULL, &E));
    }
    struct store_version_list *l = NULL;
    OK(store_version_list(st, ws, "a", 0, 0, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert_eq(l->items[0].version, 4);
    cr_assert_eq(l->items[1].version, 3);
    store_version_list_free(l);
    /* 9 bytes of b push a's version 3 out (1 + 1 + 9 > 10), never a's newest. */
    OK(store_file_put(st, ws, "b", "bbbbbbbbb", 9, NULL, &lim, NULL, NULL, &E));
    cr_assert_eq(nversions(ws, "a"), 1);
    OK(store_file_put(st, ws, "b", "BBBBBBBBBBBB", 12, NULL, &lim, NULL, NULL, &E));
    cr_assert_eq(nversions(ws, "a"), 1);
    cr_assert_eq(nversions(ws, "b"), 1); /* the newest stays even past the budget */
    /* Numbers are never reused after pruning. */
    OK(store_file_put(st, ws, "a", "5", 1, NULL, &lim, NULL, NULL, &E));
    struct store_version *v = NULL;
    OK(store_version_get(st, ws, "a", 5, false, &v, &E));
    store_version_free(v);
}

BOTH(members)
{
    int64_t owner = mkuser("owner");
    int64_t ann = mkuser("ann"), bob = mkuser("Bob");
    int64_t ws = mkws(owner, "shared"), other = mkws(ann, "ann's");
    enum store_member_role role;
    FAILS(-ENOENT, store_member_get(st, ws, ann, &role, &E));
    FAILS(-EINVAL, store_member_set(st, ws, ann, STORE_MEMBER_OWNER, NULL, &E));
    FAILS(-EINVAL, store_member_set(st, ws, ann, STORE_MEMBER_NONE, NULL, &E));
    bool added = false;
    OK(store_member_set(st, ws, ann, STORE_MEMBER_VIEWER, &added, &E));
    cr_assert(added);
    OK(store_member_set(st, ws, ann, STORE_MEMBER_EDITOR, &added, &E));
    cr_assert_not(added);
    OK(store_member_get(st, ws, ann, &role, &E));
    cr_assert_eq(role, STORE_MEMBER_EDITOR);
    OK(store_member_set(st, ws, bob, STORE_MEMBER_VIEWER, NULL, &E));
    cr_assert_lt(store_member_set(st, 99999, bob, STORE_MEMBER_VIEWER, NULL, &E), 0);
    struct store_member_list *l = NULL;
    OK(store_member_list(st, ws, &l, &E));
    cr_assert_eq(l->n, 2);
    cr_assert_str_eq(l->items[0].username, "ann"); /* by name, ignoring case */
    cr_assert_str_eq(l->items[1].username, "Bob");
    store_member_list_free(l);

    /* ann sees her own workspace and the shared one, with her role in each. */
    struct store_workspace_list *wl = NULL;
    OK(store_workspace_list_shared(st, ann, 0, 0, &wl, &E));
    cr_assert_eq(wl->n, 2);
    cr_assert_eq(wl->items[0].id, other);
    cr_assert_eq(wl->items[0].member_role, STORE_MEMBER_OWNER);
    cr_assert_eq(wl->items[1].id, ws);
    cr_assert_eq(wl->items[1].member_role, STORE_MEMBER_EDITOR);
    store_workspace_list_free(wl);
    /* ... while the owner's own list (the max-workspaces count) is unchanged. */
    OK(store_workspace_list(st, ann, 0, 0, &wl, &E));
    cr_assert_eq(wl->n, 1);
    store_workspace_list_free(wl);

    OK(store_member_delete(st, ws, ann, &E));
    FAILS(-ENOENT, store_member_delete(st, ws, ann, &E));
    FAILS(-ENOENT, store_member_get(st, ws, ann, &role, &E));
    OK(store_workspace_list_shared(st, ann, 0, 0, &wl, &E));
    cr_assert_eq(wl->n, 1);
    store_workspace_list_free(wl);
}
