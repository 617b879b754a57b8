/*
 * history: every stored version of a workspace's files, within a budget.
 *
 * Theory of operation. put_tx() (files.c) is the one place that writes a file's bytes;
 * it calls history_record() in its own transaction, after the workspace row is locked, so
 * versions of one workspace are numbered and pruned one writer at a time, and a crash
 * keeps the file and its newest version together or neither. A put whose bytes equal the
 * path's newest version adds nothing. Pruning drops, oldest first, the versions past the
 * per-path count and then past the per-workspace byte budget; a path's newest version is
 * never dropped, so the history always holds what each file last was.
 */
#include "store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows looked at per pruning step of the byte budget. */
#define PRUNE_BATCH 32

static int prune_bytes(struct db *db, int64_t ws, int64_t budget, struct err *err)
{
    int64_t total = 0;
    int rc = db_row_ints(db, &total, 1,
                         "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM file_versions"
                         " WHERE workspace_id = ?",
                         err, "i", ws);
    while (rc == 0 && total > budget) {
        /* The oldest versions that are not their path's newest. */
        struct db_stmt *s = NULL;
        int64_t ids[PRUNE_BATCH], sizes[PRUNE_BATCH];
        int n = 0;
        rc = db_query(db, &s,
                      "SELECT v.id, v.size FROM file_versions v WHERE v.workspace_id = ? AND"
                      " v.version < (SELECT MAX(x.version) FROM file_versions x"
                      " WHERE x.workspace_id = v.workspace_id AND x.path = v.path)"
                      " ORDER BY v.id LIMIT ?",
                      err, "ii", ws, (int64_t)PRUNE_BATCH);
        if (rc < 0)
            break;
        while (n < PRUNE_BATCH && (rc = db_step(db, s, err)) == 1) {
            ids[n] = col_int(db, s, 0);
            sizes[n] = col_int(db, s, 1);
            n++;
        }
        db_done(db, s);
        if (rc < 0)
            break;
        rc = 0;
        if (n == 0)
            break; /* only newest versions left: they stay whatever their size */
        for (int i = 0; rc == 0 && i < n && total > budget; i++) {
            rc = db_run(db, NULL, "DELETE FROM file_versions WHERE id = ?", err, "i", ids[i]);
            total -= sizes[i];
        }
    }
    return rc;
}

