/* Unit tests for workspace/fsdir: round trips and the planted-link attacks. */
#include "workspace/fsdir.h"
#include "workspace/path.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];
static int dirfd_;

static void setup(void)
{
    strcpy(root, "/tmp/fsdir-test-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    dirfd_ = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(dirfd_, 0);
}

static void teardown(void)
{
    int parent = open("/tmp", O_RDONLY | O_DIRECTORY);
    fsdir_remove_tree(parent, root + 5);
    close(parent);
    close(dirfd_);
}

TestSuite(fsdir, .init = setup, .fini = teardown);

Test(fsdir, write_then_scan_round_trip)
{
    cr_assert_eq(fsdir_write(dirfd_, "a/b/c.py", "print(1)\n", 9, getuid(), getgid()), 0);
    cr_assert_eq(fsdir_write(dirfd_, "top.txt", "", 0, getuid(), getgid()), 0);
    cr_assert_eq(fsdir_mkdir(dirfd_, "empty/dir", getuid(), getgid()), 0);
    struct fsdir_scan s;
    cr_assert_eq(fsdir_scan(dirfd_, 1024, 100, 4096, NULL, &s), 0);
    int found = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (!strcmp(s.items[i].path, "a/b/c.py")) {
            cr_assert_eq(s.items[i].size, 9);
            cr_assert_str_eq(s.items[i].data, "print(1)\n");
            found++;
        }
        if (!strcmp(s.items[i].path, "empty/dir"))
            found += s.items[i].folder;
    }
    cr_assert_eq(found, 2);
    cr_assert_eq(s.skipped, 0);
    fsdir_scan_done(&s);
}

Test(fsdir, write_refuses_a_planted_symlink_on_the_way)
{
    char target[128], link[128];
    snprintf(target, sizeof(target), "%s-outside", root);
    cr_assert_eq(mkdir(target, 0700), 0);
    snprintf(link, sizeof(link), "%s/evil", root);
    cr_assert_eq(symlink(target, link), 0);
    cr_assert_lt(fsdir_write(dirfd_, "evil/x.txt", "pwned", 5, getuid(), getgid()), 0);
    char victim[160];
    snprintf(victim, sizeof(victim), "%s/x.txt", target);
    cr_assert_eq(access(victim, F_OK), -1, "the write went through the link");
    /* A symlink as the file itself is not followed either: it is replaced by the file. */
    snprintf(link, sizeof(link), "%s/f.txt", root);
    cr_assert_eq(symlink(victim, link), 0);
    cr_assert_eq(fsdir_write(dirfd_, "f.txt", "mine!", 5, getuid(), getgid()), 0);
    cr_assert_eq(access(victim, F_OK), -1);
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISREG(st.st_mode) && st.st_size == 5);
    rmdir(target);
}

Test(fsdir, scan_skips_links_fifos_and_big_files)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/link", root);
    cr_assert_eq(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof(p), "%s/fifo", root);
    cr_assert_eq(mkfifo(p, 0600), 0);
    cr_assert_eq(fsdir_write(dirfd_, "big.bin", "0123456789", 10, getuid(), getgid()), 0);
    cr_assert_eq(fsdir_write(dirfd_, "ok.txt", "ok", 2, getuid(), getgid()), 0);
    struct fsdir_scan s;
    cr_assert_eq(fsdir_scan(dirfd_, 5, 100, 4096, NULL, &s), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.items[0].path, "ok.txt");
    cr_assert_eq(s.skipped, 3);
    fsdir_scan_done(&s);
}

Test(fsdir, scan_stops_at_the_limits_and_ignores)
{
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "f%d.txt", i);
        cr_assert_eq(fsdir_write(dirfd_, name, "abcd", 4, getuid(), getgid()), 0);
    }
    cr_assert_eq(fsdir_mkdir(dirfd_, ".hidden", getuid(), getgid()), 0);
    struct fsdir_scan s;
    cr_assert_eq(fsdir_scan(dirfd_, 100, 5, 4096, NULL, &s), 0);
    cr_assert(s.over_limit);
    cr_assert_eq(s.n, 5);
    fsdir_scan_done(&s);
    cr_assert_eq(fsdir_scan(dirfd_, 100, 100, 10, NULL, &s), 0);
    cr_assert(s.over_limit);
    fsdir_scan_done(&s);
    const char *const ignore[] = {".hidden", NULL};
    cr_assert_eq(fsdir_scan(dirfd_, 100, 100, 4096, ignore, &s), 0);
    cr_assert_eq(s.n, 10);
    fsdir_scan_done(&s);
}

