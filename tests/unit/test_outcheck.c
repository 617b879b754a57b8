/* Unit tests for workspace/outcheck: a program's output against an expected output. */
#include "workspace/outcheck.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static bool match(const char *e, const char *a, enum outcheck_mode m, struct outcheck_diff *d)
{
    return outcheck_match(e, strlen(e), a, strlen(a), m, d);
}

Test(outcheck, modes_parse)
{
    enum outcheck_mode m;
    cr_expect_eq(outcheck_mode_parse("trim", &m), 0);
    cr_expect_eq(m, OUTCHECK_TRIM);
    cr_expect_eq(outcheck_mode_parse("exact", &m), 0);
    cr_expect_eq(m, OUTCHECK_EXACT);
    cr_expect_eq(outcheck_mode_parse("Exact", &m), -EINVAL);
    cr_expect_eq(outcheck_mode_parse(NULL, &m), -EINVAL);
}

Test(outcheck, trim_ignores_line_end_blanks_and_final_newlines)
{
    cr_expect(match("a\nb", "a  \nb\n", OUTCHECK_TRIM, NULL));
    cr_expect(match("a\nb\n", "a\r\nb\r\n\n\n", OUTCHECK_TRIM, NULL));
    cr_expect(match("", "\n\n", OUTCHECK_TRIM, NULL));
    cr_expect(!match("a\nb\n", "a\n\nb\n", OUTCHECK_TRIM, NULL), "an inner blank line counts");
    cr_expect(!match("a b\n", "a  b\n", OUTCHECK_TRIM, NULL), "inner spaces count");
    cr_expect(!match("  a\n", "a\n", OUTCHECK_TRIM, NULL), "leading spaces count");
}

Test(outcheck, exact_is_byte_for_byte)
{
    cr_expect(match("a\n", "a\n", OUTCHECK_EXACT, NULL));
    cr_expect(!match("a\n", "a", OUTCHECK_EXACT, NULL));
    cr_expect(!match("a\n", "a \n", OUTCHECK_EXACT, NULL));
}

Test(outcheck, the_first_differing_line_is_reported)
{
    struct outcheck_diff d;
    cr_assert(!match("1\n2\n3\n", "1\n2 \nX\n", OUTCHECK_TRIM, &d));
    cr_expect_eq(d.line, 3);
    cr_expect_eq(d.expected.len, 1);
    cr_expect_eq(d.expected.p[0], '3');
    cr_expect_eq(d.actual.p[0], 'X');

    cr_assert(!match("1\n2\n", "1\n", OUTCHECK_TRIM, &d));
    cr_expect_eq(d.line, 2);
    cr_expect_null(d.actual.p, "the output is shorter");

    cr_assert(!match("1\n", "1", OUTCHECK_EXACT, &d));
    cr_expect_eq(d.line, 1, "only the final newline differs");
}
