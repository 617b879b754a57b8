/* runs_files: a run's own file system, in and out; see runs.h and docs/runs.md.
 *
 * In: a tmpfs of the run's own (sb_wsfs_mount: its size and inodes are the kernel's to
 * enforce) with the workspace's files and our hidden .pyroom folder. Out: one transaction
 * of what the run created, changed or deleted (the editor wins a conflict; only a path
 * confirmed absent is deleted), figures as artifacts, then one unmount. Every read of the
 * directory the sandbox wrote goes through workspace/fsdir (base/beneath underneath). */
#include "base/buf.h"
#include "base/embed.h"
#include "exec/runs_internal.h"
#include "workspace/fsdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PYROOM_FS_SLACK (256u << 10) /* bytes of a run's file system for our own files */

/* Loaded by Python at start-up (PYTHONPATH): tracebacks name workspace files relatively,
 * and matplotlib figures (shown, or still open at exit) become PNG files for artifacts. */
EMBED_TEXT(run_sitecustomize_py, "src/exec/run_sitecustomize.py");
/* A matplotlib backend: Agg, whose show() saves the figures instead of warning. */
EMBED_TEXT(run_backend_py, "src/exec/run_backend.py");

static int write_file(int dirfd, const char *path, const char *text)
{
    return fsdir_write(dirfd, path, text, strlen(text), 0, 0);
}

/* Writes the run's files into a fresh directory; returns its fd. */
int run_materialise(struct runs *r, struct live *l, const char *name,
                    struct store_file_list **ret_files, struct err *err)
{
    struct store_file_list *files = NULL;
    int rc = l->rq.submission_id && !l->rq.workspace_id
                 ? store_snapshot_list(r->store, l->rq.submission_id, &files, err)
                 : store_file_list(r->store, l->rq.workspace_id, true, &files, err);
    if (rc < 0)
        return rc;
    if (mkdirat(r->runs_dirfd, name, 0700) < 0 && errno != EEXIST) {
        store_file_list_free(files);
        return err_set(err, errno, "create run directory");
    }
    /* The run's own file system: what it was given, plus what it may write. */
    uint64_t bytes = l->rq.limits.workspace_bytes ? l->rq.limits.workspace_bytes : 1u << 30;
    bytes += PYROOM_FS_SLACK;
    for (size_t i = 0; i < files->n; i++)
        bytes += ((uint64_t)files->items[i].size + 4095) / 4096 * 4096;
    uint64_t inodes = files->n + 16 + (r->cfg.run_inodes ? r->cfg.run_inodes : 20000);
    struct err me = {0};
    int dfd = sb_wsfs_mount(r->runs_dirfd, name, bytes, inodes, &me);
    if (dfd == -EPERM || dfd == -ENOSYS) /* not root (or no new mount API): a plain directory */
        dfd = openat(r->runs_dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        store_file_list_free(files);
        return err_set(err, -dfd, "prepare run directory: %s", me.msg);
    }
    for (size_t i = 0; rc == 0 && i < files->n; i++) {
        struct store_file *f = &files->items[i];
        if (f->kind == STORE_KIND_FOLDER) {
            rc = fsdir_mkdir(dfd, f->path, 0, 0);
            continue;
        }
        if (l->rq.submission_id && !l->rq.workspace_id) {
            /* Snapshot lists come without content. */
            struct store_file *full = NULL;
            rc = store_snapshot_get(r->store, l->rq.submission_id, f->path, &full, err);
            if (rc == 0)
                rc = fsdir_write(dfd, f->path, full->content, (size_t)full->size, 0, 0);
            store_file_free(full);
        } else {
            rc = fsdir_write(dfd, f->path, f->content, (size_t)f->size, 0, 0);
        }
    }
    if (rc == 0)
        rc = write_file(dfd, ".pyroom/sitecustomize.py", run_sitecustomize_py);
    if (rc == 0)
        rc = write_file(dfd, ".pyroom/pyroom_backend.py", run_backend_py);
    if (rc < 0) {
        close(dfd);
        store_file_list_free(files);
        return err_set(err, -rc, "write the run's files");
    }
    /* Keep the etags only: the write-back compares against them. */
    for (size_t i = 0; i < files->n; i++) {
        free(files->items[i].content);
        files->items[i].content = NULL;
    }
    *ret_files = files;
    return dfd;
}

