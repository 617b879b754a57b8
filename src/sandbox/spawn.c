/*
 * spawn.c: the life of one sandbox: spawn (cold clone or a claimed zygote), limit checks,
 * kill, reap. See sandbox.h for the theory of operation; the host is host.c, slots
 * slot.c, zygotes zygote.c, the warm pool's identity pool.c.
 */
#include "base/clock.h"
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
    case SB_LIMIT_IDLE:
        return "idle";
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
    lower1(&l->idle_ms, req->idle_ms);
    lower1(&l->cpu_ms, req->cpu_ms);
    lower1(&l->memory_bytes, req->memory_bytes);
    lower1(&l->pids, req->pids);
    lower1(&l->open_files, req->open_files);
    lower1(&l->file_size_bytes, req->file_size_bytes);
    lower1(&l->tmpfs_bytes, req->tmpfs_bytes);
    lower1(&l->output_bytes, req->output_bytes);
    lower1(&l->workspace_bytes, req->workspace_bytes);
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

/* The pipes between a starting sandbox and us; -1 where not made or handed on. */
struct pipes {
    int sync[2];   /* we -> child: uid maps written, go on */
    int err[2];    /* child -> we: a set-up failure (EOF: exec worked) */
    int status[2]; /* pid 1 -> we: how the program ended */
    int in[2];     /* the program's stdin, stdout, stderr (no PTY) */
    int out[2];
    int err_out[2];
    int pty[2]; /* where the PTY master comes from (PTY) */
};

static void pipes_close(struct pipes *ps)
{
    int *all[] = {ps->sync, ps->err, ps->status, ps->in, ps->out, ps->err_out, ps->pty};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        close_fd(&all[i][0]);
        close_fd(&all[i][1]);
    }
}

static int pipes_make(struct pipes *ps, bool pty, struct err *err)
{
    if (pipe2(ps->sync, O_CLOEXEC) < 0 || pipe2(ps->err, O_CLOEXEC) < 0 ||
        pipe2(ps->status, O_CLOEXEC) < 0)
        return err_set(err, errno, "pipe");
    if (pty) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ps->pty) < 0)
            return err_set(err, errno, "socketpair");
    } else if (pipe2(ps->in, O_CLOEXEC) < 0 || pipe2(ps->out, O_CLOEXEC) < 0 ||
               pipe2(ps->err_out, O_CLOEXEC) < 0) {
        return err_set(err, errno, "pipe");
    }
    return 0;
}

static struct sb_proc *proc_new(struct sb_host *h, const struct sb_spec *spec, bool warm)
{
    struct sb_proc *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->h = h;
    p->pid = -1;
    p->pidfd = p->status_fd = p->ws_fd = p->slot_fd = -1;
    p->start_fd = p->pty_sock = -1;
    p->io = (struct sb_stdio){-1, -1, -1, -1};
    p->cg.cpu_fd = p->cg.pids_ev_fd = p->cg.oom_fd = -1;
    p->limits = spec->limits;
    p->start_ms = clock_mono_ms();
    p->warm = warm;
    return p;
}

/* Opens the workspace and hands it to the sandbox's uid (*uid, *gid may become a sharer's:
 * see below); notes its identity for the child's check and its size for the limit. */
static int take_workspace(struct sb_host *h, struct sb_proc *p, const char *path, uid_t *uid,
                          gid_t *gid, dev_t *ret_dev, ino_t *ret_ino, struct err *err)
{
    p->ws_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (p->ws_fd < 0)
        return err_set(err, errno, "open workspace '%s'", path);
    struct stat st;
    if (fstat(p->ws_fd, &st) < 0)
        return err_set(err, errno, "stat workspace");
    p->ws_uid = st.st_uid;
    p->ws_gid = st.st_gid;
    p->ws_fs = sb_wsfs_is(p->ws_fd);
    *ret_dev = st.st_dev;
    *ret_ino = st.st_ino;
    /* A workspace shared by live sandboxes (a workspace's terminals) must keep one
     * owner, or each new sandbox would take every file away from the others: run as
     * the uid of the live sandbox that owns it, and keep that uid reserved. */
    bool join = false;
    if (h->root && p->shared && st.st_uid >= h->uid_base && st.st_uid - h->uid_base < h->slots &&
        st.st_uid == st.st_gid && h->slot_refs[st.st_uid - h->uid_base]) {
        p->uid_slot = st.st_uid - h->uid_base;
        h->slot_refs[p->uid_slot]++;
        *uid = *gid = st.st_uid;
        join = true;
    }
    struct ws_walk w = {0};
    if (h->root && !join) {
        int r = ws_chown_tree(p->ws_fd, *uid, *gid, &w);
        if (r < 0)
            return err_set(err, -r, "hand workspace '%s' to uid %u", path, *uid);
    } else if (!p->shared && !p->ws_fs) {
        (void)ws_measure(p->ws_fd, 0, WS_CHECK_ENTRIES, &w);
    }
    /* what the run may add is limited, not what it was given */
    p->ws_base_bytes = w.bytes;
    return 0;
}

