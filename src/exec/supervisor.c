/*
 * supervisor.c: the sandbox supervisor process (its client is supervisor_client.c, the
 * messages between them supervisor_wire.h). See supervisor.h for the design. Wire format
 * (host-local, same binary both sides):
 *
 *   main socket, client -> supervisor:  struct msg_spawn + strings, fd: the channel's far end
 *   main socket, supervisor -> client:  struct msg_hello once at start
 *   channel, supervisor -> client:      struct msg_spawned (+ 3 pipe fds or 1 PTY master),
 *                                       later struct msg_result
 *   channel, client -> supervisor:      struct msg_kill
 *
 * Strings are argv..., env..., then cwd and workspace when flagged, each NUL-terminated,
 * at most SB_MAX_STRINGS bytes; the supervisor checks every count and terminator.
 */
#include "exec/supervisor.h"

#include "base/clock.h"
#include "base/fdpass.h"
#include "exec/supervisor_wire.h"
#include "exec/warm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the supervisor process ----------------------------------------------------------- */

enum ev_kind { EV_MAIN, EV_CHAN, EV_PID, EV_START, EV_WARM };

struct sproc;

struct ev {
    enum ev_kind kind;
    struct sproc *p;
};

struct sproc {
    uint64_t id;
    int chan; /* -1 once the client is gone or the result sent */
    struct sb_proc *sb;
    struct ev chan_ev, pid_ev, start_ev;
    bool starting;    /* cloned, not yet exec'd: the client waits for its reply */
    bool dead;        /* retired: freed after the current batch of events */
    bool warm;        /* a claimed zygote (warm.h) */
    bool claimed;     /* counted in the pool's runs in progress until retired */
    int end_fd;       /* the sandbox's end fd while in the epoll set (pid_ev), else -1 */
    bool result_sent; /* reaped: only the tree's end is awaited (sb_proc_gone) */
    int tmpl;         /* ...of this template */
    char *req;        /* warm and starting: the request, to start it cold instead */
    size_t req_len;
    struct sproc *next;
};

struct sv {
    struct sb_host *host;
    int sock, ep;
    uint64_t next_id;
    struct sproc *procs;
    struct sproc *graveyard; /* retired this batch; an event later in it may still name them */
    bool stopping;
    struct warm_pool *warm;     /* NULL when disabled or unavailable */
    struct warm_stats warm_off; /* what stats say without a pool */
};

static void sproc_close_chan(struct sv *sv, struct sproc *p)
{
    if (p->chan >= 0) {
        epoll_ctl(sv->ep, EPOLL_CTL_DEL, p->chan, NULL);
        close(p->chan);
        p->chan = -1;
    }
}

/* (before sb_proc_free closes it: a closed fd cannot be taken out of the set, and a copy
 * held by a sandbox cloned meanwhile would keep it there, naming a freed sproc) */
static void unwatch_end(struct sv *sv, struct sproc *p)
{
    if (p->end_fd >= 0)
        epoll_ctl(sv->ep, EPOLL_CTL_DEL, p->end_fd, NULL);
    p->end_fd = -1;
}

/* Ends p's bookkeeping (killing and reaping its sandbox if needed); the memory goes at
 * the end of the batch (bury). */
