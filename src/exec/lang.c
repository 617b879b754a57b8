/* lang: resident sandboxed language workers, one per workspace owner; see lang.h. */
#include "exec/lang.h"

#include "base/embed.h"
#include "base/log.h"
#include "base/utf8.h"
#include "exec/supervisor.h"
#include "store/store.h"
#include "workspace/path.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The worker's program, src/exec/lang_worker.py (base/embed.h): it is given to the sandboxed
 * python3 with -c, so nothing has to be installed where a sandbox can see it. */
EMBED_TEXT(lang_worker_py, "src/exec/lang_worker.py");

/* What a worker was given of one workspace: path and etag per file. */
struct sent {
    int64_t ws;
    char *path;
    char etag[STORE_ETAG_LEN + 1];
    size_t size; /* bytes */
};

struct worker {
    /* guarded by lang.mu */
    int64_t owner;    /* 0: a free slot */
    unsigned users;   /* calls holding or waiting for this worker */
    uint64_t last_ms; /* end of its last request (CLOCK_MONOTONIC) */
    /* guarded by mu: one request at a time */
    pthread_mutex_t mu;
    struct sup_proc *proc; /* NULL: not started, or ended */
    int in, out;           /* our ends of its stdin and stdout */
    bool fresh;            /* still importing and indexing (start_ms applies); also read
                              without mu, atomically, as a hint (lang_call's wait) */
    uint64_t next_id;
    struct sent *sent;
    size_t nsent, capsent;
    char *rbuf; /* reply being read */
    size_t rlen, rcap;
};