Test(fsdir, remove_file_and_folder)
{
    cr_assert_eq(fsdir_write(dirfd_, "d/e/f.txt", "x", 1, getuid(), getgid()), 0);
    cr_assert_eq(fsdir_remove(dirfd_, "d"), 0);
    cr_assert_eq(faccessat(dirfd_, "d", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    cr_assert_eq(fsdir_remove(dirfd_, "d"), 0);
    cr_assert_eq(fsdir_remove(dirfd_, "../etc"), -EINVAL);
}

Test(fsdir, write_replaces_a_planted_fifo_and_drops_setuid)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/pipe.txt", root);
    cr_assert_eq(mkfifo(p, 0600), 0);
    cr_assert_eq(fsdir_write(dirfd_, "pipe.txt", "data", 4, getuid(), getgid()), 0);
    struct stat st;
    cr_assert_eq(lstat(p, &st), 0);
    cr_assert(S_ISREG(st.st_mode) && st.st_size == 4);
    cr_assert_eq(chmod(p, 04755), 0);
    cr_assert_eq(fsdir_write(dirfd_, "pipe.txt", "more", 4, getuid(), getgid()), 0);
    cr_assert_eq(lstat(p, &st), 0);
    cr_assert_eq(st.st_mode & (S_ISUID | S_ISGID), 0);
}

Test(fsdir, scan_and_remove_have_no_depth_cut_off)
{
    char path[PATH_BUF_SIZE] = "";
    for (int i = 0; i < 100; i++)
        strcat(path, i ? "/d" : "d");
    strcat(path, "/deep.txt");
    cr_assert_eq(fsdir_write(dirfd_, path, "deep", 4, getuid(), getgid()), 0);
    struct fsdir_scan s;
    cr_assert_eq(fsdir_scan(dirfd_, 1024, 1000, 1 << 20, NULL, &s), 0);
    bool found = false;
    for (size_t i = 0; i < s.n; i++)
        found |= !strcmp(s.items[i].path, path) && s.items[i].size == 4;
    cr_assert(found, "a file at depth 100 was not scanned");
    cr_assert_eq(s.skipped, 0);
    fsdir_scan_done(&s);
    cr_assert(!fsdir_absent(dirfd_, path));
    cr_assert(fsdir_absent(dirfd_, "d/d/nothing.txt"));
    cr_assert(fsdir_absent(dirfd_, "deep.txt/below"));
    cr_assert_eq(fsdir_remove(dirfd_, "d"), 0);
    cr_assert(fsdir_absent(dirfd_, "d"));
}

Test(fsdir, scan_names_what_it_skips_and_absent_is_never_a_guess)
{
    char p[160];
    snprintf(p, sizeof(p), "%s/link.py", root);
    cr_assert_eq(symlink("/etc/passwd", p), 0);
    cr_assert_eq(fsdir_write(dirfd_, "big.bin", "0123456789", 10, getuid(), getgid()), 0);
    struct fsdir_scan s;
    cr_assert_eq(fsdir_scan(dirfd_, 5, 100, 4096, NULL, &s), 0);
    cr_assert_eq(s.nskips, 2);
    for (size_t i = 0; i < s.nskips; i++)
        cr_assert(!strcmp(s.skips[i].path, "link.py") || !strcmp(s.skips[i].path, "big.bin"));
    fsdir_scan_done(&s);
    /* a link is there: not absent */
    cr_assert(!fsdir_absent(dirfd_, "link.py"));
    cr_assert(!fsdir_absent(dirfd_, "link.py/x"));
}
