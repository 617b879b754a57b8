/*
 * cmd_sandbox.c: `pyroom sandbox run [OPTIONS] -- CMD ARGS...`, the sandbox driven directly,
 * for tests, benchmarks and administrators (like bwrap, with pyroom's own policy), and
 * `pyroom sandbox doctor`. A command of the binary, beside main.c: it sits above exec/ (it
 * starts a supervisor), so it lives outside the sandbox library.
 *
 * It starts a supervisor (exactly as the server does), runs one sandbox, relays our stdin
 * to it and its stdout/stderr to ours (counting them against --output, the total output
 * cap: the reader enforces it, as the runs code will), then prints the result as one JSON
 * line on stderr and exits with the program's exit code (128 + signal when killed).
 */
#include "cmd_sandbox.h"

#include "base/clock.h"
#include "exec/supervisor.h"
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- doctor ----------------------------------------------------------------------- */

static int read_text(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static void say(const char *status, const char *what, const char *detail, const char *fix)
{
    printf("%-9s %-18s %s\n", status, what, detail);
    if (fix)
        printf("%-9s %-18s fix: %s\n", "", "", fix);
}

/* doctor: the kernel and user namespaces. 1 when sandboxes cannot run. */
static int doctor_kernel(void)
{
    char buf[512], line[700];
    struct utsname u;
    int bad = 0;

    if (uname(&u) == 0) {
        snprintf(line, sizeof(line), "%s %s, running as uid %d", u.sysname, u.release,
                 (int)geteuid());
        say("ok", "kernel", line, NULL);
    }
    if (read_text("/proc/sys/user/max_user_namespaces", buf, sizeof(buf)) == 0 && atol(buf) == 0) {
        say("missing", "user namespaces", "user.max_user_namespaces is 0",
            "sysctl -w user.max_user_namespaces=15000");
        bad = 1;
    }
    if (geteuid() != 0 &&
        read_text("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", buf, sizeof(buf)) ==
            0 &&
        atol(buf) != 0)
        say("degraded", "user namespaces", "AppArmor restricts unprivileged user namespaces",
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or run pyroom as root");
    return bad;
}

/* doctor: cgroups and host uids. */
static void doctor_cgroups(struct sb_host *h)
{
    if (sb_host_has_cgroups(h)) {
        say("ok", "cgroups", sb_host_summary(h), NULL);
    } else {
        say("degraded", "cgroups", sb_host_summary(h),
            geteuid() == 0
                ? "mount the memory, pids and cpu(acct) controllers (cgroup v1), or on cgroup v2 "
                  "run pyroom in a cgroup of its own with them delegated (systemd: "
                  "Delegate=yes in the unit)"
                : "run pyroom as root, or under systemd with Delegate=yes (cgroup v2)");
    }
    if (sb_host_has_cgroups(h) && strstr(sb_host_summary(h), "cgroup v1")) {
        char mounts[16384] = "";
        FILE *f = fopen("/proc/self/mounts", "re");
        if (f) {
            size_t n = fread(mounts, 1, sizeof(mounts) - 1, f);
            mounts[n] = '\0';
            fclose(f);
        }
        if (!strstr(mounts, "favordynmods"))
            say("hint", "cgroup latency",
                "moving a sandbox into its v1 cgroups waits for an RCU grace period: 1-15 ms per "
                "sandbox on a busy host",
                "mkdir /sys/fs/cgroup/pyroom && mount -t cgroup -o none,name=pyroom,favordynmods "
                "pyroom /sys/fs/cgroup/pyroom (kernel >= 6.2; makes fork and exit a little "
                "slower host-wide)");
    }
    if (geteuid() != 0)
        say("degraded", "host uids",
            "not root: every sandbox runs as this user's host uid (no per-slot uids)",
            "run pyroom as root for a distinct host uid per sandbox");
}

/* doctor: Python and the usual libraries, as a sandbox sees them. 1 when python3 fails. */
static int doctor_python(struct sb_host *h)
{
    char buf[512], line[700];
    struct err e = {0};
    int bad = 0;
    static const char *const argv[] = {"python3", "-c",
                                       "import sys\n"
                                       "print('python', sys.version.split()[0])\n"
                                       "for m in ['numpy', 'pandas', 'scipy', 'matplotlib']:\n"
                                       "    try:\n"
                                       "        print(m, __import__(m).__version__)\n"
                                       "    except Exception as e:\n"
                                       "        print(m, 'MISSING', type(e).__name__)\n",
                                       NULL};
    struct sb_spec spec = {.argv = argv};
    sb_limits_default(&spec.limits);
    spec.limits.wall_ms = spec.limits.cpu_ms = 60000;
    struct sb_proc *p;
    struct sb_stdio io;
    struct sb_result res;
    if (sb_spawn(h, &spec, &p, &io, &e) < 0) {
        say("missing", "python3", e.msg, "apt-get install python3");
        bad = 1;
    } else {
        close(io.in);
        close(io.err);
        FILE *f = fdopen(io.out, "r");
        while (f && fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            char *sp = strchr(line, ' ');
            if (!sp)
                continue;
            *sp = '\0';
            if (strstr(sp + 1, "MISSING")) {
                snprintf(buf, sizeof(buf), "apt-get install python3-%.64s", line);
                say("missing", line, "cannot be imported in a sandbox", buf);
            } else {
                say("ok", line, sp + 1, NULL);
            }
        }
        if (f)
            fclose(f);
        (void)sb_wait(p, &res);
        sb_proc_free(p);
        if (res.exit_code != 0 || res.signal) {
            snprintf(line, sizeof(line), "python3 in a sandbox failed (exit %d, signal %d)",
                     res.exit_code, res.signal);
            say("missing", "python3", line, "apt-get install python3");
            bad = 1;
        }
    }
    return bad;
}

/* doctor: free disk where workspaces and the database live. */
static void doctor_disk(void)
{
    char line[700];
    struct statvfs sv;
    const char *paths[] = {".", "/tmp", NULL};
    for (const char **d = paths; *d; d++) {
        if (statvfs(*d, &sv) < 0)
            continue;
        unsigned long long mib = (unsigned long long)sv.f_bavail * sv.f_frsize >> 20;
        snprintf(line, sizeof(line), "%llu MiB free under %s", mib, *d);
        if (mib < 1024)
            say("degraded", "disk", line,
                "free some space: workspaces and the database live there");
        else
            say("ok", "disk", line, NULL);
    }
}

/* `pyroom sandbox doctor`: what this host allows, in plain words, with the fix for each
 * gap. Exit status 1 when sandboxes cannot run at all. */
static int doctor(void)
{
    int bad = doctor_kernel();
    struct sb_host *h = NULL;
    struct err e = {0};
    if (sb_host_new(NULL, &h, &e) < 0) {
        say("missing", "sandbox", e.msg, NULL);
        return 1;
    }
    say("ok", "namespaces", "user, pid, mount, net, ipc, uts and cgroup namespaces work", NULL);
    say("ok", "seccomp", "filter compiled at build time (libseccomp), loaded per sandbox", NULL);
    doctor_cgroups(h);
    bad |= doctor_python(h);
    doctor_disk();
    sb_host_free(h);
    return bad;
}

static void usage(FILE *f)
{
    fputs("usage: pyroom sandbox run [OPTIONS] -- CMD [ARGS...]\n"
          "       pyroom sandbox info      the mode and which limits are exact\n"
          "       pyroom sandbox doctor    what this host allows, and how to fix gaps\n"
          "options (sizes take K, M, G suffixes; 0 = no limit):\n"
          "  --workspace DIR     bind DIR read-write at /home/user (default: empty tmpfs)\n"
          "  --cwd DIR           working directory inside (default /home/user)\n"
          "  --env NAME=VALUE    add to the environment (repeatable)\n"
          "  --pty               run on a terminal of the sandbox's own devpts\n"
          "  --rows N --cols N   terminal size\n"
          "  --wall-ms N         wall time (default 10000)      --time S   the same in s\n"
          "  --cpu-ms N          CPU time of the tree (default 10000)\n"
          "  --memory BYTES      memory+swap of the tree (default 256M)\n"
          "  --pids N            processes+threads (default 64)\n"
          "  --open-files N      per process (default 256)\n"
          "  --file-size BYTES   largest file (default 50M)\n"
          "  --tmpfs BYTES       size of /tmp (default 64M)\n"
          "  --output BYTES      stdout+stderr relayed (default 1M)\n"
          "  --workspace-bytes BYTES   checked at exit (default 50M)\n"
          "  --no-cgroups        use the rlimit fallback\n"
          "  --run-dir DIR       slot locks (default /run/pyroom as root)\n"
          "  --repeat N          run N times in one supervisor, one result line each with\n"
          "                      client_us, the time seen by the caller (benchmarks)\n"
          "  --host              no sandbox: plain fork+exec, timed the same way (baseline)\n"
          "The result is printed as one JSON line on stderr.\n",
          f);
}

static int parse_size(const char *s, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -EINVAL;
    uint64_t mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024ull * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end)
        return -EINVAL;
    *ret = (uint64_t)v * mul;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

struct relay {
    struct sup_proc *p;
    uint64_t cap, out_bytes, err_bytes;
    bool truncated;
    bool err_midline;   /* the program's stderr did not end with a newline */
    uint64_t client_us; /* spawn to result, as the caller saw it */
};

/* Copies one read from `from` to `to`, within the output cap. Returns false at EOF. */
static bool relay_out(struct relay *r, int from, int to, uint64_t *count)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    uint64_t used = r->out_bytes + r->err_bytes;
    size_t keep = (size_t)n;
    if (r->cap && used + (uint64_t)n > r->cap) {
        keep = used >= r->cap ? 0 : (size_t)(r->cap - used);
        if (!r->truncated) {
            r->truncated = true;
            sup_kill(r->p, SB_LIMIT_OUTPUT);
        }
    }
    if (keep) {
        (void)write_all(to, buf, keep);
        if (to == 2)
            r->err_midline = buf[keep - 1] != '\n';
    }
    *count += keep;
    return true;
}

static void print_result(const struct sb_result *res, const struct relay *r)
{
    json_t *o = json_pack("{s:i, s:i, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:b, s:I}", "exit_code",
                          res->exit_code, "signal", res->signal, "limit_hit",
                          sb_limit_name(res->limit_hit), "killed", res->killed, "wall_ms",
                          (json_int_t)res->wall_ms, "cpu_ms", (json_int_t)res->cpu_ms,
                          "peak_memory_bytes", (json_int_t)res->peak_memory_bytes, "stdout_bytes",
                          (json_int_t)r->out_bytes, "stderr_bytes", (json_int_t)r->err_bytes,
                          "truncated", r->truncated, "client_us", (json_int_t)r->client_us);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    /* always a line of its own: the last line of stderr */
    fprintf(stderr, "%s%s\n", r->err_midline ? "\n" : "", s ? s : "{}");
    free(s);
    json_decref(o);
}

static int fail_json(const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    fprintf(stderr, "%s\n", s ? s : "{\"error\":\"?\"}");
    free(s);
    json_decref(o);
    return 125;
}

static int run_pipes(struct relay *r)
{
    struct sup_proc *p = r->p;
    int in = 0;
    bool out_open = true, err_open = true, in_open = true;
    char buf[65536];
    while (out_open || err_open) {
        struct pollfd fds[3] = {
            {.fd = out_open ? p->io.out : -1, .events = POLLIN},
            {.fd = err_open ? p->io.err : -1, .events = POLLIN},
            {.fd = in_open ? in : -1, .events = POLLIN},
        };
        if (poll(fds, 3, -1) < 0 && errno != EINTR)
            return -errno;
        if (fds[0].revents && !relay_out(r, p->io.out, 1, &r->out_bytes))
            out_open = false;
        if (fds[1].revents && !relay_out(r, p->io.err, 2, &r->err_bytes))
            err_open = false;
        if (fds[2].revents) {
            ssize_t n = read(in, buf, sizeof(buf));
            if (n > 0 && write_all(p->io.in, buf, (size_t)n) == 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            /* EOF (or the program stopped reading): close its stdin */
            in_open = false;
            close(p->io.in);
            p->io.in = -1;
        }
    }
    return 0;
}

static int run_pty(struct relay *r)
{
    struct sup_proc *p = r->p;
    bool in_open = true;
    char buf[65536];
    for (;;) {
        struct pollfd fds[2] = {
            {.fd = p->io.pty, .events = POLLIN},
            {.fd = in_open ? 0 : -1, .events = POLLIN},
        };
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            return -errno;
        if (fds[0].revents && !relay_out(r, p->io.pty, 1, &r->out_bytes))
            return 0; /* EIO: every holder of the slave is gone */
        if (fds[1].revents) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n > 0)
                (void)write_all(p->io.pty, buf, (size_t)n);
            else if (n == 0 || errno != EINTR) {
                in_open = false;
                /* a ^D at line start ends the terminal's input */
                (void)write_all(p->io.pty, "\x04", 1);
            }
        }
    }
}

