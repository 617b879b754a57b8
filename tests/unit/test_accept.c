/* Unit tests for http/accept: which codings an Accept-Encoding header takes. */
#include "http/accept.h"

#include <criterion/criterion.h>
#include <string.h>

static unsigned acc(const char *h)
{
    return accept_encoding(h, h ? strlen(h) : 0);
}

Test(accept, browsers)
{
    cr_expect_eq(acc("gzip, deflate, br, zstd"), ACCEPT_GZIP | ACCEPT_BR); /* Chromium */
    cr_expect_eq(acc("gzip, deflate, br"), ACCEPT_GZIP | ACCEPT_BR);       /* Firefox */
    cr_expect_eq(acc("gzip, deflate"), ACCEPT_GZIP);                       /* curl, requests */
    cr_expect_eq(acc("identity"), 0u);
    cr_expect_eq(acc(""), 0u);
    cr_expect_eq(acc(NULL), 0u);
}

Test(accept, qvalues)
{
    cr_expect_eq(acc("br;q=0, gzip"), ACCEPT_GZIP);
    cr_expect_eq(acc("br; q=0.000, gzip;q=0.001"), ACCEPT_GZIP);
    cr_expect_eq(acc("br;Q=1.0 , gzip ; q=0"), ACCEPT_BR);
    cr_expect_eq(acc("*"), ACCEPT_GZIP | ACCEPT_BR);
    cr_expect_eq(acc("*;q=0.5, br;q=0"), ACCEPT_GZIP);
    cr_expect_eq(acc("*;q=0"), 0u);
    cr_expect_eq(acc("GZIP, BR"), ACCEPT_GZIP | ACCEPT_BR);
    cr_expect_eq(acc("x-gzip"), ACCEPT_GZIP);
}

Test(accept, malformed_elements_count_for_nothing)
{
    cr_expect_eq(acc("br;q=2, gzip"), ACCEPT_GZIP);
    cr_expect_eq(acc("br;q=, gzip;q=abc"), 0u);
    cr_expect_eq(acc("br;q=0.5x"), 0u);
    cr_expect_eq(acc(",,,;q=1,  , br"), ACCEPT_BR);
    cr_expect_eq(acc("brotli, gzipx, gz"), 0u);
    /* Not NUL-terminated: only len bytes are read. */
    cr_expect_eq(accept_encoding("gzip, br", 4), ACCEPT_GZIP);
}
