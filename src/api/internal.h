/*
 * api internals, shared by the resource files of src/api/ and by nothing else.
 * The request flow: api_handle() routes; a handler authenticates with api_auth(), loads
 * what it acts on with an access check (api_workspace_load(): another user's workspace is
 * a 404, not a 403), parses its JSON body with api_body(), calls the store, and answers with
 * http_reply_json() or api_fail(), which maps a -errno to the one error table.
 */
#ifndef PYROOM_API_INTERNAL_H
#define PYROOM_API_INTERNAL_H

#include "api/access.h"
#include "api/api.h"
#include "api/errors.h"
#include "base/events.h"
#include "base/settings.h"
#include "http/router.h"
#include "http/server.h"
#include "sandbox/sandbox.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct archives;
struct cluster;
struct events;
struct forward;
struct terms;
struct lang;
struct ratelimit;
struct runs;

struct api {
    const struct settings *cfg;
    struct store *store;
    struct sup *sup;
    struct router *router;
    struct store_limits limits; /* file limits from the settings */
    struct runs *runs;          /* live runs */
    struct cluster *cluster;    /* this node among its peers (api/cluster.h) */
    struct forward *forward;    /* relays to peers (api/forward.h); NULL without a cluster */
    struct events *events;      /* workspace event subscribers (events.c) */
    /* The node's terminals (terminals.c); NULL when they could not start, and from
     * api_stop_live on. Handlers read it freely (they have all returned before it goes);
     * any other thread (an HTTP loop's upgrade callback, the cluster bus) holds terms_lock
     * for reading while it uses it, and api_stop_live clears it holding it for writing. */
    struct terms *terms;
    pthread_rwlock_t terms_lock;
    struct ratelimit *signup_by_ip; /* registrations per client address per hour (this node);
                                       NULL: no limit */
    struct lang *lang;              /* language workers (lang.c); NULL when off */
    struct archives *archives;      /* zip downloads in progress (archive.c) */
    int web_dirfd;                  /* the built page, or -1 */
    bool setup_open;                /* no user exists yet */
};

/* A second Content-Security-Policy for bytes a user wrote (workspace and snapshot files,
 * run artifacts). A browser enforces every policy it gets, so this one narrows the site's:
 * a user's SVG or file opened in a tab runs no script on our origin, even one loaded from
 * 'self' (another of their files), and cannot frame or post anywhere. <img> still works. */
#define API_USER_CONTENT_CSP                                                                       \
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"

/* Who is calling. */
struct api_caller {
    struct store_user user; /* strings owned by the caller struct; see api_caller_done */
    bool by_cookie;         /* authenticated by session cookie (needs CSRF on writes) */
    char csrf[80];          /* the session's CSRF token (cookie sessions) */
    char session_hash[80];  /* hash of the session token (cookie sessions) */
    int64_t token_id;       /* the API token's id (Bearer), else 0 */
};

/* Authenticates the request (cookie or Bearer) and, for state-changing methods with a
 * cookie, checks X-CSRF-Token. On failure answers 401/403 and returns false. */
bool api_auth(struct api *api, struct http_req *req, struct api_caller *ret);
void api_caller_done(struct api_caller *c);
bool api_is_reviewer(const struct api_caller *c); /* reviewer or admin */
bool api_is_admin(const struct api_caller *c);

/* Parses the body as a JSON object (duplicate keys refused). On failure answers 400 and
 * returns NULL. The caller owns the result. */
json_t *api_body(struct http_req *req);
/* A string member: NULL when absent; answers 400 and sets *bad when present but not a
 * string. */
const char *api_str(struct http_req *req, json_t *obj, const char *key, bool required, bool *bad);

/* Route parameter i as a positive id; answers 404 and returns false otherwise. */
bool api_param_id(struct http_req *req, size_t i, int64_t *ret);
/* ?limit= and ?offset= with defaults and bounds (limit 1..200, default 50). */
void api_page(struct http_req *req, int *ret_limit, int *ret_offset);
/* Adds "next_offset" to a list body. */
void api_page_next(json_t *body, int offset, size_t n, bool more);

