/*
 * child.c: the code between clone and exec.
 *
 * Runs in a copy of the parent's memory as pid 1 of the new namespaces. It does not
 * allocate, log or use stdio: a failure is written to the error pipe as a struct
 * child_report and ends in _exit (isolate's error pipe). Steps:
 *
 *   1. die with the parent (PDEATHSIG), wait for the parent to write our uid/gid maps,
 *      move into the slot's cgroups, close every inherited fd we do not need, open the
 *      workspace;
 *   2. become uid 1000 with all capabilities of the new user namespace, set the hostname,
 *      bring `lo` up, build the root (mount.c), open the PTY on our devpts if asked;
 *   3. enter a cgroup namespace rooted at our cgroup, set rlimits, drop every capability;
 *   4. start the program (a vfork-style clone: start_program): it gets its stdio, a new
 *      session, the seccomp filter (no_new_privs first) and execs; exec closes the error
 *      pipe (EOF: success);
 *   5. as pid 1 (init.c): reap everything until the program exits, report its status and
 *      resource use over the status pipe and exit, so the kernel kills whatever is left.
 *
 * A warm sandbox (child_claimed_main, see spawn.c's zygote section) starts as a fork of a
 * template interpreter that already made its user, pid, net, ipc and uts namespaces and
 * waited as their pid 1; once claimed it makes its mount namespace and then takes steps 2
 * to 5 exactly as above, except that the program process hands over to the interpreter
 * (a->warm->run) where a cold one would exec.
 */
#include "base/fdpass.h"
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

static void append(char *dst, size_t n, const char *s)
{
    size_t l = strlen(dst);
    while (*s && l + 1 < n)
        dst[l++] = *s++;
    dst[l] = '\0';
}

__attribute__((noreturn)) static void fail(const struct child_args *a, int err, const char *what,
                                           const char *detail)
{
    struct child_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.err = err < 0 ? -err : err;
    if (!rep.err)
        rep.err = EIO; /* 0 means "started" from a warm program */
    append(rep.msg, sizeof(rep.msg), what);
    if (detail) {
        append(rep.msg, sizeof(rep.msg), " '");
        append(rep.msg, sizeof(rep.msg), detail);
        append(rep.msg, sizeof(rep.msg), "'");
    }
    (void)!write(a->err_fd, &rep, sizeof(rep));
    _exit(127);
}

/* Whether a warm program tells pid 1 its own end (init.c): when the sandbox has cgroups. */
static bool tells_end(const struct child_args *a)
{
    return a->cg_procs[0] != NULL;
}

/* Closes every fd from 3 up except those in keep[] (negative entries are ignored). */
static void close_except(int *keep, int n)
{
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    }
    unsigned lo = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)lo)
            continue;
        if ((unsigned)keep[i] > lo)
            close_range(lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    close_range(lo, ~0u, 0);
}

__attribute__((noreturn)) static void exec_program(const struct child_args *a)
{
    const char *file = a->argv[0];
    if (strchr(file, '/')) {
        execve(file, a->argv, a->envp);
        fail(a, errno, "exec", file);
    }
    char buf[4096];
    int err = ENOENT;
    size_t fl = strlen(file);
    for (const char *p = a->path; p && *p;) {
        const char *e = strchr(p, ':');
        size_t dl = e ? (size_t)(e - p) : strlen(p);
        if (dl && dl + 1 + fl + 1 <= sizeof(buf)) {
            memcpy(buf, p, dl);
            buf[dl] = '/';
            memcpy(buf + dl + 1, file, fl + 1);
            execve(buf, a->argv, a->envp);
            if (errno == EACCES)
                err = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR)
                fail(a, errno, "exec", buf);
        }
        p = e ? e + 1 : p + dl;
    }
    fail(a, err, "command not found:", file);
}

