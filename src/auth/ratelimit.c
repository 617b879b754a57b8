/*
 * ratelimit: bounded, thread-safe token buckets; see ratelimit.h.
 *
 * The table is set-associative: a key's keyed hash picks one set of WAYS entries, and the
 * key lives in one of those or nowhere. Sets are guarded by a small array of striped locks
 * so that threads working on different keys rarely wait on each other.
 */
#include "auth/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAYS      8
#define LOCKS_MAX 64

struct entry {
    uint64_t tag;  /* keyed hash of the key; 0 = empty */
    double tokens; /* tokens at time `at` */
    uint64_t at;   /* ms of the last update */
};

struct ratelimit {
    double rate;  /* tokens per ms */
    double burst; /* tokens */
    size_t nsets; /* power of two */
    size_t nlocks;
    unsigned char hashkey[crypto_shorthash_KEYBYTES];
    pthread_mutex_t locks[LOCKS_MAX];
    struct entry *e; /* nsets * WAYS */
};

int ratelimit_new(const struct ratelimit_config *cfg, struct ratelimit **ret)
{
    /* written so that NaN and infinities fail too */
    if (!cfg || !(cfg->rate > 0 && cfg->rate < 1e9) || !(cfg->burst >= 1 && cfg->burst < 1e9) ||
        cfg->slots == 0 || cfg->slots > ((size_t)1 << 26))
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return -ENOMEM;
    size_t nsets = 1;
    while (nsets * WAYS < cfg->slots)
        nsets <<= 1;
    rl->e = calloc(nsets * WAYS, sizeof(*rl->e));
    if (!rl->e) {
        free(rl);
        return -ENOMEM;
    }
    rl->rate = cfg->rate / 1000.0;
    rl->burst = cfg->burst;
    rl->nsets = nsets;
    rl->nlocks = nsets < LOCKS_MAX ? nsets : LOCKS_MAX;
    for (size_t i = 0; i < rl->nlocks; i++)
        pthread_mutex_init(&rl->locks[i], NULL);
    randombytes_buf(rl->hashkey, sizeof(rl->hashkey));
    *ret = rl;
    return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->nlocks; i++)
        pthread_mutex_destroy(&rl->locks[i]);
    free(rl->e);
    free(rl);
}

static uint64_t tag_of(const struct ratelimit *rl, const char *key)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)key, strlen(key), rl->hashkey);
    return h ? h : 1;
}

/* Tokens in e at now, refilled and capped at burst. */
static double level(const struct ratelimit *rl, const struct entry *e, uint64_t now)
{
    double t = e->tokens;
    if (now > e->at)
        t += (double)(now - e->at) * rl->rate;
    return t < rl->burst ? t : rl->burst;
}

static unsigned retry_after(const struct ratelimit *rl, double tokens)
{
    /* less a hair, so that 1.0000000001 s of rounding noise says 1, not 2 */
    double secs = (1.0 - tokens) / rl->rate / 1000.0 - 1e-6;
    if (!(secs < 1e9))
        return 1000000000u;
    unsigned s = (unsigned)secs; /* rounded up by hand: no libm */
    if ((double)s < secs)
        s++;
    return s ? s : 1;
}

static bool access_bucket(struct ratelimit *rl, const char *key, uint64_t now, bool take,
                          unsigned *ret_retry_after)
{
    uint64_t tag = tag_of(rl, key);
    size_t set = (size_t)(tag >> 32) & (rl->nsets - 1);
    pthread_mutex_t *lock = &rl->locks[set & (rl->nlocks - 1)];
    struct entry *ways = &rl->e[set * WAYS];
    struct entry *e = NULL;
    bool allowed;

    pthread_mutex_lock(lock);
    for (size_t i = 0; i < WAYS; i++)
        if (ways[i].tag == tag)
            e = &ways[i];
    if (!e && !take) {
        allowed = true; /* unknown key: full bucket */
        goto out;
    }
    if (!e) {
        /* Evict the fullest bucket (an empty slot counts as full); ties go to the oldest. */
        double best = -1;
        for (size_t i = 0; i < WAYS; i++) {
            double l = ways[i].tag ? level(rl, &ways[i], now) : rl->burst + 1;
            if (!e || l > best || (l == best && ways[i].at < e->at)) {
                e = &ways[i];
                best = l;
            }
        }
        *e = (struct entry){.tag = tag, .tokens = rl->burst, .at = now};
    }
    double t = level(rl, e, now);
    allowed = t >= 1.0;
    if (take) {
        if (allowed)
            t -= 1.0;
        e->tokens = t;
        if (now > e->at)
            e->at = now;
    }
    if (!allowed && ret_retry_after)
        *ret_retry_after = retry_after(rl, t);
out:
    pthread_mutex_unlock(lock);
    return allowed;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, uint64_t now_ms,
                    unsigned *ret_retry_after)
{
    return access_bucket(rl, key, now_ms, true, ret_retry_after);
}

bool ratelimit_check(struct ratelimit *rl, const char *key, uint64_t now_ms,
                     unsigned *ret_retry_after)
{
    return access_bucket(rl, key, now_ms, false, ret_retry_after);
}

void ratelimit_refund(struct ratelimit *rl, const char *key, uint64_t now_ms)
{
    uint64_t tag = tag_of(rl, key);
    size_t set = (size_t)(tag >> 32) & (rl->nsets - 1);
    pthread_mutex_t *lock = &rl->locks[set & (rl->nlocks - 1)];
    struct entry *ways = &rl->e[set * WAYS];

    pthread_mutex_lock(lock);
    for (size_t i = 0; i < WAYS; i++) {
        if (ways[i].tag == tag) {
            double t = level(rl, &ways[i], now_ms) + 1.0;
            ways[i].tokens = t < rl->burst ? t : rl->burst;
            if (now_ms > ways[i].at)
                ways[i].at = now_ms;
        }
    }
    pthread_mutex_unlock(lock);
}

void ratelimit_reset(struct ratelimit *rl, const char *key)
{
    uint64_t tag = tag_of(rl, key);
    size_t set = (size_t)(tag >> 32) & (rl->nsets - 1);
    pthread_mutex_t *lock = &rl->locks[set & (rl->nlocks - 1)];
    struct entry *ways = &rl->e[set * WAYS];

    pthread_mutex_lock(lock);
    for (size_t i = 0; i < WAYS; i++)
        if (ways[i].tag == tag)
            ways[i] = (struct entry){0};
    pthread_mutex_unlock(lock);
}
