/* Unit tests for auth/password: argon2id hashing, verification, the dummy verify. */
#include "auth/password.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

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

/* The dummy verify is a real argon2id verify against a hash made at today's limits, so it
 * costs what a verify with a wrong password does (the timing itself is measured in
 * bench/auth, where a loaded machine cannot fail a test). */
static const char *params_end(const char *h)
{
    /* "$argon2id$v=19$m=...,t=...,p=...$salt$hash": the parameters end at the 4th '$'. */
    const char *p = h;
    for (int i = 0; i < 3 && p; i++)
        p = strchr(p + 1, '$');
    return p;
}

Test(password, dummy_runs_a_real_verify_at_todays_limits)
{
    const char *d = password_dummy_hash();
    cr_assert_not_null(d);
    cr_expect_eq(password_dummy_hash(), d, "one dummy hash for the process");
    char h[PASSWORD_HASH_SIZE];
    cr_assert_eq(password_hash("real password", 13, h), 0);
    const char *de = params_end(d), *he = params_end(h);
    cr_assert(de && he, "dummy %s, real %s", d, h);
    /* Same algorithm, version, memory, passes and lanes as a fresh hash: the same cost. */
    cr_expect_eq(de - d, he - h, "dummy %s, real %s", d, h);
    cr_expect_eq(strncmp(d, h, (size_t)(he - h)), 0, "dummy %s, real %s", d, h);
    cr_expect_not(password_needs_rehash(d));
    /* A well-formed hash of a secret nobody knows: nothing verifies against it. */
    cr_expect_not(password_verify(d, "wrong password", 14));
    cr_expect_not(password_verify(d, "", 0));
    cr_expect_not(password_verify_dummy("wrong password", 14));
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
