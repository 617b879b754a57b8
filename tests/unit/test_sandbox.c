/* Unit tests of src/sandbox through sandbox.h (the hostile suite is tests/sandbox/). */
#include "sandbox/sandbox.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Test(sandbox, limit_names)
{
    cr_assert_str_eq(sb_limit_name(SB_LIMIT_NONE), "none");
    cr_assert_str_eq(sb_limit_name(SB_LIMIT_WALL_TIME), "wall_time");
    cr_assert_str_eq(sb_limit_name(SB_LIMIT_CPU_TIME), "cpu_time");
    cr_assert_str_eq(sb_limit_name(SB_LIMIT_MEMORY), "memory");
    cr_assert_str_eq(sb_limit_name(SB_LIMIT_PIDS), "pids");
    cr_assert_str_eq(sb_limit_name(SB_LIMIT_OUTPUT), "output");
    cr_assert_str_eq(sb_limit_name(SB_LIMIT_DISK), "disk");
}

Test(sandbox, limits_only_go_down)
{
    struct sb_limits l, req = {0};
    sb_limits_default(&l);
    cr_assert_eq(l.wall_ms, 10000);
    cr_assert_eq(l.memory_bytes, 256u << 20);
    cr_assert(l.pids > 1, "a pids limit of 1 breaks pandas' threads");
    req.wall_ms = 500;             /* lower: taken */
    req.memory_bytes = 1ull << 40; /* higher: ignored */
    req.pids = 0;                  /* unset: ignored */
    sb_limits_lower(&l, &req);
    cr_assert_eq(l.wall_ms, 500);
    cr_assert_eq(l.memory_bytes, 256u << 20);
    cr_assert_eq(l.pids, 64);
    struct sb_limits none = {0};
    sb_limits_lower(&none, &req); /* "no limit" takes any requested limit */
    cr_assert_eq(none.wall_ms, 500);
}

static struct sb_host *host(void)
{
    struct sb_host *h = NULL;
    struct err e = {0};
    if (geteuid() != 0)
        cr_skip_test("needs root");
    cr_assert_eq(sb_host_new(NULL, &h, &e), 0, "%s", e.msg);
    return h;
}

Test(sandbox, spawn_exit_code_and_output)
{
    struct sb_host *h = host();
    const char *argv[] = {"sh", "-c", "echo hi; exit 7", NULL};
    struct sb_spec spec = {.argv = argv};
    sb_limits_default(&spec.limits);
    struct sb_proc *p;
    struct sb_stdio io;
    struct err e = {0};
    cr_assert_eq(sb_spawn(h, &spec, &p, &io, &e), 0, "%s", e.msg);
    cr_assert_eq(io.pty, -1);
    close(io.in);
    char buf[16] = {0};
    cr_assert_eq(read(io.out, buf, sizeof(buf) - 1), 3);
    cr_assert_str_eq(buf, "hi\n");
    struct sb_result r;
    cr_assert_eq(sb_wait(p, &r), 0);
    cr_assert_eq(r.exit_code, 7);
    cr_assert_eq(r.signal, 0);
    cr_assert_eq(r.limit_hit, SB_LIMIT_NONE);
    close(io.out);
    close(io.err);
    sb_proc_free(p);
    sb_host_free(h);
}

Test(sandbox, kill_reason_is_reported)
{
    struct sb_host *h = host();
    const char *argv[] = {"sleep", "100", NULL};
    struct sb_spec spec = {.argv = argv};
    sb_limits_default(&spec.limits);
    struct sb_proc *p;
    struct sb_stdio io;
    struct err e = {0};
    cr_assert_eq(sb_spawn(h, &spec, &p, &io, &e), 0, "%s", e.msg);
    struct sb_result r;
    cr_assert_eq(sb_reap(p, &r), -EAGAIN);
    sb_kill(p, SB_LIMIT_OUTPUT);
    sb_kill(p, SB_LIMIT_WALL_TIME); /* the first reason wins */
    cr_assert_eq(sb_wait(p, &r), 0);
    cr_assert_eq(r.signal, SIGKILL);
    cr_assert(r.killed);
    cr_assert_eq(r.limit_hit, SB_LIMIT_OUTPUT);
    close(io.in);
    close(io.out);
    close(io.err);
    sb_proc_free(p);
    sb_host_free(h);
}

Test(sandbox, bad_specs_are_refused)
{
    struct sb_host *h = host();
    struct sb_proc *p;
    struct sb_stdio io;
    struct err e = {0};
    const char *empty[] = {NULL};
    struct sb_spec spec = {.argv = empty};
    cr_assert_eq(sb_spawn(h, &spec, &p, &io, &e), -EINVAL);
    const char *argv[] = {"true", NULL};
    spec.argv = argv;
    spec.cwd = "relative";
    cr_assert_eq(sb_spawn(h, &spec, &p, &io, &e), -EINVAL);
    spec.cwd = NULL;
    spec.workspace = "/nonexistent/workspace";
    cr_assert_eq(sb_spawn(h, &spec, &p, &io, &e), -ENOENT);
    const char *missing[] = {"no-such-program-xyz", NULL};
    spec.workspace = NULL;
    spec.argv = missing;
    cr_assert_eq(sb_spawn(h, &spec, &p, &io, &e), -ENOENT);
    cr_assert(strstr(e.msg, "not found"), "%s", e.msg);
    sb_host_free(h);
}

/* The directory of pid's memory cgroup (v1) or its v2 cgroup; "" when it has none. */
static void cgroup_dir_of(pid_t pid, char *out, size_t cap)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(path, "re");
    out[0] = '\0';
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strchr(line, ':');
        char *rel = colon ? strchr(colon + 1, ':') : NULL;
        if (!rel || !strcmp(rel + 1, "/"))
            continue;
        if (!strncmp(colon + 1, "memory:", 7))
            snprintf(out, cap, "/sys/fs/cgroup/memory%s", rel + 1);
        else if (!out[0] && !strncmp(line, "0::", 3))
            snprintf(out, cap, "/sys/fs/cgroup%s", rel + 1);
    }
    if (f)
        fclose(f);
}

/* The result comes before the clean-up: sb_reap() reports while the sandbox's cgroup still
 * exists (the supervisor sends the result, then frees), and sb_proc_free() removes it. */
Test(sandbox, result_before_cgroup_removal)
{
    struct sb_host *h = host();
    const char *argv[] = {"cat", NULL};
    struct sb_spec spec = {.argv = argv};
    sb_limits_default(&spec.limits);
    struct sb_proc *p;
    struct sb_stdio io;
    struct err e = {0};
    cr_assert_eq(sb_spawn(h, &spec, &p, &io, &e), 0, "%s", e.msg);
    char dir[700];
    cgroup_dir_of(sb_proc_pid(p), dir, sizeof(dir));
    if (!dir[0])
        cr_skip_test("host: no cgroups for sandboxes on this machine");
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0, "the sandbox's cgroup %s exists while it runs", dir);
    close(io.in); /* cat ends */
    struct sb_result r;
    cr_assert_eq(sb_wait(p, &r), 0);
    cr_assert_eq(r.exit_code, 0);
    cr_assert_eq(stat(dir, &st), 0, "%s is still there when the result is known", dir);
    sb_proc_free(p);
    cr_assert_eq(stat(dir, &st), -1, "%s is removed by sb_proc_free", dir);
    cr_assert_eq(errno, ENOENT);
    close(io.out);
    close(io.err);
    sb_host_free(h);
}
