/*
 * language endpoints: POST /api/workspaces/{}/complete, /signature, /hover, /definition,
 * /diagnostics and /format. Each checks the caller may see the workspace (as files do),
 * takes one of the caller's per-minute budget (cluster-wide, api/limits.h), bounds the
 * source, asks the owner's sandboxed worker (exec/lang) and answers with what it said,
 * rebuilt field by field by lang_answer(): the worker read hostile files, so its answer is
 * untrusted input.
 *
 * No HTTP worker waits for an analysis: the handler defers its request (http_req_defer) and
 * submits the call (lang_submit); lang's loop thread calls on_done with the outcome, which
 * builds the whole answer there (status and body text, one malloc'd block: the server frees
 * it with free() if it stops first) and hands it to http_req_continue, whose short turn on an
 * HTTP worker only sends it. A call is keyed by user, workspace, op and path, so a newer
 * request about the same file replaces one still waiting (409 superseded): typing does not
 * queue stale analyses. A client that hangs up while its request waits (http_req_on_gone)
 * has its call dropped, or its running analysis stopped (lang_cancel).
 */
#include "exec/lang.h"

#include "api/internal.h"
#include "api/limits.h"
#include "workspace/path.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_COMPLETE, OP_SIGNATURE, OP_HOVER, OP_DEFINITION, OP_DIAGNOSTICS, OP_FORMAT };

static const char *const op_names[] = {"complete",   "signature",   "hover",
                                       "definition", "diagnostics", "format"};

static bool has_position(enum op op)
{
    return op <= OP_DEFINITION;
}

/* A whole answer, made on lang's thread and sent by the continuation. */
struct answer {
    int status;
    unsigned retry; /* Retry-After, s (429) */
    size_t len;     /* of body, bytes */
    char body[];
};

static struct answer *answer_json(int status, unsigned retry, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    struct answer *a = malloc(sizeof(*a) + len + 1);
    if (a) {
        *a = (struct answer){.status = status, .retry = retry, .len = len};
        memcpy(a->body, text, len + 1);
    }
    free(text);
    return a;
}

