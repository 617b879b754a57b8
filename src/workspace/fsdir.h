/*
 * fsdir: a workspace as a directory on the host, for a sandbox to use at /home/user.
 *
 * The server writes the stored files into the directory before a run (fsdir_write) and
 * reads back what the sandbox left there afterwards (fsdir_scan). Everything in that
 * directory may have been planted by hostile code, so every access goes through
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from the directory's fd: a symlink is never
 * followed (it is reported as a symlink and skipped), special files (FIFOs, sockets,
 * devices) are never opened, and reads are capped so a sandbox cannot make the server
 * read without bound (Judge0's CVE-2024-28185/28189 were a host write through a planted
 * link). Names that break the path rules are skipped too.
 */
#ifndef PYROOM_WORKSPACE_FSDIR_H
#define PYROOM_WORKSPACE_FSDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fsdir_entry {
    char *path;  /* valid workspace path */
    bool folder; /* else a regular file */
    void *data;  /* file bytes (NUL-terminated, not counted); NULL for folders */
    size_t size; /* bytes */
};

#define FSDIR_SKIP_NAMES 100    /* skipped entries named in a scan; the rest are counted */
#define FSDIR_WALK_EXTRA 100000 /* entries a scan looks at beyond max_entries, to name them */

/* An entry a scan did not take, and why (a static sentence). */
struct fsdir_skip {
    char *path; /* as found (may break the path rules, then it is why it was skipped) */
    const char *why;
};

struct fsdir_scan {
    struct fsdir_entry *items; /* in directory-walk order */
    size_t n;
    struct fsdir_skip *skips; /* the first FSDIR_SKIP_NAMES entries not taken */
    size_t nskips;
    size_t skipped;  /* every entry not taken: links, special files, bad names, limits */
    bool over_limit; /* max_entries or max_bytes left something out */
    bool incomplete; /* the walk stopped before the end: some entries were not even seen */
};

/* Writes data to path beneath dirfd, creating parent folders; files and folders are
 * owned by uid:gid (mode 0644/0755; setuid and setgid bits are dropped). A symlink on the
 * way is an error (-ELOOP or -ENOTDIR); a link, FIFO, socket or device at path itself is
 * replaced by the file, never written through (-EEXIST if one is planted again meanwhile). */
int fsdir_write(int dirfd, const char *path, const void *data, size_t len, uid_t uid, gid_t gid);
/* Creates the folder path (and its parents) beneath dirfd, owned by uid:gid. */
int fsdir_mkdir(int dirfd, const char *path, uid_t uid, gid_t gid);
/* Removes path (a file, or a folder with its contents) beneath dirfd; missing is fine. */
int fsdir_remove(int dirfd, const char *path);
/* Walks the tree beneath dirfd (iteratively, at any depth: base/beneath.h) and takes
 * folders and regular files by the files API's rules: a path that path_check refuses, a
 * link or special file, a file over max_file, and whatever comes after max_entries
 * entries or max_bytes bytes are skipped and named (s->skips). Top-level names in
 * `ignore` (NULL-terminated) are left out silently. An entry not taken is never evidence
 * that a path is gone: ask fsdir_absent. */
int fsdir_scan(int dirfd, size_t max_file, size_t max_entries, size_t max_bytes,
               const char *const *ignore, struct fsdir_scan *ret);
void fsdir_scan_done(struct fsdir_scan *s);
/* true only when path is confirmed absent beneath dirfd (it, or a folder on its way, does
 * not exist or is a file); false when it exists in any form or cannot be checked. */
bool fsdir_absent(int dirfd, const char *path);
/* Removes the directory `name` beneath parentfd with everything in it, never following
 * a symlink (base/beneath.h: beneath_remove_tree). */
int fsdir_remove_tree(int parentfd, const char *name);

#endif