/* The cold start: clone the child (child.c) into a network namespace made ahead if there is
 * one, write its uid maps, let it go on, then make the next namespace while it sets up. */
static int start_cold(struct sb_proc *p, struct child_args *a, struct pipes *ps, uid_t uid,
                      gid_t gid, struct err *err)
{
    int netfd = ns_net_pool_take(&p->h->net);
    a->lo_ready = netfd >= 0;
    pid_t pid = ns_net_clone(&p->h->net, SB_CLONE_FLAGS, netfd);
    if (pid < 0)
        return err_set(err, -pid, "clone");
    if (pid == 0)
        child_main(a);
    p->pid = pid;
    close_fd(&ps->sync[0]);
    close_fd(&ps->err[1]);
    close_fd(&ps->status[1]);
    close_fd(&ps->in[0]);
    close_fd(&ps->out[1]);
    close_fd(&ps->err_out[1]);
    close_fd(&ps->pty[1]);
    p->status_fd = ps->status[0];
    ps->status[0] = -1;
    fcntl(p->status_fd, F_SETFL, O_NONBLOCK);

    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd < 0)
        return err_set(err, errno, "pidfd_open");
    int r = ns_write_maps(pid, uid, gid, !p->h->root, err);
    if (r < 0)
        return r;
    /* The child moves itself into its cgroups (see child.c). */
    if (write(ps->sync[1], "g", 1) != 1)
        return err_set(err, errno, "start sandbox");
    close_fd(&ps->sync[1]);
    p->pty_sock = ps->pty[0];
    ps->pty[0] = -1;
    ns_net_pool_fill(&p->h->net);
    return 0;
}

/* sb_spawn_begin and sb_claim_begin: every preparation is the same (slot, uid, workspace
 * hand-over, cgroup, pipes, the child's arguments); only the last step differs. */
static int begin(struct sb_host *h, const struct sb_spec *spec, const struct zygote_ref *zygote,
                 struct sb_proc **ret_proc, struct err *err)
{
    int r;
    size_t argc = 0;
    char **env = NULL;
    struct pipes ps = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
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

    struct sb_proc *p = proc_new(h, spec, zygote != NULL);
    if (!p)
        return err_set(err, ENOMEM, "sandbox");
    if ((r = build_env(spec, &env, err)) < 0)
        goto fail;
    if ((r = slot_acquire(h, &p->slot, err)) < 0)
        goto fail;
    p->slot_fd = r;
    p->uid_slot = p->slot;
    p->shared = spec->shared_workspace;
    uid_t uid = h->root ? h->uid_base + p->slot : h->my_uid;
    gid_t gid = h->root ? h->uid_base + p->slot : h->my_gid;
    if (spec->workspace &&
        (r = take_workspace(h, p, spec->workspace, &uid, &gid, &ws_dev, &ws_ino, err)) < 0)
        goto fail;
    if (h->cg.mode != CG_NONE) {
        char name[32];
        snprintf(name, sizeof(name), "pyroom-sb%u", p->slot);
        if ((r = cg_create(&h->cg, name, &p->limits, &p->cg, err)) < 0)
            goto fail;
        p->has_cg = true;
    }
    if ((r = pipes_make(&ps, spec->pty, err)) < 0)
        goto fail;