static void sproc_retire(struct sv *sv, struct sproc *p)
{
    for (struct sproc **pp = &sv->procs; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    sproc_close_chan(sv, p);
    if (p->sb && p->starting && sb_spawn_fd(p->sb) >= 0)
        epoll_ctl(sv->ep, EPOLL_CTL_DEL, sb_spawn_fd(p->sb), NULL);
    if (p->sb) {
        unwatch_end(sv, p);
        epoll_ctl(sv->ep, EPOLL_CTL_DEL, sb_proc_fd(p->sb), NULL);
        sb_proc_free(p->sb);
        p->sb = NULL;
    }
    if (p->claimed && sv->warm)
        warm_pool_ended(sv->warm);
    p->claimed = false;
    p->dead = true;
    p->next = sv->graveyard;
    sv->graveyard = p;
}

static void bury(struct sv *sv)
{
    while (sv->graveyard) {
        struct sproc *p = sv->graveyard;
        sv->graveyard = p->next;
        free(p->req);
        free(p);
    }
}

int sup_decode_spawn(const void *data, size_t len, struct sb_spec *spec, const char **argv,
                     const char **env)
{
    const char *buf = data;
    struct msg_spawn m;
    if (len < sizeof(m))
        return -EINVAL;
    memcpy(&m, buf, sizeof(m));
    if (m.type != MSG_SPAWN || m.argc == 0 || m.argc > SB_MAX_ARGS || m.envc > SB_MAX_ENV ||
        m.strings_len != len - sizeof(m) || m.strings_len > SB_MAX_STRINGS)
        return -EINVAL;
    const char *s = buf + sizeof(m), *end = s + m.strings_len;
    size_t need = m.argc + m.envc + (m.has_cwd ? 1 : 0) + (m.has_workspace ? 1 : 0);
    const char *strs[SB_MAX_ARGS + SB_MAX_ENV + 2];
    for (size_t i = 0; i < need; i++) {
        const char *nul = memchr(s, '\0', (size_t)(end - s));
        if (!nul)
            return -EINVAL;
        strs[i] = s;
        s = nul + 1;
    }
    if (s != end)
        return -EINVAL;
    size_t k = 0;
    for (uint32_t i = 0; i < m.argc; i++)
        argv[i] = strs[k++];
    argv[m.argc] = NULL;
    for (uint32_t i = 0; i < m.envc; i++)
        env[i] = strs[k++];
    env[m.envc] = NULL;
    memset(spec, 0, sizeof(*spec));
    spec->argv = argv;
    spec->env = env;
    spec->cwd = m.has_cwd ? strs[k++] : NULL;
    spec->workspace = m.has_workspace ? strs[k++] : NULL;
    spec->pty = m.pty != 0;
    spec->shared_workspace = m.shared_workspace != 0;
    spec->rows = m.rows;
    spec->cols = m.cols;
    spec->limits = m.limits;
    spec->warm = m.warm != 0;
    return 0;
}

static void reply_error(int chan, int code, const char *msg)
{
    struct msg_spawned rep = {.type = MSG_SPAWNED, .err = code ? code : EIO};
    snprintf(rep.msg, sizeof(rep.msg), "%s", msg);
    (void)fdpass_send(chan, &rep, sizeof(rep), NULL, 0);
}

/* Starts spec warm when it may and a zygote is ready; else cold. */
static int begin_spawn(struct sv *sv, const struct sb_spec *spec, struct sb_proc **sb,
                       bool *ret_warm, int *ret_tmpl, struct err *e)
{
    *ret_warm = false;
    *ret_tmpl = -1;
    if (spec->warm && sv->warm) {
        pid_t zpid;
        int zsock, tmpl;
        uid_t zuid;
        if (!warm_eligible(spec) || warm_pool_take(sv->warm, &zpid, &zsock, &zuid, &tmpl) < 0) {
            warm_pool_fallback(sv->warm);
        } else {
            struct err we = {0};
            int r = sb_claim_begin(sv->host, spec, zpid, zsock, zuid, sb, &we);
            close(zsock);
            if (r == 0) {
                *ret_warm = true;
                *ret_tmpl = tmpl;
                return 0;
            }
            warm_pool_claimed(sv->warm, tmpl, we.msg);
            warm_pool_ended(sv->warm);
        }
    } else if (spec->warm) {
        sv->warm_off.fallbacks++;
    }
    return sb_spawn_begin(sv->host, spec, sb, e);
}

/* A spawn request: clone now, answer when the child has exec'd (handle_start), so one
 * slow set-up never holds up the other sandboxes' events. */
static void handle_spawn(struct sv *sv, char *buf, size_t len, int chan)
{
    const char *argv[SB_MAX_ARGS + 1], *env[SB_MAX_ENV + 1];
    struct sb_spec spec;
    struct err e = {0};
    struct sb_proc *sb = NULL;
    bool warm;
    int tmpl;
    if (sup_decode_spawn(buf, len, &spec, argv, env) < 0) {
        reply_error(chan, EINVAL, "malformed spawn request");
        close(chan);
        return;
    }
    if (begin_spawn(sv, &spec, &sb, &warm, &tmpl, &e) < 0) {
        reply_error(chan, e.code, e.msg);
        close(chan);
        return;
    }
    struct sproc *p = calloc(1, sizeof(*p));
    char *req = warm ? malloc(len) : NULL;
    if (!p || (warm && !req)) {
        free(p);
        free(req);
        sb_proc_free(sb);
        reply_error(chan, ENOMEM, "out of memory");
        close(chan);
        return;
    }
    if (req)
        memcpy(req, buf, len);
    p->id = ++sv->next_id;
    p->chan = chan;
    p->end_fd = -1;
    p->sb = sb;
    p->starting = true;
    p->warm = warm;
    p->claimed = warm;
    p->tmpl = tmpl;
    p->req = req;
    p->req_len = len;
    p->chan_ev = (struct ev){EV_CHAN, p};
    p->pid_ev = (struct ev){EV_PID, p};
    p->start_ev = (struct ev){EV_START, p};
    p->next = sv->procs;
    sv->procs = p;
    struct epoll_event ce = {.events = EPOLLIN, .data.ptr = &p->chan_ev};
    struct epoll_event se = {.events = EPOLLIN, .data.ptr = &p->start_ev};
    if (epoll_ctl(sv->ep, EPOLL_CTL_ADD, chan, &ce) < 0 ||
        epoll_ctl(sv->ep, EPOLL_CTL_ADD, sb_spawn_fd(sb), &se) < 0) {
        reply_error(chan, errno, "epoll");
        sproc_retire(sv, p);
    }
}

/* A warm start failed before any user byte ran: start the same request cold. Returns
 * true when the cold sandbox is on its way (its start is awaited as any other). */
static bool restart_cold(struct sv *sv, struct sproc *p, const char *why)
{
    const char *argv[SB_MAX_ARGS + 1], *env[SB_MAX_ENV + 1];
    struct sb_spec spec;
    struct err e = {0};
    struct sb_proc *sb = NULL;
    warm_pool_claimed(sv->warm, p->tmpl, why);
    if (sup_decode_spawn(p->req, p->req_len, &spec, argv, env) < 0)
        return false;
    sb_proc_free(p->sb); /* reaps the zygote and hands the workspace back */
    p->sb = NULL;
    p->warm = false;
    if (sb_spawn_begin(sv->host, &spec, &sb, &e) < 0)
        return false;
    p->sb = sb;
    free(p->req);
    p->req = NULL;
    struct epoll_event se = {.events = EPOLLIN, .data.ptr = &p->start_ev};
    if (epoll_ctl(sv->ep, EPOLL_CTL_ADD, sb_spawn_fd(sb), &se) < 0)
        return false;
    return true;
}

/* The child exec'd (or failed): answer the client with the stdio fds, or the error. */
static void handle_start(struct sv *sv, struct sproc *p)
{
    struct err e = {0};
    struct sb_stdio io = {-1, -1, -1, -1};
    /* Out of the epoll set before sb_spawn_end may close it: a child being cloned at this
     * moment holds a copy of the fd, which would keep the registration (and its events,
     * naming p after it is freed) alive. */
    int sfd = sb_spawn_fd(p->sb);
    epoll_ctl(sv->ep, EPOLL_CTL_DEL, sfd, NULL);
    int r = sb_spawn_end(p->sb, &io, &e);
    if (r == -EAGAIN) {
        struct epoll_event se = {.events = EPOLLIN, .data.ptr = &p->start_ev};
        if (epoll_ctl(sv->ep, EPOLL_CTL_ADD, sfd, &se) == 0)
            return;
        err_set(&e, errno, "epoll");
        r = -EIO;
    }
    if (r < 0 && p->warm && restart_cold(sv, p, e.msg))
        return;
    p->starting = false;
    if (r < 0) {
        if (p->chan >= 0)
            reply_error(p->chan, e.code, e.msg);
        sproc_retire(sv, p);
        return;
    }
    if (p->warm) {
        warm_pool_claimed(sv->warm, p->tmpl, NULL);
        free(p->req);
        p->req = NULL;
    }
    struct msg_spawned rep = {
        .type = MSG_SPAWNED, .id = p->id, .pid = sb_proc_pid(p->sb), .warm = p->warm};
    int fds[3], nfds;
    if (io.pty >= 0) {
        fds[0] = io.pty;
        nfds = 1;
    } else {
        fds[0] = io.in;
        fds[1] = io.out;
        fds[2] = io.err;
        nfds = 3;
    }
    rep.nfds = (uint32_t)nfds;
    struct epoll_event pe = {.events = EPOLLIN, .data.ptr = &p->pid_ev};
    struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &p->pid_ev};
    if (epoll_ctl(sv->ep, EPOLL_CTL_ADD, sb_proc_fd(p->sb), &pe) < 0)
        sb_kill(p->sb, SB_LIMIT_NONE); /* cannot watch it: end it */
    else if (epoll_ctl(sv->ep, EPOLL_CTL_ADD, sb_proc_end_fd(p->sb), &ee) == 0)
        p->end_fd = sb_proc_end_fd(p->sb); /* (else its result comes once the tree ends) */
    if (p->chan >= 0 && fdpass_send(p->chan, &rep, sizeof(rep), fds, nfds) < 0) {
        /* the client is gone already: end the sandbox */
        sproc_close_chan(sv, p);
        sb_kill(p->sb, SB_LIMIT_NONE);
    }
    /* The client has its copies now; ours would keep its pipes open. */
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
}

