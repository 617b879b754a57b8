/*
 * wsdir.c: handing a workspace directory to a sandbox's uid and back, safely.
 *
 * The host side never follows a symlink a sandbox could have made (Judge0's
 * CVE-2024-28185/28189 chowned through a planted link). The walk opens only directories,
 * with O_NOFOLLOW | O_DIRECTORY relative to their parent's fd, changes owners with
 * fchownat(AT_SYMLINK_NOFOLLOW) (a symlink's own owner, never its target's), never opens
 * a regular file, FIFO, socket or device, and is bounded in depth and entries.
 */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WS_MAX_DEPTH   64
#define WS_MAX_ENTRIES 200000

struct walk_ctx {
    uid_t uid; /* (uid_t)-1: measure only */
    gid_t gid;
    uint64_t stop_bytes;  /* stop once the sum passes this (0: never) */
    uint64_t max_entries; /* stop after this many entries */
    uint64_t file_cap;    /* note a regular file of exactly this size (0: none) */
};

static int walk(int dfd, const struct walk_ctx *c, struct ws_walk *w, int depth)
{
    uid_t uid = c->uid;
    gid_t gid = c->gid;
    if (depth > WS_MAX_DEPTH) {
        w->truncated = true;
        return 0;
    }
    /* A description of our own: a dup would share (and exhaust) dfd's directory offset. */
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int r = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (++w->entries > c->max_entries) {
            w->truncated = true;
            break;
        }
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        if (uid != (uid_t)-1 && (st.st_uid != uid || st.st_gid != gid) &&
            fchownat(dfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT) {
            r = -errno;
            break;
        }
        if (S_ISREG(st.st_mode)) {
            w->bytes += (uint64_t)st.st_size;
            if (c->file_cap && (uint64_t)st.st_size == c->file_cap)
                w->at_cap = true;
            if ((uint64_t)st.st_size > w->largest)
                w->largest = (uint64_t)st.st_size;
            if (c->stop_bytes && w->bytes > c->stop_bytes)
                break;
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue; /* replaced by something else meanwhile: not followed */
            r = walk(sub, c, w, depth + 1);
            close(sub);
            if (r < 0 || w->truncated || (c->stop_bytes && w->bytes > c->stop_bytes))
                break;
        }
    }
    closedir(d);
    return r;
}

int ws_chown_tree(int dir_fd, uid_t uid, gid_t gid, struct ws_walk *ret)
{
    struct walk_ctx c = {
        .uid = uid, .gid = gid, .max_entries = WS_MAX_ENTRIES, .file_cap = ret->file_cap};
    memset(ret, 0, sizeof(*ret));
    if (uid != (uid_t)-1 && fchown(dir_fd, uid, gid) < 0)
        return -errno;
    return walk(dir_fd, &c, ret, 0);
}

int ws_measure(int dir_fd, uint64_t stop_bytes, uint64_t max_entries, struct ws_walk *ret)
{
    struct walk_ctx c = {
        .uid = (uid_t)-1, .gid = (gid_t)-1, .stop_bytes = stop_bytes, .max_entries = max_entries};
    memset(ret, 0, sizeof(*ret));
    return walk(dir_fd, &c, ret, 0);
}