const struct store_file *run_find_file(const struct store_file_list *l, const char *path)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (!strcmp(l->items[i].path, path))
            return &l->items[i];
    return NULL;
}

static const struct fsdir_entry *find_entry(const struct fsdir_scan *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].path, path))
            return &s->items[i];
    return NULL;
}

static bool skip_named(const struct fsdir_scan *s, const char *path)
{
    for (size_t i = 0; i < s->nskips; i++)
        if (!strcmp(s->skips[i].path, path))
            return true;
    return false;
}

/* The changes the scan shows against the files the run was given: puts of new and changed
 * files, new folders, and deletes of files confirmed gone (folders stay). A given file
 * neither scanned nor confirmed gone gets a note (unless the scan's skips name it). Returns
 * how many of ch were filled (ch has room for scan->n + before->n). */
static size_t changes_of(const struct live *l, int dfd, const struct fsdir_scan *scan,
                         const struct store_file_list *before, struct store_change *ch,
                         struct buf *notes)
{
    size_t n = 0;
    for (size_t i = 0; i < scan->n; i++) {
        const struct fsdir_entry *e = &scan->items[i];
        const struct store_file *old = run_find_file(before, e->path);
        if (e->folder) {
            if (!old)
                ch[n++] = (struct store_change){.op = STORE_CHANGE_FOLDER, .path = e->path};
            continue;
        }
        char etag[STORE_ETAG_LEN + 1];
        store_etag(e->data, e->size, etag);
        if (old && old->kind == STORE_KIND_FILE && !strcmp(old->etag, etag))
            continue;
        ch[n++] = (struct store_change){.op = STORE_CHANGE_PUT,
                                        .path = e->path,
                                        .data = e->data,
                                        .len = e->size,
                                        .if_match = old ? old->etag : NULL,
                                        .create_only = !old,
                                        .author = l->rq.user_id,
                                        .source = STORE_SOURCE_RUN};
    }
    for (size_t i = 0; before && i < before->n; i++) {
        const struct store_file *f = &before->items[i];
        if (f->kind != STORE_KIND_FILE || find_entry(scan, f->path))
            continue;
        if (fsdir_absent(dfd, f->path))
            ch[n++] = (struct store_change){
                .op = STORE_CHANGE_DELETE, .path = f->path, .if_match = f->etag};
        else if (!skip_named(scan, f->path))
            buf_printf(notes,
                       "%s: the run's version could not be saved; the stored version "
                       "was kept\n",
                       f->path);
    }
    return n;
}

/* After the transaction: tell on_change of each change made, and note each one refused
 * and each entry the scan skipped. */
static void report_changes(struct runs *r, struct live *l, const struct store_change *ch, size_t n,
                           const struct fsdir_scan *scan, const struct store_file_list *before,
                           struct buf *notes)
{
    for (size_t i = 0; i < n; i++) {
        const struct store_change *c = &ch[i];
        if (c->rc == 0 && r->cfg.on_change)
            r->cfg.on_change(r->cfg.on_change_ctx, l->rq.workspace_id, c->path,
                             c->op == STORE_CHANGE_DELETE   ? NULL
                             : c->op == STORE_CHANGE_FOLDER ? ""
                                                            : c->etag);
        else if (c->rc == -ESTALE || (c->rc == -EEXIST && c->op == STORE_CHANGE_PUT))
            buf_printf(notes,
                       "%s: changed in the editor meanwhile; the editor's version was kept\n",
                       c->path);
        else if (c->rc == -EFBIG)
            buf_printf(notes, "%s: not saved, it would pass the workspace limits\n", c->path);
        else if (c->rc < 0 && c->rc != -ENOENT && c->rc != -EEXIST)
            buf_printf(notes, "%s: not saved (%s)\n", c->path, strerror(-c->rc));
    }
    for (size_t i = 0; i < scan->nskips; i++) {
        const struct fsdir_skip *k = &scan->skips[i];
        const struct store_file *old = run_find_file(before, k->path);
        buf_printf(notes, "%s: not saved, %s%s\n", k->path, k->why,
                   old && old->kind == STORE_KIND_FILE ? "; the stored version was kept" : "");
    }
    if (scan->skipped > scan->nskips)
        buf_printf(notes, "%zu more entries were not saved\n", scan->skipped - scan->nskips);
    if (scan->incomplete)
        buf_printf(notes, "the run left more entries than were looked at; the rest was not "
                          "saved\n");
}

