/* fsdir: workspace directories on the host, never following a planted link; see fsdir.h. */
#include "workspace/fsdir.h"

#include "base/beneath.h"
#include "workspace/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens each folder of the first `n` bytes of path, creating it (owned by uid:gid) when
 * missing, one segment at a time with O_NOFOLLOW, so a symlink anywhere on the way fails
 * with ELOOP or ENOTDIR. Returns a directory fd, or -errno. */
static int mkdirs(int dirfd, const char *path, size_t n, uid_t uid, gid_t gid)
{
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    size_t i = 0;
    while (i < n) {
        size_t l = 0;
        while (i + l < n && path[i + l] != '/')
            l++;
        char seg[PATH_SEGMENT_MAX + 1];
        if (l == 0 || l > PATH_SEGMENT_MAX) {
            close(fd);
            return -EINVAL;
        }
        memcpy(seg, path + i, l);
        seg[l] = '\0';
        if (mkdirat(fd, seg, 0755) == 0) {
            if (fchownat(fd, seg, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
                int e = errno;
                close(fd);
                return -e;
            }
        } else if (errno != EEXIST) {
            int e = errno;
            close(fd);
            return -e;
        }
        int next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (next < 0)
            return -e;
        fd = next;
        i += l + 1;
    }
    return fd;
}

static size_t parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}

int fsdir_mkdir(int dirfd, const char *path, uid_t uid, gid_t gid)
{
    if (path_check(path, strlen(path), NULL) < 0)
        return -EINVAL;
    int fd = mkdirs(dirfd, path, strlen(path), uid, gid);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int fsdir_write(int dirfd, const char *path, const void *data, size_t len, uid_t uid, gid_t gid)
{
    if (path_check(path, strlen(path), NULL) < 0)
        return -EINVAL;
    int pfd = mkdirs(dirfd, path, parent_len(path), uid, gid);
    if (pfd < 0)
        return pfd;
    /* O_NONBLOCK: a planted FIFO fails at once (ENXIO) instead of blocking us forever. */
    const char *name = path_basename(path);
    int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    if (fd < 0 && errno != EISDIR && errno != ENOENT && errno != ENOTDIR) {
        /* A link, FIFO, socket or device planted where the file goes (a live terminal's
         * sandbox can do that): it is replaced by the file, never written through. If it
         * comes back meanwhile, O_EXCL refuses (-EEXIST: the caller answers 409). */
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
            !S_ISREG(st.st_mode) && unlinkat(pfd, name, 0) == 0)
            fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0 && fstat(fd, &st) < 0) {
            close(fd);
            fd = -1;
        }
    }
    int e = errno;
    close(pfd);
    if (fd < 0)
        return e == ELOOP || e == ENXIO ? -EINVAL : -e;
    int r = 0;
    if (ftruncate(fd, 0) < 0 || fchown(fd, uid, gid) < 0) {
        r = -errno;
        goto out;
    }
    /* No setuid or setgid file in a workspace (root's writes do not clear the bits). */
    if ((st.st_mode & (S_ISUID | S_ISGID)) && fchmod(fd, st.st_mode & 0777) < 0) {
        r = -errno;
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
out:
    close(fd);
    return r;
}

int fsdir_remove_tree(int parentfd, const char *name)
{
    return beneath_remove_tree(parentfd, name);
}

int fsdir_remove(int dirfd, const char *path)
{
    if (path_check(path, strlen(path), NULL) < 0)
        return -EINVAL;
    char parent[PATH_BUF_SIZE];
    snprintf(parent, sizeof(parent), "%.*s", (int)parent_len(path), path);
    int pfd = beneath_open(dirfd, parent, O_RDONLY | O_DIRECTORY);
    if (pfd < 0)
        return pfd == -ENOENT ? 0 : pfd;
    int r = fsdir_remove_tree(pfd, path_basename(path));
    close(pfd);
    return r;
}

struct scan_state {
    struct fsdir_scan *out;
    size_t cap, skip_cap;
    size_t bytes;
    size_t max_file, max_entries, max_bytes;
    const char *const *ignore;
};

