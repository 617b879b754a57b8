/* http streams: streaming bodies (push or pull), their keepalives and hung-up clients;
 * see server.h. */
#include "base/clock.h"
#include "http/server_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* ---- streams ------------------------------------------------------------------------- */

void http_stream_unref(struct http_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last)
        return;
    buf_done(&s->q);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Resumes the connection if our reader suspended it. Called with s->mu held. */
void srv_stream_kick(struct http_stream *s)
{
    if (s->suspended && !s->closed) {
        s->suspended = false;
        MHD_resume_connection(s->c);
    }
}

int http_stream_write(struct http_stream *s, const void *data, size_t len, bool force)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->closed || s->ended || s->gone) {
        rc = -EPIPE;
    } else {
        if (s->pos && s->pos == s->q.len) {
            buf_reset(&s->q);
            s->pos = 0;
        }
        size_t waiting = s->q.len - s->pos;
        if (!force && waiting + len > s->cfg.max_queue) {
            rc = -ENOBUFS;
        } else {
            if (s->q.len + len > s->q.max && s->pos) {
                /* Make room by dropping what was sent. */
                memmove(s->q.data, s->q.data + s->pos, waiting);
                s->q.len = waiting;
                s->pos = 0;
            }
            if (s->q.len + len > s->q.max)
                s->q.max = s->q.len + len; /* forced: a short notice past the soft cap */
            rc = buf_append(&s->q, data, len) < 0 ? -ENOMEM : 0;
        }
        if (rc == 0)
            srv_stream_kick(s);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void http_stream_wake(struct http_stream *s)
{
    pthread_mutex_lock(&s->mu);
    s->pending = true;
    srv_stream_kick(s);
    pthread_mutex_unlock(&s->mu);
}

static void stream_end(struct http_stream *s, bool failed)
{
    pthread_mutex_lock(&s->mu);
    if (!s->ended)
        s->failed = failed;
    s->ended = true;
    srv_stream_kick(s);
    pthread_mutex_unlock(&s->mu);
}

void http_stream_end(struct http_stream *s)
{
    stream_end(s, false);
}

void http_stream_fail(struct http_stream *s)
{
    stream_end(s, true);
}

/* libmicrohttpd's content reader, on the connection's loop thread. Never returns 0
 * without suspending the connection: a 0 alone would stall it (it waits for no event). */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_stream *s = cls;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        if (s->gone) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (s->pos < s->q.len) {
            size_t k = s->q.len - s->pos;
            if (k > max)
                k = max;
            memcpy(out, s->q.data + s->pos, k);
            s->pos += k;
            s->last_us = clock_mono_us();
            pthread_mutex_unlock(&s->mu);
            return (ssize_t)k;
        }
        if (s->ended) {
            /* Failed: libmicrohttpd closes the connection without the last chunk. */
            bool failed = s->failed;
            pthread_mutex_unlock(&s->mu);
            return failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (s->cfg.fill && s->pending) {
            s->pending = false;
            pthread_mutex_unlock(&s->mu);
            ssize_t n = s->cfg.fill(s->cfg.ctx, out, max);
            if (n < 0) {
                stream_end(s, n == HTTP_FILL_FAILED);
                continue; /* send what producers queued meanwhile, then end */
            }
            if (n > 0) {
                /* It may have more (or its end) without another wake: ask again next. */
                pthread_mutex_lock(&s->mu);
                s->last_us = clock_mono_us();
                s->pending = true;
                pthread_mutex_unlock(&s->mu);
                return n;
            }
            continue; /* nothing: look again (a wake may have come meanwhile) */
        }
        s->suspended = true;
        MHD_suspend_connection(s->c);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
}

/* The response is destroyed: the server is done with the stream. */
static void stream_free(void *cls)
{
    struct http_stream *s = cls;
    struct http_server *srv = s->srv;
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    s->suspended = false;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&srv->mu);
    if (s->prev)
        s->prev->next = s->next;
    else if (srv->streams == s)
        srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    srv->nstreams--;
    pthread_mutex_unlock(&srv->mu);
    if (s->cfg.on_close)
        s->cfg.on_close(s->cfg.ctx);
    http_stream_unref(s);
}

int http_reply_stream(struct http_req *req, int status, const char *content_type,
                      const struct http_stream_config *cfg, const char *const *headers,
                      struct http_stream **ret)
{
    struct req_state *st = (struct req_state *)req;
    struct http_server *srv = st->srv;
    struct http_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->srv = srv;
    s->c = req->conn;
    s->fd = srv_conn_fd(req->conn);
    s->cfg = *cfg;
    s->cfg.on_close = NULL; /* set once the answer is ours: a failed reply closes nothing */
    s->pending = cfg->fill != NULL;
    s->last_us = clock_mono_us();
    s->refs = 2; /* the producer's and the response's */
    buf_init(&s->q, cfg->max_queue + 4096);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, stream_free);
    if (!r) {
        buf_done(&s->q);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -ENOMEM;
    }
    pthread_mutex_lock(&srv->mu);
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;
    srv->nstreams++;
    pthread_mutex_unlock(&srv->mu);
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    /* From here the response owns one reference: destroying it (queued or not) runs
     * stream_free. */
    int rc = srv_queue(req, status, r, headers);
    if (rc < 0) {
        http_stream_unref(s);
        return rc;
    }
    s->cfg.on_close = cfg->on_close;
    *ret = s;
    return 0;
}

/* Keepalives and hung-up clients of the streams whose connection is suspended. */
void srv_streams_tick(struct http_server *srv, int64_t now)
{
    pthread_mutex_lock(&srv->mu);
    unsigned n = srv->nstreams, k = 0;
    struct http_stream **all = n ? malloc(n * sizeof(*all)) : NULL;
    for (struct http_stream *s = srv->streams; all && s && k < n; s = s->next) {
        pthread_mutex_lock(&s->mu);
        s->refs++;
        pthread_mutex_unlock(&s->mu);
        all[k++] = s;
    }
    pthread_mutex_unlock(&srv->mu);
    if (!all)
        return;
    struct pollfd *p = calloc(k ? k : 1, sizeof(*p));
    for (unsigned i = 0; i < k; i++) {
        struct http_stream *s = all[i];
        pthread_mutex_lock(&s->mu);
        if (p)
            p[i] = (struct pollfd){.fd = -1};
        if (s->suspended && !s->closed) {
            unsigned ka = s->cfg.keepalive_ms;
            if (ka && s->cfg.keepalive && now - s->last_us >= (int64_t)ka * 1000 &&
                buf_append(&s->q, s->cfg.keepalive, strlen(s->cfg.keepalive)) == 0) {
                s->last_us = now;
                srv_stream_kick(s);
            } else if (p && s->fd >= 0) {
                p[i] = (struct pollfd){.fd = s->fd, .events = POLLRDHUP};
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    /* The fds belong to suspended connections, which libmicrohttpd does not close; a stream
     * resumed meanwhile is skipped below (its poll answer may be about another socket). */
    if (p && poll(p, k, 0) > 0) {
        for (unsigned i = 0; i < k; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                continue;
            struct http_stream *s = all[i];
            pthread_mutex_lock(&s->mu);
            if (s->suspended && !s->closed) {
                s->gone = true;
                srv_stream_kick(s);
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    free(p);
    for (unsigned i = 0; i < k; i++)
        http_stream_unref(all[i]);
    free(all);
}
