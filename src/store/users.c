/*
 * users: accounts, sessions, API tokens and the audit log.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define USER_COLS "u.id, u.username, u.role, u.disabled, u.created_at"

/* ---- users ------------------------------------------------------------------------- */

void user_done(struct store_user *u)
{
    if (!u)
        return;
    free(u->username);
    free(u->password_hash);
}

static void user_done_v(void *p)
{
    user_done(p);
}

/* Reads USER_COLS starting at column `at`. */
static int read_user_at(struct db *db, struct db_stmt *s, int at, struct store_user *u)
{
    int rc = 0;
    u->id = col_int(db, s, at);
    u->username = col_strdup(db, s, at + 1, &rc);
    const char *role = col_text(db, s, at + 2);
    if (store_role_parse(role, &u->role) < 0)
        u->role = STORE_ROLE_SUBMITTER;
    u->disabled = col_int(db, s, at + 3) != 0;
    u->created_at = col_int(db, s, at + 4);
    return rc;
}

static int read_user(struct db *db, struct db_stmt *s, void *out)
{
    return read_user_at(db, s, 0, out);
}

/* USER_COLS then password_hash. */
static int read_user_hash(struct db *db, struct db_stmt *s, void *out)
{
    struct store_user *u = out;
    int rc = read_user_at(db, s, 0, u);
    u->password_hash = col_strdup(db, s, 5, &rc);
    return rc;
}

/* Usernames are unique ignoring ASCII case (they are ASCII by the API's rule). */
static char *username_key(const char *name)
{
    char *k = strdup(name);
    for (char *p = k; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return k;
}

static int user_fetch(struct store *st, const char *sql, const char *key, int64_t id,
                      struct store_user **ret, struct err *err)
{
    struct db db;
    struct store_user *u = calloc(1, sizeof(*u));
    if (!u)
        return err_set(err, ENOMEM, "user");
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        if (key)
            rc = fetch_one(&db, u, sizeof(*u), read_user_hash, user_done_v, sql, err, "t", key);
        else
            rc = fetch_one(&db, u, sizeof(*u), read_user_hash, user_done_v, sql, err, "i", id);
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_user_free(u);
        return rc;
    }
    *ret = u;
    return 0;
}

int store_user_create(struct store *st, const char *username, const char *password_hash,
                      enum store_role role, bool first_is_admin, struct store_user **ret,
                      struct err *err)
{
    if (!username || !*username || !password_hash || (unsigned)role > STORE_ROLE_ADMIN)
        return err_set(err, EINVAL, "user create: bad arguments");
    char *key = username_key(username);
    if (!key)
        return err_set(err, ENOMEM, "user create");
    struct db db;
    int64_t id = 0, n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        goto out;
    rc = db_begin(&db, true, err);
    if (rc < 0)
        goto put;
    if (first_is_admin) {
        /* Serialise user creation (PostgreSQL: a row lock held to commit; SQLite already
         * holds the write lock), then look: the first one in is the admin. */
        rc = db_run(&db, NULL, "UPDATE locks SET n = n + 1 WHERE name = 'users'", err, "");
        if (rc >= 0) {
            int64_t any;
            rc = db_row_ints(&db, &any, 1, "SELECT id FROM users LIMIT 1", err, "");
            if (rc == -ENOENT) {
                role = STORE_ROLE_ADMIN;
                rc = 0;
            }
        }
    }
    if (rc >= 0) {
        rc = db_row_ints(&db, &n, 1, "SELECT id FROM users WHERE username_key = ?", err, "t", key);
        if (rc == 0)
            rc = err_set(err, EEXIST, "user '%s'", username);
        else if (rc == -ENOENT)
            rc = 0;
    }
    if (rc >= 0)
        rc = db_row_ints(&db, &id, 1,
                         "INSERT INTO users (username, username_key, password_hash, role,"
                         " disabled, created_at) VALUES (?, ?, ?, ?, 0, ?) RETURNING id",
                         err, "tttti", username, key, password_hash, store_role_name(role),
                         store_now_ms());
    rc = db_end(&db, rc, err);
put:
    conn_put(&db);
out:
    free(key);
    if (rc < 0)
        return rc;
    return ret ? store_user_get(st, id, ret, err) : 0;
}

