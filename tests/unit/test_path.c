/* Unit tests for workspace/path and base/utf8: the workspace path rules. */
#include "base/utf8.h"
#include "workspace/path.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static int check(const char *p)
{
    return path_check(p, strlen(p), NULL);
}

static int checkn(const char *p, size_t n, const char **reason)
{
    return path_check(p, n, reason);
}

Test(path, accepts_ordinary_paths)
{
    const char *ok[] = {"main.py",    "src/util/io.py", "a",          "a/b/c/d/e", ".hidden",
                        "..foo",      "foo..",          "a.b/c..d/e", "...",       "é/日本語.py",
                        "with space", "emoji😀.txt",     "a-b_c~d+e",  "UPPER/Case"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_expect_eq(check(ok[i]), 0, "%s should be accepted", ok[i]);
}

Test(path, rejects_structure)
{
    const char *bad[] = {
        "",     "/",  "/etc/passwd", "a//b", "a/",      "./a",  "a/./b",
        ".",    "..", "../a",        "a/..", "a/../b",  "a\\b", "..\\a",
        "a/b/", "//", "a/b//c",      "a/.",  "a/../..", "\\",   "a/b/../../../etc/passwd"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(check(bad[i]), -EINVAL, "'%s' should be refused", bad[i]);
}

Test(path, reasons_are_specific)
{
    const char *r = NULL;
    cr_assert_eq(path_check("../x", 4, &r), -EINVAL);
    cr_expect_str_eq(r, "path contains a '..' segment");
    cr_assert_eq(path_check("/x", 2, &r), -EINVAL);
    cr_expect_str_eq(r, "path must be relative (no leading '/')");
    cr_assert_eq(path_check("a//x", 4, &r), -EINVAL);
    cr_expect_str_eq(r, "path contains an empty segment ('//')");
    cr_assert_eq(path_check("a/", 2, &r), -EINVAL);
    cr_expect_str_eq(r, "path ends with '/'");
    cr_assert_eq(path_check("", 0, &r), -EINVAL);
    cr_expect_str_eq(r, "path is empty");
    cr_assert_eq(path_check("a\\b", 3, &r), -EINVAL);
    cr_expect_str_eq(r, "path contains a backslash");
    cr_assert_eq(path_check("a/./b", 5, &r), -EINVAL);
    cr_expect_str_eq(r, "path contains a '.' segment");
}

Test(path, rejects_nul_and_control_characters)
{
    const char *r = NULL;
    cr_expect_eq(checkn("a\0b", 3, &r), -EINVAL);
    cr_expect_str_eq(r, "path contains a NUL character");
    cr_expect_eq(checkn("a\0", 2, NULL), -EINVAL);
    for (int c = 1; c < 0x20; c++) {
        char p[4] = {'a', (char)c, 'b', 0};
        cr_expect_eq(check(p), -EINVAL, "C0 0x%02x", c);
    }
    cr_expect_eq(check("a\x7f"
                       "b"),
                 -EINVAL);
    cr_expect_eq(check("a\n"), -EINVAL);
    cr_expect_eq(check("a\tb"), -EINVAL);
    /* C1 controls U+0080..U+009F, encoded as C2 80..C2 9F */
    for (int c = 0x80; c <= 0x9f; c++) {
        char p[4] = {'a', (char)0xc2, (char)c, 0};
        cr_expect_eq(check(p), -EINVAL, "C1 0x%02x", c);
    }
    cr_expect_eq(check("a\xc2\xa0"
                       "b"),
                 0, "U+00A0 is printable");
    /* bidi override U+202E and isolate U+2066 */
    cr_expect_eq(check("x\xe2\x80\xae"
                       "gpj.exe"),
                 -EINVAL);
    cr_expect_eq(check("x\xe2\x81\xa6"), -EINVAL);
}

Test(path, rejects_invalid_utf8)
{
    const char *bad[] = {
        "\xc0\xaf",            /* overlong '/' */
        "a\xc0\xae\xc0\xae/x", /* overlong ".." */
        "\xe0\x80\xaf",        /* 3-byte overlong '/' */
        "\xf0\x80\x80\xaf",    /* 4-byte overlong '/' */
        "\xc1\xbf",            /* overlong */
        "\xed\xa0\x80",        /* surrogate U+D800 */
        "\xed\xbf\xbf",        /* surrogate U+DFFF */
        "\xf4\x90\x80\x80",    /* above U+10FFFF */
        "\xf5\x80\x80\x80",    /* F5 lead */
        "\xff",
        "\xfe",
        "\x80",     /* stray continuation */
        "a\xc3",    /* truncated */
        "\xe6\x97", /* truncated 3-byte */
        "\xc3\x28", /* bad continuation */
    };
    const char *r = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(path_check(bad[i], strlen(bad[i]), &r), -EINVAL, "case %zu", i);
        cr_expect_str_eq(r, "path is not valid UTF-8", "case %zu", i);
    }
    cr_expect_eq(check("\xed\x9f\xbf"), 0, "U+D7FF is fine");
    cr_expect_eq(check("\xf4\x8f\xbf\xbf"), 0, "U+10FFFF is fine");
    cr_expect_eq(check("\xee\x80\x80"), 0, "U+E000 is fine");
}

Test(path, length_limits)
{
    char p[PATH_LEN_MAX + 2];
    const char *r = NULL;

    memset(p, 'a', 255);
    cr_expect_eq(path_check(p, 255, NULL), 0);
    memset(p, 'a', 256);
    cr_expect_eq(path_check(p, 256, &r), -EINVAL);
    cr_expect_str_eq(r, "path has a name longer than 255 bytes");

    /* 512 bytes in segments of 255 + '/' + 255 + '/' + 0 .. */
    memset(p, 'a', sizeof(p));
    p[255] = '/';
    p[511] = '/';
    cr_expect_eq(path_check(p, 511, NULL), 0, "511 bytes");
    p[511] = 'b';
    p[256 + 100] = '/';
    cr_expect_eq(path_check(p, 512, NULL), 0, "exactly 512 bytes");
    cr_expect_eq(path_check(p, 513, &r), -EINVAL);
    cr_expect_str_eq(r, "path is longer than 512 bytes");

    /* a multi-byte character counts its bytes: 127 x 2-byte 'é' = 254, +1 = 255 ok */
    char q[600] = "";
    for (int i = 0; i < 127; i++)
        strcat(q, "\xc3\xa9");
    strcat(q, "x");
    cr_expect_eq(check(q), 0);
    strcat(q, "\xc3\xa9");
    cr_expect_eq(check(q), -EINVAL, "257 bytes in one segment");
}

Test(path, from_url_decodes)
{
    char out[PATH_BUF_SIZE];
    const char *r = NULL;
    cr_assert_eq(path_from_url("a%20b/c.py", 10, out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "a b/c.py");
    cr_assert_eq(path_from_url("%E6%97%A5.txt", 13, out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "日.txt");
    cr_assert_eq(path_from_url("a+b", 3, out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "a+b");
    cr_assert_eq(path_from_url("a%2Fb", 5, out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "a/b");
    cr_assert_eq(path_from_url("x%2e", 4, out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "x.");

    const char *bad[] = {"%2e%2e/x",     "%2E%2E", "a%2f..%2fb", "..%2fetc", "%2fetc",
                         "a%00b",        "a%",     "a%4",        "a%zz",     "a%%41",
                         "%c0%ae%c0%ae", "a%5cb",  "a%0ab",      "a%2f%2fb", "a/%2e/b",
                         "%2e",          "a%2F",   "%",          "a%g1",     "a%1g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(path_from_url(bad[i], strlen(bad[i]), out, sizeof(out), &r), -EINVAL,
                     "'%s' should be refused", bad[i]);
    path_from_url("a%00b", 5, out, sizeof(out), &r);
    cr_expect_str_eq(r, "path contains a NUL character");
    path_from_url("a%zz", 4, out, sizeof(out), &r);
    cr_expect_str_eq(r, "path contains a malformed percent-escape");
    path_from_url("%2e%2e/x", 8, out, sizeof(out), &r);
    cr_expect_str_eq(r, "path contains a '..' segment");
    cr_expect_eq(path_from_url("a\0b", 3, out, sizeof(out), NULL), -EINVAL);
}

Test(path, from_url_limits_and_buffers)
{
    char enc[3 * 600], out[PATH_BUF_SIZE];
    /* 200 x "%61" decodes to 200 bytes: fine; 600 bytes decoded: too long */
    enc[0] = 0;
    for (int i = 0; i < 200; i++)
        strcat(enc, "%61");
    cr_expect_eq(path_from_url(enc, strlen(enc), out, sizeof(out), NULL), 0);
    cr_expect_eq(strlen(out), 200);
    char small[10];
    cr_expect_eq(path_from_url(enc, strlen(enc), small, sizeof(small), NULL), -ENOBUFS);
    memset(enc, 'a', 600);
    const char *r = NULL;
    cr_expect_eq(path_from_url(enc, 600, out, sizeof(out), &r), -EINVAL);
    cr_expect_str_eq(r, "path is longer than 512 bytes");
}

Test(path, to_url_round_trips)
{
    const char *paths[] = {"main.py", "a b/c%d.py", "日本/語", "x+y~z", "a#b?c&d"};
    char enc[3 * PATH_BUF_SIZE], dec[PATH_BUF_SIZE];
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        cr_assert_eq(path_to_url(paths[i], enc, sizeof(enc)), 0);
        cr_expect_null(strchr(enc, ' '));
        cr_expect_null(strchr(enc, '#'));
        cr_assert_eq(path_from_url(enc, strlen(enc), dec, sizeof(dec), NULL), 0);
        cr_expect_str_eq(dec, paths[i]);
    }
    cr_assert_eq(path_to_url("a b", enc, sizeof(enc)), 0);
    cr_expect_str_eq(enc, "a%20b");
    cr_expect_eq(path_to_url("../x", enc, sizeof(enc)), -EINVAL);
    cr_expect_eq(path_to_url("a b", enc, 5), -ENOBUFS);
    cr_expect_eq(path_to_url("a b", enc, 6), 0);
}

Test(path, parent_and_basename)
{
    char out[PATH_BUF_SIZE];
    cr_assert_eq(path_parent("a/b/c", out, sizeof(out)), 0);
    cr_expect_str_eq(out, "a/b");
    cr_assert_eq(path_parent("a", out, sizeof(out)), 0);
    cr_expect_str_eq(out, "");
    cr_expect_eq(path_parent("", out, sizeof(out)), -EINVAL);
    cr_expect_eq(path_parent("abc/d", out, 3), -ENOBUFS);
    cr_expect_str_eq(path_basename("a/b/c.py"), "c.py");
    cr_expect_str_eq(path_basename("c.py"), "c.py");
}

Test(path, join)
{
    char out[PATH_BUF_SIZE];
    const char *r = NULL;
    cr_assert_eq(path_join("a/b", "c.py", out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "a/b/c.py");
    cr_assert_eq(path_join("", "c.py", out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "c.py");
    cr_assert_eq(path_join("a", "b/c", out, sizeof(out), NULL), 0);
    cr_expect_str_eq(out, "a/b/c");
    cr_expect_eq(path_join("a", "..", out, sizeof(out), &r), -EINVAL);
    cr_expect_str_eq(r, "path contains a '..' segment");
    cr_expect_eq(path_join("a", "x/../../y", out, sizeof(out), NULL), -EINVAL);
    cr_expect_eq(path_join("a", "/etc", out, sizeof(out), NULL), -EINVAL);
    cr_expect_eq(path_join("a", "", out, sizeof(out), &r), -EINVAL);
    cr_expect_str_eq(r, "name is empty");
    cr_expect_eq(path_join("../a", "b", out, sizeof(out), NULL), -EINVAL);
    cr_expect_eq(path_join("a", "b", out, 3, NULL), -ENOBUFS);

    char big[300];
    memset(big, 'x', 250);
    big[250] = 0;
    char two[600];
    cr_assert_eq(path_join(big, big, two, sizeof(two), NULL), 0);
    cr_expect_eq(path_join(two, big, out, sizeof(out), &r), -EINVAL);
    cr_expect_str_eq(r, "path is longer than 512 bytes");
}

Test(path, is_under)
{
    cr_expect(path_is_under("a/b", "a"));
    cr_expect(path_is_under("a/b/c", "a"));
    cr_expect(path_is_under("a/b/c", "a/b"));
    cr_expect_not(path_is_under("a", "a"));
    cr_expect_not(path_is_under("ab", "a"));
    cr_expect_not(path_is_under("ab/c", "a"));
    cr_expect_not(path_is_under("a", "a/b"));
    cr_expect_not(path_is_under("b/a", "a"));
    cr_expect(path_is_under("a", ""));
    cr_expect_not(path_is_under("", ""));
}

Test(utf8, incremental_matches_whole)
{
    const char *s = "h\xc3\xa9llo \xe6\x97\xa5\xf0\x9f\x98\x80";
    size_t n = strlen(s);
    cr_expect(utf8_valid(s, n));
    for (size_t cut = 0; cut <= n; cut++) {
        struct utf8_state st;
        utf8_init(&st);
        cr_expect(utf8_feed(&st, s, cut));
        cr_expect(utf8_feed(&st, s + cut, n - cut));
        cr_expect(utf8_complete(&st), "cut at %zu", cut);
    }
    struct utf8_state st;
    utf8_init(&st);
    cr_expect(utf8_feed(&st, "\xe6\x97", 2));
    cr_expect_not(utf8_complete(&st), "half a character is not complete");
    cr_expect_not(utf8_feed(&st, "x", 1));
    cr_expect_not(utf8_feed(&st, "x", 1), "invalid is sticky");
    uint32_t cp = 0;
    cr_expect_eq(utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    cr_expect_eq(cp, 0x1f600);
    cr_expect_eq(utf8_decode("\xf0\x9f\x98", 3, &cp), -EILSEQ);
    cr_expect_eq(utf8_decode("\xc0\x80", 2, &cp), -EILSEQ);
}