static void handle_main(struct sv *sv)
{
    static char buf[MAX_SPAWN_MSG];
    for (;;) {
        int fds[4];
        size_t nfds = 0;
        ssize_t n = fdpass_recv(sv->sock, buf, sizeof(buf), fds, 4, &nfds, MSG_DONTWAIT);
        if (n == -EAGAIN)
            return;
        if (n == 0 || (n < 0 && n != -EMSGSIZE && n != -EINTR)) {
            sv->stopping = true; /* the server is gone */
            return;
        }
        if (n < 0)
            continue; /* oversized: dropped; the client sees its channel close */
        if (nfds == 1 && (size_t)n == sizeof(uint32_t) && *(uint32_t *)buf == MSG_STATS) {
            struct msg_stats st = {.type = MSG_STATS};
            if (sv->warm)
                warm_pool_stats(sv->warm, &st.warm);
            else
                st.warm = sv->warm_off;
            (void)fdpass_send(fds[0], &st, sizeof(st), NULL, 0);
            close(fds[0]);
            continue;
        }
        if (nfds != 1) {
            for (size_t i = 0; i < nfds; i++)
                close(fds[i]);
            continue;
        }
        handle_spawn(sv, buf, (size_t)n, fds[0]);
    }
}

static void handle_chan(struct sv *sv, struct sproc *p)
{
    struct msg_kill k;
    for (;;) {
        ssize_t n = fdpass_recv(p->chan, &k, sizeof(k), NULL, 0, NULL, MSG_DONTWAIT);
        if (n == -EAGAIN)
            return;
        if (n <= 0) {
            /* The client dropped its handle: nobody wants this sandbox any more. */
            sproc_close_chan(sv, p);
            sb_kill(p->sb, SB_LIMIT_NONE);
            return;
        }
        if ((size_t)n == sizeof(k) && k.type == MSG_KILL && k.why <= SB_LIMIT_DISK)
            sb_kill(p->sb, (enum sb_limit)k.why);
    }
}

