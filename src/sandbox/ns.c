/*
 * ns.c: user ids and the small namespaces (uts, net).
 *
 * Inside every sandbox the only mapped ids are uid and gid 1000, mapped to the slot's host
 * uid. The child starts with every capability of its new user namespace but an unmapped
 * uid; it switches to 1000 while keeping its capabilities (it still has to mount the new
 * root), and drops them all at the end (ns_drop_caps) before the user's program runs.
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, data, len);
    int e = n < 0 ? -errno : ((size_t)n == len ? 0 : -EIO);
    close(fd);
    return e;
}

int ns_write_maps(pid_t pid, uid_t host_uid, gid_t host_gid, bool unpriv, struct err *err)
{
    char path[64], line[64];
    int r, n;

    if (unpriv) {
        /* An unprivileged writer may map only its own ids, and only once setgroups is
         * denied (else dropping a group could grant access: CVE-2014-8989). */
        snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
        r = write_file(path, "deny", 4);
        if (r < 0 && r != -ENOENT)
            return err_set(err, -r, "write '%s'", path);
    }
    n = snprintf(line, sizeof(line), "%u %u 1\n", SB_INSIDE_UID, (unsigned)host_uid);
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    r = write_file(path, line, (size_t)n);
    if (r < 0)
        return err_set(err, -r, "write '%s'", path);
    n = snprintf(line, sizeof(line), "%u %u 1\n", SB_INSIDE_GID, (unsigned)host_gid);
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    r = write_file(path, line, (size_t)n);
    if (r < 0)
        return err_set(err, -r, "write '%s'", path);
    return 0;
}

static int capset_all(uint32_t mask_lo, uint32_t mask_hi, bool inheritable)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = mask_lo;
    data[1].effective = data[1].permitted = mask_hi;
    if (inheritable) {
        data[0].inheritable = mask_lo;
        data[1].inheritable = mask_hi;
    }
    return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

/* child */
int ns_become_user(void)
{
    gid_t gid = SB_INSIDE_GID;
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return -errno;
    if (setresgid(gid, gid, gid) < 0)
        return -errno;
    /* Fails (EPERM) where setgroups is denied (unprivileged mode); the supplementary
     * groups are then unmapped ones, which grant nothing inside. */
    (void)setgroups(1, &gid);
    if (setresuid(SB_INSIDE_UID, SB_INSIDE_UID, SB_INSIDE_UID) < 0)
        return -errno;
    /* Keep every capability of the new user namespace until the root is built. */
    return capset_all(0xffffffffu, 0xffffffffu, false);
}

/* A new network namespace has only `lo`, and down: bring it up so programs can talk to
 * themselves on 127.0.0.1; nothing routes anywhere else. */
static int lo_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int r = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        r = -errno;
    } else {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            r = -errno;
    }
    close(s);
    return r;
}

/* child */
int ns_setup_uts_net(const char *hostname, bool lo_ready)
{
    if (sethostname(hostname, strlen(hostname)) < 0)
        return -errno;
    return lo_ready ? 0 : lo_up();
}

void ns_net_pool_init(struct ns_net_pool *np, bool root)
{
    np->n = 0;
    np->host = root ? open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
    ns_net_pool_fill(np);
}

/* Leaves the pool for good (we could not come back to our namespace, or make one). */
static void pool_stop(struct ns_net_pool *np)
{
    while (np->n > 0)
        close(np->fd[--np->n]);
    if (np->host >= 0)
        close(np->host);
    np->host = -1;
}

void ns_net_pool_fill(struct ns_net_pool *np)
{
    while (np->host >= 0 && np->n < NS_NET_AHEAD) {
        if (unshare(CLONE_NEWNET) < 0) {
            pool_stop(np);
            return;
        }
        int fd = lo_up() == 0 ? open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
        if (setns(np->host, CLONE_NEWNET) < 0 || fd < 0) {
            if (fd >= 0)
                close(fd);
            pool_stop(np);
            return;
        }
        np->fd[np->n++] = fd;
    }
}

int ns_net_pool_take(struct ns_net_pool *np)
{
    return np->n > 0 ? np->fd[--np->n] : -1;
}

pid_t ns_net_clone(struct ns_net_pool *np, unsigned long flags, int netfd)
{
    if (netfd >= 0 && (np->host < 0 || setns(netfd, CLONE_NEWNET) < 0)) {
        close(netfd); /* then a namespace of its own, as without the pool */
        netfd = -1;
    }
    if (netfd >= 0)
        flags &= ~(unsigned long)CLONE_NEWNET;
    pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid < 0)
        pid = -errno;
    if (pid != 0 && netfd >= 0) {
        if (setns(np->host, CLONE_NEWNET) < 0)
            pool_stop(np); /* stuck in a sandbox's namespace: the next ones make their own */
        close(netfd);
    }
    return pid;
}

void ns_net_pool_done(struct ns_net_pool *np)
{
    pool_stop(np);
}

/* child */
int ns_drop_caps(void)
{
    /* Capabilities are numbered without gaps: EINVAL is the first past the kernel's last. */
    for (int c = 0; c < 64; c++) {
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
            if (errno != EINVAL)
                return -errno;
            break;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return -errno;
    return capset_all(0, 0, true);
}
