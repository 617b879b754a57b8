/*
 * language endpoints: POST /api/workspaces/{}/complete, /signature, /hover, /definition,
 * /diagnostics and /format. Each checks the caller may see the workspace (as files do),
 * takes a token of the caller's per-minute budget, bounds the source, asks the owner's
 * sandboxed worker (exec/lang) and answers with what it said, rebuilt field by field: the
 * worker read hostile files, so its answer is untrusted input like any request body.
 */
#include "exec/lang.h"

#include "api/internal.h"
#include "auth/ratelimit.h"
#include "workspace/path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_ITEMS 500 /* items kept from a worker's answer */

enum op { OP_COMPLETE, OP_SIGNATURE, OP_HOVER, OP_DEFINITION, OP_DIAGNOSTICS, OP_FORMAT };

static const char *const op_names[] = {"complete",   "signature",   "hover",
                                       "definition", "diagnostics", "format"};

static bool has_position(enum op op)
{
    return op <= OP_DEFINITION;
}

/* ---- the worker's answer, checked and rebuilt ------------------------------------------ */

static json_t *str_or(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_copy(v) : json_string(dflt);
}

/* A non-negative integer member below max, or -1. */
static json_int_t int_in(json_t *o, const char *key, json_int_t max)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
        return -1;
    return json_integer_value(v);
}

static json_t *rebuild_complete(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= MAX_ITEMS)
            break;
        if (!json_is_object(it) || !json_is_string(json_object_get(it, "label")))
            continue;
        json_array_append_new(
            items, json_pack("{s:o,s:o,s:o,s:o}", "label", str_or(it, "label", ""), "kind",
                             str_or(it, "kind", ""), "detail", str_or(it, "detail", ""), "insert",
                             str_or(it, "insert", "")));
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_signature(json_t *ok)
{
    json_t *sigs = json_array(), *in = json_object_get(ok, "signatures");
    size_t i, j;
    json_t *s, *p;
    json_array_foreach(in, i, s)
    {
        if (i >= 16)
            break;
        if (!json_is_object(s) || !json_is_string(json_object_get(s, "label")))
            continue;
        json_t *params = json_array();
        json_array_foreach(json_object_get(s, "params"), j, p)
        {
            if (j < 64 && json_is_string(p))
                json_array_append(params, p);
        }
        json_int_t active = int_in(s, "active_param", 1000);
        json_array_append_new(sigs, json_pack("{s:o,s:o,s:o,s:o}", "label", str_or(s, "label", ""),
                                              "params", params, "active_param",
                                              active < 0 ? json_null() : json_integer(active),
                                              "doc", str_or(s, "doc", "")));
    }
    return json_pack("{s:o}", "signatures", sigs);
}

static json_t *rebuild_hover(json_t *ok)
{
    return json_pack("{s:o}", "markdown", str_or(ok, "markdown", ""));
}

static json_t *rebuild_definition(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= 16)
            break;
        json_int_t line = int_in(it, "line", 1 << 30), col = int_in(it, "column", 1 << 30);
        if (!json_is_object(it) || line < 1 || col < 0)
            continue;
        json_t *path = json_object_get(it, "path");
        const char *reason;
        if (json_is_string(path)) {
            /* A workspace file: a path by our rules, or nothing. */
            if (path_check(json_string_value(path), json_string_length(path), &reason) < 0)
                continue;
            json_array_append_new(
                items, json_pack("{s:O,s:I,s:I}", "path", path, "line", line, "column", col));
        } else if (json_is_string(json_object_get(it, "text"))) {
            /* A library's source, shown read-only. */
            json_array_append_new(items, json_pack("{s:n,s:o,s:I,s:I,s:o}", "path", "module",
                                                   str_or(it, "module", ""), "line", line, "column",
                                                   col, "text", str_or(it, "text", "")));
        }
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_diagnostics(json_t *ok)
{
    json_t *items = json_array(), *in = json_object_get(ok, "items");
    size_t i;
    json_t *it;
    json_array_foreach(in, i, it)
    {
        if (i >= MAX_ITEMS)
            break;
        json_int_t line = int_in(it, "line", 1 << 30), col = int_in(it, "column", 1 << 30);
        json_int_t eline = int_in(it, "end_line", 1 << 30),
                   ecol = int_in(it, "end_column", 1 << 30);
        const char *sev = json_string_value(json_object_get(it, "severity"));
        if (line < 1 || col < 0 || eline < line || ecol < 0 || !sev ||
            (strcmp(sev, "error") != 0 && strcmp(sev, "warning") != 0))
            continue;
        json_array_append_new(
            items, json_pack("{s:I,s:I,s:I,s:I,s:s,s:o,s:o}", "line", line, "column", col,
                             "end_line", eline, "end_column", ecol, "severity", sev, "message",
                             str_or(it, "message", ""), "code", str_or(it, "code", "")));
    }
    return json_pack("{s:o}", "items", items);
}

