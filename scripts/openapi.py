#!/usr/bin/env python3
"""The source of pyroom's OpenAPI 3.1 document: every route with its parameters, bodies,
answers and error codes, the Server-Sent Event names and the terminal's WebSocket
messages. `make` runs it into build/openapi.json, which the binary embeds and serves at
GET /api/openapi.json; the page's /api/docs renders that.

What keeps it true:
  - the error codes and their statuses are read from src/api/errors.h, the SSE event names
    and meanings from src/base/events.h (the one tables; scripts/codes.py reads both);
  - tests/unit/test_openapi.c compares the paths with the router of a real api, both ways;
  - tests/api/test_openapi.py validates the API suite's JSON answers against the schemas
    and checks the SSE names against the server and the page;
  - web/scripts/lint-openapi.mjs validates the document against the OpenAPI 3.1 schema.

Path templates: {id}-like parameters are one segment; a parameter named `path` is the
rest of the URL (the router's `{*}`), percent-encoded per segment.

usage: scripts/openapi.py [OUT]        (default: stdout)
"""
import json
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codes  # noqa: E402  (the C tables: src/api/errors.h, src/base/events.h)

ERRORS = codes.error_table()

# ---- schemas -------------------------------------------------------------------------------


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema):
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    s = dict(schema)
    s["type"] = [s["type"], "null"]
    return s


def obj(props, required=None, **kw):
    o = {"type": "object", "properties": props,
         "required": list(props) if required is None else required}
    o.update(kw)
    return o


