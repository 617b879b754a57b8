/* token: random tokens, their stored hashes and derived CSRF tokens; see token.h. */
#include "auth/token.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int token_new(const char *prefix, char ret[TOKEN_SIZE])
{
    size_t pl = strlen(prefix);
    unsigned char raw[TOKEN_BYTES];

    if (pl > TOKEN_PREFIX_MAX)
        return -EINVAL;
    for (size_t i = 0; i < pl; i++)
        if (!b64url_char(prefix[i]) || prefix[i] == '-')
            return -EINVAL;
    randombytes_buf(raw, sizeof(raw));
    memcpy(ret, prefix, pl);
    sodium_bin2base64(ret + pl, TOKEN_SIZE - pl, raw, sizeof(raw), B64);
    sodium_memzero(raw, sizeof(raw));
    return 0;
}

bool token_well_formed(const char *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (!s || strncmp(s, prefix, pl) != 0)
        return false;
    s += pl;
    for (size_t i = 0; i < TOKEN_B64_LEN; i++)
        if (!b64url_char(s[i]))
            return false;
    /* 43 characters carry 258 bits for 256: the last one holds 4 data bits and its low 2
     * bits are zero, which keeps one token from having several spellings. */
    static const char last[] = "AEIMQUYcgkosw048";
    return s[TOKEN_B64_LEN] == '\0' && strchr(last, s[TOKEN_B64_LEN - 1]) != NULL;
}

void token_hash(const char *token, char ret[TOKEN_HASH_SIZE])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL, 0);
    sodium_bin2hex(ret, TOKEN_HASH_SIZE, h, sizeof(h));
}

bool token_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false; /* lengths are not secret: every token of a kind has the same one */
    return sodium_memcmp(a, b, la) == 0;
}

void token_key_new(unsigned char key[TOKEN_KEY_BYTES])
{
    randombytes_buf(key, TOKEN_KEY_BYTES);
}

void token_csrf(const unsigned char key[TOKEN_KEY_BYTES], const char *session_token,
                char ret[TOKEN_CSRF_SIZE])
{
    static const char domain[] = "pyroom-csrf-v1"; /* separates this use of the key */
    crypto_generichash_state st;
    unsigned char h[32];

    crypto_generichash_init(&st, key, TOKEN_KEY_BYTES, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)domain, sizeof(domain));
    crypto_generichash_update(&st, (const unsigned char *)session_token, strlen(session_token));
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2base64(ret, TOKEN_CSRF_SIZE, h, sizeof(h), B64);
}

bool token_csrf_verify(const unsigned char key[TOKEN_KEY_BYTES], const char *session_token,
                       const char *given)
{
    char want[TOKEN_CSRF_SIZE];
    if (!given || !session_token)
        return false;
    token_csrf(key, session_token, want);
    return token_equal(want, given);
}
