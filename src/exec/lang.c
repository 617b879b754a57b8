/* lang: resident sandboxed language workers, one per workspace owner, driven by one loop
 * thread; see lang.h. (The callers' side is lang_calls.c, the check of the answers lang_answer.c.)
 */
#include "exec/lang.h"

#include "base/clock.h"
#include "base/embed.h"
#include "base/log.h"
#include "exec/lang_internal.h"
#include "exec/lang_sync.h"
#include "exec/supervisor.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The worker's program, src/exec/lang_worker.py (base/embed.h): it is given to the sandboxed
 * python3 with -c, so nothing has to be installed where a sandbox can see it. */
EMBED_TEXT(lang_worker_py, "src/exec/lang_worker.py");

/* epoll data: a worker's stdout is 2i, its stdin 2i + 1; the eventfd is WAKE. */
#define WAKE UINT64_MAX

/* Ends w's sandbox (closing the channel kills it) and forgets what it was given. The loop
 * only (or lang_free once the loop has ended). */
static void worker_stop(struct lang *l, struct worker *w)
{
    if (w->proc) {
        if (w->in >= 0) {
            (void)epoll_ctl(l->ep, EPOLL_CTL_DEL, w->in, NULL);
            close(w->in);
        }
        if (w->out >= 0) {
            (void)epoll_ctl(l->ep, EPOLL_CTL_DEL, w->out, NULL);
            close(w->out);
        }
        sup_proc_free(w->proc);
    }
    w->proc = NULL;
    w->in = w->out = -1;
    pthread_mutex_lock(&l->mu);
    w->fresh = false;
    w->live = false;
    pthread_mutex_unlock(&l->mu);
    free(w->wbuf);
    w->wbuf = NULL;
    w->wlen = w->woff = 0;
    w->rlen = 0;
    if (w->syncing)
        w->given_stale = true; /* a sync thread has it */
    else
        lang_given_clear(&w->given);
}

static int nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static int worker_start(struct lang *l, struct worker *w, struct err *err)
{
    const char *argv[] = {"python3",
                          "-I",
                          "-c",
                          lang_worker_py,
                          w->light ? "" : l->preload,
                          w->light ? "light" : "full",
                          NULL};
    /* One thread per numerical library: the pids limit counts them. */
    static const char *const env[] = {
        "PYTHONDONTWRITEBYTECODE=1", "OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1",
        "MKL_NUM_THREADS=1",         "NUMEXPR_MAX_THREADS=1",  NULL,
    };
    struct sb_spec spec = {.argv = argv, .env = env, .limits = l->cfg.limits};
    struct sup_proc *p = NULL;
    int r = sup_spawn(l->sup, &spec, &p, err);
    if (r < 0)
        return r;
    close(p->io.err); /* the worker sends its stderr to /dev/null itself */
    p->io.err = -1;
    size_t i = (size_t)(w - l->w);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 2 * i};
    r = nonblocking(p->io.in);
    if (r == 0)
        r = nonblocking(p->io.out);
    if (r == 0 && epoll_ctl(l->ep, EPOLL_CTL_ADD, p->io.out, &ev) < 0)
        r = -errno;
    if (r < 0) {
        r = err_set(err, -r, "worker pipes");
        close(p->io.in);
        close(p->io.out);
        sup_proc_free(p);
        return r;
    }
    __atomic_fetch_add(&l->started, 1, __ATOMIC_RELAXED);
    w->proc = p;
    w->in = p->io.in;
    w->out = p->io.out;
    pthread_mutex_lock(&l->mu);
    w->fresh = true;
    w->live = true;
    pthread_mutex_unlock(&l->mu);
    w->rlen = 0;
    lang_given_clear(&w->given);
    return 0;
}

/* true when w's sandbox has ended (a limit, its lifetime, a crash). */
static bool worker_ended(struct worker *w)
{
    struct sb_result res;
    int r = sup_result(w->proc, &res);
    return r != -EAGAIN;
}

/* ---- the loop ------------------------------------------------------------------------ */

