"""Validates the API's JSON answers against its OpenAPI document (build/openapi.json, the
one the binary embeds): conftest's Client sends every answer here. A success body must
match its operation's schema; an error body must be {"error": {"code", "message"}} with a
code of the error table and that code's status. A failure names the request."""
import json
import os
import re

from jsonschema import Draft202012Validator, RefResolver

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD", "build")
DOC_PATH = os.path.join(ROOT, BUILD, "openapi.json")

_doc = None
_ops = []
seen = set()  # (method, template, status) validated, for the coverage report


def doc():
    global _doc
    if _doc is None:
        with open(DOC_PATH) as f:
            _doc = json.load(f)
        for template, item in _doc["paths"].items():
            rx = "^" + re.sub(r"\\\{(\w+)\\\}", lambda m: "(.+)" if m.group(1) == "path"
                              else "([^/]+)", re.escape(template)) + "$"
            for method, op in item.items():
                # literal segments first: /api/auth/tokens before /api/auth/{x}
                _ops.append((template.count("{"), method.upper(), re.compile(rx), template, op))
        _ops.sort(key=lambda t: t[0])
    return _doc


def find(method, path):
    doc()
    for _, m, rx, template, op in _ops:
        if m == method and rx.match(path):
            return template, op
    return None, None


def _validate(schema, body, what):
    d = doc()
    v = Draft202012Validator(schema, resolver=RefResolver.from_schema(d))
    errors = sorted(v.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path)
        raise AssertionError(f"{what}: the answer does not match the OpenAPI document at "
                             f"'{where}': {e.message}")


def check(method, path, status, ctype, body_bytes):
    """Raises AssertionError when the answer contradicts the document."""
    if not path.startswith("/api/") or not (ctype or "").startswith("application/json"):
        return
    if not body_bytes:
        return
    try:
        body = json.loads(body_bytes)
    except ValueError:
        raise AssertionError(f"{method} {path}: {status} says JSON but is not")
    d = doc()
    what = f"{method} {path} -> {status}"
    if status >= 400:
        _validate({"$ref": "#/components/schemas/Error"}, body, what)
        code = body["error"]["code"]
        want = {c["code"]: c["status"] for c in d["x-error-codes"]}[code]
        assert want == status, f"{what}: error code {code} is a {want} in the error table"
        return
    template, op = find(method, path)
    if op is None:
        return  # the router test owns "every route is documented"
    resp = op["responses"].get(str(status))
    assert resp is not None, f"{what}: status {status} is not documented for {template}"
    schema = resp.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    seen.add((method, template, status))
    _validate(schema, body, what)
