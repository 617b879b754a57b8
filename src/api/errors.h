/*
 * errors: the one table of the API's error codes (libuv's UV_ERRNO_MAP idea). Each line
 * gives a code's name, its HTTP status and what it means, once. From it come the
 * API_ERR_* enum, api_error_status()/api_error_name(), api_reply_error(req, code, ...)
 * (api/internal.h: every api/ call site names a code of this table, so a wrong one does
 * not compile), the error codes of the OpenAPI document (scripts/openapi.py reads this
 * file), the page's ErrorCode union (web/src/codes.ts, scripts/gen-codes.py) and the checks
 * that every code src/http sends and every code in docs/api.md is a line here with the
 * same status (tests/api/test_openapi.py). A new code starts here.
 */
#ifndef PYROOM_API_ERRORS_H
#define PYROOM_API_ERRORS_H

/* X(name, status, meaning) */
#define API_ERRORS(X)                                                                              \
    X(bad_request, 400, "the request is malformed")                                                \
    X(too_many_parameters, 400, "more query parameters than --max-query-params")                   \
    X(invalid_json, 400, "the body is not a JSON object")                                          \
    X(invalid_field, 400, "a field is missing, of the wrong type or out of range")                 \
    X(invalid_path, 400, "a workspace path breaks the path rules")                                 \
    X(bad_position, 400, "a line or column outside the source")                                    \
    X(invalid_name, 400, "a terminal name is not 1 to 16 letters, digits, - or _")                 \
    X(bad_handshake, 400, "not a valid WebSocket upgrade request")                                 \
    X(invalid_client, 400, "a presence client id is not 1 to 40 letters, digits, - or _")          \
    X(unauthenticated, 401, "no valid session or API token")                                       \
    X(bad_credentials, 401, "wrong username or password")                                          \
    X(forbidden, 403, "the caller's role or ownership does not allow this")                        \
    X(read_only, 403, "a viewer of a workspace asked to change it (edit, run, type)")              \
    X(csrf, 403, "a cookie-authenticated write without the session's X-CSRF-Token")                \
    X(forbidden_origin, 403, "a WebSocket upgrade from another site's page")                       \
    X(registration_closed, 403, "self-registration is closed")                                     \
    X(account_disabled, 403, "the password is right but an administrator disabled the account")    \
    X(wrong_password, 403, "the current password given to change it is not right")                 \
    X(not_found, 404, "no such resource, or not visible to the caller")                            \
    X(no_doc, 404, "the file has no live co-editing document (start one with a snapshot)")         \
    X(method_not_allowed, 405, "the path exists with other methods")                               \
    X(request_timeout, 408, "the request's head or body came too slowly")                          \
    X(conflict, 409, "the resource is in a state that forbids this")                               \
    X(exists, 409, "the name is taken")                                                            \
    X(already_decided, 409, "the submission is no longer pending")                                 \
    X(elsewhere, 409, "the workspace's terminals live on another node")                            \
    X(doc_exists, 409, "another editor started the file's co-editing document first")              \
    X(snapshot_needed, 409, "the document's update log is full; post a snapshot that covers it")   \
    X(no_terminal, 409, "no live terminal of that name to watch")                                  \
    X(superseded, 409, "a newer language request about the same file replaced this waiting one")   \
    X(etag_mismatch, 412, "the file changed since the given ETag")                                 \
    X(too_large, 413, "a body, file or workspace limit would be passed")                           \
    X(archive_too_large, 413, "a zip download would pass --archive-max-files or -bytes")           \
    X(unsupported_media_type, 415, "a JSON endpoint got a form or text/plain body")                \
    X(syntax_error, 422, "the source does not parse (formatting)")                                 \
    X(analysis_error, 422, "the analyser gave up on this source")                                  \
    X(run_failed, 422, "the submission's check run did not pass")                                  \
    X(upgrade_required, 426, "a WebSocket upgrade asked for a version other than 13")              \
    X(rate_limited, 429, "too many requests; retry after Retry-After seconds")                     \
    X(too_many_environments, 429, "the user has too many live terminal environments")              \
    X(too_many_terminals, 429, "the environment has too many terminals")                           \
    X(internal, 500, "the server failed; the log has the request id")                              \
    X(analysis_failed, 502, "the language worker died or answered nonsense")                       \
    X(unavailable, 503, "busy, shutting down, or no sandboxes or database")                        \
    X(analysis_timeout, 504, "an analysis passed its time")

enum api_error {
#define API_ERROR_ENUM(name, status, meaning) API_ERR_##name,
    API_ERRORS(API_ERROR_ENUM)
#undef API_ERROR_ENUM
        API_ERR__COUNT
};

static inline int api_error_status(enum api_error e)
{
    static const int status[] = {
#define API_ERROR_STATUS(name, st, meaning) [API_ERR_##name] = st,
        API_ERRORS(API_ERROR_STATUS)
#undef API_ERROR_STATUS
    };
    return status[e];
}

static inline const char *api_error_name(enum api_error e)
{
    static const char *const names[] = {
#define API_ERROR_NAME(name, st, meaning) [API_ERR_##name] = #name,
        API_ERRORS(API_ERROR_NAME)
#undef API_ERROR_NAME
    };
    return names[e];
}

#endif
