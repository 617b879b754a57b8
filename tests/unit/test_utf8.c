/* Unit tests for base/utf8: Table 3-7 exactly, whole and in pieces, and utf8_sanitize. */
#include "base/buf.h"
#include "base/utf8.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static const struct {
    const char *bytes;
    bool valid;
} cases[] = {
    {"", true},
    {"plain ascii", true},
    {"\xC3\xA9", true},         /* é */
    {"\xE2\x82\xAC", true},     /* € */
    {"\xF0\x9F\x90\x8D", true}, /* 🐍 */
    {"\xF4\x8F\xBF\xBF", true}, /* U+10FFFF */
    {"\xC0\xAF", false},        /* overlong '/' */
    {"\xC1\xBF", false},
    {"\xE0\x80\xAF", false},     /* overlong '/' in 3 */
    {"\xF0\x80\x80\xAF", false}, /* overlong '/' in 4 */
    {"\xED\xA0\x80", false},     /* U+D800 surrogate */
    {"\xED\xBF\xBF", false},     /* U+DFFF */
    {"\xF4\x90\x80\x80", false}, /* above U+10FFFF */
    {"\xF5\x80\x80\x80", false},
    {"\xFF", false},
    {"\x80", false}, /* stray continuation */
    {"\xC3", false}, /* cut */
    {"\xE2\x82", false},
    {"a\xC3(", false},
};

Test(utf8, validates_table_3_7_whole_and_byte_by_byte)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].bytes;
        size_t n = strlen(s);
        cr_assert_eq(utf8_valid(s, n), cases[i].valid, "case %zu", i);
        struct utf8_state st;
        utf8_init(&st);
        bool ok = true;
        for (size_t j = 0; j < n; j++)
            ok = utf8_feed(&st, s + j, 1) && ok;
        cr_assert_eq(ok && utf8_complete(&st), cases[i].valid, "case %zu in pieces", i);
    }
}

Test(utf8, decode_gives_the_code_point_and_its_length)
{
    uint32_t cp = 0;
    cr_assert_eq(utf8_decode("A", 1, &cp), 1);
    cr_assert_eq(cp, 'A');
    cr_assert_eq(utf8_decode("\xE2\x82\xAC!", 4, &cp), 3);
    cr_assert_eq(cp, 0x20AC);
    cr_assert_eq(utf8_decode("\xF0\x9F\x90\x8D", 4, &cp), 4);
    cr_assert_eq(cp, 0x1F40D);
    cr_assert_eq(utf8_decode("\xE2\x82", 2, &cp), -EILSEQ, "incomplete");
    cr_assert_eq(utf8_decode("\xC0\xAF", 2, &cp), -EILSEQ, "overlong");
}

static const char *sanitize(const char *in, size_t n, bool final, long *ret)
{
    static struct buf b;
    buf_done(&b);
    buf_init(&b, 1 << 16);
    *ret = utf8_sanitize(in, n, final, &b);
    return b.data ? b.data : "";
}

Test(utf8, sanitize_replaces_each_bad_byte_with_u_fffd)
{
    long r;
    cr_assert_str_eq(sanitize("ok \xC3\xA9", 5, true, &r), "ok \xC3\xA9");
    cr_assert_eq(r, 5);
    cr_assert_str_eq(sanitize("a\xC0\xAF"
                              "b",
                              4, true, &r),
                     "a\xEF\xBF\xBD\xEF\xBF\xBD"
                     "b");
    cr_assert_eq(r, 4);
    cr_assert_str_eq(sanitize("\xED\xA0\x80", 3, true, &r), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD",
                     "a surrogate is three bad bytes");
}

Test(utf8, sanitize_keeps_a_cut_sequence_for_the_next_chunk_unless_final)
{
    long r;
    /* "€" cut after two bytes: not consumed, the next chunk completes it. */
    cr_assert_str_eq(sanitize("x\xE2\x82", 3, false, &r), "x");
    cr_assert_eq(r, 1);
    cr_assert_str_eq(sanitize("x\xE2\x82", 3, true, &r), "x\xEF\xBF\xBD\xEF\xBF\xBD");
    cr_assert_eq(r, 3);
    /* A cut that can never complete (a continuation is not one) is replaced at once. */
    cr_assert_str_eq(sanitize("\xE2(", 2, false, &r), "\xEF\xBF\xBD(");
    cr_assert_eq(r, 2);
}

Test(utf8, sanitize_stops_at_the_buffer_ceiling)
{
    struct buf b;
    buf_init(&b, 4);
    cr_assert_eq(utf8_sanitize("abcdef", 6, true, &b), -E2BIG);
    buf_done(&b);
}
