/* events: what changed in a workspace, for live environments and event subscribers. */
#include "api/internal.h"

void api_workspace_changed(struct api *api, int64_t ws, const char *path, const char *etag)
{
    (void)api;
    (void)ws;
    (void)path;
    (void)etag;
}
