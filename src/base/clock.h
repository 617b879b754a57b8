/*
 * clock: the monotonic clock in the units the program uses (CLOCK_MONOTONIC; never goes
 * back, unaffected by the wall clock), and absolute deadlines for pthread_cond_timedwait on
 * a condition variable whose clock is CLOCK_MONOTONIC (pthread_condattr_setclock).
 */
#ifndef PYROOM_BASE_CLOCK_H
#define PYROOM_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds and milliseconds of CLOCK_MONOTONIC (from an arbitrary origin). */
int64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);
/* The CLOCK_MONOTONIC time ms milliseconds from now, normalised (tv_nsec < 1e9). */
struct timespec clock_deadline(unsigned ms);

#endif
