/*
 * spawn.c: the host (what it allows, slots, the compiled filter) and the life of one
 * sandbox: spawn, limit checks, kill, reap. See sandbox.h for the theory of operation.
 *
 * Slots. Each live sandbox holds a slot: an flock on RUN_DIR/slot-N.lock, so several pyroom
 * processes on one host never hand out the same slot; the slot gives the sandbox its host
 * uid (uid_base + N, when we are root) and its cgroup name (pyroom-sbN). A slot whose lock
 * nobody holds but whose cgroup exists is a crashed pyroom's leftover and is removed.
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

#define CHECK_MS         100   /* how often cgroup limits and workspace bytes are checked, ms */
#define WS_CHECK_ENTRIES 20000 /* a live workspace check looks at most at this many entries */
#define SETUP_TIMEOUT_MS 10000 /* a child that has not exec'd by then is broken */
#define DEFAULT_UID_BASE 2000000000u
#define DEFAULT_SLOTS    4096u

#define SB_CLONE_FLAGS                                                                             \
    (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

struct sb_host {
    char run_dir[256];
    uint32_t uid_base;
    uint32_t slots;
    uint32_t next_slot;
    uint16_t *slot_refs; /* per slot: live sandboxes using it (its own, and those sharing its
                            uid through shared_workspace); 0 when free */
    int *slot_lock_fd;   /* per slot: its lock while slot_refs > 0, else -1 */
    bool root;           /* distinct host uids, chown of workspaces */
    uid_t my_uid;
    gid_t my_gid;
    struct cg_host cg;
    struct sock_fprog filter;
    int mpl_fd; /* pre-built matplotlib font cache, or -1 */
    char mpl_name[64];
    char summary[1536];
};

struct sb_proc {
    struct sb_host *h;
    pid_t pid; /* host pid of the sandbox's pid 1 */
    int pidfd;
    int status_fd; /* read end of the status pipe */
    uint32_t slot;
    int slot_fd;       /* the slot's lock, -1 once released */
    uint32_t uid_slot; /* the slot whose uid it runs as: its own, or a sharer's */
    bool shared;       /* spec.shared_workspace: ownership is left alone at the end */
    struct cg_proc cg;
    bool has_cg;
    char cg_procs[3][640];   /* its cgroup.procs files, for the child to join */
    int start_fd;            /* error pipe while the child sets up (sb_spawn_end), else -1 */
    int pty_sock;            /* where the PTY master comes from while starting, else -1 */
    struct sb_stdio io;      /* parent ends until sb_spawn_end hands them over */
    struct child_report rep; /* the child's failure report, as read so far */
    size_t rep_got;
    bool setup_timed_out;
    uint64_t start_ms;
    struct sb_limits limits;
    bool warm;    /* a claimed zygote (sb_claim_begin), not a clone of ours */
    bool started; /* warm: the program reported that it runs (sb_spawn_end) */
    bool killed;
    enum sb_limit why; /* first reason given to sb_kill */
    bool reaped;
    struct sb_result result;
    int ws_fd;              /* the workspace directory, to hand back at the end; -1 */
    uint64_t next_ws_check; /* when to measure the workspace again (ms, monotonic) */
    uint64_t ws_base_bytes; /* bytes in the workspace when it was handed over */
    uid_t ws_uid;           /* its owner before the run */
    gid_t ws_gid;
    bool ws_fs; /* the workspace is a file system of its own (sb_wsfs_mount): the kernel
                   enforces its size and inodes, so no walk measures it */
};

uint64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *sb_limit_name(enum sb_limit l)
{
    switch (l) {
    case SB_LIMIT_NONE:
        return "none";
    case SB_LIMIT_WALL_TIME:
        return "wall_time";
    case SB_LIMIT_CPU_TIME:
        return "cpu_time";
    case SB_LIMIT_MEMORY:
        return "memory";
    case SB_LIMIT_PIDS:
        return "pids";
    case SB_LIMIT_OUTPUT:
        return "output";
    case SB_LIMIT_DISK:
        return "disk";
    }
    return "none";
}

void sb_limits_default(struct sb_limits *ret)
{
    *ret = (struct sb_limits){
        .wall_ms = 10000,
        .cpu_ms = 10000,
        .memory_bytes = 256u << 20,
        .pids = 64,
        .open_files = 256,
        .file_size_bytes = 50u << 20,
        .tmpfs_bytes = 64u << 20,
        .output_bytes = 1u << 20,
        .workspace_bytes = 50u << 20,
    };
}

static void lower1(uint64_t *v, uint64_t req)
{
    if (req && (!*v || req < *v))
        *v = req;
}

void sb_limits_lower(struct sb_limits *l, const struct sb_limits *req)
{
    lower1(&l->wall_ms, req->wall_ms);
    lower1(&l->cpu_ms, req->cpu_ms);
    lower1(&l->memory_bytes, req->memory_bytes);
    lower1(&l->pids, req->pids);
    lower1(&l->open_files, req->open_files);
    lower1(&l->file_size_bytes, req->file_size_bytes);
    lower1(&l->tmpfs_bytes, req->tmpfs_bytes);
    lower1(&l->output_bytes, req->output_bytes);
    lower1(&l->workspace_bytes, req->workspace_bytes);
}

/* ---- slots ---------------------------------------------------------------------------- */

static int slot_lock(struct sb_host *h, uint32_t slot, bool block)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/slot-%u.lock", h->run_dir, slot);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | (block ? 0 : LOCK_NB)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static int slot_acquire(struct sb_host *h, uint32_t *ret_slot, struct err *err)
{
    for (uint32_t i = 0; i < h->slots; i++) {
        uint32_t s = (h->next_slot + i) % h->slots;
        if (h->slot_refs[s])
            continue;
        int fd = slot_lock(h, s, false);
        if (fd == -EWOULDBLOCK)
            continue;
        if (fd < 0)
            return err_set(err, -fd, "lock slot %u in '%s'", s, h->run_dir);
        h->slot_refs[s] = 1;
        h->slot_lock_fd[s] = fd;
        h->next_slot = s + 1;
        *ret_slot = s;
        return fd;
    }
    return err_set(err, EAGAIN, "all %u sandbox slots are in use", h->slots);
}

/* Drops one reference; the lock goes when the last sandbox using the slot has ended. */
static void slot_unref(struct sb_host *h, uint32_t slot)
{
    if (h->slot_refs[slot] && --h->slot_refs[slot] == 0) {
        close(h->slot_lock_fd[slot]);
        h->slot_lock_fd[slot] = -1;
    }
}

static void slot_release(struct sb_proc *p)
{
    if (p->slot_fd < 0)
        return;
    slot_unref(p->h, p->slot);
    if (p->uid_slot != p->slot)
        slot_unref(p->h, p->uid_slot);
    p->slot_fd = -1;
}

/* cg_sweep's question: is this leftover's slot free (no live pyroom holds it)? */
static bool sweep_lock_free(void *ctx, const char *name)
{
    struct sb_host *h = ctx;
    char *end;
    unsigned long s = strtoul(name + strlen("pyroom-sb"), &end, 10);
    if (*end || s >= h->slots || h->slot_refs[s])
        return false;
    int fd = slot_lock(h, (uint32_t)s, false);
    if (fd < 0)
        return false;
    close(fd); /* removal happens right after; a racing taker re-cleans before use */
    return true;
}

/* ---- host ----------------------------------------------------------------------------- */

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
    cg_sweep(&h->cg, sweep_lock_free, h);
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

/* ---- spawn ---------------------------------------------------------------------------- */

static const char *const default_env[] = {
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "HOME=" SB_HOME,
    "USER=user",
    "LOGNAME=user",
    "SHELL=/bin/bash",
    "LANG=C.UTF-8",
    "MPLBACKEND=Agg",
    "MPLCONFIGDIR=/tmp/.mpl",
    "PYTHONDONTWRITEBYTECODE=1",
    "TMPDIR=/tmp",
    NULL,
};

static size_t name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* defaults, then TERM, then the spec's entries replacing same-named ones. */
static int build_env(const struct sb_spec *spec, char ***ret, struct err *err)
{
    size_t n = 0, cap = SB_MAX_ENV + 16;
    char **env = calloc(cap + 1, sizeof(char *));
    if (!env)
        return err_set(err, ENOMEM, "environment");
    for (const char *const *p = default_env; *p; p++)
        env[n++] = (char *)*p;
    env[n++] = (char *)(spec->pty ? "TERM=xterm-256color" : "TERM=dumb");
    size_t count = 0;
    for (const char *const *p = spec->env; p && *p; p++) {
        if (++count > SB_MAX_ENV || !strchr(*p, '=')) {
            free(env);
            return err_set(err, EINVAL, "bad or too many environment entries");
        }
        size_t l = name_len(*p);
        size_t i;
        for (i = 0; i < n; i++)
            if (name_len(env[i]) == l && strncmp(env[i], *p, l) == 0)
                break;
        env[i] = (char *)*p;
        if (i == n)
            n++;
    }
    env[n] = NULL;
    *ret = env;
    return 0;
}

static const char *env_get(char **env, const char *name)
{
    size_t l = strlen(name);
    for (; *env; env++)
        if (strncmp(*env, name, l) == 0 && (*env)[l] == '=')
            return *env + l + 1;
    return NULL;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A zygote to claim instead of cloning (warm sandboxes). */
struct zygote_ref {
    pid_t pid;
    int sock;
    uid_t uid;
};

static int claim_send(struct sb_host *h, struct sb_proc *p, const struct zygote_ref *z,
                      const struct child_args *a, char **env, int *sync_p, int *err_p,
                      int *status_p, int *in_p, int *out_p, int *err_out_p);

/* sb_spawn_begin and sb_claim_begin: every preparation is the same (slot, uid, workspace
 * hand-over, cgroup, pipes, the child's arguments); only the last step differs. */
static int begin(struct sb_host *h, const struct sb_spec *spec, const struct zygote_ref *zygote,
                 struct sb_proc **ret_proc, struct err *err)
{
    int r;
    size_t argc = 0;
    char **env = NULL;
    int sync_p[2] = {-1, -1}, err_p[2] = {-1, -1}, status_p[2] = {-1, -1};
    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_out_p[2] = {-1, -1};
    int pty_s[2] = {-1, -1};
    dev_t ws_dev = 0;
    ino_t ws_ino = 0;

    if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
        return err_set(err, EINVAL, "empty command");
    while (spec->argv[argc])
        if (++argc > SB_MAX_ARGS)
            return err_set(err, E2BIG, "more than %d arguments", SB_MAX_ARGS);
    if (spec->cwd && spec->cwd[0] != '/')
        return err_set(err, EINVAL, "cwd must be absolute");
    if (zygote && spec->pty)
        return err_set(err, EINVAL, "a warm sandbox has no terminal");

    struct sb_proc *p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(err, ENOMEM, "sandbox");
    p->h = h;
    p->pid = -1;
    p->pidfd = p->status_fd = p->ws_fd = p->slot_fd = -1;
    p->start_fd = p->pty_sock = -1;
    p->io = (struct sb_stdio){-1, -1, -1, -1};
    p->cg.cpu_fd = p->cg.pids_ev_fd = p->cg.oom_fd = -1;
    p->limits = spec->limits;
    p->start_ms = sb_now_ms();
    p->warm = zygote != NULL;

    if ((r = build_env(spec, &env, err)) < 0)
        goto fail;
    if ((r = slot_acquire(h, &p->slot, err)) < 0)
        goto fail;
    p->slot_fd = r;
    p->uid_slot = p->slot;
    p->shared = spec->shared_workspace;
    uid_t uid = h->root ? h->uid_base + p->slot : h->my_uid;
    gid_t gid = h->root ? h->uid_base + p->slot : h->my_gid;

    if (spec->workspace) {
        p->ws_fd = open(spec->workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (p->ws_fd < 0) {
            r = err_set(err, errno, "open workspace '%s'", spec->workspace);
            goto fail;
        }
        struct stat st;
        if (fstat(p->ws_fd, &st) < 0) {
            r = err_set(err, errno, "stat workspace");
            goto fail;
        }
        p->ws_uid = st.st_uid;
        p->ws_gid = st.st_gid;
        p->ws_fs = sb_wsfs_is(p->ws_fd);
        ws_dev = st.st_dev;
        ws_ino = st.st_ino;
        /* A workspace shared by live sandboxes (a workspace's terminals) must keep one
         * owner, or each new sandbox would take every file away from the others: run as
         * the uid of the live sandbox that owns it, and keep that uid reserved. */
        bool join = false;
        if (h->root && p->shared && st.st_uid >= h->uid_base &&
            st.st_uid - h->uid_base < h->slots && st.st_uid == st.st_gid &&
            h->slot_refs[st.st_uid - h->uid_base]) {
            p->uid_slot = st.st_uid - h->uid_base;
            h->slot_refs[p->uid_slot]++;
            uid = gid = st.st_uid;
            join = true;
        }
        struct ws_walk w = {0};
        if (h->root && !join) {
            if ((r = ws_chown_tree(p->ws_fd, uid, gid, &w)) < 0) {
                err_set(err, -r, "hand workspace '%s' to uid %u", spec->workspace, uid);
                goto fail;
            }
        } else if (!p->shared && !p->ws_fs) {
            (void)ws_measure(p->ws_fd, 0, WS_CHECK_ENTRIES, &w);
        }
        /* what the run may add is limited, not what it was given */
        p->ws_base_bytes = w.bytes;
    }
    if (h->cg.mode != CG_NONE) {
        char name[32];
        snprintf(name, sizeof(name), "pyroom-sb%u", p->slot);
        if ((r = cg_create(&h->cg, name, &p->limits, &p->cg, err)) < 0)
            goto fail;
        p->has_cg = true;
    }

    if (pipe2(sync_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0 ||
        pipe2(status_p, O_CLOEXEC) < 0) {
        r = err_set(err, errno, "pipe");
        goto fail;
    }
    if (spec->pty) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pty_s) < 0) {
            r = err_set(err, errno, "socketpair");
            goto fail;
        }
    } else if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 ||
               pipe2(err_out_p, O_CLOEXEC) < 0) {
        r = err_set(err, errno, "pipe");
        goto fail;
    }

    const char *cwd = spec->cwd ? spec->cwd : SB_HOME;
    int ncg = p->has_cg ? cg_procs_paths(&p->cg, p->cg_procs) : 0;
    struct child_args a = {
        .sync_fd = sync_p[0],
        .cg_procs = {ncg > 0 ? p->cg_procs[0] : NULL, ncg > 1 ? p->cg_procs[1] : NULL,
                     ncg > 2 ? p->cg_procs[2] : NULL},
        .err_fd = err_p[1],
        .status_fd = status_p[1],
        .ws_path = spec->workspace,
        .ws_dev = ws_dev,
        .ws_ino = ws_ino,
        .mpl_fd = h->mpl_fd,
        .mpl_name = h->mpl_name,
        .stdio = {in_p[0], out_p[1], err_out_p[1]},
        .pty_sock = pty_s[1],
        .rows = spec->rows,
        .cols = spec->cols,
        .filter = &h->filter,
        .argv = (char *const *)spec->argv,
        .envp = env,
        .path = env_get(env, "PATH"),
        .cwd = cwd,
        .limits = p->limits,
        .rlimit_memory = !p->has_cg,
        .rlimit_nproc = !p->has_cg,
        .hostname = CHILD_HOSTNAME,
        .etc_passwd = CHILD_ETC_PASSWD,
        .etc_group = CHILD_ETC_GROUP,
        .etc_hosts = CHILD_ETC_HOSTS,
        .etc_nsswitch = CHILD_ETC_NSSWITCH,
        .etc_hostname = CHILD_ETC_HOSTNAME,
        .ws_fd = -1,
        .warm = NULL,
    };
    if (zygote) {
        r = claim_send(h, p, zygote, &a, env, sync_p, err_p, status_p, in_p, out_p, err_out_p);
        if (r < 0) {
            err_set(err, -r, "claim warm sandbox");
            goto fail;
        }
        close_fd(&sync_p[0]);
        close_fd(&sync_p[1]);
        free(env);
        p->start_fd = err_p[0];
        fcntl(p->start_fd, F_SETFL, O_NONBLOCK);
        p->io = (struct sb_stdio){in_p[1], out_p[0], err_out_p[0], -1};
        *ret_proc = p;
        return 0;
    }

    pid_t pid = (pid_t)syscall(SYS_clone, SB_CLONE_FLAGS | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        r = err_set(err, errno, "clone");
        goto fail;
    }
    if (pid == 0)
        child_main(&a);
    p->pid = pid;
    close_fd(&sync_p[0]);
    close_fd(&err_p[1]);
    close_fd(&status_p[1]);
    close_fd(&in_p[0]);
    close_fd(&out_p[1]);
    close_fd(&err_out_p[1]);
    close_fd(&pty_s[1]);
    p->status_fd = status_p[0];
    status_p[0] = -1;
    fcntl(p->status_fd, F_SETFL, O_NONBLOCK);

    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd < 0) {
        r = err_set(err, errno, "pidfd_open");
        goto fail;
    }
    if ((r = ns_write_maps(pid, uid, gid, !h->root, err)) < 0)
        goto fail;
    /* The child moves itself into its cgroups (see child.c). */
    if (write(sync_p[1], "g", 1) != 1) {
        r = err_set(err, errno, "start sandbox");
        goto fail;
    }
    close_fd(&sync_p[1]);
    free(env);
    /* Now the child sets itself up; sb_spawn_end() learns how that went. */
    p->start_fd = err_p[0];
    fcntl(p->start_fd, F_SETFL, O_NONBLOCK);
    p->pty_sock = pty_s[0];
    p->io = (struct sb_stdio){in_p[1], out_p[0], err_out_p[0], -1};
    *ret_proc = p;
    return 0;

