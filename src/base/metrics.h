/*
 * metrics: the process's counters, gauges and histograms, and their rendering in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * Theory of operation. Every family this process exports is one line of METRICS_MAP below
 * (libuv's UV_ERRNO_MAP idea): its id, type, name, help and up to three label names. That
 * one table is the whole vocabulary; docs/operations.md lists it and a test keeps the two in
 * step. A series (one set of label values) is created on first use and lives until
 * metrics_reset(); series never move, so updates are lock-free (relaxed atomics) and only
 * the first use of a label set takes the family's mutex. A family holds at most
 * METRICS_MAX_SERIES series: label values are bounded by the callers (route templates, not
 * paths; known methods, else "other"), and the cap is the last line of defence against
 * an unbounded label (dropped updates are counted in pyroom_metrics_series_dropped_total).
 *
 * Units follow Prometheus' conventions: durations in seconds (recorded in microseconds,
 * rendered as seconds), sizes in bytes, counters end in _total. Every series carries the
 * node label set by metrics_set_node(), so one dashboard can tell a cluster's nodes apart.
 */
#ifndef PYROOM_BASE_METRICS_H
#define PYROOM_BASE_METRICS_H

#include "base/buf.h"

#include <stdbool.h>
#include <stdint.h>

#define METRICS_MAX_LABELS 3
#define METRICS_MAX_SERIES 1024
/* Histogram upper bounds, microseconds (rendered as seconds); +Inf is implied. */
#define METRICS_BUCKETS_US                                                                         \
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,      \
        10000000, 30000000, 60000000
#define METRICS_NBUCKETS 15

/* X(id, type, name, help, labels...) — type is counter, gauge or histogram. */
#define METRICS_MAP(X)                                                                             \
    X(BUILD_INFO, gauge, "pyroom_build_info", "The running version; always 1.", "version",         \
      "database", "sandbox")                                                                       \
    X(HTTP_REQUESTS, counter, "pyroom_http_requests_total",                                        \
      "HTTP requests answered, by method, route template and status.", "method", "route",          \
      "status")                                                                                    \
    X(HTTP_DURATION, histogram, "pyroom_http_request_duration_seconds",                            \
      "Time from a request's headers to the end of its answer, by method and route template.",     \
      "method", "route")                                                                           \
    X(RUNS_STARTED, counter, "pyroom_runs_started_total", "Runs accepted on this node.")           \
    X(RUNS_FINISHED, counter, "pyroom_runs_finished_total",                                        \
      "Runs ended on this node, by status and the limit that ended them (none).", "status",        \
      "limit")                                                                                     \
    X(RUNS_REFUSED, counter, "pyroom_runs_refused_total",                                          \
      "Runs refused before they were queued, by reason (queue_full, rate_limited).", "reason")     \
    X(RUNS_RUNNING, gauge, "pyroom_runs_running", "Runs holding a sandbox slot now.")              \
    X(RUNS_QUEUED, gauge, "pyroom_runs_queued", "Runs waiting for a slot now.")                    \
    X(RUN_PHASE, histogram, "pyroom_run_phase_duration_seconds",                                   \
      "Run latency by phase: queue (waiting for a slot), start (files and sandbox until the "      \
      "program runs), program (until it ended).",                                                  \
      "phase")                                                                                     \
    X(RUN_DURATION, histogram, "pyroom_run_duration_seconds",                                      \
      "Run latency from acceptance to its end (the three phases together).")                       \
    X(RUN_SLOTS, gauge, "pyroom_run_slots", "Runs this node admits at once (the slot count).")     \
    X(WARM_READY, gauge, "pyroom_warm_pool_ready", "Warm interpreters ready to be claimed.")       \
    X(WARM_TEMPLATES, gauge, "pyroom_warm_pool_templates", "Warm-pool template processes.")        \
    X(WARM_CLAIMS, counter, "pyroom_warm_pool_claims_total",                                       \
      "Runs that got a warm interpreter (since the supervisor started).")                          \
    X(WARM_FALLBACKS, counter, "pyroom_warm_pool_fallbacks_total",                                 \
      "Runs that asked for a warm interpreter and started cold.")                                  \
    X(WARM_PSS, gauge, "pyroom_warm_pool_pss_bytes",                                               \
      "Proportional set size of the warm pool (templates and ready children).")                    \
    X(TERMINALS, gauge, "pyroom_terminals_live", "Terminals (shells) open now.")                   \
    X(TERMINAL_ENVS, gauge, "pyroom_terminal_environments",                                        \
      "Live terminal environments (one sandbox per workspace with terminals).")                    \
    X(TERMINAL_CLIENTS, gauge, "pyroom_terminal_clients", "WebSocket clients attached now.")       \
    X(TERMINALS_OPENED, counter, "pyroom_terminals_opened_total", "Terminal WebSockets accepted.") \
    X(SANDBOX_SLOTS, gauge, "pyroom_sandbox_slots_in_use",                                         \
      "Sandboxes this node holds now (running runs and terminal environments), each on a slot.")   \
    X(EVENT_STREAMS, gauge, "pyroom_event_streams_open",                                           \
      "Server-Sent Event streams open now (workspace events and run output).")                     \
    X(STORE_DURATION, histogram, "pyroom_store_call_duration_seconds",                             \
      "Time a store call held a database connection, waiting for one included, by driver.",        \
      "driver")                                                                                    \
    X(STORE_ERRORS, counter, "pyroom_store_errors_total",                                          \
      "Failed database statements by driver and kind (constraint, busy, deadlock, error).",        \
      "driver", "kind")                                                                            \
    X(LOGIN_FAILURES, counter, "pyroom_login_failures_total",                                      \
      "Failed logins by reason (password, disabled, throttled).", "reason")                        \
    X(RATE_LIMITED, counter, "pyroom_rate_limited_total",                                          \
      "Requests refused with 429, by limit (login, runs_per_minute, run_queue, event_streams).",   \
      "limit")                                                                                     \
    X(PROCESS_START, gauge, "process_start_time_seconds",                                          \
      "Start time of the process since the Unix epoch, seconds.")                                  \
    X(PROCESS_RSS, gauge, "process_resident_memory_bytes",                                         \
      "Resident memory of the server, bytes.")                                                     \
    X(PROCESS_FDS, gauge, "process_open_fds", "Open file descriptors of the server.")              \
    X(SERIES_DROPPED, counter, "pyroom_metrics_series_dropped_total",                              \
      "Updates dropped because a family reached its series cap.")

