"""One probe per system call that docs/security.md says the seccomp filter refuses, each
shown able to fail.

Each probe calls the system call directly (x86_64 numbers) with arguments chosen so that the
kernel itself, without the filter, answers something else than the filter does: a missing
pid (ESRCH), a bad descriptor (EBADF), a bad pointer (EFAULT), an unknown operation (EINVAL,
EOPNOTSUPP), a call this kernel lacks (ENOSYS), or success. The proof that a probe can fail:
the same probe in an unprivileged host process (uid nobody, no filter, no capabilities, as a
sandbox's program would be without the filter) must get a different answer than it gets in
a sandbox; each probe runs in its own forked process so that one (unshare) cannot change the
next.

Calls the docs list that no argument can tell apart from the kernel's own refusal of an
unprivileged caller (the capability check comes first, so the filter is defence in depth
there and a probe could not fail): pivot_root, reboot, swapon, swapoff, acct, syslog,
move_mount, fsopen, fsmount. clone with namespace flags and the socket families are tested
in test_hostile.py.
"""
import json
import platform
import subprocess

import pytest

from conftest import NOBODY

NOPID = 4194304  # above pid_max: no such process
EPERM, ENOSYS = 1, 38
PROBES = {
    "ptrace": (101, 2, NOPID, 0, 0),  # PTRACE_PEEKDATA
    "process_vm_readv": (310, NOPID, 0, 0, 0, 0, 0),
    "process_vm_writev": (311, NOPID, 0, 0, 0, 0, 0),
    "pidfd_getfd": (438, -1, 0, 0),
    "kcmp": (312, NOPID, NOPID, 0, 0, 0),
    "mount": (165, 1, 1, 1, 0, 0),
    "umount2": (166, 1, 0),
    "chroot": (161, 1),
    "unshare": (272, 0x10000000),  # CLONE_NEWUSER
    "setns": (308, -1, 0),
    "keyctl": (250, 9999, 0, 0, 0, 0),
    "add_key": (248, 1, 1, 0, 0, 0),
    "request_key": (249, 1, 1, 0, 0),
    "bpf": (321, 9999, 0, 0),
    "perf_event_open": (298, 0, 0, 0, 0, 0),
    "userfaultfd": (323, 0x7FFFFFFF),
    "io_uring_setup": (425, 0, 0),
    "io_uring_enter": (426, -1, 0, 0, 0, 0, 0),
    "io_uring_register": (427, -1, 0, 0, 0),
    "io_setup": (206, 1, 0),  # (a NULL context pointer: EFAULT if it were allowed)
    "io_submit": (209, 0, 0, 0),
    "io_getevents": (208, 0, 0, 0, 0, 0),
    "io_destroy": (207, 0),
    "kexec_load": (246, 0, 0, 0, 0),
    "kexec_file_load": (320, -1, -1, 0, 0, 0),
    "init_module": (175, 0, 0, 0),
    "finit_module": (313, -1, 0, 0),
    "delete_module": (176, 1, 0),
    "clock_settime": (227, 0, 0),
    "settimeofday": (164, 1, 0),
    "adjtimex": (159, 1),
    "clock_adjtime": (305, 0, 1),
    "quotactl": (179, 0, 1, 0, 0),
    "iopl": (172, 4),
    "ioperm": (173, 0, 0, 1),
    "open_by_handle_at": (304, -1, 0, 0),
    "personality": (135, 0x0040000),  # ADDR_NO_RANDOMIZE
    "ioctl_tiocsti": (16, 0, 0x5412, 1),
    "ioctl_tioclinux": (16, 0, 0x541C, 1),
    "open_tree": (428, -1, 1, 0),
    "clone3": (435, 0, 0),
}
# What the filter answers: EPERM, except clone3 (ENOSYS, so that libc falls back to clone).
EXPECTED = {name: EPERM for name in PROBES} | {"clone3": ENOSYS}

PROBE = """
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
for name, (nr, *args) in json.loads(sys.argv[1]).items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ctypes.set_errno(0)
        rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
        os.write(w, str(0 if rc >= 0 else ctypes.get_errno()).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    out[name] = int(os.read(r, 16) or b"-1")
    os.close(r)
print(json.dumps(out))
"""

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="host: the probes use x86_64 system call numbers")

_cache = {}


def host_answers():
    if "host" not in _cache:
        p = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                            "--clear-groups", "/usr/bin/python3", "-c", PROBE,
                            json.dumps(PROBES)], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120, check=True)
        _cache["host"] = json.loads(p.stdout)
    return _cache["host"]


def sandbox_answers(sb):
    if sb.mode not in _cache:
        r = sb.run(["python3", "-c", PROBE, json.dumps(PROBES)], "--wall-ms", "60000")
        assert r["exit_code"] == 0, r
        _cache[sb.mode] = json.loads(r.out)
    return _cache[sb.mode]


@pytest.mark.modes("cgroup", "unpriv")
@pytest.mark.parametrize("call", list(PROBES))
def test_seccomp_refuses(sb, call):
    host = host_answers()[call]
    got = sandbox_answers(sb)[call]
    assert got == EXPECTED[call], (call, got)
    # The probe can fail: without the filter, the kernel answers otherwise.
    assert host != got, (call, host)
