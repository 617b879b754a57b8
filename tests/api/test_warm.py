"""The warm Python pool (src/exec/warm.h): warm runs give exactly what cold runs give, and
nothing of one warm run reaches the next.

Two servers: one with the pool (the default), one with --warm-pool false. Each program runs
on both; the results (status, exit code, signal, limit, stdout, stderr, artifacts, files
written back) must be identical, and the warm one must really have been warm.
"""
import base64
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import Client, Server, sanitized

WARM_WAIT_S = 120  # a template imports numpy, pandas, scipy and matplotlib first
FLAGS = ["--runs-per-minute", "100000", "--max-runs-per-user", "4"]


@pytest.fixture(scope="module")
def warm_server():
    srv = Server(extra=FLAGS + ["--warm-children", "2"]).start()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def cold_server():
    srv = Server(extra=FLAGS + ["--warm-pool", "false"]).start()
    yield srv
    assert srv.stop() == 0


@pytest.fixture(scope="module")
def warm_admin(warm_server):
    return Client(warm_server, username="admin")


@pytest.fixture(scope="module")
def cold_admin(cold_server):
    return Client(cold_server, username="admin")


def stats(admin):
    r = admin.get("/api/admin/stats")
    assert r.status_code == 200, r.text
    return r.json()["warm"]


def wait_ready(admin, n=1):
    deadline = time.monotonic() + WARM_WAIT_S
    while time.monotonic() < deadline:
        w = stats(admin)
        if w.get("ready", 0) >= n:
            return w
        time.sleep(0.05)
    raise AssertionError("no warm interpreter became ready: %r" % stats(admin))


def put(c, w, path, text):
    data = text if isinstance(text, bytes) else text.encode()
    r = c.put(f"/api/workspaces/{w['id']}/files/{path}", data=data)
    assert r.status_code in (200, 201), r.text