    int ncg = p->has_cg ? cg_procs_paths(&p->cg, p->cg_procs) : 0;
    struct child_args a = {
        .sync_fd = ps.sync[0],
        .cg_procs = {ncg > 0 ? p->cg_procs[0] : NULL, ncg > 1 ? p->cg_procs[1] : NULL,
                     ncg > 2 ? p->cg_procs[2] : NULL},
        .err_fd = ps.err[1],
        .status_fd = ps.status[1],
        .ws_path = spec->workspace,
        .ws_dev = ws_dev,
        .ws_ino = ws_ino,
        .mpl_fd = h->mpl_fd,
        .mpl_name = h->mpl_name,
        .stdio = {ps.in[0], ps.out[1], ps.err_out[1]},
        .pty_sock = ps.pty[1],
        .rows = spec->rows,
        .cols = spec->cols,
        .argv = (char *const *)spec->argv,
        .envp = env,
        .path = env_get(env, "PATH"),
        .cwd = spec->cwd ? spec->cwd : SB_HOME,
        .limits = p->limits,
        .rlimit_memory = !p->has_cg,
        .rlimit_nproc = !p->has_cg,
        CHILD_ETC_FIELDS,
        .ws_fd = -1,
        .warm = NULL,
    };
    if (zygote) {
        r = claim_send(h, p, zygote, &a, env, ps.sync, ps.err, ps.status, ps.in, ps.out,
                       ps.err_out);
        if (r < 0) {
            err_set(err, -r, "claim warm sandbox");
            goto fail;
        }
        close_fd(&ps.sync[0]);
        close_fd(&ps.sync[1]);
    } else if ((r = start_cold(p, &a, &ps, uid, gid, err)) < 0) {
        goto fail;
    }
    free(env);
    /* Now the child sets itself up; sb_spawn_end() learns how that went. */
    p->start_fd = ps.err[0];
    ps.err[0] = -1;
    fcntl(p->start_fd, F_SETFL, O_NONBLOCK);
    p->io = (struct sb_stdio){ps.in[1], ps.out[0], ps.err_out[0], -1};
    *ret_proc = p;
    return 0;

fail:
    free(env);
    pipes_close(&ps);
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
        uint64_t now = clock_mono_ms();
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

int sb_proc_end_fd(const struct sb_proc *p)
{
    return p->status_done ? -1 : p->status_fd;
}

/* Reaps pid 1 if it has exited: the tree has ended then. */
static bool tree_gone(struct sb_proc *p)
{
    if (!p->gone) {
        siginfo_t info;
        memset(&info, 0, sizeof(info));
        if (waitid(P_PIDFD, (id_t)p->pidfd, &info, WEXITED | WNOHANG) < 0 || info.si_pid != 0)
            p->gone = true; /* (an error: it is no child of ours any more) */
    }
    return p->gone;
}

bool sb_proc_gone(struct sb_proc *p)
{
    return p->pid <= 0 || tree_gone(p);
}

/* pid 1's report, once (a write of it is atomic: smaller than PIPE_BUF). Once the pipe has
 * said all it will (the report, or EOF: pid 1 died first), sb_proc_end_fd() says -1, so that
 * no one polls its end of file while pid 1 waits for the rest of the tree. (It stays open
 * until sb_proc_free: a close would not take it out of an epoll set while a sandbox cloned
 * meanwhile still holds a copy.) */
static const struct init_status *read_status(struct sb_proc *p)
{
    if (!p->status_done && p->status_fd >= 0) {
        ssize_t n = read(p->status_fd, &p->status, sizeof(p->status));
        p->have_status = n == (ssize_t)sizeof(p->status);
        p->status_done = p->have_status || n == 0;
    }
    return p->have_status ? &p->status : NULL;
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
    /* Time blocked reading stdin moves the wall deadline, up to idle_ms in all. A sample
     * finding the program waiting counts the time since the previous such sample (at most
     * CHECK_MS apart), so a short read between two samples is not counted. */
    if (p->limits.idle_ms && p->start_fd < 0) {
        if (sb_waits_for_stdin(p->pid)) {
            if (p->last_sample_ms)
                p->waited_ms += now_ms - p->last_sample_ms;
            p->last_sample_ms = now_ms;
            if (p->waited_ms > p->limits.idle_ms) {
                sb_kill(p, SB_LIMIT_IDLE);
                return UINT64_MAX;
            }
        } else {
            p->last_sample_ms = 0;
        }
    }
    uint64_t wall_end =
        p->limits.wall_ms ? p->start_ms + p->limits.wall_ms + p->waited_ms : UINT64_MAX;
    if (now_ms >= wall_end) {
        sb_kill(p, SB_LIMIT_WALL_TIME);
        return UINT64_MAX;
    }
    if (p->limits.idle_ms && now_ms + CHECK_MS < wall_end)
        wall_end = now_ms + CHECK_MS; /* sample again soon (also without cgroups) */
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
    /* The tree has ended; or pid 1 has told a warm program's own end, every task of the
     * tree exiting (init.c): none can run or write anything any more, and the rest of
     * the clean-up waits for sb_proc_gone(). */
    const struct init_status *told = read_status(p);
    if (!tree_gone(p) && !(told && told->early))
        return -EAGAIN;
    p->reaped = true;

    struct sb_result *res = &p->result;
    memset(res, 0, sizeof(*res));
    res->wall_ms = clock_mono_ms() - p->start_ms;
    res->waited_ms = p->waited_ms;
    struct init_status st;
    memset(&st, 0, sizeof(st));
    if (read_status(p))
        st = p->status;
    else
        st.wait_status = -1;
    bool have = st.wait_status != -1;
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
    /* The cgroups and the slot stay until sb_proc_free(): removing them (cgroup.kill,
     * rmdir, an RCU grace period on v1) is clean-up that no one waiting for the result
     * should wait for. The tree has ended, so neither is used any more. */
    *ret = *res;
    return 0;
}

int sb_wait(struct sb_proc *p, struct sb_result *ret)
{
    for (;;) {
        int r = sb_reap(p, ret);
        if (r != -EAGAIN)
            return r;
        uint64_t now = clock_mono_ms();
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
    if (p->pid > 0 && !p->reaped)
        sb_kill(p, SB_LIMIT_NONE);
    /* The cgroups and the slot go once the whole tree has (a result told early, too). */
    while (p->pid > 0 && !tree_gone(p)) {
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        poll(&pfd, 1, 1000);
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
