/* Unit tests for base/err: the message names what failed first, then the errno's text. */
#include "base/err.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

Test(err, set_returns_minus_errno_and_appends_its_text)
{
    struct err e = {0};
    cr_assert_eq(err_set(&e, ENOENT, "open '%s'", "x.txt"), -ENOENT);
    cr_assert_eq(e.code, ENOENT);
    cr_assert_str_eq(e.msg, "open 'x.txt': No such file or directory");
    /* A negative errno is the same errno. */
    cr_assert_eq(err_set(&e, -EACCES, "write"), -EACCES);
    cr_assert_eq(e.code, EACCES);
    /* 0: a message of our own, no errno text. */
    cr_assert_eq(err_set(&e, 0, "plain"), 0);
    cr_assert_str_eq(e.msg, "plain");
    err_clear(&e);
    cr_assert_eq(e.code, 0);
    cr_assert_str_eq(e.msg, "");
}

Test(err, null_is_allowed_and_long_messages_are_cut)
{
    cr_assert_eq(err_set(NULL, EIO, "nobody listens"), -EIO);
    err_clear(NULL);
    struct err e = {0};
    char longs[1000];
    memset(longs, 'a', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    cr_assert_eq(err_set(&e, EIO, "%s", longs), -EIO);
    cr_assert_eq(strlen(e.msg), sizeof(e.msg) - 1);
    cr_assert_eq(e.code, EIO);
}