INT = {"type": "integer"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
NUM = {"type": "number"}
TIME = {"type": "string", "format": "date-time"}


def lst(item):
    return obj({"items": {"type": "array", "items": item},
                "next_offset": nullable(INT)}, required=["items"])


SCHEMAS = {
    "Error": obj({"error": obj({
        "code": {"type": "string", "enum": [c for c, _, _ in ERRORS]},
        "message": STR})}, description="Every error answer. `code` is stable; see x-error-codes."),
    "UserRef": nullable(obj({"id": INT, "username": nullable(STR)}, required=["id"])),
    "User": obj({"id": INT, "username": STR,
                 "role": {"type": "string", "enum": ["submitter", "reviewer", "admin"]},
                 "disabled": BOOL, "created_at": nullable(TIME)}),
    "Session": obj({"user": ref("User"), "csrf_token": nullable(STR)}, required=["user"]),
    "Token": obj({"id": INT, "name": STR, "created_at": nullable(TIME),
                  "last_used_at": nullable(TIME), "token": STR},
                 required=["id", "name", "created_at"],
                 description="`token` only in the answer that created it."),
    "Workspace": obj({"id": INT, "name": STR, "owner": ref("UserRef"),
                      "created_at": nullable(TIME), "updated_at": nullable(TIME),
                      "file_count": INT, "bytes": INT,
                      "role": {"type": "string", "enum": ["viewer", "editor", "owner"]}},
                     required=["id", "name", "owner", "created_at", "updated_at",
                               "file_count", "bytes"],
                     description="`role`: the caller's (lists and GET; admins count as owner)."),
    "Member": obj({"user": ref("UserRef"),
                   "role": {"type": "string", "enum": ["viewer", "editor"]},
                   "added_at": nullable(TIME)}),
    "Version": obj({"version": INT, "size": INT, "etag": STR, "author": ref("UserRef"),
                    "source": {"type": "string",
                               "enum": ["save", "terminal", "run", "restore"]},
                    "at": nullable(TIME)}),
    "File": obj({"path": STR, "kind": {"type": "string", "enum": ["file", "folder"]},
                 "size": INT, "etag": STR, "updated_at": nullable(TIME)},
                required=["path", "kind"]),
    "Run": obj({
        "id": INT, "workspace_id": nullable(INT), "entry": STR,
        "status": {"type": "string",
                   "enum": ["queued", "running", "ok", "error", "limit", "cancelled", "failed"]},
        "exit_code": nullable(INT), "signal": nullable(INT), "limit_hit": nullable(STR),
        "wall_ms": nullable(INT), "cpu_ms": nullable(INT), "peak_memory_bytes": nullable(INT),
        "stdout": nullable(STR), "stderr": nullable(STR),
        "artifacts": {"type": "array", "items": obj({"name": STR, "size": INT,
                                                      "content_type": STR})},
        "created_at": nullable(TIME), "finished_at": nullable(TIME),
        "timings": obj({k: nullable(INT) for k in (
            "queue_ms", "prepare_ms", "start_ms", "program_ms", "exit_ms", "collect_ms")},
            description="Where the run's time went, ms per phase (docs/runs.md); null for a "
                        "phase not reached.")},
        required=["id", "entry", "status"]),
    "Submission": obj({
        "id": INT, "workspace_id": nullable(INT), "workspace_name": STR,
        "author": ref("UserRef"), "message": STR,
        "status": {"type": "string", "enum": ["pending", "approved", "rejected", "withdrawn"]},
        "created_at": nullable(TIME), "decided_at": nullable(TIME),
        "decided_by": ref("UserRef"), "previous_id": nullable(INT),
        "file_count": INT, "bytes": INT,
        "files": {"type": "array", "items": obj({"path": STR, "size": INT, "etag": STR})},
        "run": nullable(ref("Run")),
        "reviews": {"type": "array", "items": obj({
            "id": INT, "decision": {"type": "string", "enum": ["approve", "reject"]},
            "comment": STR, "reviewer": ref("UserRef"), "at": nullable(TIME)})},
        "comments": {"type": "array", "items": ref("Comment")},
        "entry": nullable(STR),
        "earlier_comments": {"type": "array", "items": ref("EarlierComment")}},
        required=["id", "author", "status", "created_at"],
        description="`entry`: the file a re-run runs by default (the check run's entry, else "
                    "main.py, else the first .py file). `earlier_comments`: the comments and "
                    "decisions of up to 5 earlier submissions of a resubmission."),
    "EarlierComment": obj({
        "id": INT, "submission_id": INT, "author": ref("UserRef"), "reviewer": ref("UserRef"),
        "body": STR, "decision": {"type": "string", "enum": ["approve", "reject"]},
        "comment": STR, "path": nullable(STR), "line": nullable(INT),
        "original_line": nullable(INT), "outdated": BOOL, "at": nullable(TIME)},
        required=["id", "submission_id"],
        description="A comment (author, body, path, line) or a decision (reviewer, decision, "
                    "comment) of an earlier submission. `line`: where the commented line is "
                    "in this submission, null when it changed or its file is gone "
                    "(`outdated`: made on an earlier version); `original_line`: its line "
                    "there."),
    "Check": obj({
        "expected_output": STR, "compare": {"type": "string", "enum": ["trim", "exact"]},
        "pass": nullable(BOOL), "reason": nullable(STR),
        "difference": nullable(obj({"line": INT, "expected": nullable(STR),
                                    "actual": nullable(STR)}))},
        description="A re-run's expected output and its verdict (null while the run is "
                    "going): passes when the run ended ok and its output matched "
                    "(docs/api.md, Re-running a submission)."),
    "Notification": obj({
        "id": INT, "kind": {"type": "string", "enum": ["decision", "comment", "submission"]},
        "submission_id": INT, "workspace_name": STR,
        "status": {"type": "string", "enum": ["pending", "approved", "rejected", "withdrawn"]},
        "actor": ref("UserRef"), "at": nullable(TIME), "read": BOOL},
        description="`status`: the submission's now (for a decision, what was decided)."),
    "Comment": obj({"id": INT, "author": ref("UserRef"), "body": STR,
                    "path": nullable(STR), "line": nullable(INT), "at": nullable(TIME)},
                   required=["id", "author", "body"]),
    "Diff": obj({"from": INT, "to": INT, "files": {"type": "array", "items": obj({
        "path": STR, "status": {"type": "string", "enum": ["added", "removed", "modified"]},
        "diff": nullable(STR), "binary": BOOL, "too_large": BOOL,
        "added": INT, "removed": INT}, required=["path", "status"])}}),
    "AuditEntry": obj({"id": INT, "at": nullable(TIME), "actor": ref("UserRef"),
                       "action": STR, "target": STR, "detail": STR}),
    "Stats": obj({"database": STR, "sandboxes": BOOL,
                  "runs": obj({"running": INT, "queued": INT}),
                  "terminals": obj({"environments": INT, "terminals": INT, "clients": INT}),
                  "warm": obj({"enabled": BOOL}, required=["enabled"])},
                 required=["database", "runs", "terminals"]),
    "History": obj({"node": STR, "step_seconds": INT, "sample_seconds": INT,
                    "points": {"type": "array", "items": obj({
                        "at": TIME, "sampled": BOOL,
                        "runs": obj({k: INT for k in
                                     ("ok", "error", "limit", "cancelled", "failed")}),
                        "queued_max": INT, "running_max": INT,
                        "latency_p50_ms": nullable(NUM), "latency_p95_ms": nullable(NUM),
                        "warm_claims": INT, "warm_fallbacks": INT,
                        "terminals_max": INT, "requests": INT},
                        required=["at", "sampled"])}}),
    "Limits": obj({"run": obj({k: INT for k in ("wall_ms", "idle_ms", "cpu_ms", "memory_bytes",
                                                "pids", "output_bytes", "files_bytes")}),
                   "files": obj({k: INT for k in ("max_file_bytes", "max_files",
                                                  "max_workspace_bytes")}),
                   "archive": obj({k: INT for k in ("max_files", "max_bytes")})}),
    "Credentials": obj({"username": STR, "password": STR}),
    "RunRequest": obj({
        "entry": {"type": "string", "default": "main.py"}, "stdin": STR,
        "args": {"type": "array", "items": STR},
        "limits": obj({k: {"type": "integer", "minimum": 1} for k in
                       ("wall_ms", "cpu_ms", "memory_bytes", "pids", "output_bytes",
                        "files_bytes")}, required=[]),
        "interactive": BOOL}, required=[]),
    "ReRunRequest": obj({
        "entry": {"type": "string", "description": "a file of the snapshot; default: the "
                                                   "submission's entry"},
        "stdin": STR, "args": {"type": "array", "items": STR},
        "limits": obj({k: {"type": "integer", "minimum": 1} for k in
                       ("wall_ms", "cpu_ms", "memory_bytes", "pids", "output_bytes",
                        "files_bytes")}, required=[]),
        "expected_output": {"type": "string", "description": "at most --run-output bytes"},
        "compare": {"type": "string", "enum": ["trim", "exact"], "default": "trim"}},
        required=[]),
}

# ---- events and WebSocket messages --------------------------------------------------------

PATH_EVENT = obj({"path": STR, "etag": STR, "size": INT, "message": STR}, required=["path"])
WHO = obj({"client": STR, "user": ref("UserRef")})
PRESENCE = obj({"client": STR, "user": ref("UserRef"), "path": STR, "line": INT, "column": INT,
                "scroll": INT})
# Each event's data; the names and meanings come from src/base/events.h (the one table).
SSE_DATA = {
    "workspace": {name: PATH_EVENT for name in
                  ("file_changed", "file_deleted", "folder_created", "limit_exceeded",
                   "conflict", "not_saved", "server_restarting")}
    | {"resync": obj({}, required=[]),
       "presence_joined": WHO, "presence_left": WHO, "presence": PRESENCE,
       "doc_update": obj({"path": STR, "doc": INT, "id": INT, "client": STR,
                          "snapshot": BOOL, "update": STR},
                         required=["path", "doc", "id", "client", "snapshot"]),
       "doc_reset": obj({"path": STR})},
    "user": {"notification": obj({"kind": {"enum": ["decision", "comment", "submission"]},
                                  "submission_id": INT, "taken_back": BOOL}),
             "resync": obj({}, required=[])},
    "run": {"stdout": obj({"data": STR}), "stderr": obj({"data": STR}),
            "notice": obj({"data": STR}), "result": ref("Run")},
}
SSE_PATHS = {"workspace": "GET /api/workspaces/{id}/events", "user": "GET /api/events",
             "run": "GET /api/runs/{id}/events"}


def sse():
    out = {}
    for which, data in SSE_DATA.items():
        table = codes.event_table(which)
        if [n for n, _ in table] != list(data):
            raise SystemExit(f"openapi.py: {which} events {list(data)} differ from "
                             f"src/base/events.h {[n for n, _ in table]}")
        out[which] = {"description": SSE_PATHS[which],
                      "events": {n: {"summary": m, "data": data[n]} for n, m in table}}
    return out


SSE = sse()
WEBSOCKET = {
    "path": "/api/workspaces/{id}/terminal?name=NAME",
    "description": "Binary frames carry terminal bytes both ways; text frames carry JSON "
                   "control messages (docs/terminal.md).",
    "client": {"resize": obj({"type": {"const": "resize"},
                              "cols": {"type": "integer", "minimum": 1, "maximum": 1000},
                              "rows": {"type": "integer", "minimum": 1, "maximum": 500}})},
    "server": {"exit": obj({"type": {"const": "exit"}, "code": INT}),
               "error": obj({"type": {"const": "error"}, "message": STR, "code": STR},
                            required=["type", "message"])},
}

# ---- routes ----------------------------------------------------------------------------------

COOKIE_OR_BEARER = [{"session": []}, {"bearer": []}]


def param(name, desc):
    if name == "path":
        return {"name": "path", "in": "path", "required": True,
                "description": desc + " (the rest of the URL: slashes separate folders, "
                                      "each segment percent-encoded)",
                "schema": {"type": "string"}, "x-rest-of-path": True}
    return {"name": name, "in": "path", "required": True, "description": desc,
            "schema": {"type": "integer", "minimum": 1} if name == "id" else {"type": "string"}}


def query(name, desc, schema=STR):
    return {"name": name, "in": "query", "required": False, "description": desc,
            "schema": schema}


PAGE = [query("limit", "items per page, 1..200 (default 50)", INT),
        query("offset", "items to skip", INT)]


def json_body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def ok(status, schema=None, desc="OK", ctype="application/json"):
    r = {"description": desc}
    if schema is not None:
        r["content"] = {ctype: {"schema": schema}}
    return str(status), r


ROUTES = []


def route(method, path, summary, tag, ok_answers, errors=(), params=(), body=None,
          auth=True, desc=None):
    ROUTES.append(dict(method=method, path=path, summary=summary, tag=tag, ok=ok_answers,
                       errors=errors, params=params, body=body, auth=auth, desc=desc))


# The level a caller needs in the workspace (src/api/access.h) for every route that acts on
# one: /api/workspaces/{id}/... and a run's routes (through the run's workspace). In the
# document as x-access; tests/api/test_access.py walks this table with a viewer, an editor
# and a stranger. A stranger gets 404 everywhere; a viewer below the level 403 read_only;
# an editor below "owner" 403 forbidden.
ACCESS = {
    ("GET", "/api/workspaces/{id}"): "viewer",
    ("PATCH", "/api/workspaces/{id}"): "owner",
    ("DELETE", "/api/workspaces/{id}"): "owner",
    ("GET", "/api/workspaces/{id}/members"): "viewer",
    ("POST", "/api/workspaces/{id}/members"): "owner",
    ("DELETE", "/api/workspaces/{id}/members/{user_id}"): "owner",
    ("GET", "/api/workspaces/{id}/files"): "viewer",
    ("GET", "/api/workspaces/{id}/files/{path}"): "viewer",
    ("GET", "/api/workspaces/{id}/search"): "viewer",
    ("GET", "/api/workspaces/{id}/archive"): "viewer",
    ("GET", "/api/workspaces/{id}/archive/{path}"): "viewer",
    ("PUT", "/api/workspaces/{id}/files/{path}"): "editor",
    ("DELETE", "/api/workspaces/{id}/files/{path}"): "editor",
    ("POST", "/api/workspaces/{id}/folders"): "editor",
    ("POST", "/api/workspaces/{id}/move"): "editor",
    ("POST", "/api/workspaces/{id}/restore"): "editor",
    ("GET", "/api/workspaces/{id}/events"): "viewer",
    ("POST", "/api/workspaces/{id}/presence"): "viewer",
    ("GET", "/api/workspaces/{id}/docs/{path}"): "viewer",
    ("POST", "/api/workspaces/{id}/docs/{path}"): "editor",
    ("POST", "/api/workspaces/{id}/complete"): "editor",
    ("POST", "/api/workspaces/{id}/signature"): "editor",
    ("POST", "/api/workspaces/{id}/hover"): "editor",
    ("POST", "/api/workspaces/{id}/definition"): "editor",
    ("POST", "/api/workspaces/{id}/diagnostics"): "editor",
    ("POST", "/api/workspaces/{id}/format"): "editor",
    ("POST", "/api/workspaces/{id}/runs"): "editor",
    ("GET", "/api/workspaces/{id}/runs"): "viewer",
    ("GET", "/api/runs/{id}"): "viewer",
    ("GET", "/api/runs/{id}/events"): "viewer",
    ("POST", "/api/runs/{id}/stdin"): "editor",
    ("POST", "/api/runs/{id}/cancel"): "editor",
    ("GET", "/api/runs/{id}/artifacts/{path}"): "viewer",
    ("GET", "/api/workspaces/{id}/terminal"): "editor",  # ?mode=view: viewer (watch)
    ("DELETE", "/api/workspaces/{id}/terminals"): "editor",
    ("DELETE", "/api/workspaces/{id}/terminals/{name}"): "editor",
    ("POST", "/api/workspaces/{id}/submissions"): "owner",
}


def scoped(path):
    """Whether a route acts on one workspace (and so must be in ACCESS)."""
    return path.startswith("/api/workspaces/{id}") or path.startswith("/api/runs/{id}")


ID = param("id", "the id")
WSID = param("id", "the workspace's id")
FILEPATH = param("path", "a workspace path")

route("GET", "/api/health", "Is the process alive", "health",
      [ok(200, obj({"status": {"const": "ok"}}))], auth=False)
route("GET", "/api/ready", "Does the database answer", "health",
      [ok(200, obj({"status": {"const": "ready"}, "database": STR}))], ["unavailable"],
      auth=False)
route("GET", "/api/limits", "The run and file limits in force", "health",
      [ok(200, ref("Limits"))], auth=False)
route("GET", "/api/openapi.json", "This document", "health", [ok(200, {"type": "object"})],
      auth=False)
route("GET", "/api/docs", "This reference as a page (the web app renders this document)",
      "health", [ok(200, STR, ctype="text/html")], auth=False)

route("POST", "/api/auth/register", "Create an account (logged in at once)", "accounts",
      [ok(201, ref("Session"))],
      ["invalid_json", "invalid_field", "exists", "registration_closed",
       "unsupported_media_type", "rate_limited"], body=json_body(ref("Credentials")),
      auth=False)
route("POST", "/api/auth/login", "Log in", "accounts", [ok(200, ref("Session"))],
      ["invalid_json", "invalid_field", "bad_credentials", "rate_limited",
       "unsupported_media_type", "account_disabled"], body=json_body(ref("Credentials")), auth=False)
route("POST", "/api/auth/logout", "Log out (ends the session's streams and terminals)",
      "accounts", [ok(204)], ["unauthenticated", "csrf"])
route("GET", "/api/auth/me", "Who is calling", "accounts", [ok(200, ref("Session"))],
      ["unauthenticated"])
route("POST", "/api/auth/password", "Change your own password (every session ends; a browser "
      "gets a new one)", "accounts", [ok(200, ref("Session"))],
      ["invalid_json", "invalid_field", "unauthenticated", "csrf", "wrong_password",
       "rate_limited", "unsupported_media_type"],
      body=json_body(obj({"current": STR, "new": STR})))
route("GET", "/api/auth/tokens", "Your API tokens", "accounts", [ok(200, lst(ref("Token")))],
      ["unauthenticated"])
route("POST", "/api/auth/tokens", "Create an API token (shown once)", "accounts",
      [ok(201, ref("Token"))], ["invalid_json", "invalid_field", "unauthenticated", "csrf",
                                "too_large"],
      body=json_body(obj({"name": STR})))
route("DELETE", "/api/auth/tokens/{id}", "Revoke an API token", "accounts", [ok(204)],
      ["unauthenticated", "csrf", "not_found"], [ID])

route("GET", "/api/admin/users", "Every account", "admin", [ok(200, lst(ref("User")))],
      ["unauthenticated", "forbidden"], PAGE)
route("POST", "/api/admin/users", "Create an account (its password is shown once)", "admin",
      [ok(201, obj({"user": ref("User"), "password": STR}))],
      ["invalid_json", "invalid_field", "unauthenticated", "forbidden", "csrf", "exists",
       "unsupported_media_type"],
      body=json_body(obj({"username": STR, "role": SCHEMAS["User"]["properties"]["role"],
                          "password": STR}, required=["username"])))
route("POST", "/api/admin/users/{id}/password",
      "Set a password (a temporary one unless given; shown once); their sessions end", "admin",
      [ok(200, obj({"user": ref("User"), "password": STR}))],
      ["invalid_json", "invalid_field", "unauthenticated", "forbidden", "csrf", "not_found",
       "conflict", "unsupported_media_type"], [ID],
      body=json_body(obj({"password": STR}, required=[])))
route("PATCH", "/api/admin/users/{id}", "Change a role, disable or enable", "admin",
      [ok(200, ref("User"))],
      ["invalid_json", "invalid_field", "unauthenticated", "forbidden", "csrf", "not_found",
       "conflict"], [ID],
      body=json_body(obj({"role": SCHEMAS["User"]["properties"]["role"], "disabled": BOOL},
                         required=[])))
route("GET", "/api/admin/audit", "The audit log, newest first", "admin",
      [ok(200, lst(ref("AuditEntry")))], ["unauthenticated", "forbidden"], PAGE)
route("GET", "/api/admin/stats", "This node's figures", "admin", [ok(200, ref("Stats"))],
      ["unauthenticated", "forbidden"])
route("GET", "/api/admin/metrics/history", "This node's last hour, a point a minute",
      "admin", [ok(200, ref("History"))], ["unauthenticated", "forbidden"])
route("GET", "/metrics", "Prometheus metrics (text format 0.0.4)", "admin",
      [ok(200, STR, ctype="text/plain")], ["unauthenticated", "forbidden"],
      desc="Needs the --metrics-token bearer token or an admin's credentials.")

route("GET", "/api/workspaces", "Your workspaces and those shared with you (admins: ?all=1)",
      "workspaces",
      [ok(200, lst(ref("Workspace")))], ["unauthenticated"],
      [query("all", "1: everyone's (admins)")] + PAGE)
route("POST", "/api/workspaces", "Create a workspace (with an example main.py)",
      "workspaces", [ok(201, ref("Workspace"))],
      ["invalid_json", "invalid_field", "unauthenticated", "csrf", "too_large"],
      body=json_body(obj({"name": STR})))
route("GET", "/api/workspaces/{id}", "A workspace", "workspaces", [ok(200, ref("Workspace"))],
      ["unauthenticated", "not_found"], [WSID])
route("PATCH", "/api/workspaces/{id}", "Rename a workspace", "workspaces",
      [ok(200, ref("Workspace"))],
      ["invalid_json", "invalid_field", "unauthenticated", "csrf", "not_found"], [WSID],
      body=json_body(obj({"name": STR})))
route("DELETE", "/api/workspaces/{id}", "Delete a workspace", "workspaces", [ok(204)],
      ["unauthenticated", "csrf", "not_found"], [WSID])

MEMBER_ERRORS = ["invalid_json", "invalid_field", "unauthenticated", "csrf", "not_found"]
route("GET", "/api/workspaces/{id}/members", "Who the workspace is shared with", "workspaces",
      [ok(200, obj({"owner": ref("UserRef"), "items": {"type": "array", "items": ref("Member")},
                    "max_members": INT}))],
      ["unauthenticated", "not_found"], [WSID])
route("POST", "/api/workspaces/{id}/members", "Share with a user, or change their role",
      "workspaces", [ok(201, ref("Member"), "added"), ok(200, ref("Member"), "role changed")],
      MEMBER_ERRORS + ["conflict", "too_large"], [WSID],
      body=json_body(obj({"username": STR,
                          "role": {"type": "string", "enum": ["viewer", "editor"]}})),
      desc="The owner or an admin. Audit-logged (member_add, member_role).")
route("DELETE", "/api/workspaces/{id}/members/{user_id}", "Stop sharing with a user",
      "workspaces", [ok(204)], ["unauthenticated", "csrf", "not_found"],
      [WSID, param("user_id", "the member's user id")],
      desc="The owner or an admin, or the member themself (leaving). Audit-logged "
           "(member_remove).")

route("GET", "/api/workspaces/{id}/files", "Every file and folder, by path", "files",
      [ok(200, obj({"items": {"type": "array", "items": ref("File")}}))],
      ["unauthenticated", "not_found"], [WSID])
route("GET", "/api/workspaces/{id}/search", "Lines of the workspace's text files that contain q",
      "files",
      [ok(200, obj({"items": {"type": "array", "items": obj({"path": STR, "line": INT,
                                                              "text": STR})},
                    "truncated": BOOL, "files_searched": INT}))],
      ["unauthenticated", "not_found", "invalid_field"],
      [WSID, query("q", "the text to find (1..200 bytes, one line)"),
       query("case", "1: match letter case exactly (default: ASCII case ignored)")])
HISTORY = obj({"path": STR, "items": {"type": "array", "items": ref("Version")},
               "next_offset": nullable(INT)}, required=["path", "items"])
VERSION_DIFF = obj({"path": STR, "from": INT, "to": INT, "diff": nullable(STR), "binary": BOOL,
                    "too_large": BOOL, "added": INT, "removed": INT},
                   required=["path", "from", "to", "binary", "too_large", "added", "removed"])
route("GET", "/api/workspaces/{id}/files/{path}", "A file's bytes (ETag), or its history",
      "files",
      [("200", {"description": "the file's bytes (or ?version=N's); ?history=1: its versions, "
                               "newest first; ?diff=A..B: a unified diff",
                "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                    "format": "binary"}},
                            # a .json file's own bytes are JSON too
                            "application/json": {"schema": {"anyOf": [
                                HISTORY, VERSION_DIFF,
                                {"description": "the bytes of a file served as JSON"}]}}}})],
      ["unauthenticated", "not_found", "invalid_path", "conflict", "bad_request",
       "invalid_field"],
      [WSID, FILEPATH, query("history", "1: the file's stored versions (paged)"),
       query("version", "N: the bytes of version N", INT),
       query("diff", "A..B: the unified diff from version A to version B")] + PAGE,
      desc="Every stored version (saves, terminal writes, run write-backs, restores) within "
           "--history-versions per file and --history-bytes per workspace, oldest dropped "
           "first; a file's newest version always stays. Versions outlive a deletion.")
