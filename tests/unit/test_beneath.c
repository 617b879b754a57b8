/* Unit tests for base/beneath: opens and reads never leave the root nor follow a link;
 * the walk goes to any depth, follows no link, is bounded by entries. */
#include "base/beneath.h"

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

static int rm_visit(void *ctx, const struct beneath_entry *e)
{
    (void)ctx;
    if (S_ISDIR(e->st->st_mode) && !e->post)
        return BW_NEXT;
    (void)unlinkat(e->dfd, e->name, S_ISDIR(e->st->st_mode) ? AT_REMOVEDIR : 0);
    return BW_NEXT;
}

static void teardown(void)
{
    (void)beneath_walk(rootfd, 0, rm_visit, NULL, NULL);
    close(rootfd);
    rmdir(root);
}

TestSuite(beneath, .init = setup, .fini = teardown);

struct count {
    size_t files, dirs, posts, max_depth;
    bool saw_target;
};

static int count_visit(void *ctx, const struct beneath_entry *e)
{
    struct count *c = ctx;
    if (e->post) {
        c->posts++;
        return BW_NEXT;
    }
    if (S_ISDIR(e->st->st_mode))
        c->dirs++;
    else
        c->files++;
    if (e->depth > c->max_depth)
        c->max_depth = e->depth;
    if (strstr(e->path, "secret"))
        c->saw_target = true;
    return BW_NEXT;
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

Test(beneath, walks_5000_deep_with_one_fd_and_post_order)
{
    chain(5000);
    struct count c = {0};
    bool trunc = true;
    cr_assert_eq(beneath_walk(rootfd, 0, count_visit, &c, &trunc), 0);
    cr_assert(!trunc);
    cr_assert_eq(c.dirs, 5000);
    cr_assert_eq(c.files, 1);
    cr_assert_eq(c.posts, 5000);
    cr_assert_eq(c.max_depth, 5001);
}

Test(beneath, stops_at_max_entries_and_says_so)
{
    for (int i = 0; i < 50; i++) {
        char n[16];
        snprintf(n, sizeof(n), "f%d", i);
        close(openat(rootfd, n, O_WRONLY | O_CREAT, 0644));
    }
    struct count c = {0};
    bool trunc = false;
    cr_assert_eq(beneath_walk(rootfd, 10, count_visit, &c, &trunc), 0);
    cr_assert(trunc);
    cr_assert_eq(c.files, 10);
}

Test(beneath, never_follows_a_symlink)
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
    cr_assert_eq(beneath_walk(rootfd, 0, count_visit, &c, NULL), 0);
    cr_assert_eq(c.files, 1); /* the link itself */
    cr_assert_eq(c.dirs, 0);
    unlink(inner);
    rmdir(target);
}

static int move_visit(void *ctx, const struct beneath_entry *e)
{
    (void)ctx;
    /* Inside a/b, move b out from under the walk: coming back up must notice. */
    if (!e->post && !strcmp(e->path, "a/b/c")) {
        char from[128], to[128];
        snprintf(from, sizeof(from), "%s/a/b", root);
        snprintf(to, sizeof(to), "%s/b2", root);
        cr_assert_eq(rename(from, to), 0);
    }
    return BW_NEXT;
}

Test(beneath, a_tree_moved_under_the_walk_is_estale)
{
    cr_assert_eq(mkdirat(rootfd, "a", 0755), 0);
    cr_assert_eq(mkdirat(rootfd, "a/b", 0755), 0);
    close(openat(rootfd, "a/b/c", O_WRONLY | O_CREAT, 0644));
    cr_assert_eq(beneath_walk(rootfd, 0, move_visit, NULL, NULL), -ESTALE);
}

