/* runs: the registry of live runs, admission, and the worker's life; see runs.h and
 * runs_internal.h for the module's other files. */
#include "exec/runs.h"

#include "base/buf.h"
#include "base/metrics.h"
#include "exec/runs_internal.h"
#include "workspace/fsdir.h"
#include "workspace/path.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STDIN_PENDING_MAX (1u << 20) /* bytes of stdin waiting to be written */

static const struct {
    const char *ext;
    const char *argv0;
} interpreters[] = {
    {".py", "python3"},
    {".sh", "bash"},
};

const char *runs_interpreter(const char *entry)
{
    const char *dot = strrchr(path_basename(entry), '.');
    for (size_t i = 0; dot && i < sizeof(interpreters) / sizeof(interpreters[0]); i++)
        if (strcmp(dot, interpreters[i].ext) == 0)
            return interpreters[i].argv0;
    return NULL;
}

/* Frees a live run that no one refers to. Accepts NULL. */
static void live_free(struct live *l)
{
    if (!l)
        return;
    free(l->entry);
    for (size_t i = 0; l->args && l->args[i]; i++)
        free(l->args[i]);
    free(l->args);
    free(l->args_json);
    free((void *)l->rq.stdin_data);
    buf_done(&l->stdin_buf);
    buf_done(&l->events);
    buf_done(&l->out.data);
    buf_done(&l->err.data);
    if (l->wake >= 0)
        close(l->wake);
    free(l);
}

void run_unref(struct runs *r, struct live *l)
{
    (void)r;
    if (--l->refs == 0)
        live_free(l);
}

/* Takes l out of the registry. Called with r->mu held. */
static void unlink_live(struct runs *r, struct live *l)
{
    for (struct live **p = &r->live; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            return;
        }
}

struct live *run_find(struct runs *r, int64_t id)
{
    for (struct live *l = r->live; l; l = l->next)
        if (l->id == id)
            return l;
    return NULL;
}

static unsigned user_running(struct runs *r, int64_t user)
{
    unsigned n = 0;
    for (struct live *l = r->live; l; l = l->next)
        n += l->admitted && l->user_id == user;
    return n;
}

/* The user's runs waiting for admission, and those being recorded right now. */
static unsigned user_queued(struct runs *r, int64_t user)
{
    unsigned n = 0;
    for (struct live *l = r->live; l; l = l->next)
        n += l->waiting && l->user_id == user;
    for (struct reservation *v = r->reserved; v; v = v->next)
        n += v->user == user;
    return n;
}

static void unreserve(struct runs *r, struct reservation *me)
{
    for (struct reservation **p = &r->reserved; *p; p = &(*p)->next)
        if (*p == me) {
            *p = me->next;
            return;
        }
}

/* When the user was last admitted (0: never, or not lately). */
static uint64_t user_served(struct runs *r, int64_t user)
{
    for (size_t i = 0; i < RR_USERS; i++)
        if (r->served[i].user == user)
            return r->served[i].at;
    return 0;
}

static void note_served(struct runs *r, int64_t user)
{
    size_t slot = 0;
    for (size_t i = 0; i < RR_USERS; i++) {
        if (r->served[i].user == user) {
            slot = i;
            break;
        }
        if (r->served[i].at < r->served[slot].at)
            slot = i; /* the least recently served makes room */
    }
    r->served[slot].user = user;
    r->served[slot].at = ++r->admissions;
}

/* Fair admission: when a slot is free, the next run is the oldest waiting run of the user
 * served least recently among those under their own concurrency cap (round-robin between
 * users, FIFO within one). Called with r->mu held. */
static struct live *next_to_admit(struct runs *r)
{
    if (r->running >= r->cfg.max_running)
        return NULL;
    struct live *best = NULL;
    uint64_t best_served = 0;
    for (struct live *l = r->live; l; l = l->next) {
        if (!l->waiting || l->cancelled || user_running(r, l->user_id) >= r->cfg.max_per_user)
            continue;
        uint64_t served = user_served(r, l->user_id);
        if (!best || served < best_served || (served == best_served && l->seq < best->seq)) {
            best = l;
            best_served = served;
        }
    }
    return best;
}

