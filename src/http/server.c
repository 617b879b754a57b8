/* http server: the daemon (libmicrohttpd in epoll mode with its loop threads), the
 * housekeeping thread, start, quiesce and stop; see server.h and server_internal.h. */
#include "base/clock.h"
#include "base/log.h"
#include "http/peraddr.h"
#include "http/server_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* libmicrohttpd would decode %00 into a string terminator; keep URLs raw instead. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* The housekeeping thread: every HTTP_TICK_MS, the deadlines (conn.c), the streams
 * waiting for output (stream.c) and the deferred requests whose client left (worker.c). */
static void *housekeeper_main(void *arg)
{
    struct http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        struct timespec ts = clock_deadline(HTTP_TICK_MS);
        pthread_cond_timedwait(&srv->tick_cv, &srv->mu, &ts);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->mu);
        int64_t now = clock_mono_us();
        srv_conns_tick(srv, now);
        srv_streams_tick(srv, now);
        srv_deferred_tick(srv);
        pthread_mutex_lock(&srv->mu);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_event(LOG_WARN, "http", json_pack("{s:s}", "detail", msg));
}

static void server_free(struct http_server *srv)
{
    peraddr_free(srv->per_addr);
    pthread_cond_destroy(&srv->job_cv);
    pthread_cond_destroy(&srv->tick_cv);
    pthread_mutex_destroy(&srv->mu);
    free(srv->workers);
    free(srv);
}

void srv_unref(struct http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    bool last = --srv->refs == 0;
    pthread_mutex_unlock(&srv->mu);
    if (last)
        server_free(srv);
}

