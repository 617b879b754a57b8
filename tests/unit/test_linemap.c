/* Unit tests for workspace/linemap: a comment's line followed from one version of a file to
 * the next. */
#include "workspace/linemap.h"

#include <criterion/criterion.h>
#include <string.h>

static long map(const char *a, const char *b, long line)
{
    struct linemap *m = NULL;
    cr_assert_eq(linemap_new(a, strlen(a), b, strlen(b), &m), 0);
    long got = linemap_line(m, line);
    linemap_free(m);
    return got;
}

Test(linemap, equal_texts_keep_every_line)
{
    const char *t = "a\nb\nc\n";
    for (long i = 1; i <= 3; i++)
        cr_expect_eq(map(t, t, i), i);
    cr_expect_eq(map(t, t, 0), 0);
    cr_expect_eq(map(t, t, 4), 0, "past the end");
}

Test(linemap, lines_added_above_move_it_down)
{
    cr_expect_eq(map("a\nb\nc\n", "x\ny\na\nb\nc\n", 2), 4);
    cr_expect_eq(map("a\nb\nc\n", "a\nx\nb\nc\n", 1), 1, "above the insertion");
    cr_expect_eq(map("a\nb\nc\n", "a\nx\nb\nc\n", 3), 4);
    cr_expect_eq(map("a\nb\nc\n", "a\nb\nc\nd\n", 3), 3, "an append below");
}

Test(linemap, lines_removed_above_move_it_up)
{
    cr_expect_eq(map("a\nb\nc\nd\n", "c\nd\n", 4), 2);
    cr_expect_eq(map("a\nb\nc\nd\n", "c\nd\n", 1), 0, "removed");
}

Test(linemap, a_changed_line_does_not_map)
{
    const char *a = "a = 1\nb = 2\nprint(a + b)\n",
               *b = "# h\n\nfirst = 1\nb = 2\nprint(first + b)\n";
    cr_expect_eq(map(a, b, 1), 0);
    cr_expect_eq(map(a, b, 2), 4);
    cr_expect_eq(map(a, b, 3), 0);
}

Test(linemap, several_hunks_add_up)
{
    const char *a = "1\n2\n3\n4\n5\n6\n7\n", *b = "0\n1\n2\n3x\n4\n6\n7\n8\n";
    cr_expect_eq(map(a, b, 1), 2);
    cr_expect_eq(map(a, b, 3), 0);
    cr_expect_eq(map(a, b, 4), 5);
    cr_expect_eq(map(a, b, 5), 0);
    cr_expect_eq(map(a, b, 7), 7);
}

Test(linemap, empty_sides)
{
    cr_expect_eq(map("", "a\n", 1), 0);
    cr_expect_eq(map("a\n", "", 1), 0);
}

Test(linemap, a_nul_inside_a_line_does_not_end_the_map)
{
    /* Found by fuzz_review: the hunks after a changed line holding a NUL were dropped. */
    const char a[] = "x\nb\nc\nd\n", b[] = "y\0z\nb\nc\nnew\nd\n";
    struct linemap *m = NULL;
    cr_assert_eq(linemap_new(a, sizeof(a) - 1, b, sizeof(b) - 1, &m), 0);
    cr_expect_eq(linemap_line(m, 1), 0);
    cr_expect_eq(linemap_line(m, 3), 3);
    cr_expect_eq(linemap_line(m, 4), 5, "the insertion after the NUL line counts");
    linemap_free(m);
}