static void *worker(void *arg)
{
    struct live *l = arg;
    struct runs *r = l->owner;
    pthread_mutex_lock(&r->mu);
    while (!r->closing && !l->cancelled && next_to_admit(r) != l)
        pthread_cond_wait(&r->cv, &r->mu);
    r->queued--;
    l->waiting = false;
    bool go = !r->closing && !l->cancelled;
    if (go) {
        l->admitted = true;
        r->running++;
        note_served(r, l->user_id);
    }
    /* Another waiting run may be next now (a slot may still be free). */
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (go) {
        l->admitted_us = metrics_now_us();
        run_execute(r, l);
    } else {
        struct store_run_result res = {.status = STORE_RUN_CANCELLED,
                                       .exit_code = -1,
                                       .reason = "cancelled before it started"};
        run_observe_end(l, &res);
        run_finish_record(r, l, &res);
    }
    pthread_mutex_lock(&r->mu);
    if (l->admitted)
        r->running--;
    l->admitted = false;
    l->done = true;
    unlink_live(r, l);
    r->threads--;
    pthread_cond_broadcast(&r->cv);
    run_notify_streams(l);
    struct run_waiter *w = l->waiters;
    l->waiters = NULL;
    run_unref(r, l);
    pthread_mutex_unlock(&r->mu);
    while (w) {
        struct run_waiter *next = w->next;
        w->fn(w->ctx);
        free(w);
        w = next;
    }
    return NULL;
}

/* A live run for rq, not registered yet: its own copies of the request's strings, its
 * buffers (stdin already holding the request's stdin) and wake-up eventfd. */
static int live_new(struct runs *r, const struct run_request *rq, struct live **ret)
{
    struct live *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    int rc = -ENOMEM;
    l->queued_us = metrics_now_us();
    l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    l->rq = *rq;
    l->rq.stdin_data = NULL;
    l->user_id = rq->user_id;
    l->entry = strdup(rq->entry);
    l->args_json = strdup(rq->args_json ? rq->args_json : "[]");
    size_t nargs = 0;
    while (rq->args && rq->args[nargs])
        nargs++;
    l->args = calloc(nargs + 1, sizeof(char *));
    if (l->wake < 0 || !l->entry || !l->args_json || !l->args)
        goto fail;
    for (size_t i = 0; i < nargs; i++)
        if (!(l->args[i] = strdup(rq->args[i])))
            goto fail;
    buf_init(&l->stdin_buf, STDIN_PENDING_MAX);
    buf_init(&l->events, r->cfg.output_bytes * 16 + (1u << 20));
    size_t cap = r->cfg.output_bytes;
    if (rq->limits.output_bytes && rq->limits.output_bytes < cap)
        cap = (size_t)rq->limits.output_bytes;
    buf_init(&l->out.data, cap);
    buf_init(&l->err.data, cap);
    if (rq->stdin_len && buf_append(&l->stdin_buf, rq->stdin_data, rq->stdin_len) < 0) {
        rc = -E2BIG;
        goto fail;
    }
    l->stdin_closed = !rq->interactive;
    l->owner = r;
    *ret = l;
    return 0;
fail:
    live_free(l);
    return rc;
}

/* Makes l live (findable by runs_wait, runs_cancel, streams) and starts its worker, which
 * takes over the run's queue place from the reservation. On failure l is not live and
 * its record says why. */
static int start_worker(struct runs *r, struct live *l, struct reservation *me)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    l->refs = 1; /* the worker's */
    pthread_mutex_lock(&r->mu);
    r->threads++;
    unreserve(r, me);
    l->waiting = true;
    l->seq = ++r->next_seq;
    l->next = r->live;
    r->live = l;
    pthread_mutex_unlock(&r->mu);
    int rc = pthread_create(&t, &attr, worker, l);
    pthread_attr_destroy(&attr);
    if (!rc)
        return 0;
    pthread_mutex_lock(&r->mu);
    r->threads--;
    unlink_live(r, l);
    pthread_mutex_unlock(&r->mu);
    struct store_run_result res = {
        .status = STORE_RUN_FAILED, .exit_code = -1, .reason = "could not start a worker"};
    (void)store_run_finish(r->store, l->id, &res, NULL);
    return -rc;
}

int runs_start(struct runs *r, const struct run_request *rq, int64_t *ret_id, struct err *err)
{
    pthread_mutex_lock(&r->mu);
    /* Capacity is the running slots plus the queue, counted as one: a run counts as
     * queued from here until its worker is admitted, whatever the threads' timing. */
    bool full = r->closing || r->running + r->queued >= r->cfg.max_running + r->cfg.max_queued;
    /* One user may not take the queue from the others: beyond the runs they may run at
     * once, at most max_queued_per_user more may wait (counted whatever the workers'
     * timing: admitted or not yet). */
    if (!full && r->cfg.max_queued_per_user &&
        user_running(r, rq->user_id) + user_queued(r, rq->user_id) >=
            r->cfg.max_per_user + r->cfg.max_queued_per_user)
        full = true;
    /* Reserve the place before the slow part (this request counts as one of the user's
     * waiting runs until its run is live). */
    struct reservation me = {.user = rq->user_id, .next = r->reserved};
    if (!full) {
        r->queued++;
        r->reserved = &me;
    }
    pthread_mutex_unlock(&r->mu);
    if (full)
        return -EAGAIN;
    struct live *l = NULL;
    struct store_run *sr = NULL;
    int rc = live_new(r, rq, &l);
    if (rc < 0)
        goto fail;
    struct store_run_new nr = {
        .workspace_id = rq->workspace_id,
        .submission_id = rq->submission_id,
        .user_id = rq->user_id,
        .node = r->node,
        .entry = rq->entry,
        .args_json = l->args_json,
    };
    if ((rc = store_run_create(r->store, &nr, &sr, err)) < 0)
        goto fail;
    l->id = sr->id;
    store_run_free(sr);
    if ((rc = start_worker(r, l, &me)) < 0)
        goto fail;
    metrics_inc(METRIC_RUNS_STARTED, NULL);
    *ret_id = l->id;
    return 0;
fail:
    pthread_mutex_lock(&r->mu);
    r->queued--;
    unreserve(r, &me);
    pthread_mutex_unlock(&r->mu);
    live_free(l);
    return rc;
}

