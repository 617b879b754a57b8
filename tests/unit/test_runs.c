/*
 * Unit tests of src/exec/runs through runs.h, with a real SQLite store (a temporary file)
 * and a real supervisor: the order of a run's end. A caller waiting for a run's end
 * (runs_on_end: ?wait=1, the event stream's tail) is told once the result is recorded,
 * before the clean-up of the run's scratch file system. tests/api/test_runs.py drives runs
 * over HTTP.
 */
#include "exec/runs.h"
#include "exec/supervisor.h"
#include "store/store.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct store *st;
static char tmpdir[256];
static int64_t ws, user;

static void setup(void)
{
    char url[300];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyroom-runs-test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(url, sizeof(url), "sqlite:%s/t.db", tmpdir);
    struct store_options opt = {.pool_size = 4, .busy_timeout_ms = 5000};
    cr_assert_eq(store_open(url, &opt, &st, NULL), 0);
    cr_assert_eq(store_migrate(st, NULL, NULL), 0);
    struct store_user *u = NULL;
    struct store_workspace *w = NULL;
    cr_assert_eq(store_user_create(st, "u", "x", STORE_ROLE_SUBMITTER, false, &u, NULL), 0);
    cr_assert_eq(store_workspace_create(st, u->id, "w", &w, NULL), 0);
    ws = w->id;
    user = u->id;
    store_workspace_free(w);
    store_user_free(u);
    /* Reads stdin to its end: the run stays live until the test closes it. */
    static const char prog[] = "import sys\nsys.stdin.read()\nprint('done')\n";
    cr_assert_eq(
        store_file_put(st, ws, "main.py", prog, sizeof(prog) - 1, NULL, NULL, NULL, NULL, NULL), 0);
}

static void teardown(void)
{
    store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", tmpdir);
}

/* What the worker saw at after_record, the last moment before the clean-up. */
struct seen {
    atomic_int ended;         /* runs_on_end's fn ran */
    atomic_int ended_at_hook; /* ... before after_record */
    atomic_int dir_at_hook;   /* the scratch directory still held the run's files */
    atomic_int hooks;
};

static void on_end(void *ctx)
{
    struct seen *s = ctx;
    atomic_store(&s->ended, 1);
}

static void after_record(void *ctx, int64_t id)
{
    struct seen *s = ctx;
    char path[400];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/runs/%lld/main.py", tmpdir, (long long)id);
    atomic_store(&s->ended_at_hook, atomic_load(&s->ended));
    atomic_store(&s->dir_at_hook, stat(path, &sb) == 0);
    atomic_fetch_add(&s->hooks, 1);
}

static struct runs *new_runs(struct sup *sup, unsigned max_running, struct seen *seen)
{
    struct runs_config cfg = {
        .data_dir = tmpdir,
        .node = "n",
        .max_running = max_running,
        .max_per_user = 2,
        .max_queued = 4,
        .output_bytes = 1u << 16,
        .max_artifacts = 1,
        .max_artifact_bytes = 1u << 16,
        .after_record = after_record,
        .after_record_ctx = seen,
    };
    struct runs *r = NULL;
    struct err e = {0};
    cr_assert_eq(runs_new(&cfg, st, sup, &r, &e), 0, "%s", e.msg);
    return r;
}

static int64_t start(struct runs *r, bool interactive)
{
    struct run_request rq = {
        .workspace_id = ws, .user_id = user, .entry = "main.py", .interactive = interactive};
    sb_limits_default(&rq.limits);
    int64_t id = 0;
    struct err e = {0};
    cr_assert_eq(runs_start(r, &rq, &id, &e), 0, "%s", e.msg);
    return id;
}

/* A program that ran: its waiter is told while the scratch file system is still there. */
Test(runs, waiters_told_before_the_scratch_cleanup, .init = setup, .fini = teardown)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    struct sup *sup = NULL;
    struct err e = {0};
    cr_assert_eq(sup_start(NULL, &sup, &e), 0, "%s", e.msg);
    struct seen seen = {0};
    struct runs *r = new_runs(sup, 2, &seen);
    int64_t id = start(r, true);
    /* Live until its stdin closes: the waiter is registered before the end. */
    cr_assert_eq(runs_on_end(r, id, on_end, &seen), 0);
    cr_assert_eq(runs_stdin(r, id, NULL, 0), 0);
    cr_assert_eq(runs_wait(r, id, 120000), 0);
    runs_free(r); /* waits for the worker, clean-up included */
    sup_stop(sup);
    cr_assert_eq(atomic_load(&seen.hooks), 1);
    cr_assert(atomic_load(&seen.ended_at_hook), "the waiter was told before the clean-up");
    cr_assert(atomic_load(&seen.dir_at_hook), "the scratch directory was still there");
    struct store_run *run = NULL;
    cr_assert_eq(store_run_get(st, id, &run, NULL), 0);
    cr_assert_eq(run->status, STORE_RUN_OK, "status %d", run->status);
    cr_assert_eq(run->stdout_len, 5);
    cr_assert_eq(memcmp(run->stdout_data, "done\n", 5), 0);
    store_run_free(run);
    char path[400];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/runs/%lld", tmpdir, (long long)id);
    cr_assert_eq(stat(path, &sb), -1, "the scratch directory is gone after the clean-up");
}

/* A run cancelled in the queue: told at its record too; and a waiter that comes after the
 * record is refused (it reads the stored result instead). */
Test(runs, waiters_of_a_queued_run_told_at_its_record, .init = setup, .fini = teardown)
{
    struct seen seen = {0};
    struct runs *r = new_runs(NULL, 0, &seen); /* no slot: every run waits */
    int64_t id = start(r, false);
    cr_assert_eq(runs_on_end(r, id, on_end, &seen), 0);
    cr_assert_eq(runs_cancel(r, id), 0);
    cr_assert_eq(runs_wait(r, id, 60000), 0);
    struct seen late = {0};
    int rc = runs_on_end(r, id, on_end, &late);
    runs_free(r);
    cr_assert_eq(rc, -ENOENT, "a recorded run takes no new waiter");
    cr_assert_eq(atomic_load(&late.ended), 0);
    cr_assert_eq(atomic_load(&seen.hooks), 1);
    cr_assert(atomic_load(&seen.ended_at_hook), "the waiter was told at the record");
    struct store_run *run = NULL;
    cr_assert_eq(store_run_get(st, id, &run, NULL), 0);
    cr_assert_eq(run->status, STORE_RUN_CANCELLED);
    store_run_free(run);
}
