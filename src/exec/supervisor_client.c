/* supervisor_client: the thread-safe client of the supervisor process (supervisor.c):
 * start and stop it, spawn sandboxes through it, kill them and collect their results. */
#include "base/buf.h"
#include "base/fdpass.h"
#include "exec/supervisor.h"
#include "exec/supervisor_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the client ----------------------------------------------------------------------- */

int sup_start(const struct sup_config *cfg, struct sup **ret, struct err *err)
{
    int sv[2];
    struct sup_config none = {0};
    if (!cfg)
        cfg = &none;
    struct sup *s = calloc(1, sizeof(*s));
    if (!s)
        return err_set(err, ENOMEM, "supervisor");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        free(s);
        return err_set(err, errno, "socketpair");
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        free(s);
        return err_set(err, e, "fork supervisor");
    }
    if (pid == 0) {
        close(sv[0]);
        supervisor_main(sv[1], cfg);
    }
    close(sv[1]);
    s->fd = sv[0];
    s->pid = pid;
    struct msg_hello hello;
    ssize_t n = fdpass_recv(s->fd, &hello, sizeof(hello), NULL, 0, NULL, 0);
    if (n != (ssize_t)sizeof(hello) || hello.type != MSG_HELLO || hello.err) {
        hello.text[sizeof(hello.text) - 1] = '\0';
        int r = err_set(err, n == (ssize_t)sizeof(hello) && hello.err ? hello.err : EPIPE, "%s",
                        n == (ssize_t)sizeof(hello) ? hello.text : "supervisor died at start");
        sup_stop(s);
        return r;
    }
    hello.text[sizeof(hello.text) - 1] = '\0';
    memcpy(s->summary, hello.text, sizeof(s->summary));
    *ret = s;
    return 0;
}

void sup_stop(struct sup *s)
{
    if (!s)
        return;
    close(s->fd);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
        ;
    free(s);
}

const char *sup_summary(const struct sup *s)
{
    return s->summary;
}

int sup_fd(const struct sup *s)
{
    return s->fd;
}

int sup_encode_spawn(const struct sb_spec *spec, void *data, size_t cap, size_t *ret_len)
{
    struct msg_spawn m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_SPAWN;
    m.pty = spec->pty;
    m.shared_workspace = spec->shared_workspace;
    m.warm = spec->warm;
    m.rows = spec->rows;
    m.cols = spec->cols;
    m.limits = spec->limits;
    if (cap < sizeof(m))
        return -E2BIG;
    char *strs = (char *)data + sizeof(m);
    size_t off = 0, room = cap - sizeof(m) < SB_MAX_STRINGS ? cap - sizeof(m) : SB_MAX_STRINGS;
    int r = 0;
    for (const char *const *a = spec->argv; a && *a && r == 0; a++, m.argc++)
        r = buf_pack_str(strs, room, &off, *a);
    for (const char *const *e = spec->env; e && *e && r == 0; e++, m.envc++)
        r = buf_pack_str(strs, room, &off, *e);
    if (r == 0 && spec->cwd) {
        m.has_cwd = 1;
        r = buf_pack_str(strs, room, &off, spec->cwd);
    }
    if (r == 0 && spec->workspace) {
        m.has_workspace = 1;
        r = buf_pack_str(strs, room, &off, spec->workspace);
    }
    if (r < 0 || m.argc == 0 || m.argc > SB_MAX_ARGS || m.envc > SB_MAX_ENV)
        return -E2BIG;
    m.strings_len = (uint32_t)off;
    memcpy(data, &m, sizeof(m));
    *ret_len = sizeof(m) + off;
    return 0;
}

