/*
 * seccomp_rules.c: the system-call filter's rules, compiled with libseccomp when pyroom is
 * built (scripts/seccomp-gen.c writes the BPF program into build/gen/seccomp_filter.h,
 * which seccomp.c embeds): no running binary links libseccomp or compiles a filter, which
 * took ~1.2 ms of every one-shot `pyroom sandbox run`, server start and warm template.
 *
 * A deny list (default allow): what a Python user never needs and what widens the kernel's
 * attack surface or escapes the other mechanisms. Denied calls fail with EPERM so programs
 * see an ordinary error, except clone3, which fails with ENOSYS: its flags live in memory
 * seccomp cannot read, and glibc falls back to clone(), whose flags we can check.
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const denied[] = {
    /* debugging other processes, reading their memory */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    /* the file system view and namespaces */
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "name_to_handle_at",
    "open_by_handle_at",
    /* kernel keyrings, eBPF, perf, userfaultfd, io_uring: large attack surfaces */
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    /* asynchronous I/O: a write in flight is waited for only when the last user of the
     * address space has gone, after the sandbox's result (src/sandbox/init.c); nothing of
     * Python's standard library, numpy, pandas or matplotlib uses it */
    "io_setup",
    "io_submit",
    "io_getevents",
    "io_pgetevents",
    "io_cancel",
    "io_destroy",
    /* the machine itself */
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "vhangup",
    "iopl",
    "ioperm",
    "uselib",
    "lookup_dcookie",
    "fanotify_init",
    "sethostname",
    "setdomainname",
    "nfsservctl",
    /* x86 local descriptor tables: no Python program needs one, and they have been the
     * way in for kernel bugs (CVE-2015-5157, CVE-2017-17053); Docker's profile denies it */
    "modify_ldt",
    NULL,
};

/* Namespace flags of clone(); clone3 is refused with ENOSYS (flags out of reach). */
static const unsigned long ns_flags[] = {
    CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
    CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP,
};

/* Address families a Python program may use: AF_UNIX, and AF_INET/AF_INET6, which can only
 * reach `lo`. Everything else (AF_NETLINK, AF_PACKET, AF_VSOCK, AF_ALG...) is refused. */
static bool family_allowed(int af)
{
    return af == AF_UNIX || af == AF_INET || af == AF_INET6;
}

/* personality() bits that weaken the address space (no ASLR, executable data, page 0). */
static const unsigned long bad_personality[] = {0x0040000, 0x0400000, 0x0200000, 0x0100000};

#define RULE(action, nr, ...)                                                                      \
    do {                                                                                           \
        r = seccomp_rule_add(ctx, action, nr, __VA_ARGS__);                                        \
        if (r < 0) {                                                                               \
            err_set(err, -r, "seccomp rule for syscall %d", nr);                                   \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

int seccomp_rules_compile(struct sock_fprog *ret, struct err *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    struct sock_filter *code = NULL;
    int r = 0, fd = -1;

    if (!ctx)
        return err_set(err, ENOMEM, "seccomp_init");
    for (const char *const *n = denied; *n; n++) {
        int nr = seccomp_syscall_resolve_name(*n);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        RULE(SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    /* No new namespaces: a user namespace would hand back every capability, and most
     * kernel escalations of recent years start there. */
    for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
        RULE(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
             SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    RULE(SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* TIOCSTI would type into a terminal that is not the program's own; TIOCLINUX can read
     * a virtual console. The command is an int: compare the low 32 bits only. */
    RULE(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (unsigned)TIOCSTI));
    RULE(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (unsigned)TIOCLINUX));
    for (int af = 0; af <= 10; af++) {
        if (family_allowed(af))
            continue;
        RULE(SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
             SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af, 0));
        RULE(SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
             SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af, 0));
    }
    RULE(SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_GT, 10, 0));
    RULE(SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_GT, 10, 0));
    for (size_t i = 0; i < sizeof(bad_personality) / sizeof(bad_personality[0]); i++)
        RULE(SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
             SCMP_A0(SCMP_CMP_MASKED_EQ, bad_personality[i], bad_personality[i]));

    /* Export the BPF program once; the child only hands it to the kernel. */
    fd = memfd_create("pyroom-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        r = err_set(err, errno, "memfd_create");
        goto out;
    }
    r = seccomp_export_bpf(ctx, fd);
    if (r < 0) {
        err_set(err, -r, "seccomp_export_bpf");
        goto out;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 || size > (1 << 20)) {
        r = err_set(err, EINVAL, "seccomp filter of %lld bytes", (long long)size);
        goto out;
    }
    code = malloc((size_t)size);
    if (!code) {
        r = err_set(err, ENOMEM, "seccomp filter");
        goto out;
    }
    if (pread(fd, code, (size_t)size, 0) != size) {
        r = err_set(err, EIO, "read seccomp filter");
        goto out;
    }
    ret->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    ret->filter = code;
    code = NULL;
    r = 0;
out:
    free(code);
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return r;
}
