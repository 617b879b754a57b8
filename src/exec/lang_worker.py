# lang_worker.py: pyroom's language worker. Runs inside a sandbox (src/exec/lang.c starts
# it as `python3 -I -c <this file> PRELOAD full|light`; a light worker answers diagnostics only
# and warms nothing up), one per workspace owner, and answers
# completion, signature, hover, definition, diagnostics and formatting requests with jedi,
# pyflakes and black.
#
# Protocol: one JSON object per line on stdin, one per line on stdout, in order.
#   request  {"id", "op", "ws", "path", "source", "line", "column", "deadline_ms",
#             "files": {path: text}, "drop": [path]}
#   answer   {"id", "ok": {...}, "warming"} or {"id", "error": {"code", "message"}, "warming"}
#   cancel   {"cancel": id}: the client of request `id` left. Sent while the worker analyses
#            it; the worker stops and answers {"id", "error": {"code": "cancelled"}}. A cancel
#            that comes after the answer is ignored (it is never answered).
# "warming" is true while the worker has not finished warming up in idle time (importing
# jedi, indexing the PRELOAD modules, importing black).
# "files" and "drop" bring the worker's copy of workspace `ws` (its Python files, under
# /home/user/w<ws>) up to date before the request is answered. Everything here is
# untrusted from the server's point of view: it validates and re-encodes every answer.
# Lines and columns are jedi's: line 1-based, column 0-based in code points.
import gc
import json
import os
import select
import signal
import sys
import time

# Our stderr is nobody's: tracebacks of a hostile input must not fill a pipe.
_null = os.open("/dev/null", os.O_WRONLY)
os.dup2(_null, 2)
os.close(_null)

HOME = os.environ.get("HOME") or "/home/user"
MAX_ITEMS = 300
MAX_DOC = 6000
MAX_TEXT = 256 * 1024

import ast  # noqa: E402
import collections  # noqa: E402

import pyflakes.checker  # noqa: E402
import pyflakes.messages  # noqa: E402

# pyflakes collects type comments from the file's tokens; given none (we give none) it still
# walks the whole tree for nothing: a quarter of a check. Same answer, without the walk.
_collect_type_comments = pyflakes.checker._collect_type_comments


def _type_comments(tree, tokens):
    if not tokens:
        return collections.defaultdict(list)
    return _collect_type_comments(tree, tokens)


pyflakes.checker._collect_type_comments = _type_comments

# pyflakes asks, for every node, whether `from __future__` imports are still allowed, by
# checking that every scope on its stack is a module scope: a tenth of a check. The
# innermost scope is looked at first (inside a function or class, most nodes, the answer
# is no at once); otherwise pyflakes' own test answers. Same answer.
_futures = pyflakes.checker.Checker.futuresAllowed


def _futures_allowed(self):
    if not isinstance(self.scopeStack[-1], pyflakes.checker.ModuleScope):
        return False
    return _futures.fget(self)


pyflakes.checker.Checker.futuresAllowed = property(_futures_allowed, _futures.fset)

# jedi is imported on first use, or in idle time (see main): diagnostics need only pyflakes,
# so a fresh worker answers them at once.
jedi = None
ENV = None
_projects = {}


def need_jedi():
    global jedi, ENV, _importing
    if jedi is None:
        _importing = True  # an import stopped half-way would leave jedi half-imported
        try:
            import jedi as j
        finally:
            _importing = False

        j.settings.cache_directory = "/tmp/jedi"
        # Never import a module for real on jedi's own initiative ("gi" by default): a
        # workspace file of that name would run. (The sandbox bounds it anyway.)
        j.settings.auto_import_modules = []
        ENV = j.InterpreterEnvironment()
        # Every Script asks jedi.api for its InferenceState: ours keeps it (States).
        import jedi.api as api
        import jedi.inference.filters as filters

        _states.make = api.InferenceState
        api.InferenceState = _states.get
        _library_names.wrap(filters._AbstractUsedNamesFilter)
        jedi = j
    return jedi


class Timeout(Exception):
    pass


class Cancelled(Exception):
    pass


# While a request is analysed, SIGALRM comes every TICK seconds: the analysis stops at its
# deadline (Timeout) or when anything arrives on stdin, which can only be a cancel of it:
# the server writes the next request only after this answer (Cancelled).
TICK = 0.02
_deadline = None  # time.monotonic() of the current request's end, or None
_lines = None  # main's reader
_importing = False


def _alarm(signum, frame):
    if _importing:
        return
    if _deadline is not None and time.monotonic() >= _deadline:
        raise Timeout()
    if _lines is not None and _lines.ready():
        raise Cancelled()


