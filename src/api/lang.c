/*
 * language endpoints: POST /api/workspaces/{}/complete, /signature, /hover, /definition,
 * /diagnostics and /format. Each checks the caller may see the workspace (as files do),
 * takes one of the caller's per-minute budget (cluster-wide, api/limits.h), bounds the
 * source, asks the owner's sandboxed worker (exec/lang) and answers with what it said,
 * rebuilt field by field by lang_answer(): the worker read hostile files, so its answer is
 * untrusted input.
 */
#include "exec/lang.h"

#include "api/internal.h"
#include "api/limits.h"
#include "workspace/path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum op { OP_COMPLETE, OP_SIGNATURE, OP_HOVER, OP_DEFINITION, OP_DIAGNOSTICS, OP_FORMAT };

static const char *const op_names[] = {"complete",   "signature",   "hover",
                                       "definition", "diagnostics", "format"};

static bool has_position(enum op op)
{
    return op <= OP_DEFINITION;
}

/* The worker's own refusals, as the API's errors. */
static void reply_worker_error(struct http_req *req, json_t *error)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *msg = json_string_value(json_object_get(error, "message"));
    if (!msg)
        msg = "the analysis failed";
    if (code && strcmp(code, "bad_position") == 0)
        api_reply_error(req, bad_position, "%.300s", msg);
    else if (code && strcmp(code, "syntax_error") == 0)
        api_reply_error(req, syntax_error, "%.300s", msg);
    else if (code && strcmp(code, "timeout") == 0)
        api_reply_error(req, analysis_timeout, "the analysis took too long");
    else
        api_reply_error(req, analysis_error, "the analysis failed: %.300s", msg);
}

/* ---- the handler ----------------------------------------------------------------------- */

static void handle(struct http_req *req, struct api *api, enum op op)
{
    struct api_caller c;
    struct store_workspace *w = NULL;
    json_t *body = NULL, *reply = NULL, *out = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    if (!api->lang) {
        api_reply_error(req, unavailable, "language services are off on this node");
        goto done;
    }
    unsigned retry = 0;
    char key[32];
    snprintf(key, sizeof(key), "lang:%lld", (long long)c.user.id);
    if (!api_limit_take(api, key, api->cfg->lang_per_minute, &retry)) {
        api_too_many(req, retry, "too many language requests in the last minute; wait a little");
        goto done;
    }
    if (!(body = api_body(req)))
        goto done;
    bool bad = false;
    const char *path = api_str(req, body, "path", true, &bad);
    if (bad)
        goto done;
    const char *reason = NULL;
    if (path_check(path, strlen(path), &reason) < 0) {
        api_reply_error(req, invalid_path, "invalid 'path': %s", reason);
        goto done;
    }
    json_t *source = json_object_get(body, "source");
    if (!json_is_string(source)) {
        api_reply_error(req, bad_request, "'source' must be a string");
        goto done;
    }
    if (json_string_length(source) > api->cfg->lang_max_source) {
        api_reply_error(req, too_large, "sources are limited to %llu bytes here",
                        (unsigned long long)api->cfg->lang_max_source);
        goto done;
    }
    json_t *rq = json_pack("{s:s,s:s,s:O}", "op", op_names[op], "path", path, "source", source);
    if (has_position(op)) {
        json_t *line = json_object_get(body, "line"), *col = json_object_get(body, "column");
        if (!json_is_integer(line) || !json_is_integer(col) || json_integer_value(line) < 1 ||
            json_integer_value(col) < 0 || json_integer_value(line) > (1 << 30) ||
            json_integer_value(col) > (1 << 30)) {
            json_decref(rq);
            api_reply_error(req, bad_position,
                            "'line' (from 1) and 'column' (from 0) must be integers");
            goto done;
        }
        json_object_set(rq, "line", line);
        json_object_set(rq, "column", col);
    }
    struct err e = {0};
    int r = lang_call(api->lang, w->owner_id, w->id, rq, &reply, &e);
    json_decref(rq);
    if (r == -EAGAIN) {
        api_too_many(req, 1, "the language workers are busy; try again in a moment");
        goto done;
    }
    if (r == -ENOTSUP) {
        api_reply_error(req, unavailable, "sandboxes are not available on this node");
        goto done;
    }
    if (r == -ETIMEDOUT) {
        api_reply_error(req, analysis_timeout, "the analysis took too long and was stopped");
        goto done;
    }
    if (r == -EPIPE || r == -EIO) {
        api_reply_error(req, analysis_failed, "the language worker failed: %s", e.msg);
        goto done;
    }
    if (r < 0) {
        api_fail(req, r, "workspace");
        goto done;
    }
    json_t *ok = json_object_get(reply, "ok");
    if (!json_is_object(ok)) {
        reply_worker_error(req, json_object_get(reply, "error"));
        goto done;
    }
    out = lang_answer(op_names[op], ok);
    if (!out) {
        api_reply_error(req, analysis_failed, "the language worker answered nonsense");
        goto done;
    }
    http_reply_json(req, 200, out);
done:
    json_decref(reply);
    json_decref(body);
    store_workspace_free(w);
    api_caller_done(&c);
}

static void h_complete(struct http_req *req, void *ctx)
{
    handle(req, ctx, OP_COMPLETE);
}

static void h_signature(struct http_req *req, void *ctx)
{
    handle(req, ctx, OP_SIGNATURE);
}

static void h_hover(struct http_req *req, void *ctx)
{
    handle(req, ctx, OP_HOVER);
}

static void h_definition(struct http_req *req, void *ctx)
{
    handle(req, ctx, OP_DEFINITION);
}

static void h_diagnostics(struct http_req *req, void *ctx)
{
    handle(req, ctx, OP_DIAGNOSTICS);
}

static void h_format(struct http_req *req, void *ctx)
{
    handle(req, ctx, OP_FORMAT);
}

void api_lang_routes(struct router *r)
{
    router_add(r, "POST", "/api/workspaces/{}/complete", h_complete);
    router_add(r, "POST", "/api/workspaces/{}/signature", h_signature);
    router_add(r, "POST", "/api/workspaces/{}/hover", h_hover);
    router_add(r, "POST", "/api/workspaces/{}/definition", h_definition);
    router_add(r, "POST", "/api/workspaces/{}/diagnostics", h_diagnostics);
    router_add(r, "POST", "/api/workspaces/{}/format", h_format);
}
