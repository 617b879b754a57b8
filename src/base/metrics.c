/* metrics: families, lock-free series and the Prometheus text format; see metrics.h. */
#include "base/metrics.h"

#include "base/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum type { T_counter, T_gauge, T_histogram };

/* Open addressing at a load factor of at most one half. */
#define SLOTS (METRICS_MAX_SERIES * 2)

struct series {
    char *values[METRICS_MAX_LABELS];               /* owned copies */
    _Atomic int64_t value;                          /* counter or gauge */
    _Atomic uint64_t buckets[METRICS_NBUCKETS + 1]; /* non-cumulative counts, last is +Inf */
    _Atomic uint64_t sum_us;
};

struct family {
    const char *name;
    const char *help;
    enum type type;
    const char *labels[METRICS_MAX_LABELS];
    pthread_mutex_t mu; /* creating series */
    unsigned n;         /* series created, under mu */
    _Atomic(struct series *) slot[SLOTS];
};

static struct family families[METRIC__COUNT] = {
#define METRIC_FAMILY(id, t, n, h, ...)                                                            \
    [METRIC_##id] = {.name = n,                                                                    \
                     .help = h,                                                                    \
                     .type = T_##t,                                                                \
                     .labels = {__VA_ARGS__},                                                      \
                     .mu = PTHREAD_MUTEX_INITIALIZER},
    METRICS_MAP(METRIC_FAMILY)
#undef METRIC_FAMILY
};

static const int64_t bounds_us[METRICS_NBUCKETS] = {METRICS_BUCKETS_US};
static char node_label[256];
static atomic_bool enabled = true;
static atomic_uint generation; /* bumped by metrics_reset: thread caches are stale */

void metrics_set_enabled(bool on)
{
    atomic_store_explicit(&enabled, on, memory_order_relaxed);
}

void metrics_set_node(const char *node)
{
    snprintf(node_label, sizeof(node_label), "%s", node ? node : "");
}

static unsigned nlabels(const struct family *f)
{
    unsigned n = 0;
    while (n < METRICS_MAX_LABELS && f->labels[n])
        n++;
    return n;
}

static uint32_t hash_values(const char *const *v, unsigned n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (unsigned i = 0; i < n; i++) {
        for (const char *p = v[i] ? v[i] : ""; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        h = (h ^ 0x1f) * 16777619u;
    }
    return h;
}

static bool same(const struct series *s, const char *const *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(s->values[i], v[i] ? v[i] : "") != 0)
            return false;
    return true;
}

static void series_free(struct series *s)
{
    for (unsigned i = 0; i < METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s);
}

