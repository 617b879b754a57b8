/* lang_internal: the structures shared by the language workers' loop (lang.c) and the
 * callers' side (lang_calls.c), and nothing else. Ownership is lang.h's: slots, queues and
 * counters under lang.mu; a worker's process, pipes and what it was given the loop's. */
#ifndef PYROOM_EXEC_LANG_INTERNAL_H
#define PYROOM_EXEC_LANG_INTERNAL_H

#include "exec/lang.h"
#include "exec/lang_sync.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One request, from lang_submit to its done function. */
struct call {
    struct call *next; /* in its worker's queue, or in lang.finished */
    int64_t ws;
    char *key;           /* NULL: never replaced */
    json_t *rq;          /* the request (a reference of ours) */
    uint64_t wait_until; /* refused (-EAGAIN) if its worker has not taken it by then, ms */
    lang_done_fn done;
    void *ctx;
    bool abandoned; /* lang_cancel while it ran: its worker is told to stop, its answer dropped */
    int r;          /* the outcome, once finished */
    json_t *reply;  /* the answer (r == 0), handed to done */
    char msg[200];
};

/* A full worker's file sync for its current call, done on a sync thread (sync_main): the
 * store's queries never run on the loop. The worker's `given` is the job's meanwhile. */
struct sync_job {
    struct sync_job *next; /* in lang.sjobs, then lang.sdone */
    struct worker *w;
    struct call *c; /* w's current call when the job was made */
    json_t *rq;     /* c's request (a reference of the job's): "files" and "drop" go in it */
    int64_t ws;
    int r; /* lang_given_sync's outcome */
    char msg[200];
};

struct worker {
    /* guarded by lang.mu */
    int64_t owner;              /* 0: a free slot */
    uint64_t last_ms;           /* end of its last call (CLOCK_MONOTONIC) */
    struct call *queue, *qtail; /* waiting, oldest first */
    unsigned nqueue;
    struct call *cur; /* being answered; only the loop sets it */
    bool evict;       /* the process is a former owner's: the loop ends it */
    bool fresh;       /* still importing and indexing (start_ms applies) */
    bool live;        /* proc != NULL */
    bool light;       /* diagnostics only: no jedi, no files (fixed per slot) */
    /* the loop's alone */
    struct sup_proc *proc;      /* NULL: not started, or ended */
    int in, out;                /* our ends of its stdin and stdout (non-blocking) */
    uint64_t deadline, timeout; /* cur's deadline and time, ms */
    json_int_t next_id, cur_id;
    bool cancel_sent;        /* cur was abandoned and the worker told so */
    bool syncing;            /* a sync job has `given` (nothing is dispatched meanwhile) */
    bool given_stale;        /* ended while syncing: `given` is cleared when the job is back */
    char *wbuf;              /* cur's request being written */
    size_t wlen, woff;       /* its length and what was written, bytes */
    struct lang_given given; /* what it holds of each workspace (lang_sync.c) */
    char *rbuf;              /* answer being read */
    size_t rlen, rcap;
};

struct lang {
    struct lang_config cfg;
    char preload[512];
    struct store *store;
    struct sup *sup;
    pthread_mutex_t mu;
    bool stopping; /* under mu */
    int ep, wake;  /* the loop's epoll, and an eventfd that wakes it */
    pthread_t loop;
    bool loop_started;
    pthread_t *syncers; /* the sync threads (sync_main) */
    unsigned nsyncers;
    pthread_cond_t sync_cv;              /* a job was queued, or lang stops */
    struct sync_job *sjobs, *sjobs_tail; /* under mu: waiting for a sync thread */
    struct sync_job *sdone;              /* under mu: done, for the loop */
    struct worker *w; /* nslots: max_workers full ones, then as many light ones */
    unsigned nslots;
    struct call *finished, *ftail; /* under mu: done functions the loop is to call */
    unsigned queued;               /* under mu: calls in every queue */
    /* counters (lang_stats), updated atomically */
    uint64_t requests, started, timeouts, failures, abandoned;
};

/* Wakes the loop (its eventfd). */
void lang_wake(struct lang *l);
void lang_call_free(struct call *c);
/* Moves c to the finished list with outcome r, for the loop to deliver (mu held). */
void lang_finished_add(struct lang *l, struct call *c, int r, json_t *reply, const char *msg);

#endif
