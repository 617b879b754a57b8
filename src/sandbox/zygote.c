/*
 * zygote.c: warm sandboxes. How a zygote is started, claimed and handed over; the
 * theory is in the comment below and in src/exec/warm.c.
 */
#include "base/buf.h"
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- zygotes: warm sandboxes ---------------------------------------------------------
 *
 * A zygote is a clone of a template interpreter (src/exec/warm.c) into fresh user, pid,
 * net, ipc and uts namespaces (sb_zygote_spawn: it is their pid 1, its own small binary once
 * it has forked the program) and waits on a socket. The supervisor claims it with
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

int claim_send(struct sb_host *h, struct sb_proc *p, const struct zygote_ref *z,
               const struct child_args *a, char **env, int *sync_p, int *err_p, int *status_p,
               int *in_p, int *out_p, int *err_out_p)
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
        r = buf_pack_str(strs, cap, &off, *v);
    for (char **v = env; *v && r == 0; v++, m->envc++)
        r = buf_pack_str(strs, cap, &off, *v);
    if (r == 0)
        r = buf_pack_str(strs, cap, &off, a->cwd);
    if (r == 0)
        r = buf_pack_str(strs, cap, &off, a->path ? a->path : "");
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
        .argv = claim_argv,
        .envp = claim_env,
        .path = strs[1],
        .cwd = strs[0],
        .limits = held.limits,
        .rlimit_memory = held.rlimit_memory,
        .rlimit_nproc = held.rlimit_nproc,
        CHILD_ETC_FIELDS,
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
    if (hooks->before_wait)
        hooks->before_wait(hooks->ctx);
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

/* pid 1 of a zygote's namespaces, right after it was made (sharing its maker's memory, which
 * waits: see sb_zygote_spawn): forks the program (pid 2, a copy of the interpreter) and
 * becomes our own small binary as `__warm-init`. Its first child, the program, must be its
 * own: orphans go to a subreaper of their parent's namespace, never to this one's pid 1. */
__attribute__((noreturn)) static void zygote_pid1(int exe_fd, int sock,
                                                  const struct sb_zygote_hooks *hooks)
{
    int hs[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, hs) < 0)
        _exit(126);
    /* _Fork: no at-fork handler may run here, in memory that is still the template's (the
     * copy is the program's own; the template is single-threaded, so no lock is held). */
    pid_t prog = _Fork();
    if (prog < 0)
        _exit(126);
    if (prog == 0) {
        close(hs[0]);
        close(sock);
        close(exe_fd);
        program_wait(hs[1], hooks);
    }
    /* Then pid 1 becomes our own small binary (keeping its capabilities in this user
     * namespace), which also hands the template's memory back to it. */
    int from[3] = {sock, hs[0], exe_fd}; /* to 3, 4, 5: first out of the way */
    for (int i = 0; i < 3; i++)
        if ((from[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 10)) < 0)
            _exit(126);
    for (int i = 0; i < 3; i++)
        if (dup2(from[i], 3 + i) < 0)
            _exit(126);
    fcntl(5, F_SETFD, FD_CLOEXEC);
    close_range(6, ~0u, 0);
    static char *const argv[] = {"init", "__warm-init", NULL};
    static char *const envp[] = {NULL};
    syscall(SYS_execveat, 5, "", argv, envp, AT_EMPTY_PATH);
    _exit(127);
}

#define ZYGOTE_STACK (8u << 20) /* the program's stack, bytes: a process's usual 8 MiB */

struct pid1_args {
    int exe_fd, sock;
    const struct sb_zygote_hooks *hooks;
    /* AddressSanitizer builds: the template's own stack, which it goes back to. */
    const void *asan_bottom;
    size_t asan_size;
};

