/*
 * files: workspaces' file trees (workspaces.c has the workspaces, leases.c the leases).
 *
 * Every change to a workspace's files is one write transaction that starts by updating
 * the workspace row (updated_at), which also locks it on PostgreSQL: changes to one
 * workspace are serialised, so the counters kept in that row (file_count, entry_count,
 * bytes) and the limit checks made from them are exact. Subtrees are found by range:
 * the entries under folder P are P/ <= path < P0 ('0' follows '/' in byte order).
 */
#include "store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- files ------------------------------------------------------------------------- */

#define FILE_COLS "path, kind, size, etag, updated_at"

void file_done(struct store_file *f)
{
    if (!f)
        return;
    free(f->path);
    free(f->content);
}

static void file_done_v(void *p)
{
    file_done(p);
}

static int read_file_meta(struct db *db, struct db_stmt *s, struct store_file *f)
{
    int rc = 0;
    f->path = col_strdup(db, s, 0, &rc);
    const char *kind = col_text(db, s, 1);
    f->kind = kind && strcmp(kind, "folder") == 0 ? STORE_KIND_FOLDER : STORE_KIND_FILE;
    f->size = col_int(db, s, 2);
    const char *etag = col_text(db, s, 3);
    snprintf(f->etag, sizeof(f->etag), "%s", etag ? etag : "");
    f->updated_at = col_int(db, s, 4);
    return rc;
}

static int read_file(struct db *db, struct db_stmt *s, void *out)
{
    return read_file_meta(db, s, out);
}

static int read_file_content(struct db *db, struct db_stmt *s, void *out)
{
    struct store_file *f = out;
    int rc = read_file_meta(db, s, f);
    size_t len;
    if (f->path && f->kind == STORE_KIND_FILE) {
        f->content = col_blobdup(db, s, 5, &len, &rc);
        if (!f->content && rc == 0)
            f->content = calloc(1, 1); /* an empty file still has (empty) content */
        if (!f->content)
            rc = -ENOMEM;
    }
    return rc;
}

/* The store's own guard (the workspace path rules are the real check): the parent and
 * subtree logic needs non-empty segments without a leading or trailing '/'. */
static bool path_ok(const char *p)
{
    if (!p || !*p || *p == '/')
        return false;
    for (; *p; p++)
        if (*p == '/' && (p[1] == '/' || p[1] == '\0'))
            return false;
    return true;
}

/* Bounds of the subtree below path: lo = "path/", hi = "path0". malloc'd. */
static int subtree_bounds(const char *path, char **lo, char **hi)
{
    size_t n = strlen(path);
    *lo = malloc(n + 2);
    *hi = malloc(n + 2);
    if (!*lo || !*hi) {
        free(*lo);
        free(*hi);
        return -ENOMEM;
    }
    memcpy(*lo, path, n);
    memcpy(*hi, path, n);
    (*lo)[n] = '/';
    (*hi)[n] = '0';
    (*lo)[n + 1] = (*hi)[n + 1] = '\0';
    return 0;
}

struct ws_usage {
    int64_t files, entries, bytes;
};

/* Locks the workspace row for this transaction and reads its usage. */
static int ws_lock(struct db *db, int64_t ws, int64_t now, struct ws_usage *u, struct err *err)
{
    int64_t v[3];
    int rc = db_row_ints(db, v, 3,
                         "UPDATE workspaces SET updated_at = ? WHERE id = ?"
                         " RETURNING file_count, entry_count, bytes",
                         err, "ii", now, ws);
    if (rc == -ENOENT)
        return err_set(err, ENOENT, "workspace %lld", (long long)ws);
    if (rc < 0)
        return rc;
    u->files = v[0];
    u->entries = v[1];
    u->bytes = v[2];
    return 0;
}

static int ws_account(struct db *db, int64_t ws, int64_t files, int64_t entries, int64_t bytes,
                      struct err *err)
{
    if (!files && !entries && !bytes)
        return 0;
    return db_run(db, NULL,
                  "UPDATE workspaces SET file_count = file_count + ?,"
                  " entry_count = entry_count + ?, bytes = bytes + ? WHERE id = ?",
                  err, "iiii", files, entries, bytes, ws);
}

