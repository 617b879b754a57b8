/* Unit tests for http/cookie and http/etag: the request headers we parse by hand. */
#include "http/cookie.h"
#include "http/etag.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

Test(cookie, finds_values)
{
    char v[64];
    cr_assert_eq(cookie_get("pyroom_session=abc", "pyroom_session", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "abc");
    cr_assert_eq(cookie_get("a=1; pyroom_session=xyz; b=2", "pyroom_session", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "xyz");
    cr_assert_eq(cookie_get("a=1;b=2", "b", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "2");
    cr_assert_eq(cookie_get("  a = 1 ;  b=\"two\"  ", "b", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "two");
    cr_assert_eq(cookie_get("a = 1", "a", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "1");
    cr_assert_eq(cookie_get("a=", "a", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "");
    cr_assert_eq(cookie_get("a=x=y", "a", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "x=y");
    cr_assert_eq(cookie_get("a=\"", "a", v, sizeof(v)), 0, "a lone quote is kept");
    cr_expect_str_eq(v, "\"");
}

Test(cookie, first_match_wins_and_names_are_exact)
{
    char v[64];
    cr_assert_eq(cookie_get("s=first; s=second", "s", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "first");
    cr_expect_eq(cookie_get("xs=1; sx=2; S=3", "s", v, sizeof(v)), -ENOENT);
    cr_expect_eq(cookie_get("pyroom_session_old=1", "pyroom_session", v, sizeof(v)), -ENOENT);
    cr_expect_eq(cookie_get("session=pyroom_session=1", "pyroom_session", v, sizeof(v)), -ENOENT);
    cr_expect_eq(cookie_get("", "s", v, sizeof(v)), -ENOENT);
    cr_expect_eq(cookie_get(";;;", "s", v, sizeof(v)), -ENOENT);
    cr_expect_eq(cookie_get("s", "s", v, sizeof(v)), -ENOENT, "a pair without '='");
    cr_expect_eq(cookie_get(NULL, "s", v, sizeof(v)), -ENOENT);
    cr_expect_eq(cookie_get("=x", "", v, sizeof(v)), -ENOENT);
}

Test(cookie, bounded_output)
{
    char v[4];
    cr_expect_eq(cookie_get("s=abcd", "s", v, sizeof(v)), -ENOBUFS);
    cr_expect_eq(cookie_get("s=abc", "s", v, sizeof(v)), 0);
    cr_expect_str_eq(v, "abc");
}

Test(etag, parses_lists)
{
    struct etag_list l;
    cr_assert_eq(etag_parse("\"abc\"", &l), 0);
    cr_expect_eq(l.n, 1);
    cr_expect_not(l.any);
    cr_expect_eq(l.item[0].len, 3);
    cr_expect_eq(memcmp(l.item[0].tag, "abc", 3), 0);
    cr_expect_not(l.item[0].weak);

    cr_assert_eq(etag_parse(" \"a\" , W/\"b\",\"\" ,, ", &l), 0);
    cr_expect_eq(l.n, 3);
    cr_expect(l.item[1].weak);
    cr_expect_eq(l.item[2].len, 0);

    cr_assert_eq(etag_parse("*", &l), 0);
    cr_expect(l.any);
    cr_assert_eq(etag_parse("  *  ", &l), 0);
    cr_expect(l.any);

    cr_assert_eq(etag_parse("abc", &l), 0, "an unquoted tag is tolerated");
    cr_expect_eq(l.n, 1);
    cr_assert_eq(etag_parse("abc, def", &l), 0);
    cr_expect_eq(l.n, 2);
}

Test(etag, refuses_malformed)
{
    struct etag_list l;
    const char *bad[] = {"",      "  ", ",",      "\"abc",    "\"a\" \"b\"", "*, \"a\"", "\"a\", *",
                         "W/abc", "W/", "\"a\"x", "\"a\"b\"", "\"a\nb\"",    "a b",      "W/\"a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_lt(etag_parse(bad[i], &l), 0, "'%s' should be refused", bad[i]);
    cr_expect_eq(etag_parse(NULL, &l), -EINVAL);

    char big[ETAG_LIST_MAX * 6 + 10] = "";
    for (int i = 0; i <= ETAG_LIST_MAX; i++)
        strcat(big, "\"x\", ");
    cr_expect_eq(etag_parse(big, &l), -E2BIG);
}

Test(etag, strong_and_weak_comparison)
{
    struct etag_list l;
    cr_assert_eq(etag_parse("W/\"v1\", \"v2\"", &l), 0);
    cr_expect(etag_list_match(&l, "v2", ETAG_STRONG));
    cr_expect_not(etag_list_match(&l, "v1", ETAG_STRONG), "weak never matches strongly");
    cr_expect(etag_list_match(&l, "v1", ETAG_WEAK));
    cr_expect_not(etag_list_match(&l, "v3", ETAG_WEAK));
    cr_expect_not(etag_list_match(&l, "v", ETAG_WEAK));
    cr_expect_not(etag_list_match(&l, NULL, ETAG_WEAK), "absent resource");

    cr_assert_eq(etag_parse("*", &l), 0);
    cr_expect(etag_list_match(&l, "anything", ETAG_STRONG));
    cr_expect_not(etag_list_match(&l, NULL, ETAG_STRONG), "* needs the resource to exist");
}
