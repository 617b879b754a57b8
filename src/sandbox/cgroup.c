/*
 * cgroup.c: exact limits and accounting for a whole tree, on cgroup v1 or v2.
 *
 * We only ever create cgroups below the cgroup pyroom itself runs in (from
 * /proc/self/cgroup), never elsewhere in the host's tree, named pyroom-sbSLOT after the
 * slot that owns them; a slot's leftovers (a crashed pyroom) are removed when the slot is
 * next taken and by the start-up sweep.
 *
 * v1 (this machine): memory (limit + memsw, oom_kill count, max usage), pids (max, events)
 * and cpuacct (usage), each its own hierarchy. v2: one directory with memory.max,
 * memory.swap.max = 0, memory.oom.group, pids.max, cpu.stat; v2 needs the controllers
 * enabled in our cgroup's subtree_control, which the kernel refuses while processes live
 * in it ("no internal processes"), so a delegated cgroup must hold only pyroom, which then
 * moves itself into a pyroom-main leaf. CPU time has no kernel limit in either version: the
 * supervisor compares cpu usage with the limit at each check.
 */
#include "sandbox/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define V1_ROOT "/sys/fs/cgroup"

/* snprintf that may truncate on purpose (long cgroup paths in messages). */
__attribute__((format(printf, 3, 4))) static void fmt(char *out, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, n, f, ap);
    va_end(ap);
}

static int write_str(const char *dir, const char *file, const char *s)
{
    char path[640];
    fmt(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, s, strlen(s));
    int r = n < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int write_u64(const char *dir, const char *file, uint64_t v)
{
    char s[32];
    fmt(s, sizeof(s), "%llu", (unsigned long long)v);
    return write_str(dir, file, s);
}

static int open_ro(const char *dir, const char *file)
{
    char path[640];
    fmt(path, sizeof(path), "%s/%s", dir, file);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Our cgroup path in the hierarchy holding `controller` ("" for the v2 line). */
static int self_path(const char *controller, char *out, size_t n)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[1024];
    int r = -ENOENT;
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        char *ctrls = c1 + 1, *path = c2 + 1;
        path[strcspn(path, "\n")] = '\0';
        bool match = false;
        if (!*controller) {
            match = !*ctrls && strncmp(line, "0:", 2) == 0;
        } else {
            for (char *tok = strtok(ctrls, ","); tok; tok = strtok(NULL, ","))
                if (strcmp(tok, controller) == 0)
                    match = true;
        }
        if (match) {
            fmt(out, n, "%s", strcmp(path, "/") == 0 ? "" : path);
            r = 0;
            break;
        }
    }
    fclose(f);
    return r;
}

/* rel (our path from /proc/self/cgroup) as seen under the mount point mnt. In a container
 * without a cgroup namespace (runc on cgroup v1, podman --privileged), /proc/self/cgroup
 * names the host's path, /libpod_parent/libpod-ID, while the runtime mounted only that
 * subtree at mnt: /proc/self/mountinfo's root field says which. A rel under that root
 * loses the prefix; otherwise rel is kept (the whole hierarchy is mounted). */
static void under_mount(const char *mnt, char *rel, size_t n)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[2048];
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        /* id parent major:minor root mount-point ... */
        char root[1024], point[512];
        if (sscanf(line, "%*s %*s %*s %1023s %511s", root, point) != 2 || strcmp(point, mnt))
            continue;
        size_t rl = strlen(root);
        if (strcmp(root, "/") != 0 && strncmp(rel, root, rl) == 0 &&
            (rel[rl] == '/' || rel[rl] == '\0')) {
            char tail[384];
            fmt(tail, sizeof(tail), "%s", rel + rl);
            fmt(rel, n, "%s", tail);
        }
        break;
    }
    fclose(f);
}

