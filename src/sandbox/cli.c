/*
 * cli.c: `pyroom sandbox run [OPTIONS] -- CMD ARGS...`, the sandbox driven directly, for
 * tests, benchmarks and administrators (like bwrap, with pyroom's own policy).
 *
 * It starts a supervisor (exactly as the server does), runs one sandbox, relays our stdin
 * to it and its stdout/stderr to ours (counting them against --output, the total output
 * cap: the reader enforces it, as the runs code will), then prints the result as one JSON
 * line on stderr and exits with the program's exit code (128 + signal when killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/supervisor.h"
#include "sandbox/sandbox.h"

static void usage(FILE *f)
{
    fputs("usage: pyroom sandbox run [OPTIONS] -- CMD [ARGS...]\n"
          "       pyroom sandbox info\n"
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
    bool err_midline; /* the program's stderr did not end with a newline */
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
    json_t *o = json_pack("{s:i, s:i, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:b}", "exit_code",
                          res->exit_code, "signal", res->signal, "limit_hit",
                          sb_limit_name(res->limit_hit), "killed", res->killed, "wall_ms",
                          (json_int_t)res->wall_ms, "cpu_ms", (json_int_t)res->cpu_ms,
                          "peak_memory_bytes", (json_int_t)res->peak_memory_bytes,
                          "stdout_bytes", (json_int_t)r->out_bytes, "stderr_bytes",
                          (json_int_t)r->err_bytes, "truncated", r->truncated);
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
    OPT_WORKSPACE = 1000, OPT_CWD, OPT_ENV, OPT_PTY, OPT_ROWS, OPT_COLS, OPT_WALL, OPT_TIME,
    OPT_CPU, OPT_MEM, OPT_PIDS, OPT_FILES, OPT_FSIZE, OPT_TMPFS, OPT_OUTPUT, OPT_WSBYTES,
    OPT_NOCG, OPT_RUNDIR, OPT_HELP,
};

int sb_cli_main(int argc, char **argv)
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
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "info") != 0)) {
        usage(stderr);
        return 2;
    }
    bool info = strcmp(argv[1], "info") == 0;
    struct sb_spec spec = {0};
    struct sup_config cfg = {0};
    const char *env[SB_MAX_ENV + 1];
    size_t envc = 0;
    sb_limits_default(&spec.limits);
    argc--;
    argv++;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        uint64_t v = 0;
        if (optarg && c != OPT_WORKSPACE && c != OPT_CWD && c != OPT_ENV && c != OPT_RUNDIR &&
            parse_size(optarg, &v) < 0) {
            fprintf(stderr, "pyroom sandbox: bad number '%s'\n", optarg);
            return 2;
        }
        switch (c) {
        case OPT_WORKSPACE:
            spec.workspace = optarg;
            break;
        case OPT_CWD:
            spec.cwd = optarg;
            break;
        case OPT_ENV:
            if (envc >= SB_MAX_ENV) {
                fputs("pyroom sandbox: too many --env\n", stderr);
                return 2;
            }
            env[envc++] = optarg;
            break;
        case OPT_PTY:
            spec.pty = true;
            break;
        case OPT_ROWS:
            spec.rows = (unsigned short)v;
            break;
        case OPT_COLS:
            spec.cols = (unsigned short)v;
            break;
        case OPT_WALL:
            spec.limits.wall_ms = v;
            break;
        case OPT_TIME:
            spec.limits.wall_ms = v * 1000;
            break;
        case OPT_CPU:
            spec.limits.cpu_ms = v;
            break;
        case OPT_MEM:
            spec.limits.memory_bytes = v;
            break;
        case OPT_PIDS:
            spec.limits.pids = v;
            break;
        case OPT_FILES:
            spec.limits.open_files = v;
            break;
        case OPT_FSIZE:
            spec.limits.file_size_bytes = v;
            break;
        case OPT_TMPFS:
            spec.limits.tmpfs_bytes = v;
            break;
        case OPT_OUTPUT:
            spec.limits.output_bytes = v;
            break;
        case OPT_WSBYTES:
            spec.limits.workspace_bytes = v;
            break;
        case OPT_NOCG:
            cfg.sandbox.no_cgroups = true;
            break;
        case OPT_RUNDIR:
            cfg.sandbox.run_dir = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    env[envc] = NULL;
    spec.env = env;
    if (!info && optind >= argc) {
        usage(stderr);
        return 2;
    }
    spec.argv = (const char *const *)(argv + optind);

    signal(SIGPIPE, SIG_IGN);
    struct sup *sup = NULL;
    struct err e = {0};
    if (sup_start(&cfg, &sup, &e) < 0)
        return fail_json(e.msg);
    if (info) {
        printf("%s\n", sup_summary(sup));
        sup_stop(sup);
        return 0;
    }
    struct relay r = {.cap = spec.limits.output_bytes};
    if (sup_spawn(sup, &spec, &r.p, &e) < 0) {
        sup_stop(sup);
        return fail_json(e.msg);
    }
    int rc = r.p->io.pty >= 0 ? run_pty(&r) : run_pipes(&r);
    struct sb_result res;
    int wr = sup_wait(r.p, &res);
    int *fds[] = {&r.p->io.in, &r.p->io.out, &r.p->io.err, &r.p->io.pty};
    for (int i = 0; i < 4; i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    sup_proc_free(r.p);
    sup_stop(sup);
    if (rc < 0 || wr < 0)
        return fail_json(strerror(rc < 0 ? -rc : -wr));
    print_result(&res, &r);
    return res.signal ? 128 + res.signal : res.exit_code;
}
