/*
 * live: what api/events.c and api/terminals.c share, private to src/api/. There is one
 * struct api per process, so the node's terminals and event subscribers are file-level
 * state of those two files, created by api_terminal_routes() and ended by api_stop_live().
 *
 * Who owns what. This layer decides which events exist and who receives them
 * (api_events_publish is the one entry point: a producer on any node calls it with a
 * workspace, an event name and its fields). How the bytes reach a socket is http/server.h's
 * business: each subscriber holds an http_stream that events.c only writes whole SSE
 * events into (http_stream_write), ends (http_stream_end) and releases when the server
 * says it is closed (its on_close). Nothing here blocks or holds a thread per stream.
 */
#ifndef PYROOM_API_LIVE_H
#define PYROOM_API_LIVE_H

#include "api/internal.h"

#include <stdint.h>

struct terms;

/* The node's terminals, or NULL when they could not start (then terminals answer 503). */
struct terms *api_terms(void);

/* Sends an event to the subscribers of workspace ws: type is the SSE event name, the data
 * {"path","etag","message"} (etag and message may be NULL). */
void api_events_publish(int64_t ws, const char *type, const char *path, const char *etag,
                        const char *message);
/* Sets the per-user cap on open event streams (--max-event-streams-per-user). */
void api_events_configure(unsigned max_per_user);
/* Answers GET /api/workspaces/{id}/events for workspace ws as a Server-Sent Event stream. */
void api_events_stream(struct http_req *req, int64_t ws, const struct api_caller *c);
/* Ends the event streams and closes the terminal clients opened by user_id (any of their
 * credentials; 0: none), by the session whose hash is session_hash (NULL: none) or by the API token
 * token_id (0: none): a disabled user, a logout or a revoked token keeps no live view of a
 * workspace and no shell. A role change ends the user's too; the page reconnects with its new
 * rights. */
void api_live_revoke(int64_t user_id, const char *session_hash, int64_t token_id);
/* Ends every stream (shutdown). */
void api_events_close(void);

#endif