static bool is_fs(const char *path, long magic)
{
    struct statfs st;
    return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

/* Can we create (and remove) a cgroup in dir? */
static int probe(const char *dir)
{
    char p[640];
    fmt(p, sizeof(p), "%s/pyroom-probe-%d", dir, (int)getpid());
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return -errno;
    rmdir(p);
    return 0;
}

static int detect_v1(struct cg_host *h)
{
    static const char *const ctl[] = {"memory", "pids", "cpuacct"};
    char *dst[] = {h->memory, h->pids, h->cpuacct};
    for (int i = 0; i < 3; i++) {
        char mnt[128], rel[384];
        fmt(mnt, sizeof(mnt), V1_ROOT "/%s", ctl[i]);
        if (!is_fs(mnt, CGROUP_SUPER_MAGIC)) {
            fmt(h->why, sizeof(h->why), "cgroup v1 %s controller not mounted", ctl[i]);
            return -ENOENT;
        }
        if (self_path(ctl[i], rel, sizeof(rel)) < 0) {
            fmt(h->why, sizeof(h->why), "no %s line in /proc/self/cgroup", ctl[i]);
            return -ENOENT;
        }
        under_mount(mnt, rel, sizeof(rel));
        fmt(dst[i], 512, "%s%s", mnt, rel);
        int r = probe(dst[i]);
        if (r < 0) {
            fmt(h->why, sizeof(h->why), "cannot create cgroups in %s: %s", dst[i], strerror(-r));
            return r;
        }
    }
    h->mode = CG_V1;
    return 0;
}

static bool has_words(const char *dir, const char *file, const char *const *words)
{
    char buf[512];
    int fd = open_ro(dir, file);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = '\0';
    for (; *words; words++) {
        const char *p = buf;
        size_t l = strlen(*words);
        bool found = false;
        while ((p = strstr(p, *words))) {
            if ((p == buf || p[-1] == ' ') && (p[l] == ' ' || p[l] == '\n' || !p[l])) {
                found = true;
                break;
            }
            p += l;
        }
        if (!found)
            return false;
    }
    return true;
}

/* Moves our own processes (pyroom's server and supervisor) out of dir into a leaf so the
 * controllers can be enabled below dir. Anything else living in dir makes this fail. */
static int v2_make_room(const char *dir)
{
    char leaf[600], buf[4096];
    fmt(leaf, sizeof(leaf), "%s/pyroom-main", dir);
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return -errno;
    int fd = open_ro(dir, "cgroup.procs");
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    for (char *tok = strtok(buf, "\n"); tok; tok = strtok(NULL, "\n")) {
        pid_t p = (pid_t)atoi(tok);
        if (p != getpid() && p != getppid())
            return -EBUSY;
        int r = write_str(leaf, "cgroup.procs", tok);
        if (r < 0)
            return r;
    }
    return 0;
}

static int detect_v2(struct cg_host *h)
{
    static const char *const need[] = {"memory", "pids", "cpu", NULL};
    char mnt[64], rel[384];
    if (is_fs(V1_ROOT, CGROUP2_SUPER_MAGIC))
        fmt(mnt, sizeof(mnt), V1_ROOT);
    else if (is_fs(V1_ROOT "/unified", CGROUP2_SUPER_MAGIC))
        fmt(mnt, sizeof(mnt), V1_ROOT "/unified");
    else
        return -ENOENT;
    if (self_path("", rel, sizeof(rel)) < 0)
        return -ENOENT;
    under_mount(mnt, rel, sizeof(rel));
    snprintf(h->memory, sizeof(h->memory), "%s%s", mnt, rel);
    if (!has_words(h->memory, "cgroup.controllers", need)) {
        fmt(h->why, sizeof(h->why), "cgroup v2 at %s lacks the memory, pids and cpu controllers",
            h->memory);
        return -ENOENT;
    }
    if (!has_words(h->memory, "cgroup.subtree_control", need)) {
        int r = write_str(h->memory, "cgroup.subtree_control", "+memory +pids +cpu");
        if (r == -EBUSY && (r = v2_make_room(h->memory)) == 0)
            r = write_str(h->memory, "cgroup.subtree_control", "+memory +pids +cpu");
        if (r < 0) {
            fmt(h->why, sizeof(h->why),
                "cannot enable controllers in %s (delegate it to pyroom alone): %s", h->memory,
                strerror(-r));
            return r;
        }
    }
    int r = probe(h->memory);
    if (r < 0) {
        fmt(h->why, sizeof(h->why), "cannot create cgroups in %s: %s", h->memory, strerror(-r));
        return r;
    }
    h->mode = CG_V2;
    return 0;
}

int cg_host_detect(struct cg_host *h)
{
    memset(h, 0, sizeof(*h));
    h->mode = CG_NONE;
    if (is_fs(V1_ROOT "/memory", CGROUP_SUPER_MAGIC)) {
        if (detect_v1(h) == 0)
            return 0;
        return -ENOENT;
    }
    if (detect_v2(h) == 0)
        return 0;
    if (!h->why[0])
        fmt(h->why, sizeof(h->why), "no cgroup file system found");
    return -ENOENT;
}

static int dirs(const struct cg_host *h, const char *name, char out[3][600])
{
    int n = 0;
    fmt(out[n++], 600, "%s/%s", h->memory, name);
    if (h->mode == CG_V1) {
        fmt(out[n++], 600, "%s/%s", h->pids, name);
        fmt(out[n++], 600, "%s/%s", h->cpuacct, name);
    }
    return n;
}

static void kill_procs(const char *dir)
{
    char buf[8192];
    int fd = open_ro(dir, "cgroup.procs");
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *tok = strtok(buf, "\n"); tok; tok = strtok(NULL, "\n")) {
        pid_t p = (pid_t)atoi(tok);
        if (p > 1)
            kill(p, SIGKILL);
    }
}