route("POST", "/api/workspaces/{id}/restore", "Make an earlier version the file again",
      "files", [ok(200, ref("File"), "restored"), ok(201, ref("File"), "re-created")],
      ["invalid_json", "invalid_field", "invalid_path", "unauthenticated", "csrf",
       "not_found", "conflict", "too_large"], [WSID],
      body=json_body(obj({"path": STR, "version": INT})),
      desc="The restore is itself a new version (source \"restore\").")
ZIP = ok(200, {"type": "string", "format": "binary"}, "a zip archive, streamed",
         ctype="application/zip")
ZIP_DESC = ("Streamed as it is written (chunked); Content-Disposition: attachment names it. "
            "Entries are workspace paths (UTF-8 flagged), folders end in '/', files are "
            "deflated or stored byte for byte. More than --archive-max-files entries or "
            "--archive-max-bytes file bytes: 413 archive_too_large before any byte is sent; "
            "--archive-streams downloads already streaming on the node: 429.")
route("GET", "/api/workspaces/{id}/archive", "The whole workspace as a zip", "files", [ZIP],
      ["unauthenticated", "not_found", "archive_too_large", "rate_limited"], [WSID],
      desc=ZIP_DESC)
route("GET", "/api/workspaces/{id}/archive/{path}",
      "A folder (or one file) as a zip, named from the folder down", "files", [ZIP],
      ["unauthenticated", "not_found", "invalid_path", "archive_too_large", "rate_limited"],
      [WSID, FILEPATH], desc=ZIP_DESC)
