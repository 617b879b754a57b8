/*
 * lang: language intelligence (completion, signatures, hover, definitions, diagnostics,
 * formatting) answered by resident, sandboxed Python workers.
 *
 * Theory of operation. A user's source and files are hostile, and the analysers (jedi,
 * pyflakes, black) read them and may load compiled modules, so they never run in the server:
 * each workspace owner gets one *worker*, a sandbox started through the supervisor exactly
 * like a run (same namespaces, seccomp, cgroup limits; no workspace directory: its home is
 * an empty tmpfs) running `python3 -I -c <lang_worker.py> PRELOAD full`. It answers one JSON line
 * per request on its stdin with one JSON line on its stdout, so a request costs an
 * analysis, not an interpreter; whenever no request waits, it warms up: imports jedi,
 * indexes the preload modules (numpy, pandas, matplotlib), imports black.
 *
 * Each owner may also have a *light* worker (same sandbox, same program, started with
 * "light": it never imports jedi or black and is given no files) that answers diagnostics
 * only, so that they do not wait behind a completion and cost no file sync; light workers
 * have their own max_workers slots.
 *
 * Files: the worker never sees the server's disk. Each request carries the Python files of
 * its workspace that changed since the worker last saw them (from the store, by etag), and
 * the names of deleted ones; the worker writes them into its own tmpfs, under w<ID>/, so
 * imports between workspace files resolve.
 *
 * Limits: a request gets timeout_ms (start_ms while the worker is still warming up); past it the
 * worker is killed and the next request starts another. The sandbox's own limits (memory, CPU over
 * its life, pids, lifetime as its wall time) end a worker that misbehaves; the reply is read with a
 * cap. Workers idle for idle_ms are ended; at most max_workers live per node (the least recently
 * used idle one makes room).
 *
 * Threads. Requests are asynchronous: lang_submit queues a call on its owner's worker and
 * returns; one thread (the loop, an epoll over every worker's pipes, an eventfd and the nearest
 * deadline) writes each call's request when its worker is free, reads the answer, enforces
 * the times, ends idle workers, and calls the call's done function. The store is never
 * queried on the loop: a full worker's call first goes to one of a few sync threads, which
 * read the workspace's files (lang_sync) and hand it back; one slow query then delays that
 * worker's call only (its time runs meanwhile; past it the worker is ended, since what it
 * was given is then unknown). So a caller (an HTTP
 * handler that deferred its request) holds no thread while an analysis runs. A worker answers
 * one call at a time, in order; at most queue calls wait per worker, and a call that waited
 * longer than a request's time is refused (-EAGAIN). A call with a key replaces a queued call
 * of the same key (-ECANCELED): the newer source makes the older answer useless (typing).
 * Ownership: a worker's process, pipes and what it was given are the loop's alone (what it
 * was given is a sync thread's while that thread syncs its current call); slots,
 * queues and counters are under lang.mu; a call is lang's from a successful lang_submit until
 * its done function returns.
 */
#ifndef PYROOM_EXEC_LANG_H
#define PYROOM_EXEC_LANG_H

#include "base/err.h"
#include "sandbox/sandbox.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct sup;
struct store;
struct lang;

struct lang_config {
    unsigned max_workers;    /* live workers per node (and as many light ones) */
    uint64_t idle_ms;        /* a worker unused this long is ended, ms */
    uint64_t timeout_ms;     /* one request, ms */
    uint64_t start_ms;       /* the first request of a fresh worker (imports, indexing), ms */
    uint64_t cancel_ms;      /* to stop an abandoned analysis (lang_cancel), ms */
    unsigned queue;          /* calls waiting per worker (beyond: -EAGAIN) */
    size_t sync_bytes;       /* bytes of a workspace's Python files a worker is given */
    size_t max_file_bytes;   /* larger files are not given to the worker, bytes */
    struct sb_limits limits; /* of each worker's sandbox (wall_ms: its lifetime) */
    const char *preload;     /* comma-separated modules indexed at start (copied) */
};

/* Threads that read a workspace's files from the store for the full workers (at most one
 * per worker slot), so that the loop never waits for the store. */
#define LANG_SYNC_THREADS 4

/* The largest answer read from a worker, bytes; a worker passing it is killed. */
#define LANG_MAX_REPLY (8u << 20)

/* store and sup must outlive l; sup NULL: every call fails with -ENOTSUP. */
int lang_new(const struct lang_config *cfg, struct store *store, struct sup *sup, struct lang **ret,
             struct err *err);
/* Stops the loop, finishes every call -ESHUTDOWN (their done functions run here), ends
 * every worker and frees. NULL is fine. */
void lang_free(struct lang *l);

/* Called once per submitted call, on lang's thread: r is 0 with the worker's answer (reply,
 * the callee's: {"ok": {...}} or {"error": {"code","message"}}; it comes from a sandbox and
 * must be validated, lang_answer) or -errno with reply NULL and msg saying why: -EAGAIN the
 * call waited longer than a request's time, -ECANCELED a newer call of the same key replaced
 * it, -ETIMEDOUT the worker passed its time (it was killed), -EPIPE it died or answered
 * nonsense, -EIO it could not start, -ESHUTDOWN lang is being freed, -ECONNABORTED its caller
 * left (lang_cancel), or a store error. */
typedef void (*lang_done_fn)(void *ctx, int r, json_t *reply, const char *msg);

/* Queues request rq (a JSON object with "op" and the op's fields; taken, also on failure;
 * lang adds "id", "ws", "files", "drop" and "deadline_ms") for the worker of workspace ws's owner.
 * key (copied; NULL: none) names what the call is about, e.g. user, workspace, op and path: a
 * queued call with the same key is finished -ECANCELED. On 0, done(ctx, ...) will be called
 * exactly once, from lang's thread (at the latest by lang_free). Otherwise done is never
 * called: -ENOTSUP without sandboxes, -EAGAIN when every worker slot is busy or this
 * worker's queue is full, -ESHUTDOWN while lang is being freed, -ENOMEM. */
int lang_submit(struct lang *l, int64_t owner, int64_t ws, const char *key, json_t *rq,
                lang_done_fn done, void *ctx, struct err *err);

/* The caller of the call submitted with ctx has gone (an HTTP client hung up): a waiting
 * call is finished -ECONNABORTED at once; a running one is abandoned: its worker is told to
 * stop the analysis (the answer is dropped; done gets -ECONNABORTED) and, if it has not within
 * cancel_ms, is ended like one past its time (the owner's next call starts
 * another). Nothing happens when no live call has ctx. Any thread; it only takes lang.mu. */
void lang_cancel(struct lang *l, void *ctx);

/* Checks a worker's "ok" answer to op ("complete", "signature", "hover", "definition",
 * "diagnostics", "format") and rebuilds it from checked fields only: types, ranges, bounded
 * counts, workspace paths by the path rules (docs/api.md has the shapes). Returns a new
 * object (the caller's), or NULL when the answer is unusable. */
json_t *lang_answer(const char *op, json_t *ok);

/* What GET /api/admin/stats reports about the language workers of this node. */
struct lang_stats {
    unsigned workers;   /* live workers */
    unsigned queued;    /* calls waiting for their worker */
    uint64_t requests;  /* answered by a worker (including its refusals) */
    uint64_t started;   /* workers started */
    uint64_t timeouts;  /* workers killed for passing their time */
    uint64_t failures;  /* workers that died or answered nonsense */
    uint64_t abandoned; /* calls dropped or stopped because their caller left */
};
void lang_stats(struct lang *l, struct lang_stats *ret);

#endif