/* Answers with the error `code` of the table (src/api/errors.h): the table's status and the
 * JSON body {"error":{"code","message"}}; fmt... is the message. A code that is not in the
 * table does not compile, and its status cannot drift from the table's. */
#define api_reply_error(req, code, ...)                                                            \
    http_reply_error((req), api_error_status(API_ERR_##code), api_error_name(API_ERR_##code),      \
                     __VA_ARGS__)

/* Maps a -errno from a lower layer to the error table and answers. what names the object
 * for the message ("workspace", "file"). */
void api_fail(struct http_req *req, int rc, const char *what);

/* Loads workspace id for a caller who needs at least level need in it (access.h): absent
 * or not visible → 404, visible but below need → 403, answered, false. */
bool api_workspace_load(struct api *api, struct http_req *req, const struct api_caller *c,
                        int64_t id, enum api_access need, struct store_workspace **ret);

/* Decodes the rest of the URL (a route's {*}) into a workspace path (PATH_BUF_SIZE bytes,
 * workspace/path.h); answers 400 invalid_path and returns false when it breaks the rules. */
bool api_url_path(struct http_req *req, char *path);

/* Whether the caller, who may read workspace w (api_workspace_load), may also change it:
 * edit its files, run it, type in its terminals (collab.c). */
bool api_may_edit(struct api *api, const struct api_caller *c, const struct store_workspace *w);

/* The common prologue of /api/workspaces/{id}/...: authenticates (into *c) and loads the
 * workspace of route parameter 0 for a caller with at least need. On false everything is
 * answered and released. */
bool api_workspace_request(struct api *api, struct http_req *req, struct api_caller *c,
                           enum api_access need, struct store_workspace **ret);

/* Answers 429 rate_limited with Retry-After and message. */
void api_too_many(struct http_req *req, unsigned retry_after, const char *message);

/* JSON helpers. */
json_t *api_time(int64_t ms); /* ISO 8601 UTC string, or null for 0 */
json_t *api_user_json(const struct store_user *u);
json_t *api_ref_json(int64_t id, const char *name); /* {"id","username"} or null */
json_t *api_workspace_json(const struct store_workspace *w);
json_t *api_file_json(const struct store_file *f);
bool api_valid_name(const char *s, size_t max); /* 1..max bytes, UTF-8, no controls */
bool api_valid_username(const char *s);         /* 2..32 of [A-Za-z0-9_.-] */

/* Audit log, best effort (a failure is logged, never fatal to the request). */
void api_audit(struct api *api, struct http_req *req, int64_t actor, const char *action,
               const char *target, const char *detail);

/* Tells live environments (terminals) and event subscribers that path changed in ws:
 * etag NULL for a deletion, "" for a folder. Never fails the request. */
void api_workspace_changed(struct api *api, int64_t ws, const char *path, const char *etag);

/* Runs (runs.c), shared with submissions. */
json_t *api_text_json(const void *data, size_t len); /* bytes as a JSON string (U+FFFD) */
json_t *api_run_json(const struct store_run *r, bool with_output);
/* May the caller act on run r with level need (access.h) in its workspace? Its starter
 * and admins always may; a submission's author and reviewers may too. Otherwise answers
 * 403 read_only (a viewer asking to steer) or 404 and returns false. */
bool api_run_visible(struct api *api, struct http_req *req, const struct api_caller *c,
                     const struct store_run *r, enum api_access need);
/* The run limits from the settings. */
void api_run_limits(const struct api *api, struct sb_limits *l);
/* Called once a run exists, before the answer (a submission's re-run records its expected
 * output). A negative return is answered as the error; the run goes on. */
struct api_run_hook {
    int (*started)(struct api *api, int64_t run_id, void *ctx);
    void *ctx;
};
/* Starts a run of a workspace or of a submission's snapshot from a request body
 * ({"entry","args","stdin","limits","interactive"}) and answers (202, or 200 with ?wait=1).
 * hook may be NULL. */
void api_run_start(struct api *api, struct http_req *req, const struct api_caller *c,
                   int64_t workspace_id, int64_t submission_id, json_t *body,
                   const struct api_run_hook *hook);

/* Runs entry of a workspace without saving anything back, waits for the result (a
 * submission's check). -ENOTSUP without sandboxes, -EAGAIN when the node is full. */
int api_run_check(struct api *api, int64_t workspace_id, int64_t user_id, const char *entry,
                  struct store_run **ret);

/* Node figures for GET /api/admin/stats (runs, terminals, pool). */
json_t *api_stats_json(struct api *api);

/* Metrics (metrics.c): the history sampler, started once the API is built. */
int api_metrics_start(struct api *api);
void api_metrics_stop(void);

/* Route registration, one per resource file. */
void api_auth_routes(struct router *r);
void api_admin_routes(struct router *r);
void api_workspace_routes(struct router *r);
void api_member_routes(struct router *r);  /* members.c */
void api_history_routes(struct router *r); /* history.c: restore */

/* history.c: answers GET .../files/{path} when it asks for the file's history (?history=1,
 * ?version=N or ?diff=A..B) and returns true; false when it asks for none (serve the file). */
bool api_history_answer(struct api *api, struct http_req *req, const struct store_workspace *w,
                        const char *path);
void api_file_routes(struct router *r);
void api_run_routes(struct router *r);
void api_submission_routes(struct router *r);
void api_terminal_routes(struct api *api, struct router *r); /* terminals.c, events */
void api_metrics_routes(struct router *r);
void api_openapi_routes(struct router *r);     /* openapi.c: the document and its docs page */
void api_lang_routes(struct router *r);        /* lang.c */
void api_environment_routes(struct router *r); /* environments.c: list and end terminals */
void api_search_routes(struct router *r);      /* search.c: search across a workspace's files */
void api_collab_routes(struct router *r);      /* collab.c: presence, co-editing */

/* The file path of ws changed other than by its editors (a terminal, a run, a restore, a
 * delete): its co-editing document, if any, is dropped and the pages hear `doc_reset`
 * (collab.c). Call it before publishing the change, so a page stops sharing the old text
 * before it hears of the new one (else it would save its text over the change). */
void api_doc_replaced(struct api *api, int64_t ws, const char *path);
/* A save that says it comes from a page co-editing document doc (X-Pyroom-Doc: doc) may
 * only write while that document lives: once it is dropped, the file was written elsewhere
 * and the old shared text must not go over it (nor over a new document's, started since).
 * False after answering (404 no_doc, or the store's error). */
bool api_doc_save_ok(struct api *api, struct http_req *req, int64_t ws, const char *path,
                     int64_t doc);

/* Zip downloads (archive.c). What one archive holds: a workspace's files (workspace_id)
 * or a submission's snapshot (submission_id), all of it or path and what is under it. */
struct archive_source {
    int64_t workspace_id;
    int64_t submission_id; /* set: the snapshot, workspace_id ignored */
    const char *path;      /* a valid path, or NULL for everything (borrowed) */
    const char *name;      /* the download's file name without ".zip" (borrowed) */
};
/* Answers with the zip of src, streamed (200), or an error: 404 for a path with nothing
 * there, 413 archive_too_large, 429 when the node streams --archive-streams already. The
 * caller has checked that the caller may read src. */
void api_archive_reply(struct api *api, struct http_req *req, const struct archive_source *src);
/* The limits in force: the settings, within what a zip without Zip64 holds. */
void api_archive_limits(const struct api *api, uint64_t *ret_files, uint64_t *ret_bytes);
int api_archives_new(unsigned max, struct archives **ret);
void api_archives_free(struct archives *a); /* waits for the downloads' producers; NULL ok */
void api_archive_routes(struct router *r);  /* a workspace's or a folder's zip */

/* The page (web.c). */
void api_web_get(struct api *api, struct http_req *req);

#endif