route("PUT", "/api/workspaces/{id}/files/{path}", "Create or replace a file (raw body)",
      "files", [ok(200, ref("File"), "replaced"), ok(201, ref("File"), "created")],
      ["unauthenticated", "csrf", "not_found", "invalid_path", "conflict", "etag_mismatch",
       "too_large", "no_doc", "bad_request"], [WSID, FILEPATH],
      body={"required": True, "content": {"application/octet-stream": {
          "schema": {"type": "string", "format": "binary"}}}},
      desc="If-Match: \"ETAG\" makes it conditional (412 etag_mismatch with the current "
           "etag); If-None-Match: * creates only. X-Pyroom-Doc: DOC (the document's id) marks "
           "a co-editing page's save: it keeps the file's document, and is 404 no_doc once "
           "that document is gone (400 bad_request when it is not an id).")
route("DELETE", "/api/workspaces/{id}/files/{path}", "Delete a file or a folder", "files",
      [ok(204)], ["unauthenticated", "csrf", "not_found", "invalid_path", "etag_mismatch"],
      [WSID, FILEPATH])
route("POST", "/api/workspaces/{id}/folders", "Create a folder", "files",
      [ok(201, ref("File"))],
      ["invalid_json", "invalid_field", "invalid_path", "unauthenticated", "csrf",
       "not_found", "exists", "conflict", "too_large"], [WSID],
      body=json_body(obj({"path": STR})))