fail:
    free(env);
    int *fds[] = {&sync_p[0],    &sync_p[1],    &err_p[0], &err_p[1], &status_p[0],
                  &status_p[1],  &in_p[0],      &in_p[1],  &out_p[0], &out_p[1],
                  &err_out_p[0], &err_out_p[1], &pty_s[0], &pty_s[1]};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        close_fd(fds[i]);
    sb_proc_free(p);
    return r;
}

int sb_spawn_begin(struct sb_host *h, const struct sb_spec *spec, struct sb_proc **ret_proc,
                   struct err *err)
{
    return begin(h, spec, NULL, ret_proc, err);
}

int sb_claim_begin(struct sb_host *h, const struct sb_spec *spec, pid_t pid, int sock,
                   uid_t zygote_uid, struct sb_proc **ret_proc, struct err *err)
{
    struct zygote_ref z = {.pid = pid, .sock = sock, .uid = zygote_uid};
    return begin(h, spec, &z, ret_proc, err);
}

int sb_spawn_fd(const struct sb_proc *p)
{
    return p->start_fd;
}

int sb_spawn_end(struct sb_proc *p, struct sb_stdio *ret_io, struct err *err)
{
    if (p->start_fd < 0)
        return err_set(err, EINVAL, "sandbox already started");
    for (;;) {
        ssize_t n = read(p->start_fd, (char *)&p->rep + p->rep_got, sizeof(p->rep) - p->rep_got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return -EAGAIN;
        if (n < 0)
            return err_set(err, errno, "read error pipe");
        if (n == 0)
            break; /* EOF: the program exec'd, or the child died */
        p->rep_got += (size_t)n;
        if (p->rep_got == sizeof(p->rep)) {
            p->rep.msg[sizeof(p->rep.msg) - 1] = '\0';
            if (p->warm && p->rep.err == 0) {
                /* A warm program says it starts (it cannot exec to close the pipe). */
                p->started = true;
                break;
            }
            return err_set(err, p->rep.err ? p->rep.err : EPROTO, "sandbox: %s", p->rep.msg);
        }
    }
    close_fd(&p->start_fd);
    if (p->warm && !p->started)
        return err_set(err, EPROTO, "warm sandbox ended during set-up");
    if (p->rep_got && !p->started)
        return err_set(err, EPROTO, "sandbox set-up failed without a report");
    if (p->setup_timed_out)
        return err_set(err, ETIMEDOUT, "sandbox set-up did not finish in %d ms", SETUP_TIMEOUT_MS);
    if (p->pty_sock >= 0) {
        int r = pty_recv_fd(p->pty_sock, &p->io.pty);
        if (r < 0)
            return err_set(err, -r, "receive pty");
        close_fd(&p->pty_sock);
    }
    *ret_io = p->io;
    p->io = (struct sb_stdio){-1, -1, -1, -1};
    return 0;
}

int sb_spawn(struct sb_host *h, const struct sb_spec *spec, struct sb_proc **ret_proc,
             struct sb_stdio *ret_io, struct err *err)
{
    struct sb_proc *p;
    int r = sb_spawn_begin(h, spec, &p, err);
    if (r < 0)
        return r;
    while ((r = sb_spawn_end(p, ret_io, err)) == -EAGAIN) {
        uint64_t now = sb_now_ms();
        uint64_t next = sb_proc_check(p, now);
        struct pollfd pfd = {.fd = sb_spawn_fd(p), .events = POLLIN};
        int timeout = next == UINT64_MAX ? 1000 : (int)(next > now ? next - now : 0);
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR) {
            r = err_set(err, errno, "poll error pipe");
            break;
        }
    }
    if (r < 0) {
        sb_proc_free(p);
        return r;
    }
    *ret_proc = p;
    return 0;
}