signal.signal(signal.SIGALRM, _alarm)


class Failure(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code
        self.message = message


def ws_root(ws):
    return "%s/w%d" % (HOME, int(ws))


def safe_rel(path):
    # The server checked the path already; refuse anything that could leave the root anyway.
    if not isinstance(path, str) or not path or path.startswith("/") or "\0" in path:
        raise Failure("bad_request", "invalid path")
    if any(p in ("", ".", "..") for p in path.split("/")):
        raise Failure("bad_request", "invalid path")
    return path


def sync(ws, files, drop):
    root = ws_root(ws)
    os.makedirs(root, exist_ok=True)
    if files or drop:
        _states.drop()  # what it inferred about the workspace's modules may be stale
    for rel in drop or ():
        try:
            os.unlink(os.path.join(root, safe_rel(rel)))
        except OSError:
            pass
    for rel, text in (files or {}).items():
        full = os.path.join(root, safe_rel(rel))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)


def project(ws):
    need_jedi()
    p = _projects.get(ws)
    if p is None:
        p = jedi.Project(ws_root(ws), load_unsafe_extensions=False, smart_sys_path=True)
        _projects[ws] = p
    return p


class States:
    """jedi's inference state, kept from one request to the next about the same file.

    jedi makes a new InferenceState for every Script, and with it forgets everything it
    inferred about the libraries: completing `np.lin` listed and filtered numpy's six
    hundred names again, four fifths of a completion. Kept, a completion about the same
    file reuses what was inferred about the libraries (whose files never change here). The
    edited file itself is a new module value for every request (a Script's own), so nothing
    inferred about it is reused; the request-scoped counters and recursion guards are
    reset. The state is dropped whenever it could be stale or has grown: another file or
    workspace is asked about, the workspace's files change (sync), a request fails or is
    interrupted (what it left half-done is unknown), or after MAX_USES requests (results
    about each request's module stay in its caches)."""

    MAX_USES = 100

    def __init__(self):
        self.make = None  # jedi's InferenceState class
        self.key = None
        self.state = None
        self.uses = 0

    def drop(self):
        self.key = self.state = None

    def get(self, project, environment=None, script_path=None):
        key = (id(project), id(environment), str(script_path))
        st = self.state
        if st is None or self.key != key or self.uses >= self.MAX_USES:
            st = self.state = self.make(project, environment=environment,
                                        script_path=script_path)
            self.key, self.uses = key, 0
        self.uses += 1
        st.reset_recursion_limitations()
        st.inferred_element_counts = {}
        st.dynamic_params_depth = 0
        st.is_analysis = False
        st.analysis = []
        return st


_states = States()


class LibraryNames:
    """The names a library module defines, listed once per kept inference state.

    Completing `np.lin` lists every name of numpy's module and stub (most of what jedi still
    spends on it once its state is kept): the list of a module-level filter of a module
    under /usr is kept in the state (dropped with it) and given again to the same filter
    of the same module context (jedi keeps one context per module value). What decides the
    list is that module's own tree, which never changes here; the one input from the
    request, the scope asked from (origin_scope), only matters for names in the same module
    as that scope, and a workspace file is never under /usr."""

    def wrap(self, cls):
        values = cls.values

        def cached(filt):
            pc = filt.parent_context
            key = self.key(filt, pc)
            if key is None:
                return values(filt)
            cache = pc.inference_state.__dict__.setdefault("_pyroom_names", {})
            hit = cache.get(key)
            if hit is not None and hit[0] is pc and hit[1] is filt._node_context:
                return list(hit[2])
            names = values(filt)
            cache[key] = (pc, filt._node_context, list(names))
            return names

        cls.values = cached

    @staticmethod
    def key(filt, pc):
        if getattr(filt, "_until_position", None) is not None or not pc.is_module():
            return None
        path = pc.py__file__()
        if path is None or not str(path).startswith("/usr/"):
            return None
        origin = getattr(filt, "_origin_scope", None)
        if origin is not None and origin.get_root_node() is pc.tree_node:
            return None
        return (type(filt), id(pc), id(filt._node_context))


_library_names = LibraryNames()


def script(rq):
    need_jedi()
    ws = rq["ws"]
    path = os.path.join(ws_root(ws), safe_rel(rq["path"]))
    return jedi.Script(rq["source"], path=path, project=project(ws), environment=ENV)


