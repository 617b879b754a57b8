/*
 * supervisor: the single-threaded process that alone creates, limits, watches and kills
 * sandboxes for the (multi-threaded) server.
 *
 * sup_start() forks it at start-up, before any thread exists; the two speak over a
 * SOCK_SEQPACKET socketpair. Each sandbox gets its own small socketpair, the "channel",
 * created by sup_spawn(): its client end is all the server holds for a sandbox. The spawn
 * reply (with the stdio pipes or the PTY master, passed with SCM_RIGHTS), kill requests and
 * the final result travel on the channel, so threads never share a reply stream and no
 * reader thread is needed: sup_wait() blocks on the channel, or a caller with an event loop
 * watches sup_proc.chan (readable = the result has arrived) and calls sup_result().
 *
 * Who enforces what: wall time and the cgroup limits (CPU, pids, memory) are enforced by
 * the supervisor; the output cap by whoever reads the pipes (it calls
 * sup_kill(p, SB_LIMIT_OUTPUT)). Closing a channel (sup_proc_free) kills its sandbox.
 *
 * Failure: if the server dies, the supervisor sees EOF on its socket, kills every sandbox
 * and exits; if the supervisor dies, every sandbox dies with it (their pid 1 has
 * PDEATHSIG), sup_fd() reports POLLHUP and every call returns -EPIPE or -ECONNRESET.
 *
 * Threads: every function may be called from any thread at once, except sup_start and
 * sup_stop; one sup_proc is used by one thread at a time, except sup_kill, which may race
 * with a sup_wait on the same sandbox.
 */
#ifndef PYROOM_EXEC_SUPERVISOR_H
#define PYROOM_EXEC_SUPERVISOR_H

#include "base/err.h"
#include "exec/warm.h"
#include "sandbox/sandbox.h"

#include <stdbool.h>
#include <stdint.h>

struct sup_config {
    struct sb_config sandbox; /* passed to sb_host_new() in the supervisor */
    struct warm_config warm;  /* the warm Python pool (warm.h); off when !warm.enabled */
};

/* The client's handle on the supervisor. */
struct sup;

/* One sandbox as seen by a client. */
struct sup_proc {
    uint64_t id;        /* supervisor-wide id, for logs */
    pid_t pid;          /* host pid of the sandbox's pid 1 */
    bool warm;          /* started in a warm interpreter (asked with sb_spec.warm) */
    int chan;           /* the channel: readable once the result is there (close-on-exec) */
    struct sb_stdio io; /* parent ends of stdio: owned by the caller, who closes them */
};

/* Forks the supervisor, which probes the host (sb_host_new); fails with its message if
 * sandboxes are impossible here. Call before creating any thread. */
int sup_start(const struct sup_config *cfg, struct sup **ret, struct err *err);
/* Ends the supervisor (it kills every sandbox first) and waits for it. NULL is fine. */
void sup_stop(struct sup *s);
/* The sandbox host's one-line summary (mode, which limits are exact), for the log. */
const char *sup_summary(const struct sup *s);
/* The supervisor's socket: POLLHUP (or readable) means the supervisor has died. */
int sup_fd(const struct sup *s);

/* Starts a sandbox; returns once its program has been exec'd. *ret is the caller's. */
int sup_spawn(struct sup *s, const struct sb_spec *spec, struct sup_proc **ret, struct err *err);
/* Kills the sandbox's tree, recording `why` as the limit hit (SB_LIMIT_NONE: a cancel).
 * Harmless after the end. */
int sup_kill(struct sup_proc *p, enum sb_limit why);
/* Blocks until the sandbox has ended; -EPIPE if the supervisor died meanwhile. */
int sup_wait(struct sup_proc *p, struct sb_result *ret);
/* Non-blocking sup_wait: -EAGAIN while the sandbox runs. */
int sup_result(struct sup_proc *p, struct sb_result *ret);
/* Closes the channel (killing the sandbox if it still runs); leaves p->io alone. */
void sup_proc_free(struct sup_proc *p);
/* The warm pool's figures (enabled false when it is off or could not start). */
int sup_warm_stats(struct sup *s, struct warm_stats *ret);

/* The spawn request's wire format, exposed for tests and the fuzz target. Encoding needs
 * at most sizeof header + SB_MAX_STRINGS bytes. Decoding checks every count, bound and
 * terminator; spec, argv (SB_MAX_ARGS + 1 entries) and env (SB_MAX_ENV + 1) then point
 * into data. Both return 0 or a negative errno. */
int sup_encode_spawn(const struct sb_spec *spec, void *data, size_t cap, size_t *ret_len);
int sup_decode_spawn(const void *data, size_t len, struct sb_spec *spec, const char **argv,
                     const char **env);

#endif
