/*
 * sync: a live environment's directory and the store, kept in step both ways.
 *
 * Theory of operation. wsync_open() writes a workspace's stored files into an empty
 * directory and remembers each entry's etag: the "base", what the store and the directory
 * both hold. From then on:
 *
 *   directory -> store: inotify watches every folder of the tree (re-added as folders
 *     appear or move in). An event marks a path dirty; a hub thread reads dirty paths once
 *     they have been quiet for debounce_ms (and at most max_delay_ms after the first
 *     event), through openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a symlink is never
 *     followed, special files are never opened, reads are capped at the file limit. What
 *     differs from the base is written with the base's etag as the precondition.
 *   store -> directory: wsync_apply() (the API saved, deleted, made or moved something)
 *     fetches the stored entry and writes it into the directory at once, updating the base
 *     first so the inotify echo of our own write is recognised and ignored.
 *
 * Simultaneous edits: a change is only ever applied on top of the version it was based on.
 * The terminal's write of a file that the editor saved meanwhile fails its etag
 * precondition; the editor's version is kept in both places and the terminal is told
 * (WSYNC_CONFLICT). The editor's save of a file the terminal changed meanwhile gets 412
 * from the files API when it sends If-Match (the page shows its conflict view); when the
 * API write reaches the directory over a terminal change that was not stored yet, the
 * editor's version wins and the terminal is told too. Nothing is overwritten silently.
 *
 * Limits: a file over max_file_bytes, or a change that would pass max_entries or
 * max_workspace_bytes, is not stored; the notify callback gets WSYNC_LIMIT_EXCEEDED once
 * per offending path (until it changes to something that fits).
 *
 * Left out of the store (a user's shell writes these in its home): top-level .cache,
 * .local, .config, .bash_history, .python_history, .lesshst, .viminfo, .pyroom, .wget-hsts
 * and every __pycache__ folder.
 *
 * Threads: one hub thread serves every directory. wsync_apply() may be called from any
 * thread; wsync_open/wsync_close from any thread but not for the same wsync at once.
 * Callbacks run on the hub thread and must not call wsync functions.
 */
#ifndef PYROOM_WORKSPACE_SYNC_H
#define PYROOM_WORKSPACE_SYNC_H

#include "base/err.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct wsync_hub;
struct wsync;

enum wsync_event {
    WSYNC_FILE_CHANGED,   /* stored from the directory: path, etag */
    WSYNC_FILE_DELETED,   /* deleted in the directory, so in the store: path */
    WSYNC_FOLDER_CREATED, /* path */
    WSYNC_LIMIT_EXCEEDED, /* not stored: path, message */
    WSYNC_CONFLICT,       /* the editor's version was kept: path, message */
    WSYNC_NOT_SAVED,      /* the store could not take it now; retried every second: message */
};

/* ws is the workspace, ctx the one given to wsync_open; etag and message may be NULL. */
typedef void (*wsync_notify_fn)(void *ctx, int64_t ws, enum wsync_event ev, const char *path,
                                const char *etag, const char *message);

struct wsync_config {
    struct store *store;        /* must outlive the hub */
    struct store_limits limits; /* the workspace limits (0: unlimited) */
    unsigned debounce_ms;       /* quiet time before a dirty path is read; 0: 50 */
    unsigned max_delay_ms;      /* longest wait after the first change; 0: 400 */
};

int wsync_hub_new(const struct wsync_config *cfg, struct wsync_hub **ret, struct err *err);
/* Stops the thread. Every wsync must be closed first. NULL is fine. */
void wsync_hub_free(struct wsync_hub *h);

/* Writes workspace ws from the store into the empty directory dirfd (dup'ed; the caller
 * keeps its own), owned by uid:gid, and starts watching it. notify gets the changes made in
 * the directory. */
int wsync_open(struct wsync_hub *h, int64_t ws, int dirfd, uid_t uid, gid_t gid,
               wsync_notify_fn notify, void *ctx, struct wsync **ret, struct err *err);
/* Stores what is still pending in the directory (a last full walk, so nothing a watch
 * missed is lost), stops watching, frees. NULL is fine. */
void wsync_close(struct wsync *s);

/* The store changed path (etag NULL: deleted; "": a folder, whose whole subtree is
 * fetched; else a file with that etag): bring the directory in line now. New entries are
 * owned by the directory's current owner. 0 or -errno. */
int wsync_apply(struct wsync *s, const char *path, const char *etag);

/* Stores every change seen so far in the directory now, without waiting for the debounce;
 * returns when done. 0 or -errno. */
int wsync_flush(struct wsync *s);

#endif
