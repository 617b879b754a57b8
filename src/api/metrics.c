/*
 * metrics endpoints: GET /metrics (Prometheus text format) and
 * GET /api/admin/metrics/history (the last hour of this node, for the admin page's charts).
 *
 * /metrics is served on the main listener, not on a second address: a scraper reaches every
 * node on the port the load balancer already knows (pod IP and port on Kubernetes), and
 * there is no second, unauthenticated listener to forget behind a firewall. It needs either
 * the --metrics-token bearer token (compared in constant time, no database query per scrape)
 * or an admin's session or API token. Counters live in base/metrics; gauges that belong to
 * other modules (runs, terminals, warm pool, the process) are read when a scrape or a sample
 * asks for them.
 *
 * The history is a ring of one-minute slots filled by a sampler thread every few seconds
 * (and on each read, so the current minute is fresh): deltas of the run counters and of the
 * run-latency histogram (p50/p95 are estimated from that minute's buckets, as Prometheus'
 * histogram_quantile would), and the largest queue depth and terminal count seen.
 */
#include "base/metrics.h"

#include "api/internal.h"
#include "api/live.h"
#include "auth/token.h"
#include "exec/runs.h"
#include "exec/supervisor.h"
#include "exec/terminals.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HISTORY_MINUTES 60
#define SAMPLE_MS       5000
#define RENDER_MAX      (8u << 20) /* bytes of /metrics text at most */

static const char *const run_statuses[] = {"ok", "error", "limit", "cancelled", "failed"};
#define NSTATUS (sizeof(run_statuses) / sizeof(run_statuses[0]))

struct minute {
    int64_t minute;                         /* Unix time / 60; 0: no sample */
    uint64_t runs[NSTATUS];                 /* runs ended in this minute, by status */
    uint64_t latency[METRICS_NBUCKETS + 1]; /* run-duration bucket deltas */
    uint64_t warm_claims, warm_fallbacks;   /* deltas */
    uint64_t requests;                      /* HTTP requests answered (delta) */
    unsigned queued_max, running_max, terminals_max;
};

/* What the previous sample read, to turn counters into deltas. */
struct cumulative {
    bool valid;
    uint64_t runs[NSTATUS];
    uint64_t latency[METRICS_NBUCKETS + 1];
    uint64_t warm_claims, warm_fallbacks, requests;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping;
    struct api *api;
    struct minute ring[HISTORY_MINUTES];
    struct cumulative prev;
    char node[300];
} hist = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- the node's name -------------------------------------------------------------------- */

void api_metrics_node(uint16_t port)
{
    /* hostname:port until nodes have ids of their own: the one place to change. */
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    pthread_mutex_lock(&hist.mu);
    snprintf(hist.node, sizeof(hist.node), "%s:%u", host, (unsigned)port);
    metrics_set_node(hist.node);
    pthread_mutex_unlock(&hist.mu);
}

/* ---- gauges owned elsewhere --------------------------------------------------------------- */

static int64_t process_start_s;

static void process_gauges(void)
{
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "re");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) == 2)
            metrics_set(METRIC_PROCESS_RSS, NULL, (int64_t)rss * page);
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int64_t n = 0;
        for (struct dirent *e; (e = readdir(d));)
            n += e->d_name[0] != '.';
        closedir(d);
        metrics_set(METRIC_PROCESS_FDS, NULL, n - 1); /* less the directory's own fd */
    }
    metrics_set(METRIC_PROCESS_START, NULL, process_start_s);
}

