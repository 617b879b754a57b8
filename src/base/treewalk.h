/*
 * treewalk: one safe, iterative walk of a directory tree that a sandbox may have written.
 *
 * Every walk of a workspace (handing it to a sandbox's uid, measuring it, scanning it back,
 * removing it) goes through here, so the rules hold in one place:
 *   - never follows a symlink: directories are opened with O_NOFOLLOW | O_DIRECTORY
 *     relative to their parent's fd, and nothing else is ever opened;
 *   - no recursion and no depth cut-off: a 10,000-deep chain is walked like a flat folder.
 *     Only one directory fd is open at a time; the way back up is "..", checked against
 *     the device and inode remembered on the way down (a directory moved meanwhile ends
 *     the walk with -ESTALE rather than walking somewhere else);
 *   - bounded by entries: after max_entries the walk stops and says so (*ret_truncated).
 * A caller must treat a stopped or failed walk as "not seen", never as "absent".
 *
 * The callback sees each entry once before its contents (post == false) and each directory
 * once more after them (post == true; then dfd is the directory's parent again).
 */
#ifndef PYROOM_BASE_TREEWALK_H
#define PYROOM_BASE_TREEWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct tw_entry {
    int dfd;               /* the directory holding the entry */
    const char *name;      /* its name in dfd */
    const char *path;      /* relative to the walk's root, '/'-separated */
    const struct stat *st; /* lstat of the entry (never of a link's target) */
    size_t depth;          /* 1 for the root's own entries */
    bool post;             /* a directory, after its contents */
};

/* The callback returns < 0 to stop with that error, TW_NEXT, TW_SKIP (do not descend into
 * this directory) or TW_STOP (stop, successfully). */
enum { TW_NEXT = 0, TW_SKIP = 1, TW_STOP = 2 };
typedef int (*tw_fn)(void *ctx, const struct tw_entry *e);

/* Walks the tree below dir_fd (which is left as it is). max_entries 0: no bound. Returns 0
 * (also when fn stopped it or the bound was reached: *ret_truncated, may be NULL, says the
 * latter), or -errno: -ESTALE when the tree moved under the walk. */
int treewalk(int dir_fd, size_t max_entries, tw_fn fn, void *ctx, bool *ret_truncated);

#endif