int store_user_get(struct store *st, int64_t id, struct store_user **ret, struct err *err)
{
    return user_fetch(st, "SELECT " USER_COLS ", u.password_hash FROM users u WHERE u.id = ?", NULL,
                      id, ret, err);
}

int store_user_get_by_name(struct store *st, const char *username, struct store_user **ret,
                           struct err *err)
{
    char *key = username ? username_key(username) : NULL;
    if (!key)
        return err_set(err, username ? ENOMEM : EINVAL, "user by name");
    int rc = user_fetch(
        st, "SELECT " USER_COLS ", u.password_hash FROM users u WHERE u.username_key = ?", key, 0,
        ret, err);
    free(key);
    return rc;
}

int store_user_list(struct store *st, int limit, int offset, struct store_user_list **ret,
                    struct err *err)
{
    return LIST_QUERY(st, ret, read_user, user_done_v, limit,
                      "SELECT " USER_COLS " FROM users u ORDER BY u.id LIMIT ? OFFSET ?", err, "ii",
                      sql_limit(limit), sql_offset(offset));
}

/* Runs one UPDATE/DELETE on a borrowed connection; -ENOENT when it changed nothing. */
static int run_one(struct store *st, const char *sql, struct err *err, const char *what,
                   const char *fmt, int64_t a, int64_t b, const char *t)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    if (t)
        rc = db_run(&db, &n, sql, err, fmt, t, a);
    else
        rc = db_run(&db, &n, sql, err, fmt, a, b);
    conn_put(&db);
    if (rc == 0 && n == 0)
        rc = err_set(err, ENOENT, "%s", what);
    return rc;
}

int store_user_set_role(struct store *st, int64_t id, enum store_role role, struct err *err)
{
    if ((unsigned)role > STORE_ROLE_ADMIN)
        return err_set(err, EINVAL, "bad role");
    return run_one(st, "UPDATE users SET role = ? WHERE id = ?", err, "user", "ti", id, 0,
                   store_role_name(role));
}

int store_user_set_password(struct store *st, int64_t id, const char *password_hash,
                            struct err *err)
{
    if (!password_hash)
        return err_set(err, EINVAL, "no password hash");
    return run_one(st, "UPDATE users SET password_hash = ? WHERE id = ?", err, "user", "ti", id, 0,
                   password_hash);
}

int store_user_set_disabled(struct store *st, int64_t id, bool disabled, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        rc = db_run(&db, &n, "UPDATE users SET disabled = ? WHERE id = ?", err, "ii",
                    (int64_t)disabled, id);
        if (rc == 0 && n == 0)
            rc = err_set(err, ENOENT, "user");
        if (rc == 0 && disabled)
            rc = db_run(&db, NULL, "DELETE FROM sessions WHERE user_id = ?", err, "i", id);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    return rc;
}

void store_user_free(struct store_user *u)
{
    user_done(u);
    free(u);
}

void store_user_list_free(struct store_user_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), user_done_v);
    free(l);
}

/* ---- sessions ---------------------------------------------------------------------- */

#define SESSION_SELECT                                                                             \
    "SELECT s.id, s.user_id, s.csrf, s.created_at, s.expires_at, s.last_used_at, " USER_COLS       \
    " FROM sessions s JOIN users u ON u.id = s.user_id"

static void session_done(void *p)
{
    struct store_session *s = p;
    free(s->csrf);
    user_done(&s->user);
}

static int read_session(struct db *db, struct db_stmt *st, void *out)
{
    struct store_session *s = out;
    int rc = 0;
    s->id = col_int(db, st, 0);
    s->user_id = col_int(db, st, 1);
    s->csrf = col_strdup(db, st, 2, &rc);
    s->created_at = col_int(db, st, 3);
    s->expires_at = col_int(db, st, 4);
    s->last_used_at = col_int(db, st, 5);
    int r2 = read_user_at(db, st, 6, &s->user);
    return rc < 0 ? rc : r2;
}

