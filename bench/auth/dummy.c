/* bench/auth: what a login for an unknown user costs next to one with a wrong password.
 * password_verify_dummy must cost what a real verify does, or the response time tells an
 * attacker which usernames exist (auth/password.h). Interleaves ROUNDS real verifies (a
 * wrong password against a real hash) with ROUNDS dummy verifies and prints the median of
 * each and their ratio; a loaded machine shifts both alike, so only the ratio means
 * anything. Expected: close to 1.00. */
#include "auth/password.h"
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 15;
    if (rounds < 1 || rounds > 1000 || password_init(1) < 0) {
        fprintf(stderr, "usage: dummy [ROUNDS] (1..1000); libsodium must start\n");
        return 1;
    }
    char h[PASSWORD_HASH_SIZE];
    if (password_hash("the real password", 17, h) < 0)
        return 1;
    double *real = calloc((size_t)rounds, sizeof(double));
    double *dummy = calloc((size_t)rounds, sizeof(double));
    if (!real || !dummy)
        return 1;
    for (int i = 0; i < rounds; i++) {
        int64_t t = clock_mono_us();
        (void)password_verify(h, "a wrong password", 16);
        real[i] = (double)(clock_mono_us() - t) / 1000.0;
        t = clock_mono_us();
        (void)password_verify_dummy("a wrong password", 16);
        dummy[i] = (double)(clock_mono_us() - t) / 1000.0;
    }
    double r = median(real, rounds), d = median(dummy, rounds);
    printf("auth: wrong password %.1f ms, unknown user (dummy) %.1f ms (medians of %d, "
           "interleaved): ratio %.2f\n",
           r, d, rounds, d / r);
    free(real);
    free(dummy);
    return 0;
}