void lang_wake(struct lang *l)
{
    uint64_t one = 1;
    (void)!write(l->wake, &one, sizeof(one));
}

void lang_call_free(struct call *c)
{
    if (!c)
        return;
    free(c->key);
    json_decref(c->rq);
    json_decref(c->reply);
    free(c);
}

/* Moves c to the finished list with outcome r (mu held). */
void lang_finished_add(struct lang *l, struct call *c, int r, json_t *reply, const char *msg)
{
    c->r = r;
    c->reply = reply;
    snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : "");
    c->next = NULL;
    if (l->ftail)
        l->ftail->next = c;
    else
        l->finished = c;
    l->ftail = c;
}

/* Calls the done functions of the finished calls (mu not held: they may do anything but
 * free lang). */
static void deliver(struct lang *l)
{
    pthread_mutex_lock(&l->mu);
    struct call *c = l->finished;
    l->finished = l->ftail = NULL;
    pthread_mutex_unlock(&l->mu);
    while (c) {
        struct call *next = c->next;
        json_t *reply = c->reply;
        c->reply = NULL;
        c->done(c->ctx, c->r, reply, c->msg);
        lang_call_free(c);
        c = next;
    }
}

/* Ends w's current call with outcome r. A worker that passed its time, died or said
 * nonsense is ended (what it was given, and its state, are unknown). */
static void finish(struct lang *l, struct worker *w, int r, json_t *reply, const char *msg)
{
    /* Counted per call: an idle worker whose sandbox ended (its lifetime) failed nobody. */
    if (w->cur && r == -ETIMEDOUT)
        __atomic_fetch_add(&l->timeouts, 1, __ATOMIC_RELAXED);
    else if (w->cur && r == -EPIPE)
        __atomic_fetch_add(&l->failures, 1, __ATOMIC_RELAXED);
    else if (w->cur && r == 0)
        __atomic_fetch_add(&l->requests, 1, __ATOMIC_RELAXED);
    else if (w->cur && r == -ECONNABORTED)
        __atomic_fetch_add(&l->abandoned, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&l->mu);
    struct call *c = w->cur;
    int64_t owner = w->owner;
    w->cur = NULL;
    w->last_ms = clock_mono_ms();
    if (c)
        lang_finished_add(l, c, r, reply, msg);
    pthread_mutex_unlock(&l->mu);
    if (!c)
        json_decref(reply);
    if (r == -ETIMEDOUT || r == -EPIPE)
        log_event(LOG_WARN, "language worker ended",
                  json_pack("{s:I,s:I,s:s}", "owner", (json_int_t)owner, "sandbox",
                            (json_int_t)(w->proc ? w->proc->id : 0), "reason", msg));
    /* An abandoned call's worker answered (or was told to stop): it is in a known state. */
    if (r < 0 && r != -ECONNABORTED) {
        worker_stop(l, w);
    } else {
        free(w->wbuf);
        w->wbuf = NULL;
    }
}

/* Writes what is left of w's request; waits for its stdin to take more (EPOLLOUT) if it is
 * full. */
static int flush_request(struct lang *l, struct worker *w)
{
    size_t i = (size_t)(w - l->w);
    while (w->woff < w->wlen) {
        ssize_t n = write(w->in, w->wbuf + w->woff, w->wlen - w->woff);
        if (n > 0) {
            w->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = 2 * i + 1};
            if (epoll_ctl(l->ep, EPOLL_CTL_ADD, w->in, &ev) < 0 &&
                (errno != EEXIST || epoll_ctl(l->ep, EPOLL_CTL_MOD, w->in, &ev) < 0))
                return -errno;
            return 0;
        }
        return -EPIPE;
    }
    (void)epoll_ctl(l->ep, EPOLL_CTL_DEL, w->in, NULL);
    return 0;
}