def position(rq):
    line, column = rq.get("line"), rq.get("column")
    if not isinstance(line, int) or not isinstance(column, int):
        raise Failure("bad_position", "line and column must be integers")
    return line, column


def cut(s, n):
    s = s or ""
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def op_complete(rq):
    line, column = position(rq)
    out = []
    for c in script(rq).complete(line, column)[:MAX_ITEMS]:
        out.append({"label": c.name, "kind": c.type, "detail": cut(c.description, 200),
                    "insert": c.complete or ""})
    return {"items": out}


def op_signature(rq):
    line, column = position(rq)
    out, seen = [], set()
    for s in script(rq).get_signatures(line, column):
        label = s.to_string()
        if label in seen:
            continue
        seen.add(label)
        out.append({"label": cut(label, 1000),
                    "params": [cut(p.to_string(), 200) for p in s.params][:64],
                    "active_param": s.index,
                    "doc": cut(s.docstring(raw=True), MAX_DOC) if not out else ""})
        if len(out) >= 8:
            break
    return {"signatures": out}


def op_hover(rq):
    line, column = position(rq)
    names = script(rq).help(line, column)
    if not names:
        return {"markdown": ""}
    n = names[0]
    head = n.description
    try:
        sigs = n.get_signatures()
        if sigs:
            head = sigs[0].to_string()
    except Exception:
        pass
    doc = n.docstring(raw=True)
    md = "```python\n" + cut(head, 1000) + "\n```"
    if doc:
        md += "\n\n" + cut(doc, MAX_DOC)
    return {"markdown": md}


def library_text(path):
    # Library sources are shown read-only; only files of the system's Python (/usr) are
    # ever read for that, never another workspace's.
    real = os.path.realpath(path)
    if not real.startswith("/usr/") or not real.endswith((".py", ".pyi")):
        return None
    with open(real, encoding="utf-8", errors="replace") as f:
        return f.read(MAX_TEXT)


def op_definition(rq):
    line, column = position(rq)
    root = ws_root(rq["ws"]) + "/"
    out = []
    for d in script(rq).goto(line, column, follow_imports=True)[:16]:
        mp = str(d.module_path) if d.module_path else None
        if d.line is None:
            continue
        if mp and mp.startswith(root):
            out.append({"path": mp[len(root):], "line": d.line, "column": d.column})
        elif mp:
            text = library_text(mp)
            if text is not None:
                out.append({"path": None, "module": d.module_name or "", "line": d.line,
                            "column": d.column, "text": text})
    return {"items": out}


ERRORS = (pyflakes.messages.UndefinedName, pyflakes.messages.UndefinedLocal,
          pyflakes.messages.UndefinedExport, pyflakes.messages.ReturnOutsideFunction,
          pyflakes.messages.YieldOutsideFunction, pyflakes.messages.ContinueOutsideLoop,
          pyflakes.messages.BreakOutsideLoop, pyflakes.messages.DuplicateArgument,
          pyflakes.messages.TooManyExpressionsInStarredAssignment)


def char_col(lines, line, byte_col):
    # ast counts columns in UTF-8 bytes, the API in code points.
    if not 1 <= line <= len(lines) or byte_col is None:
        return 0
    return len(lines[line - 1].encode("utf-8")[:max(byte_col, 0)].decode("utf-8", "ignore"))