struct entry {
    bool exists;
    enum store_file_kind kind;
    int64_t size;
    char etag[STORE_ETAG_LEN + 1];
};

static int entry_get(struct db *db, int64_t ws, const char *path, struct entry *e, struct err *err)
{
    struct store_file f;
    memset(e, 0, sizeof(*e));
    int rc = fetch_one(db, &f, sizeof(f), read_file, file_done_v,
                       "SELECT " FILE_COLS " FROM files WHERE workspace_id = ? AND path = ?", err,
                       "it", ws, path);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    e->exists = true;
    e->kind = f.kind;
    e->size = f.size;
    memcpy(e->etag, f.etag, sizeof(e->etag));
    file_done(&f);
    return 0;
}

/* How many ancestors of path are missing (*ret_missing); -ENOTDIR when the nearest
 * existing ancestor is a file. Since every entry's parent exists, the missing ones are
 * the deepest: walk up until one exists. */
static int parents_missing(struct db *db, int64_t ws, const char *path, int *ret_missing,
                           struct err *err)
{
    char *p = strdup(path);
    if (!p)
        return err_set(err, ENOMEM, "parents");
    int missing = 0, rc = 0;
    char *slash;
    while ((slash = strrchr(p, '/'))) {
        *slash = '\0';
        struct entry e;
        if ((rc = entry_get(db, ws, p, &e, err)) < 0)
            break;
        if (e.exists) {
            if (e.kind != STORE_KIND_FOLDER)
                rc = err_set(err, ENOTDIR, "'%s' is a file", p);
            break;
        }
        missing++;
    }
    free(p);
    if (rc == 0)
        *ret_missing = missing;
    return rc;
}

static int folder_insert(struct db *db, int64_t ws, const char *path, int64_t now, struct err *err)
{
    return db_run(db, NULL,
                  "INSERT INTO files (workspace_id, path, kind, size, etag, updated_at, content)"
                  " VALUES (?, ?, 'folder', 0, '', ?, NULL)",
                  err, "iti", ws, path, now);
}

/* Creates the `missing` deepest ancestors of path (from parents_missing). */
static int parents_create(struct db *db, int64_t ws, const char *path, int missing, int64_t now,
                          struct err *err)
{
    if (missing == 0)
        return 0;
    char *p = strdup(path);
    if (!p)
        return err_set(err, ENOMEM, "parents");
    int rc = 0;
    for (int i = 0; i < missing && rc == 0; i++) {
        char *slash = strrchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        rc = folder_insert(db, ws, p, now, err);
    }
    free(p);
    return rc;
}

/* -EFBIG when adding entries/bytes would pass a limit (and grow usage). */
static int check_limits(const struct store_limits *lim, const struct ws_usage *u,
                        int64_t add_entries, int64_t add_bytes, struct err *err)
{
    if (!lim)
        return 0;
    if (lim->max_entries > 0 && add_entries > 0 && u->entries + add_entries > lim->max_entries)
        return err_set(err, EFBIG, "workspace entry limit %lld", (long long)lim->max_entries);
    if (lim->max_workspace_bytes > 0 && add_bytes > 0 &&
        u->bytes + add_bytes > lim->max_workspace_bytes)
        return err_set(err, EFBIG, "workspace size limit %lld bytes",
                       (long long)lim->max_workspace_bytes);
    return 0;
}

