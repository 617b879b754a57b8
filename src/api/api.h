/*
 * api: the HTTP API, one file per resource (auth.c, workspaces.c, files.c, runs.c,
 * submissions.c, admin.c) plus the static page (web.c). This header is what main.c needs:
 * build the API over its dependencies, get the one request handler, tear it down.
 * Only this layer turns errors into HTTP answers and decides who may do what.
 */
#ifndef PYROOM_API_API_H
#define PYROOM_API_API_H

#include "base/err.h"
#include "base/settings.h"
#include "http/server.h"

struct api;
struct store;
struct sup;

/* cfg, store and sup (may be NULL: no sandboxes, runs answer 503) must outlive the api. */
int api_new(const struct settings *cfg, struct store *store, struct sup *sup, struct api **ret,
            struct err *err);
/* Ends what the API keeps alive (runs, terminals) and frees. Accepts NULL. */
void api_free(struct api *api);
/* Ends the live terminals and event streams (their sockets belong to HTTP connections):
 * call before http_server_stop, which waits for every connection. */
void api_stop_live(struct api *api);
/* The routes cheap enough for the HTTP loop thread itself (http_config.inline_ok): health
 * and the page's static files; everything else runs on a worker. */
bool api_inline_ok(const char *method, const char *path);
/* Names this node in the metrics (every series' node label) once its port is known. */
void api_metrics_node(uint16_t port);
/* Every route of the API in the order they are matched (tests compare the OpenAPI
 * document with it). */
void api_routes_each(const struct api *api,
                     void (*fn)(void *ctx, const char *method, const char *pattern), void *ctx);
/* The OpenAPI document served at GET /api/openapi.json (NUL-terminated JSON, static). */
const char *api_openapi_json(size_t *ret_len);
/* The handler for http_server_start; ctx is the struct api. */
void api_handle(struct http_req *req, void *ctx);

#endif
