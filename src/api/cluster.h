/*
 * cluster: this node's identity among its peers, their liveness, and the bus between them.
 * Private to src/api/.
 *
 * Theory of operation. cluster_start() gives the process a node id that is new at every
 * start ("n" and 16 random hex digits), an advertised address (--advertise, default from
 * --listen) and a random token that peers must present to it (forward.c), and records them
 * in the nodes table. Then it ends what dead predecessors owned (store_node_reap): the
 * previous process on this data directory (DATA_DIR/node.id, held under a lock while alive),
 * any node that advertised the address we just bound, any node whose heartbeat is older
 * than --node-timeout, and runs that name no known node (from before nodes existed). It
 * never touches a live peer's runs.
 *
 * A heartbeat thread beats every fifth of --node-timeout and reaps peers that stopped
 * beating: their unfinished runs are failed and their terminal leases dropped, so another
 * node may start those workspaces' environments. If this node finds its own row gone (it
 * was declared dead while paused), it logs and joins again under the same id.
 *
 * The bus (PostgreSQL only) is a LISTEN connection on its own thread. Messages are small
 * JSON texts {"n": sender, "k": kind, ...}: "ev" (a workspace event for subscribers; with
 * "apply", also a change the live environment of the workspace must see), "revoke" (end a
 * user's, session's or token's live views), "evj" (a workspace event with any JSON data, for
 * subscribers only: presence, co-editing), "resync" (a workspace's event was too large
 * to carry: subscribers reload), "user" (an event for the own streams of a list of users:
 * the review bell). A node ignores its own messages (it delivered them
 * locally already). When the bus connection breaks, notices may have been lost: every
 * local subscriber is told to resync once the bus is back.
 */
#ifndef PYROOM_API_CLUSTER_H
#define PYROOM_API_CLUSTER_H

#include "api/internal.h"

#include <stdbool.h>
#include <stdint.h>

struct cluster;

/* Joins the cluster (see above). data_dir must exist. */
int cluster_start(struct api *api, struct cluster **ret, struct err *err);
/* Starts the heartbeat and bus threads (after the api is complete). */
int cluster_run(struct cluster *c, struct err *err);
/* Stops the threads and leaves the nodes table. Accepts NULL. */
void cluster_stop(struct cluster *c);
/* The cluster of this process, or NULL (not started). */
struct cluster *api_cluster(void);

const char *cluster_node(const struct cluster *c);
struct store *cluster_store(const struct cluster *c);
bool cluster_has_bus(const struct cluster *c);
/* A live peer's advertised URL and token (malloc'd). -ENOENT when node is this one, is
 * unknown, or missed its heartbeats; other -errno from the store. */
int cluster_peer(struct cluster *c, const char *node, char **ret_url, char **ret_token);
/* A live peer that is not draining, chosen at random (*ret malloc'd): where new work goes
 * while this node drains. -ENOENT when there is none. */
int cluster_pick_peer(struct cluster *c, char **ret);
/* Whether token is this node's (constant time). */
bool cluster_token_ok(const struct cluster *c, const char *token);

/* Tells the other nodes (bus): an event of workspace ws for their subscribers; apply: the
 * stored files changed (path, etag as in api_workspace_changed), so a live environment
 * there must see it. No-op without a bus. */
void cluster_send_event(struct cluster *c, int64_t ws, const char *type, const char *path,
                        const char *etag, const char *message, bool apply);
/* Tells the other nodes: an event of workspace ws with any JSON object as data (borrowed),
 * for their subscribers only. One too large for the bus becomes a `resync`. */
void cluster_send_event_json(struct cluster *c, int64_t ws, const char *type, json_t *data);
/* Tells the other nodes: an event of type with data (borrowed) for the own streams (GET
 * /api/events) of users[0..n); as many messages as the bus's size needs. */
void cluster_send_users(struct cluster *c, const int64_t *users, size_t n, const char *type,
                        json_t *data);
/* Tells the other nodes to end the live views of a user, session or token. */
void cluster_send_revoke(struct cluster *c, int64_t user_id, const char *session_hash,
                         int64_t token_id);

#endif