static void remove_dir(const char *dir)
{
    /* A tree that was just killed may take a moment to leave the cgroup. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            return;
        kill_procs(dir);
        usleep(i < 10 ? 100 : 1000);
    }
}

void cg_slot_cleanup(const struct cg_host *h, const char *name)
{
    char d[3][600];
    int n = dirs(h, name, d);
    for (int i = 0; i < n; i++) {
        if (h->mode == CG_V2)
            write_str(d[i], "cgroup.kill", "1");
        remove_dir(d[i]);
    }
}

void cg_sweep(const struct cg_host *h, bool (*lock_free)(void *ctx, const char *name), void *ctx)
{
    if (h->mode == CG_NONE)
        return;
    const char *roots[3] = {h->memory, h->mode == CG_V1 ? h->pids : NULL,
                            h->mode == CG_V1 ? h->cpuacct : NULL};
    for (int i = 0; i < 3; i++) {
        if (!roots[i])
            continue;
        DIR *d = opendir(roots[i]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strncmp(e->d_name, "pyroom-pool-", 12) == 0) {
                /* a warm pool's cgroup whose supervisor is gone */
                char p[800];
                fmt(p, sizeof(p), "%s/%s", roots[i], e->d_name);
                if (kill(atoi(e->d_name + 12), 0) < 0 && errno == ESRCH) {
                    if (h->mode == CG_V2)
                        write_str(p, "cgroup.kill", "1");
                    remove_dir(p);
                }
                continue;
            }
            if (strncmp(e->d_name, "pyroom-sb", 9) == 0 ||
                strncmp(e->d_name, "pyroom-probe-", 13) == 0) {
                char p[800];
                if (e->d_name[7] == 'p') {
                    /* a probe of a dead process */
                    fmt(p, sizeof(p), "%s/%s", roots[i], e->d_name);
                    if (kill(atoi(e->d_name + 13), 0) < 0 && errno == ESRCH)
                        rmdir(p);
                    continue;
                }
                if (lock_free(ctx, e->d_name)) {
                    fmt(p, sizeof(p), "%s/%s", roots[i], e->d_name);
                    if (h->mode == CG_V2)
                        write_str(p, "cgroup.kill", "1");
                    remove_dir(p);
                }
            }
        }
        closedir(d);
    }
}

int cg_create(const struct cg_host *h, const char *name, const struct sb_limits *l,
              struct cg_proc *ret, struct err *err)
{
    char d[3][600];
    int n = dirs(h, name, d), r;