class Trees:
    """Parses a document again only where it changed since the last parse of the same
    (workspace, path): typing changes a line or two of a file, and parsing all of it was a
    third of a diagnostics request. The module's top-level statements before and after the
    changed lines are the last parse's (those after it moved by the lines added or removed);
    the changed part is parsed from the start of the statement before it to the end of the
    statement after it. Whatever fails that way (a change that opens a bracket or a string
    reaching past the slice, an indentation error) is parsed whole, so errors are the full
    parse's. Sources with a carriage return are always parsed whole (line counting)."""

    MAX_DOCS = 16

    def __init__(self):
        self.docs = collections.OrderedDict()  # (ws, path) -> (lines, Module)

    def parse(self, key, src, filename):
        lines = src.split("\n")
        old = self.docs.pop(key, None)
        tree = None
        if old is not None and "\r" not in src:
            try:
                tree = self._splice(old[0], old[1], lines, filename)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                tree = None
        if tree is None:
            try:
                tree = ast.parse(src, filename=filename)
            except BaseException:
                if old is not None:  # the last good parse stays the base of the next
                    self.docs[key] = old
                raise
        self.docs[key] = (lines, tree)
        while len(self.docs) > self.MAX_DOCS:
            self.docs.popitem(last=False)
        return tree, lines

    @staticmethod
    def _first(st):
        return min([st.lineno] + [d.lineno for d in getattr(st, "decorator_list", ())])

    def _splice(self, old_lines, old_tree, lines, filename):
        n_old, n_new = len(old_lines), len(lines)
        p = 0
        while p < n_old and p < n_new and old_lines[p] == lines[p]:
            p += 1
        if p == n_old == n_new:
            return old_tree
        s = 0
        while s < n_old - p and s < n_new - p and old_lines[-1 - s] == lines[-1 - s]:
            s += 1
        # Changed: old lines p+1 .. n_old-s (1-based; empty when lines were only added).
        first_changed, last_changed = p + 1, n_old - s
        body = old_tree.body
        before = [st for st in body if st.end_lineno < first_changed]
        after = [st for st in body if self._first(st) > last_changed]
        # The statement on each side of the change is parsed again with it, and so is any
        # statement sharing a line with it (`a = 1; b = 2`).
        if before:
            gone = before.pop()
            while before and before[-1].end_lineno >= self._first(gone):
                before.pop()
        if after:
            gone = after.pop(0)
            while after and self._first(after[0]) <= gone.end_lineno:
                after.pop(0)
        start = before[-1].end_lineno + 1 if before else 1  # 1-based, before the change
        delta = n_new - n_old
        end = (self._first(after[0]) - 1 if after else n_old) + delta  # new numbering
        mid = ast.parse("\n".join(lines[start - 1:end]), filename=filename)
        if start > 1:
            ast.increment_lineno(mid, start - 1)
        if delta:
            for st in after:
                ast.increment_lineno(st, delta)
        return ast.Module(body=before + mid.body + after, type_ignores=[])


_trees = Trees()


def op_diagnostics(rq):
    src = rq["source"]
    try:
        tree, lines = _trees.parse((rq["ws"], rq["path"]), src, rq["path"])
    except SyntaxError as e:
        ln = e.lineno or 1
        col = max((e.offset or 1) - 1, 0)
        end_ln = getattr(e, "end_lineno", None) or ln
        end_col = max((getattr(e, "end_offset", None) or (col + 2)) - 1, col + 1)
        if end_ln < ln or (end_ln == ln and end_col <= col):
            end_ln, end_col = ln, col + 1
        return {"items": [{"line": ln, "column": col, "end_line": end_ln, "end_column": end_col,
                           "severity": "error", "message": cut(e.msg, 500),
                           "code": "SyntaxError"}]}
    except (ValueError, RecursionError, MemoryError) as e:
        return {"items": [{"line": 1, "column": 0, "end_line": 1, "end_column": 1,
                           "severity": "error", "message": cut(str(e), 500),
                           "code": "SyntaxError"}]}
    w = pyflakes.checker.Checker(tree, filename=rq["path"])
    out = []
    for m in sorted(w.messages, key=lambda m: (m.lineno, m.col))[:MAX_ITEMS]:
        col = char_col(lines, m.lineno, m.col)
        end = None
        if m.message_args and isinstance(m.message_args[0], str):
            name = m.message_args[0]
            text = lines[m.lineno - 1] if 1 <= m.lineno <= len(lines) else ""
            if text[col:col + len(name)] == name:
                end = col + len(name)
        if end is None:
            text = lines[m.lineno - 1] if 1 <= m.lineno <= len(lines) else ""
            end = max(len(text.rstrip()), col + 1)
        out.append({"line": m.lineno, "column": col, "end_line": m.lineno, "end_column": end,
                    "severity": "error" if isinstance(m, ERRORS) else "warning",
                    "message": cut(m.message % m.message_args, 500),
                    "code": type(m).__name__})
    return {"items": out}


_black = None


def op_format(rq):
    global _black
    if _black is None:
        import black
        _black = black
    try:
        out = _black.format_str(rq["source"], mode=_black.Mode())
    except _black.InvalidInput as e:
        raise Failure("syntax_error", cut("cannot format: " + str(e), 500))
    return {"source": out}


OPS = {"complete": op_complete, "signature": op_signature, "hover": op_hover,
       "definition": op_definition, "diagnostics": op_diagnostics, "format": op_format,
       "ping": lambda rq: {}}