int sup_spawn(struct sup *s, const struct sb_spec *spec, struct sup_proc **ret, struct err *err)
{
    char *buf = malloc(MAX_SPAWN_MSG);
    size_t len = 0;
    int r, chan[2] = {-1, -1};
    if (!buf)
        return err_set(err, ENOMEM, "spawn request");
    if (sup_encode_spawn(spec, buf, MAX_SPAWN_MSG, &len) < 0) {
        free(buf);
        return err_set(err, E2BIG, "command, environment or paths too large (or empty)");
    }

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0) {
        free(buf);
        return err_set(err, errno, "socketpair");
    }
    r = fdpass_send(s->fd, buf, len, &chan[1], 1);
    free(buf);
    close(chan[1]);
    if (r < 0) {
        close(chan[0]);
        return err_set(err, -r, "send to supervisor");
    }
    struct msg_spawned rep;
    int fds[4];
    size_t nfds = 0;
    ssize_t n = fdpass_recv(chan[0], &rep, sizeof(rep), fds, 4, &nfds, 0);
    if (n != (ssize_t)sizeof(rep) || rep.type != MSG_SPAWNED) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        close(chan[0]);
        return err_set(err, n < 0 ? (int)-n : EPIPE, "no answer from the supervisor");
    }
    rep.msg[sizeof(rep.msg) - 1] = '\0';
    if (rep.err || rep.nfds != nfds || (nfds != 1 && nfds != 3)) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        close(chan[0]);
        int code = rep.err > 0 ? rep.err : EPROTO;
        if (err) { /* the message already names the errno */
            err->code = code;
            snprintf(err->msg, sizeof(err->msg), "%s", rep.msg[0] ? rep.msg : "spawn failed");
        }
        return -code;
    }
    struct sup_proc *p = calloc(1, sizeof(*p));
    if (!p) {
        for (size_t i = 0; i < nfds; i++)
            close(fds[i]);
        close(chan[0]);
        return err_set(err, ENOMEM, "sandbox handle");
    }
    p->id = rep.id;
    p->pid = rep.pid;
    p->warm = rep.warm != 0;
    p->chan = chan[0];
    if (nfds == 1) {
        p->io = (struct sb_stdio){-1, -1, -1, fds[0]};
    } else {
        p->io = (struct sb_stdio){fds[0], fds[1], fds[2], -1};
    }
    *ret = p;
    return 0;
}

int sup_kill(struct sup_proc *p, enum sb_limit why)
{
    struct msg_kill k = {.type = MSG_KILL, .why = (uint32_t)why};
    int r = fdpass_send(p->chan, &k, sizeof(k), NULL, 0);
    return r == -EPIPE || r == -ECONNRESET ? 0 : r; /* already over */
}

static int get_result(struct sup_proc *p, struct sb_result *ret, int flags)
{
    struct msg_result m;
    ssize_t n = fdpass_recv(p->chan, &m, sizeof(m), NULL, 0, NULL, flags);
    if (n == -EAGAIN)
        return -EAGAIN;
    if (n < 0)
        return (int)n;
    if (n == 0)
        return -EPIPE;
    if ((size_t)n != sizeof(m) || m.type != MSG_RESULT)
        return -EPROTO;
    *ret = m.result;
    return 0;
}

int sup_wait(struct sup_proc *p, struct sb_result *ret)
{
    return get_result(p, ret, 0);
}

int sup_result(struct sup_proc *p, struct sb_result *ret)
{
    return get_result(p, ret, MSG_DONTWAIT);
}

void sup_proc_free(struct sup_proc *p)
{
    if (!p)
        return;
    close(p->chan);
    free(p);
}

int sup_warm_stats(struct sup *s, struct warm_stats *ret)
{
    int chan[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0)
        return -errno;
    uint32_t type = MSG_STATS;
    int r = fdpass_send(s->fd, &type, sizeof(type), &chan[1], 1);
    close(chan[1]);
    if (r < 0) {
        close(chan[0]);
        return r;
    }
    struct msg_stats m;
    ssize_t n = fdpass_recv(chan[0], &m, sizeof(m), NULL, 0, NULL, 0);
    close(chan[0]);
    if (n != (ssize_t)sizeof(m) || m.type != MSG_STATS)
        return n < 0 ? (int)n : -EPROTO;
    *ret = m.warm;
    return 0;
}