bool sb_proc_warm(const struct sb_proc *p)
{
    return p->warm;
}

int sb_proc_fd(const struct sb_proc *p)
{
    return p->pidfd;
}

pid_t sb_proc_pid(const struct sb_proc *p)
{
    return p->pid;
}

int sb_kill(struct sb_proc *p, enum sb_limit why)
{
    if (p->reaped || p->pid <= 0)
        return 0;
    if (!p->killed) {
        p->killed = true;
        p->why = why;
    }
    /* pid 1 of the namespace: its death takes every process of the tree with it. */
    if (p->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
    else
        kill(p->pid, SIGKILL);
    if (p->has_cg)
        cg_kill(&p->cg);
    return 0;
}

uint64_t sb_proc_check(struct sb_proc *p, uint64_t now_ms)
{
    if (p->reaped || p->killed)
        return UINT64_MAX;
    if (p->start_fd >= 0 && now_ms >= p->start_ms + SETUP_TIMEOUT_MS) {
        p->setup_timed_out = true;
        sb_kill(p, SB_LIMIT_NONE);
        return UINT64_MAX;
    }
    uint64_t wall_end = p->limits.wall_ms ? p->start_ms + p->limits.wall_ms : UINT64_MAX;
    if (now_ms >= wall_end) {
        sb_kill(p, SB_LIMIT_WALL_TIME);
        return UINT64_MAX;
    }
    /* Workspace bytes while it runs, not only at the end: many files each under the file
     * size limit would otherwise fill the host's disk until the wall time. (Not for a
     * shared workspace: a terminal's excess is refused by the sync, not by killing. Not
     * for a file system of its own: the kernel refuses the write with ENOSPC, the program
     * may cope, and sb_reap reports the limit when the file system was left full.) */
    bool ws_watch =
        p->ws_fd >= 0 && !p->shared && !p->ws_fs && p->limits.workspace_bytes && p->start_fd < 0;
    if (ws_watch && now_ms >= p->next_ws_check) {
        struct ws_walk w;
        p->next_ws_check = now_ms + CHECK_MS;
        uint64_t max = p->ws_base_bytes + p->limits.workspace_bytes;
        if (ws_measure(p->ws_fd, max, WS_CHECK_ENTRIES, &w) == 0 && w.bytes > max) {
            sb_kill(p, SB_LIMIT_DISK);
            return UINT64_MAX;
        }
    }
    if (!p->has_cg) {
        uint64_t next = ws_watch ? p->next_ws_check : UINT64_MAX;
        return next < wall_end ? next : wall_end;
    }
    if (p->limits.cpu_ms && cg_cpu_ns(&p->cg) / 1000000 >= p->limits.cpu_ms) {
        sb_kill(p, SB_LIMIT_CPU_TIME);
        return UINT64_MAX;
    }
    if (p->limits.pids && cg_pids_max_events(&p->cg) > 0) {
        sb_kill(p, SB_LIMIT_PIDS);
        return UINT64_MAX;
    }
    if (cg_oom_kills(&p->cg) > 0) {
        sb_kill(p, SB_LIMIT_MEMORY);
        return UINT64_MAX;
    }
    uint64_t next = now_ms + CHECK_MS;
    return next < wall_end ? next : wall_end;
}

static uint64_t tv_ms(const struct timeval *tv)
{
    return (uint64_t)tv->tv_sec * 1000 + (uint64_t)tv->tv_usec / 1000;
}

int sb_reap(struct sb_proc *p, struct sb_result *ret)
{
    if (p->reaped) {
        *ret = p->result;
        return 0;
    }
    if (p->pid <= 0)
        return -ECHILD;
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    if (waitid(P_PIDFD, (id_t)p->pidfd, &info, WEXITED | WNOHANG) < 0)
        return -errno;
    if (info.si_pid == 0)
        return -EAGAIN;
    p->reaped = true;

    struct sb_result *res = &p->result;
    memset(res, 0, sizeof(*res));
    res->wall_ms = sb_now_ms() - p->start_ms;
    struct init_status st;
    memset(&st, 0, sizeof(st));
    ssize_t n = read(p->status_fd, &st, sizeof(st));
    bool have = n == (ssize_t)sizeof(st) && st.wait_status != -1;
    if (have && WIFEXITED(st.wait_status)) {
        res->exit_code = WEXITSTATUS(st.wait_status);
    } else if (have && WIFSIGNALED(st.wait_status)) {
        res->signal = WTERMSIG(st.wait_status);
    } else {
        /* pid 1 was killed before the program ended (a limit, a cancel). */
        res->signal = SIGKILL;
    }
    if (p->has_cg) {
        res->cpu_ms = cg_cpu_ns(&p->cg) / 1000000;
        res->peak_memory_bytes = cg_memory_peak(&p->cg);
    } else if (have) {
        res->cpu_ms = tv_ms(&st.ru.ru_utime) + tv_ms(&st.ru.ru_stime);
        res->peak_memory_bytes = (uint64_t)st.ru.ru_maxrss * 1024;
    }
    res->killed = p->killed;
    const struct sb_limits *l = &p->limits;
    bool failed = res->signal || res->exit_code;
    if (p->killed) {
        res->limit_hit = p->why;
    } else if (p->has_cg && cg_oom_kills(&p->cg) > 0) {
        res->limit_hit = SB_LIMIT_MEMORY;
    } else if (p->has_cg && l->pids && cg_pids_max_events(&p->cg) > 0) {
        res->limit_hit = SB_LIMIT_PIDS;
    } else if (res->signal == SIGXCPU || (l->cpu_ms && failed && res->cpu_ms >= l->cpu_ms)) {
        res->limit_hit = SB_LIMIT_CPU_TIME;
    } else if (!p->has_cg && l->memory_bytes && failed &&
               res->peak_memory_bytes >= l->memory_bytes / 2) {
        /* approximate: the fallback cannot tell a MemoryError from other failures */
        res->limit_hit = SB_LIMIT_MEMORY;
    } else if (res->signal == SIGXFSZ || st.tmp_full) {
        res->limit_hit = SB_LIMIT_DISK;
    }
    if (p->ws_fd >= 0 && p->ws_fs && !p->shared) {
        /* Its own file system, unmounted by the caller next: nothing to hand back, and a
         * full one is where the kernel stopped a write (ENOSPC). One walk, bounded by the
         * file system's inodes, looks for a file stopped by RLIMIT_FSIZE. */
        struct ws_walk w = {.file_cap = l->file_size_bytes};
        if (res->limit_hit == SB_LIMIT_NONE &&
            (sb_wsfs_full(p->ws_fd) ||
             (ws_chown_tree(p->ws_fd, (uid_t)-1, (gid_t)-1, &w) == 0 && w.at_cap)))
            res->limit_hit = SB_LIMIT_DISK;
        close_fd(&p->ws_fd);
    } else if (p->ws_fd >= 0 && p->ws_fs) {
        close_fd(&p->ws_fd); /* shared: the environment's owner keeps it */
    } else if (p->ws_fd >= 0) {
        struct ws_walk w;
        uid_t u = p->h->root && !p->shared ? p->ws_uid : (uid_t)-1;
        /* A file of exactly the file size limit is where RLIMIT_FSIZE stopped a write
         * (Python ignores SIGXFSZ and sees EFBIG). */
        w.file_cap = l->file_size_bytes;
        if (ws_chown_tree(p->ws_fd, u, p->ws_gid, &w) == 0 && res->limit_hit == SB_LIMIT_NONE &&
            (w.at_cap ||
             (l->workspace_bytes && !p->shared && w.bytes > p->ws_base_bytes + l->workspace_bytes)))
            res->limit_hit = SB_LIMIT_DISK;
        close_fd(&p->ws_fd);
    }
    if (p->has_cg) {
        cg_destroy(&p->cg);
        p->has_cg = false;
    }
    slot_release(p);
    *ret = *res;
    return 0;
}

int sb_wait(struct sb_proc *p, struct sb_result *ret)
{
    for (;;) {
        int r = sb_reap(p, ret);
        if (r != -EAGAIN)
            return r;
        uint64_t now = sb_now_ms();
        uint64_t next = sb_proc_check(p, now);
        int timeout = next == UINT64_MAX ? -1 : (int)(next > now ? next - now : 0);
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
            return -errno;
    }
}

void sb_proc_free(struct sb_proc *p)
{
    if (!p)
        return;
    if (p->pid > 0 && !p->reaped) {
        struct sb_result r;
        sb_kill(p, SB_LIMIT_NONE);
        while (sb_reap(p, &r) == -EAGAIN) {
            struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
            poll(&pfd, 1, 1000);
        }
    } else if (p->pid <= 0 && p->has_cg) {
        cg_destroy(&p->cg);
    }
    if (p->has_cg)
        cg_destroy(&p->cg);
    slot_release(p);
    close_fd(&p->ws_fd);
    close_fd(&p->pidfd);
    close_fd(&p->status_fd);
    close_fd(&p->start_fd);
    close_fd(&p->pty_sock);
    int *io[] = {&p->io.in, &p->io.out, &p->io.err, &p->io.pty};
    for (int i = 0; i < 4; i++)
        close_fd(io[i]);
    free(p);
}

/* ---- zygotes: warm sandboxes ---------------------------------------------------------
 *
 * A zygote is a fork of a template interpreter (src/exec/warm.c) that has made fresh
 * user, pid, net, ipc and uts namespaces (its parent called sb_zygote_unshare and forked
 * it, so it is their pid 1) and waits on a socket. The supervisor claims it with
 * sb_claim_begin: after the same preparation as a cold spawn it writes the zygote's uid
 * maps, gives it the slot's cgroup.procs files, and sends one message: the child's
 * arguments (strings, limits, cgroup paths) with the pipes and the workspace as fds. The
 * zygote rebuilds its struct child_args from that message (no allocation) and goes on in
 * child_claimed_main(). */

#define CLAIM_MAGIC 0x50595a01u
#define CLAIM_FDS   7
_Static_assert(CLAIM_FDS <= FDPASS_MAX, "a claim's fds fit one message");

struct claim_msg {
    uint32_t magic;
    uint32_t argc, envc; /* strings: argv..., env..., cwd, path */
    uint32_t ncg;
    uint8_t has_ws, has_mpl, rlimit_memory, rlimit_nproc;
    uint64_t ws_dev, ws_ino;
    struct sb_limits limits;
    char cg_procs[3][640];
    char mpl_name[64];
    uint32_t strings_len;
};

#define CLAIM_MAX (sizeof(struct claim_msg) + SB_MAX_STRINGS + 4096)

static int put_claim_str(char *buf, size_t cap, size_t *off, const char *s)
{
    size_t l = strlen(s) + 1;
    if (*off + l > cap)
        return -E2BIG;
    memcpy(buf + *off, s, l);
    *off += l;
    return 0;
}

static int claim_send(struct sb_host *h, struct sb_proc *p, const struct zygote_ref *z,
                      const struct child_args *a, char **env, int *sync_p, int *err_p,
                      int *status_p, int *in_p, int *out_p, int *err_out_p)
{
    int r;
    (void)sync_p;
    p->pid = z->pid;
    p->pidfd = (int)syscall(SYS_pidfd_open, z->pid, 0);
    if (p->pidfd < 0)
        return -errno;
    /* The zygote moves itself into the slot's cgroups, as a cold child does; its euid is
     * the pool's, so the files are given to it for this run (they go with the cgroup). */
    for (int i = 0; i < 3 && a->cg_procs[i]; i++)
        if (h->root && chown(a->cg_procs[i], z->uid, (gid_t)-1) < 0)
            return -errno;
    struct err e = {0};
    uid_t uid = h->root ? h->uid_base + p->uid_slot : h->my_uid;
    gid_t gid = h->root ? h->uid_base + p->uid_slot : h->my_gid;
    if ((r = ns_write_maps(z->pid, uid, gid, !h->root, &e)) < 0)
        return r;

    char *buf = malloc(CLAIM_MAX);
    if (!buf)
        return -ENOMEM;
    struct claim_msg *m = (struct claim_msg *)buf;
    memset(m, 0, sizeof(*m));
    m->magic = CLAIM_MAGIC;
    m->has_ws = p->ws_fd >= 0;
    m->has_mpl = a->mpl_fd >= 0;
    m->rlimit_memory = a->rlimit_memory;
    m->rlimit_nproc = a->rlimit_nproc;
    m->ws_dev = a->ws_dev;
    m->ws_ino = a->ws_ino;
    m->limits = a->limits;
    for (int i = 0; i < 3 && a->cg_procs[i]; i++) {
        snprintf(m->cg_procs[i], sizeof(m->cg_procs[i]), "%s", a->cg_procs[i]);
        m->ncg++;
    }
    snprintf(m->mpl_name, sizeof(m->mpl_name), "%s", a->mpl_name ? a->mpl_name : "");
    char *strs = buf + sizeof(*m);
    size_t cap = CLAIM_MAX - sizeof(*m), off = 0;
    r = 0;
    for (char *const *v = a->argv; *v && r == 0; v++, m->argc++)
        r = put_claim_str(strs, cap, &off, *v);
    for (char **v = env; *v && r == 0; v++, m->envc++)
        r = put_claim_str(strs, cap, &off, *v);
    if (r == 0)
        r = put_claim_str(strs, cap, &off, a->cwd);
    if (r == 0)
        r = put_claim_str(strs, cap, &off, a->path ? a->path : "");
    m->strings_len = (uint32_t)off;
    int fds[CLAIM_FDS], nfds = 0;
    fds[nfds++] = in_p[0];
    fds[nfds++] = out_p[1];
    fds[nfds++] = err_out_p[1];
    fds[nfds++] = err_p[1];
    fds[nfds++] = status_p[1];
    if (m->has_ws)
        fds[nfds++] = p->ws_fd;
    if (m->has_mpl)
        fds[nfds++] = a->mpl_fd;
    if (r == 0)
        r = fdpass_send(z->sock, buf, sizeof(*m) + off, fds, nfds);
    free(buf);
    if (r < 0)
        return r;
    /* The zygote has its copies now. */
    close_fd(&err_p[1]);
    close_fd(&status_p[1]);
    close_fd(&in_p[0]);
    close_fd(&out_p[1]);
    close_fd(&err_out_p[1]);
    p->status_fd = status_p[0];
    status_p[0] = -1;
    fcntl(p->status_fd, F_SETFL, O_NONBLOCK);
    return 0;
}

/* The template's copy of the filter, compiled once before any zygote is forked. */
static struct sock_fprog zygote_filter;

int sb_zygote_init(struct err *err)
{
    if (zygote_filter.filter)
        return 0;
    return seccomp_prog_compile(&zygote_filter, err);
}

/* Static: a zygote and its program are forks of an interpreter, claimed once. */
static char claim_buf[CLAIM_MAX];
static char *claim_argv[SB_MAX_ARGS + 2];
static char *claim_env[SB_MAX_ENV + 32];
static struct claim_msg held;
static struct child_args held_args;

/* One message with up to CLAIM_FDS fds (close-on-exec) into claim_buf; its length, 0 at
 * EOF, -errno. */
static ssize_t claim_recv(int sock, int *fds, int *nfds)
{
    size_t got = 0;
    ssize_t n = fdpass_recv(sock, claim_buf, sizeof(claim_buf), fds, CLAIM_FDS, &got, 0);
    *nfds = (int)got;
    return n;
}

/* Rebuilds the child's arguments from a claim: in the zygote (fds as sb_claim_begin sent
 * them) or in its program (handover: stdin, stdout, stderr, error pipe, mount namespace). */
static int claim_parse(size_t n, const int *fds, int nfds, bool handover,
                       const struct sb_zygote_hooks *hooks, struct child_args *ret)
{
    struct claim_msg m;
    if (n < sizeof(m))
        return -EPROTO;
    memcpy(&m, claim_buf, sizeof(m));
    int want = handover ? 5 : 5 + (m.has_ws ? 1 : 0) + (m.has_mpl ? 1 : 0);
    if (m.magic != CLAIM_MAGIC || m.strings_len != n - sizeof(m) || nfds != want || m.argc == 0 ||
        m.argc > SB_MAX_ARGS || m.envc > SB_MAX_ENV + 16 || m.ncg > 3)
        return -EPROTO;
    char *s = claim_buf + sizeof(m), *end = s + m.strings_len;
    const char *strs[2] = {NULL, NULL};
    for (uint32_t i = 0; i < m.argc + m.envc + 2; i++) {
        char *nul = memchr(s, '\0', (size_t)(end - s));
        if (!nul)
            return -EPROTO;
        if (i < m.argc)
            claim_argv[i] = s;
        else if (i < m.argc + m.envc)
            claim_env[i - m.argc] = s;
        else
            strs[i - m.argc - m.envc] = s;
        s = nul + 1;
    }
    claim_argv[m.argc] = NULL;
    claim_env[m.envc] = NULL;
    for (uint32_t i = 0; i < 3; i++)
        m.cg_procs[i][sizeof(m.cg_procs[i]) - 1] = '\0';
    m.mpl_name[sizeof(m.mpl_name) - 1] = '\0';
    held = m;
    /* (not in the initializer: its order of evaluation is unspecified) */
    int ws_fd = !handover && held.has_ws ? fds[5] : -1;
    int mpl_fd = !handover && held.has_mpl ? fds[held.has_ws ? 6 : 5] : -1;
    *ret = (struct child_args){
        .sync_fd = -1,
        .cg_procs = {held.ncg > 0 ? held.cg_procs[0] : NULL, held.ncg > 1 ? held.cg_procs[1] : NULL,
                     held.ncg > 2 ? held.cg_procs[2] : NULL},
        .err_fd = fds[3],
        .status_fd = handover ? -1 : fds[4],
        .ws_path = NULL,
        .ws_dev = (dev_t)held.ws_dev,
        .ws_ino = (ino_t)held.ws_ino,
        .ws_fd = ws_fd,
        .mpl_fd = mpl_fd,
        .mpl_name = held.mpl_name,
        .stdio = {fds[0], fds[1], fds[2]},
        .pty_sock = -1,
        .filter = &zygote_filter,
        .argv = claim_argv,
        .envp = claim_env,
        .path = strs[1],
        .cwd = strs[0],
        .limits = held.limits,
        .rlimit_memory = held.rlimit_memory,
        .rlimit_nproc = held.rlimit_nproc,
        .hostname = CHILD_HOSTNAME,
        .etc_passwd = CHILD_ETC_PASSWD,
        .etc_group = CHILD_ETC_GROUP,
        .etc_hosts = CHILD_ETC_HOSTS,
        .etc_nsswitch = CHILD_ETC_NSSWITCH,
        .etc_hostname = CHILD_ETC_HOSTNAME,
        .warm = hooks,
        .handover_fd = -1,
        .program = -1,
        .claim = claim_buf,
        .claim_len = n,
    };
    return 0;
}

/* The program process of a zygote, forked before the claim: waits for pid 1's handover. */
__attribute__((noreturn)) static void program_wait(int sock, const struct sb_zygote_hooks *hooks)
{
    int fds[CLAIM_FDS], nfds = 0;
    ssize_t n = claim_recv(sock, fds, &nfds);
    if (n <= 0)
        _exit(0);
    if (claim_parse((size_t)n, fds, nfds, true, hooks, &held_args) < 0)
        _exit(3);
    close(sock);
    child_program_main(&held_args, fds[4]);
}

/* Keeps every capability we hold in our (new) user namespace across an exec: inheritable
 * and ambient. (no_new_privs does not stop this: nothing is gained over what we hold.) */
static int keep_caps_across_exec(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0)
        return -errno;
    data[0].inheritable = data[0].permitted;
    data[1].inheritable = data[1].permitted;
    if (syscall(SYS_capset, &hdr, data) < 0)
        return -errno;
    for (int c = 0; c < 64; c++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0 && errno != EINVAL)
            return -errno;
    return 0;
}

