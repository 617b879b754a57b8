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
    /* (input, bytes readable): cut short, bounded by avail, bad digits, no '%' */
    static const struct {
        const char *s;
        size_t avail;
    } bad[] = {{"%4", 2},  {"%41", 2}, {"%", 1},   {"%g1", 3},
               {"%1g", 3}, {"% 1", 3}, {"A41", 3}, {"%+1", 3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(pct_decode_escape(bad[i].s, bad[i].avail), -1, "case %zu", i);
}

Test(pct, unreserved_is_rfc_3986s_set)
{
    const char *yes = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    for (int c = 0; c < 256; c++)
        cr_expect_eq(pct_unreserved((unsigned char)c), c && strchr(yes, c) != NULL, "%d", c);
}