static struct answer *answer_error(enum api_error code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct answer *answer_error(enum api_error code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int status = api_error_status(code);
    return answer_json(
        status, status == 429 ? 1 : 0,
        json_pack("{s:{s:s,s:s}}", "error", "code", api_error_name(code), "message", msg));
}

static void send_answer(struct http_req *req, void *ctx)
{
    struct answer *a = ctx;
    if (!a) {
        api_reply_error(req, internal, "out of memory");
        return;
    }
    char ra[16];
    snprintf(ra, sizeof(ra), "%u", a->retry);
    const char *const plain[] = {"Cache-Control", "no-store", NULL};
    const char *const retry[] = {"Cache-Control", "no-store", "Retry-After", ra, NULL};
    http_reply(req, a->status, "application/json", a->body, a->len, a->retry ? retry : plain);
    free(a);
}

/* The worker's own refusals, as the API's errors. */
static struct answer *worker_error(json_t *error)
{
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *msg = json_string_value(json_object_get(error, "message"));
    if (!msg)
        msg = "the analysis failed";
    if (code && strcmp(code, "bad_position") == 0)
        return answer_error(API_ERR_bad_position, "%.300s", msg);
    if (code && strcmp(code, "syntax_error") == 0)
        return answer_error(API_ERR_syntax_error, "%.300s", msg);
    if (code && strcmp(code, "timeout") == 0)
        return answer_error(API_ERR_analysis_timeout, "the analysis took too long");
    return answer_error(API_ERR_analysis_error, "the analysis failed: %.300s", msg);
}

/* A request waiting for its call. */
struct pending {
    struct http_req *req;
    struct lang *lang;
    enum op op;
};

static struct answer *make_answer(enum op op, int r, json_t *reply, const char *msg)
{
    switch (r) {
    case 0:
        break;
    case -EAGAIN:
        return answer_error(API_ERR_rate_limited,
                            "the language workers are busy; try again in a moment (%s)", msg);
    case -ECANCELED:
        return answer_error(API_ERR_superseded,
                            "a newer request about this file replaced this one");
    case -ENOTSUP:
        return answer_error(API_ERR_unavailable, "sandboxes are not available on this node");
    case -ESHUTDOWN:
        return answer_error(API_ERR_unavailable, "the server is shutting down");
    case -ETIMEDOUT:
        return answer_error(API_ERR_analysis_timeout, "the analysis took too long and was stopped");
    case -EPIPE:
    case -EIO:
        return answer_error(API_ERR_analysis_failed, "the language worker failed: %s", msg);
    case -ENOENT:
        return answer_error(API_ERR_not_found, "the workspace is gone");
    default:
        return answer_error(API_ERR_internal, "the language request failed: %s", msg);
    }
    json_t *ok = json_object_get(reply, "ok");
    if (!json_is_object(ok))
        return worker_error(json_object_get(reply, "error"));
    json_t *out = lang_answer(op_names[op], ok);
    if (!out)
        return answer_error(API_ERR_analysis_failed, "the language worker answered nonsense");
    return answer_json(200, 0, out);
}

/* lang's done function (its loop thread; or the handler's, when the call was refused). */
static void on_done(void *ctx, int r, json_t *reply, const char *msg)
{
    struct pending *p = ctx;
    struct answer *a = make_answer(p->op, r, reply, msg);
    json_decref(reply);
    http_req_continue(p->req, send_answer, a); /* after it, on_gone is not called */
    free(p);
}

/* The client hung up while its request waited (the server's housekeeping thread): its
 * call is dropped, or its analysis stopped; on_done still follows. */
static void on_gone(void *ctx)
{
    struct pending *p = ctx;
    lang_cancel(p->lang, p);
}

/* ---- the handler ----------------------------------------------------------------------- */

static void handle(struct http_req *req, struct api *api, enum op op)
{
    struct api_caller c;
    struct store_workspace *w = NULL;
    json_t *body = NULL;
    char *key = NULL;
    if (!api_workspace_request(api, req, &c, API_ACCESS_EDITOR, &w))
        return;
    if (!api->lang) {
        api_reply_error(req, unavailable, "language services are off on this node");
        goto done;
    }
    unsigned retry = 0;
    char limit[32];
    snprintf(limit, sizeof(limit), "lang:%lld", (long long)c.user.id);
    if (!api_limit_take(api, limit, api->cfg->lang_per_minute, &retry)) {
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
    json_t *line = json_object_get(body, "line"), *col = json_object_get(body, "column");
    if (has_position(op) &&
        (!json_is_integer(line) || !json_is_integer(col) || json_integer_value(line) < 1 ||
         json_integer_value(col) < 0 || json_integer_value(line) > (1 << 30) ||
         json_integer_value(col) > (1 << 30))) {
        api_reply_error(req, bad_position,
                        "'line' (from 1) and 'column' (from 0) must be integers");
        goto done;
    }
    json_t *rq = json_pack("{s:s,s:s,s:O}", "op", op_names[op], "path", path, "source", source);
    if (rq && has_position(op)) {
        json_object_set(rq, "line", line);
        json_object_set(rq, "column", col);
    }
    size_t klen = strlen(path) + 64;
    struct pending *p = malloc(sizeof(*p));
    key = malloc(klen);
    if (!rq || !p || !key) {
        json_decref(rq);
        free(p);
        api_reply_error(req, internal, "out of memory");
        goto done;
    }
    snprintf(key, klen, "%lld:%lld:%s:%s", (long long)c.user.id, (long long)w->id, op_names[op],
             path);
    *p = (struct pending){.req = req, .lang = api->lang, .op = op};
    /* From here the answer comes from on_done, possibly before lang_submit returns. */
    http_req_defer(req);
    http_req_on_gone(req, on_gone, p);
    struct err e = {0};
    int r = lang_submit(api->lang, w->owner_id, w->id, key, rq, on_done, p, &e);
    if (r < 0)
        on_done(p, r, NULL, e.msg);
done:
    free(key);
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