    memset(ret, 0, sizeof(*ret));
    ret->host = h;
    ret->cpu_fd = ret->pids_ev_fd = ret->oom_fd = -1;
    snprintf(ret->name, sizeof(ret->name), "%s", name);
    for (int i = 0; i < n; i++) {
        if (mkdir(d[i], 0755) < 0) {
            if (errno != EEXIST)
                return err_set(err, errno, "mkdir '%s'", d[i]);
            cg_slot_cleanup(h, name);
            if (mkdir(d[i], 0755) < 0)
                return err_set(err, errno, "mkdir '%s'", d[i]);
        }
        ret->created = true;
    }
    if (h->mode == CG_V1) {
        if (l->memory_bytes) {
            if ((r = write_u64(d[0], "memory.limit_in_bytes", l->memory_bytes)) < 0)
                goto fail_w;
            /* memory + swap: without it a tree could swap its way past the limit. */
            r = write_u64(d[0], "memory.memsw.limit_in_bytes", l->memory_bytes);
            if (r < 0 && r != -ENOENT)
                goto fail_w;
        }
        if (l->pids && (r = write_u64(d[1], "pids.max", l->pids)) < 0)
            goto fail_w;
        ret->cpu_fd = open_ro(d[2], "cpuacct.usage");
        ret->pids_ev_fd = open_ro(d[1], "pids.events");
        ret->oom_fd = open_ro(d[0], "memory.oom_control");
    } else {
        if (l->memory_bytes) {
            if ((r = write_u64(d[0], "memory.max", l->memory_bytes)) < 0)
                goto fail_w;
            (void)write_str(d[0], "memory.swap.max", "0");
            (void)write_str(d[0], "memory.oom.group", "1");
        }
        if (l->pids && (r = write_u64(d[0], "pids.max", l->pids)) < 0)
            goto fail_w;
        ret->cpu_fd = open_ro(d[0], "cpu.stat");
        ret->pids_ev_fd = open_ro(d[0], "pids.events");
        ret->oom_fd = open_ro(d[0], "memory.events");
    }
    return 0;
fail_w:
    err_set(err, -r, "set limits of cgroup '%s'", name);
    cg_destroy(ret);
    return r;
}

int cg_procs_paths(const struct cg_proc *c, char out[3][640])
{
    char d[3][600];
    int n = dirs(c->host, c->name, d);
    for (int i = 0; i < n; i++)
        fmt(out[i], 640, "%s/cgroup.procs", d[i]);
    return n;
}

/* The number after `key` in a "key value" file, or the first number when key is NULL. */
static uint64_t read_num(int fd, const char *key)
{
    char buf[1024];
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (!key)
        return strtoull(buf, NULL, 10);
    size_t kl = strlen(key);
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
            return strtoull(p + kl + 1, NULL, 10);
    }
    return 0;
}

uint64_t cg_cpu_ns(const struct cg_proc *c)
{
    if (c->host->mode == CG_V1)
        return read_num(c->cpu_fd, NULL);
    return read_num(c->cpu_fd, "usage_usec") * 1000;
}

uint64_t cg_pids_max_events(const struct cg_proc *c)
{
    return read_num(c->pids_ev_fd, "max");
}

uint64_t cg_oom_kills(const struct cg_proc *c)
{
    return read_num(c->oom_fd, "oom_kill");
}

uint64_t cg_memory_peak(const struct cg_proc *c)
{
    char d[3][600];
    dirs(c->host, c->name, d);
    int fd = open_ro(d[0], c->host->mode == CG_V1 ? "memory.max_usage_in_bytes" : "memory.peak");
    if (fd < 0 && c->host->mode == CG_V2)
        fd = open_ro(d[0], "memory.current");
    uint64_t v = read_num(fd, NULL);
    if (fd >= 0)
        close(fd);
    return v;
}

void cg_kill(const struct cg_proc *c)
{
    char d[3][600];
    dirs(c->host, c->name, d);
    if (c->host->mode == CG_V2)
        write_str(d[0], "cgroup.kill", "1");
    else
        kill_procs(d[1]);
}

uint64_t cg_memory_current(const struct cg_proc *c)
{
    char d[3][600];
    dirs(c->host, c->name, d);
    int fd = open_ro(d[0], c->host->mode == CG_V1 ? "memory.usage_in_bytes" : "memory.current");
    uint64_t v = read_num(fd, NULL);
    if (fd >= 0)
        close(fd);
    return v;
}

void cg_destroy(struct cg_proc *c)
{
    if (!c->host)
        return;
    int *fds[] = {&c->cpu_fd, &c->pids_ev_fd, &c->oom_fd};
    for (int i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    if (c->created)
        cg_slot_cleanup(c->host, c->name);
    c->created = false;
}
