/* term_env: environments (directory, sync, shells), the reaper and leases; see
 * term_internal.h. */
#include "base/clock.h"
#include "exec/term_internal.h"

/* ---- the reaper: teardown and leases, off the loop (they touch disk and database) ----- */

/* An environment's directory goes: its file system with one unmount (a sandbox still
 * holding it lets go when it ends), then the directory (a tree when it had no file system
 * of its own). */
static void remove_env_dir(struct terms *t, const char *name)
{
    (void)sb_wsfs_unmount(t->envs_dirfd, name);
    (void)fsdir_remove_tree(t->envs_dirfd, name);
}

static bool reapable(const struct env *env)
{
    return env->ending && !env->terms && !env->refs && !env->starting && !env->reaping;
}

void *reaper_main(void *arg)
{
    struct terms *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        struct env *env = NULL;
        for (struct env *e = t->envs; e && !env; e = e->next)
            if (reapable(e))
                env = e;
        if (env) {
            env->reaping = true;
            pthread_mutex_unlock(&t->mu);
            wsync_close(env->sync); /* the last changes reach the store */
            env->sync = NULL;
            close(env->dirfd);
            remove_env_dir(t, env->dir);
            (void)store_lease_release(t->store, env->ws, t->node, NULL);
            pthread_mutex_lock(&t->mu);
            for (struct env **p = &t->envs; *p; p = &(*p)->next)
                if (*p == env) {
                    *p = env->next;
                    break;
                }
            free(env);
            pthread_cond_broadcast(&t->cv);
            continue;
        }
        /* Leases: renewed at a third of their life. */
        uint64_t now = clock_mono_ms();
        int64_t due = 0;
        for (struct env *e = t->envs; e && !due; e = e->next)
            if (!e->starting && !e->ending && now - e->lease_ms >= LEASE_TTL_MS / 3) {
                e->lease_ms = now;
                due = e->ws;
            }
        if (due) {
            pthread_mutex_unlock(&t->mu);
            (void)store_lease_acquire(t->store, due, t->node, LEASE_TTL_MS, NULL, NULL);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        if (t->stop)
            break;
        struct timespec ts = clock_deadline(1000);
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* ---- opening ------------------------------------------------------------------------------ */

static void on_sync(void *ctx, int64_t ws, enum wsync_event ev, const char *path, const char *etag,
                    const char *message)
{
    struct env *env = ctx;
    struct terms *t = env->t;
    if (ev == WSYNC_LIMIT_EXCEEDED || ev == WSYNC_CONFLICT || ev == WSYNC_NOT_SAVED) {
        char text[900];
        snprintf(text, sizeof(text), "%s: %s", path, message ? message : "not saved");
        pthread_mutex_lock(&t->mu);
        for (struct term *term = env->terms; term; term = term->next)
            term_notice(t, term, text);
        pthread_mutex_unlock(&t->mu);
    }
    if (t->cfg.notify)
        t->cfg.notify(t->cfg.notify_ctx, ws, ev, path, etag, message);
}

struct env *find_env(struct terms *t, int64_t ws)
{
    for (struct env *e = t->envs; e; e = e->next)
        if (e->ws == ws)
            return e;
    return NULL;
}

/* Makes the directory, writes the files, takes the lease. Called without t->mu. */
int env_start(struct terms *t, struct env *env, struct err *err)
{
    int r = store_lease_acquire(t->store, env->ws, t->node, LEASE_TTL_MS, NULL, err);
    if (r < 0)
        return r;
    env->lease_ms = clock_mono_ms();
    snprintf(env->dir, sizeof(env->dir), "%lld", (long long)env->ws);
    remove_env_dir(t, env->dir);
    if (mkdirat(t->envs_dirfd, env->dir, 0700) < 0) {
        r = err_set(err, errno, "create the environment's directory");
        goto fail;
    }
    /* The environment's own file system (see sandbox.h): its size and inodes are what the
     * workspace may hold plus what a terminal may add, enforced by the kernel. */
    const struct store_limits *fl = &t->cfg.files;
    uint64_t bytes = (fl->max_workspace_bytes > 0 ? (uint64_t)fl->max_workspace_bytes : 1u << 30) +
                     (fl->max_entries > 0 ? (uint64_t)fl->max_entries * 4096 : 0) +
                     (t->cfg.limits.workspace_bytes ? t->cfg.limits.workspace_bytes : 1u << 30);
    uint64_t inodes = (fl->max_entries > 0 ? (uint64_t)fl->max_entries : 1000) + 64 +
                      (t->cfg.inodes ? t->cfg.inodes : 20000);
    struct err me = {0};
    env->dirfd = sb_wsfs_mount(t->envs_dirfd, env->dir, bytes, inodes, &me);
    if (env->dirfd == -EPERM || env->dirfd == -ENOSYS) /* not root: a plain directory */
        env->dirfd =
            openat(t->envs_dirfd, env->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (env->dirfd < 0) {
        r = err_set(err, -env->dirfd, "open the environment's directory: %s", me.msg);
        goto fail;
    }
    r = wsync_open(t->hub, env->ws, env->dirfd, 0, 0, on_sync, env, &env->sync, err);
    if (r < 0)
        goto fail;
    return 0;
fail:
    if (env->dirfd >= 0)
        close(env->dirfd);
    env->dirfd = -1;
    remove_env_dir(t, env->dir);
    (void)store_lease_release(t->store, env->ws, t->node, NULL);
    return r;
}

/* Starts the shell. Called without t->mu. */
int term_start(struct terms *t, struct term *term, struct err *err)
{
    static const char *const argv[] = {"bash", "-l", NULL};
    /* The prompt is set after the profile (which sets its own) by a PROMPT_COMMAND that
     * removes itself; the history stays out of the workspace. */
    static const char *const env[] = {
        "TERM=xterm-256color",
        "COLORTERM=truecolor",
        "HISTFILE=/tmp/.bash_history",
        "PYTHONDONTWRITEBYTECODE=1",
        "MPLBACKEND=Agg",
        "PROMPT_COMMAND=PS1='\\[\\e[1;32m\\]\\u@pyroom\\[\\e[0m\\]:\\[\\e[1;34m\\]\\w\\[\\e[0m\\]"
        "\\$ ';"
        "unset PROMPT_COMMAND",
        NULL,
    };
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/envs/%s", t->data_dir, term->env->dir);
    struct sb_spec spec = {
        .argv = argv,
        .env = env,
        .workspace = dir,
        .shared_workspace = true,
        .pty = true,
        .rows = 24,
        .cols = 80,
        .limits = t->cfg.limits,
    };
    spec.limits.wall_ms = 0;      /* the lifetime setting bounds it */
    spec.limits.output_bytes = 0; /* we read the PTY, with backpressure */
    spec.limits.workspace_bytes = 0;
    int r = sup_spawn(t->sup, &spec, &term->proc, err);
    if (r < 0)
        return r;
    term->pty = term->proc->io.pty;
    int fl = fcntl(term->pty, F_GETFL);
    (void)fcntl(term->pty, F_SETFL, fl | O_NONBLOCK);
    return 0;
}
