/*
 * web: serves the built page (web/dist) at `/`. Files are read beneath the web directory
 * (base/beneath.h: openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, capped), so no request
 * path can escape it.
 * Names carrying a content hash (name-HASH.ext) are cached for a year; index.html is
 * revalidated every time (an ETag makes that a 304). Any other non-API path gets index.html
 * (client-side routes).
 *
 * Compression happens at build time: web/build.mjs writes name.br and name.gz next to each
 * text asset. A client whose Accept-Encoding takes br (else gzip) gets that file with its
 * Content-Encoding, when it exists and is not older than the original (a half-finished
 * build never serves a stale body); every answer for a compressible type says
 * Vary: Accept-Encoding. The ETag names the original's size and mtime and the coding.
 */
#include "api/internal.h"
#include "base/beneath.h"
#include "http/accept.h"
#include "http/etag.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEB_MAX_FILE (16u << 20)

static const struct {
    const char *ext;
    const char *type;
    bool compressible; /* build.mjs writes .br/.gz siblings for these */
} types[] = {
    {".html", "text/html; charset=utf-8", true},
    {".js", "text/javascript; charset=utf-8", true},
    {".css", "text/css; charset=utf-8", true},
    {".svg", "image/svg+xml", true},
    {".png", "image/png", false},
    {".ico", "image/x-icon", false},
    {".woff2", "font/woff2", false},
    {".json", "application/json", true},
    {".map", "application/json", true},
    {".txt", "text/plain; charset=utf-8", true},
};

static const char *content_type(const char *name, bool *ret_compressible)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0) {
            *ret_compressible = types[i].compressible;
            return types[i].type;
        }
    *ret_compressible = false;
    return "application/octet-stream";
}

/* A hashed asset looks like name-XXXXXXXX.ext with at least 8 hash characters. */
static bool is_hashed(const char *name)
{
    const char *dash = strrchr(name, '-');
    const char *dot = strrchr(name, '.');
    return dash && dot && dot > dash && dot - dash > 8;
}

/* Opens rel as a regular file of at most WEB_MAX_FILE bytes; -ENOENT otherwise. */
static int open_file(struct api *api, const char *rel, struct stat *st)
{
    int fd = beneath_open(api->web_dirfd, rel, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return fd;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > WEB_MAX_FILE) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}

static bool not_older(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec > b->st_mtim.tv_sec ||
           (a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec >= b->st_mtim.tv_nsec);
}

/* The pre-compressed sibling of rel the client takes (br, else gzip) when it is there and
 * not older than the original: its fd and stat, and the coding's name; -ENOENT if none. */
static int open_encoded(struct api *api, struct http_req *req, const char *rel,
                        const struct stat *orig, struct stat *st, const char **ret_coding)
{
    const char *ae = http_req_header(req, "Accept-Encoding");
    unsigned ok = accept_encoding(ae, ae ? strlen(ae) : 0);
    static const struct {
        unsigned bit;
        const char *suffix, *coding;
    } order[] = {{ACCEPT_BR, ".br", "br"}, {ACCEPT_GZIP, ".gz", "gzip"}};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(ok & order[i].bit))
            continue;
        char name[1024];
        if ((size_t)snprintf(name, sizeof(name), "%s%s", rel, order[i].suffix) >= sizeof(name))
            return -ENOENT;
        struct stat est;
        int fd = open_file(api, name, &est);
        if (fd < 0)
            continue;
        if (not_older(&est, orig)) {
            *st = est;
            *ret_coding = order[i].coding;
            return fd;
        }
        close(fd);
    }
    return -ENOENT;
}

static int send_file(struct api *api, struct http_req *req, const char *rel, bool fallback)
{
    struct stat orig, st;
    int fd = open_file(api, rel, &orig);
    if (fd < 0)
        return fd;
    bool compressible;
    const char *type = content_type(rel, &compressible);
    const char *coding = NULL;
    st = orig;
    if (compressible) {
        int efd = open_encoded(api, req, rel, &orig, &st, &coding);
        if (efd >= 0) {
            close(fd);
            fd = efd;
        }
    }
    /* Strong: one ETag per original version and coding (the bodies differ by coding). */
    char etag[96], quoted[100];
    snprintf(etag, sizeof(etag), "%llx-%llx%s%s", (unsigned long long)orig.st_size,
             (unsigned long long)orig.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)orig.st_mtim.tv_nsec,
             coding ? "-" : "", coding ? coding : "");
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    const char *cache =
        is_hashed(rel) && !fallback ? "public, max-age=31536000, immutable" : "no-cache";
    const char *headers[12];
    size_t n = 0;
    headers[n++] = "Cache-Control";
    headers[n++] = cache;
    headers[n++] = "ETag";
    headers[n++] = quoted;
    if (compressible) {
        headers[n++] = "Vary";
        headers[n++] = "Accept-Encoding";
    }
    if (coding) {
        headers[n++] = "Content-Encoding";
        headers[n++] = coding;
    }
    headers[n] = NULL;
    const char *inm = http_req_header(req, "If-None-Match");
    struct etag_list list;
    if (inm && etag_parse(inm, &list) == 0 && etag_list_match(&list, etag, ETAG_WEAK)) {
        close(fd);
        return http_reply(req, 304, NULL, "", 0, headers);
    }
    char *data = NULL;
    size_t got = 0;
    int r = beneath_read_fd(fd, WEB_MAX_FILE, &data, &got);
    close(fd);
    if (r < 0)
        return r;
    r = http_reply(req, 200, type, data, got, headers);
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