route("POST", "/api/workspaces/{id}/move", "Move or rename a file or folder", "files",
      [ok(200, ref("File"))],
      ["invalid_json", "invalid_field", "invalid_path", "unauthenticated", "csrf",
       "not_found", "exists", "conflict"], [WSID],
      body=json_body(obj({"from": STR, "to": STR})))
route("GET", "/api/workspaces/{id}/events", "Workspace events (Server-Sent Events)",
      "files", [ok(200, STR, ctype="text/event-stream")],
      ["unauthenticated", "not_found", "rate_limited", "unavailable", "invalid_client"],
      [WSID, query("client", "the page's own id (1-40 of A-Z a-z 0-9 - _): its presence "
                             "joins now and leaves when the stream ends")],
      desc="Event names and data: x-sse-events.workspace.")
route("POST", "/api/workspaces/{id}/presence", "Say where you are (file, cursor, scroll)",
      "collab", [ok(204)],
      ["invalid_json", "invalid_field", "invalid_path", "invalid_client", "unauthenticated",
       "csrf", "not_found", "unsupported_media_type"], [WSID],
      body=json_body(obj({"client": STR, "path": STR, "line": INT, "column": INT,
                          "scroll": INT, "left": BOOL}, required=["client"])),
      desc="Published to the workspace's streams as `presence`; a follower moves to it. "
           "{\"client\", \"left\": true}: the page is going (`presence_left`).")