/* Saves what the run changed in its directory back to the workspace, in one transaction
 * (a crash stores all of it or nothing), and says in notes what it did not save. The
 * editor wins a conflict: each write is conditional on the etag the file had when the run
 * started. Only a path confirmed absent is deleted: a file the scan could not take (too
 * big, too deep, past a limit, replaced by a link) keeps its stored version. */
void run_write_back(struct runs *r, struct live *l, int dfd, const struct store_file_list *before,
                    struct buf *notes)
{
    static const char *const ignore[] = {".pyroom", "__pycache__", NULL};
    struct fsdir_scan scan;
    const struct store_limits *lim = &r->cfg.files;
    size_t max_entries = lim->max_entries > 0 ? (size_t)lim->max_entries : SIZE_MAX / 4;
    size_t max_bytes = lim->max_workspace_bytes > 0 ? (size_t)lim->max_workspace_bytes : SIZE_MAX;
    size_t max_file = lim->max_file_bytes > 0 ? (size_t)lim->max_file_bytes : SIZE_MAX;
    if (fsdir_scan(dfd, max_file, max_entries, max_bytes, ignore, &scan) < 0) {
        buf_printf(notes, "the run's files could not be read back: the workspace is as it was\n");
        return;
    }
    size_t nbefore = before ? before->n : 0;
    struct store_change *ch = calloc(scan.n + nbefore + 1, sizeof(*ch));
    if (!ch) {
        buf_printf(notes, "the run's files could not be saved: out of memory\n");
        fsdir_scan_done(&scan);
        return;
    }
    size_t n = changes_of(l, dfd, &scan, before, ch, notes);
    struct err e = {0};
    if (n && store_files_apply(r->store, l->rq.workspace_id, ch, n, lim, &e) < 0) {
        buf_printf(notes, "the run's files could not be saved (%s): the workspace is as it was\n",
                   e.msg);
        n = 0;
    }
    report_changes(r, l, ch, n, &scan, before, notes);
    free(ch);
    fsdir_scan_done(&scan);
}

/* Figures saved by our sitecustomize become artifacts. */
void run_collect_artifacts(struct runs *r, struct live *l, int dfd)
{
    /* One component at a time, never following a link: the program may have replaced
     * .pyroom by a symlink to a host directory, and O_NOFOLLOW only guards the last
     * component of a path (DESIGN.md, rules at the boundary). */
    int pfd = openat(dfd, ".pyroom", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return;
    int afd = openat(pfd, "artifacts", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(pfd);
    if (afd < 0)
        return;
    struct fsdir_scan scan;
    if (fsdir_scan(afd, r->cfg.max_artifact_bytes, r->cfg.max_artifacts,
                   r->cfg.max_artifacts * r->cfg.max_artifact_bytes, NULL, &scan) == 0) {
        for (size_t i = 0; i < scan.n; i++) {
            const struct fsdir_entry *e = &scan.items[i];
            size_t n = strlen(e->path);
            if (e->folder || strchr(e->path, '/') || n < 5 || strcmp(e->path + n - 4, ".png"))
                continue;
            (void)store_artifact_add(r->store, l->id, e->path, "image/png", e->data, e->size, NULL);
        }
        fsdir_scan_done(&scan);
    }
    close(afd);
}

/* A run's scratch directory goes: its file system with one unmount, then the (empty)
 * directory; without a file system of its own (not root), the tree is removed. */
void run_remove_dir(struct runs *r, const char *name)
{
    (void)sb_wsfs_unmount(r->runs_dirfd, name);
    (void)fsdir_remove_tree(r->runs_dirfd, name);
}
