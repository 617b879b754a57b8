/*
 * http server internals, shared by the files of the server and by nothing else
 * (src/http/server*.c, conn.c, request.c, reply.c, stream.c, worker.c). The public
 * contract and the theory of operation are in server.h; this is the map of the parts:
 *
 *   server.c   the daemon: start, the housekeeping thread, quiesce and stop
 *   conn.c     one TCP connection: its addresses, its phase, the header/body deadlines
 *   request.c  one request on its loop thread: state, strict checks, refusals, completion
 *   worker.c   the worker pool and deferred requests (http_req_defer/_continue)
 *   reply.c    answers: the stash a loop thread sends, replies, upgrades, unescaping
 *   stream.c   streaming bodies (http_stream), keepalives and hung-up clients
 *
 * Functions shared between the parts are prefixed srv_.
 */
#ifndef PYROOM_HTTP_SERVER_INTERNAL_H
#define PYROOM_HTTP_SERVER_INTERNAL_H

#include "base/buf.h"
#include "http/server.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_TICK_MS   250         /* housekeeping: deadlines, keepalives, hung-up streams */
#define HTTP_DRAIN_MS  1000        /* at shutdown, for open requests to finish */
#define UPGRADE_SNDBUF (128 << 10) /* bytes: kernel send buffer of an upgraded socket */

/* Lock order (a thread holding one may take those after it, never before):
 *   stream->mu, req_state->mu  ->  libmicrohttpd's own locks (suspend/resume)
 *   srv->mu is never held while calling into libmicrohttpd: it calls our completion
 *   callback with its locks held, and that callback takes srv->mu. */

/* One TCP connection (libmicrohttpd's socket context), for the deadlines. */
enum conn_phase {
    PH_HEADERS, /* waiting for complete request headers */
    PH_BODY,    /* receiving a request body */
    PH_BUSY,    /* being answered: no deadline */
};

struct conn {
    int fd;
    enum conn_phase phase;
    int64_t phase_us;    /* monotonic start of the phase */
    uint64_t body_bytes; /* received in PH_BODY */
    bool dropped;        /* a deadline passed: shut down, waiting for the close */
    unsigned served;     /* requests completed on it (kept alive) */
    char remote[64];
    struct conn *prev, *next;
};

struct job {
    struct req_state *st;
    http_handler_fn fn;
    void *ctx;
    struct job *next;
};

struct http_server {
    struct MHD_Daemon *daemon;
    http_handler_fn handler;
    void *ctx;
    struct http_config cfg;
    uint16_t port;
    pthread_mutex_t mu; /* conns, streams, addresses, the job queue, refs */
    pthread_cond_t job_cv;
    pthread_cond_t tick_cv;
    struct conn *conns;
    unsigned nconns;
    struct http_stream *streams;
    unsigned nstreams;
    struct req_state *reqs;   /* every live request, for the shutdown */
    struct peraddr *per_addr; /* requests in flight per forwarded address, or NULL */
    struct job *jobs, *jobs_tail;
    unsigned njobs;
    unsigned busy;
    unsigned refs; /* the owner's and one per deferred request */
    bool stopping;
    bool quiesced; /* http_server_quiesce ran (the owner's thread only) */
    pthread_t *workers;
    unsigned nworkers;
    pthread_t housekeeper;
    bool housekeeper_started;
};

/* One request. Shared by libmicrohttpd (until the completion callback) and by the worker
 * or deferral that answers it. */
struct req_state {
    struct http_req req;
    struct http_server *srv;
    struct conn *conn;
    pthread_mutex_t mu;
    unsigned refs;   /* libmicrohttpd's, plus one while a worker or deferral holds it */
    bool started;    /* the headers have been seen */
    bool dispatched; /* the handler was called (or the request refused) */
    unsigned defers; /* http_req_defer calls: a turn that made one leaves the answer to
                      * the continuation (which may already be running elsewhere) */
    bool suspended;  /* the connection is suspended for a worker */
    bool terminated; /* libmicrohttpd is done with it */
    bool too_many_params;
    bool too_large;          /* the body passed max_body: answered 413 once it is in */
    uint64_t dropped;        /* body bytes read and dropped after that */
    bool counted;            /* counted in srv->per_addr under req.remote */
    void (*gone_fn)(void *); /* http_req_on_gone's, until continued or called */
    void *gone_ctx;
    struct MHD_Response *resp; /* the answer, waiting to be queued by the loop */
    unsigned resp_status;
    char *owned[8];
    size_t nowned;
    struct req_state *prev, *next; /* srv->reqs, under srv->mu */
};

struct http_stream {
    pthread_mutex_t mu;
    struct http_server *srv;
    struct MHD_Connection *c;
    int fd;
    struct http_stream_config cfg;
    struct buf q;    /* bytes to send */
    size_t pos;      /* bytes of q sent */
    bool suspended;  /* our reader suspended the connection */
    bool pending;    /* woken since the last fill */
    bool ended;      /* the producer ended the body */
    bool failed;     /* ... as failed: close without the body's end */
    bool gone;       /* the client hung up: end with an error */
    bool closed;     /* the server is done with it */
    int64_t last_us; /* last output */
    unsigned refs;   /* the producer's and the response's */
    struct http_stream *prev, *next;
};

/* server.c */
void srv_unref(struct http_server *srv); /* drops a reference; the last frees */

/* conn.c: libmicrohttpd's connection notification; the deadlines, once per tick. */
int srv_conn_fd(struct MHD_Connection *c);
void srv_remote_addr(struct MHD_Connection *c, char *out, size_t len);
/* Overwrites out with the last X-Forwarded-For entry when it is an IP address. */
void srv_forwarded_for(struct MHD_Connection *c, char *out, size_t len);
void srv_conn_phase(struct http_server *srv, struct conn *cn, enum conn_phase ph);
void srv_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
void srv_conns_tick(struct http_server *srv, int64_t now_us);

/* request.c: libmicrohttpd's callbacks for one request. */
void *srv_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls);
void srv_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe);
void srv_req_unref(struct req_state *st);

/* worker.c */
void *srv_worker_main(void *arg);
/* Queues fn(req, ctx) for a worker; false when the queue is full (bounded) or the server
 * stops. Takes a reference on st when it succeeds. */
bool srv_submit(struct http_server *srv, struct req_state *st, http_handler_fn fn, void *ctx,
                bool bounded);
/* Calls the gone functions of deferred requests whose client hung up (housekeeping). */
void srv_deferred_tick(struct http_server *srv);

/* reply.c: r gets the security headers, headers and the request id, then is stashed. */
int srv_queue(struct http_req *req, int status, struct MHD_Response *r, const char *const *headers);
void srv_send_answer(struct req_state *st);
void srv_settle(struct req_state *st);

/* stream.c: srv_stream_kick is called with s->mu held. */
void srv_stream_kick(struct http_stream *s);
void srv_streams_tick(struct http_server *srv, int64_t now_us);

#endif
