/*
 * store nodes: the cluster's membership and its bus, over the shared database.
 *
 * Each `pyroom serve` process is a node with an id made fresh at every start (never the
 * host name: two processes on one host, or a pod replaced under a new name, must not be
 * confused). A node's row says where peers reach it (advertise, an http:// URL), the token
 * a peer must present to it (node-to-node requests), and when it last beat. Runs and
 * terminal leases name the node id that owns them; store_node_reap() ends what a dead node
 * owned: its unfinished runs become `failed`, its leases go (another node may start the
 * workspace's environment), its row goes.
 *
 * The bus (PostgreSQL only): store_notify() sends a small text payload to every node that
 * listens on the channel (NOTIFY, delivered after commit, in order per sender); a bus
 * (store_bus_*) is one dedicated connection that LISTENs and hands notices to a callback.
 * Bulk data never travels on the bus: payloads name rows (a workspace, a path, an etag).
 * On SQLite there is one node and no bus (-ENOTSUP).
 */
#ifndef PYROOM_STORE_NODES_H
#define PYROOM_STORE_NODES_H

#include "base/err.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define STORE_NODE_ID_MAX 40 /* bytes of a node id, with its NUL */

struct store_node {
    char *id;
    char *advertise; /* http://HOST:PORT */
    char *token;     /* what a peer sends to this node (X-Pyroom-Node-Token) */
    int64_t started_at;
    int64_t heartbeat_at; /* ms */
};

/* Records (or re-records) node id with its address and token, beating now. */
int store_node_join(struct store *st, const char *id, const char *advertise, const char *token,
                    struct err *err);
/* Beats now. -ENOENT when the row is gone (peers declared the node dead). */
int store_node_beat(struct store *st, const char *id, struct err *err);
/* Marks node id draining: it takes no new runs or terminals (store_node_pick skips it). */
int store_node_drain(struct store *st, const char *id, struct err *err);
/* A node other than except, not draining, that beat at or after alive_after_ms, chosen at
 * random (*ret malloc'd). -ENOENT when there is none. */
int store_node_pick(struct store *st, const char *except, int64_t alive_after_ms, char **ret,
                    struct err *err);
/* Node id, else -ENOENT. */
int store_node_get(struct store *st, const char *id, struct store_node **ret, struct err *err);
void store_node_free(struct store_node *n);
/* Ids of the nodes (other than except) whose last beat is older than before_ms, or whose
 * advertise address equals same_advertise (a predecessor on this address: we bound it, so
 * it is dead). *ret is a malloc'd array of *ret_n malloc'd strings; store_node_ids_free. */
int store_nodes_dead(struct store *st, const char *except, int64_t before_ms,
                     const char *same_advertise, char ***ret, size_t *ret_n, struct err *err);
void store_node_ids_free(char **ids, size_t n);
/* Ends what node id owned (runs failed with reason, leases dropped) and removes its row,
 * in one transaction. *ret_runs (may be NULL) gets the runs failed. */
int store_node_reap(struct store *st, const char *id, const char *reason, int *ret_runs,
                    struct err *err);
/* Fails the unfinished runs that name no node of the table (runs recorded before nodes
 * existed, or by a node already reaped). */
int store_runs_fail_orphans(struct store *st, const char *reason, int *ret_runs, struct err *err);
/* Removes node id's row (a clean shutdown). */
int store_node_leave(struct store *st, const char *id, struct err *err);

/* Counts live terminal environments (leases) of workspaces owned by user_id across the
 * cluster, other than workspace except_ws. */
int store_leases_count_user(struct store *st, int64_t user_id, int64_t except_ws, int64_t *ret,
                            struct err *err);

/* The nodes other than except that hold live environments (unexpired leases) of
 * workspaces owned by user_id; as store_nodes_dead's result. */
int store_lease_nodes_user(struct store *st, int64_t user_id, const char *except, char ***ret,
                           size_t *ret_n, struct err *err);

/* Cluster-wide counters for rate limits: name's count in window win (any integer the
 * caller derives from the time) changes by delta (+1, -1 to give one back); *ret_cur is
 * the count after the change and *ret_prev the count of window win - 1. Rows older than
 * store_counters_expire's horizon are removed by it. */
int store_counter_add(struct store *st, const char *name, int64_t win, int64_t delta,
                      int64_t *ret_cur, int64_t *ret_prev, struct err *err);
int store_counters_expire(struct store *st, const char *prefix, int64_t before_win,
                          struct err *err);
/* Unfinished (queued or running) runs of user_id: in the whole cluster, and on nodes other
 * than node. */
int store_runs_unfinished_user(struct store *st, int64_t user_id, const char *node,
                               int64_t *ret_total, int64_t *ret_elsewhere, struct err *err);

/* Open event streams, per node and user (a cluster-wide cap per user). open records one
 * for user_id on node unless the user has max or more in the cluster (-EUSERS); close
 * removes one of them. A reaped node's go with it. */
int store_stream_open(struct store *st, const char *node, int64_t user_id, int64_t max,
                      struct err *err);
int store_stream_close(struct store *st, const char *node, int64_t user_id, struct err *err);

/* ---- the bus --------------------------------------------------------------------------- */

#define STORE_NOTIFY_MAX 7900 /* bytes of a payload (PostgreSQL's limit is 8000) */

/* Sends payload on channel. -ENOTSUP on SQLite, -E2BIG past STORE_NOTIFY_MAX. */
int store_notify(struct store *st, const char *channel, const char *payload, struct err *err);

struct store_bus;
typedef void (*store_bus_fn)(void *ctx, const char *payload);
/* A dedicated connection listening on channel. -ENOTSUP on SQLite. */
int store_bus_open(struct store *st, const char *channel, struct store_bus **ret, struct err *err);
/* Waits up to timeout_ms for notices and calls fn for each. 0 on success (with or without
 * notices); -EIO when the connection broke: the caller reconnects with store_bus_reopen
 * (notices sent meanwhile are lost, so it should tell its subscribers to resync). */
int store_bus_wait(struct store_bus *b, int timeout_ms, store_bus_fn fn, void *ctx,
                   struct err *err);
int store_bus_reopen(struct store_bus *b, struct err *err);
void store_bus_close(struct store_bus *b);

#endif
