/*
 * warm.c: the warm Python pool (see warm.h for the theory of operation).
 *
 * This file is the pool, in the supervisor: templates' lives, ready zygotes, claims,
 * priorities, health and stats, and the messages both halves speak (warm_internal.h).
 * The template process, libpython and what a claimed program does are in
 * warm_template.c. Template <-> supervisor: a SOCK_SEQPACKET pair (fd 3 in the template),
 * struct warm_msg, a zygote's claim socket passed with SCM_RIGHTS.
 */
#include "exec/warm.h"

#include "base/clock.h"
#include "base/fdpass.h"
#include "exec/warm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PING_EVERY_MS   10000 /* health ping of a booted template */
#define PING_TIMEOUT_MS 5000  /* ...which must answer within this */
#define BOOT_TIMEOUT_MS 120000
#define MAX_FAILS       3 /* consecutive failed claims before a template is replaced */
#define BACKOFF_MIN_MS  1000
#define BACKOFF_MAX_MS  60000
#define WARM_NICE       10 /* nice of templates and waiting zygotes (may_lower_priority) */

int warm_msg_send(int sock, const struct warm_msg *m, int fd)
{
    return fdpass_send(sock, m, sizeof(*m), &fd, fd >= 0 ? 1 : 0);
}

ssize_t warm_msg_recv(int sock, struct warm_msg *m, int *ret_fd, int flags)
{
    size_t nfds = 0;
    *ret_fd = -1;
    ssize_t n = fdpass_recv(sock, m, sizeof(*m), ret_fd, 1, &nfds, flags);
    if (n == -EMSGSIZE)
        return -EPROTO;
    if (n > 0 && n != (ssize_t)sizeof(*m)) {
        if (nfds)
            close(*ret_fd);
        *ret_fd = -1;
        return -EPROTO;
    }
    if (n < 0)
        *ret_fd = -1;
    m->text[sizeof(m->text) - 1] = '\0';
    return n;
}

/* ---- the pool ----------------------------------------------------------------------- */

enum tag_kind { TAG_CTL, TAG_PID, TAG_LOG, TAG_ZYGOTE };

struct tag {
    enum tag_kind kind;
    void *obj;
};

struct tmpl {
    int idx;
    pid_t pid; /* 0 when not running */
    int pidfd, ctl, log;
    bool booted;
    unsigned asked;  /* zygotes asked for, not delivered yet */
    unsigned ready;  /* its zygotes in the ready list */
    unsigned fails;  /* consecutive failed claims */
    unsigned deaths; /* zygotes that died unclaimed since the last good claim */
    uint64_t started_ms;
    uint64_t ping_ms;    /* when the last ping went out */
    bool ping_out;       /* ...unanswered */
    uint64_t restart_at; /* when not running: when to start again (ms) */
    unsigned backoff_ms;
    bool ever_booted;
    struct tag tctl, tpid, tlog;
};

struct zyg {
    pid_t pid;
    int pidfd;
    int sock;
    int tmpl;
    struct tag tag;
    struct zyg *next;
};

struct warm_pool {
    struct warm_config cfg;
    struct sb_host *h;
    struct sb_pool *sp;
    int ep;     /* our own epoll set, itself watched by the supervisor's */
    int exe_fd; /* our binary, to exec templates */
    struct tmpl t[WARM_MAX_TEMPLATES];
    struct zyg *ready;
    unsigned running; /* claimed runs not yet ended (warm_pool_ended) */
    bool nice;        /* the pool waits at nice WARM_NICE (may_lower_priority) */
    struct warm_stats st;
};

static void watch(struct warm_pool *p, int fd, struct tag *tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    (void)epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void unwatch(struct warm_pool *p, int fd)
{
    if (fd >= 0)
        (void)epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL);
}

