/* Unit tests for workspace/diff: exact output for small cases, and for random texts that
 * the diff applied as a patch gives back the new text and is minimal. */
#include "workspace/diff.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *udiff(const char *a, const char *b, unsigned ctx, struct diff_stats *st)
{
    char *out = NULL;
    size_t len = 0;
    int rc = diff_unified(a, strlen(a), b, strlen(b), NULL, NULL, ctx, &out, &len, st);
    cr_assert_eq(rc, 0, "diff_unified: %d", rc);
    cr_assert_not_null(out);
    cr_assert_eq(strlen(out), len);
    return out;
}

static void expect_diff(const char *a, const char *b, const char *want)
{
    char *got = udiff(a, b, DIFF_CONTEXT, NULL);
    cr_expect_str_eq(got, want);
    free(got);
}

Test(diff, equal_texts_give_empty)
{
    expect_diff("", "", "");
    expect_diff("a\nb\n", "a\nb\n", "");
    expect_diff("no newline", "no newline", "");
}

Test(diff, one_changed_line)
{
    expect_diff("a\nb\nc\n", "a\nB\nc\n", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
}

Test(diff, added_to_and_removed_from_empty)
{
    expect_diff("", "x\ny\n", "@@ -0,0 +1,2 @@\n+x\n+y\n");
    expect_diff("x\n", "", "@@ -1 +0,0 @@\n-x\n");
}

Test(diff, labels_make_a_patch_header)
{
    char *out = NULL;
    cr_assert_eq(diff_unified("a\n", 2, "b\n", 2, "a/main.py", "b/main.py", 3, &out, NULL, NULL),
                 0);
    cr_expect_str_eq(out, "--- a/main.py\n+++ b/main.py\n@@ -1 +1 @@\n-a\n+b\n");
    free(out);
    /* No header for equal texts. */
    cr_assert_eq(diff_unified("a\n", 2, "a\n", 2, "a/x", "b/x", 3, &out, NULL, NULL), 0);
    cr_expect_str_eq(out, "");
    free(out);
}

Test(diff, missing_final_newline)
{
    expect_diff("a\nb", "a\nb\n", "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
    expect_diff("a\n", "a\nb", "@@ -1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n");
}

Test(diff, context_and_hunk_grouping)
{
    /* 20 lines; changes at 2 and 18 are far apart: two hunks. */
    char a[256] = "", b[256] = "";
    for (int i = 1; i <= 20; i++) {
        char l[16];
        snprintf(l, sizeof(l), "%d\n", i);
        strcat(a, l);
        strcat(b, i == 2 || i == 18 ? "x\n" : l);
    }
    struct diff_stats st;
    char *out = udiff(a, b, 3, &st);
    cr_expect_str_eq(out, "@@ -1,5 +1,5 @@\n 1\n-2\n+x\n 3\n 4\n 5\n"
                          "@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+x\n 19\n 20\n");
    cr_expect_eq(st.hunks, 2);
    cr_expect_eq(st.added, 2);
    cr_expect_eq(st.removed, 2);
    cr_expect(st.minimal);
    free(out);
    /* Changes at 5 and 11: a gap of 5 unchanged lines (<= 2 * 3) joins them. */
    strcpy(b, "");
    for (int i = 1; i <= 20; i++) {
        char l[16];
        snprintf(l, sizeof(l), "%d\n", i);
        strcat(b, i == 5 || i == 11 ? "x\n" : l);
    }
    out = udiff(a, b, 3, &st);
    cr_expect_eq(st.hunks, 1);
    cr_expect(strncmp(out, "@@ -2,13 +2,13 @@\n", 18) == 0, "%s", out);
    free(out);
    /* With no context every change is its own hunk. */
    out = udiff(a, b, 0, &st);
    cr_expect_str_eq(out, "@@ -5 +5 @@\n-5\n+x\n@@ -11 +11 @@\n-11\n+x\n");
    free(out);
}

Test(diff, deletions_come_before_additions)
{
    expect_diff("a\nb\nc\nd\n", "a\nx\ny\nd\n", "@@ -1,4 +1,4 @@\n a\n-b\n-c\n+x\n+y\n d\n");
}

Test(diff, too_large_is_refused)
{
    char *out = NULL;
    size_t big = (size_t)DIFF_MAX_BYTES + 1;
    char *a = malloc(big);
    cr_assert_not_null(a);
    memset(a, 'x', big);
    cr_expect_eq(diff_unified(a, big, "", 0, NULL, NULL, 3, &out, NULL, NULL), -EFBIG);
    cr_expect_eq(diff_unified("", 0, a, big, NULL, NULL, 3, &out, NULL, NULL), -EFBIG);
    /* Too many lines, though few bytes. */
    size_t lines = (size_t)DIFF_MAX_LINES + 1;
    memset(a, '\n', lines);
    cr_expect_eq(diff_unified(a, lines, "", 0, NULL, NULL, 3, &out, NULL, NULL), -EFBIG);
    cr_expect_null(out);
    free(a);
}

Test(diff, text_detection)
{
    cr_expect(diff_is_text("héllo\n", strlen("héllo\n")));
    cr_expect(diff_is_text("", 0));
    cr_expect_not(diff_is_text("a\0b", 3));
    cr_expect_not(diff_is_text("\xff\xfe", 2));
    cr_expect_not(diff_is_text("\xc0\xaf", 2)); /* overlong '/' */
}

/* ---- property tests: apply the patch, compare with an LCS ---------------------------- */

struct lines {
    char **v;
    size_t n;
};

static struct lines split(const char *s)
{
    struct lines l = {calloc(strlen(s) + 2, sizeof(char *)), 0};
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
        l.v[l.n++] = strndup(s, len);
        s += len;
    }
    return l;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* Applies a hunk-only unified diff to a; returns the result (malloc'd). */
static char *apply(const char *a, const char *patch)
{
    struct lines src = split(a), p = split(patch);
    size_t cap = strlen(a) + strlen(patch) + 1, pos = 0;
    char *out = calloc(1, cap);
    out[0] = '\0';
    size_t next = 0; /* next source line to copy */
    for (size_t i = 0; i < p.n; i++) {
        const char *l = p.v[i];
        if (strncmp(l, "@@ -", 4) == 0) {
            unsigned long start = strtoul(l + 4, NULL, 10), count = 1;
            const char *comma = strchr(l + 4, ',');
            const char *space = strchr(l + 4, ' ');
            if (comma && comma < space)
                count = strtoul(comma + 1, NULL, 10);
            size_t first = count ? start - 1 : start; /* 0-based first line of the hunk */
            while (next < first)
                pos += (size_t)sprintf(out + pos, "%s", src.v[next++]);
            continue;
        }
        if (l[0] == '\\') { /* no newline: drop the '\n' just written */
            if (p.v[i - 1][0] == '-')
                continue; /* it was about a removed line */
            cr_assert(pos > 0 && out[pos - 1] == '\n');
            out[--pos] = '\0';
            continue;
        }
        if (l[0] == ' ' || l[0] == '-') {
            cr_assert(next < src.n, "context past the end");
            /* Compare ignoring a missing final newline (shown by the '\' line). */
            size_t sl = strlen(src.v[next]);
            cr_assert(strncmp(src.v[next], l + 1, sl) == 0 ||
                          strncmp(src.v[next], l + 1, sl - 1) == 0,
                      "patch does not match the source at line %zu", next + 1);
            next++;
        }
        if (l[0] == ' ' || l[0] == '+')
            pos += (size_t)sprintf(out + pos, "%s", l + 1);
    }
    while (next < src.n)
        pos += (size_t)sprintf(out + pos, "%s", src.v[next++]);
    lines_free(&src);
    lines_free(&p);
    return out;
}

static size_t lcs(const struct lines *a, const struct lines *b)
{
    size_t *t = calloc((a->n + 1) * (b->n + 1), sizeof(size_t));
    for (size_t i = 1; i <= a->n; i++)
        for (size_t j = 1; j <= b->n; j++) {
            size_t *c = &t[i * (b->n + 1) + j];
            if (strcmp(a->v[i - 1], b->v[j - 1]) == 0)
                *c = t[(i - 1) * (b->n + 1) + j - 1] + 1;
            else
                *c = t[(i - 1) * (b->n + 1) + j] > t[i * (b->n + 1) + j - 1]
                         ? t[(i - 1) * (b->n + 1) + j]
                         : t[i * (b->n + 1) + j - 1];
        }
    size_t r = t[a->n * (b->n + 1) + b->n];
    free(t);
    return r;
}

static char *random_text(unsigned *seed, size_t max_lines)
{
    static const char *pool[] = {"a\n", "b\n", "c\n", "def f():\n", "    return 1\n", "\n", "x"};
    size_t n = (size_t)rand_r(seed) % (max_lines + 1);
    char *s = calloc(1, n * 16 + 1);
    for (size_t i = 0; i < n; i++) {
        const char *l = pool[(size_t)rand_r(seed) % 6];
        if (i == n - 1 && rand_r(seed) % 4 == 0)
            l = pool[6]; /* sometimes no final newline */
        strcat(s, l);
    }
    return s;
}

Test(diff, random_texts_round_trip_and_are_minimal)
{
    unsigned seed = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        char *a = random_text(&seed, 14), *b = random_text(&seed, 14);
        unsigned ctx = (unsigned)(iter % 4);
        struct diff_stats st;
        char *d = udiff(a, b, ctx, &st);
        char *back = apply(a, d);
        cr_assert_str_eq(back, b, "a=[%s] b=[%s] diff=[%s]", a, b, d);
        struct lines la = split(a), lb = split(b);
        size_t common = lcs(&la, &lb);
        cr_assert(st.minimal);
        cr_assert_eq(st.removed, la.n - common, "a=[%s] b=[%s] diff=[%s]", a, b, d);
        cr_assert_eq(st.added, lb.n - common);
        lines_free(&la);
        lines_free(&lb);
        free(back);
        free(d);
        free(a);
        free(b);
    }
}

Test(diff, past_the_edit_limit_falls_back_but_stays_correct)
{
    /* Two unrelated texts needing more than DIFF_MAX_EDITS edits. */
    size_t n = DIFF_MAX_EDITS;
    char *a = calloc(n, 16), *b = calloc(n, 16);
    size_t pa = 0, pb = 0;
    for (size_t i = 0; i < n; i++) {
        pa += (size_t)sprintf(a + pa, "a%zu\n", i);
        pb += (size_t)sprintf(b + pb, "b%zu\n", i);
    }
    struct diff_stats st;
    char *d = udiff(a, b, 3, &st);
    cr_expect_not(st.minimal);
    cr_expect_eq(st.removed, n);
    cr_expect_eq(st.added, n);
    char *back = apply(a, d);
    cr_expect_str_eq(back, b);
    free(back);
    free(d);
    free(a);
    free(b);
}

Test(diff, large_file_with_a_small_change_is_fast_and_minimal)
{
    size_t n = 50000;
    char *a = calloc(n, 16), *b = calloc(n, 16);
    size_t pa = 0, pb = 0;
    for (size_t i = 0; i < n; i++) {
        pa += (size_t)sprintf(a + pa, "line %zu\n", i);
        pb += (size_t)sprintf(b + pb, i % 10000 == 5 ? "changed %zu\n" : "line %zu\n", i);
    }
    struct diff_stats st;
    char *d = udiff(a, b, 3, &st);
    cr_expect(st.minimal);
    cr_expect_eq(st.added, 5);
    cr_expect_eq(st.removed, 5);
    cr_expect_eq(st.hunks, 5);
    char *back = apply(a, d);
    cr_expect_str_eq(back, b);
    free(back);
    free(d);
    free(a);
    free(b);
}
