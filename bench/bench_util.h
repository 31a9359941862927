/* SPDX-License-Identifier: MIT */
/* What every benchmark here shares: a clock and the median of its repeats. */
#ifndef DMK_BENCH_UTIL_H
#define DMK_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

/* Monotonic time in nanoseconds. */
static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of @n timings (sorts @t): these machines are shared and noisy. */
static inline double bench_median(double *t, size_t n)
{
	qsort(t, n, sizeof(t[0]), bench_cmp_double);
	return t[n / 2];
}

#endif
