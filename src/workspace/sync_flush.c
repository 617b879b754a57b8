/* sync_flush: a live directory's changes into the store (directory -> store); see sync.h
 * and sync_internal.h. */
#include "workspace/sync_internal.h"

/* ---- directory -> store --------------------------------------------------------------- */

void sync_notify(struct wsync *s, enum wsync_event ev, const char *path, const char *etag,
                 const char *msg)
{
    if (s->notify)
        s->notify(s->ctx, s->ws, ev, path, etag, msg);
}

#define RETRY_MS 1000 /* between attempts to store what the database refused to take */

/* The store could not take path now (down, restarting): keep it dirty and try again in
 * RETRY_MS; the terminal hears it once per outage. */
static void retry_later(struct wsync *s, const char *path)
{
    sync_mark_dirty(s, path);
    s->failed_now = true;
    s->retry_ms = clock_mono_ms() + RETRY_MS;
    if (!s->retrying) {
        s->retrying = true;
        sync_notify(s, WSYNC_NOT_SAVED, path, NULL,
                    "not saved yet: the database is unreachable; retrying until it is back");
    }
}

void sync_owner(struct wsync *s, uid_t *uid, gid_t *gid)
{
    struct stat st;
    if (fstat(s->dirfd, &st) == 0) {
        *uid = st.st_uid;
        *gid = st.st_gid;
    } else {
        *uid = 0;
        *gid = 0;
    }
}