static int session_fetch(struct db *db, const char *sql, struct store_session **ret,
                         struct err *err, const char *fmt, const char *t, int64_t a, int64_t b)
{
    struct store_session *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, ENOMEM, "session");
    int rc;
    if (t)
        rc = fetch_one(db, s, sizeof(*s), read_session, session_done, sql, err, fmt, t, a);
    else
        rc = fetch_one(db, s, sizeof(*s), read_session, session_done, sql, err, fmt, a, b);
    if (rc < 0 || !ret) {
        store_session_free(s);
        return rc;
    }
    *ret = s;
    return 0;
}

int store_session_create(struct store *st, int64_t user_id, const char *token_hash,
                         const char *csrf, int64_t expires_at, struct store_session **ret,
                         struct err *err)
{
    if (!token_hash || !*token_hash)
        return err_set(err, EINVAL, "session: no token hash");
    struct db db;
    int64_t id = 0, now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_row_ints(&db, &id, 1,
                     "INSERT INTO sessions (user_id, token_hash, csrf, created_at, expires_at,"
                     " last_used_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                     err, "ittiii", user_id, token_hash, csrf, now, expires_at, now);
    if (rc == 0 && ret)
        rc = session_fetch(&db, SESSION_SELECT " WHERE s.id = ?", ret, err, "i", NULL, id, 0);
    conn_put(&db);
    return rc;
}

int store_session_lookup(struct store *st, const char *token_hash, struct store_session **ret,
                         struct err *err)
{
    if (!token_hash)
        return err_set(err, EINVAL, "session: no token hash");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = session_fetch(
        &db, SESSION_SELECT " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0", ret,
        err, "ti", token_hash, store_now_ms(), 0);
    conn_put(&db);
    return rc;
}

int store_session_touch(struct store *st, int64_t session_id, int64_t expires_at, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n, "UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?", err,
                "iii", store_now_ms(), expires_at, session_id);
    conn_put(&db);
    if (rc == 0 && n == 0)
        rc = err_set(err, ENOENT, "session");
    return rc;
}

int store_session_delete(struct store *st, const char *token_hash, struct err *err)
{
    if (!token_hash)
        return err_set(err, EINVAL, "session: no token hash");
    return run_one(st, "DELETE FROM sessions WHERE token_hash = ?", err, "session", "t", 0, 0,
                   token_hash);
}

int store_session_delete_user(struct store *st, int64_t user_id, struct err *err)
{
    int rc = run_one(st, "DELETE FROM sessions WHERE user_id = ?", err, "sessions", "i", user_id, 0,
                     NULL);
    return rc == -ENOENT ? 0 : rc;
}

int store_session_purge(struct store *st, int *ret_count, struct err *err)
{
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, &n, "DELETE FROM sessions WHERE expires_at <= ?", err, "i", store_now_ms());
    conn_put(&db);
    if (rc == 0 && ret_count)
        *ret_count = (int)n;
    return rc;
}

void store_session_free(struct store_session *s)
{
    if (!s)
        return;
    session_done(s);
    free(s);
}

/* ---- API tokens -------------------------------------------------------------------- */

#define TOKEN_COLS "t.id, t.user_id, t.name, t.created_at, t.last_used_at"

static void token_done(void *p)
{
    struct store_token *t = p;
    free(t->name);
    user_done(&t->user);
}

static int read_token(struct db *db, struct db_stmt *s, void *out)
{
    struct store_token *t = out;
    int rc = 0;
    t->id = col_int(db, s, 0);
    t->user_id = col_int(db, s, 1);
    t->name = col_strdup(db, s, 2, &rc);
    t->created_at = col_int(db, s, 3);
    t->last_used_at = col_int(db, s, 4);
    return rc;
}

static int read_token_user(struct db *db, struct db_stmt *s, void *out)
{
    struct store_token *t = out;
    int rc = read_token(db, s, out);
    int r2 = read_user_at(db, s, 5, &t->user);
    return rc < 0 ? rc : r2;
}