/* AddressSanitizer builds only. pid 1 shares the template's memory, and so its sanitizer's
 * idea of the thread's stack; it runs, and the program after it, on the zygote's stack.
 * Told nothing, the sanitizer takes that stack for a wild one: it warns ("ignoring requested
 * __asan_handle_no_return", google/sanitizers#189) and may report false errors. Its fiber
 * interface says when the stack changes: the template before the clone (asan_enter, which
 * keeps the template's own stack), pid 1 on its new stack (asan_entered), and the template
 * once pid 1 has let go or the clone failed (asan_back). */
#if defined(__SANITIZE_ADDRESS__)
#define ZYGOTE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZYGOTE_ASAN 1
#endif
#endif
#ifdef ZYGOTE_ASAN
#include <pthread.h>
#include <sanitizer/common_interface_defs.h>
static void asan_enter(const char *stack, struct pid1_args *a)
{
    pthread_attr_t at;
    void *bottom = NULL;
    if (pthread_getattr_np(pthread_self(), &at) == 0) {
        pthread_attr_getstack(&at, &bottom, &a->asan_size);
        pthread_attr_destroy(&at);
    }
    a->asan_bottom = bottom;
    __sanitizer_start_switch_fiber(NULL, stack, ZYGOTE_STACK);
}
static void asan_entered(struct pid1_args *a)
{
    (void)a;
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
}
static void asan_back(const struct pid1_args *a)
{
    __sanitizer_start_switch_fiber(NULL, a->asan_bottom, a->asan_size);
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
}
#else
static void asan_enter(const char *stack, struct pid1_args *a)
{
    (void)stack;
    (void)a;
}
static void asan_entered(struct pid1_args *a)
{
    (void)a;
}
static void asan_back(const struct pid1_args *a)
{
    (void)a;
}
#endif

/* The clone's child, on the zygote stack. Only the claim socket and our binary go on (the
 * template's own fds, its socket with the supervisor first, stay behind). */
static int pid1_start(void *arg)
{
    struct pid1_args *a = arg;
    asan_entered(a);
    if (dup2(a->sock, 100) < 0 || dup2(a->exe_fd, 101) < 0)
        _exit(126);
    close_range(3, 99, 0);
    close_range(102, ~0u, 0);
    if (keep_caps_across_exec() < 0)
        _exit(126);
    zygote_pid1(101, 100, a->hooks);
}

int sb_zygote_spawn(int exe_fd, int sock, const struct sb_zygote_hooks *hooks, pid_t *ret_pid)
{
    /* The stack pid 1 starts on, and the program runs on (its copy), reused by every zygote:
     * the caller waits while pid 1 uses it. Below it a guard of 1 MiB, the kernel's own gap
     * below a process's stack (stack_guard_gap), so that a large frame cannot step over it. */
    static char *stack;
    if (!stack) {
        size_t guard = 1u << 20;
        char *m = mmap(NULL, ZYGOTE_STACK + guard, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (m == MAP_FAILED)
            return -errno;
        if (mprotect(m, guard, PROT_NONE) < 0) {
            int e = -errno;
            munmap(m, ZYGOTE_STACK + guard);
            return e;
        }
        stack = m + guard;
    }
    /* One clone makes the namespaces and their pid 1, as our parent's child (CLONE_PARENT:
     * the supervisor, a subreaper, reaps it as it reaps a re-parented zygote). It shares our
     * memory (CLONE_VM) until it execs, while we wait (CLONE_VFORK): neither a copy of the
     * interpreter's page tables nor their teardown is made for it, only for the program it
     * forks. The mount namespace comes at the claim (child_claimed_main), so that the
     * workspace the supervisor opened can be carried into it. */
    struct pid1_args a = {.exe_fd = exe_fd, .sock = sock, .hooks = hooks};
    asan_enter(stack, &a);
    pid_t init = clone(pid1_start, stack + ZYGOTE_STACK,
                       CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_NEWUSER | CLONE_NEWPID |
                           CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
                       &a);
    int e = errno;
    asan_back(&a);
    if (init < 0)
        return -e;
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