def run(c, w, code=None, files=None, **body):
    if code is not None:
        put(c, w, body.get("entry", "main.py"), code)
    for path, text in (files or {}).items():
        put(c, w, path, text)
    r = c.post(f"/api/workspaces/{w['id']}/runs?wait=1", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def workspace_files(c, w):
    out = {}
    for f in c.get(f"/api/workspaces/{w['id']}/files").json()["items"]:
        if f.get("kind", "file") == "file":
            r = c.get(f"/api/workspaces/{w['id']}/files/{f['path']}")
            out[f["path"]] = r.content
    return out


def comparable(c, r):
    arts = []
    for a in r["artifacts"]:
        body = c.get(f"/api/runs/{r['id']}/artifacts/{a['name']}").content
        arts.append((a["name"], a["content_type"], len(body), body[:8]))
    keys = ("status", "exit_code", "signal", "limit_hit", "stdout", "stderr",
            "stdout_truncated", "stderr_truncated")
    return {k: r.get(k) for k in keys} | {"artifacts": arts}


def both(warm_admin, cold_admin, code, files=None, loose=False, **body):
    """Runs code cold and warm in fresh workspaces; returns both results after checking
    that they are identical (and that the warm one was warm)."""
    out = []
    for admin, warm in ((cold_admin, False), (warm_admin, True)):
        if warm:
            wait_ready(admin)
        w = admin.workspace("cmp")
        r = run(admin, w, code, files=files, **body)
        assert r["warm"] is warm, r
        out.append((admin, w, r))
    (cc, cw, cr), (wc, ww, wr) = out
    a, b = comparable(wc, wr), comparable(cc, cr)
    if loose:
        a, b = ({k: x[k] for k in ("status", "limit_hit")} for x in (a, b))
    assert a == b, (cr, wr)
    assert workspace_files(wc, ww) == workspace_files(cc, cw)
    return cr, wr


# ---- identical results -----------------------------------------------------------------

PROGRAMS = {
    "print": "print('hello')\nprint(__name__)\nprint('héllo ✓ 日本')\n",
    "no_output": "x = 1\n",
    "interpreter_view": (
        "import sys, os, json\n"
        "print(json.dumps({\n"
        "  'argv': sys.argv, 'orig_argv': sys.orig_argv, 'path': sys.path,\n"
        "  'executable': sys.executable, 'prefix': sys.prefix, 'cwd': os.getcwd(),\n"
        "  'file': __file__, 'globals': sorted(globals()), 'name': __name__,\n"
        "  'spec': repr(__spec__), 'loader': type(__loader__).__name__,\n"
        "  'flags': repr(sys.flags), 'env': dict(os.environ),\n"
        "  'stdio': [(f.encoding, f.errors, f.line_buffering, f.write_through, f.isatty(),\n"
        "             f.seekable()) for f in (sys.stdin, sys.stdout, sys.stderr)],\n"
        "  'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getpid(), os.getppid()],\n"
        "  'groups': os.getgroups(), 'umask': os.umask(0o22),\n"
        "  'fds': sorted(os.listdir('/proc/self/fd')),\n"
        "  'hostname': os.uname().nodename, 'home': os.path.expanduser('~'),\n"
        "  'tmp': sorted(os.listdir('/tmp')), 'root': sorted(os.listdir('/')),\n"
        "  'frame_back': sys._getframe().f_back is None,\n"
        "  'excepthook': sys.excepthook.__module__,\n"
        "  'sigs': [str(__import__('signal').getsignal(s)) for s in (2, 13, 25)],\n"
        "}, sort_keys=True, indent=1))\n"),
    "isolation_view": (
        "import os\n"
        "st = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp',\n"
        "          'Uid', 'Gid', 'NSpid'):\n"
        "    print(k, st[k].split())\n"
        "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
        # the host uid is the slot's, which depends on what else runs on the machine (any
        # pyroom's sandboxes): compared as "not root", the mapping's shape exactly
        "m = open('/proc/self/uid_map').read().split()\n"
        "print(m[0], m[2], len(m), int(m[1]) > 0)\n"
        "print(open('/proc/self/cgroup').read())\n"
        "print(sorted(open('/proc/self/mountinfo').read().split('\\n')[i].split(' - ')[0]"
        ".split()[4] for i in range(len(open('/proc/self/mountinfo').read().split('\\n')) - 1)))\n"
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=1)\n"
        "except OSError as e:\n"
        "    print('net', type(e).__name__)\n"
        "print(sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') "
        "else 'no /sys')\n"
        "import resource\n"
        "print([resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_FSIZE,"
        " resource.RLIMIT_CPU, resource.RLIMIT_CORE, resource.RLIMIT_NPROC, "
        "resource.RLIMIT_DATA, resource.RLIMIT_NICE)])\n"
        # the pool waits at a lower CPU priority; a claimed run is back to the normal one
        "print('nice', os.getpriority(os.PRIO_PROCESS, 0))\n"),
    "exception": "import sys\nsys.path.insert(0, 'lib')\nimport helper\nhelper.boom()\n",
    "chained": ("def f():\n    try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
                "        raise KeyError('k') from e\nf()\n"),
    "syntax_error": "x = (\nprint('never')\n",
    "exit_3": "import sys\nprint('bye')\nsys.exit(3)\n",
    "exit_message": "import sys\nsys.exit('fatal: no')\n",
    "exit_none": "raise SystemExit\n",
    "exit_big": "import sys\nsys.exit(256 + 7)\n",
    "os_exit": "import os\nprint('x', end='', flush=True)\nos._exit(5)\n",
    "sigkill": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
    "keyboard_interrupt": "raise KeyboardInterrupt\n",
    "atexit_and_threads": (
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "def late():\n    time.sleep(0.2)\n    print('thread done')\n"
        "threading.Thread(target=late).start()\n"
        "print('main done')\n"),
    "unflushed_file": "f = open('out.txt', 'w')\nf.write('written but never closed\\n')\n",
    "file_writes": (
        "import os, json\nos.makedirs('data/sub', exist_ok=True)\n"
        "with open('data/sub/r.json', 'w') as f:\n    json.dump({'a': 1}, f)\n"
        "os.remove('old.txt')\nprint(sorted(os.listdir('.')))\n"),
    "del_output": "class D:\n    def __del__(self):\n        print('finalised')\nd = D()\n",
    "stderr_and_stdout": "import sys\nprint('out')\nprint('err', file=sys.stderr)\n",
    "warnings": "import warnings\nwarnings.warn('careful')\nprint('after')\n",
    "numpy_pandas": (
        "import numpy as np, pandas as pd\n"
        "df = pd.DataFrame({'k': np.arange(1000) % 7, 'v': np.arange(1000) * 0.5})\n"
        "print(df.groupby('k').v.agg(['sum', 'mean', 'count']))\n"
        "print(np.linalg.inv(np.array([[2.0, 1.0], [1.0, 3.0]])))\n"),
    "scipy": "from scipy import stats\nprint(round(stats.norm.cdf(1.96), 6))\n",
    # the template draws a DataFrame, a groupby and a plot at boot (warm_python.py's boot):
    # none of it may show, neither an option nor a warning already given (a warning's
    # registry would keep a run's own from being shown) nor a figure or its number
    "pandas_state": (
        "import hashlib, pandas as pd\n"
        "from pandas._config import config\n"
        "opts = sorted((k, repr(pd.get_option(k))) for k in config._registered_options)\n"
        "print(len(opts), hashlib.sha256(repr(opts).encode()).hexdigest())\n"
        "df = pd.DataFrame({'k': [1, 2, 1], 'v': [1.0, 2.0, 3.0], 's': list('abc')})\n"
        "for _ in range(2):\n"
        "    print(df.groupby('k').agg(['sum', 'mean']))\n"
        "print(df.describe())\n"),
    "matplotlib_state": (
        "import hashlib, matplotlib, matplotlib.pyplot as plt\n"
        "rc = sorted((k, repr(v)) for k, v in matplotlib.rcParams.items())\n"
        "print(len(rc), hashlib.sha256(repr(rc).encode()).hexdigest())\n"
        "print(plt.get_fignums())\n"
        "f = plt.figure()\nprint(f.number, plt.get_fignums())\n"
        "plt.close('all')\n"),
    "plots": (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [3, 1, 2])\nplt.title('one')\nplt.show()\n"
        "fig = plt.figure()\nplt.bar(['a', 'b'], [1, 2])\n"),
    "plot_backend": ("import matplotlib\nprint(matplotlib.get_backend())\n"
                     "print(matplotlib.get_configdir(), matplotlib.get_cachedir())\n"),
    "recursion": "def f(n):\n    return f(n + 1)\nf(0)\n",
    # past the C stack (a warm program runs on a stack of its own: 8 MiB, as a process's)
    "c_stack_overflow": ("import sys\nsys.setrecursionlimit(10 ** 7)\nl = []\n"
                         "for _ in range(10 ** 6):\n    l = [l]\nprint('deep')\nrepr(l)\n"),
    "import_missing": "import not_a_module_anywhere\n",
    "local_module": "import mymod\nprint(mymod.VALUE, mymod.__file__)\n",
    # python3 imports the sitecustomize of PYTHONPATH (ours) before the script's directory
    # is on sys.path: a workspace's own sitecustomize.py is not run at start-up
    "own_sitecustomize": ("import sys\nm = sys.modules['sitecustomize']\n"
                          "print(m.__name__, m.__file__, m.__cached__, m.__package__)\n"
                          "print(m.__spec__.name, m.__spec__.origin, m.__spec__.cached,"
                          " m.__spec__.has_location, type(m.__loader__).__name__,"
                          " m.__loader__.path, m.__loader__ is m.__spec__.loader)\n"
                          "print(sorted(k for k in vars(m) if not k.startswith('__')))\n"
                          "print(sys.excepthook.__module__)\n"),
    "subprocess": ("import subprocess, sys\n"
                   "print(subprocess.run([sys.executable, '-c', 'print(42)'],"
                   " capture_output=True, text=True).stdout, end='')\n"
                   "print(subprocess.run(['sh', '-c', 'echo $PYTHONPATH $HOME'],"
                   " capture_output=True, text=True).stdout, end='')\n"),
}