/* Reads what w's stdout has; finishes its call on a whole answer line. */
static void on_answer(struct lang *l, struct worker *w)
{
    char msg[160];
    for (;;) {
        if (w->rcap - w->rlen < 65536) {
            size_t cap = w->rcap ? 2 * w->rcap : 131072;
            char *nb = cap > LANG_MAX_REPLY + 65536 ? NULL : realloc(w->rbuf, cap);
            if (!nb) {
                finish(l, w, -EPIPE, NULL, "the language worker failed (answer too long)");
                return;
            }
            w->rbuf = nb;
            w->rcap = cap;
        }
        ssize_t n = read(w->out, w->rbuf + w->rlen, w->rcap - w->rlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0 || !w->cur) {
            /* It died (or ended: its lifetime), or spoke out of turn. */
            snprintf(msg, sizeof(msg), "the language worker failed (%s)",
                     n < 0    ? strerror(errno)
                     : n == 0 ? "it ended"
                              : "it spoke out of turn");
            finish(l, w, -EPIPE, NULL, msg);
            return;
        }
        char *nl = memchr(w->rbuf + w->rlen, '\n', (size_t)n);
        w->rlen += (size_t)n;
        if (!nl) {
            if (w->rlen > LANG_MAX_REPLY) {
                finish(l, w, -EPIPE, NULL, "the language worker failed (answer too long)");
                return;
            }
            continue;
        }
        /* One request, one line: anything after it is not an answer of ours. */
        size_t len = (size_t)(nl - w->rbuf);
        bool extra = len + 1 != w->rlen;
        w->rlen = 0;
        json_error_t je;
        json_t *reply = extra ? NULL : json_loadb(w->rbuf, len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(reply) || !json_is_integer(json_object_get(reply, "id")) ||
            json_integer_value(json_object_get(reply, "id")) != w->cur_id) {
            json_decref(reply);
            finish(l, w, -EPIPE, NULL, "the language worker answered nonsense");
            return;
        }
        json_object_del(reply, "id");
        /* Still warming up in idle time: the next call gets the start-up time too. */
        pthread_mutex_lock(&l->mu);
        w->fresh = json_is_true(json_object_get(reply, "warming"));
        pthread_mutex_unlock(&l->mu);
        json_object_del(reply, "warming");
        pthread_mutex_lock(&l->mu);
        bool abandoned = w->cur->abandoned;
        pthread_mutex_unlock(&l->mu);
        if (abandoned) {
            json_decref(reply);
            finish(l, w, -ECONNABORTED, NULL, "the client left");
        } else {
            finish(l, w, 0, reply, NULL);
        }
        return;
    }
}

/* Writes w's current call's request (its files, if any, added already). */
static void send_request(struct lang *l, struct worker *w)
{
    json_t *rq = w->cur->rq;
    w->cur_id = ++w->next_id;
    json_object_set_new(rq, "id", json_integer(w->cur_id));
    /* The worker stops a slow analysis itself a little before we would kill it, so that
     * one pathological request does not cost the warm interpreter. */
    json_object_set_new(rq, "deadline_ms", json_integer((json_int_t)(w->timeout * 4 / 5)));
    char *text = json_dumps(rq, JSON_COMPACT | JSON_ENSURE_ASCII);
    size_t len = text ? strlen(text) : 0;
    free(w->wbuf);
    w->wbuf = text ? realloc(text, len + 1) : NULL;
    if (!w->wbuf) {
        free(text);
        finish(l, w, -ENOMEM, NULL, "out of memory");
        return;
    }
    w->wbuf[len] = '\n';
    w->wlen = len + 1;
    w->woff = 0;
    w->rlen = 0;
    if (flush_request(l, w) < 0)
        finish(l, w, -EPIPE, NULL, "the language worker failed (it does not read)");
}

/* Gives w its next waiting call, if it has one and no current one: (re)starts the worker,
 * has a sync thread bring its copy of the workspace up to date (a full worker), or writes
 * the request at once (a light one: diagnostics read no files). */