/* Finds or creates the series of labels; NULL when the family is full or out of memory. */
static struct series *lookup(struct family *f, const char *const *labels, bool create)
{
    unsigned n = nlabels(f);
    uint32_t h = hash_values(labels, n);
    for (unsigned probe = 0; probe < SLOTS; probe++) {
        unsigned i = (h + probe) % SLOTS;
        struct series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (!s)
            break;
        if (same(s, labels, n))
            return s;
    }
    if (!create)
        return NULL;
    pthread_mutex_lock(&f->mu);
    struct series *found = NULL;
    unsigned free_slot = SLOTS;
    for (unsigned probe = 0; probe < SLOTS; probe++) {
        unsigned i = (h + probe) % SLOTS;
        struct series *s = atomic_load_explicit(&f->slot[i], memory_order_relaxed);
        if (!s) {
            free_slot = i;
            break;
        }
        if (same(s, labels, n)) {
            found = s;
            break;
        }
    }
    if (!found && free_slot < SLOTS && f->n < METRICS_MAX_SERIES &&
        (found = calloc(1, sizeof(*found)))) {
        bool ok = true;
        for (unsigned k = 0; k < n; k++)
            ok = ok && (found->values[k] = strdup(labels[k] ? labels[k] : ""));
        if (ok) {
            atomic_store_explicit(&f->slot[free_slot], found, memory_order_release);
            f->n++;
        } else {
            series_free(found);
            found = NULL;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return found;
}

static struct series *get(enum metric_id id, const char *const *labels)
{
    static const char *const none[METRICS_MAX_LABELS] = {0};
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return NULL;
    struct series *s = lookup(&families[id], labels ? labels : none, true);
    if (!s && id != METRIC_SERIES_DROPPED && atomic_load_explicit(&enabled, memory_order_relaxed))
        metrics_inc(METRIC_SERIES_DROPPED, NULL);
    return s;
}

void metrics_add(enum metric_id id, const char *const *labels, uint64_t n)
{
    struct series *s = get(id, labels);
    if (s)
        atomic_fetch_add_explicit(&s->value, (int64_t)n, memory_order_relaxed);
}

void metrics_set(enum metric_id id, const char *const *labels, int64_t v)
{
    struct series *s = get(id, labels);
    if (s)
        atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

void metrics_gauge_add(enum metric_id id, const char *const *labels, int64_t delta)
{
    struct series *s = get(id, labels);
    if (s)
        atomic_fetch_add_explicit(&s->value, delta, memory_order_relaxed);
}

static void observe(struct series *s, int64_t us)
{
    if (us < 0)
        us = 0;
    unsigned b = 0;
    while (b < METRICS_NBUCKETS && us > bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (uint64_t)us, memory_order_relaxed);
}

void metrics_observe_us(enum metric_id id, const char *const *labels, int64_t us)
{
    struct series *s = get(id, labels);
    if (s)
        observe(s, us);
}

int64_t metrics_now_us(void)
{
    return clock_mono_us();
}

void metrics_http_request(const char *method, const char *route, int status, int64_t us)
{
    /* The method is the client's word: only known verbs become label values. */
    static const char *const verbs[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    /* A connection thread mostly repeats its last request's labels (keep-alive, one
     * client): the series of the last one are remembered per thread, so the common case
     * costs two relaxed atomic adds instead of two hashed lookups. Route templates are
     * string literals, so their addresses identify them. */
    static __thread struct {
        const char *verb, *route;
        int status;
        unsigned generation;
        struct series *count, *duration;
    } last;
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return;
    const char *m = "other";
    for (size_t i = 0; method && i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(method, verbs[i]) == 0)
            m = verbs[i];
    const char *r = route ? route : "none";
    if (status < 0 || status > 999)
        status = 0;
    unsigned gen = atomic_load_explicit(&generation, memory_order_acquire);
    if (last.count && last.verb == m && last.route == r && last.status == status &&
        last.generation == gen) {
        atomic_fetch_add_explicit(&last.count->value, 1, memory_order_relaxed);
        observe(last.duration, us);
        return;
    }
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    struct series *c = get(METRIC_HTTP_REQUESTS, (const char *[]){m, r, code});
    struct series *d = get(METRIC_HTTP_DURATION, (const char *[]){m, r});
    if (c)
        atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
    if (d)
        observe(d, us);
    last.verb = m;
    last.route = r;
    last.status = status;
    last.generation = gen;
    last.count = c && d ? c : NULL;
    last.duration = d;
}

int64_t metrics_value(enum metric_id id, const char *const *labels)
{
    struct family *f = &families[id];
    if (labels) {
        struct series *s = lookup(f, labels, false);
        return s ? atomic_load_explicit(&s->value, memory_order_relaxed) : 0;
    }
    int64_t sum = 0;
    for (unsigned i = 0; i < SLOTS; i++) {
        struct series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (s)
            sum += atomic_load_explicit(&s->value, memory_order_relaxed);
    }
    return sum;
}

int64_t metrics_sum_where(enum metric_id id, unsigned label, const char *value)
{
    struct family *f = &families[id];
    int64_t sum = 0;
    if (label >= nlabels(f))
        return 0;
    for (unsigned i = 0; i < SLOTS; i++) {
        struct series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
        if (s && strcmp(s->values[label], value) == 0)
            sum += atomic_load_explicit(&s->value, memory_order_relaxed);
    }
    return sum;
}

static void add_hist(struct series *s, uint64_t counts[METRICS_NBUCKETS + 1], uint64_t *sum)
{
    for (unsigned b = 0; b <= METRICS_NBUCKETS; b++)
        counts[b] += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
    *sum += atomic_load_explicit(&s->sum_us, memory_order_relaxed);
}

void metrics_histogram(enum metric_id id, const char *const *labels,
                       uint64_t ret_counts[METRICS_NBUCKETS + 1], uint64_t *ret_sum_us)
{
    struct family *f = &families[id];
    uint64_t sum = 0;
    memset(ret_counts, 0, sizeof(uint64_t) * (METRICS_NBUCKETS + 1));
    if (labels) {
        struct series *s = lookup(f, labels, false);
        if (s)
            add_hist(s, ret_counts, &sum);
    } else {
        for (unsigned i = 0; i < SLOTS; i++) {
            struct series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
            if (s)
                add_hist(s, ret_counts, &sum);
        }
    }
    if (ret_sum_us)
        *ret_sum_us = sum;
}

int64_t metrics_quantile_us(const uint64_t counts[METRICS_NBUCKETS + 1], double q)
{
    uint64_t total = 0;
    for (unsigned b = 0; b <= METRICS_NBUCKETS; b++)
        total += counts[b];
    if (total == 0)
        return -1;
    double rank = q * (double)total;
    uint64_t below = 0;
    for (unsigned b = 0; b <= METRICS_NBUCKETS; b++) {
        if (counts[b] && (double)(below + counts[b]) >= rank) {
            if (b == METRICS_NBUCKETS) /* +Inf: the highest finite bound, as Prometheus */
                return bounds_us[METRICS_NBUCKETS - 1];
            double lo = b ? (double)bounds_us[b - 1] : 0, hi = (double)bounds_us[b];
            return (int64_t)(lo + (hi - lo) * (rank - (double)below) / (double)counts[b]);
        }
        below += counts[b];
    }
    return bounds_us[METRICS_NBUCKETS - 1];
}

/* ---- the text format ----------------------------------------------------------------- */

/* A label value: backslash, double quote and line feed escaped (format 0.0.4). */
static int put_value(struct buf *out, const char *v)
{
    for (const char *p = v; *p; p++) {
        int rc;
        if (*p == '\\' || *p == '"')
            rc = buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            rc = buf_append(out, "\\n", 2);
        else
            rc = buf_append(out, p, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* {node="...",a="x",le="0.5"}, or nothing when there is no label at all. */
static int put_labels(struct buf *out, const struct family *f, const struct series *s,
                      const char *le)
{
    unsigned n = nlabels(f);
    bool first = true;
    int rc = 0;
    const char *names[METRICS_MAX_LABELS + 2], *values[METRICS_MAX_LABELS + 2];
    unsigned k = 0;
    if (node_label[0]) {
        names[k] = "node";
        values[k++] = node_label;
    }
    for (unsigned i = 0; i < n; i++) {
        names[k] = f->labels[i];
        values[k++] = s ? s->values[i] : "";
    }
    if (le) {
        names[k] = "le";
        values[k++] = le;
    }
    for (unsigned i = 0; i < k && rc == 0; i++) {
        rc = buf_printf(out, "%s%s=\"", first ? "{" : ",", names[i]);
        first = false;
        if (rc == 0)
            rc = put_value(out, values[i]);
        if (rc == 0)
            rc = buf_append(out, "\"", 1);
    }
    if (rc == 0 && !first)
        rc = buf_append(out, "}", 1);
    return rc;
}

static int put_series(struct buf *out, const struct family *f, const struct series *s)
{
    int rc = 0;
    if (f->type != T_histogram) {
        int64_t v = s ? atomic_load_explicit(&s->value, memory_order_relaxed) : 0;
        if ((rc = buf_printf(out, "%s", f->name)) == 0 && (rc = put_labels(out, f, s, NULL)) == 0)
            rc = buf_printf(out, " %lld\n", (long long)v);
        return rc;
    }
    uint64_t counts[METRICS_NBUCKETS + 1] = {0}, sum = 0, cum = 0;
    if (s)
        add_hist((struct series *)s, counts, &sum);
    for (unsigned b = 0; b <= METRICS_NBUCKETS && rc == 0; b++) {
        char le[32];
        if (b < METRICS_NBUCKETS)
            snprintf(le, sizeof(le), "%g", (double)bounds_us[b] / 1e6);
        else
            snprintf(le, sizeof(le), "+Inf");
        cum += counts[b];
        if ((rc = buf_printf(out, "%s_bucket", f->name)) == 0 &&
            (rc = put_labels(out, f, s, le)) == 0)
            rc = buf_printf(out, " %llu\n", (unsigned long long)cum);
    }
    if (rc == 0 && (rc = buf_printf(out, "%s_sum", f->name)) == 0 &&
        (rc = put_labels(out, f, s, NULL)) == 0)
        rc = buf_printf(out, " %.6f\n", (double)sum / 1e6);
    if (rc == 0 && (rc = buf_printf(out, "%s_count", f->name)) == 0 &&
        (rc = put_labels(out, f, s, NULL)) == 0)
        rc = buf_printf(out, " %llu\n", (unsigned long long)cum);
    return rc;
}

int metrics_render(struct buf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    int rc = 0;
    for (unsigned id = 0; id < METRIC__COUNT && rc == 0; id++) {
        const struct family *f = &families[id];
        rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                        type_names[f->type]);
        bool any = false;
        for (unsigned i = 0; i < SLOTS && rc == 0; i++) {
            struct series *s = atomic_load_explicit(&f->slot[i], memory_order_acquire);
            if (s) {
                rc = put_series(out, f, s);
                any = true;
            }
        }
        /* A family without labels always has its one series, zero until it moves. */
        if (rc == 0 && !any && nlabels(f) == 0)
            rc = put_series(out, f, NULL);
    }
    return rc;
}

void metrics_reset(void)
{
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    for (unsigned id = 0; id < METRIC__COUNT; id++) {
        struct family *f = &families[id];
        pthread_mutex_lock(&f->mu);
        for (unsigned i = 0; i < SLOTS; i++) {
            struct series *s = atomic_exchange(&f->slot[i], NULL);
            if (s)
                series_free(s);
        }
        f->n = 0;
        pthread_mutex_unlock(&f->mu);
    }
}