enum {
    OPT_WORKSPACE = 1000,
    OPT_CWD,
    OPT_ENV,
    OPT_PTY,
    OPT_ROWS,
    OPT_COLS,
    OPT_WALL,
    OPT_TIME,
    OPT_CPU,
    OPT_MEM,
    OPT_PIDS,
    OPT_FILES,
    OPT_FSIZE,
    OPT_TMPFS,
    OPT_OUTPUT,
    OPT_WSBYTES,
    OPT_NOCG,
    OPT_RUNDIR,
    OPT_REPEAT,
    OPT_HOST,
    OPT_HELP,
};

/* The baseline for benchmarks: the same command, unsandboxed, timed like a sandbox. */
static int run_host(char **argv, uint64_t repeat)
{
    for (uint64_t i = 0; i < repeat; i++) {
        uint64_t t0 = (uint64_t)clock_mono_us();
        pid_t pid = fork();
        if (pid < 0)
            return fail_json(strerror(errno));
        if (pid == 0) {
            execvp(argv[0], argv);
            _exit(127);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        fprintf(stderr, "{\"exit_code\":%d,\"client_us\":%llu}\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
                (unsigned long long)((uint64_t)clock_mono_us() - t0));
    }
    return 0;
}

/* What `pyroom sandbox run|info` was asked. */
struct cli {
    struct sb_spec spec;
    struct sup_config cfg;
    const char *env[SB_MAX_ENV + 1];
    size_t envc;
    uint64_t repeat;
    bool host, info;
};

/* Applies one parsed option (v: its value as a number). -1 to go on, else the exit status. */
static int apply_option(struct cli *cli, int c, uint64_t v)
{
    struct sb_spec *spec = &cli->spec;
    switch (c) {
    case OPT_WORKSPACE:
        spec->workspace = optarg;
        return -1;
    case OPT_CWD:
        spec->cwd = optarg;
        return -1;
    case OPT_ENV:
        if (cli->envc >= SB_MAX_ENV) {
            fputs("pyroom sandbox: too many --env\n", stderr);
            return 2;
        }
        cli->env[cli->envc++] = optarg;
        return -1;
    case OPT_PTY:
        spec->pty = true;
        return -1;
    case OPT_ROWS:
        spec->rows = (unsigned short)v;
        return -1;
    case OPT_COLS:
        spec->cols = (unsigned short)v;
        return -1;
    case OPT_WALL:
        spec->limits.wall_ms = v;
        return -1;
    case OPT_TIME:
        spec->limits.wall_ms = v * 1000;
        return -1;
    case OPT_CPU:
        spec->limits.cpu_ms = v;
        return -1;
    case OPT_MEM:
        spec->limits.memory_bytes = v;
        return -1;
    case OPT_PIDS:
        spec->limits.pids = v;
        return -1;
    case OPT_FILES:
        spec->limits.open_files = v;
        return -1;
    case OPT_FSIZE:
        spec->limits.file_size_bytes = v;
        return -1;
    case OPT_TMPFS:
        spec->limits.tmpfs_bytes = v;
        return -1;
    case OPT_OUTPUT:
        spec->limits.output_bytes = v;
        return -1;
    case OPT_WSBYTES:
        spec->limits.workspace_bytes = v;
        return -1;
    case OPT_NOCG:
        cli->cfg.sandbox.no_cgroups = true;
        return -1;
    case OPT_RUNDIR:
        cli->cfg.sandbox.run_dir = optarg;
        return -1;
    case OPT_REPEAT:
        cli->repeat = v ? v : 1;
        return -1;
    case OPT_HOST:
        cli->host = true;
        return -1;
    case OPT_HELP:
        usage(stdout);
        return 0;
    default:
        usage(stderr);
        return 2;
    }
}

/* Parses the options after "run" or "info" into cli. -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct cli *cli)
{
    static const struct option opts[] = {
        {"workspace", required_argument, NULL, OPT_WORKSPACE},
        {"cwd", required_argument, NULL, OPT_CWD},
        {"env", required_argument, NULL, OPT_ENV},
        {"pty", no_argument, NULL, OPT_PTY},
        {"rows", required_argument, NULL, OPT_ROWS},
        {"cols", required_argument, NULL, OPT_COLS},
        {"wall-ms", required_argument, NULL, OPT_WALL},
        {"time", required_argument, NULL, OPT_TIME},
        {"cpu-ms", required_argument, NULL, OPT_CPU},
        {"memory", required_argument, NULL, OPT_MEM},
        {"pids", required_argument, NULL, OPT_PIDS},
        {"open-files", required_argument, NULL, OPT_FILES},
        {"file-size", required_argument, NULL, OPT_FSIZE},
        {"tmpfs", required_argument, NULL, OPT_TMPFS},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"workspace-bytes", required_argument, NULL, OPT_WSBYTES},
        {"no-cgroups", no_argument, NULL, OPT_NOCG},
        {"run-dir", required_argument, NULL, OPT_RUNDIR},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"host", no_argument, NULL, OPT_HOST},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct sb_spec *spec = &cli->spec;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        uint64_t v = 0;
        if (optarg && c != OPT_WORKSPACE && c != OPT_CWD && c != OPT_ENV && c != OPT_RUNDIR &&
            parse_size(optarg, &v) < 0) {
            fprintf(stderr, "pyroom sandbox: bad number '%s'\n", optarg);
            return 2;
        }
        int r = apply_option(cli, c, v);
        if (r >= 0)
            return r;
    }
    cli->env[cli->envc] = NULL;
    spec->env = cli->env;
    if (!cli->info && optind >= argc) {
        usage(stderr);
        return 2;
    }
    spec->argv = (const char *const *)(argv + optind);
    return -1;
}

/* Runs spec repeat times through sup, printing each result; the last exit status. */
static int run_repeat(struct sup *sup, const struct sb_spec *spec, uint64_t repeat)
{
    struct err e = {0};
    int code = 0;
    for (uint64_t i = 0; i < repeat; i++) {
        struct relay r = {.cap = spec->limits.output_bytes};
        uint64_t t0 = (uint64_t)clock_mono_us();
        if (sup_spawn(sup, spec, &r.p, &e) < 0)
            return fail_json(e.msg);
        int rc = r.p->io.pty >= 0 ? run_pty(&r) : run_pipes(&r);
        struct sb_result res;
        int wr = sup_wait(r.p, &res);
        r.client_us = (uint64_t)clock_mono_us() - t0;
        int *fds[] = {&r.p->io.in, &r.p->io.out, &r.p->io.err, &r.p->io.pty};
        for (int k = 0; k < 4; k++)
            if (*fds[k] >= 0)
                close(*fds[k]);
        sup_proc_free(r.p);
        if (rc < 0 || wr < 0)
            return fail_json(strerror(rc < 0 ? -rc : -wr));
        print_result(&res, &r);
        code = res.signal ? 128 + res.signal : res.exit_code;
    }
    return code;
}

int cmd_sandbox_main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "doctor") == 0)
        return doctor();
    if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "info") != 0)) {
        usage(stderr);
        return 2;
    }
    static struct cli cli; /* large (the env array); one per process */
    cli.info = strcmp(argv[1], "info") == 0;
    cli.repeat = 1;
    sb_limits_default(&cli.spec.limits);
    int r = parse_args(argc - 1, argv + 1, &cli);
    if (r >= 0)
        return r;
    signal(SIGPIPE, SIG_IGN);
    if (cli.host)
        return run_host((char **)cli.spec.argv, cli.repeat);
    struct sup *sup = NULL;
    struct err e = {0};
    cli.cfg.sandbox.no_ahead = cli.repeat == 1; /* one sandbox: nothing to make ahead */
    if (sup_start(&cli.cfg, &sup, &e) < 0)
        return fail_json(e.msg);
    int code = 0;
    if (cli.info)
        printf("%s\n", sup_summary(sup));
    else
        code = run_repeat(sup, &cli.spec, cli.repeat);
    sup_stop(sup);
    return code;
}
