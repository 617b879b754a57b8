/* lang_calls: the callers' side of the language workers (see lang.h): a call's slot and
 * queue (lang_submit), a departed caller (lang_cancel), the node's figures (lang_stats). The
 * loop that answers the calls is lang.c. */
#include "base/clock.h"
#include "exec/lang.h"
#include "exec/lang_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The owner's worker slot of the kind asked for (full or light): theirs, a free one, or the
 * least recently used idle one (its process is then ended by the loop). NULL when every slot
 * of that kind is busy. mu held. */
static struct worker *slot_for(struct lang *l, int64_t owner, bool light)
{
    struct worker *lru = NULL;
    unsigned from = light ? l->cfg.max_workers : 0, to = light ? l->nslots : l->cfg.max_workers;
    for (unsigned i = from; i < to; i++) {
        struct worker *w = &l->w[i];
        if (w->owner == owner)
            return w;
        if (w->owner == 0) {
            if (!lru || lru->owner != 0)
                lru = w; /* a free slot beats any idle worker */
        } else if (!w->cur && !w->queue &&
                   (!lru || (lru->owner != 0 && w->last_ms < lru->last_ms))) {
            lru = w;
        }
    }
    if (lru) {
        lru->evict = lru->evict || lru->live || lru->owner != 0;
        lru->owner = owner;
        lru->last_ms = clock_mono_ms();
    }
    return lru;
}

int lang_submit(struct lang *l, int64_t owner, int64_t ws, const char *key, json_t *rq,
                lang_done_fn done, void *ctx, struct err *err)
{
    if (!l->sup) {
        json_decref(rq);
        return err_set(err, ENOTSUP, "sandboxes are not available on this node");
    }
    struct call *c = calloc(1, sizeof(*c));
    if (!c || (key && !(c->key = strdup(key)))) {
        free(c);
        json_decref(rq);
        return err_set(err, ENOMEM, "queue the request");
    }
    c->ws = ws;
    c->rq = rq;
    c->done = done;
    c->ctx = ctx;
    int r = 0;
    pthread_mutex_lock(&l->mu);
    /* Diagnostics go to the owner's light worker: they need no jedi and no files, and do
     * not wait behind a completion. */
    const char *op = json_string_value(json_object_get(rq, "op"));
    bool light = op && strcmp(op, "diagnostics") == 0;
    struct worker *w = l->stopping ? NULL : slot_for(l, owner, light);
    if (l->stopping) {
        r = err_set(err, ESHUTDOWN, "the server is stopping");
    } else if (!w) {
        r = err_set(err, EAGAIN, "every language worker of this node is busy");
    } else {
        /* A newer call about the same thing replaces a waiting one. */
        struct call **pp = &w->queue, *q;
        w->qtail = NULL;
        while ((q = *pp)) {
            if (key && q->key && strcmp(q->key, key) == 0) {
                *pp = q->next;
                w->nqueue--;
                l->queued--;
                lang_finished_add(l, q, -ECANCELED, NULL, "a newer request replaced this one");
                continue;
            }
            w->qtail = q;
            pp = &q->next;
        }
        if (w->nqueue >= l->cfg.queue) {
            r = err_set(err, EAGAIN, "your language worker has %u requests waiting", w->nqueue);
        } else {
            /* Waiting for the same owner's earlier calls counts against this one's time (the
             * start-up time while the worker starts or warms up). */
            bool starting = w->fresh || !w->live || w->evict;
            c->wait_until = clock_mono_ms() + (starting ? l->cfg.start_ms : l->cfg.timeout_ms);
            if (w->qtail)
                w->qtail->next = c;
            else
                w->queue = c;
            w->qtail = c;
            w->nqueue++;
            l->queued++;
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (r < 0)
        lang_call_free(c);
    lang_wake(l); /* also for a replaced call's answer */
    return r;
}

void lang_cancel(struct lang *l, void *ctx)
{
    bool found = false;
    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; i < l->nslots && !found; i++) {
        struct worker *w = &l->w[i];
        if (w->cur && w->cur->ctx == ctx) {
            w->cur->abandoned = found = true;
            break;
        }
        struct call **pp = &w->queue, *c;
        w->qtail = NULL;
        while ((c = *pp)) {
            if (!found && c->ctx == ctx) {
                *pp = c->next;
                w->nqueue--;
                l->queued--;
                lang_finished_add(l, c, -ECONNABORTED, NULL, "the client left");
                __atomic_fetch_add(&l->abandoned, 1, __ATOMIC_RELAXED);
                found = true;
                continue;
            }
            w->qtail = c;
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (found)
        lang_wake(l);
}

void lang_stats(struct lang *l, struct lang_stats *ret)
{
    memset(ret, 0, sizeof(*ret));
    pthread_mutex_lock(&l->mu);
    for (unsigned i = 0; i < l->nslots; i++)
        ret->workers += l->w[i].owner != 0 && (l->w[i].cur || l->w[i].queue || l->w[i].live);
    ret->queued = l->queued;
    pthread_mutex_unlock(&l->mu);
    ret->requests = __atomic_load_n(&l->requests, __ATOMIC_RELAXED);
    ret->started = __atomic_load_n(&l->started, __ATOMIC_RELAXED);
    ret->timeouts = __atomic_load_n(&l->timeouts, __ATOMIC_RELAXED);
    ret->failures = __atomic_load_n(&l->failures, __ATOMIC_RELAXED);
    ret->abandoned = __atomic_load_n(&l->abandoned, __ATOMIC_RELAXED);
}