struct lang {
    struct lang_config cfg;
    char preload[512];
    struct store *store;
    struct sup *sup;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the sweeper to stop */
    bool stopping;
    bool sweeper_started;
    pthread_t sweeper;
    struct worker *w; /* cfg.max_workers slots */
    /* counters (lang_stats), updated atomically */
    uint64_t requests, started, timeouts, failures;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sent_clear(struct worker *w)
{
    for (size_t i = 0; i < w->nsent; i++)
        free(w->sent[i].path);
    w->nsent = 0;
}

/* Ends w's sandbox (closing the channel kills it) and forgets what it was given. */
static void worker_stop(struct worker *w)
{
    if (w->proc) {
        if (w->in >= 0)
            close(w->in);
        if (w->out >= 0)
            close(w->out);
        sup_proc_free(w->proc);
    }
    w->proc = NULL;
    w->in = w->out = -1;
    __atomic_store_n(&w->fresh, false, __ATOMIC_RELAXED);
    w->rlen = 0;
    sent_clear(w);
}

static int worker_start(struct lang *l, struct worker *w, struct err *err)
{
    const char *argv[] = {"python3", "-I", "-c", lang_worker_py, l->preload, NULL};
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
    int fl = fcntl(p->io.in, F_GETFL);
    if (fl < 0 || fcntl(p->io.in, F_SETFL, fl | O_NONBLOCK) < 0) {
        r = err_set(err, errno, "worker stdin");
        close(p->io.in);
        close(p->io.out);
        sup_proc_free(p);
        return r;
    }
    __atomic_fetch_add(&l->started, 1, __ATOMIC_RELAXED);
    w->proc = p;
    w->in = p->io.in;
    w->out = p->io.out;
    __atomic_store_n(&w->fresh, true, __ATOMIC_RELAXED);
    w->rlen = 0;
    sent_clear(w);
    return 0;
}

/* true when w's sandbox has ended (a limit, its lifetime, a crash). */
static bool worker_ended(struct worker *w)
{
    struct sb_result res;
    int r = sup_result(w->proc, &res);
    return r != -EAGAIN;
}

static bool python_file(const struct store_file *f, size_t max)
{
    size_t n = strlen(f->path);
    if (f->kind != STORE_KIND_FILE || f->size < 0 || (size_t)f->size > max)
        return false;
    return (n > 3 && strcmp(f->path + n - 3, ".py") == 0) ||
           (n > 4 && strcmp(f->path + n - 4, ".pyi") == 0);
}

static struct sent *sent_find(struct worker *w, int64_t ws, const char *path)
{
    for (size_t i = 0; i < w->nsent; i++)
        if (w->sent[i].ws == ws && strcmp(w->sent[i].path, path) == 0)
            return &w->sent[i];
    return NULL;
}

/* Adds to rq what the worker needs to bring its copy of ws up to date: "files" (changed
 * or new Python files) and "drop" (gone ones), and records them as given. Files past the
 * sync budget are left out (imports of them then simply do not resolve). */
static int sync_files(struct lang *l, struct worker *w, int64_t ws, json_t *rq, struct err *err)
{
    struct store_file_list *list = NULL;
    int r = store_file_list(l->store, ws, false, &list, err);
    if (r < 0)
        return r;
    json_t *files = json_object(), *drop = json_array();
    bool *keep = calloc(w->capsent + 1, sizeof(*keep)); /* one per slot of w->sent */
    size_t budget = l->cfg.sync_bytes;
    if (!files || !drop || !keep) {
        r = err_set(err, ENOMEM, "sync");
        goto out;
    }
    for (size_t i = 0; i < list->n; i++) {
        const struct store_file *f = &list->items[i];
        if (!python_file(f, l->cfg.max_file_bytes) || (size_t)f->size > budget)
            continue;
        budget -= (size_t)f->size;
        struct sent *s = sent_find(w, ws, f->path);
        if (s && strcmp(s->etag, f->etag) == 0) {
            keep[s - w->sent] = true;
            continue;
        }
        struct store_file *full = NULL;
        if (store_file_get(l->store, ws, f->path, true, &full, NULL) < 0)
            continue; /* deleted meanwhile */
        if (!full->content || !utf8_valid(full->content, (size_t)full->size)) {
            store_file_free(full);
            continue;
        }
        json_object_set_new(files, full->path, json_stringn(full->content, (size_t)full->size));
        if (!s) {
            if (w->nsent == w->capsent) {
                size_t cap = w->capsent ? 2 * w->capsent : 16;
                struct sent *ns = realloc(w->sent, cap * sizeof(*ns));
                bool *nk = realloc(keep, (cap + 1) * sizeof(*nk));
                if (nk)
                    keep = nk;
                if (!ns || !nk) {
                    if (ns)
                        w->sent = ns;
                    store_file_free(full);
                    r = err_set(err, ENOMEM, "sync");
                    goto out;
                }
                w->sent = ns;
                w->capsent = cap;
            }
            s = &w->sent[w->nsent];
            s->path = strdup(full->path);
            if (!s->path) {
                store_file_free(full);
                r = err_set(err, ENOMEM, "sync");
                goto out;
            }
            s->ws = ws;
            keep[w->nsent] = true;
            w->nsent++;
        } else {
            keep[s - w->sent] = true;
        }
        snprintf(s->etag, sizeof(s->etag), "%s", full->etag);
        s->size = (size_t)full->size;
        store_file_free(full);
    }
    /* What this workspace no longer has goes; other workspaces' entries stay. */
    size_t j = 0;
    for (size_t i = 0; i < w->nsent; i++) {
        if (w->sent[i].ws == ws && !keep[i]) {
            json_array_append_new(drop, json_string(w->sent[i].path));
            free(w->sent[i].path);
            continue;
        }
        w->sent[j++] = w->sent[i];
    }
    w->nsent = j;
    json_object_set(rq, "files", files);
    json_object_set(rq, "drop", drop);
out:
    free(keep);
    json_decref(files);
    json_decref(drop);
    store_file_list_free(list);
    return r;
}

static int remaining(uint64_t deadline)
{
    uint64_t now = now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

static int write_all(int fd, const char *data, size_t len, uint64_t deadline)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -EPIPE;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int t = remaining(deadline);
        if (t == 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, t) < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* Reads one line (the answer) into w->rbuf; w->rlen is its length without the newline. */
static int read_line(struct worker *w, uint64_t deadline)
{
    w->rlen = 0;
    for (;;) {
        if (w->rcap - w->rlen < 65536) {
            size_t cap = w->rcap ? 2 * w->rcap : 131072;
            if (cap > LANG_MAX_REPLY + 65536)
                return -EMSGSIZE;
            char *nb = realloc(w->rbuf, cap);
            if (!nb)
                return -ENOMEM;
            w->rbuf = nb;
            w->rcap = cap;
        }
        struct pollfd p = {.fd = w->out, .events = POLLIN};
        int t = remaining(deadline);
        if (t == 0)
            return -ETIMEDOUT;
        int pr = poll(&p, 1, t);
        if (pr < 0 && errno != EINTR)
            return -errno;
        if (pr <= 0)
            continue;
        ssize_t n = read(w->out, w->rbuf + w->rlen, w->rcap - w->rlen);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -EPIPE;
        char *nl = memchr(w->rbuf + w->rlen, '\n', (size_t)n);
        w->rlen += (size_t)n;
        if (nl) {
            /* One request, one line: anything after it is not an answer of ours. */
            if ((size_t)(nl - w->rbuf) + 1 != w->rlen)
                return -EPROTO;
            w->rlen = (size_t)(nl - w->rbuf);
            return 0;
        }
        if (w->rlen > LANG_MAX_REPLY)
            return -EMSGSIZE;
    }
}

/* Sends rq and reads the answer, within the time the worker has. */
static int exchange(struct lang *l, struct worker *w, json_t *rq, json_t **ret, struct err *err)
{
    uint64_t timeout = w->fresh ? l->cfg.start_ms : l->cfg.timeout_ms;
    uint64_t deadline = now_ms() + timeout;
    json_int_t id = (json_int_t)++w->next_id;
    json_object_set_new(rq, "id", json_integer(id));
    /* The worker stops a slow analysis itself a little before we would kill it, so that
     * one pathological request does not cost the warm interpreter. */
    json_object_set_new(rq, "deadline_ms", json_integer((json_int_t)(timeout * 4 / 5)));
    char *text = json_dumps(rq, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text)
        return err_set(err, ENOMEM, "encode request");
    size_t len = strlen(text);
    int r = write_all(w->in, text, len, deadline);
    if (r == 0)
        r = write_all(w->in, "\n", 1, deadline);
    free(text);
    if (r == 0)
        r = read_line(w, deadline);
    if (r < 0) {
        if (r == -ETIMEDOUT)
            return err_set(err, ETIMEDOUT, "the language worker took more than %llu ms",
                           (unsigned long long)timeout);
        return err_set(err, EPIPE, "the language worker failed (%s)", strerror(-r));
    }
    json_error_t je;
    json_t *reply = json_loadb(w->rbuf, w->rlen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(reply) || !json_is_integer(json_object_get(reply, "id")) ||
        json_integer_value(json_object_get(reply, "id")) != id) {
        json_decref(reply);
        return err_set(err, EPIPE, "the language worker answered nonsense");
    }
    json_object_del(reply, "id");
    *ret = reply;
    return 0;
}

/* Finds or makes the owner's worker and counts the caller in; NULL when every slot is
 * busy. */
static struct worker *acquire(struct lang *l, int64_t owner)
{
    struct worker *found = NULL, *lru = NULL;
    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; i < l->cfg.max_workers && !found; i++) {
        struct worker *w = &l->w[i];
        if (w->owner == owner)
            found = w;
        else if (w->owner == 0)
            lru = w; /* a free slot beats any idle worker */
        else if (w->users == 0 && (!lru || (lru->owner != 0 && w->last_ms < lru->last_ms)))
            lru = w;
    }
    if (!found && lru) {
        /* nobody uses it (users == 0), so nobody holds its mutex */
        worker_stop(lru);
        lru->owner = owner;
        found = lru;
    }
    if (found)
        found->users++;
    pthread_mutex_unlock(&l->mu);
    return found;
}

static void release(struct lang *l, struct worker *w)
{
    pthread_mutex_lock(&l->mu);
    w->users--;
    w->last_ms = now_ms();
    pthread_mutex_unlock(&l->mu);
}

int lang_call(struct lang *l, int64_t owner, int64_t ws, json_t *rq, json_t **ret, struct err *err)
{
    if (!l->sup)
        return err_set(err, ENOTSUP, "sandboxes are not available on this node");
    struct worker *w = acquire(l, owner);
    if (!w)
        return err_set(err, EAGAIN, "every language worker of this node is busy");
    /* Waiting for the same owner's earlier request counts against this one's time (the
     * start-up time while the worker warms up: a warm-up step delays whoever is served). */
    uint64_t wait =
        __atomic_load_n(&w->fresh, __ATOMIC_RELAXED) ? l->cfg.start_ms : l->cfg.timeout_ms;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(wait / 1000);
    until.tv_nsec += (long)(wait % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&w->mu, &until) != 0) {
        release(l, w);
        return err_set(err, EAGAIN, "your language worker is busy");
    }
    int r = 0;
    if (w->proc && worker_ended(w))
        worker_stop(w);
    if (!w->proc) {
        r = worker_start(l, w, err);
        if (r < 0) {
            log_event(LOG_ERROR, "language worker did not start",
                      json_pack("{s:I,s:s}", "owner", (json_int_t)owner, "error", err->msg));
            r = -EIO;
            goto out;
        }
    }
    json_object_set_new(rq, "ws", json_integer((json_int_t)ws));
    r = sync_files(l, w, ws, rq, err);
    if (r == 0)
        r = exchange(l, w, rq, ret, err);
    if (r == -ETIMEDOUT)
        __atomic_fetch_add(&l->timeouts, 1, __ATOMIC_RELAXED);
    else if (r == -EPIPE)
        __atomic_fetch_add(&l->failures, 1, __ATOMIC_RELAXED);
    else if (r == 0)
        __atomic_fetch_add(&l->requests, 1, __ATOMIC_RELAXED);
    if (r == -ETIMEDOUT || r == -EPIPE) {
        log_event(LOG_WARN, "language worker ended",
                  json_pack("{s:I,s:I,s:s}", "owner", (json_int_t)owner, "sandbox",
                            (json_int_t)(w->proc ? w->proc->id : 0), "reason", err->msg));
        worker_stop(w);
    } else if (r < 0) {
        worker_stop(w); /* what it was given is unknown now */
    } else {
        /* Still warming up in idle time: the next request gets the start-up time too. */
        __atomic_store_n(&w->fresh, json_is_true(json_object_get(*ret, "warming")),
                         __ATOMIC_RELAXED);
        json_object_del(*ret, "warming");
    }
out:
    pthread_mutex_unlock(&w->mu);
    release(l, w);
    return r;
}

