/* Unit tests for auth/password: argon2id hashing, verification, the dummy verify. */
#include "auth/password.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <time.h>

static void setup(void)
{
    cr_assert_eq(password_init(0), 0);
}

TestSuite(password, .init = setup, .timeout = 60);

Test(password, hash_and_verify)
{
    char h[PASSWORD_HASH_SIZE];
    cr_assert_eq(password_hash("correct horse", 13, h), 0);
    cr_expect_eq(strncmp(h, "$argon2id$", 10), 0, "%s", h);
    cr_expect(password_verify(h, "correct horse", 13));
    cr_expect_not(password_verify(h, "correct horsf", 13));
    cr_expect_not(password_verify(h, "correct hors", 12));
    cr_expect_not(password_verify(h, "", 0));
    cr_expect_not(password_needs_rehash(h));
}

Test(password, salted)
{
    char a[PASSWORD_HASH_SIZE], b[PASSWORD_HASH_SIZE];
    cr_assert_eq(password_hash("same password", 13, a), 0);
    cr_assert_eq(password_hash("same password", 13, b), 0);
    cr_expect_str_neq(a, b, "two hashes of one password differ (random salt)");
}

Test(password, embedded_nul_counts)
{
    char h[PASSWORD_HASH_SIZE];
    cr_assert_eq(password_hash("abc\0def12", 9, h), 0);
    cr_expect(password_verify(h, "abc\0def12", 9));
    cr_expect_not(password_verify(h, "abc", 3));
}

Test(password, refuses_malformed_and_oversized)
{
    char h[PASSWORD_HASH_SIZE];
    cr_expect_not(password_verify("", "x", 1));
    cr_expect_not(password_verify("$argon2id$garbage", "x", 1));
    cr_expect_not(password_verify(NULL, "x", 1));
    static char big[PASSWORD_MAX_BYTES + 1];
    memset(big, 'a', sizeof(big));
    cr_expect_eq(password_hash(big, sizeof(big), h), -EINVAL);
    cr_assert_eq(password_hash(big, PASSWORD_MAX_BYTES, h), 0);
    cr_expect(password_verify(h, big, PASSWORD_MAX_BYTES));
    cr_expect_not(password_verify(h, big, sizeof(big)));
}

Test(password, needs_rehash_for_other_limits)
{
    /* a valid argon2id string at weaker limits (m=8 KiB, t=1) */
    const char *weak = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    cr_expect(password_needs_rehash(weak));
}

static double ms_since(struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1e3 + (b.tv_nsec - a->tv_nsec) / 1e6;
}

Test(password, dummy_costs_like_a_real_verify)
{
    char h[PASSWORD_HASH_SIZE];
    struct timespec t;
    cr_assert_eq(password_hash("real password", 13, h), 0);
    clock_gettime(CLOCK_MONOTONIC, &t);
    cr_expect_not(password_verify(h, "wrong password", 14));
    double real = ms_since(&t);
    clock_gettime(CLOCK_MONOTONIC, &t);
    cr_expect_not(password_verify_dummy("wrong password", 14));
    double dummy = ms_since(&t);
    cr_log_info("verify %.1f ms, dummy %.1f ms", real, dummy);
    cr_expect_gt(dummy, real * 0.5, "dummy %.1f ms vs real %.1f ms", dummy, real);
    cr_expect_lt(dummy, real * 2.0, "dummy %.1f ms vs real %.1f ms", dummy, real);
}

Test(password, policy)
{
    const char *r = NULL;
    cr_expect_eq(password_check_policy("1234567", 7, &r), -EINVAL);
    cr_expect_str_eq(r, "password must be at least 8 characters");
    cr_expect_eq(password_check_policy("12345678", 8, NULL), 0);
    /* 7 two-byte characters are 14 bytes but 7 characters */
    cr_expect_eq(password_check_policy("ééééééé", strlen("ééééééé"), NULL), -EINVAL);
    cr_expect_eq(password_check_policy("éééééééé", strlen("éééééééé"), NULL), 0);
    static char big[PASSWORD_MAX_BYTES + 1];
    memset(big, 'a', sizeof(big));
    cr_expect_eq(password_check_policy(big, sizeof(big), &r), -EINVAL);
    cr_expect_str_eq(r, "password must be at most 1024 bytes");
}

Test(password, generated_temporary_passwords)
{
    char a[PASSWORD_TEMP_SIZE], b[PASSWORD_TEMP_SIZE];
    password_generate(a);
    password_generate(b);
    cr_expect_eq(strlen(a), 19, "%s", a);
    cr_expect_str_neq(a, b);
    const char *reason = NULL;
    cr_expect_eq(password_check_policy(a, strlen(a), &reason), 0, "the policy takes it");
    for (int i = 0; i < 19; i++) {
        if (i % 5 == 4)
            cr_expect_eq(a[i], '-', "%s", a);
        else
            cr_expect(strchr("0O1lI-", a[i]) == NULL, "no look-alikes: %s", a);
    }
}
