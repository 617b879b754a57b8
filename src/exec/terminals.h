/*
 * terminals: live environments and their shells, served over WebSockets.
 *
 * Theory of operation. A workspace that has a terminal open has a live environment: its
 * files written into DATA_DIR/envs/<workspace id>/ and kept in step with the store by
 * workspace/sync. Each named terminal of the environment is one sandbox (made by the
 * supervisor, `bash -l` on a PTY of the sandbox's own devpts) with that directory at
 * /home/user; the terminals of one workspace share the directory and its owner uid
 * (sb_spec.shared_workspace) but not their processes.
 *
 * terms_open() runs on the caller's thread (an HTTP connection's): it finds or starts the
 * environment and the terminal, which is slow (files, clone) and so is kept off the loop.
 * terms_attach() hands the upgraded socket to the loop: one epoll thread that owns every
 * terminal socket and PTY, so a keystroke goes socket -> PTY and the echo PTY -> socket
 * with no thread hop. Output goes to every client of the terminal and into a scrollback
 * ring (replayed to each new client); input comes from any client.
 *
 * Bounds. Each client has a send queue of client_queue bytes; while any client of a
 * terminal lacks room, the loop stops reading that PTY (the shell blocks on write), and a
 * client that stays full for SLOW_CLIENT_MS is dropped, so a slow client stalls its
 * terminal briefly and never grows memory. Input to a PTY that is not draining stops the
 * loop reading that client's socket (TCP pushes back on the sender). Pings go out every
 * ping_s; a client silent for three intervals is dropped.
 *
 * Lifecycle: an environment with no client and no terminal input or output for
 * idle_timeout_s ends; so does one older than max_lifetime_s; a user may have
 * max_per_user environments live at once. When an environment ends, its shells are
 * killed, the last changes are stored, and the directory is removed. terms_new() removes
 * what a crashed server left in DATA_DIR/envs; terms_free() ends every environment.
 * Several nodes: an environment holds the workspace's lease (store_lease_*), renewed while
 * it lives; a node refuses to start one whose lease another node holds.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef PYROOM_EXEC_TERMINALS_H
#define PYROOM_EXEC_TERMINALS_H

#include "base/err.h"
#include "sandbox/sandbox.h"
#include "store/store.h"
#include "workspace/sync.h"

#include <stddef.h>
#include <stdint.h>

struct sup;
struct terms;
struct term_ref;

#define TERM_NAME_MAX 32 /* bytes in a terminal's name */

/* File changes made in an environment, and conflicts or refused files, for subscribers. */
typedef void (*terms_notify_fn)(void *ctx, int64_t ws, enum wsync_event ev, const char *path,
                                const char *etag, const char *message);

struct terms_config {
    const char *data_dir;      /* environments live in DATA_DIR/envs/<workspace id> */
    const char *node;          /* this node's name, for leases */
    struct sb_limits limits;   /* per terminal (wall time is ignored: see max_lifetime_s) */
    struct store_limits files; /* workspace limits for what the terminal writes */
    uint64_t inodes;           /* files and folders an environment may add (0: 20000); its
                                  bytes: files.max_workspace_bytes + limits.workspace_bytes */
    unsigned idle_timeout_s;   /* no client and no I/O for this long ends an environment */
    unsigned max_lifetime_s;   /* an environment never lives longer */
    unsigned max_per_user;     /* live environments per workspace owner */
    unsigned max_terminals;    /* terminals per environment */
    size_t scrollback;         /* bytes kept per terminal for replay */
    size_t client_queue;       /* bytes queued per client before backpressure */
    unsigned ping_s;           /* seconds between pings */
    terms_notify_fn notify;    /* may be NULL; called on the sync thread */
    void *notify_ctx;
};

/* store and sup must outlive terms; sup NULL makes terms_open fail with -ENOSYS. */
int terms_new(const struct terms_config *cfg, struct store *store, struct sup *sup,
              struct terms **ret, struct err *err);
