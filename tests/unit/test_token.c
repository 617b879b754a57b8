/* Unit tests for auth/token: random tokens, stored hashes, CSRF tokens. */
#include "auth/token.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

static void setup(void)
{
    cr_assert_geq(sodium_init(), 0);
}

TestSuite(token, .init = setup);

Test(token, new_has_shape_and_is_random)
{
    char a[TOKEN_SIZE], b[TOKEN_SIZE];
    cr_assert_eq(token_new(TOKEN_PREFIX_API, a), 0);
    cr_assert_eq(token_new(TOKEN_PREFIX_API, b), 0);
    cr_expect_eq(strlen(a), strlen(TOKEN_PREFIX_API) + TOKEN_B64_LEN);
    cr_expect_eq(strncmp(a, "pyr_", 4), 0);
    cr_expect_str_neq(a, b);
    cr_expect(token_well_formed(a, TOKEN_PREFIX_API));
    cr_expect_not(token_well_formed(a, TOKEN_PREFIX_SESSION));
    for (const char *p = a + 4; *p; p++)
        cr_expect(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p),
                  "URL-safe character '%c'", *p);
    cr_assert_eq(token_new(TOKEN_PREFIX_SESSION, a), 0);
    cr_expect(token_well_formed(a, TOKEN_PREFIX_SESSION));
    cr_assert_eq(token_new("", a), 0);
    cr_expect_eq(strlen(a), TOKEN_B64_LEN);
}

Test(token, new_refuses_bad_prefixes)
{
    char a[TOKEN_SIZE];
    cr_expect_eq(token_new("0123456789abcdef", a), -EINVAL, "16 bytes is too long");
    cr_expect_eq(token_new("0123456789abcde", a), 0, "15 bytes fits");
    cr_expect_eq(token_new("a b", a), -EINVAL);
    cr_expect_eq(token_new("a;b", a), -EINVAL);
}

Test(token, well_formed_is_strict)
{
    char a[TOKEN_SIZE], b[TOKEN_SIZE + 4];
    cr_assert_eq(token_new("pyr_", a), 0);
    strcpy(b, a);
    strcat(b, "A");
    cr_expect_not(token_well_formed(b, "pyr_"), "too long");
    b[strlen(a) - 1] = '\0';
    cr_expect_not(token_well_formed(b, "pyr_"), "too short");
    strcpy(b, a);
    b[10] = '+';
    cr_expect_not(token_well_formed(b, "pyr_"), "not URL-safe");
    strcpy(b, a);
    b[strlen(b) - 1] = 'B';
    cr_expect_not(token_well_formed(b, "pyr_"), "non-canonical last character");
    cr_expect_not(token_well_formed("", "pyr_"));
    cr_expect_not(token_well_formed("pyr_", "pyr_"));
}

Test(token, hash_is_stable_hex)
{
    char h1[TOKEN_HASH_SIZE], h2[TOKEN_HASH_SIZE];
    token_hash("pyr_abc", h1);
    token_hash("pyr_abc", h2);
    cr_expect_str_eq(h1, h2);
    cr_expect_eq(strlen(h1), 64);
    cr_expect_eq(strspn(h1, "0123456789abcdef"), 64);
    token_hash("pyr_abd", h2);
    cr_expect_str_neq(h1, h2);
    /* BLAKE2b-256 of the empty string */
    token_hash("", h1);
    cr_expect_str_eq(h1, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
}

Test(token, equal)
{
    cr_expect(token_equal("abc", "abc"));
    cr_expect_not(token_equal("abc", "abd"));
    cr_expect_not(token_equal("abc", "abcd"));
    cr_expect_not(token_equal("abc", ""));
    cr_expect_not(token_equal(NULL, "abc"));
    cr_expect(token_equal("", ""));
}

Test(token, csrf_is_derived_and_keyed)
{
    unsigned char k1[TOKEN_KEY_BYTES], k2[TOKEN_KEY_BYTES];
    char s1[TOKEN_SIZE], s2[TOKEN_SIZE], c1[TOKEN_CSRF_SIZE], c1b[TOKEN_CSRF_SIZE],
        c2[TOKEN_CSRF_SIZE], c3[TOKEN_CSRF_SIZE];
    token_key_new(k1);
    token_key_new(k2);
    cr_expect_neq(memcmp(k1, k2, sizeof(k1)), 0);
    token_new(TOKEN_PREFIX_SESSION, s1);
    token_new(TOKEN_PREFIX_SESSION, s2);
    token_csrf(k1, s1, c1);
    token_csrf(k1, s1, c1b);
    token_csrf(k1, s2, c2);
    token_csrf(k2, s1, c3);
    cr_expect_eq(strlen(c1), TOKEN_B64_LEN);
    cr_expect_str_eq(c1, c1b, "same session, same key: same token (no storage needed)");
    cr_expect_str_neq(c1, c2, "another session");
    cr_expect_str_neq(c1, c3, "another server secret");
    cr_expect(token_csrf_verify(k1, s1, c1));
    cr_expect_not(token_csrf_verify(k1, s2, c1));
    cr_expect_not(token_csrf_verify(k2, s1, c1));
    cr_expect_not(token_csrf_verify(k1, s1, NULL));
    cr_expect_not(token_csrf_verify(k1, s1, ""));
    c1b[5] ^= 1;
    cr_expect_not(token_csrf_verify(k1, s1, c1b));
    /* the CSRF token is not the session token's stored hash or the token itself */
    char h[TOKEN_HASH_SIZE];
    token_hash(s1, h);
    cr_expect_null(strstr(h, c1));
    cr_expect_null(strstr(s1, c1));
}
