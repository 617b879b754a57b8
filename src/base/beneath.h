/*
 * beneath: the one place that touches a directory tree a sandbox may have written.
 *
 * The boundary rule (docs/security.md, Judge0's CVE-2024-28185/28189): the server never
 * follows a link that a sandbox could have planted, never leaves the directory it was
 * given, never opens a FIFO, socket or device, and never trusts a file's size. Every
 * workspace access from the server side (workspace/fsdir.c, workspace/sync.c,
 * sandbox/wsdir.c) and the web page's files (api/web.c) go through these functions, so the
 * rule is written once:
 *   - beneath_open resolves a relative path with openat2(RESOLVE_BENEATH |
 *     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): a link anywhere on the way, "..", an
 *     absolute path or a /proc magic link fail (ELOOP, EXDEV) instead of being followed;
 *   - beneath_read_fd / beneath_read read a regular file with a cap (-EFBIG beyond it);
 *   - beneath_walk walks a tree iteratively with a visitor:
 *       never follows a symlink: directories are opened with O_NOFOLLOW | O_DIRECTORY
 *       relative to their parent's fd, and nothing else is ever opened;
 *       no recursion and no depth cut-off: a 10,000-deep chain is walked like a flat
 *       folder. Only one directory fd is open at a time; the way back up is "..", checked
 *       against the device and inode remembered on the way down (a directory moved
 *       meanwhile ends the walk with -ESTALE rather than walking somewhere else);
 *       bounded by entries: after max_entries the walk stops and says so (*ret_truncated).
 *     A caller must treat a stopped or failed walk as "not seen", never as "absent".
 * Nothing here allocates beyond what it returns; no function keeps state between calls.
 */
#ifndef PYROOM_BASE_BENEATH_H
#define PYROOM_BASE_BENEATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Opens path ("" for the directory itself) beneath dirfd with flags | O_CLOEXEC |
 * O_NOFOLLOW, never following a link on the way. Returns the fd (the caller's), or -errno
 * (-ELOOP for a link, -EXDEV for a way out). Not for O_CREAT (no mode is passed). Pass
 * O_NONBLOCK when reading: a FIFO planted meanwhile must fail at once, not block the server. */
int beneath_open(int dirfd, const char *path, int flags);

enum beneath_kind { BENEATH_MISSING, BENEATH_FILE, BENEATH_DIR, BENEATH_OTHER };

/* What is at path beneath dirfd, by lstat rules: BENEATH_MISSING only when it (or a folder
 * on its way) is confirmed gone; BENEATH_OTHER for links, special files and anything that
 * could not be checked ("not seen"). *ret_st is filled for FILE, DIR and a reachable OTHER. */
enum beneath_kind beneath_stat(int dirfd, const char *path, struct stat *ret_st);

/* Reads the regular file open at fd (left open) whole: at most max bytes, else -EFBIG;
 * -EINVAL if it is not a regular file. *ret (the caller's, free()) is NUL-terminated; the
 * NUL is not counted in *ret_len. */
int beneath_read_fd(int fd, size_t max, char **ret, size_t *ret_len);
/* beneath_open(path, O_RDONLY | O_NONBLOCK) then beneath_read_fd. */
int beneath_read(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len);

struct beneath_entry {
    int dfd;               /* the directory holding the entry */
    const char *name;      /* its name in dfd */
    const char *path;      /* relative to the walk's root, '/'-separated */
    const struct stat *st; /* lstat of the entry (never of a link's target) */
    size_t depth;          /* 1 for the root's own entries */
    bool post;             /* a directory, after its contents (dfd is its parent again) */
};

/* The visitor sees each entry once before its contents (post == false) and each directory
 * once more after them (post == true). It returns < 0 to stop with that error, BW_NEXT,
 * BW_SKIP (do not descend into this directory) or BW_STOP (stop, successfully). */
enum { BW_NEXT = 0, BW_SKIP = 1, BW_STOP = 2 };
typedef int (*beneath_visit_fn)(void *ctx, const struct beneath_entry *e);

/* Walks the tree below dir_fd (which is left as it is, offset included). max_entries 0:
 * no bound. Returns 0 (also when the visitor stopped it or the bound was reached:
 * *ret_truncated, may be NULL, says the latter), or -errno: -ESTALE when the tree moved
 * under the walk. */
int beneath_walk(int dir_fd, size_t max_entries, beneath_visit_fn fn, void *ctx,
                 bool *ret_truncated);

/* Removes the entry `name` beneath parentfd with everything in it (a file, a link or a
 * whole tree, at any depth), never following a link: links are removed as links. Missing
 * is fine. Returns 0, or an -errno met on the way (the rest is still attempted). */
int beneath_remove_tree(int parentfd, const char *name);

#endif
