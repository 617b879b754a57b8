/* http workers: the pool of threads that run handlers which may block, and deferred
 * requests (http_req_defer, http_req_continue); see server.h. */
#include "http/server_internal.h"

#include <poll.h>
#include <stdlib.h>

void *srv_worker_main(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        while (!srv->jobs && !srv->stopping)
            pthread_cond_wait(&srv->job_cv, &srv->mu);
        if (!srv->jobs)
            break;
        struct job *j = srv->jobs;
        srv->jobs = j->next;
        if (!srv->jobs)
            srv->jobs_tail = NULL;
        srv->njobs--;
        srv->busy++;
        pthread_mutex_unlock(&srv->mu);
        struct req_state *st = j->st;
        pthread_mutex_lock(&st->mu);
        bool dead = st->terminated;
        unsigned defers = st->defers;
        pthread_mutex_unlock(&st->mu);
        /* A request whose client has gone is still run when it was deferred: the handler's
         * context is its to release. */
        if (!dead || j->fn != srv->handler)
            j->fn(&st->req, j->ctx);
        pthread_mutex_lock(&st->mu);
        bool deferred = st->defers != defers;
        pthread_mutex_unlock(&st->mu);
        if (!deferred) {
            srv_settle(st);
            pthread_mutex_lock(&st->mu);
            if (st->suspended && !st->terminated) {
                st->suspended = false;
                MHD_resume_connection(st->req.conn);
            }
            pthread_mutex_unlock(&st->mu);
        }
        free(j);
        srv_req_unref(st); /* the job's */
        pthread_mutex_lock(&srv->mu);
        srv->busy--;
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* Queues a job; false when the queue is full or the server stops. Takes a reference on st
 * when it succeeds. */
bool srv_submit(struct http_server *srv, struct req_state *st, http_handler_fn fn, void *ctx,
                bool bounded)
{
    struct job *j = malloc(sizeof(*j));
    if (!j)
        return false;
    *j = (struct job){.st = st, .fn = fn, .ctx = ctx};
    pthread_mutex_lock(&st->mu);
    st->refs++;
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&srv->mu);
    bool ok = !srv->stopping && (!bounded || srv->njobs < srv->cfg.queue);
    if (ok) {
        if (srv->jobs_tail)
            srv->jobs_tail->next = j;
        else
            srv->jobs = j;
        srv->jobs_tail = j;
        srv->njobs++;
        pthread_cond_signal(&srv->job_cv);
    }
    pthread_mutex_unlock(&srv->mu);
    if (!ok) {
        free(j);
        pthread_mutex_lock(&st->mu);
        st->refs--;
        pthread_mutex_unlock(&st->mu);
    }
    return ok;
}

void http_req_defer(struct http_req *req)
{
    struct req_state *st = (struct req_state *)req;
    pthread_mutex_lock(&st->mu);
    st->defers++;
    st->refs++; /* the deferral's, dropped by http_req_continue */
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_lock(&st->srv->mu);
    st->srv->refs++;
    pthread_mutex_unlock(&st->srv->mu);
}

void http_req_on_gone(struct http_req *req, void (*fn)(void *ctx), void *ctx)
{
    struct req_state *st = (struct req_state *)req;
    pthread_mutex_lock(&st->mu);
    st->gone_fn = fn;
    st->gone_ctx = ctx;
    pthread_mutex_unlock(&st->mu);
}

/* Deferred requests that asked to hear of it (gone_fn) and whose connection, suspended
 * meanwhile (libmicrohttpd does not watch it then), was hung up: gone_fn is called. */
void srv_deferred_tick(struct http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    unsigned n = 0, k = 0;
    for (struct req_state *st = srv->reqs; st; st = st->next)
        n++;
    struct req_state **all = n ? malloc(n * sizeof(*all)) : NULL;
    for (struct req_state *st = srv->reqs; all && st && k < n; st = st->next) {
        pthread_mutex_lock(&st->mu);
        if (st->gone_fn && st->suspended && !st->terminated) {
            st->refs++;
            all[k++] = st;
        }
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    struct pollfd *p = k ? calloc(k, sizeof(*p)) : NULL;
    for (unsigned i = 0; p && i < k; i++)
        p[i] = (struct pollfd){.fd = srv_conn_fd(all[i]->req.conn), .events = POLLRDHUP};
    /* The fds belong to suspended connections, which libmicrohttpd does not close; one
     * resumed meanwhile is skipped below (its poll answer may be about another socket). */
    if (p && poll(p, k, 0) > 0) {
        for (unsigned i = 0; i < k; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                continue;
            struct req_state *st = all[i];
            pthread_mutex_lock(&st->mu);
            if (st->gone_fn && st->suspended && !st->terminated) {
                void (*fn)(void *) = st->gone_fn;
                st->gone_fn = NULL;
                fn(st->gone_ctx);
            }
            pthread_mutex_unlock(&st->mu);
        }
    }
    free(p);
    for (unsigned i = 0; i < k; i++)
        srv_req_unref(all[i]);
    free(all);
}

void http_req_continue(struct http_req *req, http_handler_fn fn, void *ctx)
{
    struct req_state *st = (struct req_state *)req;
    struct http_server *srv = st->srv;
    pthread_mutex_lock(&st->mu);
    st->gone_fn = NULL; /* (waits for a gone function that is running) */
    pthread_mutex_unlock(&st->mu);
    if (!srv_submit(srv, st, fn, ctx, false)) {
        /* The server is stopping: nobody will answer; the context goes. */
        free(ctx);
        pthread_mutex_lock(&st->mu);
        bool resume = st->suspended && !st->terminated;
        st->suspended = false;
        if (resume)
            MHD_resume_connection(st->req.conn);
        pthread_mutex_unlock(&st->mu);
    }
    srv_req_unref(st); /* the deferral's */
    srv_unref(srv);
}
