/*
 * Unit tests of src/store/docs.h on SQLite (a temporary file): starting a document once,
 * appending, the byte bound, compaction by a covering snapshot, reading after an id,
 * dropping (and with the workspace). tests/api/test_collab.py drives it over HTTP on both
 * drivers; tests/cluster on PostgreSQL with several nodes.
 */
#include "store/docs.h"
#include "store/store.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct store *st;
static char tmpdir[256];
static int64_t ws;

static void setup(void)
{
    char url[300];
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pyroom-docs-test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(url, sizeof(url), "sqlite:%s/t.db", tmpdir);
    struct store_options opt = {.pool_size = 2, .busy_timeout_ms = 5000};
    cr_assert_eq(store_open(url, &opt, &st, NULL), 0);
    cr_assert_eq(store_migrate(st, NULL, NULL), 0);
    struct store_user *u = NULL;
    struct store_workspace *w = NULL;
    cr_assert_eq(store_user_create(st, "u", "x", STORE_ROLE_SUBMITTER, false, &u, NULL), 0);
    cr_assert_eq(store_workspace_create(st, u->id, "w", &w, NULL), 0);
    ws = w->id;
    store_workspace_free(w);
    store_user_free(u);
}

static void teardown(void)
{
    store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        cr_log_warn("could not remove %s", tmpdir);
}

TestSuite(docs, .init = setup, .fini = teardown);

/* The document the helper's appends are for: the last one it started. */
static int64_t cur_doc;

static int64_t append(const char *data, bool snapshot, int64_t covers, int64_t max, int *rc)
{
    int64_t id = 0;
    *rc = store_doc_append(st, ws, "a.py", cur_doc, data, strlen(data), snapshot, covers, max, 1000,
                           &id, NULL);
    if (*rc == 0 && snapshot && covers == 0)
        cur_doc = id;
    return id;
}

