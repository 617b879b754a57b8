/*
 * Unit tests of src/store/nodes.h on SQLite (a temporary file): membership, reaping a dead
 * node's runs, leases and streams, orphan runs, the rate counters and the stream cap. The
 * bus (PostgreSQL only) is tested when PYROOM_TEST_PG is set; tests/cluster drives all of
 * it on PostgreSQL with real nodes.
 */
#include "store/nodes.h"
#include "store/store.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct store *st;
static char tmpdir[256];

static void setup(void)
{
    char url[300];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyroom-nodes-test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(url, sizeof(url), "sqlite:%s/t.db", tmpdir);
    struct store_options opt = {.pool_size = 2, .busy_timeout_ms = 5000};
    cr_assert_eq(store_open(url, &opt, &st, NULL), 0);
    cr_assert_eq(store_migrate(st, NULL, NULL), 0);
}

static void teardown(void)
{
    store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", tmpdir);
}

TestSuite(nodes, .init = setup, .fini = teardown);

/* A user with a workspace, and a run of it recorded on node (running). */
static int64_t running_run(const char *node, int64_t *ret_ws, int64_t *ret_user)
{
    static int n;
    char name[32];
    snprintf(name, sizeof(name), "u%d", ++n);
    struct store_user *u = NULL;
    struct store_workspace *w = NULL;
    struct store_run *r = NULL;
    cr_assert_eq(store_user_create(st, name, "x", STORE_ROLE_SUBMITTER, false, &u, NULL), 0);
    cr_assert_eq(store_workspace_create(st, u->id, "w", &w, NULL), 0);
    struct store_run_new nr = {
        .workspace_id = w->id, .user_id = u->id, .node = node, .entry = "main.py"};
    cr_assert_eq(store_run_create(st, &nr, &r, NULL), 0);
    cr_assert_eq(store_run_set_running(st, r->id, false, NULL), 0);
    int64_t id = r->id;
    *ret_ws = w->id;
    *ret_user = u->id;
    store_run_free(r);
    store_workspace_free(w);
    store_user_free(u);
    return id;
}

static enum store_run_status status_of(int64_t id)
{
    struct store_run *r = NULL;
    cr_assert_eq(store_run_get(st, id, &r, NULL), 0);
    enum store_run_status s = r->status;
    store_run_free(r);
    return s;
}

Test(nodes, join_get_beat_leave)
{
    cr_assert_eq(store_node_join(st, "na", "http://127.0.0.1:1", "tok", NULL), 0);
    struct store_node *n = NULL;
    cr_assert_eq(store_node_get(st, "na", &n, NULL), 0);
    cr_assert_str_eq(n->advertise, "http://127.0.0.1:1");
    cr_assert_str_eq(n->token, "tok");
    store_node_free(n);
    cr_assert_eq(store_node_beat(st, "na", NULL), 0);
    cr_assert_eq(store_node_leave(st, "na", NULL), 0);
    cr_assert_eq(store_node_beat(st, "na", NULL), -ENOENT);
    cr_assert_eq(store_node_get(st, "na", &n, NULL), -ENOENT);
}

