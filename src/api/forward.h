/*
 * forward: requests for something another node owns, served by that node. Private to
 * src/api/.
 *
 * Theory of operation. A run lives on the node that runs it and a terminal on the node that
 * holds its workspace's lease; any node may receive the request (round-robin proxies,
 * Kubernetes Services). The receiving node authenticates the caller and checks access as
 * for any request, then relays the request to the owner's advertised address over plain
 * HTTP/1.0 (HTTP/1.1 for a WebSocket upgrade) and relays the answer back: a JSON answer
 * whole, an event stream chunk by chunk, a WebSocket byte for byte in both directions (one
 * relay thread per proxied terminal). The owner checks the caller's credentials again: a
 * node forwards the caller's own Cookie, Authorization and X-CSRF-Token, never a privilege
 * of its own.
 *
 * Node-to-node authentication: the request carries X-Pyroom-Node-Token with the owner's
 * token from the nodes table (random per process start, readable only with database
 * access). A request with a valid token is "from a peer": it is never forwarded again (no
 * loops); it gains nothing else (X-Pyroom-Client, the caller's address as the forwarding
 * node saw it, is informational). A request with a wrong token is refused (403) before
 * anything else.
 */
#ifndef PYROOM_API_FORWARD_H
#define PYROOM_API_FORWARD_H

#include "api/internal.h"

#include <stdbool.h>

#define FORWARD_TOKEN_HEADER "X-Pyroom-Node-Token"

/* 1: req came from a peer with our token; 0: from a client; -1: it carried a wrong token
 * (answered 403). */
int forward_origin(struct api *api, struct http_req *req);

/* Relays req to node and answers with its answer. query names the query arguments to
 * pass on (NULL-terminated, may be NULL). Returns true when req was answered (relayed, or
 * 503 when the owner could not be reached), false when node is this node or is not alive:
 * the caller serves the request itself. */
bool forward_request(struct api *api, struct http_req *req, const char *node,
                     const char *const *query);

/* Asks node the same request and returns its 200 answer's JSON body (*ret, the caller's):
 * for a question every node answers about itself. -ENOENT when node is this node or is
 * not alive; -EHOSTUNREACH when it did not answer, or not with 200 and JSON. Answers
 * nothing on req. */
int forward_fetch(struct api *api, struct http_req *req, const char *node, json_t **ret);

/* As forward_request, for a WebSocket upgrade (a terminal): the client's handshake goes to
 * the owner, and once the owner switches protocols the two sockets are joined. */
bool forward_websocket(struct api *api, struct http_req *req, const char *node,
                       const char *const *query);

/* Ends every proxied WebSocket and waits for their threads (shutdown, before the HTTP
 * server stops). */
void forward_stop(void);

#endif
