/*
 * live: what api/events.c and api/terminals.c share, private to src/api/. There is one
 * struct api per process, so the node's terminals and event subscribers are file-level
 * state of those two files, created by api_terminal_routes() and ended by api_stop_live().
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
/* The same with any JSON object as data (borrowed). */
void api_events_publish_json(int64_t ws, const char *type, json_t *data);
/* Answers GET /api/workspaces/{id}/events for workspace ws as a Server-Sent Event stream.
 * client: the page's presence id (valid per api_client_ok) or NULL; when the stream ends,
 * api_presence_left tells the workspace that this client left. */
void api_events_stream(struct http_req *req, int64_t ws, const struct api_caller *c,
                       const char *client);

/* Presence (collab.c). A page's id: 1..API_CLIENT_MAX of [A-Za-z0-9_-]. */
#define API_CLIENT_MAX 40
bool api_client_ok(const char *client);
/* A page opened the event stream of ws as client: the workspace hears `presence_joined`. */
void api_presence_joined(int64_t ws, const struct api_caller *c, const char *client);
/* Its stream ended: the workspace hears `presence_left`. */
void api_presence_left(int64_t ws, int64_t user_id, const char *username, const char *client);
/* Ends the event streams and closes the terminal clients opened by user_id (any of their
 * credentials; 0: none), by the session whose hash is session_hash (NULL: none) or by the API token
 * token_id (0: none): a disabled user, a logout or a revoked token keeps no live view of a
 * workspace and no shell. A role change ends the user's too; the page reconnects with its new
 * rights. */
void api_live_revoke(int64_t user_id, const char *session_hash, int64_t token_id);
/* The same, on this node only (a revocation that came over the cluster bus). */
void api_live_revoke_local(int64_t user_id, const char *session_hash, int64_t token_id);
/* Sends `resync` (reload the tree) to the subscribers of ws (0: of every workspace): the
 * events they would have had were lost or too large to carry. */
void api_events_resync(int64_t ws);
/* Streams one user may hold open: on this node (events.c) and in the cluster (terminals.c,
 * counted in the database). */
#define API_EVENTS_PER_USER 16
/* An event stream of user_id ended (terminals.c keeps the cluster-wide count). */
void api_events_closed(int64_t user_id);
/* Ends every stream (shutdown). */
void api_events_close(void);

#endif
