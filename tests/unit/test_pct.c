/* Unit tests for base/pct: one percent-escape decoded (both cases, every byte, nothing
 * read past avail) and the unreserved set. */
#include "base/pct.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(pct, decodes_every_byte_in_both_cases)
{
    for (int b = 0; b < 256; b++) {
        char lo[4], up[4];
        snprintf(lo, sizeof(lo), "%%%02x", b);
        snprintf(up, sizeof(up), "%%%02X", b);
        cr_assert_eq(pct_decode_escape(lo, 3), b, "%s", lo);
        cr_assert_eq(pct_decode_escape(up, 3), b, "%s", up);
    }
}

Test(pct, refuses_what_is_not_an_escape)
{
    cr_expect_eq(pct_decode_escape("%4", 2), -1, "cut short");
    cr_expect_eq(pct_decode_escape("%41", 2), -1, "avail bounds the read");
    cr_expect_eq(pct_decode_escape("%", 1), -1);
    cr_expect_eq(pct_decode_escape("%g1", 3), -1);
    cr_expect_eq(pct_decode_escape("%1g", 3), -1);
    cr_expect_eq(pct_decode_escape("% 1", 3), -1);
    cr_expect_eq(pct_decode_escape("A41", 3), -1, "no '%'");
    cr_expect_eq(pct_decode_escape("%+1", 3), -1);
}

Test(pct, unreserved_is_rfc_3986s_set)
{
    const char *yes = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    for (int c = 0; c < 256; c++)
        cr_expect_eq(pct_unreserved((unsigned char)c), c && strchr(yes, c) != NULL, "%d", c);
}