Test(nodes, a_dead_node_is_reaped_and_a_live_one_left_alone)
{
    int64_t ws_a, ws_b, ua, ub;
    cr_assert_eq(store_node_join(st, "alive", "http://a:1", "t", NULL), 0);
    cr_assert_eq(store_node_join(st, "dead", "http://b:1", "t", NULL), 0);
    int64_t ra = running_run("alive", &ws_a, &ua);
    int64_t rb = running_run("dead", &ws_b, &ub);
    cr_assert_eq(store_lease_acquire(st, ws_b, "dead", 60000, NULL, NULL), 0);
    cr_assert_eq(store_stream_open(st, "dead", ub, 4, NULL), 0);

    /* Nobody is older than a minute ago; "dead" is found by its address. */
    char **ids = NULL;
    size_t n = 0;
    cr_assert_eq(store_nodes_dead(st, "alive", store_now_ms() - 60000, NULL, &ids, &n, NULL), 0);
    cr_assert_eq(n, 0);
    store_node_ids_free(ids, n);
    cr_assert_eq(
        store_nodes_dead(st, "alive", store_now_ms() - 60000, "http://b:1", &ids, &n, NULL), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], "dead");
    store_node_ids_free(ids, n);

    int failed = 0;
    cr_assert_eq(store_node_reap(st, "dead", "gone", &failed, NULL), 0);
    cr_assert_eq(failed, 1);
    cr_assert_eq(status_of(rb), STORE_RUN_FAILED);
    cr_assert_eq(status_of(ra), STORE_RUN_RUNNING);
    cr_assert_eq(store_lease_get(st, ws_b, NULL, NULL), -ENOENT);
    /* Its stream row went too: the user may open 4 again. */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(store_stream_open(st, "alive", ub, 4, NULL), 0);
    cr_assert_eq(store_stream_open(st, "alive", ub, 4, NULL), -EUSERS);
    cr_assert_eq(store_stream_close(st, "alive", ub, NULL), 0);
    cr_assert_eq(store_stream_open(st, "alive", ub, 4, NULL), 0);
}

Test(nodes, a_draining_or_silent_node_is_never_picked)
{
    char *id = NULL;
    cr_assert_eq(store_node_join(st, "me", "http://m:1", "t", NULL), 0);
    cr_assert_eq(store_node_pick(st, "me", 0, &id, NULL), -ENOENT); /* only me */
    cr_assert_eq(store_node_join(st, "peer", "http://p:1", "t", NULL), 0);
    cr_assert_eq(store_node_pick(st, "me", 0, &id, NULL), 0);
    cr_assert_str_eq(id, "peer");
    free(id);
    /* A peer that has not beaten since the horizon is not picked. */
    cr_assert_eq(store_node_pick(st, "me", store_now_ms() + 60000, &id, NULL), -ENOENT);
    cr_assert_eq(store_node_drain(st, "peer", NULL), 0);
    cr_assert_eq(store_node_pick(st, "me", 0, &id, NULL), -ENOENT);
    /* Joining again (declared dead while paused) keeps the row's draining mark. */
    cr_assert_eq(store_node_join(st, "peer", "http://p:1", "t", NULL), 0);
    cr_assert_eq(store_node_pick(st, "me", 0, &id, NULL), -ENOENT);
}

Test(nodes, lease_nodes_of_a_user)
{
    int64_t ws1, ws2, ws3, u1, u2, u3;
    (void)running_run("x", &ws1, &u1);
    (void)running_run("x", &ws2, &u2);
    (void)running_run("x", &ws3, &u3);
    struct store_workspace *w = NULL;
    cr_assert_eq(store_workspace_create(st, u1, "second", &w, NULL), 0);
    cr_assert_eq(store_lease_acquire(st, ws1, "a", 60000, NULL, NULL), 0);
    cr_assert_eq(store_lease_acquire(st, w->id, "b", 60000, NULL, NULL), 0);
    cr_assert_eq(store_lease_acquire(st, ws2, "c", 60000, NULL, NULL), 0); /* another user */
    cr_assert_eq(store_lease_acquire(st, ws3, "a", 60000, NULL, NULL), 0);
    cr_assert_eq(store_lease_release(st, ws3, "a", NULL), 0); /* ended */
    store_workspace_free(w);
    char **ids = NULL;
    size_t n = 0;
    cr_assert_eq(store_lease_nodes_user(st, u1, "", &ids, &n, NULL), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], "a");
    cr_assert_str_eq(ids[1], "b");
    store_node_ids_free(ids, n);
    cr_assert_eq(store_lease_nodes_user(st, u1, "a", &ids, &n, NULL), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], "b");
    store_node_ids_free(ids, n);
    cr_assert_eq(store_lease_nodes_user(st, u3, "", &ids, &n, NULL), 0);
    cr_assert_eq(n, 0);
    store_node_ids_free(ids, n);
}