FILES = {
    "exception": {"lib/helper.py": "def boom():\n    raise ValueError('boom')\n"},
    "file_writes": {"old.txt": "to delete\n"},
    "local_module": {"mymod.py": "VALUE = 'mine'\n"},
    "own_sitecustomize": {"sitecustomize.py": "print('the workspace sitecustomize ran')\n"},
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_result_cold_and_warm(warm_admin, cold_admin, name):
    cr, wr = both(warm_admin, cold_admin, PROGRAMS[name], files=FILES.get(name))
    if name == "interpreter_view":
        view = json.loads(wr["stdout"])
        assert view["frame_back"] and view["ids"][3:] == [2, 1]
    if name == "isolation_view":
        assert "CapEff ['0000000000000000']" in wr["stdout"]
        assert "Seccomp ['2']" in wr["stdout"] and "NoNewPrivs ['1']" in wr["stdout"]
        # a claimed interpreter gets the server's priority back, not the pool's nice 10
        # (the server inherits ours: make asan may run under nice)
        assert "\nnice %d\n" % os.getpriority(os.PRIO_PROCESS, 0) in wr["stdout"]
    if name == "exception":
        assert 'File "lib/helper.py", line 2' in wr["stderr"]
        assert "pyroom" not in wr["stderr"] and "<string>" not in wr["stderr"]
    if name == "plots":
        assert [a[0] for a in comparable(warm_admin, wr)["artifacts"]] == \
            ["figure-1.png", "figure-2.png"]
    if name == "keyboard_interrupt":
        assert wr["exit_code"] == 1 and "KeyboardInterrupt" in wr["stderr"]
    if name == "unflushed_file":
        assert wr["status"] == "ok"


def test_stdin_and_argv(warm_admin, cold_admin):
    code = ("import sys\nname = input()\nrest = sys.stdin.read()\n"
            "print('hi', name, sys.argv, len(rest))\n")
    cr, wr = both(warm_admin, cold_admin, code, stdin="bob\n" + "x" * 100000,
                  args=["a b", "--x=1", "é"])
    assert (wr["status"], wr["exit_code"], wr["stderr"]) == ("ok", 0, ""), wr
    assert wr["stdout"] == "hi bob ['main.py', 'a b', '--x=1', 'é'] 100000\n"
    cr, wr = both(warm_admin, cold_admin, "input()\n")  # no stdin: EOF at once
    assert (wr["status"], wr["exit_code"], wr["stdout"]) == ("error", 1, ""), wr
    assert wr["stderr"].endswith("\nEOFError: EOF when reading a line\n"), wr


# Each program, its limits, and the outcome both kinds of run must give.
LIMIT_CASES = {
    "wall_time": ("import time\ntime.sleep(60)\n", {"wall_ms": 1000}, ("limit", "wall_time")),
    "cpu_time": ("while True:\n    pass\n", {"cpu_ms": 500, "wall_ms": 8000},
                 ("limit", "cpu_time")),
    "memory": ("x = bytearray(512 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\n",
               {"memory_bytes": 64 * 1024 * 1024}, ("limit", "memory")),
    "output": ("while True:\n    print('x' * 1000)\n", {"output_bytes": 10000},
               ("limit", "output")),
    "pids": ("import os, time\nfor i in range(200):\n    if os.fork() == 0:\n"
             "        time.sleep(30)\n        os._exit(0)\n", {"pids": 16, "wall_ms": 8000},
             ("limit", "pids")),
    "disk": ("with open('big', 'wb') as f:\n    f.write(b'x' * (4 << 20))\n",
             {"files_bytes": 1 << 20}, ("limit", "disk")),
    # /tmp is a 64 MiB tmpfs: the program sees ENOSPC, and a full /tmp at exit is reported
    # as "disk" (docs/security.md). Files of 16 MiB each stay under the 50 MiB file size
    # limit, so the tmpfs is what stops them.
    "tmp": ("for n in range(5):\n    with open('/tmp/big%d' % n, 'wb') as f:\n"
            "        f.write(b'x' * (16 << 20))\n", {}, ("limit", "disk")),
}


@pytest.mark.parametrize("case", list(LIMIT_CASES))
def test_each_limit_same_cold_and_warm(warm_admin, cold_admin, case):
    code, limits, want = LIMIT_CASES[case]
    # pids, disk: whether the program exits by itself (its fork refused, its write done)
    # before the supervisor's next check (every 100 ms) kills the tree is a race in cold
    # runs too; the limit itself must agree
    cr, wr = both(warm_admin, cold_admin, code, loose=case in ("pids", "disk"), limits=limits)
    assert (cr["status"], cr["limit_hit"]) == want, cr
    assert (wr["status"], wr["limit_hit"]) == want, wr
    if case == "tmp":
        assert wr["stderr"].endswith("\nOSError: [Errno 28] No space left on device\n"), wr


# A warm program's end is told to its pid 1 (SIGRTMIN + 1 queued with the exit status, by
# sb_program_end) so that the answer need not wait for the kernel to free the program's
# memory (src/sandbox/init.c). Sent by the program's own code, it ends the run there: pid 1
# kills what is left and reports that status; one that does not claim the program's pid
# (here a child's) does nothing.
TOLD = """
import ctypes, os, signal, subprocess, time
class sigval(ctypes.Union):
    _fields_ = [('i', ctypes.c_int), ('p', ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
left = subprocess.Popen(['sleep', '600'])
child = os.fork()
if child == 0:
    libc.sigqueue(1, signal.SIGRTMIN + 1, sigval(5))
    os._exit(0)
os.waitpid(child, 0)  # (its signal is queued before ours: pid 1 reads them in order)
print('told', flush=True)
if libc.sigqueue(1, signal.SIGRTMIN + 1, sigval(7)) != 0:
    print('sigqueue', ctypes.get_errno(), flush=True)
time.sleep(600)
"""


def test_a_told_end_ends_the_tree_with_the_told_status(warm_admin):
    w = warm_admin.workspace("told")
    wait_ready(warm_admin)
    r = run(warm_admin, w, TOLD, limits={"wall_ms": 30000})
    assert r["warm"], r
    assert (r["status"], r["exit_code"], r["limit_hit"], r["stdout"]) == \
        ("error", 7, "none", "told\n"), r
    # the process it left was killed before the report: gone, or at least exiting
    # (PF_EXITING, 0x4 in the flags of /proc/PID/stat) or a zombie
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if open(f"/proc/{pid}/cmdline", "rb").read() != b"sleep\x00600\x00":
                continue
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        assert fields[0] in "ZX" or int(fields[6]) & 4, (pid, fields[:7])


# ---- nothing of one warm run reaches the next -------------------------------------------

FIRST = """
import os, sys, random, subprocess, numpy, pandas
numpy.pyroom_mark = 'from the first run'
pandas.DataFrame.sum = lambda self, *a, **k: 'patched'
sys.modules['json'].dumps = lambda *a, **k: 'patched'
os.environ['FIRST_SECRET'] = 'x'
open('/tmp/first.txt', 'w').write('secret')
subprocess.Popen(['sleep', 'SLEEP_MARK'], start_new_session=True)
import threading, time
threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
print(random.random(), numpy.random.rand(), os.getpid())
"""

SECOND = """
import os, sys, random, json, numpy, pandas
print('mark', hasattr(numpy, 'pyroom_mark'))
print('sum', pandas.DataFrame({'a': [1, 2]}).sum().tolist())
print('json', json.dumps([1]))
print('env', 'FIRST_SECRET' in os.environ)
print('tmp', sorted(os.listdir('/tmp')))
print('procs', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
print(random.random(), numpy.random.rand(), os.getpid())
"""


def test_consecutive_warm_runs_of_different_users_share_nothing(warm_server, warm_admin):
    a, b = Client(warm_server), Client(warm_server)
    wa, wb = a.workspace("a"), b.workspace("b")
    wait_ready(warm_admin, 2)
    # A duration no other test on this machine uses, so that the host-wide search below
    # finds this run's daemon only.
    mark = "987.%06d" % (os.getpid() % 1000000)
    first = run(a, wa, FIRST.replace("SLEEP_MARK", mark))
    assert first["warm"] and first["status"] == "ok", first
    second = run(b, wb, SECOND)
    assert second["warm"] and second["status"] == "ok", second
    out = second["stdout"].splitlines()
    assert out[0] == "mark False"
    assert out[1] == "sum [3]"
    assert out[2] == "json [1]"
    assert out[3] == "env False"
    assert out[4] == "tmp ['.mpl']"
    assert out[5] == "procs [1, 2]"
    r1, n1, _ = first["stdout"].split()
    r2, n2, _ = out[6].split()
    assert r1 != r2 and n1 != n2
    # the first run's daemon died with its sandbox (the tree is killed as the run ends)
    deadline = time.monotonic() + 10
    while True:
        ps = subprocess.run(["pgrep", "-f", "^sleep %s$" % mark], capture_output=True, text=True)
        if ps.stdout.strip() == "" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ps.stdout.strip() == "", "the first run's daemon outlived its sandbox: " + ps.stdout


def test_random_generators_differ_between_warm_runs(warm_admin):
    code = ("import random, numpy, secrets, os\n"
            "print(random.random(), random.getrandbits(64), numpy.random.rand(),"
            " numpy.random.default_rng().random(), secrets.token_hex(8))\n")
    w = warm_admin.workspace("rng")
    seen = []
    for _ in range(3):
        wait_ready(warm_admin)
        r = run(warm_admin, w, code)
        assert r["warm"], r
        seen.append(r["stdout"].split())
    for i in range(5):
        assert len({s[i] for s in seen}) == 3, seen


# ---- the pool's health --------------------------------------------------------------------

def pool_pids(server, name):
    sup = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                         text=True).stdout.split()
    out = []
    for s in sup:
        kids = subprocess.run(["pgrep", "-P", s], capture_output=True, text=True).stdout.split()
        for k in kids:
            try:
                comm = open(f"/proc/{k}/comm").read().strip()
            except OSError:
                continue
            if comm == name:
                out.append(int(k))
    return out


