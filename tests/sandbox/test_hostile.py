"""One hostile program per attack of issue 3's "Must show", each with the outcome it must get."""
import os
import socket
import stat
import subprocess
import uuid

import pytest

from conftest import host_pids_with, host_uid


def test_fork_bomb(sb):
    marker = "forkbomb-" + uuid.uuid4().hex
    r = sb.py("import os,sys\n"
              "while True:\n"
              "    try: os.fork()\n"
              "    except OSError: pass\n", "--wall-ms", "4000", "--pids", "32",
              "--env", "MARK=" + marker)
    assert r["signal"] == 9 and r["killed"], r
    # cgroup: the pids limit is seen and the tree killed at once; fallback: RLIMIT_NPROC
    # holds it until the wall time.
    assert r["limit_hit"] == ("pids" if sb.cgroups else "wall_time"), r
    assert not host_pids_with(marker)


def test_memory_bomb(sb):
    r = sb.py("a = []\nwhile True: a.append(bytearray(1 << 20))\n", "--memory", "64M")
    assert r["limit_hit"] == "memory", r
    assert r["exit_code"] != 0 or r["signal"] != 0
    if sb.cgroups:
        assert r["signal"] == 9 and r["peak_memory_bytes"] <= 64 << 20


def test_cpu_loop(sb):
    # a generous wall limit: on a loaded machine the loop gets a fraction of a CPU, and what
    # matters is that the CPU limit, not the wall clock, ends it
    r = sb.py("while True: pass", "--cpu-ms", "600", "--wall-ms", "60000")
    assert r["limit_hit"] == "cpu_time", r
    assert r["signal"] in (9, 24), r  # SIGKILL, or SIGXCPU from RLIMIT_CPU
    assert r["cpu_ms"] >= 500, r


@pytest.mark.modes("cgroup")
def test_cpu_threads_count_for_the_tree(sb):
    """The CPU limit counts the whole tree: two busy child processes share one budget. Under
    a per-process RLIMIT_CPU each child would burn its own 800 ms and die alone, and the
    parent would live on to print; with the tree counted, the whole tree dies at once."""
    r = sb.py("import os\n"
              "kids = []\n"
              "for _ in range(2):\n"
              "    pid = os.fork()\n"
              "    if pid == 0:\n"
              "        while True: pass\n"
              "    kids.append(pid)\n"
              "for k in kids: os.waitpid(k, 0)\n"
              "print('parent outlived its children', flush=True)\n",
              "--cpu-ms", "800", "--wall-ms", "60000")
    assert (r["limit_hit"], r["signal"], r["killed"]) == ("cpu_time", 9, True), r
    assert r.out == "", r


def test_sleep_forever(sb):
    r = sb.run(["sleep", "1000"], "--wall-ms", "500")
    assert r["limit_hit"] == "wall_time" and r["killed"] and r["signal"] == 9, r
    assert r["wall_ms"] >= 450, r  # not ended before its limit (how late is not asserted)


def test_output_flood(sb):
    r = sb.py("import sys\nwhile True: sys.stdout.write('x' * 65536)\n", "--output", "100000")
    assert r["limit_hit"] == "output" and r["truncated"], r
    assert len(r.stdout) == 100000 and r["stdout_bytes"] == 100000


def test_stderr_flood_counts_too(sb):
    r = sb.py("import sys\nwhile True: sys.stderr.write('y' * 4096)\n", "--output", "5000")
    assert r["limit_hit"] == "output" and r["stderr_bytes"] == 5000, r


def test_tmp_fill(sb):
    r = sb.py("f = open('/tmp/big', 'wb')\n"
              "while True: f.write(b'0' * (1 << 20)); f.flush()\n", "--tmpfs", "8M")
    assert r["exit_code"] != 0 and b"No space left" in r.stderr, r
    assert r["limit_hit"] == "disk", r


def test_workspace_fill_file_size(sb):
    ws = sb.workspace()
    r = sb.py("f = open('big', 'wb')\n"
              "while True: f.write(b'0' * (1 << 20)); f.flush()\n",
              "--workspace", ws, "--file-size", "4M")
    assert r["exit_code"] != 0 and b"File too large" in r.stderr, r
    assert r["limit_hit"] == "disk", r
    assert os.path.getsize(os.path.join(ws, "big")) <= 4 << 20


