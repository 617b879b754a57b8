/*
 * router: maps (method, path) to a handler. Patterns are literal segments, `{}` for one
 * non-empty segment (captured in req->param[]) and a final `{*}` for the rest of the path
 * (req->rest, may contain '/'). Matching works on the raw, still-encoded path, so an encoded
 * '/' (%2F) never splits a segment. First match wins; a path that matches with another
 * method gives HTTP_ROUTE_BAD_METHOD so the caller can answer 405.
 */
#ifndef PYROOM_HTTP_ROUTER_H
#define PYROOM_HTTP_ROUTER_H

#include "http/server.h"

struct router;

enum http_route_result { HTTP_ROUTE_FOUND, HTTP_ROUTE_NOT_FOUND, HTTP_ROUTE_BAD_METHOD };

struct router *router_new(void);
void router_free(struct router *r);
/* Adds a route; pattern and method must outlive the router (string literals). */
int router_add(struct router *r, const char *method, const char *pattern, http_handler_fn fn);
/* Calls fn for each route in the order added (the API's document is checked against it). */
void router_each(const struct router *r,
                 void (*fn)(void *ctx, const char *method, const char *pattern), void *ctx);
/* Matches req->method and req->path; on success fills req->param/nparam/rest and *ret_fn.
 * Captured strings are copies in req->param_buf; captures too long for it do not match. */
enum http_route_result router_match(const struct router *r, struct http_req *req,
                                    http_handler_fn *ret_fn);

#endif
