/* runs_exec: one admitted run, from its files to its recorded result; see runs.h.
 *
 * run_execute() materialises the files (runs_files.c), asks the supervisor for a sandbox
 * running the entry file's interpreter (warm when it can be), pumps its stdio (stdin from
 * the request and runs_stdin(), stdout and stderr into capped buffers and the event log),
 * maps the sandbox's result to the record's status, writes back and collects figures, and
 * records the result with its phase timings (run_finish_record: runs_wait() returns then)
 * before it unmounts the scratch file system. */
#include "base/buf.h"
#include "base/events.h"
#include "base/log.h"
#include "base/metrics.h"
#include "exec/runs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK     (64u << 10)
#define OUTPUT_SAVE_MS 1000 /* output reaches the store this often while a run runs */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Writes what it can of the pending stdin (the program's pipe is non-blocking); a pipe the
 * program closed drops what is pending and closes stdin for runs_stdin(). */
static void feed_stdin(struct runs *r, struct live *l, struct sb_stdio *io, short revents)
{
    if (revents & (POLLERR | POLLHUP)) {
        close(io->in);
        io->in = -1;
        return;
    }
    pthread_mutex_lock(&r->mu);
    ssize_t w = write(io->in, l->stdin_buf.data, l->stdin_buf.len);
    if (w > 0) {
        memmove(l->stdin_buf.data, l->stdin_buf.data + w, l->stdin_buf.len - (size_t)w);
        l->stdin_buf.len -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        l->stdin_buf.len = 0;
        l->stdin_closed = true;
    }
    pthread_mutex_unlock(&r->mu);
}

/* Reads one chunk of stdout or stderr into the run; closes *fd at its end. Returns false
 * when the stream passed its cap. */
static bool drain(struct runs *r, struct live *l, int *fd, bool is_err, char *chunk, bool *dirty)
{
    ssize_t got = read(*fd, chunk, READ_CHUNK);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (got <= 0) {
        close(*fd);
        *fd = -1;
        return true;
    }
    *dirty = true;
    return run_on_output(r, l, is_err, chunk, (size_t)got);
}

/* Pumps the program's stdio until stdout and stderr are closed. Returns the limit that
 * made us kill it (SB_LIMIT_OUTPUT), or SB_LIMIT_NONE. */
static enum sb_limit pump(struct runs *r, struct live *l, struct sb_stdio *io)
{
    enum sb_limit why = SB_LIMIT_NONE;
    char *chunk = malloc(READ_CHUNK);
    if (!chunk)
        return SB_LIMIT_NONE;
    set_nonblock(io->in);
    bool killed = false;
    bool dirty = false; /* output not yet saved to the store */
    int64_t saved_ms = mono_ms();
    while (io->out >= 0 || io->err >= 0) {
        struct pollfd p[4];
        int n = 0, iout = -1, ierr = -1, iin = -1;
        pthread_mutex_lock(&r->mu);
        bool want_in = io->in >= 0 && l->stdin_buf.len > 0;
        bool close_in = io->in >= 0 && l->stdin_closed && l->stdin_buf.len == 0;
        bool cancel = l->cancelled && !killed;
        pthread_mutex_unlock(&r->mu);
        if (close_in) {
            close(io->in);
            io->in = -1;
        }
        if (cancel) {
            sup_kill(l->proc, SB_LIMIT_NONE);
            killed = true;
        }
        p[n++] = (struct pollfd){.fd = l->wake, .events = POLLIN};
        if (io->out >= 0) {
            iout = n;
            p[n++] = (struct pollfd){.fd = io->out, .events = POLLIN};
        }
        if (io->err >= 0) {
            ierr = n;
            p[n++] = (struct pollfd){.fd = io->err, .events = POLLIN};
        }
        if (want_in) {
            iin = n;
            p[n++] = (struct pollfd){.fd = io->in, .events = POLLOUT};
        }
        int64_t since = mono_ms() - saved_ms;
        int timeout = !dirty ? -1 : since >= OUTPUT_SAVE_MS ? 0 : (int)(OUTPUT_SAVE_MS - since);
        if (poll(p, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (dirty && mono_ms() - saved_ms >= OUTPUT_SAVE_MS) {
            /* A crash of the server from here on keeps what the run printed so far. */
            (void)store_run_save_output(r->store, l->id, l->out.data.data, l->out.data.len,
                                        l->err.data.data, l->err.data.len, NULL);
            dirty = false;
            saved_ms = mono_ms();
        }
        if (p[0].revents) {
            uint64_t v;
            (void)!read(l->wake, &v, sizeof(v));
        }
        bool over = (iout >= 0 && p[iout].revents && !drain(r, l, &io->out, false, chunk, &dirty));
        over |= (ierr >= 0 && p[ierr].revents && !drain(r, l, &io->err, true, chunk, &dirty));
        if (over && !killed) {
            why = SB_LIMIT_OUTPUT;
            sup_kill(l->proc, SB_LIMIT_OUTPUT);
            killed = true;
        }
        if (iin >= 0 && p[iin].revents)
            feed_stdin(r, l, io, p[iin].revents);
    }
    if (io->in >= 0) {
        close(io->in);
        io->in = -1;
    }
    free(chunk);
    return why;
}

/* The run's end in the metrics: its status and limit, and how long each phase took. */
void run_observe_end(struct live *l, const struct store_run_result *res)
{
    int64_t now = metrics_now_us();
    const char *limit = res->limit_hit && *res->limit_hit ? res->limit_hit : "none";
    metrics_inc(METRIC_RUNS_FINISHED, (const char *[]){store_run_status_name(res->status), limit});
    metrics_observe_us(METRIC_RUN_DURATION, NULL, now - l->queued_us);
    int64_t admitted = l->admitted_us ? l->admitted_us : now;
    metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"queue"}, admitted - l->queued_us);
    if (l->admitted_us)
        metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"start"},
                           (l->spawned_us ? l->spawned_us : now) - l->admitted_us);
    if (l->spawned_us)
        metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"program"}, now - l->spawned_us);
}

