/*
 * drain: how a node stops without losing work: on SIGTERM, or `pyroom drain` (the
 * Kubernetes preStop hook, which signals the server and waits for it to exit). Private to
 * src/api/; main.c uses api_drain_start/api_drained (api.h).
 *
 * Theory of operation. api_drain_start() marks the node draining: here (a flag every
 * handler may read) and in the nodes table (store_node_pick skips it). From then on:
 * - /api/ready answers 503, so load balancers and Kubernetes send new requests elsewhere;
 * - a new run reaching this node is relayed to a live peer that is not draining
 *   (drain_relay_run), or refused with 503 `unavailable` when there is none (one node);
 * - a terminal of a workspace whose environment is not here is relayed the same way, so
 *   its environment starts on the peer; attaching to an environment that lives here still
 *   works until the node ends it;
 * - every terminal of this node's environments gets a line "this server is restarting;
 *   ...", and the subscribers of those workspaces (on every node, over the bus) a
 *   `server_restarting` event, which the page shows.
 * Runs already here go on; api_drained() says when none is left or --drain-grace has
 * passed. main.c then stops as before: environments end (their last changes stored),
 * clients reconnect through another node and find a fresh shell with the files. Run
 * events, stdin, cancel and attaching to what lives here keep working while draining.
 */
#ifndef PYROOM_API_DRAIN_H
#define PYROOM_API_DRAIN_H

#include "api/internal.h"

#include <stdbool.h>
#include <stdint.h>

/* What terminal users and event subscribers are told. */
#define DRAIN_NOTICE                                                                               \
    "this server is restarting; your terminal will move to another server in a moment (programs "  \
    "running in it end; your files are kept)"

/* Whether this node is draining. */
bool api_draining(void);

/* While draining: relays a new run's request to a peer that is not draining, or answers
 * 503. true when req was answered; false when not draining (serve it here). */
bool drain_relay_run(struct api *api, struct http_req *req);

/* While draining: relays a terminal's WebSocket for workspace ws to a peer that is not
 * draining, unless ws's environment lives here (false: attach here), or answers 503. */
bool drain_relay_terminal(struct api *api, struct http_req *req, int64_t ws);

#endif
