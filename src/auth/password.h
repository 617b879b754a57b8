/*
 * password: account passwords, hashed with argon2id (libsodium crypto_pwhash_str at the
 * INTERACTIVE limits: ~90 ms and 64 MiB per hash on this machine).
 *
 * The stored form is libsodium's self-describing string ("$argon2id$v=19$m=...,t=...,
 * p=1$salt$hash"), so raising the limits later only needs password_needs_rehash() at login.
 * Because each hash holds 64 MiB for its ~90 ms, at most `max_parallel` hashes run at once
 * (the others wait their turn): a burst of logins cannot take the node's memory.
 *
 * Unknown users: call password_verify_dummy() so that a login for a name that does not
 * exist costs the same time as a wrong password, and the response time does not tell an
 * attacker which usernames exist.
 *
 * Thread-safe after password_init(). Passwords are bytes (any encoding), not kept.
 */
#ifndef PYROOM_AUTH_PASSWORD_H
#define PYROOM_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define PASSWORD_HASH_SIZE 128  /* crypto_pwhash_STRBYTES: the stored string and its NUL */
#define PASSWORD_MIN_CHARS 8    /* characters (UTF-8 code points), not bytes */
#define PASSWORD_MAX_BYTES 1024 /* longer input is refused before hashing */

/* Initialises libsodium (once, however often called), sets the bound on concurrent hashes
 * (0 = the number of online CPUs) and prepares the dummy hash (one hash, ~90 ms).
 * Returns 0, or -EIO when libsodium cannot start (no entropy source), -ENOMEM. Call at
 * start-up before threads; later calls are no-ops. */
int password_init(unsigned max_parallel);

/* Policy for a new password: PASSWORD_MIN_CHARS..PASSWORD_MAX_BYTES. Returns 0 or -EINVAL
 * with a static reason ("password must be at least 8 characters"). */
int password_check_policy(const char *password, size_t len, const char **ret_reason);

/* Hashes password into ret (PASSWORD_HASH_SIZE bytes, NUL-terminated). Returns 0,
 * -EINVAL (longer than PASSWORD_MAX_BYTES), or -ENOMEM. */
int password_hash(const char *password, size_t len, char ret[PASSWORD_HASH_SIZE]);

/* True when password matches hash (a string from password_hash). False on mismatch and on
 * any error (malformed hash, too long, out of memory): a caller only needs yes or no. */
bool password_verify(const char *hash, const char *password, size_t len);

/* Does the work of a verify against a fixed hash and returns false: for unknown users. */
bool password_verify_dummy(const char *password, size_t len);
/* That fixed hash (made once by password_init, of a random secret nobody knows, at today's
 * limits), so that tests can see it costs what a real one does; NULL before init. */
const char *password_dummy_hash(void);

/* A temporary password for an administrator to hand over: 4 groups of 4 letters and digits
 * without look-alikes (0/O, 1/l/I), joined by '-' (about 92 random bits; PASSWORD_TEMP_SIZE
 * bytes with the NUL). Call after password_init(). */
#define PASSWORD_TEMP_SIZE 20
void password_generate(char ret[PASSWORD_TEMP_SIZE]);

/* True when hash was made with other limits than today's and should be replaced with a
 * fresh password_hash() after a successful login. */
bool password_needs_rehash(const char *hash);

#endif