def test_stats_report_the_pool(warm_admin):
    w = wait_ready(warm_admin)
    assert w["enabled"] and w["templates"] == 1
    assert w["pss_bytes"] > 10 << 20 and w["template_pss_bytes"] > 10 << 20
    assert w["memory_limit_bytes"] == 1 << 30
    # zygotes share the template's pages: each adds far less than a template (not so under
    # AddressSanitizer, whose shadow memory a zygote writes as it runs: 384.6 MB for a
    # template of 192.0 and one zygote, late in a make asan run)
    if not sanitized():
        assert w["pss_bytes"] < w["template_pss_bytes"] * (1 + w["ready"]), w
    assert w["claims"] >= 0 and w["boot_ms"] > 0


def test_the_rehearsal_leaves_nothing_behind(warm_server, warm_admin):
    # each template rehearses a run at boot (warm_template.c, section 5) in a directory of
    # its own under the pool's; the pool removes its directory when it ends, which fails
    # if anything is left in it
    wait_ready(warm_admin)
    sups = subprocess.run(["pgrep", "-P", str(warm_server.proc.pid)], capture_output=True,
                          text=True).stdout.split()
    dirs = [d for d in (f"/run/pyroom-pool-{s}" for s in sups) if os.path.isdir(d)]
    assert len(dirs) == 1, (sups, dirs)
    assert [n for n in os.listdir(dirs[0]) if n.startswith("rehearsal")] == []
    w = stats(warm_admin)
    # it learnt the pages a claimed program writes (a few thousand at most: HOT_MAX_PAGES)
    assert 100 < w["prefault_pages"] <= 4096 and w["last_error"] == "", w