Test(docs, start_once_append_compact)
{
    int rc;
    struct store_doc_log *l = NULL;
    cr_assert_eq(store_doc_log(st, ws, "a.py", 0, &l, NULL), -ENOENT);
    append("u", false, 0, 100, &rc);
    cr_assert_eq(rc, -ENOENT, "an update needs a document");
    int64_t s = append("SNAP", true, 0, 100, &rc);
    cr_assert_eq(rc, 0);
    append("OTHER", true, 0, 100, &rc);
    cr_assert_eq(rc, -EEXIST, "a document starts once");
    int64_t a = append("aa", false, 0, 100, &rc);
    int64_t b = append("bbb", false, 0, 100, &rc);
    cr_assert(s < a && a < b);
    cr_assert_eq(store_doc_log(st, ws, "a.py", 0, &l, NULL), 0);
    cr_assert_eq(l->n, 3);
    cr_assert_eq(l->bytes, 9);
    cr_assert(l->items[0].snapshot && !l->items[1].snapshot);
    cr_assert_eq(l->items[2].len, 3);
    cr_assert_eq(memcmp(l->items[2].data, "bbb", 3), 0);
    store_doc_log_free(l);
    cr_assert_eq(store_doc_log(st, ws, "a.py", a, &l, NULL), 0);
    cr_assert_eq(l->n, 1);
    cr_assert_eq(l->items[0].id, b);
    store_doc_log_free(l);
    /* a snapshot covering up to a replaces SNAP and aa; bbb stays */
    int64_t s2 = append("S2", true, a, 100, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(store_doc_log(st, ws, "a.py", 0, &l, NULL), 0);
    cr_assert_eq(l->n, 2);
    cr_assert_eq(l->items[0].id, b);
    cr_assert_eq(l->items[1].id, s2);
    cr_assert_eq(l->bytes, 5);
    store_doc_log_free(l);
}

Test(docs, bounded_without_partial_writes)
{
    int rc;
    append("0123456789", true, 0, 16, &rc);
    cr_assert_eq(rc, 0);
    int64_t last = append("abcdef", false, 0, 16, &rc);
    cr_assert_eq(rc, 0);
    append("x", false, 0, 16, &rc);
    cr_assert_eq(rc, -EFBIG);
    struct store_doc_log *l = NULL;
    cr_assert_eq(store_doc_log(st, ws, "a.py", 0, &l, NULL), 0);
    cr_assert_eq(l->n, 2);
    cr_assert_eq(l->bytes, 16);
    store_doc_log_free(l);
    append("0123456789abcdefg", true, last, 16, &rc);
    cr_assert_eq(rc, -EFBIG, "a single update larger than the bound");
    append("small", true, last, 16, &rc);
    cr_assert_eq(rc, 0, "a covering snapshot makes room");
    append("", false, 0, 16, &rc);
    cr_assert_eq(rc, -EINVAL);
}

Test(docs, drop_one_all_and_with_the_workspace)
{
    int rc;
    bool dropped = true;
    cr_assert_eq(store_doc_drop(st, ws, "a.py", &dropped, NULL), 0);
    cr_assert(!dropped);
    append("S", true, 0, 100, &rc);
    append("x", false, 0, 100, &rc);
    cr_assert_eq(store_doc_drop(st, ws, "a.py", &dropped, NULL), 0);
    cr_assert(dropped);
    struct store_doc_log *l = NULL;
    cr_assert_eq(store_doc_log(st, ws, "a.py", 0, &l, NULL), -ENOENT);
    append("S", true, 0, 100, &rc);
    cr_assert_eq(rc, 0, "a dropped document starts again");
    cr_assert_eq(store_doc_drop(st, ws, NULL, &dropped, NULL), 0);
    cr_assert(dropped);
    append("S", true, 0, 100, &rc);
    cr_assert_eq(store_workspace_delete(st, ws, NULL), 0);
    cr_assert_eq(store_doc_log(st, ws, "a.py", 0, &l, NULL), -ENOENT, "gone with its workspace");
}

Test(docs, an_update_for_a_dropped_document_is_refused)
{
    int rc;
    int64_t old = append("OLD", true, 0, 100, &rc);
    cr_assert_eq(rc, 0);
    cr_assert_eq(store_doc_drop(st, ws, "a.py", NULL, NULL), 0);
    int64_t now = append("NEW", true, 0, 100, &rc);
    cr_assert_eq(rc, 0);
    int64_t live = 0;
    cr_assert_eq(store_doc_live(st, ws, "a.py", &live, NULL), 0);
    cr_assert_eq(live, now, "a document's id is the id of the snapshot that started it");
    cr_assert_neq(old, now);
    int64_t id = 0;
    /* A page that has not heard of the drop posts an update, then a covering snapshot. */
    cr_assert_eq(store_doc_append(st, ws, "a.py", old, "late", 4, false, 0, 100, 1000, &id, NULL),
                 -ENOENT);
    cr_assert_eq(store_doc_append(st, ws, "a.py", old, "SNAP", 4, true, now, 100, 1000, &id, NULL),
                 -ENOENT);
    struct store_doc_log *l = NULL;
    cr_assert_eq(store_doc_log(st, ws, "a.py", 0, &l, NULL), 0);
    cr_assert_eq(l->doc, now);
    cr_assert_eq(l->n, 1, "the new document holds only its own start");
    cr_assert_eq(l->bytes, 3);
    store_doc_log_free(l);
    append("x", false, 0, 100, &rc);
    cr_assert_eq(rc, 0, "its own updates go in");
}

Test(docs, bounded_per_workspace)
{
    int rc;
    int64_t id;
    cr_assert_eq(store_doc_append(st, ws, "b.py", 0, "0123456789", 10, true, 0, 100, 25, &id, NULL),
                 0);
    cr_assert_eq(store_doc_append(st, ws, "c.py", 0, "0123456789", 10, true, 0, 100, 25, &id, NULL),
                 0);
    cr_assert_eq(
        store_doc_append(st, ws, "c.py", id, "0123456789", 10, false, 0, 100, 25, &id, NULL),
        -EDQUOT, "three documents' bytes would pass the workspace's bound");
    cr_assert_eq(store_doc_append(st, ws, "d.py", 0, "0123456789", 10, true, 0, 100, 25, &id, NULL),
                 -EDQUOT);
    struct store_doc_log *l = NULL;
    cr_assert_eq(store_doc_log(st, ws, "d.py", 0, &l, NULL), -ENOENT, "nothing partial");
    append("x", true, 0, 100, &rc);
    cr_assert_eq(rc, 0);
}