static void wake(struct live *l)
{
    uint64_t one = 1;
    (void)!write(l->wake, &one, sizeof(one));
}

int runs_stdin(struct runs *r, int64_t id, const void *data, size_t len)
{
    pthread_mutex_lock(&r->mu);
    struct live *l = run_find(r, id);
    int rc = 0;
    if (!l)
        rc = -ENOENT;
    else if (l->stdin_closed)
        rc = -EPIPE;
    else if (len == 0)
        l->stdin_closed = true;
    else if (buf_append(&l->stdin_buf, data, len) < 0)
        rc = -ENOBUFS;
    if (l && rc == 0)
        wake(l);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int runs_cancel(struct runs *r, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    struct live *l = run_find(r, id);
    if (l) {
        l->cancelled = true;
        /* Kill now rather than when the worker wakes up: one hop less between the cancel
         * and the sandbox's death (sup_kill may race with the worker's sup_wait; l->proc
         * is cleared under r->mu before it is freed). */
        if (l->proc)
            (void)sup_kill(l->proc, SB_LIMIT_NONE);
        wake(l);
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return l ? 0 : -ENOENT;
}

void run_deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int runs_wait(struct runs *r, int64_t id, int timeout_ms)
{
    struct timespec ts;
    run_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    struct live *l;
    while ((l = run_find(r, id)) && !l->recorded) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT) {
            l = run_find(r, id);
            rc = l && !l->recorded ? -ETIMEDOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int runs_on_end(struct runs *r, int64_t id, void (*fn)(void *ctx), void *ctx)
{
    struct run_waiter *w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    pthread_mutex_lock(&r->mu);
    struct live *l = run_find(r, id);
    if (l) {
        *w = (struct run_waiter){.fn = fn, .ctx = ctx, .next = l->waiters};
        l->waiters = w;
    }
    pthread_mutex_unlock(&r->mu);
    if (!l)
        free(w);
    return l ? 0 : -ENOENT;
}

void runs_stats(struct runs *r, unsigned *ret_running, unsigned *ret_queued)
{
    pthread_mutex_lock(&r->mu);
    *ret_running = r->running;
    *ret_queued = r->queued;
    pthread_mutex_unlock(&r->mu);
}

int runs_new(const struct runs_config *cfg, struct store *store, struct sup *sup, struct runs **ret,
             struct err *err)
{
    struct runs *r = calloc(1, sizeof(*r));
    if (!r)
        return err_set(err, ENOMEM, "allocate runs");
    r->cfg = *cfg;
    r->store = store;
    r->sup = sup;
    r->runs_dirfd = -1;
    r->data_dir = strdup(cfg->data_dir);
    r->node = strdup(cfg->node ? cfg->node : "");
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/runs", cfg->data_dir);
    (void)mkdir(cfg->data_dir, 0755);
    (void)mkdir(dir, 0700);
    r->runs_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->runs_dirfd < 0) {
        int e = errno;
        runs_free(r);
        return err_set(err, e, "open '%s'", dir);
    }
    /* Scratch directories left by a crash are removed now. */
    int parent = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent >= 0) {
        sb_wsfs_sweep(r->runs_dirfd); /* a crashed server's file systems */
        (void)fsdir_remove_tree(parent, "runs");
        close(parent);
        close(r->runs_dirfd);
        (void)mkdir(dir, 0700);
        r->runs_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    *ret = r;
    return 0;
}

void runs_stop(struct runs *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->closing = true;
    for (struct live *l = r->live; l; l = l->next) {
        l->cancelled = true;
        wake(l);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void runs_free(struct runs *r)
{
    if (!r)
        return;
    runs_stop(r);
    pthread_mutex_lock(&r->mu);
    while (r->threads)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (r->runs_dirfd >= 0)
        close(r->runs_dirfd);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->data_dir);
    free(r->node);
    free(r);
}