static json_t *rebuild_format(json_t *ok)
{
    json_t *src = json_object_get(ok, "source");
    return json_is_string(src) ? json_pack("{s:O}", "source", src) : NULL;
}

/* The worker's own refusals, as the API's errors. */
static void reply_worker_error(struct http_req *req, json_t *error)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *msg = json_string_value(json_object_get(error, "message"));
    if (!msg)
        msg = "the analysis failed";
    if (code && strcmp(code, "bad_position") == 0)
        http_reply_error(req, 400, "bad_position", "%.300s", msg);
    else if (code && strcmp(code, "syntax_error") == 0)
        http_reply_error(req, 422, "syntax_error", "%.300s", msg);
    else if (code && strcmp(code, "timeout") == 0)
        http_reply_error(req, 504, "analysis_timeout", "the analysis took too long");
    else
        http_reply_error(req, 422, "analysis_failed", "the analysis failed: %.300s", msg);
}

/* ---- the handler ----------------------------------------------------------------------- */

static void handle(struct http_req *req, struct api *api, enum op op)
{
    struct api_caller c;
    struct store_workspace *w = NULL;
    json_t *body = NULL, *reply = NULL, *out = NULL;
    if (!api_workspace_request(api, req, &c, &w))
        return;
    if (!api->lang) {
        http_reply_error(req, 503, "unavailable", "language services are off on this node");
        goto done;
    }
    unsigned retry = 0;
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)c.user.id);
    if (!ratelimit_take(api->lang_per_user, key, ratelimit_now_ms(), &retry)) {
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
        http_reply_error(req, 400, "invalid_path", "invalid 'path': %s", reason);
        goto done;
    }
    json_t *source = json_object_get(body, "source");
    if (!json_is_string(source)) {
        http_reply_error(req, 400, "bad_request", "'source' must be a string");
        goto done;
    }
    if (json_string_length(source) > api->cfg->lang_max_source) {
        http_reply_error(req, 413, "too_large", "sources are limited to %llu bytes here",
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
            http_reply_error(req, 400, "bad_position",
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
        http_reply_error(req, 503, "unavailable", "sandboxes are not available on this node");
        goto done;
    }
    if (r == -ETIMEDOUT) {
        http_reply_error(req, 504, "analysis_timeout",
                         "the analysis took too long and was stopped");
        goto done;
    }
    if (r == -EPIPE || r == -EIO) {
        http_reply_error(req, 502, "analysis_failed", "the language worker failed: %s", e.msg);
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
    switch (op) {
    case OP_COMPLETE:
        out = rebuild_complete(ok);
        break;
    case OP_SIGNATURE:
        out = rebuild_signature(ok);
        break;
    case OP_HOVER:
        out = rebuild_hover(ok);
        break;
    case OP_DEFINITION:
        out = rebuild_definition(ok);
        break;
    case OP_DIAGNOSTICS:
        out = rebuild_diagnostics(ok);
        break;
    case OP_FORMAT:
        out = rebuild_format(ok);
        break;
    }
    if (!out) {
        http_reply_error(req, 502, "analysis_failed", "the language worker answered nonsense");
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
