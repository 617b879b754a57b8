/*
 * token: secrets handed to clients, and what the server keeps of them.
 *
 *  - Session and API tokens: 256 random bits (randombytes_buf), URL-safe base64 without
 *    padding (43 characters) after a prefix naming the kind: "pyrs_" for session cookies,
 *    "pyr_" for API tokens (a leaked "pyr_" string is recognisable by secret scanners).
 *  - The database stores only token_hash(): BLAKE2b-256 (crypto_generichash) in hex. With
 *    256 bits of entropy no salt or slow hash is needed, and a stolen table opens nothing.
 *  - CSRF tokens are not stored: token_csrf() is a keyed BLAKE2b of the session token under
 *    a server secret (TOKEN_KEY_BYTES), so every node that shares the secret derives the
 *    same value and an attacker who cannot read the HttpOnly cookie cannot compute it.
 *
 * Comparisons of secrets are constant-time (sodium_memcmp). Pure functions, thread-safe;
 * libsodium must be initialised (password_init() or sodium_init()). Outputs are caller
 * buffers of the sizes named below; inputs are NUL-terminated strings.
 */
#ifndef PYROOM_AUTH_TOKEN_H
#define PYROOM_AUTH_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_PREFIX_SESSION "pyrs_"
#define TOKEN_PREFIX_API     "pyr_"
#define TOKEN_BYTES          32 /* random bytes in a token */
#define TOKEN_B64_LEN        43 /* their URL-safe base64, no padding */
#define TOKEN_PREFIX_MAX     15 /* bytes in a prefix */
#define TOKEN_SIZE           (TOKEN_PREFIX_MAX + TOKEN_B64_LEN + 1) /* buffer for a token */
#define TOKEN_HASH_SIZE      65                                     /* 64 hex digits and NUL */
#define TOKEN_CSRF_SIZE      (TOKEN_B64_LEN + 1)                    /* buffer for a CSRF token */
#define TOKEN_KEY_BYTES      32 /* server secret for CSRF tokens */

/* Writes prefix + 43 random URL-safe characters to ret (TOKEN_SIZE bytes). -EINVAL when
 * prefix is longer than TOKEN_PREFIX_MAX or not made of [A-Za-z0-9_]. */
int token_new(const char *prefix, char ret[TOKEN_SIZE]);

/* True when s has the exact shape of a token with this prefix (prefix, then 43 URL-safe
 * base64 characters). Cheap: lets a caller refuse garbage before a database lookup. */
bool token_well_formed(const char *s, const char *prefix);

/* The hash stored in place of a token: lower-case hex BLAKE2b-256 of its bytes. */
void token_hash(const char *token, char ret[TOKEN_HASH_SIZE]);

/* Constant-time equality of two strings (time depends only on their lengths). */
bool token_equal(const char *a, const char *b);

/* Fills key with a new random server secret. */
void token_key_new(unsigned char key[TOKEN_KEY_BYTES]);

/* The CSRF token of a session: URL-safe base64 of BLAKE2b-256 keyed by key over
 * "pyroom-csrf-v1" and the session token. Written to ret (TOKEN_CSRF_SIZE bytes). */
void token_csrf(const unsigned char key[TOKEN_KEY_BYTES], const char *session_token,
                char ret[TOKEN_CSRF_SIZE]);

/* True when given (an X-CSRF-Token header, may be NULL) is the session's CSRF token. */
bool token_csrf_verify(const unsigned char key[TOKEN_KEY_BYTES], const char *session_token,
                       const char *given);

#endif
