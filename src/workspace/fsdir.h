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

struct fsdir_scan {
    struct fsdir_entry *items; /* in directory-walk order */
    size_t n;
    size_t skipped;  /* symlinks, special files, bad names, over-limit files */
    bool over_limit; /* the walk stopped at max_entries or max_bytes */
};

/* Writes data to path beneath dirfd, creating parent folders; files and folders are
 * owned by uid:gid (mode 0644/0755). An existing symlink on the way is an error (-ELOOP). */
int fsdir_write(int dirfd, const char *path, const void *data, size_t len, uid_t uid, gid_t gid);
/* Creates the folder path (and its parents) beneath dirfd, owned by uid:gid. */
int fsdir_mkdir(int dirfd, const char *path, uid_t uid, gid_t gid);
/* Removes path (a file, or a folder with its contents) beneath dirfd; missing is fine. */
int fsdir_remove(int dirfd, const char *path);
/* Walks the tree beneath dirfd. Files larger than max_file are skipped; the walk stops
 * (over_limit) after max_entries entries or max_bytes bytes in all. Paths starting with
 * a name in `ignore` (NULL-terminated list of top-level names) are left out. */
int fsdir_scan(int dirfd, size_t max_file, size_t max_entries, size_t max_bytes,
               const char *const *ignore, struct fsdir_scan *ret);
void fsdir_scan_done(struct fsdir_scan *s);
/* Removes the directory `name` beneath parentfd with everything in it, never following
 * a symlink. */
int fsdir_remove_tree(int parentfd, const char *name);

#endif
