/* Unit tests for base/clock: the units agree, time never goes back, deadlines are
 * normalised and in the future. */
#include "base/clock.h"

#include <criterion/criterion.h>

Test(clock, us_and_ms_agree_and_never_go_back)
{
    int64_t us0 = clock_mono_us();
    uint64_t ms = clock_mono_ms();
    int64_t us1 = clock_mono_us();
    cr_assert_geq(us1, us0);
    /* ms was read between the two: within their range once both are in ms. */
    cr_assert_geq(ms, (uint64_t)(us0 / 1000));
    cr_assert_leq(ms, (uint64_t)(us1 / 1000));
    for (int i = 0; i < 1000; i++) {
        int64_t t = clock_mono_us();
        cr_assert_geq(t, us1);
        us1 = t;
    }
}

Test(clock, deadline_is_normalised_and_ahead)
{
    unsigned cases[] = {0, 1, 999, 1000, 1001, 2500, 60000};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t before = clock_mono_us();
        struct timespec d = clock_deadline(cases[i]);
        int64_t after = clock_mono_us();
        cr_assert_geq(d.tv_nsec, 0);
        cr_assert_lt(d.tv_nsec, 1000000000L, "tv_nsec %ld for %u ms", d.tv_nsec, cases[i]);
        int64_t d_us = (int64_t)d.tv_sec * 1000000 + d.tv_nsec / 1000;
        cr_assert_geq(d_us, before + (int64_t)cases[i] * 1000);
        cr_assert_leq(d_us, after + (int64_t)cases[i] * 1000);
    }
}