static void set_error(struct warm_pool *p, const char *what, const char *text)
{
    size_t n = sizeof(p->st.last_error);
    size_t l = strlen(what) < n - 1 ? strlen(what) : n - 1;
    memcpy(p->st.last_error, what, l);
    size_t k = strnlen(text, n - 1 - l);
    memcpy(p->st.last_error + l, text, k);
    p->st.last_error[l + k] = '\0';
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Whether the pool may wait at a lower CPU priority than runs: only if we can give a
 * claimed zygote back the priority a cold sandbox has, ours (nice 0), which needs
 * CAP_SYS_NICE. */
static bool may_lower_priority(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    if (prio != 0 || errno || syscall(SYS_capget, &hdr, data) < 0)
        return false;
    return data[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32));
}

/* A claimed zygote (pid 1 of its namespaces) and its program process, forked in advance,
 * come back from the pool's priority to ours before the claim is sent. */
static void normal_priority(pid_t zygote)
{
    char path[64], buf[256];
    (void)setpriority(PRIO_PROCESS, (id_t)zygote, 0);
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)zygote, (int)zygote);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (char *q = buf, *e;; q = e) {
        long c = strtol(q, &e, 10);
        if (e == q)
            break;
        (void)setpriority(PRIO_PROCESS, (id_t)c, 0);
    }
}

static int tmpl_start(struct warm_pool *p, struct tmpl *t)
{
    int ctl[2] = {-1, -1}, logp[2] = {-1, -1}, inp[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0 ||
        pipe2(logp, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(inp, O_CLOEXEC) < 0) {
        int e = -errno;
        close_fd(&ctl[0]);
        close_fd(&ctl[1]);
        close_fd(&logp[0]);
        close_fd(&logp[1]);
        return e;
    }
    const char *dir = sb_pool_dir(p->sp);
    char home[400], mplcfg[400], tmpdir[400];
    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(mplcfg, sizeof(mplcfg), "MPLCONFIGDIR=%s", dir);
    snprintf(tmpdir, sizeof(tmpdir), "TMPDIR=%s", dir);
    /* What Python reads at start-up is what a run's python3 gets (sandbox defaults and
     * runs.c's environment; warm_eligible() refuses anything else); never PYTHONPATH, nor
     * a HOME or cwd that someone else controls: templates share the host's file system. */
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
                    home,
                    "USER=user",
                    "LOGNAME=user",
                    "SHELL=/bin/bash",
                    "LANG=C.UTF-8",
                    "MPLBACKEND=Agg",
                    mplcfg,
                    "PYTHONDONTWRITEBYTECODE=1",
                    "PYTHONUNBUFFERED=1",
                    tmpdir,
                    "TERM=dumb",
                    NULL};
    bool own = sb_pool_uid(p->sp) != getuid();
    char *argv[] = {"pyroom-warm", "__warm-template", p->cfg.modules, own ? "1" : "0", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        /* Refills (a zygote costs a template ~10 ms of CPU) yield the CPUs to runs. */
        if (p->nice)
            (void)setpriority(PRIO_PROCESS, 0, WARM_NICE);
        if (dup2(inp[0], 0) < 0 || dup2(logp[1], 1) < 0 || dup2(logp[1], 2) < 0 ||
            dup2(ctl[1], WARM_CTL_FD) < 0 || dup2(p->exe_fd, 4) < 0)
            _exit(126);
        fcntl(4, F_SETFD, FD_CLOEXEC);
        fcntl(1, F_SETFL, 0);
        close_range(5, ~0u, 0);
        if (sb_pool_enter(p->sp) < 0)
            _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        syscall(SYS_execveat, 4, "", argv, envp, AT_EMPTY_PATH);
        _exit(127);
    }
    int e = pid < 0 ? -errno : 0;
    close(ctl[1]);
    close(logp[1]);
    close(inp[0]);
    close(inp[1]); /* the template's stdin: a pipe at end of file, as a run's may be */
    if (e < 0) {
        close(ctl[0]);
        close(logp[0]);
        return e;
    }
    t->pid = pid;
    t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    t->ctl = ctl[0];
    t->log = logp[0];
    t->booted = false;
    t->asked = t->ready = t->fails = 0;
    t->ping_out = false;
    t->started_ms = clock_mono_ms();
    t->restart_at = 0;
    t->tctl = (struct tag){TAG_CTL, t};
    t->tpid = (struct tag){TAG_PID, t};
    t->tlog = (struct tag){TAG_LOG, t};
    watch(p, t->ctl, &t->tctl);
    if (t->pidfd >= 0)
        watch(p, t->pidfd, &t->tpid);
    watch(p, t->log, &t->tlog);
    return 0;
}