#define MAX_ITEMS 500 /* items kept from a worker's answer */

/* ---- answers, checked and rebuilt ----------------------------------------------------- */

static json_t *str_or(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_copy(v) : json_string(dflt);
}

/* A non-negative integer member below max, or -1. */
static json_int_t int_in(json_t *o, const char *key, json_int_t max)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    return json_integer_value(v);
}

static json_t *rebuild_complete(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= MAX_ITEMS)
            break;
        if (!json_is_object(it) || !json_is_string(json_object_get(it, "label")))
            continue;
        json_array_append_new(
            items, json_pack("{s:o,s:o,s:o,s:o}", "label", str_or(it, "label", ""), "kind",
                             str_or(it, "kind", ""), "detail", str_or(it, "detail", ""), "insert",
                             str_or(it, "insert", "")));
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_signature(json_t *ok)
{
    json_t *sigs = json_array(), *in = json_object_get(ok, "signatures");
    size_t i, j;
    json_t *s, *p;
    json_array_foreach(in, i, s)
    {
        if (i >= 16)
            break;
        if (!json_is_object(s) || !json_is_string(json_object_get(s, "label")))
            continue;
        json_t *params = json_array();
        json_array_foreach(json_object_get(s, "params"), j, p)
        {
            if (j < 64 && json_is_string(p))
                json_array_append(params, p);
        }
        json_int_t active = int_in(s, "active_param", 1000);
        json_array_append_new(sigs, json_pack("{s:o,s:o,s:o,s:o}", "label", str_or(s, "label", ""),
                                              "params", params, "active_param",
                                              active < 0 ? json_null() : json_integer(active),
                                              "doc", str_or(s, "doc", "")));
    }
    return json_pack("{s:o}", "signatures", sigs);
}

