/*
 * mount.c: the sandbox's file system view (child side; no allocation).
 *
 * The child owns a private copy of the host's mount tree. It mounts a small tmpfs on /tmp,
 * pivots into it (the host's root stays reachable at /oldroot while we build), then fills
 * the new root:
 *
 *   /usr, /bin /lib* /sbin   read-only, nosuid, nodev bind of the host's /usr; the others
 *                            are the same symlinks as on the host (or ro binds)
 *   /etc                     generated passwd, group, hosts, hostname, nsswitch.conf,
 *                            resolv.conf, plus ro binds of what programs need and holds no
 *                            secret (ld.so.cache, alternatives for numpy's BLAS, matplotlibrc)
 *   /proc                    a fresh procfs of the new pid namespace: only sandbox pids
 *   /dev                     null zero full random urandom tty (ro binds of the host nodes),
 *                            a private devpts with ptmx, /dev/shm = /tmp
 *   /tmp                     a tmpfs of limits.tmpfs_bytes
 *   /home/user               the workspace (rw, nosuid, nodev bind) or an empty tmpfs
 *
 * then detaches /oldroot and makes / read-only. Mounts made in a new user namespace are
 * "locked" to the host's flags: a remount must keep the source's atime and ro/nosuid/nodev/
 * noexec flags, which bind_ro() copies from statvfs (as bubblewrap does).
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OLD "/oldroot"

static unsigned long locked_flags(const char *path)
{
    struct statvfs st;
    unsigned long f = 0;
    if (statvfs(path, &st) < 0)
        return 0;
    if (st.f_flag & ST_RDONLY)
        f |= MS_RDONLY;
    if (st.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (st.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    if (st.f_flag & ST_NOATIME)
        f |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME)
        f |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME)
        f |= MS_RELATIME;
    if (!(st.f_flag & (ST_NOATIME | ST_RELATIME)))
        f |= MS_STRICTATIME;
    return f;
}

/* Binds src on dst (which must exist) and remounts it with `extra` flags added to those the
 * kernel will not let us drop. */
static int bind(const char *src, const char *dst, unsigned long extra)
{
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        return -errno;
    unsigned long f = locked_flags(dst) | extra;
    if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | f, NULL) < 0)
        return -errno;
    return 0;
}

static int bind_ro(const char *src, const char *dst)
{
    return bind(src, dst, MS_RDONLY | MS_NOSUID | MS_NODEV);
}

static int write_str(const char *path, const char *s, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(fd, s + off, len - off);
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        off += (size_t)n;
    }
    close(fd);
    return 0;
}

static int touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

static void join(char *out, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > n) {
        out[0] = '\0';
        return;
    }
    memcpy(out, a, la);
    memcpy(out + la, b, lb + 1);
}

/* A host entry mirrored inside: same symlink, or a ro bind of the file or directory. A
 * missing entry is skipped. */
