/*
 * fuzz_router: request paths through the router and the query/percent decoder.
 * Invariants: no crash or over-read; a capture never contains '/'; a decoded string never
 * holds a NUL before its end and is never longer than its input.
 */
#include "http/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void h(struct http_req *req, void *ctx)
{
    (void)req;
    (void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct router *r;
    if (!r) {
        r = router_new();
        router_add(r, "GET", "/api/workspaces/{}", h);
        router_add(r, "GET", "/api/workspaces/{}/files/{*}", h);
        router_add(r, "POST", "/api/submissions/{}/comments", h);
        router_add(r, "GET", "/api/runs/{}/artifacts/{*}", h);
    }
    char *path = malloc(size + 1);
    if (!path)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    struct http_req req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = path;
    http_handler_fn fn;
    if (router_match(r, &req, &fn) == HTTP_ROUTE_FOUND)
        for (size_t i = 0; i < req.nparam; i++)
            if (strchr(req.param[i], '/') || !*req.param[i])
                abort();
    /* A decoded string never holds a NUL before its end: on success every '%' took two hex
     * digits, so the decoded length is known, and strlen must reach exactly that far (a
     * %00 or a raw NUL inside would stop it short; both must be refused instead). */
    char *d = http_unescape((const char *)data, size, size & 1);
    if (d) {
        size_t pct = 0;
        for (size_t i = 0; i < size; i++)
            pct += data[i] == '%';
        if (strlen(d) != size - 2 * pct || memchr(data, '\0', size))
            abort();
        free(d);
    }
    free(path);
    return 0;
}