__attribute__((noreturn)) static void run_program(const struct child_args *a, int slave)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Ignored signals survive exec; give the program default dispositions. A warm program
     * keeps the ones its interpreter set up (as python3 sets them at start: SIGPIPE and
     * SIGXFSZ ignored, SIGINT raising KeyboardInterrupt); the template started from all
     * defaults (warm.c). */
    if (!a->warm)
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
    else /* but a fault is the kernel's to report, as in a python3 just started (a sanitizer
          * build's template handles them, and would turn a crash into its own report) */
        for (const int *s =
                 (const int[]){SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS, 0};
             *s; s++)
            signal(*s, SIG_DFL);
    if (setsid() < 0)
        fail(a, errno, "setsid", NULL);
    if (slave >= 0) {
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
            fail(a, errno, "TIOCSCTTY", NULL);
        for (int i = 0; i < 3; i++)
            if (dup2(slave, i) < 0)
                fail(a, errno, "dup2 pty", NULL);
    } else {
        for (int i = 0; i < 3; i++)
            if (dup2(a->stdio[i], i) < 0)
                fail(a, errno, "dup2 stdio", NULL);
    }
    /* Only stdio and the error pipe (close-on-exec) reach the program. */
    int keep[1] = {a->err_fd};
    close_except(keep, 1);
    if (chdir(a->cwd) < 0)
        fail(a, errno, "chdir", a->cwd);
    int r = seccomp_prog_load();
    if (r < 0)
        fail(a, r, "seccomp", NULL);
    if (a->warm) {
        /* The interpreter takes over in this very process: the error pipe's EOF tells the
         * parent that set-up is over, before any byte of the user's program runs. */
        struct child_report started;
        memset(&started, 0, sizeof(started));
        (void)!write(a->err_fd, &started, sizeof(started));
        close(a->err_fd);
        a->warm->run(a->warm->ctx, a->argv, a->envp, tells_end(a));
        _exit(127);
    }
    exec_program(a);
}

struct program_start {
    const struct child_args *a;
    int slave;
};

static int program_entry(void *arg)
{
    const struct program_start *s = arg;
    run_program(s->a, s->slave);
}

/* The cold program's process, made as posix_spawn makes one (CLONE_VM | CLONE_VFORK, on a
 * stack of its own in our frame): it shares our memory until its exec, so no copy of our
 * page tables is made, faulted in and torn down again at the exec; we stay suspended until
 * it has exec'd (or failed and exited). Its signal dispositions, file descriptors, working
 * directory, session and seccomp filter are its own, as after fork(); it writes no memory
 * of ours but its stack and errno (read by us only when the clone failed). */
__attribute__((noinline)) static pid_t start_program(const struct child_args *a, int slave)
{
    char stack[64 * 1024] __attribute__((aligned(16)));
    struct program_start s = {a, slave};
    return clone(program_entry, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &s);
}

/* From "become uid 1000" to the end: the steps every sandbox takes, cold or warm, once it is
 * pid 1 of its namespaces, in its cgroups, with only its own fds, and holding the
 * workspace (an O_PATH fd valid in its own mount namespace, or -1). */
__attribute__((noreturn)) static void enter_and_run(const struct child_args *a, int ws)
{
    const char *what = NULL;
    int r, master = -1, slave = -1;

    if ((r = ns_become_user()) < 0)
        fail(a, r, "become uid 1000", NULL);
    if ((r = ns_setup_uts_net(a->hostname, a->lo_ready)) < 0)
        fail(a, r, "hostname and lo", NULL);
    if ((r = mount_build_root(a, ws, &what)) < 0)
        fail(a, r, "build root:", what);
    if (a->mpl_fd >= 0)
        close(a->mpl_fd);
    if (a->pty_sock >= 0) {
        if ((r = pty_open(a->rows, a->cols, &master, &slave)) < 0)
            fail(a, r, "open pty", NULL);
        if ((r = pty_send_fd(a->pty_sock, master)) < 0)
            fail(a, r, "send pty", NULL);
        close(master);
        close(a->pty_sock);
    }
    if (unshare(CLONE_NEWCGROUP) < 0)
        fail(a, errno, "unshare cgroup namespace", NULL);
    if ((r = rlimit_apply(a, &what)) < 0)
        fail(a, r, "setrlimit", what);
    if ((r = ns_drop_caps()) < 0)
        fail(a, r, "drop capabilities", NULL);
    /* Not dumpable: the program (same uid) cannot open /proc/1/mem or the like. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    pid_t pid;
    if (a->warm) {
        /* The program process exists already (forked while the zygote waited, so that no
         * claim waits for a copy of the interpreter's page tables): hand it the claim, its
         * fds and our mount namespace; it takes the per-process steps itself. */
        int fds[5] = {a->stdio[0], a->stdio[1], a->stdio[2], a->err_fd, -1};
        fds[4] = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        if (fds[4] < 0)
            fail(a, errno, "open mount namespace", NULL);
        /* A told end (init.c), with cgroups only: an early report has no rusage of the
         * program, and the supervisor then reads its CPU and memory from them. */
        if (tells_end(a) && (r = init_listen()) < 0)
            fail(a, r, "listen for the program's end", NULL);
        if ((r = fdpass_send(a->handover_fd, a->claim, a->claim_len, fds, 5)) < 0)
            fail(a, r, "hand over to the program", NULL);
        pid = a->program;
        /* A pid 1 as a cold one: signals as the supervisor's, none of the interpreter's. */
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        signal(SIGINT, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
    } else {
        pid = start_program(a, slave);
        if (pid < 0)
            fail(a, errno, "fork", NULL);
    }

    /* pid 1 from here on: keep only the status pipe. */
    prctl(PR_SET_NAME, "init", 0, 0, 0);
    int keep1[1] = {a->status_fd};
    close_except(keep1, 1);
    init_run(pid, a->status_fd, a->warm && tells_end(a));
}