def test_workspace_total_bytes(sb):
    ws = sb.workspace()
    r = sb.py("for i in range(6):\n    open('f%d' % i, 'wb').write(b'1' * (1 << 20))\n",
              "--workspace", ws, "--workspace-bytes", "4M")
    assert r["limit_hit"] == "disk", r


def test_daemon_does_not_survive(sb):
    marker = "daemon-" + uuid.uuid4().hex
    code = ("import os, subprocess\n"
            "subprocess.Popen(['setsid', 'nohup', 'sleep', '1000', '%s'],"
            " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        os.execvp('sleep', ['sleep', '999', '%s'])\n"
            "    os._exit(0)\n"
            "print('parent done')\n") % (marker, marker)
    r = sb.py(code)
    assert r["exit_code"] == 0 and "parent done" in r.out, r
    # the CLI returns after the sandbox's pid 1 is reaped, i.e. after the whole pid
    # namespace is gone: no waiting needed
    assert host_pids_with(marker) == []


def test_no_secrets_or_host_files(sb):
    r = sb.py("import os\n"
              "for p in ['/etc/shadow', '/root', '/work', '/var', '/run', '/srv', '/sys',"
              " '/etc/ssh', '/etc/sudoers', '/" + os.path.basename(os.getcwd()) + "']:\n"
              "    print(p, os.path.exists(p))\n"
              "print(open('/etc/passwd').read())\n")
    assert r["exit_code"] == 0, r
    for line in r.out.splitlines():
        if line.startswith("/") and " " in line:
            assert line.endswith("False"), line
    assert "root:" not in r.out and "user:x:1000:1000" in r.out


def test_proc_and_sys_leaks(sb):
    secret = "HOSTSECRET_" + uuid.uuid4().hex
    os.environ["PYROOM_TEST_SECRET"] = secret
    try:
        r = sb.py("import os\n"
                  "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
                  "print('pids', pids)\n"
                  "print('env', dict(os.environ))\n"
                  "print('cmd1', open('/proc/1/cmdline','rb').read())\n"
                  "try:\n    print('environ1', open('/proc/1/environ','rb').read())\n"
                  "except OSError as e:\n    print('environ1 denied', e.errno)\n"
                  "print('sys', os.path.exists('/sys/fs/cgroup'), os.listdir('/sys') if os.path.exists('/sys') else None)\n"
                  "print('cg', open('/proc/self/cgroup').read())\n"
                  "print('mounts', open('/proc/self/mounts').read())\n")
    finally:
        del os.environ["PYROOM_TEST_SECRET"]
    assert r["exit_code"] == 0, r
    pids_line = [l for l in r.out.splitlines() if l.startswith("pids")][0]
    pids = eval(pids_line[5:])
    assert pids[0] == 1 and len(pids) <= 3, pids  # init, python (and nothing of the host)
    assert secret not in r.out
    assert "pyroom" not in r.out.split("cmd1")[1].split("\n")[0]
    assert "sys False None" in r.out
    # the cgroup namespace shows our own cgroup as the root
    for line in r.out.split("cg ")[1].split("mounts")[0].strip().splitlines():
        assert line.endswith(":/"), line
    assert "/work" not in r.out.split("mounts")[1]


def test_no_server_fds(sb):
    r = sb.py("import os\nprint(sorted(int(x) for x in os.listdir('/proc/self/fd')))")
    fds = eval(r.out.strip())
    assert fds == [0, 1, 2, 3], fds  # stdio and listdir's own


def test_tcp_to_host_and_dns_fail(sb):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        r = sb.py("import socket\n"
                  "try:\n"
                  "    socket.create_connection(('127.0.0.1', %d), timeout=3); print('connected')\n"
                  "except OSError as e: print('tcp failed', type(e).__name__)\n"
                  "try:\n"
                  "    print(socket.getaddrinfo('example.com', 80)); print('resolved')\n"
                  "except OSError as e: print('dns failed', type(e).__name__)\n"
                  "try:\n"
                  "    socket.create_connection(('1.1.1.1', 53), timeout=3); print('internet')\n"
                  "except OSError as e: print('route failed', e.errno)\n"
                  "import os; print(sorted(os.listdir('/sys/class/net')) if os.path.exists('/sys/class/net') else open('/proc/net/dev').read())\n"
                  % port)
    finally:
        srv.close()
    assert "tcp failed ConnectionRefusedError" in r.out, r
    assert "dns failed" in r.out and "resolved" not in r.out, r
    assert "route failed" in r.out and "internet" not in r.out, r
    devs = [l.split(":")[0].strip() for l in r.out.splitlines() if ":" in l and "|" not in l]
    assert devs == ["lo"], r.out


