/*
 * forward internals, shared by forward.c (the relay) and forward_peer.c (reaching the
 * owner) and by nothing else.
 */
#ifndef PYROOM_API_FORWARD_INTERNAL_H
#define PYROOM_API_FORWARD_INTERNAL_H

#include "api/internal.h"

#include <stdbool.h>

#define ANSWER_MS 90000       /* for a peer's whole answer (cancel waits up to 30 s) */
#define HEAD_MAX  16384       /* bytes of a peer's status line and headers */
#define BODY_MAX  (64u << 20) /* bytes of a peer's (non-streamed) answer */

/* Connects to node's address and sends req (query: the arguments to pass on, upgrade: a
 * WebSocket handshake). The socket; -ENOENT when node is not a live peer; -EHOSTUNREACH
 * (*why says what failed) or another -errno from the store. */
int forward_dial_peer(struct api *api, struct http_req *req, const char *node,
                      const char *const *query, bool upgrade, const char **why);
/* forward_dial_peer, answering req when it fails: the socket, 0 when node is not a live
 * peer, or -1 after answering (503 when the peer did not answer). */
int forward_open_to(struct api *api, struct http_req *req, const char *node,
                    const char *const *query, bool upgrade);
/* Answers req 503 "unavailable" (Retry-After) and logs why node did not answer. */
void forward_unreachable(struct http_req *req, const char *node, const char *why);

#endif
