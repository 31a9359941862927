/* SPDX-License-Identifier: MIT */
/*
 * The lease route's bookkeeping in the daemon (src/ipc/lease.c), no VFIO
 * needed: registrations inside the window only, no page shared between
 * two, every request checked against the window and the registration.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dmakit/region.h>
#include <dmakit/space.h>

#include "ipc/lease.h"

#define K4 ((uint64_t)4096)
#define BASE ((uint64_t)64 << 20)
#define SIZE ((uint64_t)1 << 20)

static int add(struct dmki_lease *l, uint64_t h, uint64_t iova, uint64_t len, unsigned prot)
{
	struct dmki_lease_reg r = { h, iova, len, 0x1000, prot };
	char why[160];

	return dmki_lease_add(l, &r, why, sizeof(why));
}

static void test_window_edges(void **state)
{
	struct dmki_lease l;
	char why[160];

	(void)state;
	dmki_lease_init(&l, BASE, SIZE);
	assert_int_equal(dmki_lease_check(&l, BASE, SIZE, why, sizeof(why)), 0);
	assert_int_equal(dmki_lease_check(&l, BASE + SIZE - 1, 1, why, sizeof(why)), 0);
	assert_int_equal(dmki_lease_check(&l, BASE - 1, 2, why, sizeof(why)), -ERANGE);
	assert_non_null(strstr(why, "outside the lease"));
	assert_int_equal(dmki_lease_check(&l, BASE - K4, K4, why, sizeof(why)), -ERANGE);
	assert_int_equal(dmki_lease_check(&l, BASE + SIZE, 1, why, sizeof(why)), -ERANGE);
	assert_int_equal(dmki_lease_check(&l, BASE, SIZE + 1, why, sizeof(why)), -ERANGE);
	assert_int_equal(dmki_lease_check(&l, BASE + K4, SIZE, why, sizeof(why)), -ERANGE);
	assert_int_equal(dmki_lease_check(&l, 0, K4, why, sizeof(why)), -ERANGE);
	assert_int_equal(dmki_lease_check(&l, UINT64_MAX - K4, 2 * K4, why, sizeof(why)), -EINVAL);
	assert_int_equal(dmki_lease_check(&l, BASE, 0, why, sizeof(why)), -EINVAL);
	/* A huge length that would wrap the window's arithmetic. */
	assert_int_equal(dmki_lease_check(&l, BASE + K4, UINT64_MAX - BASE - K4, why, sizeof(why)),
			 -ERANGE);
	dmki_lease_fini(&l);
}

static void test_no_shared_pages(void **state)
{
	struct dmki_lease l;

	(void)state;
	dmki_lease_init(&l, BASE, SIZE);
	assert_int_equal(add(&l, 1, BASE + K4, 2 * K4, DMK_PROT_RW), 0);
	/* Same pages, a page overlapping either end, a byte inside. */
	assert_int_equal(add(&l, 2, BASE + K4, 2 * K4, DMK_PROT_RW), -EEXIST);
	assert_int_equal(add(&l, 2, BASE, K4 + 1, DMK_PROT_RW), -EEXIST);
	assert_int_equal(add(&l, 2, BASE + 3 * K4 - 1, 1, DMK_PROT_RW), -EEXIST);
	assert_int_equal(add(&l, 2, BASE + 2 * K4 + 100, 10, DMK_PROT_RW), -EEXIST);
	/* Touching is fine: the next page, the page before. */
	assert_int_equal(add(&l, 2, BASE + 3 * K4, K4, DMK_PROT_RW), 0);
	assert_int_equal(add(&l, 3, BASE + 100, 10, DMK_PROT_RW), 0);
	assert_int_equal(l.n, 3);
	assert_non_null(dmki_lease_find(&l, 2));
	assert_null(dmki_lease_find(&l, 4));
	/* Forgotten: its pages are free again. */
	assert_int_equal(dmki_lease_remove(&l, 1), 0);
	assert_int_equal(dmki_lease_remove(&l, 1), -ENOENT);
	assert_int_equal(add(&l, 4, BASE + K4, 2 * K4, DMK_PROT_READ), 0);
	dmki_lease_fini(&l);
}