NETNS_VIEW = r"""
import fcntl, os, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
with open("/proc/net/tcp") as f:
    conns = len(f.read().splitlines()) - 1
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
c = socket.create_connection(srv.getsockname(), timeout=3)
a, _ = srv.accept()
c.close()  # the active close: a TIME_WAIT entry stays in this namespace for a minute
a.close()
print("net", os.readlink("/proc/self/ns/net"), "lo-up", bool(flags & 1), "conns", conns, "loop ok")
"""


def test_each_run_has_a_network_namespace_of_its_own(sb):
    """Runs one after another in one supervisor (where namespaces made ahead are used, as
    root): each gets a network namespace that is not the host's, with lo up, and that no
    run used before it: every run leaves a TIME_WAIT connection behind (it outlives the
    program), and none finds one. (Namespace numbers are reused once one is freed, so they
    cannot tell.)"""
    args = sb.prefix() + ["sandbox", "run", "--repeat", "4"]
    if sb.mode == "rlimit":
        args.append("--no-cgroups")
    p = subprocess.run(args + ["--", "python3", "-c", NETNS_VIEW], capture_output=True,
                       timeout=120)
    lines = p.stdout.decode().splitlines()
    assert p.returncode == 0 and len(lines) == 4, (lines, p.stderr[-500:])
    for line in lines:
        net, ns, up, isup, conns, n, loop, ok = line.split()
        assert (net, up, isup, conns, n, loop, ok) == ("net", "lo-up", "True", "conns", "0",
                                                       "loop", "ok"), line
        assert ns != os.readlink("/proc/self/ns/net"), line


SYSCALL_PROBE = r"""
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def try_(name, nr, *args):
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    print(name, r, errno.errorcode.get(e, e) if r < 0 else 'ok')
try_('mount', 165, 0, 0, 0, 0, 0)
try_('umount2', 166, 0, 0)
try_('unshare_user', 272, 0x10000000)
try_('unshare_ns', 272, 0x00020000)
try_('clone_newuser', 56, 0x10000000 | 17, 0, 0, 0, 0)
try_('setns', 308, 0, 0)
try_('ptrace', 101, 16, 1, 0, 0)
try_('keyctl', 250, 0, 0, 0, 0, 0)
try_('add_key', 248, 0, 0, 0, 0, 0)
try_('bpf', 321, 0, 0, 0)
try_('perf_event_open', 298, 0, 0, -1, -1, 0)
try_('userfaultfd', 323, 0)
try_('io_uring_setup', 425, 1, 0)
try_('kexec_load', 246, 0, 0, 0, 0)
try_('init_module', 175, 0, 0, 0)
try_('pivot_root', 155, 0, 0)
try_('process_vm_readv', 310, 1, 0, 0, 0, 0, 0)
try_('clock_settime', 227, 0, 0)
try_('personality', 135, 0x0040000)
try_('socket_netlink', 41, 16, 3, 0)
try_('socket_packet', 41, 17, 3, 0)
try_('socket_unix', 41, 1, 1, 0)
try_('modify_ldt', 154, 0, 0, 0)
"""


def test_dangerous_syscalls_denied(sb):
    r = sb.py(SYSCALL_PROBE)
    assert r["exit_code"] == 0, r
    res = {l.split()[0]: l.split()[2] for l in r.out.splitlines()}
    for name, outcome in res.items():
        if name == "socket_unix":
            assert outcome == "ok"
        elif name.startswith("socket_"):
            assert outcome == "EAFNOSUPPORT", (name, outcome)
        elif name == "io_uring_setup" or name == "clone_newuser":
            assert outcome in ("EPERM", "ENOSYS"), (name, outcome)
        else:
            assert outcome == "EPERM", (name, outcome)


