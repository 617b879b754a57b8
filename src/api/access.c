/* access: a caller's level in a workspace, and the check every workspace route makes. */
#include "api/access.h"

#include "api/internal.h"

#include <errno.h>

const char *api_access_name(enum api_access a)
{
    return store_member_role_name((enum store_member_role)a);
}

int api_access_get(struct api *api, const struct api_caller *c, const struct store_workspace *w,
                   enum api_access *ret)
{
    if (w->owner_id == c->user.id || api_is_admin(c)) {
        *ret = API_ACCESS_OWNER;
        return 0;
    }
    enum store_member_role role = STORE_MEMBER_NONE;
    int r = store_member_get(api->store, w->id, c->user.id, &role, NULL);
    if (r == -ENOENT) {
        *ret = API_ACCESS_NONE;
        return 0;
    }
    if (r < 0)
        return r;
    /* A stored role is viewer or editor; anything else grants nothing. */
    *ret = role == STORE_MEMBER_EDITOR   ? API_ACCESS_EDITOR
           : role == STORE_MEMBER_VIEWER ? API_ACCESS_VIEWER
                                         : API_ACCESS_NONE;
    return 0;
}

bool api_access_check(struct api *api, struct http_req *req, const struct api_caller *c,
                      const struct store_workspace *w, enum api_access need,
                      enum api_access *ret_level)
{
    enum api_access have = API_ACCESS_NONE;
    int r = api_access_get(api, c, w, &have);
    if (r < 0) {
        api_fail(req, r, "workspace");
        return false;
    }
    if (have == API_ACCESS_NONE) {
        api_reply_error(req, not_found, "no such workspace");
        return false;
    }
    if (have < need) {
        if (have == API_ACCESS_VIEWER)
            api_reply_error(req, read_only,
                            "you may look at this workspace but not change it (viewer)");
        else
            api_reply_error(req, forbidden, "only the workspace's owner (or an admin) may do this");
        return false;
    }
    if (ret_level)
        *ret_level = have;
    return true;
}