static void handle_exit(struct sv *sv, struct sproc *p)
{
    if (!p->result_sent) {
        struct msg_result m = {.type = MSG_RESULT};
        if (sb_reap(p->sb, &m.result) == -EAGAIN) {
            if (sb_proc_end_fd(p->sb) < 0)
                unwatch_end(sv, p); /* said all it will: its end of file would wake us */
            return;
        }
        /* The result first: removing the cgroups, freeing the slot and refilling the warm
         * pool (sproc_retire) happen after the client has it. */
        if (p->chan >= 0)
            (void)fdpass_send(p->chan, &m, sizeof(m), NULL, 0);
        p->result_sent = true;
        unwatch_end(sv, p);
    }
    /* A result told early (a warm program's own end): the tree is still exiting, and its
     * pidfd says when it has gone. */
    if (sb_proc_gone(p->sb))
        sproc_retire(sv, p);
}

/* As a subreaper (for the warm pool's zygotes) we also inherit processes nobody waits for:
 * the short-lived forks of a template that died mid-fork. Reap those; leave every child
 * that a sandbox or the pool will reap itself. */
static void reap_strays(struct sv *sv)
{
    for (int i = 0; i < 16; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        if (warm_pool_owns(sv->warm, si.si_pid))
            return;
        for (struct sproc *p = sv->procs; p; p = p->next)
            if (p->sb && sb_proc_pid(p->sb) == si.si_pid)
                return;
        (void)waitpid(si.si_pid, NULL, WNOHANG);
    }
}

/* Blanks our copy of the server's command line and environment: every sandbox's pid 1 is a
 * fork of us, and /proc/1/cmdline is readable inside (a database URL with its password
 * must not show up there). Fields 48-51 of /proc/self/stat locate them. */