DOCLOG = obj({"items": {"type": "array", "items": obj({"id": INT, "snapshot": BOOL,
                                                        "update": STR})},
              "doc": INT, "bytes": INT, "editable": BOOL})
route("GET", "/api/workspaces/{id}/docs/{path}", "A file's co-editing log (late joiners)",
      "collab", [ok(200, DOCLOG)],
      ["unauthenticated", "not_found", "invalid_path", "bad_request", "no_doc"],
      [WSID, FILEPATH, query("after", "only updates with a larger id", INT)],
      desc="Every update since the last snapshot, base64; apply them all (any order).")
route("POST", "/api/workspaces/{id}/docs/{path}", "Relay a co-editing update (Yjs, base64)",
      "collab", [ok(201, obj({"id": INT, "doc": INT}))],
      ["invalid_json", "invalid_field", "invalid_path", "invalid_client", "unauthenticated",
       "csrf", "read_only", "not_found", "no_doc", "doc_exists", "snapshot_needed",
       "too_large", "unsupported_media_type"], [WSID, FILEPATH],
      body=json_body(obj({"client": STR, "doc": INT, "update": STR, "snapshot": BOOL,
                          "covers": INT}, required=["client", "update"])),
      desc="snapshot with covers 0 starts the document (409 doc_exists if another editor "
           "did; its id `doc` is this snapshot's id); anything else names its document "
           "(`doc`, required; 404 no_doc once that one was dropped, even if another started "
           "since): snapshot with covers N replaces the updates up to id N; the log is "
           "bounded by --collab-doc-bytes (409 snapshot_needed).")

LANG_ERRORS = ["invalid_json", "bad_request", "invalid_path", "unauthenticated", "csrf",
               "not_found", "too_large", "rate_limited", "analysis_error", "analysis_failed",
               "unavailable", "analysis_timeout", "superseded"]
POS_BODY = json_body(obj({"path": STR, "source": STR, "line": INT, "column": INT}))
SRC_BODY = json_body(obj({"path": STR, "source": STR}))
route("POST", "/api/workspaces/{id}/complete", "Completions at a position", "language",
      [ok(200, obj({"items": {"type": "array", "items": obj(
          {"label": STR, "kind": STR, "detail": STR, "insert": STR})}}))],
      LANG_ERRORS + ["bad_position"], [WSID], body=POS_BODY)
route("POST", "/api/workspaces/{id}/signature", "Signatures of the call at a position",
      "language", [ok(200, obj({"signatures": {"type": "array", "items": obj(
          {"label": STR, "params": {"type": "array", "items": STR},
           "active_param": nullable(INT), "doc": STR})}}))],
      LANG_ERRORS + ["bad_position"], [WSID], body=POS_BODY)
route("POST", "/api/workspaces/{id}/hover", "A hover card (Markdown) at a position",
      "language", [ok(200, obj({"markdown": STR}))], LANG_ERRORS + ["bad_position"], [WSID],
      body=POS_BODY)
route("POST", "/api/workspaces/{id}/definition", "Where the name at a position is defined",
      "language", [ok(200, obj({"items": {"type": "array", "items": obj(
          {"path": nullable(STR), "line": INT, "column": INT, "module": STR, "text": STR},
          required=["path", "line", "column"])}}))],
      LANG_ERRORS + ["bad_position"], [WSID], body=POS_BODY)
route("POST", "/api/workspaces/{id}/diagnostics", "Syntax errors and pyflakes findings",
      "language", [ok(200, obj({"items": {"type": "array", "items": obj(
          {"line": INT, "column": INT, "end_line": INT, "end_column": INT,
           "severity": {"type": "string", "enum": ["error", "warning"]}, "message": STR,
           "code": STR})}}))], LANG_ERRORS, [WSID], body=SRC_BODY)
