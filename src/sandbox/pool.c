/*
 * pool.c: the warm pool's own identity (uid, directory, cgroup); see the comment below.
 */
#include "base/fdpass.h"
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the warm pool's own identity ----------------------------------------------------
 *
 * Templates and unclaimed zygotes run as a host uid of their own (uid_base - 1, when we are
 * root; else our uid), with no capabilities and no_new_privs, in their own net, ipc and uts
 * namespaces, with a private directory for HOME, TMPDIR and matplotlib's config (with our
 * pre-built font cache), and in one cgroup whose memory limit bounds the whole pool. They
 * share the host's mount namespace on purpose: a claimed zygote's mount namespace must be a
 * copy of the one that holds the workspace (child_claimed_main). */

struct sb_pool {
    struct sb_host *h;
    uid_t uid;
    gid_t gid;
    bool own_uid; /* a uid of its own (root): drop to it */
    char dir[300];
    struct cg_proc cg;
    bool has_cg;
    char cg_procs[3][640];
    int ncg;
    int dir_lock; /* flock on dir while the pool lives: the sweep's proof of life */
};

static int copy_cache(struct sb_host *h, const char *dir, uid_t uid, gid_t gid)
{
    if (h->mpl_fd < 0)
        return 0;
    char path[400], buf[16384];
    snprintf(path, sizeof(path), "%s/%s", dir, h->mpl_name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    off_t off = 0;
    int r = 0;
    for (;;) {
        ssize_t n = pread(h->mpl_fd, buf, sizeof(buf), off);
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        if (write(fd, buf, (size_t)n) != n) {
            r = -EIO;
            break;
        }
        off += n;
    }
    if (r == 0 && h->root && fchown(fd, uid, gid) < 0)
        r = -errno;
    close(fd);
    return r;
}

int sb_pool_open(struct sb_host *h, uint64_t memory_bytes, struct sb_pool **ret, struct err *err)
{
    struct sb_pool *p = calloc(1, sizeof(*p));
    int r;
    if (!p)
        return err_set(err, ENOMEM, "warm pool");
    p->h = h;
    p->cg.cpu_fd = p->cg.pids_ev_fd = p->cg.oom_fd = -1;
    p->own_uid = h->root;
    p->uid = h->root ? h->uid_base - 1 : h->my_uid;
    p->gid = h->root ? h->uid_base - 1 : h->my_gid;
    /* Beside the run directory, not in it: that one is closed to other uids. */
    p->dir_lock = -1;
    snprintf(p->dir, sizeof(p->dir), "%s-pool-%d", h->run_dir, (int)getpid());
    if (mkdir(p->dir, 0700) < 0 && errno != EEXIST) {
        r = err_set(err, errno, "mkdir '%s'", p->dir);
        goto fail;
    }
    p->dir_lock = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (p->dir_lock < 0 || flock(p->dir_lock, LOCK_EX | LOCK_NB) < 0) {
        r = err_set(err, errno, "lock '%s'", p->dir);
        goto fail;
    }
    if (h->root && chown(p->dir, p->uid, p->gid) < 0) {
        r = err_set(err, errno, "chown '%s'", p->dir);
        goto fail;
    }
    if ((r = copy_cache(h, p->dir, p->uid, p->gid)) < 0) {
        err_set(err, -r, "copy the font cache into '%s'", p->dir);
        goto fail;
    }
    if (h->cg.mode != CG_NONE) {
        char name[32];
        struct sb_limits l = {.memory_bytes = memory_bytes, .pids = 1024};
        snprintf(name, sizeof(name), "pyroom-pool-%d", (int)getpid());
        if ((r = cg_create(&h->cg, name, &l, &p->cg, err)) < 0)
            goto fail;
        p->has_cg = true;
        p->ncg = cg_procs_paths(&p->cg, p->cg_procs);
    }
    *ret = p;
    return 0;
fail:
    sb_pool_close(p);
    return r;
}

void sb_pool_close(struct sb_pool *p)
{
    if (!p)
        return;
    if (p->has_cg)
        cg_destroy(&p->cg);
    if (p->dir[0]) {
        int dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd >= 0) {
            /* what the templates left there: the font cache, matplotlib's files */
            struct ws_walk w;
            (void)ws_chown_tree(dfd, p->h->my_uid, p->h->my_gid, &w);
            close(dfd);
        }
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "%s/%s", p->dir, p->h->mpl_name);
        (void)unlink(cmd);
        (void)rmdir(p->dir);
    }
    if (p->dir_lock >= 0)
        close(p->dir_lock);
    free(p);
}

const char *sb_pool_dir(const struct sb_pool *p)
{
    return p->dir;
}

uid_t sb_pool_uid(const struct sb_pool *p)
{
    return p->uid;
}

uint64_t sb_pool_memory_bytes(const struct sb_pool *p)
{
    return p->has_cg ? cg_memory_current(&p->cg) : 0;
}

int sb_pool_enter(const struct sb_pool *p)
{
    for (int i = 0; i < p->ncg; i++) {
        int fd = open(p->cg_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            return -errno;
        close(fd);
    }
    if (p->own_uid && unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
        return -errno;
    if (chdir(p->dir) < 0)
        return -errno;
    if (p->own_uid) {
        for (int c = 0; c < 64; c++)
            if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        if (setgroups(0, NULL) < 0 || setresgid(p->gid, p->gid, p->gid) < 0 ||
            setresuid(p->uid, p->uid, p->uid) < 0)
            return -errno;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return 0;
}