static void scrub_cmdline(void)
{
    char buf[2048];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    unsigned long long v[52] = {0};
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok && field < 51; tok = strtok(NULL, " ")) {
        field++;
        v[field] = strtoull(tok, NULL, 10);
    }
    if (field < 51)
        return;
    for (int f = 48; f <= 50; f += 2) {
        if (v[f] && v[f + 1] > v[f] && v[f + 1] - v[f] < (1u << 24))
            memset((void *)(uintptr_t)v[f], 0, (size_t)(v[f + 1] - v[f]));
    }
}

void supervisor_main(int sock, const struct sup_config *cfg)
{
    struct sv sv = {.sock = sock, .ep = -1};
    struct msg_hello hello = {.type = MSG_HELLO};
    struct err e = {0};

    prctl(PR_SET_NAME, "pyroom-sup", 0, 0, 0);
    /* Ctrl+C in the server's terminal is the server's to handle; we end on EOF. */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Whatever the server set up before forking us: our children must stay waitable, and
     * no signal of ours may stay blocked (sandboxes reset their own mask anyway). */
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Nothing of the server's (listening sockets, database files) stays open here. */
    if (sock != 3) {
        if (dup2(sock, 3) < 0)
            _exit(1);
        sv.sock = sock = 3;
    }
    close_range(4, ~0u, 0);
    fcntl(sock, F_SETFD, FD_CLOEXEC);

    if (sb_host_new(&cfg->sandbox, &sv.host, &e) < 0) {
        hello.err = e.code ? e.code : EIO;
        snprintf(hello.text, sizeof(hello.text), "%s", e.msg);
        (void)fdpass_send(sock, &hello, sizeof(hello), NULL, 0);
        _exit(1);
    }
    scrub_cmdline();
    snprintf(hello.text, sizeof(hello.text), "%s", sb_host_summary(sv.host));
    if (fdpass_send(sock, &hello, sizeof(hello), NULL, 0) < 0)
        _exit(1);

    sv.ep = epoll_create1(EPOLL_CLOEXEC);
    struct ev main_ev = {EV_MAIN, NULL};
    struct epoll_event me = {.events = EPOLLIN, .data.ptr = &main_ev};
    if (sv.ep < 0 || epoll_ctl(sv.ep, EPOLL_CTL_ADD, sock, &me) < 0)
        _exit(1);
    struct ev warm_ev = {EV_WARM, NULL};
    sv.warm_off.enabled = false;
    if (cfg->warm.enabled) {
        struct err we = {0};
        if (warm_pool_new(&cfg->warm, sv.host, sv.ep, &warm_ev, &sv.warm, &we) < 0) {
            sv.warm = NULL;
            snprintf(sv.warm_off.last_error, sizeof(sv.warm_off.last_error), "%.190s", we.msg);
        }
    }

    while (!sv.stopping) {
        uint64_t now = clock_mono_ms(), next = UINT64_MAX;
        for (struct sproc *p = sv.procs; p; p = p->next) {
            uint64_t t = sb_proc_check(p->sb, now);
            if (t < next)
                next = t;
        }
        if (sv.warm) {
            uint64_t t = warm_pool_tick(sv.warm, now);
            if (t < next)
                next = t;
        }
        int timeout = next == UINT64_MAX ? -1 : (int)(next > now ? next - now : 0);
        struct epoll_event evs[64];
        int n = epoll_wait(sv.ep, evs, 64, timeout);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            struct ev *ev = evs[i].data.ptr;
            if (ev->p && ev->p->dead)
                continue;
            if (ev->kind == EV_WARM)
                warm_pool_handle(sv.warm);
            else if (ev->kind == EV_MAIN)
                handle_main(&sv);
            else if (ev->kind == EV_CHAN)
                handle_chan(&sv, ev->p);
            else if (ev->kind == EV_START)
                handle_start(&sv, ev->p);
            else
                handle_exit(&sv, ev->p);
        }
        bury(&sv);
        if (sv.warm)
            reap_strays(&sv);
    }
    /* The server is gone or asked us to stop: no sandbox outlives us. */
    while (sv.procs) {
        struct sproc *p = sv.procs;
        sproc_close_chan(&sv, p);
        sproc_retire(&sv, p); /* kills and reaps */
    }
    bury(&sv);
    warm_pool_free(sv.warm);
    sb_host_free(sv.host);
    _exit(0);
}