def test_the_modules_rehearsals_learn_their_own_pages(warm_admin):
    # a pandas and a matplotlib rehearsal at boot (warm_template.c, section 5) learn the
    # template pages those modules' work writes beyond print(1)'s; a claimed program whose
    # file names the module prefaults them too
    w = wait_ready(warm_admin)
    assert w["prefault_pandas_pages"] > 0, w
    assert w["prefault_matplotlib_pages"] > 0, w
    assert w["prefault_pandas_pages"] <= 8192 and w["prefault_matplotlib_pages"] <= 8192, w


def test_a_dead_template_is_replaced_and_runs_go_cold_meanwhile(warm_server, warm_admin):
    wait_ready(warm_admin)
    before = stats(warm_admin)
    templates = pool_pids(warm_server, "pyroom-warm")
    zygotes = pool_pids(warm_server, "pyroom-zygote")
    assert len(templates) == 1 and zygotes, (templates, zygotes)
    os.kill(templates[0], signal.SIGKILL)
    w = warm_admin.workspace("dead")
    r = run(warm_admin, w, "print('still runs')\n")
    assert r["status"] == "ok" and r["stdout"] == "still runs\n"
    after = wait_ready(warm_admin)
    assert after["restarts"] == before["restarts"] + 1
    assert pool_pids(warm_server, "pyroom-warm") != templates
    r = run(warm_admin, w, "print('warm again')\n")
    assert r["warm"] and r["stdout"] == "warm again\n"


