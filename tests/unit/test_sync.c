/* Unit tests of workspace/sync against a real SQLite store in a temporary directory:
 * materialise, both directions, the conflict rule, limits, links and ignored names. */
#include "store/store.h"
#include "workspace/fsdir.h"
#include "workspace/sync.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct store *st;
static struct wsync_hub *hub;
static struct wsync *sy;
static char tmp[256];
static int dirfd_ = -1;
static int64_t ws;
static struct err E;

/* What the notify callback saw, as "event:path" lines. */
static char seen[8192];

static void on_event(void *ctx, int64_t w, enum wsync_event ev, const char *path, const char *etag,
                     const char *msg)
{
    (void)ctx;
    (void)w;
    (void)etag;
    (void)msg;
    static const char *const names[] = {"changed", "deleted", "folder", "limit", "conflict"};
    size_t l = strlen(seen);
    snprintf(seen + l, sizeof(seen) - l, "%s:%s\n", names[ev], path);
}

#define OK(x)                                                                                      \
    do {                                                                                           \
        int r_ = (x);                                                                              \
        cr_assert_eq(r_, 0, "%s = %d: %s", #x, r_, E.msg);                                         \
    } while (0)

static void put(const char *path, const char *text)
{
    OK(store_file_put(st, ws, path, text, strlen(text), NULL, NULL, NULL, NULL, &E));
}

/* Results live in a small ring of static buffers: tests compare them at once. */
static char *keep(const char *text)
{
    static char bufs[4][4096];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s", text);
    return b;
}

static char *stored(const char *path)
{
    struct store_file *f = NULL;
    if (store_file_get(st, ws, path, true, &f, NULL) < 0)
        return NULL;
    char *s = keep(f->content);
    store_file_free(f);
    return s;
}

static char *on_disk(const char *path)
{
    char full[512], buf[4096];
    snprintf(full, sizeof(full), "%s/env/%s", tmp, path);
    FILE *f = fopen(full, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return keep(buf);
}

static void write_disk(const char *path, const char *text)
{
    cr_assert_eq(fsdir_write(dirfd_, path, text, strlen(text), getuid(), getgid()), 0);
}

static void setup(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/pyroom-sync-test.XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    char url[300], env[300];
    snprintf(url, sizeof(url), "sqlite:%s/t.db", tmp);
    struct store_options opt = {.pool_size = 4};
    OK(store_open(url, &opt, &st, &E));
    int v;
    OK(store_migrate(st, &v, &E));
    struct store_user *u = NULL;
    OK(store_user_create(st, "alice", "x", STORE_ROLE_SUBMITTER, false, &u, &E));
    struct store_workspace *w = NULL;
    OK(store_workspace_create(st, u->id, "w", &w, &E));
    ws = w->id;
    store_workspace_free(w);
    store_user_free(u);
    put("main.py", "print(1)\n");
    put("pkg/mod.py", "x = 1\n");
    snprintf(env, sizeof(env), "%s/env", tmp);
    cr_assert_eq(mkdir(env, 0755), 0);
    dirfd_ = open(env, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct wsync_config c = {
        .store = st,
        .limits = {.max_file_bytes = 1000, .max_entries = 20, .max_workspace_bytes = 5000},
    };
    OK(wsync_hub_new(&c, &hub, &E));
    seen[0] = '\0';
    OK(wsync_open(hub, ws, dirfd_, getuid(), getgid(), on_event, NULL, &sy, &E));
}

static void teardown(void)
{
    wsync_close(sy);
    wsync_hub_free(hub);
    close(dirfd_);
    store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    (void)!system(cmd);
}

TestSuite(sync, .init = setup, .fini = teardown);

Test(sync, materialises_the_workspace)
{
    cr_assert_str_eq(on_disk("main.py"), "print(1)\n");
    cr_assert_str_eq(on_disk("pkg/mod.py"), "x = 1\n");
}

Test(sync, directory_changes_reach_the_store)
{
    write_disk("new.txt", "hello\n");
    write_disk("main.py", "print(2)\n");
    cr_assert_eq(mkdirat(dirfd_, "empty", 0755), 0);
    cr_assert_eq(unlinkat(dirfd_, "pkg/mod.py", 0), 0);
    OK(wsync_flush(sy));
    cr_assert_str_eq(stored("new.txt"), "hello\n");
    cr_assert_str_eq(stored("main.py"), "print(2)\n");
    cr_assert_null(stored("pkg/mod.py"));
    struct store_file *f = NULL;
    OK(store_file_get(st, ws, "empty", false, &f, &E));
    cr_assert_eq(f->kind, STORE_KIND_FOLDER);
    store_file_free(f);
    cr_assert(strstr(seen, "changed:new.txt\n"), "%s", seen);
    cr_assert(strstr(seen, "deleted:pkg/mod.py\n"), "%s", seen);
    cr_assert(strstr(seen, "folder:empty\n"), "%s", seen);
}

Test(sync, store_changes_reach_the_directory_and_do_not_echo_back)
{
    put("main.py", "print(3)\n");
    struct store_file *f = NULL;
    OK(store_file_get(st, ws, "main.py", false, &f, &E));
    OK(wsync_apply(sy, "main.py", f->etag));
    cr_assert_str_eq(on_disk("main.py"), "print(3)\n");
    OK(wsync_flush(sy)); /* the inotify echo of our own write changes nothing */
    cr_assert_eq(seen[0], '\0', "%s", seen);
    store_file_free(f);
    OK(store_file_delete(st, ws, "pkg", NULL, NULL, &E));
    OK(wsync_apply(sy, "pkg", NULL));
    cr_assert_null(on_disk("pkg/mod.py"));
}

/* The rule: the terminal's change based on an old version loses to the editor's save, and
 * the terminal is told; nothing is overwritten silently. */
Test(sync, terminal_change_over_a_newer_editor_save_keeps_the_editor)
{
    put("main.py", "print('editor')\n"); /* saved, not yet applied to the directory */
    write_disk("main.py", "print('terminal')\n");
    OK(wsync_flush(sy));
    cr_assert_str_eq(stored("main.py"), "print('editor')\n");
    cr_assert_str_eq(on_disk("main.py"), "print('editor')\n");
    cr_assert(strstr(seen, "conflict:main.py\n"), "%s", seen);
}

Test(sync, editor_save_over_an_unstored_terminal_change_is_reported)
{
    write_disk("main.py", "print('terminal')\n"); /* within the debounce: not stored yet */
    put("main.py", "print('editor')\n");
    struct store_file *f = NULL;
    OK(store_file_get(st, ws, "main.py", false, &f, &E));
    OK(wsync_apply(sy, "main.py", f->etag));
    store_file_free(f);
    cr_assert_str_eq(on_disk("main.py"), "print('editor')\n");
    cr_assert(strstr(seen, "conflict:main.py\n"), "%s", seen);
    OK(wsync_flush(sy));
    cr_assert_str_eq(stored("main.py"), "print('editor')\n");
}

Test(sync, limits_are_reported_once_and_not_stored)
{
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_disk("big.txt", big);
    OK(wsync_flush(sy));
    cr_assert_null(stored("big.txt"));
    cr_assert(strstr(seen, "limit:big.txt\n"), "%s", seen);
    seen[0] = '\0';
    write_disk("big.txt", big); /* the same content again: no second report */
    OK(wsync_flush(sy));
    cr_assert_eq(seen[0], '\0', "%s", seen);
    write_disk("big.txt", "small");
    OK(wsync_flush(sy));
    cr_assert_str_eq(stored("big.txt"), "small");
}

Test(sync, links_fifos_and_ignored_names_are_not_stored)
{
    char secret[300];
    snprintf(secret, sizeof(secret), "%s/secret", tmp);
    FILE *f = fopen(secret, "w");
    fputs("host secret", f);
    fclose(f);
    cr_assert_eq(symlinkat(secret, dirfd_, "link.txt"), 0);
    cr_assert_eq(symlinkat(tmp, dirfd_, "linkdir"), 0);
    cr_assert_eq(mkfifoat(dirfd_, "fifo", 0644), 0);
    cr_assert_eq(mkdirat(dirfd_, "__pycache__", 0755), 0);
    write_disk("__pycache__/m.pyc", "bytecode");
    write_disk(".bash_history", "ls");
    write_disk("ok.txt", "fine");
    OK(wsync_flush(sy));
    cr_assert_null(stored("link.txt"));
    cr_assert_null(stored("linkdir/secret"));
    cr_assert_null(stored("fifo"));
    cr_assert_null(stored("__pycache__/m.pyc"));
    cr_assert_null(stored(".bash_history"));
    cr_assert_str_eq(stored("ok.txt"), "fine");
}

Test(sync, a_moved_folder_is_stored_under_its_new_name)
{
    char from[300], to[300];
    snprintf(from, sizeof(from), "%s/env/pkg", tmp);
    snprintf(to, sizeof(to), "%s/env/lib", tmp);
    cr_assert_eq(rename(from, to), 0);
    write_disk("lib/extra.py", "y = 2\n"); /* written through the moved folder's watch */
    OK(wsync_flush(sy));
    cr_assert_null(stored("pkg/mod.py"));
    cr_assert_str_eq(stored("lib/mod.py"), "x = 1\n");
    cr_assert_str_eq(stored("lib/extra.py"), "y = 2\n");
}