int http_server_start(const struct http_config *cfg, http_handler_fn handler, void *ctx,
                      struct http_server **ret, struct err *err)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return err_set(err, ENOMEM, "allocate server");
    srv->handler = handler;
    srv->ctx = ctx;
    srv->cfg = *cfg;
    srv->refs = 1;
    if (!srv->cfg.loop_threads)
        srv->cfg.loop_threads = 1;
    if (!srv->cfg.workers)
        srv->cfg.workers = 1;
    if (!srv->cfg.max_query_params)
        srv->cfg.max_query_params = 1;
    /* libmicrohttpd touches its whole pool when it resets it between requests: this is
     * what an open connection costs, whatever it does. */
    if (srv->cfg.connection_memory < 8192)
        srv->cfg.connection_memory = 8192;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->job_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->tick_cv, &ca);
    pthread_condattr_destroy(&ca);

    struct sockaddr_storage ss = {0};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->listen_host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(cfg->listen_port);
    } else if (inet_pton(AF_INET6, cfg->listen_host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(cfg->listen_port);
        flags |= MHD_USE_IPv6;
    } else {
        server_free(srv);
        return err_set(err, EINVAL, "listen address '%s' is not a numeric IP address",
                       cfg->listen_host);
    }
    srv->workers = calloc(srv->cfg.workers, sizeof(pthread_t));
    /* Behind a proxy every connection comes from the proxy's address: count the clients'
     * requests by their forwarded address instead (http/peraddr.h, start_request). */
    if (!srv->workers ||
        (cfg->trust_proxy && cfg->max_per_ip && !(srv->per_addr = peraddr_new(cfg->max_per_ip)))) {
        server_free(srv);
        return err_set(err, ENOMEM, "allocate workers");
    }
    unsigned per_ip = cfg->trust_proxy ? 0 : cfg->max_per_ip;
    srv->daemon = MHD_start_daemon(
        flags, cfg->listen_port, NULL, NULL, srv_on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_NOTIFY_COMPLETED, srv_on_completed,
        srv, MHD_OPTION_NOTIFY_CONNECTION, srv_on_connection, srv, MHD_OPTION_URI_LOG_CALLBACK,
        srv_on_uri, srv, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
        MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        cfg->connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->cfg.connection_memory,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.loop_threads, MHD_OPTION_END);
    if (!srv->daemon) {
        server_free(srv);
        return err_set(err, EADDRINUSE, "cannot listen on %s:%u", cfg->listen_host,
                       cfg->listen_port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->listen_port;
    for (unsigned i = 0; i < srv->cfg.workers; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 1024 * 1024);
        if (pthread_create(&srv->workers[i], &attr, srv_worker_main, srv) == 0)
            srv->nworkers++;
        pthread_attr_destroy(&attr);
    }
    srv->housekeeper_started = pthread_create(&srv->housekeeper, NULL, housekeeper_main, srv) == 0;
    if (!srv->nworkers || !srv->housekeeper_started) {
        http_server_stop(srv);
        return err_set(err, EAGAIN, "cannot start the HTTP threads");
    }
    *ret = srv;
    return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stats(struct http_server *srv, struct http_stats *ret)
{
    pthread_mutex_lock(&srv->mu);
    ret->connections = srv->nconns;
    ret->streams = srv->nstreams;
    ret->queued = srv->njobs;
    ret->workers_busy = srv->busy;
    pthread_mutex_unlock(&srv->mu);
}

/* At shutdown, after the workers are gone: every suspended connection is resumed, since
 * libmicrohttpd aborts the process when stopped with one still suspended. A stream ends with
 * an error; a deferred request is answered 503 (its continuation, if it ever comes, is
 * dropped). Later suspends cannot happen: streams are gone, submit refuses. */
static void resume_all(struct http_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    unsigned ns = srv->nstreams, nr = 0, ks = 0, kr = 0;
    for (struct req_state *st = srv->reqs; st; st = st->next)
        nr++;
    struct http_stream **ss = malloc((ns ? ns : 1) * sizeof(*ss));
    struct req_state **rs = malloc((nr ? nr : 1) * sizeof(*rs));
    for (struct http_stream *s = srv->streams; ss && s && ks < ns; s = s->next) {
        pthread_mutex_lock(&s->mu);
        s->refs++;
        pthread_mutex_unlock(&s->mu);
        ss[ks++] = s;
    }
    for (struct req_state *st = srv->reqs; rs && st && kr < nr; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->refs++;
        pthread_mutex_unlock(&st->mu);
        rs[kr++] = st;
    }
    pthread_mutex_unlock(&srv->mu);
    if (!ss || !rs)
        log_msg(LOG_ERROR, "http: out of memory at shutdown: suspended connections may stay");
    for (unsigned i = 0; i < ks; i++) {
        struct http_stream *s = ss[i];
        pthread_mutex_lock(&s->mu);
        s->gone = true;
        srv_stream_kick(s);
        pthread_mutex_unlock(&s->mu);
        http_stream_unref(s);
    }
    for (unsigned i = 0; i < kr; i++) {
        struct req_state *st = rs[i];
        pthread_mutex_lock(&st->mu);
        bool parked = st->suspended && !st->terminated;
        pthread_mutex_unlock(&st->mu);
        if (parked) /* refused when the request has its answer already */
            http_reply_error(&st->req, 503, "unavailable", "the server is shutting down");
        pthread_mutex_lock(&st->mu);
        if (st->suspended && !st->terminated) {
            st->suspended = false;
            MHD_resume_connection(st->req.conn);
        }
        pthread_mutex_unlock(&st->mu);
        srv_req_unref(st);
    }
    free(ss);
    free(rs);
}

/* Waits up to ms for libmicrohttpd to finish the requests still open (the answers just
 * given, streams ending), so that they leave before the sockets close. */
static void drain(struct http_server *srv, unsigned ms)
{
    struct timespec until = clock_deadline(ms);
    pthread_mutex_lock(&srv->mu);
    for (;;) {
        bool open = false;
        for (struct req_state *st = srv->reqs; st && !open; st = st->next) {
            pthread_mutex_lock(&st->mu);
            open = st->started && !st->terminated;
            pthread_mutex_unlock(&st->mu);
        }
        if (!open || pthread_cond_timedwait(&srv->tick_cv, &srv->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&srv->mu);
}

void http_server_quiesce(struct http_server *srv)
{
    if (!srv || srv->quiesced)
        return;
    srv->quiesced = true;
    /* Stop accepting, let the workers finish what they run, resume every suspended
     * connection (streams end, deferred requests get a 503) and give those answers a
     * moment to leave. Deferred requests keep the server's memory until they continue;
     * their continuation is then dropped. */
    if (srv->daemon)
        MHD_quiesce_daemon(srv->daemon);
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->job_cv);
    pthread_cond_broadcast(&srv->tick_cv);
    pthread_mutex_unlock(&srv->mu);
    for (unsigned i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i], NULL);
    if (srv->housekeeper_started)
        pthread_join(srv->housekeeper, NULL);
    if (srv->daemon) {
        resume_all(srv);
        drain(srv, HTTP_DRAIN_MS);
    }
}

void http_server_stop(struct http_server *srv)
{
    if (!srv)
        return;
    http_server_quiesce(srv);
    /* Then close every connection (each stream's on_close runs). */
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    srv_unref(srv);
}
