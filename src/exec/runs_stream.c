/* runs_stream: a run's event log (SSE text) and the readers that follow it; see runs.h.
 *
 * The worker appends stdout, stderr and notice events to l->events under r->mu; each reader
 * keeps its own position, so a late reader starts from the beginning. The log is bounded by
 * the output caps (each byte escapes to at most 6 in JSON). */
#include "base/buf.h"
#include "base/events.h"
#include "base/utf8.h"
#include "exec/runs_internal.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void run_notify_streams(struct live *l)
{
    for (struct run_stream *s = l->streams; s; s = s->next)
        if (s->notify)
            s->notify(s->notify_ctx);
}

void run_add_event(struct runs *r, struct live *l, const char *name, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!text)
        return;
    /* The log is bounded by the output caps (each byte escapes to at most 6). */
    (void)buf_printf(&l->events, "event: %s\ndata: %s\n\n", name, text);
    free(text);
    pthread_cond_broadcast(&r->cv);
    run_notify_streams(l);
}

/* Valid UTF-8 for JSON: invalid bytes become U+FFFD; an incomplete sequence at the end of
 * a chunk is held back in s->pending for the next one. */
static json_t *text_json(struct stream_out *s, const char *data, size_t len)
{
    struct buf in, t;
    buf_init(&in, len + sizeof(s->pending));
    buf_init(&t, (len + sizeof(s->pending)) * 3 + 8);
    buf_append(&in, s->pending, s->npending);
    buf_append(&in, data, len);
    long used = utf8_sanitize(in.data, in.len, false, &t);
    s->npending = 0;
    if (used >= 0 && (size_t)used < in.len && in.len - (size_t)used <= sizeof(s->pending)) {
        s->npending = in.len - (size_t)used;
        memcpy(s->pending, in.data + used, s->npending);
    }
    json_t *j = json_stringn(t.data ? t.data : "", t.len);
    buf_done(&in);
    buf_done(&t);
    return j ? j : json_string("");
}

/* Output from the program: keep it (capped) and publish it. Returns false when the cap
 * was passed (the caller kills the run). */
bool run_on_output(struct runs *r, struct live *l, bool is_err, const char *data, size_t len)
{
    struct stream_out *s = is_err ? &l->err : &l->out;
    size_t room = s->data.max - s->data.len;
    size_t keep = len < room ? len : room;
    buf_append(&s->data, data, keep);
    pthread_mutex_lock(&r->mu);
    if (keep)
        run_add_event(r, l, is_err ? EVENT_RUN(stderr) : EVENT_RUN(stdout),
                      json_pack("{s:o}", "data", text_json(s, data, keep)));
    pthread_mutex_unlock(&r->mu);
    if (keep < len) {
        s->truncated = true;
        return false;
    }
    return true;
}

struct run_stream *runs_stream_open(struct runs *r, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    struct live *l = run_find(r, id);
    struct run_stream *s = l ? calloc(1, sizeof(*s)) : NULL;
    if (s) {
        s->r = r;
        s->l = l;
        l->refs++;
    }
    pthread_mutex_unlock(&r->mu);
    return s;
}

ssize_t runs_stream_read(struct run_stream *s, char *out, size_t max, int timeout_ms)
{
    struct runs *r = s->r;
    struct live *l = s->l;
    struct timespec ts;
    run_deadline(&ts, timeout_ms);
    pthread_mutex_lock(&r->mu);
    while (s->pos == l->events.len && !l->done)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT)
            break;
    ssize_t n;
    if (s->pos < l->events.len) {
        size_t k = l->events.len - s->pos;
        if (k > max)
            k = max;
        memcpy(out, l->events.data + s->pos, k);
        s->pos += k;
        n = (ssize_t)k;
    } else {
        n = l->done ? -1 : 0;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

void runs_stream_notify(struct run_stream *s, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&s->r->mu);
    s->notify = fn;
    s->notify_ctx = ctx;
    if (!s->linked) {
        s->linked = true;
        s->next = s->l->streams;
        s->l->streams = s;
    }
    pthread_mutex_unlock(&s->r->mu);
}

void runs_stream_close(struct run_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->r->mu);
    for (struct run_stream **p = &s->l->streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    run_unref(s->r, s->l);
    pthread_mutex_unlock(&s->r->mu);
    free(s);
}
