/* cluster: node identity, heartbeats, reaping dead peers, and the bus; see cluster.h. */
#include "api/cluster.h"

#include "api/drain.h"
#include "api/limits.h"
#include "api/live.h"
#include "auth/token.h"
#include "base/clock.h"
#include "base/log.h"
#include "exec/terminals.h"
#include "store/nodes.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUS_CHANNEL "pyroom_bus"
#define STOPPED     "the node running it stopped answering (no heartbeat)"

struct cluster {
    struct api *api;
    char id[STORE_NODE_ID_MAX];
    char advertise[300];
    char token[TOKEN_SIZE];
    int lock_fd;        /* DATA_DIR/node.lock, held while we live */
    int64_t timeout_ms; /* a node silent this long is dead */
    struct store_bus *bus;
    pthread_t beat_thread, bus_thread;
    bool beat_started, bus_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    /* Since when our heartbeats have all succeeded (ms; under mu). After a database
     * outage every node's last beat is old: nobody reaps until everyone had a whole
     * timeout to beat again. */
    int64_t healthy_since;
};

static struct cluster *g_cluster; /* one struct api per process */

struct cluster *api_cluster(void)
{
    return g_cluster;
}

const char *cluster_node(const struct cluster *c)
{
    return c->id;
}

struct store *cluster_store(const struct cluster *c)
{
    return c->api->store;
}

bool cluster_has_bus(const struct cluster *c)
{
    return c && c->bus;
}

bool cluster_token_ok(const struct cluster *c, const char *token)
{
    size_t n = strlen(c->token);
    return token && strlen(token) == n && sodium_memcmp(token, c->token, n) == 0;
}

/* The default address: --listen, with a wildcard host replaced by the host name. */
static void default_advertise(const struct settings *s, char *out, size_t len)
{
    const char *colon = strrchr(s->listen, ':');
    const char *port = colon ? colon + 1 : "8080";
    size_t hl = colon ? (size_t)(colon - s->listen) : strlen(s->listen);
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)hl, s->listen);
    if (!strcmp(host, "0.0.0.0") || !strcmp(host, "[::]") || !strcmp(host, "::") || !*host) {
        if (gethostname(host, sizeof(host) - 1) < 0)
            snprintf(host, sizeof(host), "localhost");
    }
    snprintf(out, len, "http://%s:%s", host, port);
}

/* The previous process on this data directory, if it is certainly dead: we hold the lock
 * it held while alive. Records our id for the next one. */
static void predecessor(struct cluster *c, char *ret, size_t len)
{
    const struct settings *s = c->api->cfg;
    char path[4200];
    *ret = '\0';
    snprintf(path, sizeof(path), "%s/node.lock", s->data_dir);
    c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (c->lock_fd < 0 || flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return; /* another live process shares the directory: leave its node alone */
    /* Our pid, for `pyroom drain` (main.c), which signals us and waits for the lock. */
    char pid[32];
    int pl = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(c->lock_fd, 0) == 0 && pwrite(c->lock_fd, pid, (size_t)pl, 0) != pl)
        log_event(LOG_WARN, "could not record the pid for `pyroom drain`", NULL);
    snprintf(path, sizeof(path), "%s/node.id", s->data_dir);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fgets(ret, (int)len, f))
            ret[strcspn(ret, "\r\n")] = '\0';
        fclose(f);
    }
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "we");
    if (f) {
        fprintf(f, "%s\n", c->id);
        if (fclose(f) == 0)
            (void)rename(tmp, path);
    }
}

/* Ends what dead node id owned; reason is what its failed runs say. */
static void reap(struct cluster *c, const char *id, const char *why, const char *reason)
{
    struct err e = {0};
    int runs = 0;
    if (store_node_reap(c->api->store, id, reason, &runs, &e) < 0) {
        log_event(LOG_WARN, "could not reap a dead node",
                  json_pack("{s:s,s:s}", "node", id, "error", e.msg));
        return;
    }
    log_event(LOG_WARN, "dead node reaped",
              json_pack("{s:s,s:s,s:i}", "node", id, "why", why, "runs_failed", runs));
}