static void refresh(struct api *api)
{
    unsigned running = 0, queued = 0, envs = 0, terms = 0, clients = 0;
    runs_stats(api->runs, &running, &queued);
    metrics_set(METRIC_RUNS_RUNNING, NULL, running);
    metrics_set(METRIC_RUNS_QUEUED, NULL, queued);
    if (api->terms)
        terms_stats(api->terms, &envs, &terms, &clients);
    metrics_set(METRIC_TERMINALS, NULL, terms);
    metrics_set(METRIC_TERMINAL_ENVS, NULL, envs);
    metrics_set(METRIC_TERMINAL_CLIENTS, NULL, clients);
    metrics_set(METRIC_SANDBOX_SLOTS, NULL, (int64_t)running + envs);
    struct warm_stats w = {0};
    if (api->sup && sup_warm_stats(api->sup, &w) == 0 && w.enabled) {
        metrics_set(METRIC_WARM_READY, NULL, w.ready);
        metrics_set(METRIC_WARM_TEMPLATES, NULL, w.templates);
        metrics_set(METRIC_WARM_CLAIMS, NULL, (int64_t)w.claims);
        metrics_set(METRIC_WARM_FALLBACKS, NULL, (int64_t)w.fallbacks);
        metrics_set(METRIC_WARM_PSS, NULL, (int64_t)w.pss_bytes);
    }
    process_gauges();
}

/* ---- GET /metrics ------------------------------------------------------------------------- */

static bool metrics_allowed(struct api *api, struct http_req *req)
{
    const char *token = api->cfg->metrics_token;
    const char *authz = http_req_header(req, "Authorization");
    if (token && *token && authz && strncasecmp(authz, "Bearer ", 7) == 0 &&
        token_equal(authz + 7, token))
        return true;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return false;
    bool admin = api_is_admin(&c);
    api_caller_done(&c);
    if (!admin)
        api_reply_error(req, forbidden, "only administrators may read the metrics");
    return admin;
}

static void h_metrics(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    if (!metrics_allowed(api, req))
        return;
    refresh(api);
    struct buf b;
    buf_init(&b, RENDER_MAX);
    if (metrics_render(&b) < 0) {
        buf_done(&b);
        api_fail(req, -ENOMEM, "metrics");
        return;
    }
    static const char *const h[] = {"Cache-Control", "no-store", NULL};
    http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "", b.len,
               h);
    buf_done(&b);
}

/* ---- the history -------------------------------------------------------------------------- */

/* Reads the counters, adds what moved since the last sample to the current minute.
 * Under hist.mu. */
static void sample(struct api *api)
{
    refresh(api);
    struct cumulative now = {.valid = true};
    for (size_t i = 0; i < NSTATUS; i++) /* every limit of a status */
        now.runs[i] = (uint64_t)metrics_sum_where(METRIC_RUNS_FINISHED, 0, run_statuses[i]);
    metrics_histogram(METRIC_RUN_DURATION, NULL, now.latency, NULL);
    now.warm_claims = (uint64_t)metrics_value(METRIC_WARM_CLAIMS, NULL);
    now.warm_fallbacks = (uint64_t)metrics_value(METRIC_WARM_FALLBACKS, NULL);
    now.requests = (uint64_t)metrics_value(METRIC_HTTP_REQUESTS, NULL);

    int64_t minute = (int64_t)time(NULL) / 60;
    struct minute *m = &hist.ring[minute % HISTORY_MINUTES];
    if (m->minute != minute)
        *m = (struct minute){.minute = minute};
    const struct cumulative *p = &hist.prev;
#define DELTA(a, b) ((a) >= (b) ? (a) - (b) : (a)) /* a restarted source starts from 0 */
    if (p->valid) {
        for (size_t i = 0; i < NSTATUS; i++)
            m->runs[i] += DELTA(now.runs[i], p->runs[i]);
        for (size_t b = 0; b <= METRICS_NBUCKETS; b++)
            m->latency[b] += DELTA(now.latency[b], p->latency[b]);
        m->warm_claims += DELTA(now.warm_claims, p->warm_claims);
        m->warm_fallbacks += DELTA(now.warm_fallbacks, p->warm_fallbacks);
        m->requests += DELTA(now.requests, p->requests);
    }
#undef DELTA
    hist.prev = now;
    unsigned q = (unsigned)metrics_value(METRIC_RUNS_QUEUED, NULL);
    unsigned r = (unsigned)metrics_value(METRIC_RUNS_RUNNING, NULL);
    unsigned t = (unsigned)metrics_value(METRIC_TERMINALS, NULL);
    if (q > m->queued_max)
        m->queued_max = q;
    if (r > m->running_max)
        m->running_max = r;
    if (t > m->terminals_max)
        m->terminals_max = t;
}

