/*
 * ratelimit: token buckets keyed by a string (a client address, a username), in a fixed
 * amount of memory, safe to call from every HTTP thread.
 *
 * Each key owns a bucket of `burst` tokens that refills at `rate` tokens per second; an
 * attempt takes one token, and an empty bucket says how many seconds until the next one
 * (the Retry-After of a 429). A quiet key drifts back to a full bucket, which is the same
 * as never having been seen, so the table only needs to remember keys that were busy.
 *
 * Memory is bounded: `slots` entries of 24 bytes, in sets of 8. Keys are not stored, only
 * a SipHash under a random per-limiter key, so a client cannot choose names that collide
 * and cannot read anything back. When a set is full, the entry with the most tokens left
 * is evicted (the fullest bucket: least to forget), so a flood of new keys evicts other
 * newcomers long before it can evict, and so reset, a key that is being limited.
 *
 * For logins, count every attempt before the password is hashed, so that a burst of
 * parallel attempts cannot all pass a check before any failure is recorded:
 * ratelimit_take() the address and the username (429 if either refuses), then on a
 * success ratelimit_refund() both. ratelimit_check() only looks, for display.
 *
 * Times are milliseconds from any monotonic origin (clock_mono_ms(), base/clock.h), passed in
 * so tests control the clock.
 */
#ifndef PYROOM_AUTH_RATELIMIT_H
#define PYROOM_AUTH_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit_config {
    double rate;  /* tokens added per second, > 0 (e.g. 5.0 / 60 for 5 a minute) */
    double burst; /* bucket size in tokens, >= 1: attempts allowed at once */
    size_t slots; /* keys remembered at once (rounded up to a power of two, >= 8) */
};

/* Creates a limiter. -EINVAL for a bad config, -ENOMEM. The caller owns *ret. */
int ratelimit_new(const struct ratelimit_config *cfg, struct ratelimit **ret);
/* Frees; accepts NULL. No other thread may be using it. */
void ratelimit_free(struct ratelimit *rl);

/* Takes one token from key's bucket. True when allowed; otherwise false with
 * *ret_retry_after (may be NULL) set to whole seconds until a token is back (>= 1). */
bool ratelimit_take(struct ratelimit *rl, const char *key, uint64_t now_ms,
                    unsigned *ret_retry_after);
/* Like ratelimit_take, but only looks: true when a take now would be allowed. */
bool ratelimit_check(struct ratelimit *rl, const char *key, uint64_t now_ms,
                     unsigned *ret_retry_after);
/* Gives back one token taken by ratelimit_take (never above the burst): a successful
 * login does not count against its address or name. */
void ratelimit_refund(struct ratelimit *rl, const char *key, uint64_t now_ms);
/* Forgets key (its bucket is full again). */
void ratelimit_reset(struct ratelimit *rl, const char *key);

#endif
