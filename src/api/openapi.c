/*
 * openapi: GET /api/openapi.json, the API's OpenAPI 3.1 document, and GET /api/docs, the
 * page that renders it. The document is generated at build time by scripts/openapi.py
 * (routes, schemas, the SSE and WebSocket messages, and the error codes of
 * src/api/errors.h) and embedded in the binary, so it always matches the build that serves
 * it; tests/unit/test_openapi.c compares its paths with this router, both ways.
 */
#include "api/internal.h"

#include <string.h>

#ifndef PYROOM_OPENAPI_FILE
#error "PYROOM_OPENAPI_FILE names the generated document (the Makefile sets it)"
#endif

/* The bytes of the document, NUL-terminated, in .rodata. */
__asm__(".section .rodata\n"
        ".balign 16\n"
        "pyroom_openapi_start:\n"
        ".incbin \"" PYROOM_OPENAPI_FILE "\"\n"
        "pyroom_openapi_end:\n"
        ".byte 0\n"
        ".previous\n");
extern const char pyroom_openapi_start[] __asm__("pyroom_openapi_start");
extern const char pyroom_openapi_end[] __asm__("pyroom_openapi_end");

const char *api_openapi_json(size_t *ret_len)
{
    if (ret_len)
        *ret_len = (size_t)(pyroom_openapi_end - pyroom_openapi_start);
    return pyroom_openapi_start;
}

static void h_openapi(struct http_req *req, void *ctx)
{
    (void)ctx;
    size_t len;
    const char *doc = api_openapi_json(&len);
    static const char *const h[] = {"Cache-Control", "no-cache", NULL};
    http_reply(req, 200, "application/json", doc, len, h);
}

/* The docs page is the web app's (it renders the document); any client route of the app
 * is answered with its index.html. */
static void h_docs(struct http_req *req, void *ctx)
{
    api_web_get(ctx, req);
}

void api_openapi_routes(struct router *r)
{
    router_add(r, "GET", "/api/openapi.json", h_openapi);
    router_add(r, "GET", "/api/docs", h_docs);
}

void api_routes_each(const struct api *api,
                     void (*fn)(void *ctx, const char *method, const char *pattern), void *ctx)
{
    router_each(api->router, fn, ctx);
}
