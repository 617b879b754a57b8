/*
 * runs_internal.h: what the files of the runs module share, and nothing outside includes.
 *
 * The module is split by mechanism:
 *   runs.c         the registry of live runs, admission (the queue and its fairness), the
 *                  worker thread's life, and the public calls that find a live run
 *   runs_exec.c    one admitted run: spawn through the supervisor, pump its stdio, map the
 *                  sandbox's result to the record, record it
 *   runs_files.c   the run's own file system: materialise the files, write back what the
 *                  run changed, collect figures, remove the scratch directory
 *   runs_stream.c  the event log of a run and the readers that follow it (SSE text)
 *
 * Locking: one mutex, runs->mu, guards the registry, every struct live's flags, stdin
 * buffer, event log and readers. A live's output buffers (out, err) and phase marks are
 * the worker's alone.
 */
#ifndef PYROOM_EXEC_RUNS_INTERNAL_H
#define PYROOM_EXEC_RUNS_INTERNAL_H

#include "base/buf.h"
#include "exec/runs.h"
#include "exec/supervisor.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct stream_out {
    struct buf data; /* what the program wrote, up to output_bytes */
    bool truncated;
    bool eof;
    char pending[4]; /* an incomplete UTF-8 sequence held back for the next chunk */
    size_t npending;
};

struct live {
    struct runs *owner;
    int64_t id;
    /* Monotonic phase marks (us, 0: not reached): recorded, admitted, files materialised,
     * program started, its output drained, tree ended (store_run_timings, metrics). */
    int64_t queued_us, admitted_us, prepared_us, spawned_us, drained_us, ended_us;
    int64_t user_id;
    struct run_request rq; /* copied: strings below are owned */
    char *entry;
    char **args;
    char *args_json;
    struct live *next;
    unsigned refs; /* the registry's, the worker's, each stream's; under runs->mu */
    bool admitted; /* counted in running */
    bool waiting;  /* counted in queued, not admitted yet */
    uint64_t seq;  /* order of arrival, for FIFO within a user */
    bool done;     /* no more events */
    bool recorded; /* its result is in the store: runs_wait() returns (clean-up may go on) */
    bool cancelled;
    bool stdin_closed;
    struct buf stdin_buf;  /* bytes waiting to be written to the program */
    int wake;              /* eventfd: stdin or cancel for the worker */
    struct sup_proc *proc; /* NULL until spawned */
    struct buf events;     /* SSE text for streams */
    struct stream_out out, err;
    struct run_waiter *waiters; /* told when the run is no longer live (runs_on_end) */
    struct run_stream *streams; /* readers to wake on new events (runs_stream_notify) */
};

struct run_waiter {
    void (*fn)(void *ctx);
    void *ctx;
    struct run_waiter *next;
};

/* A runs_start() between its place in the queue and its run being live (on its stack). */
struct reservation {
    int64_t user;
    struct reservation *next;
};

#define RR_USERS 256 /* users remembered for the round-robin (the least recent is forgotten) */

struct runs {
    struct runs_config cfg;
    struct {
        int64_t user;
        uint64_t at; /* r->admissions when last admitted */
    } served[RR_USERS];
    char *data_dir;
    char *node;
    struct store *store;
    struct sup *sup;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* admission changes, run ends, new events */
    struct live *live; /* every run queued or running */
    unsigned running;
    unsigned queued;
    unsigned threads; /* workers alive */
    uint64_t next_seq;
    struct reservation *reserved; /* runs_start() calls in their slow part */
    uint64_t admissions; /* runs admitted so far: a user's last one orders the round-robin */
    bool closing;
    int runs_dirfd;
};

struct run_stream {
    struct runs *r;
    struct live *l;
    size_t pos;                /* bytes of l->events already read */
    void (*notify)(void *ctx); /* called with r->mu held when events come or the run ends */
    void *notify_ctx;
    struct run_stream *next; /* in l->streams */
    bool linked;
};

/* runs.c: called with r->mu held. */
/* The live run id, or NULL. */
struct live *run_find(struct runs *r, int64_t id);
/* Drops one reference; the last frees l. */
void run_unref(struct runs *r, struct live *l);

/* runs_stream.c: called with r->mu held. */
/* Tells the readers that follow l. */
void run_notify_streams(struct live *l);
/* Appends one SSE event; takes data (JSON). */
void run_add_event(struct runs *r, struct live *l, const char *name, json_t *data);
/* Without r->mu: output from the program, kept (capped) and published. false when the cap
 * was passed (the caller kills the run). */
bool run_on_output(struct runs *r, struct live *l, bool is_err, const char *data, size_t len);

/* runs_files.c */
/* Mounts the run's own file system at DATA_DIR/runs/NAME and writes the run's files into
 * it; returns its fd and, in *ret_files, the files it was given (etags, no content). */
int run_materialise(struct runs *r, struct live *l, const char *name,
                    struct store_file_list **ret_files, struct err *err);
const struct store_file *run_find_file(const struct store_file_list *l, const char *path);
/* Saves what the run changed back to the workspace; notes get what was not saved. */
void run_write_back(struct runs *r, struct live *l, int dfd, const struct store_file_list *before,
                    struct buf *notes);
/* Figures saved by our sitecustomize become artifacts. */
void run_collect_artifacts(struct runs *r, struct live *l, int dfd);
/* Unmounts and removes the run's scratch directory. */
void run_remove_dir(struct runs *r, const char *name);

/* runs_exec.c */
/* The life of an admitted run, from materialise to the recorded result and clean-up. */
void run_execute(struct runs *r, struct live *l);
/* The run's end in the metrics. */
void run_observe_end(struct live *l, const struct store_run_result *res);
/* Stores the result: runs_wait() returns, the admission slot is given back. */
void run_finish_record(struct runs *r, struct live *l, struct store_run_result *res);

#endif