static void zyg_free(struct warm_pool *p, struct zyg *z)
{
    unwatch(p, z->pidfd);
    close_fd(&z->sock); /* an unclaimed zygote exits on EOF */
    if (z->pidfd >= 0) {
        siginfo_t si;
        syscall(SYS_pidfd_send_signal, z->pidfd, SIGKILL, NULL, 0);
        memset(&si, 0, sizeof(si));
        (void)waitid(P_PIDFD, (id_t)z->pidfd, &si, WEXITED);
    }
    close_fd(&z->pidfd);
    if (z->tmpl >= 0 && p->t[z->tmpl].ready)
        p->t[z->tmpl].ready--;
    free(z);
}

static void unlink_zyg(struct warm_pool *p, struct zyg *z)
{
    for (struct zyg **pp = &p->ready; *pp; pp = &(*pp)->next)
        if (*pp == z) {
            *pp = z->next;
            return;
        }
}

/* The template ended (or is made to): reap it, drop its zygotes, plan its restart. */
static void tmpl_dead(struct warm_pool *p, struct tmpl *t)
{
    if (!t->pid)
        return;
    if (t->pidfd >= 0) {
        siginfo_t si;
        syscall(SYS_pidfd_send_signal, t->pidfd, SIGKILL, NULL, 0);
        memset(&si, 0, sizeof(si));
        (void)waitid(P_PIDFD, (id_t)t->pidfd, &si, WEXITED);
    }
    unwatch(p, t->ctl);
    unwatch(p, t->pidfd);
    unwatch(p, t->log);
    close_fd(&t->ctl);
    close_fd(&t->pidfd);
    close_fd(&t->log);
    t->pid = 0;
    for (struct zyg *z = p->ready, *next; z; z = next) {
        next = z->next;
        if (z->tmpl == t->idx) {
            unlink_zyg(p, z);
            zyg_free(p, z);
        }
    }
    t->ready = t->asked = 0;
    if (t->booted)
        p->st.restarts++;
    t->booted = false;
    /* A template that never boots is retried ever more slowly. */
    t->backoff_ms = t->ever_booted && clock_mono_ms() - t->started_ms > 60000
                        ? BACKOFF_MIN_MS
                        : (t->backoff_ms ? t->backoff_ms * 2 : BACKOFF_MIN_MS);
    if (t->backoff_ms > BACKOFF_MAX_MS)
        t->backoff_ms = BACKOFF_MAX_MS;
    t->restart_at = clock_mono_ms() + t->backoff_ms;
}

/* Asks for the zygotes missing. Forking one costs a template ~10 ms of CPU: while warm
 * runs are in progress and one is still ready, that waits for them to end, so that a run
 * does not share the CPUs with the refill it caused. */
static void top_up(struct warm_pool *p, struct tmpl *t)
{
    if (!t->pid || !t->booted)
        return;
    if (p->running && t->ready)
        return;
    unsigned have = t->ready + t->asked;
    if (have >= p->cfg.children)
        return;
    struct warm_msg m = {.type = WARM_FORK, .value = p->cfg.children - have};
    if (warm_msg_send(t->ctl, &m, -1) == 0)
        t->asked += (unsigned)m.value;
}

