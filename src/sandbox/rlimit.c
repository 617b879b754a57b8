/*
 * rlimit.c: per-process resource limits (child side).
 *
 * Always: open files, file size, CPU time (a per-process backstop; the cgroup check is the
 * exact, whole-tree one) and no core dumps. Where cgroups are unusable the fallback adds
 * RLIMIT_DATA for memory (per process, counts reserved rather than used memory) and
 * RLIMIT_NPROC for pids (counted per uid in the sandbox's user namespace).
 */
#include "sandbox/internal.h"

#include <errno.h>
#include <sys/resource.h>

static int set(int res, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    return setrlimit(res, &rl) < 0 ? -errno : 0;
}

/* Never raises a limit the host already lowered (we may lack CAP_SYS_RESOURCE). */
static int lower(int res, rlim_t v, const char *name, const char **what)
{
    struct rlimit cur;
    if (getrlimit(res, &cur) < 0) {
        *what = name;
        return -errno;
    }
    rlim_t hard = cur.rlim_max != RLIM_INFINITY && cur.rlim_max < v ? cur.rlim_max : v;
    int r = set(res, hard, hard);
    if (r < 0)
        *what = name;
    return r;
}

int rlimit_apply(const struct child_args *a, const char **what)
{
    const struct sb_limits *l = &a->limits;
    int r;

    if ((r = lower(RLIMIT_CORE, 0, "RLIMIT_CORE", what)) < 0)
        return r;
    if (l->open_files && (r = lower(RLIMIT_NOFILE, l->open_files, "RLIMIT_NOFILE", what)) < 0)
        return r;
    if (l->file_size_bytes &&
        (r = lower(RLIMIT_FSIZE, l->file_size_bytes, "RLIMIT_FSIZE", what)) < 0)
        return r;
    if (l->cpu_ms) {
        /* Soft at the limit (SIGXCPU), hard one second later (SIGKILL). */
        rlim_t s = (rlim_t)((l->cpu_ms + 999) / 1000);
        struct rlimit cur;
        if (getrlimit(RLIMIT_CPU, &cur) == 0 &&
            (cur.rlim_max == RLIM_INFINITY || cur.rlim_max > s + 1)) {
            if ((r = set(RLIMIT_CPU, s, s + 1)) < 0) {
                *what = "RLIMIT_CPU";
                return r;
            }
        }
    }
    if (a->rlimit_memory && l->memory_bytes &&
        (r = lower(RLIMIT_DATA, l->memory_bytes, "RLIMIT_DATA", what)) < 0)
        return r;
    if (a->rlimit_nproc && l->pids && (r = lower(RLIMIT_NPROC, l->pids, "RLIMIT_NPROC", what)) < 0)
        return r;
    return 0;
}
