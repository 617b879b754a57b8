"""The one-shot command made light: `pyroom` is a small front (the sandbox commands with
jansson only) that execs `pyroom-server` beside it for every other command;
`pyroom sandbox`, `pyroom-server sandbox` and `pyroom-sandbox` give a program exactly the
same sandbox, and the host probe is remembered per boot in the run directory, trusted only
when it is ours and exactly the key."""
import os
import re
import shutil
import stat
import subprocess

import pytest

from conftest import BIN

LEAN = BIN + "-sandbox"
SERVER = BIN + "-server"
# what only the server needs: none of it may be loaded by `pyroom sandbox run`
SERVER_LIBS = ("libpq", "libmicrohttpd", "libgnutls", "libsqlite3", "libsodium", "libkrb5",
               "libssl", "libldap")
RUN_DIR = "/run/pyroom"  # the default run directory as root (slots are shared host-wide)

VIEW = r"""
import os, resource, socket
print("ids", os.getuid(), os.getgid(), os.getgroups())
with open("/proc/self/status") as f:
    for line in f:
        if line.split(":")[0] in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                  "NoNewPrivs", "Seccomp", "Seccomp_filters"):
            print(line.strip())
with open("/proc/self/uid_map") as f:
    print("uid_map inside", [l.split()[0] for l in f])
with open("/proc/self/mounts") as f:
    print("mounts", sorted((l.split()[1], l.split()[2], l.split()[3]) for l in f))
print("host", socket.gethostname())
print("env", sorted(os.environ.items()))
print("root", sorted(os.listdir("/")))
print("cwd", os.getcwd())
for r in ("RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_CORE"):
    print(r, resource.getrlimit(getattr(resource, r)))
print("pid", os.getpid(), os.getppid())
"""


def view(prefix, *opts):
    p = subprocess.run(prefix + ["run"] + list(opts) + ["--", "python3", "-c", VIEW],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, p.stderr[-800:]
    # the slot's host uid (mount options) is whichever slot was free: other sandboxes on
    # the machine take slots too
    return re.sub(r"\b([ug]id)=\d+", r"\1=SLOT", p.stdout.decode())


@pytest.mark.modes("cgroup", "rlimit")
def test_the_small_binary_gives_the_same_sandbox(sb):
    assert os.access(LEAN, os.X_OK), "make build/pyroom-sandbox"
    opts = ["--no-cgroups"] if sb.mode == "rlimit" else []
    big = view([SERVER, "sandbox"], *opts)
    small = view([LEAN], *opts)
    front = view([BIN, "sandbox"], *opts)
    assert "Seccomp:\t2" in big and "NoNewPrivs:\t1" in big and "CapEff:\t0000000000000000" in big
    assert small == big and front == big


@pytest.mark.modes("cgroup")
def test_the_command_loads_none_of_the_servers_libraries(sb):
    """`pyroom sandbox run` is the front itself (no exec of the server): while its sandbox
    runs, its process has mapped jansson and nothing that only the server needs (libpq,
    libmicrohttpd with GnuTLS, SQLite, libsodium), nor libseccomp: the filter was compiled
    when pyroom was built (src/sandbox/seccomp.c)."""
    p = subprocess.Popen([BIN, "sandbox", "run", "--wall-ms", "60000", "--", "python3", "-c",
                          "import sys; print('ready', flush=True); sys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        with open("/proc/%d/maps" % p.pid) as f:
            libs = {os.path.basename(l.split()[-1]) for l in f if ".so" in l}
        with open("/proc/%d/exe" % p.pid, "rb"):
            exe = os.readlink("/proc/%d/exe" % p.pid)
    finally:
        p.stdin.close()
        p.wait(timeout=60)
    assert p.returncode == 0
    assert exe == os.path.realpath(BIN)
    assert any(l.startswith("libjansson") for l in libs), libs
    assert [l for l in libs if l.startswith(SERVER_LIBS + ("libseccomp",))] == [], libs


@pytest.mark.modes("cgroup")
def test_other_commands_exec_the_server_beside_the_front(sb, tmp_path):
    """Every other command execs `pyroom-server` from the front's own directory (never from
    $PATH or the working directory), with the same arguments, in the same process (a service
    manager's or a container's pid stays the server's); without it, exit 127 and say where
    it belongs."""
    home = tmp_path / "bin"
    home.mkdir()
    shutil.copy(BIN, home / "pyroom")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    for d, who in ((home, "beside"), (decoy, "decoy")):
        script = d / "pyroom-server"
        script.write_text('#!/bin/sh\necho "%s $$ $0"; for a in "$@"; do echo "[$a]"; done\n' % who)
        script.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (decoy, os.environ["PATH"]))
    p = subprocess.Popen([str(home / "pyroom"), "serve", "--listen", "a b", ""], cwd=decoy,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.decode().splitlines() == ["beside %d %s" % (p.pid, home / "pyroom-server"),
                                         "[serve]", "[--listen]", "[a b]", "[]"]
    os.unlink(home / "pyroom-server")
    r = subprocess.run([str(home / "pyroom"), "version"], cwd=decoy, env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 127 and r.stdout == b""
    assert r.stderr.decode() == ("pyroom: cannot start the server binary '%s' (it belongs "
                                 "beside pyroom): No such file or directory\n"
                                 % (home / "pyroom-server"))
    # the sandbox's own commands need no server
    assert subprocess.run([str(home / "pyroom"), "sandbox", "run", "--", "true"],
                          capture_output=True, timeout=60).returncode == 0


def probe_file():
    return os.path.join(RUN_DIR, "host-probe")


def key_lines():
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read().strip()
    return ["pyroom host probe 1", "boot " + boot, "euid %d" % os.geteuid(),
            os.readlink("/proc/self/ns/user"), os.readlink("/proc/self/ns/pid"), "clone ok"]


@pytest.mark.modes("cgroup")
def test_the_host_probe_is_remembered_and_trusted_only_when_ours(sb):
    r = sb.py("pass")
    assert r["exit_code"] == 0, r
    path = probe_file()
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        assert f.read().splitlines() == key_lines()
    # Trusted as it is: the next start reads it and leaves it alone.
    assert sb.py("pass")["exit_code"] == 0
    assert os.lstat(path).st_ino == st.st_ino
    # Writable by others (as a forger would leave it): not trusted, probed again, replaced.
    forged = path + ".forged"
    with open(forged, "w") as f:
        f.write("\n".join(key_lines()) + "\n")
    os.chmod(forged, 0o666)
    os.rename(forged, path)
    ino = os.lstat(path).st_ino
    assert sb.py("pass")["exit_code"] == 0
    st2 = os.lstat(path)
    assert st2.st_ino != ino and stat.S_IMODE(st2.st_mode) == 0o600
    # A link in its place is never followed: probed again, replaced by a file.
    os.unlink(path)
    os.symlink("/etc/hostname", path)
    assert sb.py("pass")["exit_code"] == 0
    assert stat.S_ISREG(os.lstat(path).st_mode)
    # Another boot's (or another key's) record: probed again, rewritten with this key.
    with open(path + ".old", "w") as f:
        f.write("pyroom host probe 1\nboot 00000000-0000-0000-0000-000000000000\n")
    os.chmod(path + ".old", 0o600)
    os.rename(path + ".old", path)
    assert sb.py("pass")["exit_code"] == 0
    with open(path) as f:
        assert f.read().splitlines() == key_lines()