static json_t *rebuild_hover(json_t *ok)
{
    return json_pack("{s:o}", "markdown", str_or(ok, "markdown", ""));
}

static json_t *rebuild_definition(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= 16)
            break;
        json_int_t line = int_in(it, "line", 1 << 30), col = int_in(it, "column", 1 << 30);
        if (!json_is_object(it) || line < 1 || col < 0)
            continue;
        json_t *path = json_object_get(it, "path");
        const char *reason;
        if (json_is_string(path)) {
            /* A workspace file: a path by our rules, or nothing. */
            if (path_check(json_string_value(path), json_string_length(path), &reason) < 0)
                continue;
            json_array_append_new(
                items, json_pack("{s:O,s:I,s:I}", "path", path, "line", line, "column", col));
        } else if (json_is_string(json_object_get(it, "text"))) {
            /* A library's source, shown read-only. */
            json_array_append_new(items, json_pack("{s:n,s:o,s:I,s:I,s:o}", "path", "module",
                                                   str_or(it, "module", ""), "line", line, "column",
                                                   col, "text", str_or(it, "text", "")));
        }
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_diagnostics(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= MAX_ITEMS)
            break;
        json_int_t line = int_in(it, "line", 1 << 30), col = int_in(it, "column", 1 << 30);
        json_int_t eline = int_in(it, "end_line", 1 << 30),
                   ecol = int_in(it, "end_column", 1 << 30);
        const char *sev = json_string_value(json_object_get(it, "severity"));
        if (line < 1 || col < 0 || eline < line || ecol < 0 || !sev ||
            (strcmp(sev, "error") != 0 && strcmp(sev, "warning") != 0))
            continue;
        json_array_append_new(
            items, json_pack("{s:I,s:I,s:I,s:I,s:s,s:o,s:o}", "line", line, "column", col,
                             "end_line", eline, "end_column", ecol, "severity", sev, "message",
                             str_or(it, "message", ""), "code", str_or(it, "code", "")));
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_format(json_t *ok)
{
    json_t *src = json_object_get(ok, "source");
    return json_is_string(src) ? json_pack("{s:O}", "source", src) : NULL;
}