enum metric_id {
#define METRIC_ENUM(id, ...) METRIC_##id,
    METRICS_MAP(METRIC_ENUM)
#undef METRIC_ENUM
        METRIC__COUNT
};

/* Recording on (the default) or off: off, every update returns at once (the bench measures
 * what metrics cost by comparing the two in one run). */
void metrics_set_enabled(bool on);

/* The node label on every series ("" leaves it out). Call before serving; copied. */
void metrics_set_node(const char *node);

/* Updates. labels holds as many values as the family has label names (NULL when none);
 * values are copied on first use. None of these fail: a dropped update is counted. */
void metrics_add(enum metric_id id, const char *const *labels, uint64_t n); /* counters */
void metrics_set(enum metric_id id, const char *const *labels, int64_t v);  /* gauges */
void metrics_gauge_add(enum metric_id id, const char *const *labels, int64_t delta);
void metrics_observe_us(enum metric_id id, const char *const *labels, int64_t us);
static inline void metrics_inc(enum metric_id id, const char *const *labels)
{
    metrics_add(id, labels, 1);
}

/* Monotonic clock, microseconds: the time base of every duration recorded here. */
int64_t metrics_now_us(void);

/* One finished HTTP request: method is normalised to the known verbs, route is the route
 * template (a string literal, or NULL: "none"), status 0 means the answer never went out. */
void metrics_http_request(const char *method, const char *route, int status, int64_t us);

/* Reads back. metrics_value: a counter's or gauge's value for labels, or the sum over every
 * series when labels is NULL. metrics_histogram: bucket counts (not cumulative; the last
 * is +Inf) and the sum in microseconds, summed over every series when labels is NULL. */
int64_t metrics_value(enum metric_id id, const char *const *labels);
/* The sum of a counter's or gauge's series whose label number `label` is value. */
int64_t metrics_sum_where(enum metric_id id, unsigned label, const char *value);
void metrics_histogram(enum metric_id id, const char *const *labels,
                       uint64_t ret_counts[METRICS_NBUCKETS + 1], uint64_t *ret_sum_us);
/* An estimate of quantile q (0..1) from non-cumulative bucket counts, microseconds, as
 * Prometheus' histogram_quantile does (linear within the bucket); -1 when empty. */
int64_t metrics_quantile_us(const uint64_t counts[METRICS_NBUCKETS + 1], double q);

/* Appends every family in the text format. -E2BIG when out's ceiling is reached. */
int metrics_render(struct buf *out);
/* Forgets every series (tests; the end of the process). */
void metrics_reset(void);

#endif