static void dispatch(struct lang *l, struct worker *w)
{
    if (w->syncing)
        return; /* its current call is being synced, or just ended while it was */
    pthread_mutex_lock(&l->mu);
    struct call *c = w->cur ? NULL : w->queue;
    bool evict = w->evict;
    int64_t owner = w->owner;
    if (c) {
        w->queue = c->next;
        if (!w->queue)
            w->qtail = NULL;
        w->nqueue--;
        l->queued--;
        c->next = NULL;
        w->cur = c;
        w->evict = false;
    }
    pthread_mutex_unlock(&l->mu);
    if (!c)
        return;
    struct err err = {0};
    if (evict || (w->proc && worker_ended(w)))
        worker_stop(l, w);
    if (!w->proc && worker_start(l, w, &err) < 0) {
        log_event(LOG_ERROR, "language worker did not start",
                  json_pack("{s:I,s:s}", "owner", (json_int_t)owner, "error", err.msg));
        finish(l, w, -EIO, NULL, "the language worker did not start");
        return;
    }
    pthread_mutex_lock(&l->mu);
    w->timeout = w->fresh ? l->cfg.start_ms : l->cfg.timeout_ms;
    pthread_mutex_unlock(&l->mu);
    w->deadline = clock_mono_ms() + w->timeout;
    w->cancel_sent = false;
    json_object_set_new(c->rq, "ws", json_integer((json_int_t)c->ws));
    if (w->light) {
        send_request(l, w);
        return;
    }
    struct sync_job *j = calloc(1, sizeof(*j));
    if (!j) {
        finish(l, w, -ENOMEM, NULL, "out of memory");
        return;
    }
    *j = (struct sync_job){.w = w, .c = c, .rq = json_incref(c->rq), .ws = c->ws};
    w->syncing = true;
    pthread_mutex_lock(&l->mu);
    if (l->sjobs_tail)
        l->sjobs_tail->next = j;
    else
        l->sjobs = j;
    l->sjobs_tail = j;
    pthread_cond_signal(&l->sync_cv);
    pthread_mutex_unlock(&l->mu);
}

/* A sync thread: takes the queued jobs one by one, reads the store, hands them back to the
 * loop (lang.sdone and a wake). */
static void *sync_main(void *arg)
{
    struct lang *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->sjobs && !l->stopping)
            pthread_cond_wait(&l->sync_cv, &l->mu);
        if (l->stopping)
            break;
        struct sync_job *j = l->sjobs;
        l->sjobs = j->next;
        if (!l->sjobs)
            l->sjobs_tail = NULL;
        pthread_mutex_unlock(&l->mu);
        struct err err = {0};
        j->r = lang_given_sync(&j->w->given, l->store, j->ws, l->cfg.sync_bytes,
                               l->cfg.max_file_bytes, j->rq, &err);
        snprintf(j->msg, sizeof(j->msg), "%.199s", err.msg);
        pthread_mutex_lock(&l->mu);
        j->next = l->sdone;
        l->sdone = j;
        pthread_mutex_unlock(&l->mu);
        lang_wake(l);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* The loop takes back the synced jobs: their worker's request is written, unless its call
 * ended meanwhile (its time passed: the worker was ended; what it was given is cleared). */
static void synced(struct lang *l)
{
    pthread_mutex_lock(&l->mu);
    struct sync_job *j = l->sdone;
    l->sdone = NULL;
    pthread_mutex_unlock(&l->mu);
    while (j) {
        struct sync_job *next = j->next;
        struct worker *w = j->w;
        w->syncing = false;
        if (w->given_stale) {
            lang_given_clear(&w->given);
            w->given_stale = false;
        }
        if (w->cur != j->c || !w->proc) {
            /* Its call passed its time while the store was read, which ended the worker
             * (the files synced were never written to it). */
            if (w->proc)
                worker_stop(l, w);
        } else if (j->r < 0) {
            finish(l, w, j->r, NULL, j->msg); /* what it was given is unknown now: ended */
        } else {
            send_request(l, w);
        }
        json_decref(j->rq);
        free(j);
        j = next;
    }
}

/* Tells w to stop its current analysis, whose client left: a line {"cancel": id} after its
 * request (the worker looks for it while it analyses, and answers at once); it gets
 * cancel_ms more to do so. */