/* Ends every environment (clients get an error and a close, the last changes are stored),
 * stops the threads and frees. Call before the HTTP server stops. NULL is fine. */
void terms_free(struct terms *t);

/* Finds or starts workspace ws's environment (owner: its owner's user id) and its terminal
 * `name` (valid: 1..TERM_NAME_MAX of [A-Za-z0-9_.-]). *ret holds the terminal until
 * terms_attach or terms_ref_free. Errors: -EINVAL bad name; -EUSERS the owner has
 * max_per_user environments; -EMFILE max_terminals in this one; -EBUSY another node holds
 * the workspace's lease; -ESHUTDOWN closing; -ENOSYS no sandboxes; others from the store
 * or the supervisor (err says what). */
int terms_open(struct terms *t, int64_t ws, int64_t owner, const char *name, struct term_ref **ret,
               struct err *err);
/* A read-only hold on workspace ws's live terminal `name` for a watcher (a viewer, or a
 * page asking to watch): never starts anything; the client attached with it gets the
 * scrollback and the output, and its input and resizes are not taken (it is told once,
 * {"type":"error","code":"read_only"}). -ENOENT: no such live terminal on this node;
 * -EINVAL: bad name. */
int terms_watch(struct terms *t, int64_t ws, const char *name, struct term_ref **ret);
/* Hands an upgraded WebSocket (fd, and its http_upgrade_close handle) to the loop, which
 * replays the scrollback and from then on owns the socket. Consumes ref. */
void terms_attach(struct terms *t, struct term_ref *ref, int fd, void *handle, const char *extra,
                  size_t extra_len);
void terms_ref_free(struct term_ref *ref);
/* Records who attaches with ref (before terms_attach): the user, the hash of their
 * session (NULL for a token) or the id of their API token (0 for a session), so that
 * terms_revoke can find the client later. */
void terms_ref_set_caller(struct term_ref *ref, int64_t user_id, const char *session_hash,
                          int64_t token_id);
/* Closes (1008) every client attached by user_id (0: none), by the session session_hash
 * (NULL: none) or by the token token_id (0: none): a disabled user, a logout or a revoked
 * token keeps no open shell. The shells themselves live on for other clients. */
void terms_revoke(struct terms *t, int64_t user_id, const char *session_hash, int64_t token_id);

/* The store changed path in workspace ws (etag as in wsync_apply): a live environment sees
 * it at once. */
void terms_workspace_changed(struct terms *t, int64_t ws, const char *path, const char *etag);

/* One live environment, as terms_list reports it. */
#define TERMS_LIST_NAMES 8
struct terms_env_info {
    int64_t ws;
    uint64_t age_ms;  /* since it started */
    uint64_t idle_ms; /* since its last input, output, attach or detach */
    unsigned clients; /* attached clients, all terminals */
    unsigned nterms;  /* live terminals; names[] holds the first TERMS_LIST_NAMES */
    char names[TERMS_LIST_NAMES][TERM_NAME_MAX + 1];
};

/* Fills out[0..max) with owner's live environments on this node (not ending), newest
 * first; returns how many there are (may exceed max). The page lists them when the owner
 * reaches max_per_user. */
size_t terms_list(struct terms *t, int64_t owner, struct terms_env_info *out, size_t max);
/* Writes text as a notice (in colour, between lines) to every terminal of every live
 * environment here, and fills ret_ws[0..max) with their workspaces; returns how many
 * environments there are (may exceed max). */
size_t terms_notice_all(struct terms *t, const char *text, int64_t *ret_ws, size_t max);
/* Ends workspace ws's terminal `name` (its shell is killed; clients get the exit), or with
 * name NULL its whole environment. -ENOENT: no such live environment or terminal here. */
int terms_end(struct terms *t, int64_t ws, const char *name);

/* Live environments, terminals and clients on this node. */
void terms_stats(struct terms *t, unsigned *ret_envs, unsigned *ret_terms, unsigned *ret_clients);

#endif
