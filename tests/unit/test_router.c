/* Unit tests for http/router: patterns, captures, methods, encoded separators. */
#include "http/router.h"

#include <criterion/criterion.h>
#include <string.h>

static void h_a(struct http_req *req, void *ctx)
{
    (void)req;
    (void)ctx;
}

static void h_b(struct http_req *req, void *ctx)
{
    (void)req;
    (void)ctx;
}

static struct router *make(void)
{
    struct router *r = router_new();
    cr_assert_not_null(r);
    router_add(r, "GET", "/api/workspaces", h_a);
    router_add(r, "GET", "/api/workspaces/{}", h_b);
    router_add(r, "GET", "/api/workspaces/{}/files/{*}", h_a);
    router_add(r, "PUT", "/api/workspaces/{}/files/{*}", h_b);
    router_add(r, "GET", "/api/runs/{}/artifacts/{*}", h_b);
    return r;
}

static enum http_route_result match(struct router *r, const char *method, const char *path,
                                    struct http_req *req, http_handler_fn *fn)
{
    memset(req, 0, sizeof(*req));
    req->method = method;
    req->path = path;
    return router_match(r, req, fn);
}

Test(router, literal_and_capture)
{
    struct router *r = make();
    struct http_req req;
    http_handler_fn fn = NULL;
    cr_assert_eq(match(r, "GET", "/api/workspaces", &req, &fn), HTTP_ROUTE_FOUND);
    cr_assert_eq(fn, h_a);
    cr_assert_eq(match(r, "GET", "/api/workspaces/42", &req, &fn), HTTP_ROUTE_FOUND);
    cr_assert_eq(fn, h_b);
    cr_assert_eq(req.nparam, 1);
    cr_assert_str_eq(req.param[0], "42");
    router_free(r);
}

Test(router, rest_keeps_slashes_and_encoding)
{
    struct router *r = make();
    struct http_req req;
    http_handler_fn fn = NULL;
    cr_assert_eq(match(r, "PUT", "/api/workspaces/7/files/a/b%2Fc.py", &req, &fn),
                 HTTP_ROUTE_FOUND);
    cr_assert_eq(fn, h_b);
    cr_assert_str_eq(req.param[0], "7");
    cr_assert_str_eq(req.rest, "a/b%2Fc.py");
    router_free(r);
}

Test(router, misses_and_methods)
{
    struct router *r = make();
    struct http_req req;
    http_handler_fn fn = NULL;
    cr_assert_eq(match(r, "GET", "/api/workspaces/", &req, &fn), HTTP_ROUTE_NOT_FOUND);
    cr_assert_eq(match(r, "GET", "/api/workspaces//files/x", &req, &fn), HTTP_ROUTE_NOT_FOUND);
    cr_assert_eq(match(r, "GET", "/api/workspaces/1/files/", &req, &fn), HTTP_ROUTE_NOT_FOUND);
    cr_assert_eq(match(r, "GET", "/api/workspacesX", &req, &fn), HTTP_ROUTE_NOT_FOUND);
    cr_assert_eq(match(r, "GET", "/api/workspaces/1/extra", &req, &fn), HTTP_ROUTE_NOT_FOUND);
    cr_assert_eq(match(r, "DELETE", "/api/workspaces", &req, &fn), HTTP_ROUTE_BAD_METHOD);
    cr_assert_eq(match(r, "POST", "/api/runs/3/artifacts/f.png", &req, &fn), HTTP_ROUTE_BAD_METHOD);
    router_free(r);
}

Test(router, overlong_capture_does_not_match)
{
    struct router *r = make();
    struct http_req req;
    http_handler_fn fn = NULL;
    char path[1024] = "/api/workspaces/";
    memset(path + strlen(path), '9', 600);
    cr_assert_eq(match(r, "GET", path, &req, &fn), HTTP_ROUTE_NOT_FOUND);
    router_free(r);
}

Test(router, unescape)
{
    char *s = http_unescape("a%20b+c", 7, true);
    cr_assert_str_eq(s, "a b c");
    free(s);
    s = http_unescape("a%20b+c", 7, false);
    cr_assert_str_eq(s, "a b+c");
    free(s);
    cr_assert_null(http_unescape("a%00b", 5, false));
    cr_assert_null(http_unescape("%", 1, false));
    cr_assert_null(http_unescape("%4", 2, false));
    cr_assert_null(http_unescape("%zz", 3, false));
    s = http_unescape("%41", 3, false);
    cr_assert_str_eq(s, "A");
    free(s);
}
