/*
 * runs: one-shot executions of a workspace (the Run button), from admission to result.
 *
 * Theory of operation. runs_start() records the run (queued) and hands it to a worker
 * thread of its own, which waits for admission: at most max_running runs per node and
 * max_per_user per user at once; at most max_queued wait, and at most max_queued_per_user
 * of one user, beyond which runs_start() fails with -EAGAIN (the API answers 429). A freed
 * slot goes to the oldest waiting run of the user served least recently (round-robin
 * between users). Admitted, the worker mounts a file system of the run's own on a fresh
 * directory (sb_wsfs_mount: its size and inodes are the kernel's to enforce), materialises
 * the files into it (workspace/fsdir), asks the supervisor for a sandbox running the entry
 * file's interpreter, and pumps its stdio: stdin from the request (and from runs_stdin()
 * while it runs), stdout and stderr into capped buffers and into an event log that any
 * number of readers follow (runs_stream_*; a late reader starts from the beginning). A
 * stream passing its cap kills the tree (limit "output"). When the tree has ended, the
 * worker writes back the files the run created, changed or deleted in one transaction
 * (see docs/runs.md: a file the editor changed meanwhile keeps the editor's version; only
 * a path confirmed absent is deleted; what could not be taken keeps its stored version and
 * is named in the run's notices), stores matplotlib figures as artifacts, records the
 * result with its notices and phase timings (runs_wait() returns and runs_on_end() callers
 * are told then), and only then unmounts the file system, so no caller waits for the
 * clean-up.
 */
#ifndef PYROOM_EXEC_RUNS_H
#define PYROOM_EXEC_RUNS_H

#include "base/err.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Hidden folder of ours inside the run's home, on the run's PYTHONPATH: our sitecustomize
 * (which the warm pool runs from code compiled once) and the figures. It is never written
 * back to the workspace. */
#define PYROOM_DIR "/home/user/.pyroom"

struct sup;
struct runs;
struct run_stream;

struct runs_config {
    const char *data_dir;         /* scratch directories live in DATA_DIR/runs */
    const char *node;             /* this node's name, recorded with each run */
    unsigned max_running;         /* runs at once on this node */
    unsigned max_per_user;        /* runs at once per user */
    unsigned max_queued;          /* runs waiting for a slot */
    size_t output_bytes;          /* kept per stream; more kills the run (limit "output") */
    size_t max_artifacts;         /* figures kept per run */
    size_t max_artifact_bytes;    /* bytes per figure */
    struct store_limits files;    /* workspace limits for the write-back */
    uint64_t run_inodes;          /* files and folders a run may add to its file system */
    unsigned max_queued_per_user; /* runs one user may have waiting (0: no cap) */
    /* Told about each path the write-back changed (etag NULL: deleted, "": a folder), so
     * live terminals and open pages see a run's files at once. May be NULL. */
    void (*on_change)(void *ctx, int64_t ws, const char *path, const char *etag);
    void *on_change_ctx;
    bool warm; /* ask for a warm interpreter (src/exec/warm.h) */
    /* For tests: called on the run's worker once its result is recorded and its waiters
     * (runs_on_end) told, before the clean-up (the scratch file system's unmount). May be
     * NULL. */
    void (*after_record)(void *ctx, int64_t run_id);
    void *after_record_ctx;
};

struct run_request {
    int64_t workspace_id;  /* run the workspace's current files ... */
    int64_t submission_id; /* ... or a submission's snapshot (no write-back) */
    int64_t user_id;
    const char *entry;       /* valid workspace path of the file to run */
    const char *const *args; /* NULL-terminated, may be NULL */
    const char *args_json;   /* the same, as JSON text for the record */
    const void *stdin_data;  /* given to the program first */
    size_t stdin_len;
    bool interactive;        /* keep stdin open after stdin_data for runs_stdin() */
    bool no_write_back;      /* leave the workspace as it is (a check, not a user's run) */
    struct sb_limits limits; /* already lowered to what the user may have */
};

/* The interpreter for an entry file, from its extension (".py" -> python3, ".sh" -> bash);
 * NULL when none. */
const char *runs_interpreter(const char *entry);

/* store and sup must outlive runs; sup may be NULL (runs then fail with a reason). */
int runs_new(const struct runs_config *cfg, struct store *store, struct sup *sup, struct runs **ret,
             struct err *err);
/* Stops taking runs and cancels every live one (their records say `cancelled`); returns
 * without waiting. Accepts NULL. */
void runs_stop(struct runs *r);
/* runs_stop, then waits for the workers and frees. Accepts NULL. */
void runs_free(struct runs *r);

/* Records and starts a run; *ret_id is its id. -EAGAIN when the queue is full, else 0 or
 * a store error. */
int runs_start(struct runs *r, const struct run_request *rq, int64_t *ret_id, struct err *err);
/* Feeds a live run's stdin; len 0 closes it. -ENOENT when the run is not live here,
 * -EPIPE when its stdin is closed, -ENOBUFS when too much is pending. */
int runs_stdin(struct runs *r, int64_t id, const void *data, size_t len);
/* Kills a live run; it ends as "cancelled". -ENOENT when not live here. */
int runs_cancel(struct runs *r, int64_t id);
/* Waits until run id's result is recorded (0; its scratch file system may still be going
 * away), or timeout_ms passes (-ETIMEDOUT). */
int runs_wait(struct runs *r, int64_t id, int timeout_ms);
/* Calls fn(ctx) once run id's result is stored (its output and status are final; the
 * clean-up of its scratch file system may still go on), on the run's worker thread with no
 * lock held; fn may block briefly (store calls) and must not call back into runs for this
 * run's waiters. -ENOENT (fn never called) when it is not live here or already recorded. */
int runs_on_end(struct runs *r, int64_t id, void (*fn)(void *ctx), void *ctx);
/* Runs running and waiting on this node. */
void runs_stats(struct runs *r, unsigned *ret_running, unsigned *ret_queued);

/* Follows a live run's output as Server-Sent Event text ("event: stdout\ndata: {...}\n\n").
 * NULL when the run is not live here (read the stored result instead). */
struct run_stream *runs_stream_open(struct runs *r, int64_t id);
/* Copies up to max bytes of events not read yet; 0 when none came within timeout_ms,
 * -1 when the run has ended and everything was read. */
ssize_t runs_stream_read(struct run_stream *s, char *out, size_t max, int timeout_ms);
/* Calls fn(ctx) whenever events arrive or the run ends, with the runs lock held: fn only
 * wakes its reader (which then calls runs_stream_read with timeout 0). */
void runs_stream_notify(struct run_stream *s, void (*fn)(void *ctx), void *ctx);
void runs_stream_close(struct run_stream *s);

#endif
