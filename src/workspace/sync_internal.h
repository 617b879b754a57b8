/*
 * workspace/sync_internal.h: what sync.c (watches, the hub thread, store -> directory) and
 * sync_flush.c (directory -> store) share; nothing outside src/workspace/sync*.c includes
 * it. Everything on a struct wsync below its mu is used with s->mu held.
 */
#ifndef PYROOM_WORKSPACE_SYNC_INTERNAL_H
#define PYROOM_WORKSPACE_SYNC_INTERNAL_H

#include "base/beneath.h"
#include "base/clock.h"
#include "workspace/fsdir.h"
#include "workspace/path.h"
#include "workspace/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |            \
     IN_ONLYDIR | IN_EXCL_UNLINK)

/* Written by a shell or by Python in its home, never wanted in the workspace. */
static const char *const ignored_top[] = {
    ".cache",   ".local",   ".config", ".bash_history", ".python_history",
    ".lesshst", ".viminfo", ".pyroom", ".wget-hsts",    NULL,
};

struct known {
    char *path;
    bool folder;
    char etag[STORE_ETAG_LEN + 1]; /* "" for folders */
};

struct watch {
    int wd;
    char *path; /* "" for the root */
};

/* A path whose current content did not fit the limits, reported once. */
struct reported {
    char *path;
    char etag[STORE_ETAG_LEN + 1]; /* of the content that was refused; "" by size */
    int64_t size;
};

struct wsync {
    struct wsync_hub *hub;
    uint64_t id;
    int64_t ws;
    int dirfd;
    wsync_notify_fn notify;
    void *ctx;
    pthread_mutex_t mu; /* everything below: the hub thread against wsync_apply */
    struct known *base;
    size_t nbase, capbase;
    struct watch *watches;
    size_t nwatch, capwatch;
    char **dirty;
    size_t ndirty, capdirty;
    struct reported *rep;
    size_t nrep, caprep;
    bool rescan;       /* a full walk is due (queue overflow, too many dirty paths) */
    uint64_t first_ms; /* first unflushed change, 0 when none */
    uint64_t last_ms;  /* latest unflushed change */
    uint64_t retry_ms; /* a store write failed (database down): not before this, 0: now */
    bool retrying;     /* ... and the terminal was told once */
    bool failed_now;   /* a write of the current flush failed */
    struct wsync *next;
};

struct wsync_hub {
    struct wsync_config cfg;
    int ep;
    int wake; /* eventfd: stop */
    int ifd;  /* one inotify instance for every directory (Linux allows 128 per user) */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* the list, and every flush */
    struct wsync *list;
    uint64_t next_id;
    bool stop;
};

/* ---- sync.c: the base (what the store holds, as last seen), dirty paths, watches ----- */

struct known *sync_base_find(struct wsync *s, const char *path);
int sync_base_set(struct wsync *s, const char *path, bool folder, const char *etag);
/* Forgets path and everything under it. */
void sync_base_drop(struct wsync *s, const char *path);
/* Every missing parent folder of path becomes known (the store creates them too). */
void sync_base_parents(struct wsync *s, const char *path);
/* path changed: flushed once the directory is quiet (bounded: past the cap, a rescan). */
void sync_mark_dirty(struct wsync *s, const char *path);
/* Watches the folder path and everything under it, at any depth; with mark, every entry
 * found is dirty. */
void sync_add_tree(struct wsync *s, const char *path, bool mark);

/* ---- sync_flush.c: directory -> store ------------------------------------------------ */

/* Tells the environment's owner (terminal notices, workspace events). */
void sync_notify(struct wsync *s, enum wsync_event ev, const char *path, const char *etag,
                 const char *msg);
/* The directory's owner, for files written into it. */
void sync_owner(struct wsync *s, uid_t *uid, gid_t *gid);
/* Stores what the dirty paths hold now. With hub->mu and s->mu held. */
void sync_flush_locked(struct wsync *s);

#endif
