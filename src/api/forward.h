/*
 * forward: requests for something another node owns, served by that node. Private to
 * src/api/.
 *
 * Theory of operation. A run lives on the node that runs it and a terminal on the node that
 * holds its workspace's lease; any node may receive the request (round-robin proxies,
 * Kubernetes Services). The receiving node authenticates the caller and checks access as
 * for any request, then relays the request to the owner's advertised address over plain
 * HTTP/1.0 (HTTP/1.1 for a WebSocket upgrade) and relays the answer back: a JSON answer
 * whole, an event stream chunk by chunk, a WebSocket byte for byte in both directions. One
 * relay thread per node reads every owner's answer and joins every proxied WebSocket: a
 * forwarded request holds no HTTP worker while the owner works, and a proxied terminal
 * holds no thread of its own. The owner checks the caller's credentials again: a
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

/* Relays req to node and answers with its answer (later: the request is deferred, the
 * caller just returns). query names the query arguments to
 * pass on (NULL-terminated, may be NULL). Returns true when req was answered (relayed, or
 * 503 when the owner could not be reached), false when node is this node or is not alive:
 * the caller serves the request itself. */
bool forward_request(struct api *api, struct http_req *req, const char *node,
                     const char *const *query);

/* The same for a WebSocket upgrade (a terminal): the client's handshake goes to the owner,
 * and once the owner switches protocols the two sockets are joined. */
bool forward_websocket(struct api *api, struct http_req *req, const char *node,
                       const char *const *query);

struct forward;

/* The relay (one thread and one epoll set), owned by struct api. 0 or -errno. */
int forward_new(struct forward **ret);
/* Answers every request still waiting for its owner with 503, ends relayed event streams,
 * closes proxied WebSockets (with "reconnect") and stops the relay thread. Before the HTTP
 * server stops; accepts NULL; a second call does nothing. */
void forward_stop(struct forward *fw);
/* Stops (if not yet) and frees. After the HTTP server has stopped. Accepts NULL. */
void forward_free(struct forward *fw);

#endif