def test_a_killed_ready_child_is_replaced(warm_server, warm_admin):
    wait_ready(warm_admin, 2)
    zygotes = pool_pids(warm_server, "pyroom-zygote")
    for z in zygotes:
        os.kill(z, signal.SIGKILL)
    w = warm_admin.workspace("zyg")
    r = run(warm_admin, w, "print(1)\n")  # cold or warm, never an error
    assert r["status"] == "ok" and r["stdout"] == "1\n"
    wait_ready(warm_admin, 2)
    assert not set(pool_pids(warm_server, "pyroom-zygote")) & set(zygotes)


def test_no_ready_child_means_a_cold_run(warm_server, warm_admin):
    """More runs at once than ready interpreters: the rest start cold, none fails."""
    import concurrent.futures
    users = [Client(warm_server) for _ in range(3)]
    spaces = [u.workspace("burst") for u in users]
    for u, w in zip(users, spaces):
        put(u, w, "main.py", "import time\ntime.sleep(0.3)\nprint('ok')\n")
    wait_ready(warm_admin, 2)
    before = stats(warm_admin)

    def one(i):
        u, w = users[i % 3], spaces[i % 3]
        return u.post(f"/api/workspaces/{w['id']}/runs?wait=1", json={}).json()

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(6)))
    assert all(r["status"] == "ok" and r["stdout"] == "ok\n" for r in results), results
    warm = [r["warm"] for r in results]
    assert any(warm) and not all(warm), warm
    assert stats(warm_admin)["fallbacks"] > before["fallbacks"]