static void on_ctl(struct warm_pool *p, struct tmpl *t)
{
    for (;;) {
        struct warm_msg m;
        int fd;
        ssize_t n = warm_msg_recv(t->ctl, &m, &fd, MSG_DONTWAIT);
        if (n == -EAGAIN)
            return;
        if (n == 0 || (n < 0 && n != -EPROTO)) {
            tmpl_dead(p, t);
            return;
        }
        if (n < 0)
            continue;
        switch (m.type) {
        case WARM_BOOTED:
            t->booted = t->ever_booted = true;
            p->st.boot_ms = m.value;
            if (m.text[0])
                set_error(p, "template imports: ", m.text);
            top_up(p, t);
            break;
        case WARM_REHEARSED:
            if (!strcmp(m.text, "pandas"))
                p->st.prefault_pandas_pages = m.value;
            else if (!strcmp(m.text, "matplotlib"))
                p->st.prefault_matplotlib_pages = m.value;
            else
                p->st.prefault_pages = m.value;
            break;
        case WARM_ZYGOTE: {
            if (t->asked)
                t->asked--;
            struct zyg *z = fd >= 0 && m.pid > 0 ? calloc(1, sizeof(*z)) : NULL;
            if (!z) {
                close_fd(&fd);
                break;
            }
            z->pid = m.pid;
            z->sock = fd;
            fd = -1;
            z->tmpl = t->idx;
            z->pidfd = (int)syscall(SYS_pidfd_open, m.pid, 0);
            z->tag = (struct tag){TAG_ZYGOTE, z};
            if (z->pidfd < 0) {
                z->tmpl = -1;
                zyg_free(p, z);
                break;
            }
            watch(p, z->pidfd, &z->tag);
            z->next = p->ready;
            p->ready = z;
            t->ready++;
            break;
        }
        case WARM_ERROR:
            if (t->asked && !strncmp(m.text, "fork zygote", 11))
                t->asked--;
            set_error(p, "template: ", m.text);
            break;
        case WARM_PONG:
            t->ping_out = false;
            break;
        default:
            break;
        }
        close_fd(&fd);
    }
}

static void on_log(struct warm_pool *p, struct tmpl *t)
{
    char buf[4096];
    ssize_t n = read(t->log, buf, sizeof(buf) - 1);
    if (n <= 0) {
        if (n == 0) {
            unwatch(p, t->log);
            close_fd(&t->log);
        }
        return;
    }
    buf[n] = '\0';
    /* Keep the last complete line as the pool's last error. */
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    char *line = strrchr(buf, '\n');
    set_error(p, "template said: ", line ? line + 1 : buf);
}

void warm_pool_handle(struct warm_pool *p)
{
    struct epoll_event evs[32];
    int n = epoll_wait(p->ep, evs, 32, 0);
    for (int i = 0; i < n; i++) {
        struct tag *tag = evs[i].data.ptr;
        if (tag->kind == TAG_ZYGOTE) {
            /* died unclaimed */
            struct zyg *z = tag->obj;
            bool found = false;
            for (struct zyg *q = p->ready; q; q = q->next)
                found |= q == z;
            if (!found)
                continue;
            unlink_zyg(p, z);
            int ti = z->tmpl;
            zyg_free(p, z);
            if (ti >= 0 && ++p->t[ti].deaths >= MAX_FAILS * 2) {
                /* its zygotes keep dying: replace it (with a back-off), do not spin */
                set_error(p, "template: ", "its waiting interpreters keep dying; replaced");
                p->t[ti].deaths = 0;
                tmpl_dead(p, &p->t[ti]);
            } else if (ti >= 0) {
                top_up(p, &p->t[ti]);
            }
            continue;
        }
        struct tmpl *t = tag->obj;
        if (!t->pid)
            continue; /* handled earlier in this batch */
        if (tag->kind == TAG_CTL)
            on_ctl(p, t);
        else if (tag->kind == TAG_LOG)
            on_log(p, t);
        else
            tmpl_dead(p, t);
    }
}

uint64_t warm_pool_tick(struct warm_pool *p, uint64_t now)
{
    uint64_t next = now + 1000;
    for (unsigned i = 0; i < p->cfg.templates; i++) {
        struct tmpl *t = &p->t[i];
        if (!t->pid) {
            if (now >= t->restart_at && tmpl_start(p, t) < 0)
                t->restart_at = now + BACKOFF_MAX_MS;
            continue;
        }
        if (!t->booted) {
            if (now - t->started_ms > BOOT_TIMEOUT_MS) {
                set_error(p, "template: ", "did not boot in time");
                tmpl_dead(p, t);
            }
            continue;
        }
        if (t->ping_out && now - t->ping_ms > PING_TIMEOUT_MS) {
            set_error(p, "template: ", "did not answer a ping");
            tmpl_dead(p, t);
            continue;
        }
        if (!t->ping_out && now - t->ping_ms > PING_EVERY_MS) {
            struct warm_msg m = {.type = WARM_PING};
            if (warm_msg_send(t->ctl, &m, -1) == 0) {
                t->ping_out = true;
                t->ping_ms = now;
            }
        }
        top_up(p, t);
    }
    return next;
}