json_t *lang_answer(const char *op, json_t *ok)
{
    if (!json_is_object(ok))
        return NULL;
    if (strcmp(op, "complete") == 0)
        return rebuild_complete(ok);
    if (strcmp(op, "signature") == 0)
        return rebuild_signature(ok);
    if (strcmp(op, "hover") == 0)
        return rebuild_hover(ok);
    if (strcmp(op, "definition") == 0)
        return rebuild_definition(ok);
    if (strcmp(op, "diagnostics") == 0)
        return rebuild_diagnostics(ok);
    if (strcmp(op, "format") == 0)
        return rebuild_format(ok);
    return NULL;
}

/* Ends workers idle past idle_ms, and those whose sandbox has ended. */
static void *sweeper_main(void *arg)
{
    struct lang *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stopping) {
        uint64_t period = l->cfg.idle_ms / 4;
        if (period < 200)
            period = 200;
        if (period > 5000)
            period = 5000;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(period / 1000);
        ts.tv_nsec += (long)(period % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        uint64_t now = now_ms();
        for (unsigned i = 0; i < l->cfg.max_workers; i++) {
            struct worker *w = &l->w[i];
            if (w->owner == 0 || w->users > 0)
                continue;
            if (now - w->last_ms >= l->cfg.idle_ms || !w->proc || worker_ended(w)) {
                worker_stop(w);
                w->owner = 0;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
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
    snprintf(l->preload, sizeof(l->preload), "%s", cfg->preload ? cfg->preload : "");
    l->cfg.preload = l->preload;
    l->store = store;
    l->sup = sup;
    l->w = calloc(l->cfg.max_workers, sizeof(*l->w));
    if (!l->w) {
        free(l);
        return err_set(err, ENOMEM, "lang");
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    for (unsigned i = 0; i < l->cfg.max_workers; i++) {
        pthread_mutex_init(&l->w[i].mu, NULL);
        l->w[i].in = l->w[i].out = -1;
    }
    if (pthread_create(&l->sweeper, NULL, sweeper_main, l) != 0) {
        lang_free(l);
        return err_set(err, EAGAIN, "lang sweeper thread");
    }
    l->sweeper_started = true;
    *ret = l;
    return 0;
}

void lang_free(struct lang *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->sweeper_started)
        pthread_join(l->sweeper, NULL);
    for (unsigned i = 0; i < l->cfg.max_workers; i++) {
        worker_stop(&l->w[i]);
        free(l->w[i].sent);
        free(l->w[i].rbuf);
        pthread_mutex_destroy(&l->w[i].mu);
    }
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->w);
    free(l);
}

void lang_stats(struct lang *l, struct lang_stats *ret)
{
    memset(ret, 0, sizeof(*ret));
    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; i < l->cfg.max_workers; i++)
        ret->workers += l->w[i].owner != 0 && l->w[i].users + (l->w[i].proc != NULL) > 0;
    pthread_mutex_unlock(&l->mu);
    ret->requests = __atomic_load_n(&l->requests, __ATOMIC_RELAXED);
    ret->started = __atomic_load_n(&l->started, __ATOMIC_RELAXED);
    ret->timeouts = __atomic_load_n(&l->timeouts, __ATOMIC_RELAXED);
    ret->failures = __atomic_load_n(&l->failures, __ATOMIC_RELAXED);
}
