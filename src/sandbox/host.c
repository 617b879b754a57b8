/*
 * host.c: the sandbox host: what this machine allows (user namespaces, cgroups, root),
 * the run directory and its slots, the compiled seccomp filter and the pre-built
 * matplotlib font cache; made once at start-up (sb_host_new), shared by every sandbox.
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
    if ((r = probe_userns(err, h->root)) < 0)
        goto fail;
    if ((r = seccomp_prog_compile(&h->filter, err)) < 0)
        goto fail;

    if (cfg->no_cgroups) {
        memset(&h->cg, 0, sizeof(h->cg));
        snprintf(h->cg.why, sizeof(h->cg.why), "cgroups disabled by configuration");
    } else {
        (void)cg_host_detect(&h->cg);
    }
    cg_sweep(&h->cg, slot_sweep_free, h);
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
    free(h->filter.filter);
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