int warm_pool_new(const struct warm_config *cfg, struct sb_host *h, int ep, void *tag,
                  struct warm_pool **ret, struct err *err)
{
    struct warm_pool *p = calloc(1, sizeof(*p));
    int r;
    if (!p)
        return err_set(err, ENOMEM, "warm pool");
    p->cfg = *cfg;
    if (!p->cfg.templates)
        p->cfg.templates = 1;
    if (p->cfg.templates > WARM_MAX_TEMPLATES)
        p->cfg.templates = WARM_MAX_TEMPLATES;
    if (!p->cfg.children)
        p->cfg.children = 1;
    if (p->cfg.children > WARM_MAX_CHILDREN)
        p->cfg.children = WARM_MAX_CHILDREN;
    if (!p->cfg.modules[0])
        snprintf(p->cfg.modules, sizeof(p->cfg.modules), "%s", WARM_DEFAULT_MODULES);
    p->h = h;
    p->ep = -1;
    p->exe_fd = -1;
    for (unsigned i = 0; i < WARM_MAX_TEMPLATES; i++)
        p->t[i] = (struct tmpl){.idx = (int)i, .pidfd = -1, .ctl = -1, .log = -1};
    p->st.enabled = true;
    p->st.memory_limit_bytes = cfg->memory_bytes;
    p->nice = may_lower_priority();
    /* Our zygotes are re-parented to us when the process that made them exits. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        r = err_set(err, errno, "become a subreaper");
        goto fail;
    }
    p->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (p->exe_fd < 0) {
        r = err_set(err, errno, "open /proc/self/exe");
        goto fail;
    }
    if ((r = sb_pool_open(h, cfg->memory_bytes, &p->sp, err)) < 0)
        goto fail;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
    if (p->ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, p->ep, &ev) < 0) {
        r = err_set(err, errno, "epoll");
        goto fail;
    }
    for (unsigned i = 0; i < p->cfg.templates; i++)
        if ((r = tmpl_start(p, &p->t[i])) < 0) {
            err_set(err, -r, "start a template");
            goto fail;
        }
    *ret = p;
    return 0;
fail:
    warm_pool_free(p);
    return r;
}

void warm_pool_free(struct warm_pool *p)
{
    if (!p)
        return;
    while (p->ready) {
        struct zyg *z = p->ready;
        p->ready = z->next;
        z->tmpl = -1;
        zyg_free(p, z);
    }
    for (unsigned i = 0; i < WARM_MAX_TEMPLATES; i++)
        tmpl_dead(p, &p->t[i]);
    if (p->ep >= 0)
        close(p->ep);
    if (p->exe_fd >= 0)
        close(p->exe_fd);
    sb_pool_close(p->sp);
    free(p);
}

bool warm_eligible(const struct sb_spec *spec)
{
    if (!spec->warm || spec->pty || !spec->argv || !spec->argv[0] || !spec->argv[1])
        return false;
    if (strcmp(spec->argv[0], "python3") != 0 || spec->argv[1][0] == '-' || !spec->argv[1][0])
        return false;
    bool unbuffered = false;
    for (const char *const *e = spec->env; e && *e; e++) {
        const char *kv = *e;
        if (!strncmp(kv, "PYTHONUNBUFFERED=", 17)) {
            unbuffered = !strcmp(kv + 17, "1");
            if (!unbuffered)
                return false;
        } else if (!strncmp(kv, "PYTHONPATH=", 11)) {
            continue; /* applied by prepare() */
        } else if (!strncmp(kv, "PYTHONDONTWRITEBYTECODE=", 24)) {
            if (strcmp(kv + 24, "1") != 0)
                return false;
        } else if (!strncmp(kv, "PYTHON", 6) || !strncmp(kv, "LC_", 3) ||
                   !strncmp(kv, "LANG=", 5)) {
            /* read at start-up (hash seed, I/O encoding, locale...): only cold can honour */
            if (strcmp(kv, "LANG=C.UTF-8") != 0)
                return false;
        }
    }
    return unbuffered;
}