static void send_cancel(struct lang *l, struct worker *w, uint64_t now)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "{\"cancel\":%lld}\n", (long long)w->cur_id);
    char *nb = w->wbuf ? realloc(w->wbuf, w->wlen + (size_t)n) : NULL;
    w->cancel_sent = true;
    if (now + l->cfg.cancel_ms < w->deadline)
        w->deadline = now + l->cfg.cancel_ms;
    if (!nb)
        return; /* (the deadline ends it) */
    memcpy(nb + w->wlen, line, (size_t)n);
    w->wbuf = nb;
    w->wlen += (size_t)n;
    if (flush_request(l, w) < 0)
        w->deadline = now; /* it does not read: ended below */
}

/* Refuses calls that waited too long, ends idle workers and workers past their time, gives
 * free workers their next call; returns the time until the next deadline, ms. */
static int housekeep(struct lang *l)
{
    synced(l);
    uint64_t now = clock_mono_ms();
    uint64_t next = now + 5000;
    for (unsigned i = 0; i < l->nslots; i++) {
        struct worker *w = &l->w[i];
        char msg[160];
        pthread_mutex_lock(&l->mu);
        bool abandoned = w->cur && w->cur->abandoned;
        pthread_mutex_unlock(&l->mu);
        if (abandoned && w->proc && !w->cancel_sent && !w->syncing)
            send_cancel(l, w, now);
        if (w->cur && w->proc && now >= w->deadline && abandoned) {
            /* Told to stop, it did not: ended (its owner's next call starts another). */
            finish(l, w, -ECONNABORTED, NULL, "the client left");
            worker_stop(l, w);
        } else if (w->cur && w->proc && now >= w->deadline) {
            snprintf(msg, sizeof(msg), "the language worker took more than %llu ms",
                     (unsigned long long)w->timeout);
            finish(l, w, -ETIMEDOUT, NULL, msg);
        }
        pthread_mutex_lock(&l->mu);
        /* Waited past its time: its worker is busy with earlier calls. */
        struct call **pp = &w->queue, *c;
        w->qtail = NULL;
        while ((c = *pp)) {
            if (now >= c->wait_until) {
                *pp = c->next;
                w->nqueue--;
                l->queued--;
                lang_finished_add(l, c, -EAGAIN, NULL, "your language worker is busy");
                continue;
            }
            if (c->wait_until < next)
                next = c->wait_until;
            w->qtail = c;
            pp = &c->next;
        }
        /* (last_ms may be later than now: a call ended during this pass) */
        bool idle = w->owner && !w->cur && !w->queue && w->last_ms + l->cfg.idle_ms <= now;
        if (idle)
            w->owner = 0;
        bool stop = (idle || w->evict) && !w->cur && !w->queue;
        if (stop)
            w->evict = false;
        if (w->owner && !w->cur && !w->queue && w->last_ms + l->cfg.idle_ms < next)
            next = w->last_ms + l->cfg.idle_ms;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            worker_stop(l, w);
        dispatch(l, w);
        if (w->cur && w->deadline < next)
            next = w->deadline;
    }
    now = clock_mono_ms();
    return next <= now ? 0 : (int)(next - now);
}

static void *loop_main(void *arg)
{
    struct lang *l = arg;
    struct epoll_event evs[16];
    int timeout = 0;
    for (;;) {
        int n = epoll_wait(l->ep, evs, 16, timeout);
        pthread_mutex_lock(&l->mu);
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->mu);
        if (stopping)
            break;
        for (int k = 0; k < n; k++) {
            uint64_t d = evs[k].data.u64;
            if (d == WAKE) {
                uint64_t v;
                (void)!read(l->wake, &v, sizeof(v));
                continue;
            }
            struct worker *w = &l->w[d / 2];
            if (!w->proc)
                continue; /* ended earlier in this batch */
            if (d % 2 == 0) {
                on_answer(l, w);
            } else if (w->cur && flush_request(l, w) < 0) {
                finish(l, w, -EPIPE, NULL, "the language worker failed (it does not read)");
            }
        }
        timeout = housekeep(l);
        deliver(l);
    }
    return NULL;
}

