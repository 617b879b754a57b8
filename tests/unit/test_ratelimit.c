/* Unit tests for auth/ratelimit: token buckets, Retry-After, bounded memory, threads. */
#include "auth/ratelimit.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

static struct ratelimit *mk(double rate, double burst, size_t slots)
{
    struct ratelimit *rl = NULL;
    struct ratelimit_config c = {.rate = rate, .burst = burst, .slots = slots};
    cr_assert_eq(ratelimit_new(&c, &rl), 0);
    return rl;
}

Test(ratelimit, bad_config)
{
    struct ratelimit *rl = NULL;
    struct ratelimit_config c = {.rate = 0, .burst = 5, .slots = 10};
    cr_expect_eq(ratelimit_new(&c, &rl), -EINVAL);
    c.rate = 1;
    c.burst = 0.5;
    cr_expect_eq(ratelimit_new(&c, &rl), -EINVAL);
    c.burst = 1;
    c.slots = 0;
    cr_expect_eq(ratelimit_new(&c, &rl), -EINVAL);
    c.slots = 1;
    c.rate = 0.0 / 0.0;
    cr_expect_eq(ratelimit_new(&c, &rl), -EINVAL);
    cr_expect_eq(ratelimit_new(NULL, &rl), -EINVAL);
    ratelimit_free(NULL);
}

Test(ratelimit, burst_then_refill)
{
    /* 5 per minute, burst 5 */
    struct ratelimit *rl = mk(5.0 / 60, 5, 64);
    unsigned ra = 0;
    uint64_t t = 1000000;
    for (int i = 0; i < 5; i++)
        cr_expect(ratelimit_take(rl, "1.2.3.4", t, &ra), "attempt %d", i);
    cr_expect_not(ratelimit_take(rl, "1.2.3.4", t, &ra));
    cr_expect_eq(ra, 12, "one token per 12 s, got %u", ra);
    cr_expect(ratelimit_take(rl, "5.6.7.8", t, NULL), "other keys are independent");
    cr_expect_not(ratelimit_take(rl, "1.2.3.4", t + 11000, &ra));
    cr_expect_eq(ra, 1, "about 1 s left, got %u", ra);
    /* 24 s after emptying: two tokens back, and the denied take above cost nothing */
    cr_expect(ratelimit_take(rl, "1.2.3.4", t + 24000, NULL));
    cr_expect(ratelimit_take(rl, "1.2.3.4", t + 24000, NULL));
    cr_expect_not(ratelimit_take(rl, "1.2.3.4", t + 24000, NULL));
    /* a long quiet spell refills to the burst, not beyond */
    t += 3600 * 1000;
    for (int i = 0; i < 5; i++)
        cr_expect(ratelimit_take(rl, "1.2.3.4", t, NULL));
    cr_expect_not(ratelimit_take(rl, "1.2.3.4", t, NULL));
    ratelimit_free(rl);
}

Test(ratelimit, check_does_not_consume_and_reset_forgets)
{
    struct ratelimit *rl = mk(1.0 / 60, 2, 64);
    unsigned ra = 0;
    cr_expect(ratelimit_check(rl, "alice", 0, NULL));
    cr_expect(ratelimit_check(rl, "alice", 0, NULL));
    cr_expect(ratelimit_check(rl, "alice", 0, NULL));
    cr_expect(ratelimit_take(rl, "alice", 0, NULL));
    cr_expect(ratelimit_take(rl, "alice", 0, NULL));
    cr_expect_not(ratelimit_check(rl, "alice", 0, &ra));
    cr_expect_eq(ra, 60);
    cr_expect_not(ratelimit_check(rl, "alice", 0, NULL));
    ratelimit_reset(rl, "alice");
    cr_expect(ratelimit_check(rl, "alice", 0, NULL));
    cr_expect(ratelimit_take(rl, "alice", 0, NULL));
    ratelimit_reset(rl, "nobody");
    ratelimit_free(rl);
}

Test(ratelimit, refund_gives_back_one_token_up_to_the_burst)
{
    struct ratelimit *rl = mk(1.0 / 60, 2, 64);
    cr_expect(ratelimit_take(rl, "bob", 0, NULL));
    cr_expect(ratelimit_take(rl, "bob", 0, NULL));
    cr_expect_not(ratelimit_check(rl, "bob", 0, NULL));
    ratelimit_refund(rl, "bob", 0);
    cr_expect(ratelimit_take(rl, "bob", 0, NULL), "the refunded token");
    cr_expect_not(ratelimit_take(rl, "bob", 0, NULL));
    ratelimit_refund(rl, "bob", 0);
    ratelimit_refund(rl, "bob", 0);
    ratelimit_refund(rl, "bob", 0);
    cr_expect(ratelimit_take(rl, "bob", 0, NULL));
    cr_expect(ratelimit_take(rl, "bob", 0, NULL));
    cr_expect_not(ratelimit_take(rl, "bob", 0, NULL), "never above the burst");
    ratelimit_refund(rl, "unknown", 0);
    ratelimit_free(rl);
}

Test(ratelimit, clock_going_back_is_harmless)
{
    struct ratelimit *rl = mk(1, 1, 8);
    cr_expect(ratelimit_take(rl, "k", 5000, NULL));
    cr_expect_not(ratelimit_take(rl, "k", 1000, NULL));
    cr_expect(ratelimit_take(rl, "k", 6000, NULL));
    ratelimit_free(rl);
}

Test(ratelimit, flood_of_new_keys_does_not_free_a_limited_key)
{
    /* 64 slots; a limited key must survive 100k other keys passing through */
    struct ratelimit *rl = mk(1.0 / 60, 3, 64);
    for (int i = 0; i < 3; i++)
        ratelimit_take(rl, "victim", 0, NULL);
    cr_assert_not(ratelimit_take(rl, "victim", 0, NULL));
    char k[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(k, sizeof(k), "attacker-%d", i);
        ratelimit_take(rl, k, 0, NULL);
    }
    cr_expect_not(ratelimit_take(rl, "victim", 0, NULL), "victim still limited");
    ratelimit_free(rl);
}

Test(ratelimit, memory_is_bounded_and_old_keys_make_room)
{
    /* 8 slots, every key limited: newcomers evict the oldest when all are equally empty */
    struct ratelimit *rl = mk(1, 1, 8);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        cr_expect(ratelimit_take(rl, k, 0, NULL), "a new key always gets its burst");
    }
    ratelimit_free(rl);
}

struct worker {
    struct ratelimit *rl;
    int allowed;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 10000; i++)
        if (ratelimit_take(w->rl, "shared", 0, NULL))
            w->allowed++;
    return NULL;
}

Test(ratelimit, threads_never_overspend)
{
    struct ratelimit *rl = mk(1, 100, 1024);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.rl = rl};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += w[i].allowed;
    }
    cr_expect_eq(total, 100, "exactly the burst is allowed at one instant, got %d", total);
    ratelimit_free(rl);
}