def test_setuid_binary_gains_nothing(sb):
    su = "/usr/bin/su"
    if not os.path.exists(su) or not os.stat(su).st_mode & stat.S_ISUID:
        pytest.skip("no setuid su on this host")
    r = sb.run(["sh", "-c", "su -c 'id -u' root </dev/null; echo rc=$?; "
                "mount -t tmpfs none /tmp 2>&1; echo mrc=$?; id -u"])
    assert "rc=0" not in r.out and "mrc=0" not in r.out, r
    assert r.out.strip().splitlines()[-1] == "1000"


def test_tiocsti_denied(sb):
    r = sb.py("import fcntl, termios, sys, os\n"
              "print('tty', os.isatty(0))\n"
              "try:\n    fcntl.ioctl(0, termios.TIOCSTI, b'x'); print('injected')\n"
              "except OSError as e: print('denied', e.errno)\n", "--pty")
    assert "tty True" in r.out and "denied 1" in r.out and "injected" not in r.out, r


def test_readonly_outside_home_and_tmp(sb):
    ws = sb.workspace()
    r = sb.py("import os\n"
              "for p in ['/etc/x', '/usr/x', '/x', '/bin/x', '/dev/x', '/proc/x', '/usr/lib/x', '/home/x']:\n"
              "    try:\n        open(p, 'w'); print('wrote', p)\n"
              "    except OSError as e: print('refused', p, e.errno)\n"
              "open('/home/user/ok', 'w').write('1'); open('/tmp/ok', 'w').write('1')\n"
              "open('/dev/shm/ok', 'w').write('1'); print('writable ok')\n", "--workspace", ws)
    assert "wrote" not in r.out and "writable ok" in r.out, r
    assert os.path.exists(os.path.join(ws, "ok"))


def test_workspace_symlink_resolves_inside_only(sb):
    ws = sb.workspace({"a.txt": "hello"})
    os.symlink("/etc/passwd", os.path.join(ws, "link"))
    os.symlink("/etc/shadow", os.path.join(ws, "shadow"))
    if sb.mode == "unpriv":
        os.lchown(os.path.join(ws, "link"), 65534, 65534)
        os.lchown(os.path.join(ws, "shadow"), 65534, 65534)
    before = os.stat("/etc/shadow")
    r = sb.py("print(open('link').read())\n"
              "import os\n"
              "os.symlink('/etc/shadow', 'planted')\n"
              "os.symlink('/etc', 'etcdir')\n"
              "os.mkfifo('fifo')\n", "--workspace", ws)
    assert r["exit_code"] == 0, r
    assert "user:x:1000" in r.out and "root:" not in r.out
    after = os.stat("/etc/shadow")
    # handing the workspace back never followed the planted links (CVE-2024-28185)
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    assert os.stat("/etc").st_uid == 0
    assert os.path.islink(os.path.join(ws, "planted"))
    owner = 0 if sb.mode != "unpriv" else 65534
    assert os.lstat(os.path.join(ws, "planted")).st_uid == owner


@pytest.mark.modes("cgroup", "unpriv")
def test_sandboxes_cannot_reach_each_other(sb):
    wa = sb.workspace({"secret.txt": "A's secret"})
    wb = sb.workspace()
    ma, mb = "sbA-" + uuid.uuid4().hex, "sbB-" + uuid.uuid4().hex
    a = sb.popen(["python3", "-c", "import sys; print('ready', flush=True); sys.stdin.read(); print('A alive')", ma],
                 "--workspace", wa)
    try:
        assert a.stdout.readline() == b"ready\n"
        probe = ("import os, signal\n"
                 "killed = 0\n"
                 "for pid in range(2, 40000):\n"
                 "    if pid == os.getpid(): continue\n"
                 "    try: os.kill(pid, signal.SIGKILL); killed += 1\n"
                 "    except OSError: pass\n"
                 "print('killed', killed)\n"
                 "print('visible', os.path.exists(%r), os.path.exists('/proc/%d'))\n"
                 "import sys; print('ready', flush=True); sys.stdin.read()\n" % (wa, a.pid))
        b = sb.popen(["python3", "-c", probe, mb], "--workspace", wb)
        line = b.stdout.readline()
        assert line == b"killed 0\n", line  # only its own pid 1 (which ignores it) is visible
        assert b.stdout.readline() == b"visible False False\n"
        assert b.stdout.readline() == b"ready\n"
        if sb.mode == "cgroup":
            ua = {host_uid(p) for p in host_pids_with(ma, program=b"python3")}
            ub = {host_uid(p) for p in host_pids_with(mb, program=b"python3")}
            assert len(ua) == 1 and len(ub) == 1 and ua != ub, (ua, ub)
            assert min(ua | ub) >= 1000000, (ua, ub)
        b.stdin.close()
        b.wait(30)
        a.stdin.close()
        assert a.stdout.read() == b"A alive\n"
        assert a.wait(30) == 0
    finally:
        for p in (a,):
            if p.poll() is None:
                p.kill()


