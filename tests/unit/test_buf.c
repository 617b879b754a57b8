/* Unit tests for base/buf: the ceiling holds and a refused append changes nothing. */
#include "base/buf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

Test(buf, appends_and_stays_nul_terminated)
{
    struct buf b;
    buf_init(&b, 100);
    cr_assert_null(b.data);
    cr_assert_eq(buf_append(&b, "abc", 3), 0);
    cr_assert_eq(buf_append(&b, "", 0), 0);
    cr_assert_eq(buf_printf(&b, "-%d-%s", 42, "x"), 0);
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(b.data, "abc-42-x");
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    buf_done(&b);
}

Test(buf, the_ceiling_refuses_and_leaves_the_buffer_unchanged)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(buf_append(&b, "12345678", 8), 0, "exactly max fits");
    cr_assert_eq(buf_append(&b, "9", 1), -E2BIG);
    cr_assert_eq(b.len, 8);
    cr_assert_str_eq(b.data, "12345678");
    cr_assert_eq(buf_printf(&b, "%s", "more"), -E2BIG);
    cr_assert_str_eq(b.data, "12345678");
    buf_reset(&b);
    cr_assert_eq(buf_printf(&b, "%s", "123456789"), -E2BIG, "printf past max");
    cr_assert_eq(b.len, 0);
    buf_done(&b);
}

Test(buf, take_moves_the_data_out)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    char big[5000];
    memset(big, 'q', sizeof(big));
    cr_assert_eq(buf_append(&b, big, sizeof(big)), 0);
    size_t len = 0;
    char *p = buf_take(&b, &len);
    cr_assert_not_null(p);
    cr_assert_eq(len, sizeof(big));
    cr_assert_eq(p[len], '\0');
    cr_assert_eq(b.len, 0);
    free(p);
    /* An empty buffer's take is "", never NULL. */
    p = buf_take(&b, &len);
    cr_assert_not_null(p);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(p, "");
    free(p);
    buf_done(&b);
}