Test(nodes, runs_of_no_known_node_are_orphans)
{
    int64_t ws, u;
    cr_assert_eq(store_node_join(st, "n1", "http://a:1", "t", NULL), 0);
    int64_t mine = running_run("n1", &ws, &u);
    int64_t old = running_run("somehost", &ws, &u); /* v0.1 tagged runs with a host name */
    int n = 0;
    cr_assert_eq(store_runs_fail_orphans(st, "restart", &n, NULL), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(status_of(old), STORE_RUN_FAILED);
    cr_assert_eq(status_of(mine), STORE_RUN_RUNNING);
    int64_t total = 0, elsewhere = 0;
    cr_assert_eq(store_runs_unfinished_user(st, u, "n1", &total, &elsewhere, NULL), 0);
    cr_assert_eq(total, 0); /* old was u's, and failed; mine belongs to another user */
}

Test(nodes, counters_add_up_per_window)
{
    int64_t cur = 0, prev = 0;
    cr_assert_eq(store_counter_add(st, "k", 10, 1, &cur, &prev, NULL), 0);
    cr_assert_eq(store_counter_add(st, "k", 10, 1, &cur, &prev, NULL), 0);
    cr_assert_eq(cur, 2);
    cr_assert_eq(prev, 0);
    cr_assert_eq(store_counter_add(st, "k", 11, 1, &cur, &prev, NULL), 0);
    cr_assert_eq(cur, 1);
    cr_assert_eq(prev, 2);
    cr_assert_eq(store_counter_add(st, "k", 11, -1, &cur, &prev, NULL), 0);
    cr_assert_eq(cur, 0);
    cr_assert_eq(store_counters_expire(st, "", 11, NULL), 0);
    cr_assert_eq(store_counter_add(st, "k", 11, 0, &cur, &prev, NULL), 0);
    cr_assert_eq(prev, 0); /* window 10 expired */
}

Test(nodes, no_bus_on_sqlite)
{
    struct store_bus *b = NULL;
    cr_assert_eq(store_notify(st, "pyroom_bus", "{}", NULL), -ENOTSUP);
    cr_assert_eq(store_bus_open(st, "pyroom_bus", &b, NULL), -ENOTSUP);
}

static int got;
static char last[64];
static void on_note(void *ctx, const char *payload)
{
    (void)ctx;
    got++;
    snprintf(last, sizeof(last), "%s", payload);
}

Test(bus, notices_reach_a_listener_on_postgres)
{
    const char *pg = getenv("PYROOM_TEST_PG");
    if (!pg)
        cr_skip_test("PYROOM_TEST_PG not set");
    char url[1100];
    snprintf(url, sizeof(url), "%s", pg);
    struct store *p = NULL;
    struct store_options opt = {.pool_size = 2, .busy_timeout_ms = 5000};
    cr_assert_eq(store_open(url, &opt, &p, NULL), 0);
    struct store_bus *b = NULL;
    char chan[40];
    snprintf(chan, sizeof(chan), "test_bus_%d", (int)getpid() % 100000);
    for (char *c = chan; *c; c++)
        if (*c >= '0' && *c <= '9')
            *c = (char)('a' + (*c - '0'));
    cr_assert_eq(store_bus_open(p, chan, &b, NULL), 0);
    cr_assert_eq(store_bus_open(p, "Bad-Name", &b, NULL), -EINVAL);
    cr_assert_eq(store_notify(p, chan, "{\"k\":\"hello\"}", NULL), 0);
    for (int i = 0; i < 50 && !got; i++) /* a deadline of 50 waits of 100 ms */
        cr_assert_eq(store_bus_wait(b, 100, on_note, NULL, NULL), 0);
    cr_assert_eq(got, 1);
    cr_assert_str_eq(last, "{\"k\":\"hello\"}");
    char big[STORE_NOTIFY_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(store_notify(p, chan, big, NULL), -E2BIG);
    store_bus_close(b);
    store_close(p);
}
