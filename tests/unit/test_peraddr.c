/* Unit tests for http/peraddr: requests in flight per address, bounded, given back, never
 * below zero, and exact under threads. */
#include "http/peraddr.h"

#include <criterion/criterion.h>
#include <pthread.h>

Test(peraddr, bounds_each_address)
{
    struct peraddr *p = peraddr_new(3);
    cr_assert_not_null(p);
    for (int i = 0; i < 3; i++)
        cr_expect(peraddr_take(p, "203.0.113.7"), "take %d", i);
    cr_expect_not(peraddr_take(p, "203.0.113.7"), "a fourth is refused");
    /* Another address has its own counter (these two do not share a slot). */
    cr_expect(peraddr_take(p, "2001:db8::1"));
    peraddr_give(p, "203.0.113.7");
    cr_expect(peraddr_take(p, "203.0.113.7"), "one given back: one more");
    cr_expect_not(peraddr_take(p, "203.0.113.7"));
    peraddr_free(p);
}

Test(peraddr, giving_back_more_than_taken_does_not_underflow)
{
    struct peraddr *p = peraddr_new(2);
    peraddr_give(p, "198.51.100.1");
    peraddr_give(p, "198.51.100.1");
    cr_expect(peraddr_take(p, "198.51.100.1"));
    cr_expect(peraddr_take(p, "198.51.100.1"));
    cr_expect_not(peraddr_take(p, "198.51.100.1"), "still at most 2");
    peraddr_free(p);
    peraddr_free(NULL);
}

Test(peraddr, zero_means_one)
{
    struct peraddr *p = peraddr_new(0);
    cr_expect(peraddr_take(p, "a"));
    cr_expect_not(peraddr_take(p, "a"));
    peraddr_free(p);
}

static void *churn(void *arg)
{
    struct peraddr *p = arg;
    for (int i = 0; i < 20000; i++)
        if (peraddr_take(p, "192.0.2.9"))
            peraddr_give(p, "192.0.2.9");
    return NULL;
}

Test(peraddr, balanced_under_threads)
{
    struct peraddr *p = peraddr_new(4);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, p);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    /* Every take was given back: the full allowance is free again, and no more. */
    for (int i = 0; i < 4; i++)
        cr_expect(peraddr_take(p, "192.0.2.9"), "take %d", i);
    cr_expect_not(peraddr_take(p, "192.0.2.9"));
    peraddr_free(p);
}