static int mirror(const char *path)
{
    char src[256], target[256];
    struct stat st;
    join(src, sizeof(src), OLD, path);
    if (lstat(src, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(src, target, sizeof(target) - 1);
        if (n < 0)
            return -errno;
        target[n] = '\0';
        return symlink(target, path) < 0 ? -errno : 0;
    }
    if (S_ISDIR(st.st_mode)) {
        if (mkdir(path, 0755) < 0)
            return -errno;
    } else if (S_ISREG(st.st_mode)) {
        int r = touch(path);
        if (r < 0)
            return r;
    } else {
        return 0;
    }
    return bind_ro(src, path);
}

static int copy_fd_to(int src_fd, const char *dst)
{
    char buf[8192];
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    off_t off = 0;
    int r = 0;
    for (;;) {
        ssize_t n = pread(src_fd, buf, sizeof(buf), off);
        if (n < 0) {
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        off += n;
        for (ssize_t w = 0; w < n;) {
            ssize_t m = write(fd, buf + w, (size_t)(n - w));
            if (m < 0) {
                r = -errno;
                goto out;
            }
            w += m;
        }
    }
out:
    close(fd);
    return r;
}

/* "size=N" into buf, without printf. */
static void size_opt(char *buf, size_t n, const char *prefix, uint64_t bytes)
{
    char digits[24];
    int i = 0;
    do {
        digits[i++] = (char)('0' + bytes % 10);
        bytes /= 10;
    } while (bytes && i < 23);
    size_t pl = strlen(prefix);
    if (pl + (size_t)i + 1 > n) {
        buf[0] = '\0';
        return;
    }
    memcpy(buf, prefix, pl);
    for (int k = 0; k < i; k++)
        buf[pl + (size_t)k] = digits[i - 1 - k];
    buf[pl + (size_t)i] = '\0';
}

#define STEP(w, expr)                                                                              \
    do {                                                                                           \
        int r_ = (expr);                                                                           \
        if (r_ < 0) {                                                                              \
            *what = (w);                                                                           \
            return r_;                                                                             \
        }                                                                                          \
    } while (0)
#define SYS(w, expr) STEP(w, (expr) < 0 ? -errno : 0)

static const char *const etc_mirrored[] = {
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/matplotlibrc",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/bash.bashrc",
    "/etc/profile",
    "/etc/inputrc",
    "/etc/terminfo",
    "/etc/vim",
    "/etc/python3",
    "/etc/python3.11",
    "/etc/python3.12",
    "/etc/python3.13",
    "/etc/mime.types",
    "/etc/protocols",
    "/etc/services",
    "/etc/fonts",
    "/etc/debian_version",
    "/etc/os-release",
    NULL,
};

static const char *const top_mirrored[] = {
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", NULL,
};

static const char *const dev_nodes[] = {
    "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", NULL,
};

/* What a procfs shows of the host even in a new pid namespace, hidden as container
 * runtimes do (runc's maskedPaths): files read as /dev/null, folders as an empty
 * read-only tmpfs. Host hardware (iomem, ioports), boot parameters and kernel config
 * (cmdline, config.gz), kernel memory and keys, timers, and the host's load (pressure,
 * which also lets sandboxes see each other). boot_id names the host's boot. */
static const char *const proc_masked_files[] = {
    "/proc/kcore",
    "/proc/keys",
    "/proc/key-users",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/cmdline",
    "/proc/config.gz",
    "/proc/iomem",
    "/proc/ioports",
    "/proc/kallsyms",
    "/proc/interrupts",
    "/proc/sys/kernel/random/boot_id",
    NULL,
};
static const char *const proc_masked_dirs[] = {
    "/proc/acpi",   "/proc/scsi", "/proc/pressure", "/proc/asound",     "/proc/bus",
    "/proc/driver", "/proc/fs",   "/proc/irq",      "/proc/tty/driver", NULL,
};

static int mask_proc(void)
{
    struct stat st;
    for (const char *const *p = proc_masked_files; *p; p++) {
        if (lstat(*p, &st) < 0 || S_ISDIR(st.st_mode))
            continue; /* not on this kernel */
        int r = bind(OLD "/dev/null", *p, MS_RDONLY | MS_NOSUID | MS_NOEXEC);
        if (r < 0)
            return r;
    }
    for (const char *const *p = proc_masked_dirs; *p; p++) {
        if (lstat(*p, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (mount("tmpfs", *p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=4k,nr_inodes=1,mode=0555") < 0)
            return -errno;
    }
    return 0;
}

int mount_build_root(const struct child_args *a, int ws, const char **what)
{
    char opt[64], path[64];

    /* Nothing we mount propagates back to the host, and nothing of the host's later mounts
     * shows up here. */
    SYS("make / private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    SYS("mount root tmpfs",
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m"));
    SYS("chdir new root", chdir("/tmp"));
    SYS("mkdir oldroot", mkdir("oldroot", 0700));
    SYS("pivot_root", syscall(SYS_pivot_root, ".", "oldroot"));
    SYS("chdir /", chdir("/"));

    SYS("mkdir /usr", mkdir("/usr", 0755));
    STEP("bind /usr", bind_ro(OLD "/usr", "/usr"));
    for (const char *const *p = top_mirrored; *p; p++)
        STEP(*p, mirror(*p));

    SYS("mkdir /etc", mkdir("/etc", 0755));
    STEP("/etc/passwd", write_str("/etc/passwd", a->etc_passwd, 0644));
    STEP("/etc/group", write_str("/etc/group", a->etc_group, 0644));
    STEP("/etc/hosts", write_str("/etc/hosts", a->etc_hosts, 0644));
    STEP("/etc/hostname", write_str("/etc/hostname", a->etc_hostname, 0644));
    STEP("/etc/nsswitch.conf", write_str("/etc/nsswitch.conf", a->etc_nsswitch, 0644));
    STEP("/etc/resolv.conf", write_str("/etc/resolv.conf", "", 0644));
    for (const char *const *p = etc_mirrored; *p; p++)
        STEP(*p, mirror(*p));

    /* A procfs of the new pid namespace (only possible while a full /proc is visible, i.e.
     * before /oldroot goes). */
    SYS("mkdir /proc", mkdir("/proc", 0555));
    SYS("mount /proc", mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    STEP("mask /proc", mask_proc());

    SYS("mkdir /dev", mkdir("/dev", 0755));
    SYS("mount /dev",
        mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64"));
    for (const char *const *p = dev_nodes; *p; p++) {
        join(path, sizeof(path), OLD, *p);
        STEP(*p, touch(*p));
        STEP(*p, bind(path, *p, MS_NOSUID | MS_NOEXEC));
    }
    SYS("mkdir /dev/pts", mkdir("/dev/pts", 0755));
    SYS("mount devpts", mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                              "newinstance,ptmxmode=0666,mode=0620"));
    SYS("/dev/ptmx", symlink("pts/ptmx", "/dev/ptmx"));
    SYS("/dev/fd", symlink("/proc/self/fd", "/dev/fd"));
    SYS("/dev/stdin", symlink("/proc/self/fd/0", "/dev/stdin"));
    SYS("/dev/stdout", symlink("/proc/self/fd/1", "/dev/stdout"));
    SYS("/dev/stderr", symlink("/proc/self/fd/2", "/dev/stderr"));
    SYS("mkdir /dev/shm", mkdir("/dev/shm", 01777));

    SYS("mkdir /tmp", mkdir("/tmp", 01777));
    size_opt(opt, sizeof(opt),
             "mode=1777,size=", a->limits.tmpfs_bytes ? a->limits.tmpfs_bytes : 64u << 20);
    SYS("mount /tmp", mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opt));
    SYS("bind /dev/shm", mount("/tmp", "/dev/shm", NULL, MS_BIND, NULL));
    if (a->mpl_fd >= 0 && a->mpl_name) {
        /* A pre-built font cache, or matplotlib rebuilds it on every run (~190 ms). */
        SYS("mkdir /tmp/.mpl", mkdir("/tmp/.mpl", 0700));
        join(path, sizeof(path), "/tmp/.mpl/", a->mpl_name);
        STEP("copy font cache", copy_fd_to(a->mpl_fd, path));
    }

    SYS("mkdir /home", mkdir("/home", 0755));
    SYS("mkdir /home/user", mkdir(SB_HOME, 0755));
    if (ws >= 0) {
        /* Through our O_PATH fd, never through a path that could have changed. */
        char src[64];
        size_opt(src, sizeof(src), OLD "/proc/self/fd/", (uint64_t)ws);
        STEP("bind workspace", bind(src, SB_HOME, MS_NOSUID | MS_NODEV));
        close(ws);
    } else {
        size_opt(opt, sizeof(opt), "mode=0755,size=",
                 a->limits.workspace_bytes ? a->limits.workspace_bytes : 64u << 20);
        SYS("mount home tmpfs", mount("tmpfs", SB_HOME, "tmpfs", MS_NOSUID | MS_NODEV, opt));
    }

    SYS("detach oldroot", umount2(OLD, MNT_DETACH));
    SYS("rmdir oldroot", rmdir(OLD));
    SYS("remount /dev ro",
        mount(NULL, "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL));
    SYS("remount / ro",
        mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL));
    return 0;
}