static int64_t span_ms(int64_t from_us, int64_t to_us)
{
    return from_us && to_us ? (to_us - from_us + 500) / 1000 : -1;
}

/* Where the run's time went, from its marks; `now` ends the last phase reached. */
static struct store_run_timings timings_of(const struct live *l, int64_t now)
{
    struct store_run_timings t = {
        .queue_ms = span_ms(l->queued_us, l->admitted_us),
        .prepare_ms = span_ms(l->admitted_us, l->prepared_us),
        .start_ms = span_ms(l->prepared_us, l->spawned_us),
        .program_ms = span_ms(l->spawned_us, l->drained_us),
        .exit_ms = span_ms(l->drained_us, l->ended_us),
        .collect_ms = span_ms(l->ended_us, now),
    };
    return t;
}

/* The result is stored: a ?wait=1 caller may answer now, and the next run may start,
 * before the clean-up. */
void run_finish_record(struct runs *r, struct live *l, struct store_run_result *res)
{
    struct err e = {0};
    res->timings = timings_of(l, metrics_now_us());
    if (store_run_finish(r->store, l->id, res, &e) < 0 && e.code != EALREADY)
        log_event(LOG_ERROR, "run finish failed",
                  json_pack("{s:I,s:s}", "run_id", (json_int_t)l->id, "error", e.msg));
    pthread_mutex_lock(&r->mu);
    l->recorded = true;
    /* The sandbox is gone: its admission slot goes to the next run now, not after the
     * clean-up of the scratch file system (so the node's counts are right when a ?wait=1
     * caller sees the result). */
    if (l->admitted) {
        r->running--;
        l->admitted = false;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* The sandbox's result as the record's: status, exit code, limit and measures. */
static void result_of(const struct sb_result *sr, bool cancelled, struct store_run_result *res)
{
    res->exit_code = sr->signal ? -1 : sr->exit_code;
    res->signal = sr->signal;
    res->limit_hit = sb_limit_name(sr->limit_hit);
    res->wall_ms = (int64_t)sr->wall_ms;
    res->cpu_ms = (int64_t)sr->cpu_ms;
    res->peak_memory_bytes = (int64_t)sr->peak_memory_bytes;
    if (cancelled)
        res->status = STORE_RUN_CANCELLED;
    else if (sr->limit_hit != SB_LIMIT_NONE)
        res->status = STORE_RUN_LIMIT;
    else if (sr->signal || sr->exit_code)
        res->status = STORE_RUN_ERROR;
    else
        res->status = STORE_RUN_OK;
}

/* Starts the entry file's interpreter in a sandbox on the run's directory (host_dir) and
 * marks the run running. On failure res says why and *ret_proc stays NULL. */
static int spawn_program(struct runs *r, struct live *l, const char *interp, const char *host_dir,
                         struct sup_proc **ret_proc, struct store_run_result *res)
{
    const char *argv[SB_MAX_ARGS + 3];
    size_t argc = 0;
    argv[argc++] = interp;
    argv[argc++] = l->entry;
    for (size_t i = 0; l->args && l->args[i] && argc < SB_MAX_ARGS; i++)
        argv[argc++] = l->args[i];
    argv[argc] = NULL;
    static const char *const env[] = {
        "PYTHONPATH=" PYROOM_DIR,
        "MPLBACKEND=module://pyroom_backend",
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
        NULL,
    };
    l->prepared_us = metrics_now_us();
    struct sb_spec spec = {
        .argv = argv,
        .env = env,
        .workspace = host_dir,
        .limits = l->rq.limits,
        .warm = r->cfg.warm, /* the supervisor starts it cold when it cannot be warm */
    };
    struct sup_proc *proc = NULL;
    struct err e = {0};
    int rc = sup_spawn(r->sup, &spec, &proc, &e);
    if (rc < 0) {
        res->reason = "could not start the sandbox";
        log_event(LOG_ERROR, "run spawn failed",
                  json_pack("{s:I,s:s}", "run_id", (json_int_t)l->id, "error", e.msg));
        return rc;
    }
    if (store_run_set_running(r->store, l->id, proc->warm, NULL) < 0) {
        /* cancelled while it started: closing the channel kills it */
        int fds[] = {proc->io.in, proc->io.out, proc->io.err, proc->io.pty};
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        sup_proc_free(proc);
        res->status = STORE_RUN_CANCELLED;
        return -ECANCELED;
    }
    *ret_proc = proc;
    return 0;
}

/* Runs the program to its end: spawn, pump, the supervisor's result. 0 with res filled
 * from the sandbox's result, or -errno with res->reason (or a cancelled status) set. */
static int run_program(struct runs *r, struct live *l, const char *interp, const char *name,
                       struct store_run_result *res)
{
    char host_dir[4096];
    snprintf(host_dir, sizeof(host_dir), "%s/runs/%s", r->data_dir, name);
    struct sup_proc *proc = NULL;
    int rc = spawn_program(r, l, interp, host_dir, &proc, res);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    l->proc = proc;
    pthread_mutex_unlock(&r->mu);
    l->spawned_us = metrics_now_us();
    enum sb_limit why = pump(r, l, &proc->io);
    l->drained_us = metrics_now_us();
    struct sb_result sr;
    rc = sup_wait(proc, &sr);
    l->ended_us = metrics_now_us();
    pthread_mutex_lock(&r->mu);
    l->proc = NULL;
    bool cancelled = l->cancelled;
    pthread_mutex_unlock(&r->mu);
    sup_proc_free(proc);
    if (rc < 0) {
        res->reason = "lost track of the sandbox";
        return rc;
    }
    if (why != SB_LIMIT_NONE && sr.limit_hit == SB_LIMIT_NONE)
        sr.limit_hit = why;
    result_of(&sr, cancelled, res);
    return 0;
}

void run_execute(struct runs *r, struct live *l)
{
    struct err e = {0};
    struct store_run_result res = {.status = STORE_RUN_FAILED, .exit_code = -1};
    struct store_file_list *before = NULL;
    struct buf notes; /* what the write-back did not save, one line each */
    buf_init(&notes, 64u << 10);
    char name[32];
    snprintf(name, sizeof(name), "%lld", (long long)l->id);
    int dfd = -1;
    const char *interp = runs_interpreter(l->entry);
    if (!r->sup) {
        res.reason = "sandboxes are not available on this server";
        goto finish;
    }
    if (!interp) {
        res.reason = "no interpreter for this file type (use .py or .sh)";
        goto finish;
    }
    dfd = run_materialise(r, l, name, &before, &e);
    if (dfd < 0) {
        res.reason = e.code == ENOENT ? "the workspace is gone" : "could not prepare the files";
        log_event(LOG_ERROR, "run materialise failed",
                  json_pack("{s:I,s:s}", "run_id", (json_int_t)l->id, "error", e.msg));
        goto finish;
    }
    if (!run_find_file(before, l->entry)) {
        res.status = STORE_RUN_ERROR;
        res.exit_code = 2;
        static const char msg[] = "pyroom: the entry file does not exist\n";
        run_on_output(r, l, true, msg, sizeof(msg) - 1);
        goto finish;
    }
    if (run_program(r, l, interp, name, &res) < 0)
        goto finish;
    if (l->rq.workspace_id && !l->rq.no_write_back && res.status != STORE_RUN_CANCELLED)
        run_write_back(r, l, dfd, before, &notes);
    run_collect_artifacts(r, l, dfd);
finish:
    if (notes.len) {
        /* Live readers see it now; the record keeps it for GET and late readers. */
        pthread_mutex_lock(&r->mu);
        run_add_event(r, l, EVENT_RUN(notice), json_pack("{s:s}", "data", notes.data));
        pthread_mutex_unlock(&r->mu);
        res.notices = notes.data;
    }
    run_observe_end(l, &res);
    res.stdout_data = l->out.data.data;
    res.stdout_len = l->out.data.len;
    res.stdout_truncated = l->out.truncated;
    res.stderr_data = l->err.data.data;
    res.stderr_len = l->err.data.len;
    res.stderr_truncated = l->err.truncated;
    run_finish_record(r, l, &res);
    if (dfd >= 0)
        close(dfd);
    run_remove_dir(r, name);
    store_file_list_free(before);
    buf_done(&notes);
}
