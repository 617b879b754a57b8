/* router: method + path pattern matching; see router.h. */
#include "http/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct route {
    const char *method;
    const char *pattern;
    http_handler_fn fn;
};

struct router {
    struct route *routes;
    size_t n, cap;
};

struct router *router_new(void)
{
    return calloc(1, sizeof(struct router));
}

void router_free(struct router *r)
{
    if (!r)
        return;
    free(r->routes);
    free(r);
}

int router_add(struct router *r, const char *method, const char *pattern, http_handler_fn fn)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct route *p = realloc(r->routes, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        r->routes = p;
        r->cap = cap;
    }
    r->routes[r->n++] = (struct route){method, pattern, fn};
    return 0;
}

void router_each(const struct router *r,
                 void (*fn)(void *ctx, const char *method, const char *pattern), void *ctx)
{
    for (size_t i = 0; i < r->n; i++)
        fn(ctx, r->routes[i].method, r->routes[i].pattern);
}

/* Matches path against pattern; captures are written as offsets/lengths into path. */
static bool match(const char *pattern, const char *path, size_t off[], size_t len[], size_t *ret_n,
                  const char **ret_rest)
{
    const char *p = pattern, *s = path;
    size_t n = 0;
    *ret_rest = NULL;
    while (*p) {
        if (p[0] == '{' && p[1] == '*' && p[2] == '}') {
            if (!*s)
                return false;
            *ret_rest = s;
            *ret_n = n;
            return true;
        }
        if (p[0] == '{' && p[1] == '}') {
            size_t l = strcspn(s, "/");
            if (l == 0 || n == HTTP_MAX_PARAMS)
                return false;
            off[n] = (size_t)(s - path);
            len[n] = l;
            n++;
            s += l;
            p += 2;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*s)
        return false;
    *ret_n = n;
    return true;
}

enum http_route_result router_match(const struct router *r, struct http_req *req,
                                    http_handler_fn *ret_fn)
{
    bool path_matched = false;
    for (size_t i = 0; i < r->n; i++) {
        size_t off[HTTP_MAX_PARAMS], len[HTTP_MAX_PARAMS], n = 0;
        const char *rest;
        if (!match(r->routes[i].pattern, req->path, off, len, &n, &rest))
            continue;
        if (strcmp(r->routes[i].method, req->method) != 0) {
            path_matched = true;
            continue;
        }
        /* Captures are NUL-terminated copies kept in the request itself. */
        size_t total = 0;
        for (size_t k = 0; k < n; k++)
            total += len[k] + 1;
        if (total > sizeof(req->param_buf))
            return HTTP_ROUTE_NOT_FOUND;
        char *w = req->param_buf;
        for (size_t k = 0; k < n; k++) {
            memcpy(w, req->path + off[k], len[k]);
            w[len[k]] = '\0';
            req->param[k] = w;
            w += len[k] + 1;
        }
        req->nparam = n;
        req->rest = rest;
        req->route = r->routes[i].pattern;
        *ret_fn = r->routes[i].fn;
        return HTTP_ROUTE_FOUND;
    }
    return path_matched ? HTTP_ROUTE_BAD_METHOD : HTTP_ROUTE_NOT_FOUND;
}
