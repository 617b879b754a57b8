/* password: argon2id password hashing via libsodium; see password.h. */
#include "auth/password.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#define OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = -EAGAIN;
static unsigned parallel_wanted;
static char dummy_hash[PASSWORD_HASH_SIZE];

/* A counting gate on concurrent hashes (64 MiB each). */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static unsigned gate_free;

static void gate_enter(void)
{
    pthread_mutex_lock(&gate_lock);
    while (gate_free == 0)
        pthread_cond_wait(&gate_cond, &gate_lock);
    gate_free--;
    pthread_mutex_unlock(&gate_lock);
}

static void gate_leave(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_free++;
    pthread_cond_signal(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static void init_once(void)
{
    if (sodium_init() < 0) {
        init_rc = -EIO;
        return;
    }
    unsigned n = parallel_wanted;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    gate_free = n;
    /* The dummy is a hash of a random password nobody knows, at today's limits, so a
     * dummy verify costs exactly what a real one does. */
    unsigned char secret[32];
    randombytes_buf(secret, sizeof(secret));
    if (crypto_pwhash_str(dummy_hash, (const char *)secret, sizeof(secret), OPSLIMIT, MEMLIMIT) !=
        0) {
        init_rc = -ENOMEM;
        return;
    }
    sodium_memzero(secret, sizeof(secret));
    init_rc = 0;
}

/* Initialises on first use if password_init was not called (then with one hash per CPU). */
static int ensure(void)
{
    pthread_once(&once, init_once);
    return init_rc;
}

int password_init(unsigned max_parallel)
{
    parallel_wanted = max_parallel; /* read only by init_once, which runs once */
    return ensure();
}

int password_check_policy(const char *password, size_t len, const char **ret_reason)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)password[i] & 0xc0) != 0x80) /* not a continuation byte */
            chars++;
    if (chars < PASSWORD_MIN_CHARS) {
        if (ret_reason)
            *ret_reason = "password must be at least 8 characters";
        return -EINVAL;
    }
    if (len > PASSWORD_MAX_BYTES) {
        if (ret_reason)
            *ret_reason = "password must be at most 1024 bytes";
        return -EINVAL;
    }
    return 0;
}

int password_hash(const char *password, size_t len, char ret[PASSWORD_HASH_SIZE])
{
    if (ensure() < 0)
        return init_rc;
    if (len > PASSWORD_MAX_BYTES)
        return -EINVAL;
    gate_enter();
    int r = crypto_pwhash_str(ret, password, len, OPSLIMIT, MEMLIMIT);
    gate_leave();
    return r == 0 ? 0 : -ENOMEM;
}

static bool verify(const char *hash, const char *password, size_t len)
{
    if (ensure() < 0 || !hash)
        return false;
    if (len > PASSWORD_MAX_BYTES)
        len = PASSWORD_MAX_BYTES; /* still do the work; the answer is no anyway */
    if (strnlen(hash, PASSWORD_HASH_SIZE) >= PASSWORD_HASH_SIZE)
        return false;
    gate_enter();
    int r = crypto_pwhash_str_verify(hash, password, len);
    gate_leave();
    return r == 0;
}

bool password_verify(const char *hash, const char *password, size_t len)
{
    if (len > PASSWORD_MAX_BYTES) {
        (void)verify(dummy_hash, password, len); /* same time as any other refusal */
        return false;
    }
    return verify(hash, password, len);
}

bool password_verify_dummy(const char *password, size_t len)
{
    (void)verify(dummy_hash, password, len);
    return false;
}

const char *password_dummy_hash(void)
{
    return ensure() == 0 ? dummy_hash : NULL;
}

void password_generate(char ret[PASSWORD_TEMP_SIZE])
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    size_t o = 0;
    for (int g = 0; g < 4; g++) {
        if (g)
            ret[o++] = '-';
        for (int i = 0; i < 4; i++)
            ret[o++] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    }
    ret[o] = '\0';
}

bool password_needs_rehash(const char *hash)
{
    if (ensure() < 0 || !hash)
        return false;
    return crypto_pwhash_str_needs_rehash(hash, OPSLIMIT, MEMLIMIT) != 0;
}