int store_file_get(struct store *st, int64_t ws, const char *path, bool with_content,
                   struct store_file **ret, struct err *err)
{
    struct store_file *f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, ENOMEM, "file");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        if (with_content)
            rc = fetch_one(&db, f, sizeof(*f), read_file_content, file_done_v,
                           "SELECT " FILE_COLS ", content FROM files"
                           " WHERE workspace_id = ? AND path = ?",
                           err, "it", ws, path);
        else
            rc = fetch_one(&db, f, sizeof(*f), read_file, file_done_v,
                           "SELECT " FILE_COLS " FROM files WHERE workspace_id = ? AND path = ?",
                           err, "it", ws, path);
        conn_put(&db);
    }
    if (rc == 0 && with_content && f->kind == STORE_KIND_FOLDER)
        rc = err_set(err, EISDIR, "'%s' is a folder", path);
    if (rc < 0 || !ret) {
        store_file_free(f);
        return rc;
    }
    *ret = f;
    return 0;
}

/* Lists entries (of files or a snapshot) in one query: the owner's row LEFT JOIN its
 * entries, so no row means no owner (-ENOENT) and one row with a NULL path means none. */
static int list_entries(struct store *st, const char *sql, int64_t id, bool with_content,
                        struct store_file_list **ret, struct err *err)
{
    struct store_file_list *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "file list");
    struct rows r;
    int rc =
        query_rows(st, &r, sizeof(struct store_file), with_content ? read_file_content : read_file,
                   file_done_v, 0, sql, err, "i", id);
    if (rc == 0 && r.n == 0)
        rc = err_set(err, ENOENT, "no such workspace or submission %lld", (long long)id);
    if (rc < 0) {
        free(l);
        return rc;
    }
    if (r.n == 1 && !((struct store_file *)r.items)[0].path) {
        file_done(r.items);
        r.n = 0;
    }
    l->items = r.items;
    l->n = r.n;
    *ret = l;
    return 0;
}

#define ENTRY_COLS "f.path, f.kind, f.size, f.etag, f.updated_at"

int store_file_list(struct store *st, int64_t ws, bool with_content, struct store_file_list **ret,
                    struct err *err)
{
    if (with_content)
        return list_entries(st,
                            "SELECT " ENTRY_COLS ", f.content FROM workspaces w"
                            " LEFT JOIN files f ON f.workspace_id = w.id WHERE w.id = ?"
                            " ORDER BY f.path",
                            ws, true, ret, err);
    return list_entries(st,
                        "SELECT " ENTRY_COLS " FROM workspaces w"
                        " LEFT JOIN files f ON f.workspace_id = w.id WHERE w.id = ?"
                        " ORDER BY f.path",
                        ws, false, ret, err);
}

int store_snapshot_list(struct store *st, int64_t submission_id, struct store_file_list **ret,
                        struct err *err)
{
    return list_entries(st,
                        "SELECT " ENTRY_COLS " FROM submissions s"
                        " LEFT JOIN submission_files f ON f.submission_id = s.id WHERE s.id = ?"
                        " ORDER BY f.path",
                        submission_id, false, ret, err);
}

int store_snapshot_get(struct store *st, int64_t submission_id, const char *path,
                       struct store_file **ret, struct err *err)
{
    struct store_file *f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, ENOMEM, "snapshot file");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_one(&db, f, sizeof(*f), read_file_content, file_done_v,
                       "SELECT " FILE_COLS ", content FROM submission_files"
                       " WHERE submission_id = ? AND path = ?",
                       err, "it", submission_id, path);
        conn_put(&db);
    }
    if (rc < 0 || !ret) {
        store_file_free(f);
        return rc;
    }
    *ret = f;
    return 0;
}

/* Reads back one entry's metadata for a ret argument. */
static int entry_ret(struct db *db, int64_t ws, const char *path, struct store_file **ret,
                     struct err *err)
{
    if (!ret)
        return 0;
    struct store_file *f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, ENOMEM, "file");
    int rc = fetch_one(db, f, sizeof(*f), read_file, file_done_v,
                       "SELECT " FILE_COLS " FROM files WHERE workspace_id = ? AND path = ?", err,
                       "it", ws, path);
    if (rc < 0) {
        free(f);
        return rc;
    }
    *ret = f;
    return 0;
}