route("POST", "/api/workspaces/{id}/format", "The source formatted by black", "language",
      [ok(200, obj({"source": STR}))], LANG_ERRORS + ["syntax_error"], [WSID], body=SRC_BODY)

route("POST", "/api/workspaces/{id}/runs", "Run a file of the workspace", "runs",
      [ok(202, ref("Run"), "accepted"), ok(200, ref("Run"), "finished (?wait=1)")],
      ["invalid_json", "invalid_field", "invalid_path", "unauthenticated", "csrf",
       "not_found", "rate_limited", "unavailable", "too_large"],
      [WSID, query("wait", "1: answer when the run has finished")],
      body=json_body(ref("RunRequest"), required=False))
route("GET", "/api/workspaces/{id}/runs", "The workspace's runs, newest first", "runs",
      [ok(200, lst(ref("Run")))], ["unauthenticated", "not_found"], [WSID] + PAGE)
route("GET", "/api/runs/{id}", "A run", "runs", [ok(200, ref("Run"))],
      ["unauthenticated", "not_found"], [ID])
route("GET", "/api/runs/{id}/events", "A run's output (Server-Sent Events)", "runs",
      [ok(200, STR, ctype="text/event-stream")], ["unauthenticated", "not_found"], [ID],
      desc="Event names and data: x-sse-events.run.")
route("POST", "/api/runs/{id}/stdin", "Feed a live run's stdin (empty body closes it)",
      "runs", [ok(204)],
      ["unauthenticated", "csrf", "not_found", "conflict", "too_large", "rate_limited"], [ID],
      body={"required": False, "content": {"application/octet-stream": {
          "schema": {"type": "string", "format": "binary"}}}})
route("POST", "/api/runs/{id}/cancel", "Cancel a run", "runs", [ok(200, ref("Run"))],
      ["unauthenticated", "csrf", "not_found"], [ID])
route("GET", "/api/runs/{id}/artifacts/{path}", "A figure the run made", "runs",
      [ok(200, {"type": "string", "format": "binary"}, ctype="image/png")],
      ["unauthenticated", "not_found"], [ID, param("path", "the artifact's name")])

route("GET", "/api/workspaces/{id}/terminal", "Open a terminal (WebSocket upgrade)",
      "terminals", [ok(101, None, "switching protocols")],
      ["unauthenticated", "not_found", "forbidden_origin", "bad_handshake", "bad_request",
       "invalid_name", "read_only", "no_terminal", "elsewhere", "too_many_environments",
       "too_many_terminals", "unavailable"],
      [WSID, query("name", "the terminal's name, 1-16 of A-Z a-z 0-9 - _"),
       query("mode", "edit (default) or view: watch a live terminal read-only (its input is "
                     "not taken); a caller who may only read the workspace must use view")],
      desc="Messages: x-websocket.")

route("GET", "/api/terminals", "Your live environments (terminals) on every node", "terminals",
      [ok(200, obj({"items": {"type": "array", "items": obj({
                        "workspace_id": INT, "workspace_name": nullable(STR),
                        "terminals": {"type": "array", "items": STR}, "terminal_count": INT,
                        "clients": INT, "age_ms": INT, "idle_ms": INT})},
                    "max_per_user": INT, "max_per_workspace": INT,
                    "partial": {"type": "boolean"}}, required=["items", "max_per_user",
                                                               "max_per_workspace"]))],
      ["unauthenticated"])
route("DELETE", "/api/workspaces/{id}/terminals", "End the workspace's live environment",
      "terminals", [ok(204)], ["unauthenticated", "csrf", "not_found"], [WSID])
route("DELETE", "/api/workspaces/{id}/terminals/{name}", "End one terminal's shell",
      "terminals", [ok(204)], ["unauthenticated", "csrf", "not_found"],
      [WSID, param("name", "the terminal's name")])

SUB = param("id", "the submission's id")
route("POST", "/api/workspaces/{id}/submissions", "Submit a snapshot for review",
      "submissions", [ok(201, ref("Submission"))],
      ["invalid_json", "invalid_field", "bad_request", "unauthenticated", "csrf", "forbidden",
       "not_found", "conflict", "too_large", "run_failed", "unavailable"], [WSID],
      body=json_body(obj({"message": STR}, required=[]), required=False))
route("GET", "/api/submissions", "Submissions you may see", "submissions",
      [ok(200, lst(ref("Submission")))], ["unauthenticated", "invalid_field"],
      [query("status", "pending, approved, rejected or withdrawn"),
       query("mine", "1: your own only")] + PAGE)
route("GET", "/api/submissions/{id}", "A submission with files, reviews and comments",
      "submissions", [ok(200, ref("Submission"))], ["unauthenticated", "not_found"], [SUB])
route("GET", "/api/submissions/{id}/files/{path}", "A snapshot file's bytes", "submissions",
      [ok(200, {"type": "string", "format": "binary"}, ctype="application/octet-stream")],
      ["unauthenticated", "not_found", "invalid_path", "conflict"], [SUB, FILEPATH])
route("GET", "/api/submissions/{id}/archive", "The snapshot as a zip", "submissions", [ZIP],
      ["unauthenticated", "not_found", "archive_too_large", "rate_limited"], [SUB],
      desc="Who may see the submission (its author, reviewers, admins). " + ZIP_DESC)
route("POST", "/api/submissions/{id}/withdraw", "Withdraw your pending submission",
      "submissions", [ok(200, ref("Submission"))],
      ["unauthenticated", "csrf", "forbidden", "not_found", "already_decided"], [SUB])
route("POST", "/api/submissions/{id}/review", "Approve or reject (reviewers)",
      "submissions", [ok(200, ref("Submission"))],
      ["invalid_json", "invalid_field", "unauthenticated", "csrf", "forbidden", "not_found",
       "already_decided", "too_large"], [SUB],
      body=json_body(obj({"decision": {"type": "string", "enum": ["approve", "reject"]},
                          "comment": STR}, required=["decision"])))
