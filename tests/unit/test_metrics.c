/* Unit tests for base/metrics: counters, gauges, histograms, escaping, the series cap,
 * threads, and the text format (checked by promtool where it is installed). */
#include "base/metrics.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *render(void)
{
    struct buf b;
    buf_init(&b, 16u << 20);
    cr_assert_eq(metrics_render(&b), 0);
    size_t n;
    return buf_take(&b, &n);
}

static void setup(void)
{
    metrics_reset();
    metrics_set_node("");
}

TestSuite(metrics, .init = setup);

Test(metrics, counter_and_labels)
{
    metrics_inc(METRIC_RUNS_STARTED, NULL);
    metrics_add(METRIC_RUNS_STARTED, NULL, 2);
    metrics_inc(METRIC_RUNS_FINISHED, (const char *[]){"ok", "none"});
    metrics_inc(METRIC_RUNS_FINISHED, (const char *[]){"limit", "wall_time"});
    metrics_inc(METRIC_RUNS_FINISHED, (const char *[]){"limit", "wall_time"});
    cr_expect_eq(metrics_value(METRIC_RUNS_STARTED, NULL), 3);
    cr_expect_eq(metrics_value(METRIC_RUNS_FINISHED, (const char *[]){"limit", "wall_time"}), 2);
    cr_expect_eq(metrics_value(METRIC_RUNS_FINISHED, NULL), 3);
    char *t = render();
    cr_expect(strstr(t, "\npyroom_runs_started_total 3\n"), "%s", t);
    cr_expect(strstr(t, "pyroom_runs_finished_total{status=\"limit\",limit=\"wall_time\"} 2\n"));
    cr_expect(strstr(t, "# TYPE pyroom_runs_finished_total counter\n"));
    /* a labelled family that never moved has its HELP and TYPE but no sample */
    cr_expect(strstr(t, "# TYPE pyroom_rate_limited_total counter\n# HELP"));
    free(t);
}

Test(metrics, gauge_and_node_label)
{
    metrics_set_node("host-a:8080");
    metrics_set(METRIC_RUNS_QUEUED, NULL, 7);
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, 2);
    metrics_gauge_add(METRIC_EVENT_STREAMS, NULL, -1);
    char *t = render();
    cr_expect(strstr(t, "pyroom_runs_queued{node=\"host-a:8080\"} 7\n"), "%s", t);
    cr_expect(strstr(t, "pyroom_event_streams_open{node=\"host-a:8080\"} 1\n"));
    free(t);
}

Test(metrics, histogram_buckets_are_cumulative)
{
    const char *q[] = {"queue"};
    metrics_observe_us(METRIC_RUN_PHASE, q, 500);        /* <= 1 ms */
    metrics_observe_us(METRIC_RUN_PHASE, q, 1000);       /* == 1 ms: le is inclusive */
    metrics_observe_us(METRIC_RUN_PHASE, q, 30000);      /* <= 50 ms */
    metrics_observe_us(METRIC_RUN_PHASE, q, 9000000000); /* +Inf */
    char *t = render();
    cr_expect(
        strstr(t, "pyroom_run_phase_duration_seconds_bucket{phase=\"queue\",le=\"0.001\"} 2\n"),
        "%s", t);
    cr_expect(
        strstr(t, "pyroom_run_phase_duration_seconds_bucket{phase=\"queue\",le=\"0.025\"} 2\n"));
    cr_expect(
        strstr(t, "pyroom_run_phase_duration_seconds_bucket{phase=\"queue\",le=\"0.05\"} 3\n"));
    cr_expect(strstr(t, "pyroom_run_phase_duration_seconds_bucket{phase=\"queue\",le=\"60\"} 3\n"));
    cr_expect(
        strstr(t, "pyroom_run_phase_duration_seconds_bucket{phase=\"queue\",le=\"+Inf\"} 4\n"));
    cr_expect(strstr(t, "pyroom_run_phase_duration_seconds_count{phase=\"queue\"} 4\n"));
    cr_expect(strstr(t, "pyroom_run_phase_duration_seconds_sum{phase=\"queue\"} 9000.031500\n"));
    free(t);
}

Test(metrics, quantiles)
{
    uint64_t c[METRICS_NBUCKETS + 1] = {0};
    cr_expect_eq(metrics_quantile_us(c, 0.5), -1);
    c[4] = 10; /* (10 ms, 25 ms] */
    cr_expect_eq(metrics_quantile_us(c, 0.5), 17500);
    c[0] = 10; /* [0, 1 ms] */
    cr_expect_eq(metrics_quantile_us(c, 0.5), 1000);
    cr_expect_eq(metrics_quantile_us(c, 0.95), 23500);
    uint64_t s[METRICS_NBUCKETS + 1];
    metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"program"}, 20000);
    metrics_observe_us(METRIC_RUN_PHASE, (const char *[]){"start"}, 20000);
    metrics_histogram(METRIC_RUN_PHASE, NULL, s, NULL);
    cr_expect_eq(s[4], 2);
    metrics_histogram(METRIC_RUN_PHASE, (const char *[]){"start"}, s, NULL);
    cr_expect_eq(s[4], 1);
}