int lang_new(const struct lang_config *cfg, struct store *store, struct sup *sup, struct lang **ret,
             struct err *err)
{
    struct lang *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, ENOMEM, "lang");
    l->cfg = *cfg;
    if (l->cfg.max_workers == 0)
        l->cfg.max_workers = 1;
    if (l->cfg.queue == 0)
        l->cfg.queue = 1;
    snprintf(l->preload, sizeof(l->preload), "%s", cfg->preload ? cfg->preload : "");
    l->cfg.preload = l->preload;
    l->store = store;
    l->sup = sup;
    l->ep = l->wake = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->sync_cv, NULL);
    l->nslots = 2 * l->cfg.max_workers;
    l->w = calloc(l->nslots, sizeof(*l->w));
    if (!l->w) {
        lang_free(l);
        return err_set(err, ENOMEM, "lang");
    }
    for (unsigned i = 0; i < l->nslots; i++) {
        l->w[i].in = l->w[i].out = -1;
        l->w[i].light = i >= l->cfg.max_workers;
    }
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE};
    if (l->ep < 0 || l->wake < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &ev) < 0) {
        int e = errno;
        lang_free(l);
        return err_set(err, e, "lang loop");
    }
    if (pthread_create(&l->loop, NULL, loop_main, l) != 0) {
        lang_free(l);
        return err_set(err, EAGAIN, "lang loop thread");
    }
    l->loop_started = true;
    /* One sync thread per full worker, at most LANG_SYNC_THREADS: a slow store query holds
     * up the syncs of the workers behind it, never the loop. */
    unsigned n = l->cfg.max_workers < LANG_SYNC_THREADS ? l->cfg.max_workers : LANG_SYNC_THREADS;
    l->syncers = calloc(n, sizeof(*l->syncers));
    for (unsigned i = 0; l->syncers && i < n; i++)
        if (pthread_create(&l->syncers[i], NULL, sync_main, l) == 0)
            l->nsyncers++;
    if (!l->nsyncers) {
        lang_free(l);
        return err_set(err, EAGAIN, "lang sync threads");
    }
    *ret = l;
    return 0;
}

void lang_free(struct lang *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->sync_cv);
    pthread_mutex_unlock(&l->mu);
    if (l->loop_started) {
        lang_wake(l);
        pthread_join(l->loop, NULL);
    }
    for (unsigned i = 0; i < l->nsyncers; i++)
        pthread_join(l->syncers[i], NULL);
    free(l->syncers);
    /* The sync jobs left: their workers get their `given` back (ended below). */
    struct sync_job *lists[2] = {l->sjobs, l->sdone};
    l->sjobs = l->sjobs_tail = l->sdone = NULL;
    for (unsigned k = 0; k < 2; k++) {
        for (struct sync_job *j = lists[k], *next; j; j = next) {
            next = j->next;
            j->w->syncing = false;
            json_decref(j->rq);
            free(j);
        }
    }
    /* The loop is gone: every call still here is finished now. */
    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; l->w && i < l->nslots; i++) {
        struct worker *w = &l->w[i];
        if (w->cur)
            lang_finished_add(l, w->cur, -ESHUTDOWN, NULL, "the server is stopping");
        w->cur = NULL;
        for (struct call *c = w->queue, *next; c; c = next) {
            next = c->next;
            lang_finished_add(l, c, -ESHUTDOWN, NULL, "the server is stopping");
        }
        w->queue = w->qtail = NULL;
        w->nqueue = 0;
    }
    l->queued = 0;
    pthread_mutex_unlock(&l->mu);
    deliver(l);
    for (unsigned i = 0; l->w && i < l->nslots; i++) {
        worker_stop(l, &l->w[i]);
        free(l->w[i].given.items);
        free(l->w[i].rbuf);
    }
    if (l->wake >= 0)
        close(l->wake);
    if (l->ep >= 0)
        close(l->ep);
    pthread_cond_destroy(&l->sync_cv);
    pthread_mutex_destroy(&l->mu);
    free(l->w);
    free(l);
}