static void test_io_checks(void **state)
{
	struct dmki_lease l;
	char why[160];
	uint64_t dev = 0;

	(void)state;
	dmki_lease_init(&l, BASE, SIZE);
	assert_int_equal(add(&l, 7, BASE + 8 * K4 + 512, 16 * K4, DMK_PROT_WRITE), 0);
	assert_int_equal(add(&l, 8, BASE + 32 * K4, K4, DMK_PROT_READ), 0);
	assert_int_equal(dmki_lease_io(&l, 7, DMK_PROT_WRITE, 0, 16 * K4, &dev, why, sizeof(why)), 0);
	assert_int_equal(dev, BASE + 8 * K4 + 512);
	assert_int_equal(dmki_lease_io(&l, 7, DMK_PROT_WRITE, K4, 512, &dev, why, sizeof(why)), 0);
	assert_int_equal(dev, BASE + 9 * K4 + 512);
	/* Not this lease's handle. */
	assert_int_equal(dmki_lease_io(&l, 9, DMK_PROT_WRITE, 0, 512, &dev, why, sizeof(why)), -EPERM);
	/* Past the registration, wrapping, empty. */
	assert_int_equal(dmki_lease_io(&l, 7, DMK_PROT_WRITE, 16 * K4 - 511, 512, &dev, why,
				       sizeof(why)), -EINVAL);
	assert_int_equal(dmki_lease_io(&l, 7, DMK_PROT_WRITE, UINT64_MAX, 512, &dev, why,
				       sizeof(why)), -EINVAL);
	assert_int_equal(dmki_lease_io(&l, 7, DMK_PROT_WRITE, 0, 0, &dev, why, sizeof(why)), -EINVAL);
	/* Direction: the device may only write 7 and only read 8. */
	assert_int_equal(dmki_lease_io(&l, 7, DMK_PROT_READ, 0, 512, &dev, why, sizeof(why)), -EACCES);
	assert_int_equal(dmki_lease_io(&l, 8, DMK_PROT_READ, 0, 512, &dev, why, sizeof(why)), 0);
	assert_int_equal(dmki_lease_io(&l, 8, DMK_PROT_WRITE, 0, 512, &dev, why, sizeof(why)), -EACCES);
	dmki_lease_fini(&l);
}

/* A record that no longer fits the window (as if it had been corrupted) is
 * refused by the I/O check itself: nothing recorded is trusted. */
static void test_io_rechecks_window(void **state)
{
	struct dmki_lease l;
	char why[160];
	uint64_t dev = 0;

	(void)state;
	dmki_lease_init(&l, BASE, SIZE);
	assert_int_equal(add(&l, 5, BASE + SIZE - K4, K4, DMK_PROT_RW), 0);
	l.size -= K4;
	assert_int_equal(dmki_lease_io(&l, 5, DMK_PROT_READ, 0, 512, &dev, why, sizeof(why)), -ERANGE);
	l.regs[0].iova = BASE - K4;
	assert_int_equal(dmki_lease_io(&l, 5, DMK_PROT_READ, 0, 512, &dev, why, sizeof(why)), -ERANGE);
	dmki_lease_fini(&l);
}

/* Without a vfio space there is no lease; closing NULL is a no-op. */
static void test_open_needs_vfio(void **state)
{
	struct dmki_lease *l = NULL;
	struct dmk_space *sp;

	(void)state;
	assert_int_equal(dmk_space_sim_create(NULL, &sp), 0);
	assert_int_equal(dmki_lease_open(sp, SIZE, &l), -ENOTSUP);
	assert_null(l);
	assert_int_equal(dmk_space_destroy(sp), 0);
	assert_int_equal(dmki_lease_close(NULL, false, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_edges),
		cmocka_unit_test(test_no_shared_pages),
		cmocka_unit_test(test_io_checks),
		cmocka_unit_test(test_io_rechecks_window),
		cmocka_unit_test(test_open_needs_vfio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
