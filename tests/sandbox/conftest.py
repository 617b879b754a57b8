"""Drives `pyroom sandbox run` (env PYROOM_BIN, default build/pyroom) for the sandbox suite.

Every test gets an `sb` fixture parametrised over the modes the issue asks for:
  cgroup  root, cgroup v1/v2 limits (this machine: v1)
  rlimit  root with --no-cgroups: the rlimit fallback
  unpriv  an unprivileged user (nobody) with user namespaces: rlimit fallback, one host uid
A test marked @pytest.mark.modes("cgroup") runs only in the modes it names.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.abspath(os.environ.get("PYROOM_BIN", os.path.join(ROOT, "build", "pyroom")))
NOBODY = 65534
MODES = ["cgroup", "rlimit", "unpriv"]


def pytest_configure(config):
    config.addinivalue_line("markers", "modes(*names): run only in these sandbox modes")


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        # the result is the last line of stderr; what precedes it is the program's stderr
        body = proc.stderr[:-1] if proc.stderr.endswith(b"\n") else proc.stderr
        cut = body.rfind(b"\n") + 1
        self.result = json.loads(body[cut:])
        self.stderr = body[:cut]
        self.out = self.stdout.decode("utf-8", "replace")

    def __getitem__(self, key):
        return self.result[key]

    def __repr__(self):
        return "Result(%r, stdout=%r, stderr=%r)" % (self.result, self.stdout[:300], self.stderr[:600])


class Sandbox:
    def __init__(self, mode, tmp):
        self.mode = mode
        self.tmp = tmp

    @property
    def cgroups(self):
        return self.mode == "cgroup"

    def prefix(self):
        if self.mode == "unpriv":
            return ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                    "--reset-env", BIN]
        return [BIN]

    def workspace(self, files=None):
        """A fresh host directory for /home/user, owned as the server would own it."""
        d = tempfile.mkdtemp(prefix="ws-", dir=self.tmp)
        for name, data in (files or {}).items():
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
        if self.mode == "unpriv":
            for dirpath, dirnames, filenames in os.walk(d):
                for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
                    os.lchown(n, NOBODY, NOBODY)
        return d

    def popen(self, cmd, *opts, **kw):
        args = self.prefix() + ["sandbox", "run"]
        if self.mode == "rlimit":
            args.append("--no-cgroups")
        args += list(opts) + ["--"] + list(cmd)
        return subprocess.Popen(args, stdin=kw.get("stdin", subprocess.PIPE),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, cmd, *opts, input=b"", timeout=60):
        args = self.prefix() + ["sandbox", "run"]
        if self.mode == "rlimit":
            args.append("--no-cgroups")
        args += list(opts) + ["--"] + list(cmd)
        proc = subprocess.run(args, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)
        return Result(proc)

    def py(self, code, *opts, **kw):
        return self.run(["python3", "-c", code], *opts, **kw)


@pytest.fixture(scope="session")
def tmp_root():
    d = tempfile.mkdtemp(prefix="pyroom-sbtest-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pytest_generate_tests(metafunc):
    if "sb" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("modes")
        modes = list(marker.args) if marker else MODES
        metafunc.parametrize("sb", modes, indirect=True)


@pytest.fixture
def sb(request, tmp_root):
    if os.geteuid() != 0:
        pytest.skip("the sandbox suite runs as root (it also drops to nobody itself)")
    if not os.access(BIN, os.X_OK):
        pytest.fail("no pyroom binary at %s (make first)" % BIN)
    return Sandbox(request.param, tmp_root)


def host_pids_with(marker, program=None):
    """Host pids whose command line contains marker (and starts with program)."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read()
                if marker.encode() in cmd and (program is None or cmd.startswith(program)):
                    found.append(int(p))
        except OSError:
            pass
    return found


def host_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None