route("POST", "/api/submissions/{id}/comments", "Comment, optionally on a file's line",
      "submissions", [ok(201, ref("Comment"))],
      ["invalid_json", "invalid_field", "unauthenticated", "csrf", "not_found", "too_large"],
      [SUB], body=json_body(obj({"body": STR, "path": STR, "line": INT}, required=["body"])))
route("POST", "/api/submissions/{id}/runs",
      "Run any file of a snapshot with stdin and an expected output (reviewers)", "submissions",
      [ok(202, ref("Run"), "accepted"), ok(200, ref("Run"), "finished (?wait=1)")],
      ["invalid_json", "invalid_field", "invalid_path", "unauthenticated", "csrf", "forbidden",
       "not_found", "too_large", "rate_limited", "unavailable"], [SUB],
      body=json_body(ref("ReRunRequest"), required=False))
route("GET", "/api/submissions/{id}/runs/{run_id}", "A run of a submission and its check",
      "submissions", [ok(200, {"allOf": [ref("Run"), obj({"check": nullable(ref("Check"))})]})],
      ["unauthenticated", "not_found"], [SUB, param("run_id", "the run's id")])
route("GET", "/api/notifications", "Your notices of decisions, comments and submissions",
      "submissions",
      [ok(200, obj({"unread": INT, "items": {"type": "array", "items": ref("Notification")},
                    "next_offset": nullable(INT)}, required=["unread", "items"]))],
      ["unauthenticated"], [query("unread", "1: unread ones only")] + PAGE)
route("GET", "/api/events", "Your own events: the review bell (Server-Sent Events)",
      "submissions", [ok(200, STR, ctype="text/event-stream")],
      ["unauthenticated", "rate_limited", "unavailable"],
      desc="Event names and data: x-sse-events.user. Counts against "
           "--max-event-streams-per-user with the workspace streams.")
route("POST", "/api/notifications/read", "Mark your notices read", "submissions",
      [ok(200, obj({"marked": INT, "unread": INT}))],
      ["invalid_json", "invalid_field", "unauthenticated", "csrf"],
      body=json_body(obj({"submission_id": INT, "id": INT}, required=[]), required=False),
      desc="Those about submission_id, or the one with id, or all of yours (an empty body).")
route("GET", "/api/submissions/{id}/diff", "What changed from an earlier submission",
      "submissions", [ok(200, ref("Diff"))],
      ["unauthenticated", "not_found", "invalid_field", "bad_request"],
      [SUB, query("against", "the earlier submission's id", INT)])

TAGS = [("health", "Health, limits and this document"), ("accounts", "Accounts and API tokens"),
        ("admin", "Administration and metrics"), ("workspaces", "Workspaces"),
        ("files", "Files and workspace events"),
        ("language", "Completion, signatures, hover, definitions, diagnostics, formatting"),
        ("runs", "Runs"),
        ("terminals", "Terminals"),
        ("collab", "Presence, follow and co-editing"),
        ("submissions", "Submissions and review")]

# ---- the document -----------------------------------------------------------------------------


def operation_id(method, path):
    words = [w for w in re.split(r"[/{}.]+", path) if w and w != "api"]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def build():
    codes = {c: (s, m) for c, s, m in ERRORS}
    paths = {}
    for r in ROUTES:
        op = {"operationId": operation_id(r["method"], r["path"]), "summary": r["summary"],
              "tags": [r["tag"]], "responses": dict(r["ok"])}
        if r["desc"]:
            op["description"] = r["desc"]
        if r["params"]:
            op["parameters"] = list(r["params"])
        if r["body"]:
            op["requestBody"] = r["body"]
        op["security"] = COOKIE_OR_BEARER if r["auth"] else []
        errors = list(r["errors"])
        access = ACCESS.get((r["method"], r["path"]))
        if scoped(r["path"]) and not access:
            raise SystemExit(f"openapi.py: {r['method']} {r['path']}: not in ACCESS")
        if access:
            op["x-access"] = access
            errors += [c for c in (["read_only"] if access != "viewer" else []) +
                       (["forbidden"] if access == "owner" else []) if c not in errors]
        by_status = {}
        for code in errors + ["method_not_allowed", "internal"]:
            if code not in codes:
                raise SystemExit(f"openapi.py: {r['path']}: unknown error code {code}")
            by_status.setdefault(codes[code][0], []).append(code)
        for status, cs in sorted(by_status.items()):
            op["responses"][str(status)] = {
                "description": ", ".join(cs),
                "content": {"application/json": {"schema": {
                    "allOf": [ref("Error")], "x-codes": cs}}}}
        paths.setdefault(r["path"], {})[r["method"].lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "pyroom HTTP API", "version": "0.1.0",
                 "description": "Everything is JSON over HTTP unless said otherwise; errors are "
                                "{\"error\": {\"code\", \"message\"}} with the codes of "
                                "x-error-codes. Cookie-authenticated writes send "
                                "X-CSRF-Token. Lists take ?limit= and ?offset=.",
                 "license": {"name": "MIT", "identifier": "MIT"}},
        "servers": [{"url": "/"}],
        "tags": [{"name": n, "description": d} for n, d in TAGS],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "pyroom_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
        "x-error-codes": [{"code": c, "status": s, "meaning": m} for c, s, m in ERRORS],
        "x-sse-events": SSE,
        "x-websocket": WEBSOCKET,
    }


def main():
    doc = json.dumps(build(), separators=(",", ":")) + "\n"
    if len(sys.argv) > 1:
        tmp = sys.argv[1] + ".tmp"
        with open(tmp, "w") as f:
            f.write(doc)
        os.replace(tmp, sys.argv[1])
    else:
        sys.stdout.write(doc)


if __name__ == "__main__":
    main()