def test_other_syscall_abis_are_killed(sb):
    """x32 system calls (and i386 ones) would bypass an x86_64-only filter: they kill."""
    r = sb.py("import ctypes\n"
              "libc = ctypes.CDLL(None, use_errno=True)\n"
              "libc.syscall.restype = ctypes.c_long\n"
              "libc.syscall(0x40000000 | 272, 0x10000000)\n"
              "print('survived')\n")
    assert r["signal"] == 31 and b"survived" not in r.stdout, r  # SIGSYS


def test_workspace_fill_with_many_files_is_stopped_while_running(sb):
    """Many files, each under the file size limit: the total is watched while it runs."""
    ws = sb.workspace()
    r = sb.py("i = 0\n"
              "while True:\n"
              "    open('f%d' % i, 'wb').write(b'1' * (1 << 20)); i += 1\n",
              "--workspace", ws, "--workspace-bytes", "8M", "--file-size", "2M",
              "--wall-ms", "60000")
    assert r["limit_hit"] == "disk" and r["killed"], r


def test_given_files_do_not_count_against_what_a_run_may_write(sb):
    """The limits are on what a run adds: big files it was given are not held against it."""
    ws = sb.workspace({"data.bin": b"x" * (6 << 20), "main.py": "print(len(open('data.bin','rb').read()))"})
    r = sb.run(["python3", "main.py"], "--workspace", ws, "--workspace-bytes", "4M",
               "--file-size", "2M")
    assert r["exit_code"] == 0 and r["limit_hit"] == "none", r
    assert r.out.strip() == str(6 << 20)


def test_host_information_in_proc_is_masked(sb):
    """What container runtimes mask: host boot parameters, hardware, keys, timers, load."""
    r = sb.py("import os\n"
              "for p in ['/proc/cmdline', '/proc/config.gz', '/proc/iomem', '/proc/ioports',\n"
              "          '/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/kallsyms',\n"
              "          '/proc/sys/kernel/random/boot_id', '/proc/interrupts']:\n"
              "    if os.path.exists(p):\n"
              "        print(p, len(open(p, 'rb').read()))\n"
              "for d in ['/proc/pressure', '/proc/acpi', '/proc/irq', '/proc/bus']:\n"
              "    if os.path.exists(d):\n"
              "        print(d, len(os.listdir(d)))\n")
    assert r["exit_code"] == 0, r
    lines = r.out.splitlines()
    seen = {l.split()[0]: int(l.split()[1]) for l in lines if l.startswith("/proc")}
    assert "/proc/cmdline" in seen and "/proc/pressure" in seen, r
    for path, size in seen.items():
        assert size == 0, (path, size)


def test_deep_tree_is_handed_back_and_measured_at_any_depth(sb):
    """The hand-back walk has no depth cut-off: a 70-deep tree is measured (limit disk)
    and every file in it is handed back to the workspace's owner."""
    ws = sb.workspace()
    r = sb.py("import os\n"
              "for i in range(70):\n    os.mkdir('d'); os.chdir('d')\n"
              "for k in range(3):\n    open('big%d' % k, 'wb').write(b'x' * (2 << 20))\n",
              "--workspace", ws, "--workspace-bytes", "4M", "--file-size", "3M")
    assert r["limit_hit"] == "disk", r
    owner = os.stat(ws).st_uid
    depth = 0
    for dirpath, dirnames, filenames in os.walk(ws):
        depth = max(depth, dirpath.count("/d"))
        for n in [dirpath] + [os.path.join(dirpath, x) for x in dirnames + filenames]:
            assert os.lstat(n).st_uid == owner, n
    assert depth >= 70
