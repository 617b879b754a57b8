/* beneath: opening, reading and walking beneath a directory without following a link;
 * see beneath.h. */
#include "base/beneath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int beneath_open(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof(how));
    return fd < 0 ? -errno : fd;
}

enum beneath_kind beneath_stat(int dirfd, const char *path, struct stat *ret_st)
{
    int fd = beneath_open(dirfd, path, O_PATH);
    if (fd == -ENOENT || fd == -ENOTDIR)
        return BENEATH_MISSING; /* confirmed gone */
    if (fd < 0)
        return BENEATH_OTHER; /* reachable only through a link, or unreadable: not seen */
    int r = fstat(fd, ret_st);
    close(fd);
    if (r < 0)
        return BENEATH_MISSING;
    if (S_ISREG(ret_st->st_mode))
        return BENEATH_FILE;
    if (S_ISDIR(ret_st->st_mode))
        return BENEATH_DIR;
    return BENEATH_OTHER;
}

int beneath_read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -EINVAL;
    if ((size_t)st.st_size > max)
        return -EFBIG;
    /* st_size is a hint only: the file may grow while we read (a live sandbox writes). */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                r = -EFBIG;
                goto out;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *p = realloc(buf, ncap + 1);
            if (!p) {
                r = -ENOMEM;
                goto out;
            }
            buf = p;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            r = -EFBIG;
            goto out;
        }
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    buf = NULL;
out:
    free(buf);
    return r;
}

int beneath_read(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len)
{
    int fd = beneath_open(dirfd, path, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return fd;
    int r = beneath_read_fd(fd, max, ret, ret_len);
    close(fd);
    return r;
}

/* One directory we went down from: where to come back to and what we left. */
struct level {
    dev_t dev; /* the parent, to check ".." against */
    ino_t ino;
    long cookie;       /* telldir() of the parent after the child's entry */
    size_t path_len;   /* length of the parent's path */
    struct stat child; /* the directory we went into, for its post callback */
};

struct walk {
    struct level *stack;
    size_t depth, cap;
    char *path;
    size_t plen, pcap;
};

static int push(struct walk *w, const struct level *l)
{
    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct level *p = realloc(w->stack, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        w->stack = p;
        w->cap = cap;
    }
    w->stack[w->depth++] = *l;
    return 0;
}

/* Appends "/name" (or "name" at the root) to the path. */
static int path_push(struct walk *w, const char *name)
{
    size_t n = strlen(name), sep = w->plen ? 1 : 0;
    if (w->plen + sep + n + 1 > w->pcap) {
        size_t cap = w->pcap ? w->pcap : 256;
        while (cap < w->plen + sep + n + 1)
            cap *= 2;
        char *p = realloc(w->path, cap);
        if (!p)
            return -ENOMEM;
        w->path = p;
        w->pcap = cap;
    }
    if (sep)
        w->path[w->plen++] = '/';
    memcpy(w->path + w->plen, name, n + 1);
    w->plen += n;
    return 0;
}

static void path_cut(struct walk *w, size_t len)
{
    w->plen = len;
    w->path[len] = '\0';
}

/* long-function: one loop on purpose (a little over 100 lines): the way down, the way back up
 * through ".." and the entry bound share the open DIR, the stack and the path; split up, each piece
 * would need all of them. */
int beneath_walk(int dir_fd, size_t max_entries, beneath_visit_fn fn, void *ctx,
                 bool *ret_truncated)
{
    struct walk w = {0};
    size_t seen = 0;
    bool truncated = false;
    int r = path_push(&w, "");
    if (r < 0)
        return r;
    /* A description of our own: readdir must not move the caller's offset. */
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        free(w.path);
        return -errno;
    }
    struct stat cur;
    DIR *d = fstat(fd, &cur) == 0 ? fdopendir(fd) : NULL;
    if (!d) {
        r = -errno;
        close(fd);
        free(w.path);
        return r;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                r = -errno;
                break;
            }
            if (!w.depth)
                break; /* the root is done */
            /* This directory is done: back up through "..", which must be the parent we
             * came from (a live sandbox may have moved things meanwhile). */
            struct level *l = &w.stack[--w.depth];
            int up = openat(dirfd(d), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (up < 0) {
                r = -errno;
                break;
            }
            closedir(d);
            d = NULL;
            if (fstat(up, &cur) < 0 || cur.st_dev != l->dev || cur.st_ino != l->ino ||
                !(d = fdopendir(up))) {
                close(up);
                r = -ESTALE;
                break;
            }
            seekdir(d, l->cookie);
            size_t sep = l->path_len ? 1 : 0;
            struct beneath_entry e = {.dfd = dirfd(d),
                                      .name = w.path + l->path_len + sep,
                                      .path = w.path,
                                      .st = &l->child,
                                      .depth = w.depth + 1,
                                      .post = true};
            r = fn(ctx, &e);
            path_cut(&w, l->path_len);
            if (r < 0 || r == BW_STOP)
                break;
            continue;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (max_entries && ++seen > max_entries) {
            truncated = true;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        size_t before = w.plen;
        if ((r = path_push(&w, de->d_name)) < 0)
            break;
        struct beneath_entry e = {
            .dfd = dirfd(d), .name = de->d_name, .path = w.path, .st = &st, .depth = w.depth + 1};
        r = fn(ctx, &e);
        if (r < 0 || r == BW_STOP)
            break;
        if (S_ISDIR(st.st_mode) && r != BW_SKIP) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            struct stat sst;
            if (sub >= 0 && fstat(sub, &sst) == 0 && sst.st_dev == st.st_dev &&
                sst.st_ino == st.st_ino) {
                struct level l = {.dev = cur.st_dev,
                                  .ino = cur.st_ino,
                                  .cookie = telldir(d),
                                  .path_len = before,
                                  .child = st};
                DIR *sd = NULL;
                if ((r = push(&w, &l)) < 0 || !(sd = fdopendir(sub))) {
                    r = r < 0 ? r : -errno;
                    close(sub);
                    break;
                }
                closedir(d);
                d = sd;
                cur = sst;
                continue;
            }
            /* replaced by something else meanwhile: not followed */
            if (sub >= 0)
                close(sub);
        }
        r = 0;
        path_cut(&w, before);
    }
    if (d)
        closedir(d);
    free(w.stack);
    free(w.path);
    if (r == BW_STOP)
        r = 0;
    if (r == 0 && ret_truncated)
        *ret_truncated = truncated;
    return r;
}

/* Post-order: files as they come, each folder once it is empty. */
static int remove_visit(void *ctx, const struct beneath_entry *e)
{
    int *err = ctx;
    if (S_ISDIR(e->st->st_mode) && !e->post)
        return BW_NEXT;
    if (unlinkat(e->dfd, e->name, S_ISDIR(e->st->st_mode) ? AT_REMOVEDIR : 0) < 0 &&
        errno != ENOENT)
        *err = -errno;
    return BW_NEXT;
}

int beneath_remove_tree(int parentfd, const char *name)
{
    int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(parentfd, name, 0) < 0 ? -errno : 0;
        return -errno;
    }
    int err = 0;
    int r = beneath_walk(fd, 0, remove_visit, &err, NULL);
    close(fd);
    if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -errno;
    return r < 0 ? r : err;
}