static int put_tx(struct db *db, int64_t ws, const char *path, const void *data, size_t len,
                  const char *etag, int64_t now, const struct store_cond *cond,
                  const struct store_limits *lim, bool *created, struct err *err)
{
    struct ws_usage u;
    struct entry e;
    int missing = 0;
    int rc = ws_lock(db, ws, now, &u, err);
    if (rc < 0)
        return rc;
    if ((rc = entry_get(db, ws, path, &e, err)) < 0)
        return rc;
    if (e.exists && e.kind == STORE_KIND_FOLDER)
        return err_set(err, EISDIR, "'%s' is a folder", path);
    if (cond && cond->create_only && e.exists)
        return err_set(err, EEXIST, "'%s' exists", path);
    if (cond && cond->if_match && (!e.exists || strcmp(e.etag, cond->if_match) != 0))
        return err_set(err, ESTALE, "'%s' changed", path);
    if (!e.exists && (rc = parents_missing(db, ws, path, &missing, err)) < 0)
        return rc;
    int64_t add_entries = e.exists ? 0 : 1 + missing;
    if ((rc = check_limits(lim, &u, add_entries, (int64_t)len - e.size, err)) < 0)
        return rc;
    if ((rc = parents_create(db, ws, path, missing, now, err)) < 0)
        return rc;
    if (e.exists)
        rc = db_run(db, NULL,
                    "UPDATE files SET size = ?, etag = ?, updated_at = ?, content = ?"
                    " WHERE workspace_id = ? AND path = ?",
                    err, "itibit", (int64_t)len, etag, now, data, len, ws, path);
    else
        rc = db_run(db, NULL,
                    "INSERT INTO files (workspace_id, path, kind, size, etag, updated_at, content)"
                    " VALUES (?, ?, 'file', ?, ?, ?, ?)",
                    err, "ititib", ws, path, (int64_t)len, etag, now, data, len);
    if (rc < 0)
        return rc;
    rc = ws_account(db, ws, e.exists ? 0 : 1, add_entries, (int64_t)len - e.size, err);
    if (rc == 0)
        rc = history_record(db, ws, path, data, len, etag, now, cond, lim, err);
    if (rc == 0)
        *created = !e.exists;
    return rc;
}

int store_file_put(struct store *st, int64_t ws, const char *path, const void *data, size_t len,
                   const struct store_cond *cond, const struct store_limits *lim,
                   struct store_file **ret, bool *ret_created, struct err *err)
{
    if (!path_ok(path) || (!data && len))
        return err_set(err, EINVAL, "file put: bad path or data");
    if (lim && lim->max_file_bytes > 0 && (int64_t)len > lim->max_file_bytes)
        return err_set(err, EFBIG, "file size limit %lld bytes", (long long)lim->max_file_bytes);
    char etag[STORE_ETAG_LEN + 1];
    store_etag(data ? data : "", len, etag); /* outside the transaction: it takes a while */
    struct store_file *f = NULL;
    if (ret) {
        /* The result is known in advance: no read-back inside the transaction. */
        f = calloc(1, sizeof(*f));
        if (!f || !(f->path = strdup(path))) {
            free(f);
            return err_set(err, ENOMEM, "file put");
        }
        f->kind = STORE_KIND_FILE;
        f->size = (int64_t)len;
        memcpy(f->etag, etag, sizeof(f->etag));
    }
    struct db db;
    bool created = false;
    int64_t now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = db_begin(&db, true, err);
        if (rc == 0) {
            rc = put_tx(&db, ws, path, data, len, etag, now, cond, lim, &created, err);
            rc = db_end(&db, rc, err);
        }
        conn_put(&db);
    }
    if (rc < 0) {
        store_file_free(f);
        return rc;
    }
    if (ret) {
        f->updated_at = now;
        *ret = f;
    }
    if (ret_created)
        *ret_created = created;
    return 0;
}