int history_record(struct db *db, int64_t ws, const char *path, const void *data, size_t len,
                   const char *etag, int64_t now, const struct store_cond *cond,
                   const struct store_limits *lim, struct err *err)
{
    struct db_stmt *s = NULL;
    int64_t last = 0;
    bool same = false;
    int rc = db_query(db, &s,
                      "SELECT version, etag FROM file_versions WHERE workspace_id = ? AND path = ?"
                      " ORDER BY version DESC LIMIT 1",
                      err, "it", ws, path);
    if (rc < 0)
        return rc;
    if ((rc = db_step(db, s, err)) == 1) {
        last = col_int(db, s, 0);
        const char *e = col_text(db, s, 1);
        same = e && strcmp(e, etag) == 0;
    }
    db_done(db, s);
    if (rc < 0 || same)
        return rc < 0 ? rc : 0;
    int64_t author = cond ? cond->author : 0;
    enum store_source source = cond ? cond->source : STORE_SOURCE_SAVE;
    const char *insert = "INSERT INTO file_versions (workspace_id, path, version, size, etag,"
                         " author_id, source, at, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    const char *src = store_source_name(source);
    if (author > 0)
        rc = db_run(db, NULL, insert, err, "itiititib", ws, path, last + 1, (int64_t)len, etag,
                    author, src, now, data ? data : "", len);
    else
        rc = db_run(db, NULL, insert, err, "itiitntib", ws, path, last + 1, (int64_t)len, etag, src,
                    now, data ? data : "", len);
    if (rc == 0 && lim && lim->history_versions > 0)
        rc =
            db_run(db, NULL,
                   "DELETE FROM file_versions WHERE workspace_id = ? AND path = ? AND version <= ?",
                   err, "iti", ws, path, last + 1 - lim->history_versions);
    if (rc == 0 && lim && lim->history_bytes > 0)
        rc = prune_bytes(db, ws, lim->history_bytes, err);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------- */

#define VERSION_COLS           "v.version, v.size, v.etag, v.author_id, u.username, v.source, v.at"
#define VERSION_FROM           " FROM file_versions v LEFT JOIN users u ON u.id = v.author_id"
#define VERSION_SELECT         "SELECT " VERSION_COLS VERSION_FROM
#define VERSION_SELECT_CONTENT "SELECT " VERSION_COLS ", v.content" VERSION_FROM

static void version_done(void *p)
{
    struct store_version *v = p;
    free(v->author_name);
    free(v->content);
}

static int read_version(struct db *db, struct db_stmt *s, void *out)
{
    struct store_version *v = out;
    int rc = 0;
    v->version = col_int(db, s, 0);
    v->size = col_int(db, s, 1);
    const char *etag = col_text(db, s, 2);
    snprintf(v->etag, sizeof(v->etag), "%s", etag ? etag : "");
    v->author_id = col_null(db, s, 3) ? 0 : col_int(db, s, 3);
    v->author_name = v->author_id ? col_strdup(db, s, 4, &rc) : NULL;
    int src = -1;
    const char *name = col_text(db, s, 5);
    for (int i = STORE_SOURCE_SAVE; name && i <= STORE_SOURCE_RESTORE; i++)
        if (strcmp(store_source_name((enum store_source)i), name) == 0)
            src = i;
    v->source = src < 0 ? STORE_SOURCE_SAVE : (enum store_source)src;
    v->at = col_int(db, s, 6);
    return rc;
}

static int read_version_content(struct db *db, struct db_stmt *s, void *out)
{
    struct store_version *v = out;
    int rc = read_version(db, s, out);
    size_t len = 0;
    if (rc == 0)
        v->content = col_blobdup(db, s, 7, &len, &rc);
    if (rc == 0 && !v->content && !(v->content = calloc(1, 1)))
        rc = -ENOMEM;
    return rc;
}

int store_version_list(struct store *st, int64_t ws, const char *path, int limit, int offset,
                       struct store_version_list **ret, struct err *err)
{
    if (!path)
        return err_set(err, EINVAL, "versions: no path");
    return LIST_QUERY(st, ret, read_version, version_done, limit,
                      VERSION_SELECT " WHERE v.workspace_id = ? AND v.path = ?"
                                     " ORDER BY v.version DESC LIMIT ? OFFSET ?",
                      err, "itii", ws, path, sql_limit(limit), sql_offset(offset));
}

int store_version_get(struct store *st, int64_t ws, const char *path, int64_t version,
                      bool with_content, struct store_version **ret, struct err *err)
{
    if (!path)
        return err_set(err, EINVAL, "version: no path");
    struct store_version *v = calloc(1, sizeof(*v));
    if (!v)
        return err_set(err, ENOMEM, "version");
    struct db db;
    int rc = conn_get(st, &db, err);
    if (rc == 0) {
        rc = fetch_one(&db, v, sizeof(*v), with_content ? read_version_content : read_version,
                       version_done,
                       with_content ? VERSION_SELECT_CONTENT " WHERE v.workspace_id = ? AND"
                                                             " v.path = ? AND v.version = ?"
                                    : VERSION_SELECT " WHERE v.workspace_id = ? AND v.path = ?"
                                                     " AND v.version = ?",
                       err, "iti", ws, path, version);
        conn_put(&db);
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    *ret = v;
    return 0;
}

void store_version_free(struct store_version *v)
{
    if (!v)
        return;
    version_done(v);
    free(v);
}

void store_version_list_free(struct store_version_list *l)
{
    if (l)
        rows_free(l->items, l->n, sizeof(*l->items), version_done);
    free(l);
}