static void put(const char *rel, const char *text)
{
    int f = openat(rootfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(f, 0, "create %s", rel);
    cr_assert_eq(write(f, text, strlen(text)), (ssize_t)strlen(text));
    close(f);
}

Test(beneath, open_refuses_links_dotdot_and_absolute_paths)
{
    cr_assert_eq(mkdirat(rootfd, "d", 0755), 0);
    put("d/f.txt", "hi");
    cr_assert_eq(symlinkat("d", rootfd, "ld"), 0);
    cr_assert_eq(symlinkat("f.txt", rootfd, "d/lf"), 0);
    int fd = beneath_open(rootfd, "d/f.txt", O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    fd = beneath_open(rootfd, "", O_RDONLY | O_DIRECTORY);
    cr_assert_geq(fd, 0, "\"\" is the directory itself");
    close(fd);
    cr_assert_eq(beneath_open(rootfd, "ld/f.txt", O_RDONLY), -ELOOP, "a link on the way");
    cr_assert_eq(beneath_open(rootfd, "d/lf", O_RDONLY), -ELOOP, "a link at the end");
    cr_assert_eq(beneath_open(rootfd, "../x", O_RDONLY), -EXDEV);
    cr_assert_eq(beneath_open(rootfd, "/etc/passwd", O_RDONLY), -EXDEV);
    cr_assert_eq(beneath_open(rootfd, "d/../../x", O_RDONLY), -EXDEV);
    cr_assert_eq(beneath_open(rootfd, "/proc/self/root/etc/passwd", O_RDONLY), -EXDEV);
}

Test(beneath, stat_says_missing_only_when_confirmed)
{
    struct stat st;
    cr_assert_eq(mkdirat(rootfd, "d", 0755), 0);
    put("d/f", "x");
    cr_assert_eq(mkfifoat(rootfd, "fifo", 0644), 0);
    cr_assert_eq(symlinkat("d", rootfd, "ld"), 0);
    cr_assert_eq(beneath_stat(rootfd, "d", &st), BENEATH_DIR);
    cr_assert_eq(beneath_stat(rootfd, "d/f", &st), BENEATH_FILE);
    cr_assert_eq(st.st_size, 1);
    cr_assert_eq(beneath_stat(rootfd, "nope", &st), BENEATH_MISSING);
    cr_assert_eq(beneath_stat(rootfd, "d/f/under", &st), BENEATH_MISSING, "a file on the way");
    cr_assert_eq(beneath_stat(rootfd, "fifo", &st), BENEATH_OTHER);
    cr_assert_eq(beneath_stat(rootfd, "ld", &st), BENEATH_OTHER, "a link is not evidence");
    cr_assert_eq(beneath_stat(rootfd, "ld/f", &st), BENEATH_OTHER);
}

Test(beneath, read_is_capped_and_never_opens_a_fifo_or_a_link)
{
    char *data = NULL;
    size_t len = 0;
    put("ten", "0123456789");
    cr_assert_eq(beneath_read(rootfd, "ten", 10, &data, &len), 0);
    cr_assert_eq(len, 10);
    cr_assert_str_eq(data, "0123456789");
    free(data);
    cr_assert_eq(beneath_read(rootfd, "ten", 9, &data, &len), -EFBIG);
    put("empty", "");
    cr_assert_eq(beneath_read(rootfd, "empty", 0, &data, &len), 0);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(data, "");
    free(data);
    /* A FIFO with no writer would block a plain open forever. */
    cr_assert_eq(mkfifoat(rootfd, "fifo", 0644), 0);
    cr_assert_eq(beneath_read(rootfd, "fifo", 100, &data, &len), -EINVAL);
    cr_assert_eq(symlinkat("ten", rootfd, "lnk"), 0);
    cr_assert_eq(beneath_read(rootfd, "lnk", 100, &data, &len), -ELOOP);
    cr_assert_eq(mkdirat(rootfd, "dir", 0755), 0);
    cr_assert_eq(beneath_read(rootfd, "dir", 100, &data, &len), -EINVAL);
}

Test(beneath, read_fd_caps_a_file_that_grows_past_its_size)
{
    /* The cap holds at exactly max bytes, and one byte past it is -EFBIG. */
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    put("big", big);
    int fd = openat(rootfd, "big", O_RDONLY);
    char *data = NULL;
    size_t len = 0;
    cr_assert_eq(beneath_read_fd(fd, 4998, &data, &len), -EFBIG);
    cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
    cr_assert_eq(beneath_read_fd(fd, 4999, &data, &len), 0);
    cr_assert_eq(len, 4999);
    free(data);
    close(fd);
}
