/*
 * host.c: the sandbox host: what this machine allows (user namespaces, cgroups, root),
 * the run directory and its slots and the pre-built matplotlib font cache; made once at
 * start-up (sb_host_new), shared by every sandbox.
 */
#include "base/beneath.h"
#include "base/fdpass.h"
#include "sandbox/internal.h"

#include <dirent.h>
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

#define DEFAULT_UID_BASE 2000000000u
#define DEFAULT_SLOTS    4096u

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Can this process create the namespaces at all? */
static int probe_userns(struct err *err, bool root)
{
    pid_t pid = (pid_t)syscall(SYS_clone, SB_CLONE_FLAGS | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        int e = errno;
        if (root)
            return err_set(err, e,
                           "cannot create user, pid, mount and network namespaces "
                           "(running in a container? allow clone of namespaces, e.g. "
                           "docker --privileged or a seccomp profile that permits it)");
        return err_set(err, e,
                       "cannot create user namespaces as uid %d: run pyroom as root, or enable "
                       "unprivileged user namespaces (sysctl -w kernel.unprivileged_userns_clone=1 "
                       "user.max_user_namespaces=15000; on Ubuntu also "
                       "kernel.apparmor_restrict_unprivileged_userns=0)",
                       (int)getuid());
    }
    if (pid == 0)
        _exit(0);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* ---- the probe, remembered per boot --------------------------------------------------
 * probe_userns clones a child in fresh user, pid, mount, net, ipc and uts namespaces and
 * waits for it: 4-40 ms on a loaded VM (the network namespace's teardown), paid by every
 * start, which is most of a one-shot `pyroom sandbox run`. Whether it works depends on the
 * kernel, its settings and the namespaces we are in, so a success is remembered in
 * RUN_DIR/host-probe under a key of the boot id, our euid and our user and pid
 * namespaces. The file is trusted only in a run directory of ours that no one else may
 * write, only as a regular file of ours (O_NOFOLLOW, not group/other writable) whose
 * contents are exactly the key; anything else means "probe again". A forged file could only
 * skip a probe: a host that cannot clone then fails at the first spawn, with the clone's
 * own error. A failure is never remembered. */

#define PROBE_FILE "host-probe"

static int read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* The key a remembered probe must match; 0, or -errno when it cannot be made. */
static int probe_key(char *out, size_t cap)
{
    char boot[64], user[64], pid[64];
    ssize_t nu = readlink("/proc/self/ns/user", user, sizeof(user) - 1);
    ssize_t np = readlink("/proc/self/ns/pid", pid, sizeof(pid) - 1);
    if (read_small("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)) < 0 || !boot[0] ||
        nu <= 0 || np <= 0)
        return -ENOENT;
    user[nu] = pid[np] = '\0';
    int n = snprintf(out, cap, "pyroom host probe 1\nboot %s\neuid %u\n%s\n%s\nclone ok\n", boot,
                     (unsigned)geteuid(), user, pid);
    return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

/* The run directory, if only we may write it (else its remembered probe is not trusted). */
static int open_private_dir(const struct sb_host *h)
{
    int fd = open(h->run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_uid != h->my_uid || (st.st_mode & 022))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static bool probe_remembered(int dirfd, const char *key)
{
    char buf[512];
    size_t len = strlen(key);
    int fd = openat(dirfd, PROBE_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
              !(st.st_mode & 022) && (size_t)st.st_size == len && len < sizeof(buf) &&
              read(fd, buf, sizeof(buf)) == (ssize_t)len && memcmp(buf, key, len) == 0;
    close(fd);
    return ok;
}

/* Best effort: written whole under a name of ours, then renamed over the old one. */
static void probe_remember(int dirfd, const char *key)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s.%d", PROBE_FILE, (int)getpid());
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    size_t len = strlen(key);
    bool ok = write(fd, key, len) == (ssize_t)len;
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(dirfd, tmp, dirfd, PROBE_FILE) < 0)
        (void)unlinkat(dirfd, tmp, 0);
}

/* probe_userns, unless it succeeded already this boot, as this user, in these namespaces. */
static int probe_userns_once(const struct sb_host *h, struct err *err)
{
    char key[400];
    int dirfd = probe_key(key, sizeof(key)) == 0 ? open_private_dir(h) : -1;
    if (dirfd >= 0 && probe_remembered(dirfd, key)) {
        close(dirfd);
        return 0;
    }
    int r = probe_userns(err, h->root);
    if (r == 0 && dirfd >= 0)
        probe_remember(dirfd, key);
    if (dirfd >= 0)
        close(dirfd);
    return r;
}

static void find_mpl_cache(struct sb_host *h)
{
    char dir[320];
    snprintf(dir, sizeof(dir), "%s/mpl", h->run_dir);
    h->mpl_fd = -1;
    /* matplotlib names it fontlist-vNNN.json; 330 is Debian 12's. */
    static const char *const names[] = {"fontlist-v330.json", "fontlist-v390.json",
                                        "fontlist-v310.json", NULL};
    for (const char *const *n = names; *n; n++) {
        char p[400];
        snprintf(p, sizeof(p), "%s/%s", dir, *n);
        int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            h->mpl_fd = fd;
            snprintf(h->mpl_name, sizeof(h->mpl_name), "%s", *n);
            return;
        }
    }
}

/* Builds RUN_DIR/mpl/fontlist-*.json once per host by importing matplotlib's font manager
 * in a sandbox whose home is that directory; later sandboxes get a copy in their /tmp.
 * Best effort: without python3 or matplotlib there is simply no cache. */
static void build_mpl_cache(struct sb_host *h)
{
    char dir[320];
    snprintf(dir, sizeof(dir), "%s/mpl", h->run_dir);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return;
    static const char *const argv[] = {"python3", "-c", "import matplotlib.font_manager", NULL};
    static const char *const env[] = {"MPLCONFIGDIR=" SB_HOME, NULL};
    struct sb_spec spec = {.argv = argv, .env = env, .workspace = dir};
    sb_limits_default(&spec.limits);
    spec.limits.wall_ms = 60000;
    spec.limits.cpu_ms = 60000;
    struct sb_proc *p;
    struct sb_stdio io;
    struct sb_result res;
    if (sb_spawn(h, &spec, &p, &io, NULL) < 0)
        return;
    close(io.in);
    close(io.out);
    close(io.err);
    (void)sb_wait(p, &res);
    sb_proc_free(p);
    find_mpl_cache(h);
}

/* A warm pool's directory (RUN_DIR-pool-PID) left by a server that died (SIGKILL of its
 * process group skips sb_pool_close). Other pyroom servers share the parent directory, so
 * a directory goes only when its pid is gone AND nobody holds its lock: the pid alone
 * could be alive in another pid namespace (a pod sharing /run/pyroom), the lock alone is
 * not taken by servers older than it. The pool's templates wrote there: removed through
 * base/beneath (no link followed, any depth). */
static void sweep_pool_dirs(struct sb_host *h)
{
    char parent[256], prefix[300];
    snprintf(parent, sizeof(parent), "%s", h->run_dir);
    char *slash = strrchr(parent, '/');
    if (!slash || slash == parent)
        return;
    *slash = '\0';
    snprintf(prefix, sizeof(prefix), "%s-pool-", slash + 1);
    size_t plen = strlen(prefix);
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = pfd >= 0 ? fdopendir(pfd) : NULL;
    if (!d) {
        if (pfd >= 0)
            close(pfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, plen))
            continue;
        char *end;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (*end || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        bool free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
        close(fd);
        if (free_now)
            (void)beneath_remove_tree(dirfd(d), e->d_name);
    }
    closedir(d);
}

int sb_host_new(const struct sb_config *cfg, struct sb_host **ret, struct err *err)
{
    struct sb_config none = {0};
    if (!cfg)
        cfg = &none;
    struct sb_host *h = calloc(1, sizeof(*h));
    if (!h)
        return err_set(err, ENOMEM, "sandbox host");
    int r;
    h->my_uid = geteuid();
    h->my_gid = getegid();
    h->root = h->my_uid == 0;
    h->uid_base = cfg->uid_base ? cfg->uid_base : DEFAULT_UID_BASE;
    h->slots = cfg->slots ? cfg->slots : DEFAULT_SLOTS;
    h->mpl_fd = -1;
    h->net = (struct ns_net_pool){.host = -1};
    h->slot_refs = calloc(h->slots, sizeof(*h->slot_refs));
    h->slot_lock_fd = malloc(h->slots * sizeof(*h->slot_lock_fd));
    for (uint32_t i = 0; h->slot_lock_fd && i < h->slots; i++)
        h->slot_lock_fd[i] = -1;
    if (!h->slot_refs || !h->slot_lock_fd) {
        r = err_set(err, ENOMEM, "sandbox slots");
        goto fail;
    }
    if (cfg->run_dir) {
        snprintf(h->run_dir, sizeof(h->run_dir), "%s", cfg->run_dir);
    } else if (h->root) {
        snprintf(h->run_dir, sizeof(h->run_dir), "/run/pyroom");
    } else {
        const char *x = getenv("XDG_RUNTIME_DIR");
        if (x && *x)
            snprintf(h->run_dir, sizeof(h->run_dir), "%s/pyroom", x);
        else
            snprintf(h->run_dir, sizeof(h->run_dir), "/tmp/pyroom-%d", (int)h->my_uid);
    }
    if ((r = mkdir_p(h->run_dir, 0700)) < 0) {
        err_set(err, -r, "create '%s'", h->run_dir);
        goto fail;
    }
    struct stat st;
    if (lstat(h->run_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != h->my_uid) {
        r = err_set(err, EPERM, "'%s' is not a directory of ours", h->run_dir);
        goto fail;
    }
    if ((r = probe_userns_once(h, err)) < 0)
        goto fail;

    if (cfg->no_cgroups) {
        memset(&h->cg, 0, sizeof(h->cg));
        snprintf(h->cg.why, sizeof(h->cg.why), "cgroups disabled by configuration");
    } else {
        (void)cg_host_detect(&h->cg);
    }
    cg_sweep(&h->cg, slot_sweep_free, h);
    ns_net_pool_init(&h->net, h->root && !cfg->no_ahead);
    sweep_pool_dirs(h);
    find_mpl_cache(h);
    if (h->mpl_fd < 0)
        build_mpl_cache(h);

    if (h->cg.mode != CG_NONE) {
        snprintf(h->summary, sizeof(h->summary),
                 "sandbox: cgroup %s under %s; exact: wall time, cpu time (tree), memory+swap "
                 "(tree), pids (tree), file size, open files; host uids %u..%u",
                 h->cg.mode == CG_V1 ? "v1" : "v2", h->cg.memory, h->uid_base,
                 h->uid_base + h->slots - 1);
    } else {
        snprintf(h->summary, sizeof(h->summary),
                 "sandbox: rlimit fallback (%s); exact: wall time, file size, open files; "
                 "approximate: memory (RLIMIT_DATA per process), pids (RLIMIT_NPROC), cpu time "
                 "(RLIMIT_CPU per process); %s",
                 h->cg.why,
                 h->root ? "distinct host uid per slot"
                         : "all sandboxes share this user's host uid (not root)");
    }
    *ret = h;
    return 0;
fail:
    sb_host_free(h);
    return r;
}

void sb_host_free(struct sb_host *h)
{
    if (!h)
        return;
    ns_net_pool_done(&h->net);
    free(h->slot_refs);
    free(h->slot_lock_fd);
    if (h->mpl_fd >= 0)
        close(h->mpl_fd);
    free(h);
}

const char *sb_host_summary(const struct sb_host *h)
{
    return h->summary;
}

bool sb_host_has_cgroups(const struct sb_host *h)
{
    return h->cg.mode != CG_NONE;
}