int sb_zygote_start(int exe_fd, int sock, const struct sb_zygote_hooks *hooks, pid_t *ret_pid)
{
    if (!zygote_filter.filter)
        return -ENOSYS; /* never run a program without the filter */
    /* The mount namespace comes at the claim (child_claimed_main), so that the workspace
     * the supervisor opened can be carried into it. */
    if (unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
        return -errno;
    int r = keep_caps_across_exec();
    if (r < 0)
        return r;
    int pp[2];
    if (pipe2(pp, O_CLOEXEC) < 0)
        return -errno;
    if (hooks->before_fork)
        hooks->before_fork(hooks->ctx);
    pid_t init = fork();
    if (init < 0)
        return -errno;
    if (init == 0) {
        /* pid 1. Its first child, the program (pid 2), must be its own: orphans go to a
         * subreaper of their parent's namespace, never to this one's pid 1. */
        close(pp[0]);
        int hs[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, hs) < 0)
            _exit(126);
        pid_t prog = fork();
        if (prog < 0)
            _exit(126);
        if (prog == 0) {
            close(hs[0]);
            close(sock);
            close(exe_fd);
            close(pp[1]);
            program_wait(hs[1], hooks);
        }
        /* Then pid 1 becomes our own small binary (keeping its capabilities in this user
         * namespace): neither a copy of the interpreter's page tables nor their teardown
         * stays on a run's path. The pipe's EOF tells our parent that the exec is done. */
        if (dup2(sock, 3) < 0 || dup2(hs[0], 4) < 0 || dup2(exe_fd, 5) < 0)
            _exit(126);
        fcntl(5, F_SETFD, FD_CLOEXEC);
        if (pp[1] != 6 && dup2(pp[1], 6) < 0)
            _exit(126);
        fcntl(6, F_SETFD, FD_CLOEXEC);
        close_range(7, ~0u, 0);
        static char *const argv[] = {"init", "__warm-init", NULL};
        static char *const envp[] = {NULL};
        syscall(SYS_execveat, 5, "", argv, envp, AT_EMPTY_PATH);
        _exit(127);
    }
    close(pp[1]);
    char c;
    ssize_t n;
    do {
        n = read(pp[0], &c, 1);
    } while (n < 0 && errno == EINTR);
    close(pp[0]);
    *ret_pid = init;
    return 0;
}

int sb_zygote_pid1_main(void)
{
    /* fd 3: the claim socket; fd 4: the program's handover socket. */
    static const struct sb_zygote_hooks none = {0};
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_NAME, "pyroom-zygote", 0, 0, 0);
    int fds[CLAIM_FDS], nfds = 0;
    ssize_t n = claim_recv(3, fds, &nfds);
    if (n <= 0)
        return n == 0 ? 0 : 1; /* let go unused: the program dies with us, pid 1 */
    if (claim_parse((size_t)n, fds, nfds, false, &none, &held_args) < 0)
        return 3;
    close(3);
    held_args.handover_fd = 4;
    held_args.program = 2; /* forked right after us in our pid namespace */
    child_claimed_main(&held_args);
}

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
    snprintf(p->dir, sizeof(p->dir), "%s-pool-%d", h->run_dir, (int)getpid());
    if (mkdir(p->dir, 0700) < 0 && errno != EEXIST) {
        r = err_set(err, errno, "mkdir '%s'", p->dir);
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