def test_pool_can_be_switched_off(cold_admin):
    w = stats(cold_admin)
    assert w["enabled"] is False
    ws = cold_admin.workspace("off")
    r = run(cold_admin, ws, "print(1)\n")
    assert r["status"] == "ok" and r["warm"] is False


def test_a_waiting_interpreters_pid1_is_the_small_binary(warm_server, warm_admin):
    """A zygote's pid 1 is pyroom-sandbox (jansson only), not the server's binary:
    exec'ing the server's ~30 libraries was a quarter of every refill's CPU. Its parent is
    the supervisor (one clone of the template, CLONE_PARENT), as before."""
    import conftest

    def comm(pid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                return f.read().strip()
        except OSError:  # (ended meanwhile)
            return None
    wait_ready(warm_admin)
    small = os.path.join(os.path.dirname(os.path.realpath(conftest.BIN)), "pyroom-sandbox")
    sup = [p for p in conftest.descendants(warm_server.proc.pid) if comm(p) == "pyroom-sup"]
    assert len(sup) == 1
    # the supervisor's children: templates and the zygotes' pid 1s (no run is in progress)
    with open(f"/proc/{sup[0]}/task/{sup[0]}/children") as f:
        zygotes = [int(p) for p in f.read().split() if comm(int(p)) not in ("pyroom-warm", None)]
    assert zygotes
    for pid in zygotes:
        assert os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(small)
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        assert "libpq" not in maps and "libmicrohttpd" not in maps
