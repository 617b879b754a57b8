/*
 * web: serves the built page (web/dist) at `/`. Files are read beneath the web directory
 * (base/beneath.h: openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, capped), so no request
 * path can escape it.
 * Names carrying a content hash (name-HASH.ext) are cached for a year; index.html is
 * revalidated every time. Any other non-API path gets index.html (client-side routes).
 */
#include "api/internal.h"
#include "base/beneath.h"

#include <stdlib.h>
#include <string.h>

#define WEB_MAX_FILE (16u << 20)

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* A hashed asset looks like name-XXXXXXXX.ext with at least 8 hash characters. */
static bool is_hashed(const char *name)
{
    const char *dash = strrchr(name, '-');
    const char *dot = strrchr(name, '.');
    return dash && dot && dot > dash && dot - dash > 8;
}

static int send_file(struct api *api, struct http_req *req, const char *rel, bool fallback)
{
    char *data = NULL;
    size_t got = 0;
    int r = beneath_read(api->web_dirfd, rel, WEB_MAX_FILE, &data, &got);
    if (r < 0)
        return r;
    const char *cache =
        is_hashed(rel) && !fallback ? "public, max-age=31536000, immutable" : "no-cache";
    const char *const headers[] = {"Cache-Control", cache, NULL};
    r = http_reply(req, 200, content_type(rel), data, got, headers);
    free(data);
    return r;
}

void api_web_get(struct api *api, struct http_req *req)
{
    if (api->web_dirfd < 0) {
        api_reply_error(req, unavailable,
                        "the web page is not built; run `make` (it builds web/dist)");
        return;
    }
    const char *p = req->path + 1; /* skip the leading '/' */
    char *rel = NULL;
    if (*p)
        rel = http_unescape(p, strlen(p), false);
    bool ok_name = rel && *rel && !strstr(rel, "..") && rel[0] != '/';
    if (ok_name && send_file(api, req, rel, false) == 0) {
        free(rel);
        return;
    }
    free(rel);
    /* Unknown paths that look like files are 404; the rest are client-side routes. */
    const char *last = strrchr(req->path, '/');
    if (last && strchr(last, '.')) {
        api_reply_error(req, not_found, "no such file");
        return;
    }
    if (send_file(api, req, "index.html", true) < 0)
        api_reply_error(req, unavailable, "the web page is not built");
}