static int folder_tx(struct db *db, int64_t ws, const char *path, int64_t now,
                     const struct store_limits *lim, struct err *err)
{
    struct ws_usage u;
    struct entry e;
    int missing = 0;
    int rc = ws_lock(db, ws, now, &u, err);
    if (rc == 0)
        rc = entry_get(db, ws, path, &e, err);
    if (rc == 0 && e.exists)
        rc = err_set(err, EEXIST, "'%s' exists", path);
    if (rc == 0)
        rc = parents_missing(db, ws, path, &missing, err);
    if (rc == 0)
        rc = check_limits(lim, &u, 1 + missing, 0, err);
    if (rc == 0)
        rc = parents_create(db, ws, path, missing, now, err);
    if (rc == 0)
        rc = folder_insert(db, ws, path, now, err);
    if (rc == 0)
        rc = ws_account(db, ws, 0, 1 + missing, 0, err);
    return rc;
}

int store_folder_create(struct store *st, int64_t ws, const char *path,
                        const struct store_limits *lim, struct store_file **ret, struct err *err)
{
    if (!path_ok(path))
        return err_set(err, EINVAL, "folder: bad path");
    struct db db;
    struct store_file *f = NULL;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        rc = folder_tx(&db, ws, path, store_now_ms(), lim, err);
        if (rc == 0)
            rc = entry_ret(&db, ws, path, ret ? &f : NULL, err);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    if (rc < 0) {
        store_file_free(f);
        return rc;
    }
    if (ret)
        *ret = f;
    return 0;
}

#define SUBTREE "workspace_id = ? AND (path = ? OR (path >= ? AND path < ?))"

static int delete_tx(struct db *db, int64_t ws, const char *path, const struct store_cond *cond,
                     int64_t *ret_n, struct err *err)
{
    char *lo, *hi;
    if (subtree_bounds(path, &lo, &hi) < 0)
        return err_set(err, ENOMEM, "file delete");
    struct ws_usage u;
    struct entry e;
    int64_t agg[3] = {0, 0, 0}; /* entries, files, bytes */
    int rc = ws_lock(db, ws, store_now_ms(), &u, err);
    if (rc == 0)
        rc = entry_get(db, ws, path, &e, err);
    if (rc == 0 && !e.exists)
        rc = err_set(err, ENOENT, "'%s'", path);
    if (rc == 0 && cond && cond->if_match &&
        (e.kind != STORE_KIND_FILE || strcmp(e.etag, cond->if_match) != 0))
        rc = err_set(err, ESTALE, "'%s' changed", path);
    if (rc == 0)
        rc = db_row_ints(db, agg, 3,
                         "SELECT COUNT(*),"
                         " CAST(COALESCE(SUM(CASE WHEN kind = 'file' THEN 1 ELSE 0 END), 0)"
                         " AS BIGINT), CAST(COALESCE(SUM(size), 0) AS BIGINT)"
                         " FROM files WHERE " SUBTREE,
                         err, "ittt", ws, path, lo, hi);
    if (rc == 0)
        rc = db_run(db, ret_n, "DELETE FROM files WHERE " SUBTREE, err, "ittt", ws, path, lo, hi);
    if (rc == 0)
        rc = ws_account(db, ws, -agg[1], -agg[0], -agg[2], err);
    free(lo);
    free(hi);
    return rc;
}

int store_file_delete(struct store *st, int64_t ws, const char *path, const struct store_cond *cond,
                      int *ret_count, struct err *err)
{
    if (!path_ok(path))
        return err_set(err, EINVAL, "file delete: bad path");
    struct db db;
    int64_t n = 0;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        rc = delete_tx(&db, ws, path, cond, &n, err);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
    if (rc == 0 && ret_count)
        *ret_count = (int)n;
    return rc;
}

/* A precondition or limit that refuses one change: the change is skipped and reported,
 * the others go on (nothing was written for it, so the transaction is intact). */
static bool refusal(int rc)
{
    return rc == -ESTALE || rc == -EEXIST || rc == -EFBIG || rc == -ENOENT || rc == -EISDIR ||
           rc == -ENOTDIR;
}

