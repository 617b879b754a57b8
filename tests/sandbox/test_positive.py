"""What must work in a sandbox: Python and its scientific stack, a PTY, stdin, unicode names."""
import os

import pytest


def test_echo_and_exit_code(sb):
    r = sb.run(["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    assert r.stdout == b"hello\n" and r.stderr == b"oops\n", r
    assert r["exit_code"] == 3 and r["signal"] == 0 and r["limit_hit"] == "none", r
    assert r.rc == 3


def test_missing_command_is_an_error(sb):
    r = sb.run(["no-such-command-xyz"])
    assert "error" in r.result and "not found" in r.result["error"], r
    assert r.rc == 125


def test_stdin_is_relayed(sb):
    r = sb.py("import sys\nname = input()\nprint('hello', name)\nprint(sys.stdin.read().upper())",
              input=b"ada\nrest of it\n")
    assert r.out == "hello ada\nREST OF IT\n\n", r


def test_identity_and_cwd(sb):
    r = sb.run(["sh", "-c", "id; pwd; echo $HOME; hostname; test -w . && echo writable"])
    assert r.out.splitlines() == ["uid=1000(user) gid=1000(user) groups=1000(user)",
                                  "/home/user", "/home/user", "sandbox", "writable"], r


def test_result_accounting(sb):
    r = sb.py("x = bytearray(40 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\n"
              "s = 0\nfor i in range(3_000_000): s += i\n")
    assert r["exit_code"] == 0, r
    assert r["peak_memory_bytes"] >= 40 << 20, r
    assert r["cpu_ms"] >= 50 and r["wall_ms"] >= r["cpu_ms"] * 0.5, r


def test_numpy(sb):
    r = sb.py("import numpy as np\na = np.arange(9.0).reshape(3, 3) + np.eye(3)\n"
              "print(round(float(np.linalg.det(a)), 3), np.linalg.inv(a).shape)")
    assert r["exit_code"] == 0 and r.out.split()[0] == "-5.0", r


def test_pandas(sb):
    r = sb.py("import pandas as pd\n"
              "df = pd.DataFrame({'k': [i % 3 for i in range(1000)], 'v': range(1000)})\n"
              "print(df.groupby('k')['v'].sum().to_dict())")
    assert r["exit_code"] == 0 and r.out.strip() == "{0: 166833, 1: 166167, 2: 166500}", r


def test_scipy(sb):
    r = sb.py("from scipy import stats, optimize\n"
              "print(round(stats.norm.cdf(0), 3), round(optimize.brentq(lambda x: x*x - 2, 0, 2), 4))")
    assert r["exit_code"] == 0 and r.out.split() == ["0.5", "1.4142"], r


def test_matplotlib_agg_png(sb):
    ws = sb.workspace()
    r = sb.py("import matplotlib, matplotlib.pyplot as plt\n"
              "print(matplotlib.get_backend())\n"
              "plt.plot([1, 3, 2]); plt.title('ünïcode'); plt.savefig('plot.png')\n",
              "--workspace", ws)
    assert r["exit_code"] == 0 and r.out.strip().lower() == "agg", r
    assert b"building the font cache" not in r.stderr, r
    with open(os.path.join(ws, "plot.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_pty(sb):
    r = sb.run(["sh", "-c", "tty; stty size; test -t 0 && test -t 1 && echo both-tty"],
               "--pty", "--rows", "33", "--cols", "101")
    lines = r.out.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/") and lines[1] == "33 101" and lines[2] == "both-tty", r


def test_pty_input(sb):
    r = sb.py("print('got', input('name? '))", "--pty", input=b"bob\n")
    assert "got bob" in r.out, r


def test_unicode_filenames(sb):
    ws = sb.workspace({"données/ünï.txt": "é"})
    r = sb.py("import os\n"
              "print(open('données/ünï.txt', encoding='utf-8').read())\n"
              "open('résumé_日本.txt', 'w', encoding='utf-8').write('ok ✓')\n"
              "print(sorted(os.listdir('.')))\n", "--workspace", ws)
    assert r["exit_code"] == 0, r
    assert r.out.splitlines()[0] == "é"
    with open(os.path.join(ws, "résumé_日本.txt"), encoding="utf-8") as f:
        assert f.read() == "ok ✓"


def test_files_come_back_owned_by_the_host(sb):
    ws = sb.workspace({"main.py": "open('out.txt', 'w').write('42')\nimport os; os.mkdir('d'); open('d/x', 'w')"})
    r = sb.run(["python3", "main.py"], "--workspace", ws)
    assert r["exit_code"] == 0, r
    owner = 65534 if sb.mode == "unpriv" else 0
    for p in ["main.py", "out.txt", "d", "d/x", "."]:
        assert os.lstat(os.path.join(ws, p)).st_uid == owner, p


@pytest.mark.modes("cgroup")
def test_many_concurrent_sandboxes(sb):
    procs = [sb.popen(["python3", "-c", "import sys; print(sys.stdin.read())"]) for _ in range(12)]
    outs = [p.communicate(b"n%d" % i, timeout=60) for i, p in enumerate(procs)]
    for i, (out, _) in enumerate(outs):
        assert out == b"n%d\n" % i


def test_doctor_and_info(sb):
    """Every line of the doctor says exactly how this host is; Python's modules import in a
    sandbox (a "missing numpy" line must fail this, though the doctor still exits 0)."""
    import re
    import subprocess
    p = subprocess.run(sb.prefix() + ["sandbox", "doctor"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd="/tmp")
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    status = {}
    for line in out.splitlines():
        m = re.match(r"^(ok|hint|degraded|missing) +(\S+(?: \S+)?) {2,}(.*)$", line)
        if m:
            status.setdefault(m.group(2), []).append((m.group(1), m.group(3)))
    for what in ("kernel", "namespaces", "seccomp", "python"):
        assert [s for s, _ in status[what]] == ["ok"], (what, out)
    for module in ("numpy", "pandas", "scipy", "matplotlib"):
        assert len(status[module]) == 1, (module, out)
        st, detail = status[module][0]
        assert st == "ok" and re.fullmatch(r"\d+\.\d+(\.\d+)?", detail), (module, out)
    cg = "degraded" if sb.mode == "unpriv" else "ok"
    assert [s for s, _ in status["cgroups"]] == [cg], out
    if sb.mode == "unpriv":
        assert "fix: run pyroom as root" in out
    p = subprocess.run(sb.prefix() + ["sandbox", "info"], stdout=subprocess.PIPE, cwd="/tmp")
    info = p.stdout.decode()
    assert p.returncode == 0
    if sb.mode == "unpriv":
        assert info.startswith("sandbox: rlimit fallback ("), info
    else:
        assert re.match(r"sandbox: cgroup v[12] under /sys/fs/cgroup/", info), info