int store_token_create(struct store *st, int64_t user_id, const char *name, const char *token_hash,
                       struct store_token **ret, struct err *err)
{
    if (!name || !token_hash || !*token_hash)
        return err_set(err, EINVAL, "token: bad arguments");
    struct store_token *t = calloc(1, sizeof(*t));
    if (!t)
        return err_set(err, ENOMEM, "token");
    struct db db;
    int64_t id = 0;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = db_row_ints(&db, &id, 1,
                         "INSERT INTO api_tokens (user_id, name, token_hash, created_at,"
                         " last_used_at) VALUES (?, ?, ?, ?, 0) RETURNING id",
                         err, "itti", user_id, name, token_hash, store_now_ms());
        if (rc == 0)
            rc = fetch_one(&db, t, sizeof(*t), read_token, token_done,
                           "SELECT " TOKEN_COLS " FROM api_tokens t WHERE t.id = ?", err, "i", id);
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_token_free(t);
        return rc;
    }
    *ret = t;
    return 0;
}

int store_token_list(struct store *st, int64_t user_id, struct store_token_list **ret,
                     struct err *err)
{
    return LIST_QUERY(st, ret, read_token, token_done, 0,
                      "SELECT " TOKEN_COLS " FROM api_tokens t WHERE t.user_id = ? ORDER BY t.id",
                      err, "i", user_id);
}

int store_token_delete(struct store *st, int64_t user_id, int64_t id, struct err *err)
{
    return run_one(st, "DELETE FROM api_tokens WHERE id = ? AND user_id = ?", err, "token", "ii",
                   id, user_id, NULL);
}

int store_token_lookup(struct store *st, const char *token_hash, struct store_token **ret,
                       struct err *err)
{
    if (!token_hash)
        return err_set(err, EINVAL, "token: no hash");
    struct store_token *t = calloc(1, sizeof(*t));
    if (!t)
        return err_set(err, ENOMEM, "token");
    struct db db;
    int64_t now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_one(&db, t, sizeof(*t), read_token_user, token_done,
                       "SELECT " TOKEN_COLS ", " USER_COLS " FROM api_tokens t"
                       " JOIN users u ON u.id = t.user_id"
                       " WHERE t.token_hash = ? AND u.disabled = 0",
                       err, "t", token_hash);
        /* Write at most once a minute per token: most requests stay read-only. */
        if (rc == 0 && now - t->last_used_at >= 60000) {
            rc = db_run(&db, NULL, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", err, "ii",
                        now, t->id);
            t->last_used_at = now;
        }
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_token_free(t);
        return rc;
    }
    *ret = t;
    return 0;
}

void store_token_free(struct store_token *t)
{
    if (!t)
        return;
    token_done(t);
    free(t);
}

void store_token_list_free(struct store_token_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), token_done);
    free(l);
}

/* ---- audit log --------------------------------------------------------------------- */

static void audit_done(void *p)
{
    struct store_audit *a = p;
    free(a->actor_name);
    free(a->action);
    free(a->target);
    free(a->detail);
}

static int read_audit(struct db *db, struct db_stmt *s, void *out)
{
    struct store_audit *a = out;
    int rc = 0;
    a->id = col_int(db, s, 0);
    a->at = col_int(db, s, 1);
    a->actor_id = col_int(db, s, 2);
    a->actor_name = col_strdup(db, s, 3, &rc);
    a->action = col_strdup(db, s, 4, &rc);
    a->target = col_strdup(db, s, 5, &rc);
    a->detail = col_strdup(db, s, 6, &rc);
    return rc;
}

int store_audit_append(struct store *st, int64_t actor_id, const char *action, const char *target,
                       const char *detail, struct err *err)
{
    if (!action || !*action)
        return err_set(err, EINVAL, "audit: no action");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_run(&db, NULL,
                "INSERT INTO audit (at, actor_id, action, target, detail)"
                " VALUES (?, NULLIF(?, 0), ?, ?, ?)",
                err, "iittt", store_now_ms(), actor_id, action, target ? target : "",
                detail ? detail : "");
    conn_put(&db);
    return rc;
}

int store_audit_list(struct store *st, int limit, int offset, struct store_audit_list **ret,
                     struct err *err)
{
    return LIST_QUERY(st, ret, read_audit, audit_done, limit,
                      "SELECT a.id, a.at, a.actor_id, u.username, a.action, a.target, a.detail"
                      " FROM audit a LEFT JOIN users u ON u.id = a.actor_id"
                      " ORDER BY a.id DESC LIMIT ? OFFSET ?",
                      err, "ii", sql_limit(limit), sql_offset(offset));
}

void store_audit_list_free(struct store_audit_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), audit_done);
    free(l);
}
