/*
 * wsdir.c: handing a workspace directory to a sandbox's uid and back, safely.
 *
 * The host side never follows a symlink a sandbox could have made (Judge0's
 * CVE-2024-28185/28189 chowned through a planted link). The walk opens only directories,
 * with O_NOFOLLOW | O_DIRECTORY relative to their parent's fd, changes owners with
 * fchownat(AT_SYMLINK_NOFOLLOW) (a symlink's own owner, never its target's), never opens
 * a regular file, FIFO, socket or device, and is bounded by entries, never by depth
 * (base/beneath.c: iterative, one fd at a time).
 */
#include "base/beneath.h"
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WS_MAX_ENTRIES 1000000 /* a workspace file system holds far fewer (its inode limit) */

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

struct walk_ctx {
    uid_t uid; /* (uid_t)-1: measure only */
    gid_t gid;
    uint64_t stop_bytes; /* stop once the sum passes this (0: never) */
    uint64_t file_cap;   /* note a regular file of exactly this size (0: none) */
    struct ws_walk *w;
    int err;
};

static int visit(void *ctx, const struct beneath_entry *e)
{
    struct walk_ctx *c = ctx;
    struct ws_walk *w = c->w;
    const struct stat *st = e->st;
    if (e->post)
        return BW_NEXT;
    w->entries++;
    if (c->uid != (uid_t)-1 && (st->st_uid != c->uid || st->st_gid != c->gid) &&
        fchownat(e->dfd, e->name, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
        return -errno;
    /* A setuid or setgid file has no business in a workspace (the file system is nosuid
     * too): the bits go, changing the file itself and never a link's target. */
    if (c->uid != (uid_t)-1 && S_ISREG(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)))
        (void)syscall(SYS_fchmodat2, e->dfd, e->name, st->st_mode & 0777, AT_SYMLINK_NOFOLLOW);
    if (S_ISREG(st->st_mode)) {
        w->bytes += (uint64_t)st->st_size;
        if (c->file_cap && (uint64_t)st->st_size == c->file_cap)
            w->at_cap = true;
        if ((uint64_t)st->st_size > w->largest)
            w->largest = (uint64_t)st->st_size;
        if (c->stop_bytes && w->bytes > c->stop_bytes)
            return BW_STOP;
    }
    return BW_NEXT;
}

static int run(int dir_fd, struct walk_ctx *c, uint64_t max_entries, struct ws_walk *ret)
{
    bool truncated = false;
    c->w = ret;
    int r = beneath_walk(dir_fd, (size_t)max_entries, visit, c, &truncated);
    ret->truncated = r < 0 || truncated;
    return r;
}

int ws_chown_tree(int dir_fd, uid_t uid, gid_t gid, struct ws_walk *ret)
{
    struct walk_ctx c = {.uid = uid, .gid = gid, .file_cap = ret->file_cap};
    memset(ret, 0, sizeof(*ret));
    if (uid != (uid_t)-1 && fchown(dir_fd, uid, gid) < 0)
        return -errno;
    return run(dir_fd, &c, WS_MAX_ENTRIES, ret);
}

int ws_measure(int dir_fd, uint64_t stop_bytes, uint64_t max_entries, struct ws_walk *ret)
{
    struct walk_ctx c = {.uid = (uid_t)-1, .gid = (gid_t)-1, .stop_bytes = stop_bytes};
    memset(ret, 0, sizeof(*ret));
    return run(dir_fd, &c, max_entries, ret);
}

/* ---- workspace file systems ----------------------------------------------------------
 * Each run and each terminal environment gets a tmpfs of its own for /home/user: its size
 * and inode count are the kernel's to enforce (ENOSPC inside, whatever the tree's depth),
 * it is nosuid and nodev, and it goes with one unmount. Made with the new mount API
 * (fsopen/fsconfig/fsmount) and attached with move_mount onto the directory we hold open,
 * so no host path is resolved between checking and mounting. Its pages are memory: a
 * sandbox's writes are charged to the sandbox's memory cgroup, what the server writes
 * (the stored files) to the server's; see docs/security.md. */

static int fsconfig_u64(int fs, const char *key, uint64_t v)
{
    char val[24];
    snprintf(val, sizeof(val), "%llu", (unsigned long long)v);
    return fsconfig(fs, FSCONFIG_SET_STRING, key, val, 0);
}

int sb_wsfs_mount(int parent_fd, const char *name, uint64_t bytes, uint64_t inodes, struct err *err)
{
    int fs = -1, mnt = -1, dir = -1, r = 0;
    fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0)
        return err_set(err, errno, "fsopen tmpfs");
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "pyroom-ws", 0) < 0 ||
        fsconfig_u64(fs, "size", bytes) < 0 || fsconfig_u64(fs, "nr_inodes", inodes) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        r = err_set(err, errno, "configure the workspace tmpfs");
        goto out;
    }
    mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (mnt < 0) {
        r = err_set(err, errno, "fsmount");
        goto out;
    }
    dir = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) {
        r = err_set(err, errno, "open '%s'", name);
        goto out;
    }
    if (move_mount(mnt, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
        r = err_set(err, errno, "mount the workspace tmpfs");
        goto out;
    }
    /* The mount's own root (dir still names the directory beneath it). */
    r = openat(mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r < 0)
        r = err_set(err, errno, "open the workspace tmpfs");
out:
    if (dir >= 0)
        close(dir);
    if (mnt >= 0)
        close(mnt);
    close(fs);
    return r;
}

int sb_wsfs_unmount(int parent_fd, const char *name)
{
    char path[64];
    if (strchr(name, '/') || strlen(name) > 32)
        return -EINVAL;
    snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", parent_fd, name);
    int n = 0;
    /* Lazily: a sandbox that still holds it lets go when it ends. Stacked mounts too. */
    while (n < 16 && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        n++;
    if (n == 0 && errno != EINVAL && errno != ENOENT)
        return -errno;
    return n;
}

bool sb_wsfs_full(int fd)
{
    struct statfs s;
    if (fstatfs(fd, &s) < 0 || s.f_type != TMPFS_MAGIC)
        return false;
    return s.f_bavail == 0 || (s.f_files && s.f_ffree == 0);
}

bool sb_wsfs_is(int fd)
{
    /* The root of a tmpfs of its own: a plain directory that merely lies on a tmpfs (a
     * host's /tmp) is not one, and gets the walks. */
    struct statfs s;
    struct statx x;
    return fstatfs(fd, &s) == 0 && s.f_type == TMPFS_MAGIC && s.f_blocks > 0 &&
           statx(fd, "", AT_EMPTY_PATH, 0, &x) == 0 &&
           (x.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (x.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

void sb_wsfs_sweep(int dir_fd)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            (void)sb_wsfs_unmount(dir_fd, de->d_name);
    closedir(d);
}
