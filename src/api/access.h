/*
 * access: the one answer to "what may user U do in workspace W". Every route under
 * /api/workspaces/{id}/ (and every run of a workspace) asks here, through
 * api_workspace_request()/api_workspace_load(), instead of comparing owner ids itself.
 *
 * Levels are ordered; each may do what the ones below it may:
 *   none    a stranger: the workspace does not exist for them (404, never 403, so ids
 *           cannot be probed)
 *   viewer  a member with role viewer: read files and their history, list and follow
 *           runs, the event stream, the member list
 *   editor  a member with role editor: also write files, restore versions, run, use
 *           terminals and the language services
 *   owner   the owner, or any admin: also rename, delete, share (members)
 * Submitting a workspace for review stays the owner's own act (an admin is not its author).
 */
#ifndef PYROOM_API_ACCESS_H
#define PYROOM_API_ACCESS_H

#include "store/store.h"

#include <stdbool.h>

struct api;
struct api_caller;
struct http_req;

/* The same order and names as enum store_member_role. */
enum api_access {
    API_ACCESS_NONE = STORE_MEMBER_NONE,
    API_ACCESS_VIEWER = STORE_MEMBER_VIEWER,
    API_ACCESS_EDITOR = STORE_MEMBER_EDITOR,
    API_ACCESS_OWNER = STORE_MEMBER_OWNER,
};

/* "none", "viewer", "editor", "owner". */
const char *api_access_name(enum api_access a);

/* The caller's level in w. 0, or -errno when the database failed (never a level then). */
int api_access_get(struct api *api, const struct api_caller *c, const struct store_workspace *w,
                   enum api_access *ret);

/* Checks that the caller has at least need in w, else answers: none → 404 not_found,
 * a lower level → 403 read_only (viewer) or forbidden (editor asking for owner); a
 * database failure → its error. *ret_level (may be NULL) gets the caller's level. */
bool api_access_check(struct api *api, struct http_req *req, const struct api_caller *c,
                      const struct store_workspace *w, enum api_access need,
                      enum api_access *ret_level);

#endif