int warm_pool_take(struct warm_pool *p, pid_t *ret_pid, int *ret_sock, uid_t *ret_uid,
                   int *ret_tmpl)
{
    struct zyg *z = p->ready;
    if (!z)
        return -EAGAIN;
    p->ready = z->next;
    unwatch(p, z->pidfd);
    close_fd(&z->pidfd); /* the sandbox opens its own */
    struct tmpl *t = &p->t[z->tmpl];
    if (t->ready)
        t->ready--;
    if (p->nice)
        normal_priority(z->pid);
    *ret_pid = z->pid;
    *ret_sock = z->sock;
    *ret_uid = sb_pool_uid(p->sp);
    *ret_tmpl = z->tmpl;
    free(z);
    p->running++;
    top_up(p, t);
    return 0;
}

void warm_pool_ended(struct warm_pool *p)
{
    if (p->running)
        p->running--;
    for (unsigned i = 0; i < p->cfg.templates; i++)
        top_up(p, &p->t[i]);
}

void warm_pool_claimed(struct warm_pool *p, int tmpl, const char *error)
{
    if (tmpl < 0 || tmpl >= WARM_MAX_TEMPLATES)
        return;
    struct tmpl *t = &p->t[tmpl];
    if (!error) {
        p->st.claims++;
        t->fails = t->deaths = 0;
        return;
    }
    p->st.failed_claims++;
    p->st.fallbacks++;
    set_error(p, "claim: ", error);
    if (++t->fails >= MAX_FAILS && t->pid) {
        /* (the claim error above stays the last error) */
        t->fails = 0;
        tmpl_dead(p, t);
    }
}

void warm_pool_fallback(struct warm_pool *p)
{
    p->st.fallbacks++;
}

bool warm_pool_owns(const struct warm_pool *p, pid_t pid)
{
    for (unsigned i = 0; i < WARM_MAX_TEMPLATES; i++)
        if (p->t[i].pid == pid)
            return true;
    for (struct zyg *z = p->ready; z; z = z->next)
        if (z->pid == pid)
            return true;
    return false;
}

/* Proportional set size of a process (shared pages divided among their users), bytes. */
static uint64_t pss_of(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *s = strstr(buf, "\nPss:");
    return s ? strtoull(s + 5, NULL, 10) * 1024 : 0;
}

void warm_pool_stats(struct warm_pool *p, struct warm_stats *ret)
{
    p->st.templates = 0;
    p->st.ready = 0;
    p->st.pss_bytes = 0;
    p->st.template_pss_bytes = 0;
    for (unsigned i = 0; i < p->cfg.templates; i++) {
        if (!p->t[i].pid || !p->t[i].booted)
            continue;
        p->st.templates++;
        uint64_t v = pss_of(p->t[i].pid);
        p->st.pss_bytes += v;
        if (v > p->st.template_pss_bytes)
            p->st.template_pss_bytes = v;
    }
    for (struct zyg *z = p->ready; z; z = z->next) {
        p->st.ready++;
        p->st.pss_bytes += pss_of(z->pid);
        /* and its program process, forked in advance */
        char path[64], buf[256];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)z->pid, (int)z->pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n > 0) {
            buf[n] = '\0';
            for (char *q = buf, *e; *q; q = e) {
                long c = strtol(q, &e, 10);
                if (e == q)
                    break;
                p->st.pss_bytes += pss_of((pid_t)c);
            }
        }
    }
    p->st.cgroup_bytes = sb_pool_memory_bytes(p->sp);
    *ret = p->st;
}