static void *sampler(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&hist.mu);
    while (!hist.stopping) {
        sample(hist.api);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += SAMPLE_MS / 1000;
        while (!hist.stopping && pthread_cond_timedwait(&hist.cv, &hist.mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&hist.mu);
    return NULL;
}

static json_t *quantile_ms(const uint64_t *counts, double q)
{
    int64_t us = metrics_quantile_us(counts, q);
    return us < 0 ? json_null() : json_real((double)us / 1000.0);
}

static void h_history(struct http_req *req, void *ctx)
{
    struct api *api = ctx;
    struct api_caller c;
    if (!api_auth(api, req, &c))
        return;
    bool admin = api_is_admin(&c);
    api_caller_done(&c);
    if (!admin) {
        api_reply_error(req, forbidden, "only administrators may do this");
        return;
    }
    json_t *points = json_array();
    pthread_mutex_lock(&hist.mu);
    sample(api);
    int64_t last = (int64_t)time(NULL) / 60;
    for (int64_t minute = last - HISTORY_MINUTES + 1; minute <= last; minute++) {
        const struct minute *m = &hist.ring[minute % HISTORY_MINUTES];
        char at[32];
        time_t t = (time_t)(minute * 60);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (m->minute != minute) {
            json_array_append_new(points, json_pack("{s:s,s:b}", "at", at, "sampled", false));
            continue;
        }
        json_t *runs = json_object();
        for (size_t i = 0; i < NSTATUS; i++)
            json_object_set_new(runs, run_statuses[i], json_integer((json_int_t)m->runs[i]));
        json_array_append_new(
            points,
            json_pack("{s:s,s:b,s:o,s:i,s:i,s:o,s:o,s:I,s:I,s:i,s:I}", "at", at, "sampled", true,
                      "runs", runs, "queued_max", (int)m->queued_max, "running_max",
                      (int)m->running_max, "latency_p50_ms", quantile_ms(m->latency, 0.5),
                      "latency_p95_ms", quantile_ms(m->latency, 0.95), "warm_claims",
                      (json_int_t)m->warm_claims, "warm_fallbacks", (json_int_t)m->warm_fallbacks,
                      "terminals_max", (int)m->terminals_max, "requests", (json_int_t)m->requests));
    }
    json_t *body = json_pack("{s:s,s:i,s:i,s:o}", "node", hist.node, "step_seconds", 60,
                             "sample_seconds", SAMPLE_MS / 1000, "points", points);
    pthread_mutex_unlock(&hist.mu);
    http_reply_json(req, 200, body);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

int api_metrics_start(struct api *api)
{
    process_start_s = (int64_t)time(NULL);
    pthread_mutex_lock(&hist.mu);
    hist.api = api;
    hist.stopping = false;
    memset(hist.ring, 0, sizeof(hist.ring));
    hist.prev.valid = false;
    pthread_mutex_unlock(&hist.mu);
    int rc = pthread_create(&hist.thread, NULL, sampler, NULL);
    if (rc)
        return -rc;
    hist.started = true;
    return 0;
}

void api_metrics_stop(void)
{
    if (!hist.started)
        return;
    pthread_mutex_lock(&hist.mu);
    hist.stopping = true;
    pthread_cond_broadcast(&hist.cv);
    pthread_mutex_unlock(&hist.mu);
    pthread_join(hist.thread, NULL);
    hist.started = false;
}

void api_metrics_routes(struct router *r)
{
    router_add(r, "GET", "/metrics", h_metrics);
    router_add(r, "GET", "/api/admin/metrics/history", h_history);
}
