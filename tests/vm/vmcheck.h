/* SPDX-License-Identifier: MIT */
/*
 * What every guest test shares: one "PASS name" or "FAIL name: why" line a
 * check (testbed/run shows them; the test's exit status decides), and
 * SETUP() for steps without which the test cannot go on (it returns 2).
 * For one-file test programs: everything here is static.
 */
#ifndef DMK_VMCHECK_H
#define DMK_VMCHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <dmakit/error.h>

static int failures;

static void result(bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void result(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
	} else {
		failures++;
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf(" (last error: %s)\n", dmk_last_error());
	}
	fflush(stdout);
}

#define SETUP(call, what)                                                              \
	do {                                                                           \
		int rc_ = (call);                                                      \
		if (rc_) {                                                             \
			printf("FAIL %s: %s -> %d (%s)\n", what, #call, rc_,          \
			       dmk_last_error());                                      \
			return 2;                                                      \
		}                                                                      \
	} while (0)

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
