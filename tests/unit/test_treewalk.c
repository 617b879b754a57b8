/* Unit tests for base/treewalk: any depth, no link followed, bounded by entries. */
#include "base/treewalk.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];
static int rootfd = -1;

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/pyroom-tw-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int rm_visit(void *ctx, const struct tw_entry *e)
{
    (void)ctx;
    if (S_ISDIR(e->st->st_mode) && !e->post)
        return TW_NEXT;
    (void)unlinkat(e->dfd, e->name, S_ISDIR(e->st->st_mode) ? AT_REMOVEDIR : 0);
    return TW_NEXT;
}

static void teardown(void)
{
    (void)treewalk(rootfd, 0, rm_visit, NULL, NULL);
    close(rootfd);
    rmdir(root);
}

TestSuite(treewalk, .init = setup, .fini = teardown);

struct count {
    size_t files, dirs, posts, max_depth;
    bool saw_target;
};

static int count_visit(void *ctx, const struct tw_entry *e)
{
    struct count *c = ctx;
    if (e->post) {
        c->posts++;
        return TW_NEXT;
    }
    if (S_ISDIR(e->st->st_mode))
        c->dirs++;
    else
        c->files++;
    if (e->depth > c->max_depth)
        c->max_depth = e->depth;
    if (strstr(e->path, "secret"))
        c->saw_target = true;
    return TW_NEXT;
}

/* A chain of n folders "d" with a file at the bottom; returns 0. */
static void chain(int n)
{
    int fd = dup(rootfd);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(mkdirat(fd, "d", 0755), 0);
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
    }
    int f = openat(fd, "bottom.txt", O_WRONLY | O_CREAT, 0644);
    cr_assert_geq(f, 0);
    close(f);
    close(fd);
}

Test(treewalk, walks_5000_deep_with_one_fd_and_post_order)
{
    chain(5000);
    struct count c = {0};
    bool trunc = true;
    cr_assert_eq(treewalk(rootfd, 0, count_visit, &c, &trunc), 0);
    cr_assert(!trunc);
    cr_assert_eq(c.dirs, 5000);
    cr_assert_eq(c.files, 1);
    cr_assert_eq(c.posts, 5000);
    cr_assert_eq(c.max_depth, 5001);
}

Test(treewalk, stops_at_max_entries_and_says_so)
{
    for (int i = 0; i < 50; i++) {
        char n[16];
        snprintf(n, sizeof(n), "f%d", i);
        close(openat(rootfd, n, O_WRONLY | O_CREAT, 0644));
    }
    struct count c = {0};
    bool trunc = false;
    cr_assert_eq(treewalk(rootfd, 10, count_visit, &c, &trunc), 0);
    cr_assert(trunc);
    cr_assert_eq(c.files, 10);
}

Test(treewalk, never_follows_a_symlink)
{
    char target[128], link[128];
    snprintf(target, sizeof(target), "%s-secret", root);
    cr_assert_eq(mkdir(target, 0700), 0);
    snprintf(link, sizeof(link), "%s/link", root);
    cr_assert_eq(symlink(target, link), 0);
    char inner[160];
    snprintf(inner, sizeof(inner), "%s/x", target);
    close(open(inner, O_WRONLY | O_CREAT, 0644));
    struct count c = {0};
    cr_assert_eq(treewalk(rootfd, 0, count_visit, &c, NULL), 0);
    cr_assert_eq(c.files, 1); /* the link itself */
    cr_assert_eq(c.dirs, 0);
    unlink(inner);
    rmdir(target);
}

static int move_visit(void *ctx, const struct tw_entry *e)
{
    (void)ctx;
    /* Inside a/b, move b out from under the walk: coming back up must notice. */
    if (!e->post && !strcmp(e->path, "a/b/c")) {
        char from[128], to[128];
        snprintf(from, sizeof(from), "%s/a/b", root);
        snprintf(to, sizeof(to), "%s/b2", root);
        cr_assert_eq(rename(from, to), 0);
    }
    return TW_NEXT;
}

Test(treewalk, a_tree_moved_under_the_walk_is_estale)
{
    cr_assert_eq(mkdirat(rootfd, "a", 0755), 0);
    cr_assert_eq(mkdirat(rootfd, "a/b", 0755), 0);
    close(openat(rootfd, "a/b/c", O_WRONLY | O_CREAT, 0644));
    cr_assert_eq(treewalk(rootfd, 0, move_visit, NULL, NULL), -ESTALE);
}