static bool may_reap(struct cluster *c)
{
    pthread_mutex_lock(&c->mu);
    bool ok = c->healthy_since && store_now_ms() - c->healthy_since >= c->timeout_ms;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Reaps the nodes that stopped beating (and, at start, our address's predecessors). */
static void reap_dead(struct cluster *c, bool at_start)
{
    if (!at_start && !may_reap(c))
        return;
    char **ids = NULL;
    size_t n = 0;
    struct err e = {0};
    /* Not "a SQLite database has one node": two processes may share one SQLite file (one
     * host, two ports), so a fresh heartbeat is a live peer whatever the driver. A restart
     * on the same data directory finds its dead predecessor through node.lock instead. */
    int64_t stale = store_now_ms() - c->timeout_ms;
    if (store_nodes_dead(c->api->store, c->id, stale, at_start ? c->advertise : NULL, &ids, &n,
                         &e) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        reap(c, ids[i], "no heartbeat, or its address was taken over",
             at_start ? "the node running it stopped or restarted" : STOPPED);
    store_node_ids_free(ids, n);
}

int cluster_start(struct api *api, struct cluster **ret, struct err *err)
{
    const struct settings *s = api->cfg;
    struct cluster *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, ENOMEM, "cluster");
    c->api = api;
    c->lock_fd = -1;
    c->timeout_ms = (int64_t)(s->node_timeout ? s->node_timeout : 15) * 1000;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    unsigned char raw[8];
    randombytes_buf(raw, sizeof(raw));
    c->id[0] = 'n';
    sodium_bin2hex(c->id + 1, sizeof(c->id) - 1, raw, sizeof(raw));
    if (*s->advertise)
        snprintf(c->advertise, sizeof(c->advertise), "%s", s->advertise);
    else
        default_advertise(s, c->advertise, sizeof(c->advertise));
    if (strncmp(c->advertise, "http://", 7) != 0) {
        free(c);
        return err_set(err, EINVAL, "--advertise must be an http://HOST:PORT URL");
    }
    if (token_new("pyrn_", c->token) < 0) {
        free(c);
        return err_set(err, EIO, "node token");
    }
    (void)mkdir(s->data_dir, 0755);
    char prev[STORE_NODE_ID_MAX + 8];
    predecessor(c, prev, sizeof(prev));
    int rc = store_node_join(api->store, c->id, c->advertise, c->token, err);
    if (rc < 0) {
        cluster_stop(c);
        return rc;
    }
    if (*prev && strcmp(prev, c->id))
        reap(c, prev, "this node's previous process", "the server restarted while it ran");
    reap_dead(c, true);
    int n = 0;
    if (store_runs_fail_orphans(api->store, "the server restarted while it ran", &n, NULL) == 0 &&
        n)
        log_event(LOG_WARN, "runs of no known node marked failed", json_pack("{s:i}", "count", n));
    struct err be = {0};
    if (store_bus_open(api->store, BUS_CHANNEL, &c->bus, &be) < 0 && be.code != ENOTSUP)
        log_event(LOG_WARN, "cluster bus unavailable; retrying",
                  json_pack("{s:s}", "error", be.msg));
    log_event(LOG_INFO, "node joined",
              json_pack("{s:s,s:s,s:b}", "node", c->id, "advertise", c->advertise, "bus",
                        c->bus != NULL));
    c->healthy_since = store_now_ms();
    g_cluster = c;
    *ret = c;
    return 0;
}

/* Waits ms unless stopping; returns false when stopping. */
static bool pause_ms(struct cluster *c, int64_t ms)
{
    struct timespec ts = clock_deadline((unsigned)ms);
    pthread_mutex_lock(&c->mu);
    while (!c->stop)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
            break;
    bool go = !c->stop;
    pthread_mutex_unlock(&c->mu);
    return go;
}

static void *beat_main(void *arg)
{
    struct cluster *c = arg;
    bool failing = false;
    while (pause_ms(c, c->timeout_ms / 5)) {
        struct err e = {0};
        int rc = store_node_beat(c->api->store, c->id, &e);
        if (rc == -ENOENT) {
            log_event(LOG_WARN, "this node was declared dead by its peers; joining again",
                      json_pack("{s:s}", "node", c->id));
            rc = store_node_join(c->api->store, c->id, c->advertise, c->token, &e);
            if (rc == 0 && api_draining())
                rc = store_node_drain(c->api->store, c->id, &e);
        }
        if (rc < 0) {
            if (!failing)
                log_event(LOG_WARN, "heartbeat failed", json_pack("{s:s}", "error", e.msg));
            failing = true;
            pthread_mutex_lock(&c->mu);
            c->healthy_since = 0;
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        pthread_mutex_lock(&c->mu);
        if (!c->healthy_since)
            c->healthy_since = store_now_ms();
        pthread_mutex_unlock(&c->mu);
        if (failing)
            log_event(LOG_INFO, "heartbeat back", NULL);
        failing = false;
        reap_dead(c, false);
        api_limits_expire(c->api);
    }
    return NULL;
}

/* ---- the bus ----------------------------------------------------------------------------- */

static void send_json(struct cluster *c, json_t *msg)
{
    if (!msg)
        return;
    json_object_set_new(msg, "n", json_string(c->id));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    struct err e = {0};
    int rc = store_notify(c->api->store, BUS_CHANNEL, text, &e);
    free(text);
    if (rc < 0 && rc != -ENOTSUP)
        log_event(LOG_WARN, "bus send failed", json_pack("{s:s}", "error", e.msg));
}

/* Sends a workspace event m (consumed); one too large for a notice becomes `resync`: the
 * subscribers reload instead. */
static void send_event(struct cluster *c, int64_t ws, json_t *m)
{
    char *probe = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (probe && strlen(probe) + 64 > STORE_NOTIFY_MAX) {
        json_decref(m);
        m = json_pack("{s:s,s:I}", "k", "resync", "ws", (json_int_t)ws);
    }
    free(probe);
    send_json(c, m);
}

void cluster_send_event(struct cluster *c, int64_t ws, const char *type, const char *path,
                        const char *etag, const char *message, bool apply)
{
    if (!c || !c->bus)
        return;
    send_event(c, ws,
               json_pack("{s:s,s:I,s:s,s:s?,s:s?,s:s?,s:b}", "k", "ev", "ws", (json_int_t)ws,
                         "type", type, "path", path, "etag", etag, "msg", message, "apply", apply));
}

void cluster_send_event_json(struct cluster *c, int64_t ws, const char *type, json_t *data)
{
    if (!c || !c->bus)
        return;
    send_event(c, ws,
               json_pack("{s:s,s:I,s:s,s:O}", "k", "evj", "ws", (json_int_t)ws, "type", type,
                         "data", data));
}

#define USERS_PER_NOTICE 400 /* user ids per "user" message: far below STORE_NOTIFY_MAX */

void cluster_send_users(struct cluster *c, const int64_t *users, size_t n, const char *type,
                        json_t *data)
{
    if (!c || !c->bus)
        return;
    for (size_t at = 0; at < n; at += USERS_PER_NOTICE) {
        json_t *ids = json_array();
        for (size_t i = at; i < n && i < at + USERS_PER_NOTICE; i++)
            json_array_append_new(ids, json_integer(users[i]));
        json_t *m =
            json_pack("{s:s,s:o,s:s,s:O}", "k", "user", "users", ids, "type", type, "data", data);
        char *probe = m ? json_dumps(m, JSON_COMPACT) : NULL;
        if (probe && strlen(probe) + 64 > STORE_NOTIFY_MAX) {
            /* data too large to carry: the streams refetch instead */
            json_object_set_new(m, "type", json_string(EVENT_USER(resync)));
            json_object_set_new(m, "data", json_object());
        }
        free(probe);
        send_json(c, m);
    }
}

void cluster_send_revoke(struct cluster *c, int64_t user_id, const char *session_hash,
                         int64_t token_id)
{
    if (!c || !c->bus)
        return;
    send_json(c,
              json_pack("{s:s,s:I,s:s,s:I}", "k", "revoke", "user", (json_int_t)user_id, "session",
                        session_hash ? session_hash : "", "token", (json_int_t)token_id));
}

static void on_notice(void *ctx, const char *payload)
{
    struct cluster *c = ctx;
    json_error_t je;
    json_t *m = json_loads(payload, JSON_REJECT_DUPLICATES, &je);
    const char *from = json_string_value(json_object_get(m, "n"));
    const char *kind = json_string_value(json_object_get(m, "k"));
    if (!m || !from || !kind || !strcmp(from, c->id))
        goto out;
    int64_t ws = json_integer_value(json_object_get(m, "ws"));
    if (!strcmp(kind, "ev") && ws > 0) {
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *path = json_string_value(json_object_get(m, "path"));
        const char *etag = json_string_value(json_object_get(m, "etag"));
        const char *msg = json_string_value(json_object_get(m, "msg"));
        if (!type || !path)
            goto out;
        api_events_publish(c->api, ws, type, path, etag, msg);
        if (json_is_true(json_object_get(m, "apply"))) {
            /* The same convention as api_workspace_changed: NULL deleted, "" a folder. */
            const char *as = !strcmp(type, EVENT_WS(file_deleted))     ? NULL
                             : !strcmp(type, EVENT_WS(folder_created)) ? ""
                                                                       : etag;
            api_terms_workspace_changed(c->api, ws, path, as);
        }
    } else if (!strcmp(kind, "evj") && ws > 0) {
        const char *type = json_string_value(json_object_get(m, "type"));
        json_t *data = json_object_get(m, "data");
        if (type && json_is_object(data))
            api_events_publish_json(c->api, ws, type, data);
    } else if (!strcmp(kind, "resync") && ws > 0) {
        api_events_resync(c->api, ws);
    } else if (!strcmp(kind, "user")) {
        const char *type = json_string_value(json_object_get(m, "type"));
        json_t *ids = json_object_get(m, "users"), *data = json_object_get(m, "data");
        size_t n = json_array_size(ids);
        int64_t *users = n ? calloc(n, sizeof(*users)) : NULL;
        for (size_t i = 0; users && i < n; i++)
            users[i] = json_integer_value(json_array_get(ids, i));
        if (users && type && json_is_object(data))
            api_users_event_local(c->api, users, n, type, data);
        free(users);
    } else if (!strcmp(kind, "revoke")) {
        const char *session = json_string_value(json_object_get(m, "session"));
        api_live_revoke_local(c->api, json_integer_value(json_object_get(m, "user")),
                              session && *session ? session : NULL,
                              json_integer_value(json_object_get(m, "token")));
    }
out:
    json_decref(m);
}

static void *bus_main(void *arg)
{
    struct cluster *c = arg;
    bool lost = c->bus == NULL;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stop;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        struct err e = {0};
        if (lost) {
            int rc = c->bus ? store_bus_reopen(c->bus, &e)
                            : store_bus_open(c->api->store, BUS_CHANNEL, &c->bus, &e);
            if (rc < 0) {
                if (!pause_ms(c, 1000))
                    break;
                continue;
            }
            log_event(LOG_INFO, "cluster bus connected", NULL);
            lost = false;
            /* Notices sent while we were away are lost: every page reloads its tree. */
            api_events_resync(c->api, 0);
            continue;
        }
        if (store_bus_wait(c->bus, 500, on_notice, c, &e) < 0) {
            log_event(LOG_WARN, "cluster bus lost; reconnecting",
                      json_pack("{s:s}", "error", e.msg));
            lost = true;
        }
    }
    return NULL;
}

int cluster_run(struct cluster *c, struct err *err)
{
    if (pthread_create(&c->beat_thread, NULL, beat_main, c) != 0)
        return err_set(err, EAGAIN, "heartbeat thread");
    c->beat_started = true;
    bool pg = !strcmp(store_driver_name(c->api->store), "postgres");
    if (pg) {
        if (pthread_create(&c->bus_thread, NULL, bus_main, c) != 0)
            return err_set(err, EAGAIN, "bus thread");
        c->bus_started = true;
    }
    return 0;
}

void cluster_stop(struct cluster *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->beat_started)
        pthread_join(c->beat_thread, NULL);
    if (c->bus_started)
        pthread_join(c->bus_thread, NULL);
    if (g_cluster == c)
        g_cluster = NULL;
    store_bus_close(c->bus);
    (void)store_node_leave(c->api->store, c->id, NULL);
    if (c->lock_fd >= 0)
        close(c->lock_fd);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

int cluster_peer(struct cluster *c, const char *node, char **ret_url, char **ret_token)
{
    if (!c || !node || !strcmp(node, c->id))
        return -ENOENT;
    struct store_node *n = NULL;
    int rc = store_node_get(c->api->store, node, &n, NULL);
    if (rc < 0)
        return rc;
    if (n->heartbeat_at < store_now_ms() - c->timeout_ms && may_reap(c)) {
        /* Dead: end what it owned now rather than at our next beat, so the caller can
         * take over (a terminal's workspace opens here). */
        store_node_free(n);
        reap(c, node, "no heartbeat", STOPPED);
        return -ENOENT;
    }
    *ret_url = n->advertise;
    *ret_token = n->token;
    n->advertise = n->token = NULL;
    store_node_free(n);
    return 0;
}

int cluster_pick_peer(struct cluster *c, char **ret)
{
    if (!c)
        return -ENOENT;
    return store_node_pick(c->api->store, c->id, store_now_ms() - c->timeout_ms, ret, NULL);
}