Test(metrics, escaping_and_hostile_methods)
{
    metrics_http_request("GET", "/api/x/{}", 200, 1500);
    metrics_http_request("BREW\"}\n", "/a\"b\\c\nd", 405, 10);
    char *t = render();
    cr_expect(
        strstr(t,
               "pyroom_http_requests_total{method=\"GET\",route=\"/api/x/{}\",status=\"200\"} 1\n"),
        "%s", t);
    cr_expect(strstr(t, "{method=\"other\",route=\"/a\\\"b\\\\c\\nd\",status=\"405\"} 1\n"), "%s",
              t);
    cr_expect_null(strstr(t, "BREW"));
    free(t);
}

Test(metrics, series_cap_counts_drops)
{
    char v[32];
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        snprintf(v, sizeof(v), "r%d", i);
        metrics_inc(METRIC_RUNS_REFUSED, (const char *[]){v});
    }
    cr_expect_eq(metrics_value(METRIC_RUNS_REFUSED, NULL), METRICS_MAX_SERIES);
    cr_expect_eq(metrics_value(METRIC_SERIES_DROPPED, NULL), 10);
}

static void *hammer(void *arg)
{
    (void)arg;
    char v[8];
    for (int i = 0; i < 20000; i++) {
        snprintf(v, sizeof(v), "%d", i % 50);
        metrics_inc(METRIC_RATE_LIMITED, (const char *[]){v});
        metrics_observe_us(METRIC_STORE_DURATION, (const char *[]){"sqlite"}, i);
    }
    return NULL;
}

Test(metrics, threads_lose_nothing)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_expect_eq(metrics_value(METRIC_RATE_LIMITED, NULL), 80000);
    cr_expect_eq(metrics_value(METRIC_RATE_LIMITED, (const char *[]){"7"}), 1600);
    uint64_t c[METRICS_NBUCKETS + 1], n = 0;
    metrics_histogram(METRIC_STORE_DURATION, NULL, c, NULL);
    for (int b = 0; b <= METRICS_NBUCKETS; b++)
        n += c[b];
    cr_expect_eq(n, 80000);
}

Test(metrics, ceiling_is_reported)
{
    struct buf b;
    buf_init(&b, 100);
    cr_expect_eq(metrics_render(&b), -E2BIG);
    buf_done(&b);
}

/* promtool (Debian's prometheus package) lints the whole output with every family used. */
Test(metrics, promtool_accepts_the_output)
{
    if (access("/usr/bin/promtool", X_OK) != 0)
        cr_skip_test("promtool is not installed (scripts/install-deps.sh installs it)");
    metrics_set_node("n1:8080");
    for (unsigned id = 0; id < METRIC__COUNT; id++) {
        const char *l[] = {"a", "b", "c"};
        metrics_inc((enum metric_id)id, l);
        metrics_observe_us((enum metric_id)id, l, 1234);
    }
    metrics_http_request("POST", "/api/workspaces/{}/runs", 202, 4000);
    char *t = render();
    char path[] = "/tmp/pyroom-metrics-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, t, strlen(t)), (ssize_t)strlen(t));
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    cr_expect_eq(rc, 0, "promtool: %s", out);
    cr_expect_eq(n, 0, "promtool: %s", out);
    free(t);
}

Test(metrics, disabled_records_nothing)
{
    metrics_set_enabled(false);
    metrics_inc(METRIC_RUNS_STARTED, NULL);
    metrics_http_request("GET", "/x", 200, 10);
    metrics_observe_us(METRIC_RUN_DURATION, NULL, 10);
    metrics_set_enabled(true);
    cr_expect_eq(metrics_value(METRIC_RUNS_STARTED, NULL), 0);
    cr_expect_eq(metrics_value(METRIC_HTTP_REQUESTS, NULL), 0);
    cr_expect_eq(metrics_value(METRIC_SERIES_DROPPED, NULL), 0);
    metrics_inc(METRIC_RUNS_STARTED, NULL);
    cr_expect_eq(metrics_value(METRIC_RUNS_STARTED, NULL), 1);
}

Test(metrics, http_repeats_and_switches_count_right)
{
    static const char a[] = "/api/a/{}", b[] = "/api/b";
    for (int i = 0; i < 5; i++)
        metrics_http_request("GET", a, 200, 10);
    metrics_http_request("GET", a, 404, 10);
    metrics_http_request("POST", a, 200, 10);
    metrics_http_request("GET", b, 200, 10);
    metrics_http_request("GET", a, 200, 10);
    cr_expect_eq(metrics_value(METRIC_HTTP_REQUESTS, (const char *[]){"GET", a, "200"}), 6);
    cr_expect_eq(metrics_value(METRIC_HTTP_REQUESTS, (const char *[]){"GET", a, "404"}), 1);
    cr_expect_eq(metrics_value(METRIC_HTTP_REQUESTS, (const char *[]){"POST", a, "200"}), 1);
    cr_expect_eq(metrics_value(METRIC_HTTP_REQUESTS, (const char *[]){"GET", b, "200"}), 1);
    uint64_t c[METRICS_NBUCKETS + 1];
    metrics_histogram(METRIC_HTTP_DURATION, (const char *[]){"GET", a}, c, NULL);
    cr_expect_eq(c[0], 7);
    /* after a reset the thread's remembered series are not used */
    metrics_reset();
    metrics_http_request("GET", a, 200, 10);
    cr_expect_eq(metrics_value(METRIC_HTTP_REQUESTS, (const char *[]){"GET", a, "200"}), 1);
}