/* Into our cgroups, by ourselves: a v1 migration waits for an RCU grace period (up to
 * milliseconds on a busy host), which must not stall the single-threaded supervisor. Our
 * euid is still the parent's (host root, the owner of a delegated v2 cgroup, or for a warm
 * sandbox the pool's uid, to which the supervisor gave these files). */
static void join_cgroups(const struct child_args *a)
{
    for (int i = 0; i < 3 && a->cg_procs[i]; i++) {
        int fd = open(a->cg_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            fail(a, errno, "join cgroup", a->cg_procs[i]);
        close(fd);
    }
}

void child_main(const struct child_args *a)
{
    char c;

    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* EOF instead of the go byte: the parent failed or died. */
    if (read(a->sync_fd, &c, 1) != 1)
        _exit(126);
    close(a->sync_fd);
    join_cgroups(a);
    int keep[] = {a->err_fd,   a->status_fd, -1,          a->mpl_fd,
                  a->stdio[0], a->stdio[1],  a->stdio[2], a->pty_sock};
    close_except(keep, (int)(sizeof(keep) / sizeof(keep[0])));

    /* The workspace is opened here, in our own copy of the mount tree (a bind from an fd of
     * the host's namespace is refused) and while our fs uid is still the parent's (its
     * parent directories need not be open to the sandbox's uid), then checked to be the
     * very directory the parent opened and handed over. */
    int ws = -1;
    if (a->ws_path) {
        struct stat st;
        ws = open(a->ws_path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (ws < 0)
            fail(a, errno, "open workspace", a->ws_path);
        if (fstat(ws, &st) < 0 || st.st_dev != a->ws_dev || st.st_ino != a->ws_ino)
            fail(a, ESTALE, "workspace changed", a->ws_path);
    }
    enter_and_run(a, ws);
}

void child_program_main(const struct child_args *a, int mnt_fd)
{
    int r;
    const char *what = NULL;
    join_cgroups(a);
    if (setns(mnt_fd, CLONE_NEWNS) < 0)
        fail(a, errno, "enter the sandbox's mount namespace", NULL);
    close(mnt_fd);
    if (chdir("/") < 0)
        fail(a, errno, "chdir /", NULL);
    if (unshare(CLONE_NEWCGROUP) < 0)
        fail(a, errno, "unshare cgroup namespace", NULL);
    if ((r = ns_become_user()) < 0)
        fail(a, r, "become uid 1000", NULL);
    if ((r = rlimit_apply(a, &what)) < 0)
        fail(a, r, "setrlimit", what);
    if ((r = ns_drop_caps()) < 0)
        fail(a, r, "drop capabilities", NULL);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    run_program(a, -1);
}

void child_claimed_main(const struct child_args *a)
{
    /* Our parent is the supervisor now (the process that made us has exited and the
     * supervisor is the subreaper): die with it, as a cold sandbox's pid 1 does. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    join_cgroups(a);
    int keep[] = {a->err_fd,   a->status_fd, a->ws_fd,    a->mpl_fd,
                  a->stdio[0], a->stdio[1],  a->stdio[2], a->handover_fd};
    close_except(keep, (int)(sizeof(keep) / sizeof(keep[0])));

    /* Our mount namespace is made now, as a copy of the host's (which the template shares).
     * The supervisor's fd of the workspace belongs to the host's namespace and cannot be
     * bound here; but the kernel moves the working directory into the copy when it makes
     * it, so we stand in the workspace first and take "." afterwards: the same directory,
     * in our namespace, with no path walked. */
    int ws = -1;
    if (a->ws_fd >= 0) {
        struct stat st;
        if (fchdir(a->ws_fd) < 0)
            fail(a, errno, "enter workspace", NULL);
        close(a->ws_fd);
        if (unshare(CLONE_NEWNS) < 0)
            fail(a, errno, "unshare mount namespace", NULL);
        ws = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ws < 0)
            fail(a, errno, "open workspace", NULL);
        if (fstat(ws, &st) < 0 || st.st_dev != a->ws_dev || st.st_ino != a->ws_ino)
            fail(a, ESTALE, "workspace changed", NULL);
    } else if (unshare(CLONE_NEWNS) < 0) {
        fail(a, errno, "unshare mount namespace", NULL);
    }
    enter_and_run(a, ws);
}