static int push(struct scan_state *s, struct fsdir_entry e)
{
    struct fsdir_scan *o = s->out;
    if (o->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct fsdir_entry *p = realloc(o->items, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        o->items = p;
        s->cap = cap;
    }
    o->items[o->n++] = e;
    return 0;
}

/* Counts a skipped entry and names it (the first FSDIR_SKIP_NAMES of them). */
static int skip(struct scan_state *s, const char *path, const char *why)
{
    struct fsdir_scan *o = s->out;
    o->skipped++;
    if (o->nskips >= FSDIR_SKIP_NAMES)
        return 0;
    if (o->nskips == s->skip_cap) {
        size_t cap = s->skip_cap ? s->skip_cap * 2 : 16;
        struct fsdir_skip *p = realloc(o->skips, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        o->skips = p;
        s->skip_cap = cap;
    }
    /* A name that breaks the path rules may be long or odd: keep a bounded copy. */
    char *copy = strndup(path, PATH_LEN_MAX);
    if (!copy)
        return -ENOMEM;
    o->skips[o->nskips++] = (struct fsdir_skip){.path = copy, .why = why};
    return 0;
}

static bool ignored(const char *name, const char *const *ignore)
{
    for (size_t i = 0; ignore && ignore[i]; i++)
        if (!strcmp(name, ignore[i]))
            return true;
    return false;
}

static int scan_visit(void *ctx, const struct beneath_entry *e)
{
    struct scan_state *s = ctx;
    const struct stat *st = e->st;
    bool dir = S_ISDIR(st->st_mode);
    if (e->post)
        return BW_NEXT;
    if (e->depth == 1 && ignored(e->name, s->ignore))
        return BW_SKIP;
    /* The same rules as the files API: what it would refuse is not stored (and named). */
    if (path_check(e->path, strlen(e->path), NULL) < 0) {
        int r = skip(s, e->path, "its name or depth breaks the path rules");
        return r < 0 ? r : BW_SKIP;
    }
    if (!dir && !S_ISREG(st->st_mode)) /* symlinks, FIFOs, sockets, devices: never opened */
        return skip(s, e->path, "a link or special file");
    if (s->out->n >= s->max_entries) {
        s->out->over_limit = true;
        int r = skip(s, e->path, "past the workspace's file count");
        return r < 0 ? r : BW_SKIP;
    }
    if (dir) {
        char *p = strdup(e->path);
        if (!p || push(s, (struct fsdir_entry){.path = p, .folder = true}) < 0) {
            free(p);
            return -ENOMEM;
        }
        return BW_NEXT;
    }
    if ((size_t)st->st_size > s->max_file)
        return skip(s, e->path, "larger than the file size limit");
    char *data = NULL;
    size_t len = 0;
    int rr = beneath_read(e->dfd, e->name, s->max_file, &data, &len);
    if (rr == -ENOMEM)
        return rr;
    if (rr == -EFBIG)
        return skip(s, e->path, "larger than the file size limit");
    if (rr < 0)
        return skip(s, e->path, "could not be read");
    if (s->bytes + len > s->max_bytes) {
        free(data);
        s->out->over_limit = true;
        return skip(s, e->path, "past the workspace's size limit");
    }
    s->bytes += len;
    char *p = strdup(e->path);
    if (!p || push(s, (struct fsdir_entry){.path = p, .data = data, .size = len}) < 0) {
        free(p);
        free(data);
        return -ENOMEM;
    }
    return BW_NEXT;
}

int fsdir_scan(int dirfd, size_t max_file, size_t max_entries, size_t max_bytes,
               const char *const *ignore, struct fsdir_scan *ret)
{
    memset(ret, 0, sizeof(*ret));
    struct scan_state s = {.out = ret,
                           .max_file = max_file,
                           .max_entries = max_entries,
                           .max_bytes = max_bytes,
                           .ignore = ignore};
    bool truncated = false;
    int r = beneath_walk(dirfd, max_entries + FSDIR_WALK_EXTRA, scan_visit, &s, &truncated);
    if (r < 0) {
        fsdir_scan_done(ret);
        return r;
    }
    if (truncated) {
        ret->over_limit = true;
        ret->incomplete = true;
    }
    return 0;
}

bool fsdir_absent(int dirfd, const char *path)
{
    if (path_check(path, strlen(path), NULL) < 0)
        return false;
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    bool absent = false;
    /* One segment at a time: missing, or a regular file on the way, is absent; a link or
     * special file anywhere is not evidence of anything. */
    for (const char *p = path; fd >= 0;) {
        size_t l = strcspn(p, "/");
        char seg[PATH_SEGMENT_MAX + 1];
        memcpy(seg, p, l);
        seg[l] = '\0';
        struct stat st;
        if (fstatat(fd, seg, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            absent = errno == ENOENT;
            break;
        }
        if (!p[l] || !S_ISDIR(st.st_mode)) {
            absent = p[l] && S_ISREG(st.st_mode);
            break;
        }
        int next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        fd = next;
        p += l + 1;
    }
    if (fd >= 0)
        close(fd);
    return absent;
}

void fsdir_scan_done(struct fsdir_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].path);
        free(s->items[i].data);
    }
    free(s->items);
    for (size_t i = 0; i < s->nskips; i++)
        free(s->skips[i].path);
    free(s->skips);
    memset(s, 0, sizeof(*s));
}
