/*
 * warm: the warm Python pool. Runs that start faster than `python3` on the user's own
 * machine, by forking an interpreter that has already imported numpy, pandas, scipy and
 * matplotlib, and isolating the fork exactly as a cold run before any user byte runs.
 *
 * Theory of operation. The supervisor (the only process that may fork them) starts a few
 * *templates*: it forks, the child takes the pool's identity (sb_pool_enter: a host uid of
 * its own, no capabilities, no network, the pool's cgroup) and execs `pyroom
 * __warm-template`, which loads libpython (dlopen; Debian's python3 build), imports the
 * module list, freezes the heap for the garbage collector (gc.freeze) and then only obeys
 * its supervisor. A template never runs user code and never sees user data.
 *
 * Ahead of demand each template makes *zygotes*: one clone into new user, pid, net, ipc and
 * uts namespaces whose child is pid 1 of them (the zygote) and the supervisor's child
 * (CLONE_PARENT; the supervisor is a subreaper); the zygote forks the program-to-be and
 * execs our small binary (`pyroom-sandbox __warm-init`); the template hands the zygote's
 * pid and its claim socket to the supervisor. A run that asks for warm (sb_spec.warm, a
 * `python3 FILE ARGS...` command) claims a ready zygote: sb_claim_begin gives it the run's
 * slot, uid maps, cgroups, limits and workspace; the zygote builds the same mount tree as a
 * cold sandbox, drops every capability, forks the program (pid 2, as cold), which loads the
 * seccomp filter and only then enters Python: a fresh `__main__`, sys.argv, sys.path, cwd,
 * environment and stdio as `python3 FILE` would have them, RNGs reseeded, the run's
 * sitecustomize, and the file executed with no frame of ours above it. The zygote's place
 * is refilled at once. No ready zygote, an ineligible command or a failed claim: the run is
 * started cold, with no error.
 *
 * Health: a template that dies, stops answering pings or fails claims repeatedly is killed
 * and replaced (with a back-off); a zygote that dies unclaimed is reaped and replaced.
 * Memory: the pool's cgroup bounds templates and zygotes together (`--warm-memory`); its
 * usage and the PSS of every pooled process are reported by warm_pool_stats().
 *
 * Threads: everything here runs in the single-threaded supervisor, or in the template
 * process (warm_template_main).
 */
#ifndef PYROOM_EXEC_WARM_H
#define PYROOM_EXEC_WARM_H

#include "base/err.h"
#include "sandbox/sandbox.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define WARM_MAX_TEMPLATES   8
#define WARM_MAX_CHILDREN    16
#define WARM_DEFAULT_MODULES "numpy,pandas,scipy,scipy.stats,matplotlib"

struct warm_config {
    bool enabled;
    unsigned templates;    /* template interpreters (1..WARM_MAX_TEMPLATES) */
    unsigned children;     /* zygotes kept ready per template (1..WARM_MAX_CHILDREN) */
    char modules[512];     /* comma-separated modules imported by each template */
    uint64_t memory_bytes; /* memory of the whole pool (its cgroup), bytes; 0: no bound */
};

/* What GET /api/admin/stats reports about the pool. */
struct warm_stats {
    bool enabled;
    unsigned templates;          /* templates alive and booted */
    unsigned ready;              /* zygotes ready to be claimed */
    uint64_t claims;             /* runs started warm */
    uint64_t fallbacks;          /* warm asked, run started cold (none ready, ineligible, failed) */
    uint64_t failed_claims;      /* claims that failed before any user byte (then cold) */
    uint64_t restarts;           /* templates replaced */
    uint64_t pss_bytes;          /* PSS of every template and ready zygote, bytes */
    uint64_t template_pss_bytes; /* PSS of one template (the largest), bytes */
    uint64_t cgroup_bytes;       /* memory charged to the pool's cgroup, bytes (0 without) */
    uint64_t memory_limit_bytes;
    uint64_t boot_ms;        /* last template's import time, ms */
    uint64_t prefault_pages; /* pages a claimed program prefaults (last template's rehearsal) */
    uint64_t prefault_pandas_pages;     /* more pages when its file names pandas */
    uint64_t prefault_matplotlib_pages; /* more pages when its file names matplotlib */
    char last_error[200];               /* the last template error, "" if none */
};

struct warm_pool;

/* In the supervisor: starts the templates (asynchronously: they boot in the background).
 * ep is the supervisor's epoll set: the pool adds one fd to it whose data.ptr is `tag`;
 * when it is readable, call warm_pool_handle(). */
int warm_pool_new(const struct warm_config *cfg, struct sb_host *h, int ep, void *tag,
                  struct warm_pool **ret, struct err *err);
/* Kills templates and zygotes and removes the pool's cgroup. NULL is fine. */
void warm_pool_free(struct warm_pool *p);
/* Events of the pool's own fds (templates talking or dying, zygotes dying). */
void warm_pool_handle(struct warm_pool *p);
/* Health checks and restarts due at now_ms; returns when to call again (ms). */
uint64_t warm_pool_tick(struct warm_pool *p, uint64_t now_ms);
/* Whether spec may run warm: `python3 FILE ARGS...` without a PTY nor interpreter options,
 * and no environment that Python reads at start-up other than what templates were
 * started with. */
bool warm_eligible(const struct sb_spec *spec);
/* Takes a ready zygote (the caller owns *ret_sock) and asks its template for another.
 * -EAGAIN when none is ready. tmpl identifies the template for warm_pool_claimed(). */
int warm_pool_take(struct warm_pool *p, pid_t *ret_pid, int *ret_sock, uid_t *ret_uid,
                   int *ret_tmpl);
/* Outcome of a claim (error NULL: it started): a template whose claims keep failing is
 * replaced. */
void warm_pool_claimed(struct warm_pool *p, int tmpl, const char *error);
/* A claimed zygote's run has ended (or its claim failed): refills may go on. */
void warm_pool_ended(struct warm_pool *p);
/* A warm request started cold. */
void warm_pool_fallback(struct warm_pool *p);
/* true when pid is one of the pool's processes (for the supervisor's reaping of strays). */
bool warm_pool_owns(const struct warm_pool *p, pid_t pid);
void warm_pool_stats(struct warm_pool *p, struct warm_stats *ret);

/* `pyroom __warm-template MODULES`: the template process (exec'd by the pool). */
int warm_template_main(int argc, char **argv);
/* `pyroom __warm-init`: pid 1 of a zygote (exec'd by sb_zygote_spawn). */
int warm_init_main(void);

#endif