int store_files_apply(struct store *st, int64_t ws, struct store_change *changes, size_t n,
                      const struct store_limits *lim, struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct store_change *c = &changes[i];
        if (!path_ok(c->path) || (c->op == STORE_CHANGE_PUT && !c->data && c->len))
            return err_set(err, EINVAL, "file change: bad path or data");
        c->rc = 0;
        c->etag[0] = '\0';
        if (c->op == STORE_CHANGE_PUT) {
            if (lim && lim->max_file_bytes > 0 && (int64_t)c->len > lim->max_file_bytes)
                c->rc = -EFBIG;
            else
                store_etag(c->data ? c->data : "", c->len, c->etag); /* outside the tx */
        }
    }
    struct db db;
    int64_t now = store_now_ms();
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        return rc;
    rc = db_begin(&db, true, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct store_change *c = &changes[i];
        if (c->rc < 0)
            continue;
        struct store_cond cond = {.if_match = c->if_match,
                                  .create_only = c->create_only,
                                  .author = c->author,
                                  .source = c->source};
        bool created = false;
        int r;
        if (c->op == STORE_CHANGE_PUT)
            r = put_tx(&db, ws, c->path, c->data, c->len, c->etag, now, &cond, lim, &created, NULL);
        else if (c->op == STORE_CHANGE_FOLDER)
            r = folder_tx(&db, ws, c->path, now, lim, NULL);
        else
            r = delete_tx(&db, ws, c->path, &cond, NULL, NULL);
        if (refusal(r))
            c->rc = r;
        else
            rc = r < 0 ? err_set(err, -r, "file change '%s'", c->path) : 0;
    }
    if (rc == 0 || db.in_tx)
        rc = db_end(&db, rc, err);
    conn_put(&db);
    return rc;
}

/* Characters (not bytes) in a UTF-8 string: SQL substr() counts characters. */
static int64_t utf8_chars(const char *s)
{
    int64_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

int store_file_move(struct store *st, int64_t ws, const char *from, const char *to,
                    const struct store_limits *lim, struct err *err)
{
    if (!path_ok(from) || !path_ok(to))
        return err_set(err, EINVAL, "move: bad path");
    size_t fl = strlen(from);
    if (strncmp(to, from, fl) == 0 && to[fl] == '/')
        return err_set(err, EINVAL, "cannot move '%s' into itself", from);
    char *lo, *hi;
    if (subtree_bounds(from, &lo, &hi) < 0)
        return err_set(err, ENOMEM, "move");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc < 0)
        goto out;
    rc = db_begin(&db, true, err);
    if (rc == 0) {
        int64_t now = store_now_ms();
        struct ws_usage u;
        struct entry src, dst;
        int missing = 0;
        rc = ws_lock(&db, ws, now, &u, err);
        if (rc == 0)
            rc = entry_get(&db, ws, from, &src, err);
        if (rc == 0 && !src.exists)
            rc = err_set(err, ENOENT, "'%s'", from);
        if (rc == 0)
            rc = entry_get(&db, ws, to, &dst, err);
        if (rc == 0 && dst.exists)
            rc = err_set(err, EEXIST, "'%s' exists", to);
        if (rc == 0)
            rc = parents_missing(&db, ws, to, &missing, err);
        if (rc == 0)
            rc = check_limits(lim, &u, missing, 0, err);
        if (rc == 0)
            rc = parents_create(&db, ws, to, missing, now, err);
        /* One statement renames the entry and its subtree: "from/x" -> to || "/x". */
        if (rc == 0)
            rc = db_run(&db, NULL,
                        "UPDATE files SET path = ? || substr(path, CAST(? AS INTEGER)),"
                        " updated_at = ? WHERE " SUBTREE,
                        err, "tiiittt", to, utf8_chars(from) + 1, now, ws, from, lo, hi);
        if (rc == 0)
            rc = ws_account(&db, ws, 0, missing, 0, err);
        rc = db_end(&db, rc, err);
    }
    conn_put(&db);
out:
    free(lo);
    free(hi);
    return rc;
}

void store_file_free(struct store_file *f)
{
    if (!f)
        return;
    file_done(f);
    free(f);
}

void store_file_list_free(struct store_file_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), file_done_v);
    free(l);
}