/* Reports a refused path once per content. */
static void report_limit(struct wsync *s, const char *path, const char *etag, int64_t size,
                         const char *msg)
{
    for (size_t i = 0; i < s->nrep; i++)
        if (!strcmp(s->rep[i].path, path)) {
            if (!strcmp(s->rep[i].etag, etag) && s->rep[i].size == size)
                return;
            snprintf(s->rep[i].etag, sizeof(s->rep[i].etag), "%s", etag);
            s->rep[i].size = size;
            sync_notify(s, WSYNC_LIMIT_EXCEEDED, path, NULL, msg);
            return;
        }
    if (s->nrep == s->caprep) {
        size_t cap = s->caprep ? s->caprep * 2 : 8;
        struct reported *p = realloc(s->rep, cap * sizeof(*p));
        if (!p)
            return;
        s->rep = p;
        s->caprep = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return;
    s->rep[s->nrep] = (struct reported){.path = copy, .size = size};
    snprintf(s->rep[s->nrep].etag, sizeof(s->rep[s->nrep].etag), "%s", etag);
    s->nrep++;
    sync_notify(s, WSYNC_LIMIT_EXCEEDED, path, NULL, msg);
}

static void report_clear(struct wsync *s, const char *path)
{
    for (size_t i = 0; i < s->nrep; i++)
        if (!strcmp(s->rep[i].path, path)) {
            free(s->rep[i].path);
            s->rep[i] = s->rep[--s->nrep];
            return;
        }
}

/* The store's version of path wins: write it into the directory (or remove the path). */
static void restore(struct wsync *s, const char *path)
{
    struct store_file *f = NULL;
    uid_t uid;
    gid_t gid;
    sync_owner(s, &uid, &gid);
    int r = store_file_get(s->hub->cfg.store, s->ws, path, true, &f, NULL);
    if (r == -ENOENT) {
        (void)fsdir_remove(s->dirfd, path);
        sync_base_drop(s, path);
    } else if (r == -EISDIR || (r == 0 && f->kind == STORE_KIND_FOLDER)) {
        (void)fsdir_remove(s->dirfd, path);
        (void)fsdir_mkdir(s->dirfd, path, uid, gid);
        sync_base_set(s, path, true, "");
    } else if (r == 0) {
        sync_base_set(s, path, false, f->etag);
        (void)fsdir_write(s->dirfd, path, f->content, (size_t)f->size, uid, gid);
    }
    store_file_free(f);
}

static const char *limit_message(int64_t max)
{
    (void)max;
    return "not saved: it would pass the workspace limits (files, folders or bytes)";
}

static void flush_delete(struct wsync *s, const char *path)
{
    struct known *k = sync_base_find(s, path);
    if (!k)
        return;
    struct store_cond cond = {.if_match = k->folder ? NULL : k->etag};
    int r = store_file_delete(s->hub->cfg.store, s->ws, path, &cond, NULL, NULL);
    if (r == 0 || r == -ENOENT) {
        sync_base_drop(s, path);
        report_clear(s, path);
        if (r == 0)
            sync_notify(s, WSYNC_FILE_DELETED, path, NULL, NULL);
    } else if (r == -ESTALE) {
        restore(s, path);
        sync_notify(s, WSYNC_CONFLICT, path, NULL,
                    "deleted in the terminal but changed in the editor meanwhile: the editor's "
                    "version was kept");
    } else {
        retry_later(s, path);
    }
}

static void flush_folder(struct wsync *s, const char *path)
{
    struct known *k = sync_base_find(s, path);
    if (k && k->folder)
        return;
    if (k) /* a file became a folder */
        flush_delete(s, path);
    int r = store_folder_create(s->hub->cfg.store, s->ws, path, &s->hub->cfg.limits, NULL, NULL);
    if (r == 0 || r == -EEXIST) {
        sync_base_parents(s, path);
        sync_base_set(s, path, true, "");
        report_clear(s, path);
        if (r == 0)
            sync_notify(s, WSYNC_FOLDER_CREATED, path, "", NULL);
    } else if (r == -EFBIG) {
        report_limit(s, path, "", 0, limit_message(0));
    } else {
        retry_later(s, path);
    }
}

static void flush_file(struct wsync *s, const char *path, const struct stat *st)
{
    const struct store_limits *lim = &s->hub->cfg.limits;
    size_t max = lim->max_file_bytes > 0 ? (size_t)lim->max_file_bytes : SIZE_MAX / 2;
    char msg[160];
    if ((size_t)st->st_size > max) {
        snprintf(msg, sizeof(msg),
                 "not saved: the file has %lld bytes, more than the %lld-byte limit",
                 (long long)st->st_size, (long long)lim->max_file_bytes);
        report_limit(s, path, "", (int64_t)st->st_size, msg);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    int r = beneath_read(s->dirfd, path, max, &data, &len);
    if (r == -EFBIG) {
        snprintf(msg, sizeof(msg), "not saved: the file is larger than the %lld-byte limit",
                 (long long)lim->max_file_bytes);
        report_limit(s, path, "", (int64_t)st->st_size, msg);
        return;
    }
    if (r < 0)
        return; /* gone or replaced meanwhile: a later event says what it is now */
    char etag[STORE_ETAG_LEN + 1];
    store_etag(data, len, etag);
    struct known *k = sync_base_find(s, path);
    if (k && !k->folder && !strcmp(k->etag, etag)) {
        free(data);
        return;
    }
    if (k && k->folder) /* a folder became a file */
        flush_delete(s, path);
    k = sync_base_find(s, path);
    struct store_cond cond = {
        .if_match = k ? k->etag : NULL, .create_only = !k, .source = STORE_SOURCE_TERMINAL};
    struct store_file *f = NULL;
    r = store_file_put(s->hub->cfg.store, s->ws, path, data, len, &cond, lim, &f, NULL, NULL);
    if (r == 0) {
        sync_base_parents(s, path);
        sync_base_set(s, path, false, f->etag);
        report_clear(s, path);
        sync_notify(s, WSYNC_FILE_CHANGED, path, f->etag, NULL);
    } else if (r == -ESTALE || r == -EEXIST) {
        restore(s, path);
        sync_notify(s, WSYNC_CONFLICT, path, NULL,
                    "changed in the editor meanwhile: the editor's version was kept");
    } else if (r == -EFBIG) {
        report_limit(s, path, etag, (int64_t)len, limit_message(0));
    } else {
        retry_later(s, path);
    }
    store_file_free(f);
    free(data);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Stores what the dirty paths hold now. Called with hub->mu and s->mu held. */
void sync_flush_locked(struct wsync *s)
{
    if (s->rescan) {
        s->rescan = false;
        for (size_t i = 0; i < s->ndirty; i++)
            free(s->dirty[i]);
        s->ndirty = 0;
        for (size_t i = 0; i < s->nbase; i++)
            sync_mark_dirty(s, s->base[i].path);
        sync_add_tree(s, "", true);
    }
    char **dirty = s->dirty;
    size_t n = s->ndirty;
    s->dirty = NULL;
    s->ndirty = s->capdirty = 0;
    s->first_ms = s->last_ms = 0;
    if (!n) {
        free(dirty);
        return;
    }
    /* Parents sort before their children: folders are made top-down. */
    qsort(dirty, n, sizeof(*dirty), cmp_str);
    enum beneath_kind *kinds = calloc(n, sizeof(*kinds));
    struct stat *sts = calloc(n, sizeof(*sts));
    if (!kinds || !sts) {
        s->rescan = true;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        kinds[i] = beneath_stat(s->dirfd, dirty[i], &sts[i]);
    for (size_t i = 0; i < n; i++) /* deletions first: they free room */
        if (kinds[i] == BENEATH_MISSING)
            flush_delete(s, dirty[i]);
        else if (kinds[i] == BENEATH_OTHER && sync_base_find(s, dirty[i]))
            /* A link or special file where a stored entry was: only a path confirmed
             * absent is deleted, so the stored version stays (and the user is told). */
            report_limit(s, dirty[i], "", 0,
                         "not saved: a link or special file; the stored version was kept");
    for (size_t i = 0; i < n; i++)
        if (kinds[i] == BENEATH_DIR)
            flush_folder(s, dirty[i]);
    s->failed_now = false;
    for (size_t i = 0; i < n; i++)
        if (kinds[i] == BENEATH_FILE)
            flush_file(s, dirty[i], &sts[i]);
    if (!s->failed_now) {
        s->retrying = false;
        s->retry_ms = 0;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(dirty[i]);
    free(dirty);
    free(kinds);
    free(sts);
}

/* The directory a watch belongs to (watch descriptors are unique in the one instance). */