def answer(rq):
    if not isinstance(rq, dict):
        raise Failure("bad_request", "not an object")
    op = OPS.get(rq.get("op"))
    if op is None:
        raise Failure("bad_request", "unknown op")
    ws = rq.get("ws", 0)
    if not isinstance(ws, int) or ws <= 0:
        raise Failure("bad_request", "invalid workspace")
    if rq.get("op") != "ping":
        sync(ws, rq.get("files"), rq.get("drop"))
        if not isinstance(rq.get("source"), str):
            raise Failure("bad_request", "source must be a string")
        safe_rel(rq.get("path"))
    global _deadline
    deadline = rq.get("deadline_ms")
    if isinstance(deadline, int) and deadline > 0:
        _deadline = time.monotonic() + deadline / 1000.0
    signal.setitimer(signal.ITIMER_REAL, TICK, TICK)
    try:
        return op(rq)
    except BaseException as e:
        _states.drop()  # an analysis stopped half-way may have left it inconsistent
        if isinstance(e, (Timeout, Cancelled)):
            forget_tree(rq)
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _deadline = None


def forget_tree(rq):
    """parso's diff parser changes the cached tree of the edited file in place: one stopped
    half-way is forgotten (the next request parses the file whole)."""
    cache = sys.modules.get("parso.cache")
    if cache is None:
        return
    from pathlib import Path

    path = Path(os.path.join(ws_root(rq["ws"]), rq["path"]))
    for trees in cache.parser_cache.values():
        trees.pop(path, None)


def warm_one(name):
    """One step of warming up, done while no request waits: import jedi, index one module
    (so that its first completion is as fast as the rest), import black."""
    global _black
    try:
        if name == "jedi":
            need_jedi()
        elif name == "black":
            import black

            _black = black
        else:
            alias = name.replace(".", "_")
            src = "import %s as %s\n%s." % (name, alias, alias)
            need_jedi().Script(src, environment=ENV).complete(2, len(alias) + 1)
    except Exception:
        pass


class Lines:
    """Request lines from fd 0, with a look that does not block (select)."""

    def __init__(self):
        self.parts = []

    def ready(self):
        return bool(self.parts and b"\n" in self.parts[-1]) or bool(select.select([0], [], [], 0)[0])

    def next(self):
        while True:
            if self.parts and b"\n" in self.parts[-1]:
                data = b"".join(self.parts)
                line, _, rest = data.partition(b"\n")
                self.parts = [rest] if rest else []
                return line
            chunk = os.read(0, 1 << 16)
            if not chunk:
                return None
            self.parts.append(chunk)


def settle():
    """Once warm: jedi's indexes of the preloaded libraries (a quarter of a million objects)
    live as long as the worker, yet every full collection of Python's cyclic GC walked
    them: measured on the bench/intel file, GC took about half of a completion plus a
    diagnostics. Collect once, then freeze what is left (never walked again; only what
    later requests make is collected), and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50000, 20, 20)


def main():
    warm = ["jedi"] + [m for m in (sys.argv[1] if len(sys.argv) > 1 else "").split(",") if m]
    warm.append("black")
    if len(sys.argv) > 2 and sys.argv[2] == "light":
        warm = []  # diagnostics only (pyflakes): nothing to warm up
    global _lines
    lines = _lines = Lines()
    out = sys.stdout
    settled = False
    while True:
        while warm and not lines.ready():
            warm_one(warm.pop(0))
        if not warm and not settled and not lines.ready():
            settle()
            settled = True
        line = lines.next()
        if line is None:
            return
        rid = None
        try:
            rq = json.loads(line)
            if isinstance(rq, dict) and "cancel" in rq and "op" not in rq:
                continue  # of a request answered already
            rid = rq.get("id") if isinstance(rq, dict) else None
            reply = {"id": rid, "ok": answer(rq)}
        except Failure as f:
            reply = {"id": rid, "error": {"code": f.code, "message": f.message}}
        except Timeout:
            reply = {"id": rid, "error": {"code": "timeout", "message": "analysis took too long"}}
        except Cancelled:
            reply = {"id": rid, "error": {"code": "cancelled", "message": "the client left"}}
        except ValueError as e:
            # jedi's complaint about a line or column out of range
            code = "bad_position" if "line" in str(e) or "column" in str(e) else "failed"
            reply = {"id": rid, "error": {"code": code, "message": cut(str(e), 300)}}
        except RecursionError:
            reply = {"id": rid, "error": {"code": "failed", "message": "the source nests too deeply"}}
        except Exception as e:
            reply = {"id": rid, "error": {"code": "failed",
                                          "message": cut(type(e).__name__ + ": " + str(e), 300)}}
        # Still warming up: the server gives the next request the start-up time too.
        reply["warming"] = bool(warm)
        out.write(json.dumps(reply, ensure_ascii=True) + "\n")
        out.flush()


main()
