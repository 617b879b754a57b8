/*
 * live: what api/events.c and api/terminals.c share, private to src/api/. The node's live
 * views belong to its struct api: the event subscribers (api->events, events.c) and the
 * terminals (api->terms, terminals.c; see internal.h for who may read it when).
 *
 * Who owns what. This layer decides which events exist and who receives them
 * (api_events_publish is the one entry point: a producer on any node calls it with a
 * workspace, an event name and its fields). How the bytes reach a socket is http/server.h's
 * business: each subscriber holds an http_stream that events.c only writes whole SSE
 * events into (http_stream_write), ends (http_stream_end) and releases when the server
 * says it is closed (its on_close). Nothing here blocks or holds a thread per stream.
 *
 * Shutdown order (main.c): the HTTP server stops accepting and joins its workers
 * (http_server_quiesce: no handler runs from then on), api_stop_live ends the streams,
 * relays and terminals, the HTTP server stops (every stream's on_close has run when it
 * returns), and only then api_free frees what they used.
 */
#ifndef PYROOM_API_LIVE_H
#define PYROOM_API_LIVE_H

#include "api/internal.h"

#include <stdint.h>

/* The subscribers' registry, with the per-user cap on open streams
 * (--max-event-streams-per-user). 0 or -ENOMEM. */
int api_events_new(unsigned max_per_user, struct events **ret);
/* After the HTTP server has stopped (no stream is open). Accepts NULL. */
void api_events_free(struct events *ev);

/* Sends an event to the subscribers of workspace ws: type is the SSE event name, the data
 * {"path","etag","message"} (etag and message may be NULL). */
void api_events_publish(struct api *api, int64_t ws, const char *type, const char *path,
                        const char *etag, const char *message);
/* The same with any JSON object as data (borrowed). */
void api_events_publish_json(struct api *api, int64_t ws, const char *type, json_t *data);
/* Answers GET /api/workspaces/{id}/events for workspace ws as a Server-Sent Event stream.
 * client: the page's presence id (valid per api_client_ok) or NULL; when the stream ends,
 * api_presence_left tells the workspace that this client left. */
void api_events_stream(struct api *api, struct http_req *req, int64_t ws,
                       const struct api_caller *c, const char *client);
/* The same, first taking one of the user's places among their event streams in the whole
 * cluster (--max-event-streams-per-user; 429 beyond). ws 0: the user's own stream (GET
 * /api/events), which hears only api_users_event. */
void api_events_open(struct api *api, struct http_req *req, int64_t ws, const struct api_caller *c,
                     const char *client);
/* Sends an event of type with data (a JSON object, borrowed) to the own streams of users[0..n)
 * (GET /api/events), on this node and, over the cluster bus, on the others. */
void api_users_event(struct api *api, const int64_t *users, size_t n, const char *type,
                     json_t *data);
/* The same, on this node only (what came over the bus). */
void api_users_event_local(struct api *api, const int64_t *users, size_t n, const char *type,
                           json_t *data);

/* Presence (collab.c). A page's id: 1..API_CLIENT_MAX of [A-Za-z0-9_-]. */
#define API_CLIENT_MAX 40
bool api_client_ok(const char *client);
/* A page opened the event stream of ws as client: the workspace hears `presence_joined`. */
void api_presence_joined(struct api *api, int64_t ws, const struct api_caller *c,
                         const char *client);
/* Its stream ended: the workspace hears `presence_left`. */
void api_presence_left(struct api *api, int64_t ws, int64_t user_id, const char *username,
                       const char *client);
/* Ends the event streams and closes the terminal clients opened by user_id (any of their
 * credentials; 0: none), by the session whose hash is session_hash (NULL: none) or by the API token
 * token_id (0: none): a disabled user, a logout or a revoked token keeps no live view of a
 * workspace and no shell. A role change ends the user's too; the page reconnects with its new
 * rights. */
void api_live_revoke(struct api *api, int64_t user_id, const char *session_hash, int64_t token_id);
/* The same, on this node only (a revocation that came over the cluster bus). */
void api_live_revoke_local(struct api *api, int64_t user_id, const char *session_hash,
                           int64_t token_id);
/* Sends `resync` (reload the tree) to the subscribers of ws (0: of every workspace): the
 * events they would have had were lost or too large to carry. */
void api_events_resync(struct api *api, int64_t ws);
/* An event stream of user_id ended (terminals.c keeps the cluster-wide count). */
void api_events_closed(struct api *api, int64_t user_id);
/* Ends every stream and refuses new ones (shutdown). */
void api_events_close(struct api *api);

/* terms_workspace_changed on the node's terminals, from any thread (terms_lock). */
void api_terms_workspace_changed(struct api *api, int64_t ws, const char *path, const char *etag);

#endif
