/* SPDX-License-Identifier: MIT */
/* The IOVA allocator of the vfio space (src/space/iova.c), no VFIO needed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "space/iova.h"

#define K4 ((uint64_t)4096)
#define M2 ((uint64_t)2 << 20)
#define NONE UINT64_MAX

static void check_sorted(const struct dmki_iova *a)
{
	for (size_t i = 0; i < a->n; i++) {
		assert_true(a->free[i].start < a->free[i].end);
		if (i)
			assert_true(a->free[i - 1].end < a->free[i].start);	/* no touching */
	}
}

static void test_first_fit_and_free_merge(void **state)
{
	struct dmki_iova a;
	uint64_t x, y, z;

	(void)state;
	dmki_iova_init(&a);
	assert_int_equal(dmki_iova_free(&a, K4, 1023 * K4), 0);	/* [4K, 4M) */
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, NONE, &x), 0);
	assert_int_equal(x, K4);
	assert_int_equal(dmki_iova_alloc(&a, 2 * K4, K4, 0, NONE, &y), 0);
	assert_int_equal(y, 2 * K4);
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, NONE, &z), 0);
	assert_int_equal(z, 4 * K4);
	/* A hole in the middle is reused first. */
	assert_int_equal(dmki_iova_free(&a, y, 2 * K4), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, NONE, &y), 0);
	assert_int_equal(y, 2 * K4);
	/* Freeing everything merges back into one range. */
	assert_int_equal(dmki_iova_free(&a, x, K4), 0);
	assert_int_equal(dmki_iova_free(&a, z, K4), 0);
	assert_int_equal(dmki_iova_free(&a, y, K4), 0);
	check_sorted(&a);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.free[0].start, K4);
	assert_int_equal(a.free[0].end, 1024 * K4);
	dmki_iova_fini(&a);
}

static void test_double_free_and_bad_args(void **state)
{
	struct dmki_iova a;
	uint64_t x;

	(void)state;
	dmki_iova_init(&a);
	assert_int_equal(dmki_iova_free(&a, 0, 16 * K4), 0);
	assert_int_equal(dmki_iova_free(&a, 4 * K4, K4), -EINVAL);	/* already free */
	assert_int_equal(dmki_iova_free(&a, 100, K4), -EINVAL);		/* unaligned */
	assert_int_equal(dmki_iova_free(&a, 32 * K4, 0), -EINVAL);
	assert_int_equal(dmki_iova_alloc(&a, 100, K4, 0, NONE, &x), -EINVAL);
	assert_int_equal(dmki_iova_alloc(&a, K4, 3 * K4, 0, NONE, &x), -EINVAL);
	assert_int_equal(dmki_iova_alloc(&a, K4, M2, M2, NONE, &x), -EINVAL);
	assert_int_equal(dmki_iova_alloc(&a, 17 * K4, K4, 0, NONE, &x), -ENOSPC);
	assert_int_equal(a.n, 1);
	dmki_iova_fini(&a);
}

static void test_limit(void **state)
{
	struct dmki_iova a;
	uint64_t x;
	const uint64_t lim = (uint64_t)1 << 28;

	(void)state;
	dmki_iova_init(&a);
	/* Like a VT-d window: low part below the reach, the rest far above. */
	assert_int_equal(dmki_iova_free(&a, K4, lim - 2 * K4), 0);	/* [4K, 2^28 - 4K) */
	assert_int_equal(dmki_iova_free(&a, (uint64_t)1 << 32, (uint64_t)1 << 32), 0);
	assert_int_equal(dmki_iova_alloc(&a, lim - 2 * K4, K4, 0, lim, &x), 0);
	assert_int_equal(x, K4);
	assert_true(x + lim - 2 * K4 <= lim);
	/* Nothing left below the limit, though much is free above it. */
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, lim, &x), -ENOSPC);
	assert_int_equal(dmki_iova_free_bytes(&a, lim), 0);
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, NONE, &x), 0);
	assert_int_equal(x, (uint64_t)1 << 32);
	/* A range that starts below the limit but would end above it is refused. */
	assert_int_equal(dmki_iova_free(&a, K4, lim - 2 * K4), 0);
	assert_int_equal(dmki_iova_alloc(&a, lim, K4, 0, lim, &x), -ENOSPC);
	assert_int_equal(dmki_iova_alloc(&a, lim - 2 * K4, K4, 0, lim - K4, &x), 0);
	assert_int_equal(x, K4);
	dmki_iova_fini(&a);
}

static void test_superpage_alignment_and_phase(void **state)
{
	struct dmki_iova a;
	uint64_t x, y;

	(void)state;
	dmki_iova_init(&a);
	assert_int_equal(dmki_iova_free(&a, K4, (uint64_t)1 << 30), 0);
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, NONE, &x), 0);
	assert_int_equal(x, K4);
	/* Plain 2 MiB alignment skips to the next 2 MiB boundary. */
	assert_int_equal(dmki_iova_alloc(&a, 2 * M2, M2, 0, NONE, &y), 0);
	assert_int_equal(y, M2);
	/* With a phase: same offset in a 2 MiB page as the host address. */
	assert_int_equal(dmki_iova_alloc(&a, M2, M2, 0x3000, NONE, &y), 0);
	assert_int_equal(y & (M2 - 1), 0x3000);
	assert_true(y >= 3 * M2);
	/* The space skipped for alignment is still there for small ones. */
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, NONE, &x), 0);
	assert_int_equal(x, 2 * K4);
	check_sorted(&a);
	dmki_iova_fini(&a);
}

static void test_alloc_at(void **state)
{
	struct dmki_iova a;
	uint64_t x;

	(void)state;
	dmki_iova_init(&a);
	assert_int_equal(dmki_iova_free(&a, K4, 63 * K4), 0);
	assert_int_equal(dmki_iova_alloc(&a, 4 * K4, K4, 0, NONE, &x), 0);
	/* Right after it: free, taken. */
	assert_true(dmki_iova_is_free(&a, x + 4 * K4, 2 * K4));
	assert_int_equal(dmki_iova_alloc_at(&a, x + 4 * K4, 2 * K4), 0);
	assert_false(dmki_iova_is_free(&a, x + 4 * K4, K4));
	/* Taken again, or overlapping: busy. */
	assert_int_equal(dmki_iova_alloc_at(&a, x + 4 * K4, 2 * K4), -EBUSY);
	assert_int_equal(dmki_iova_alloc_at(&a, x + 5 * K4, 2 * K4), -EBUSY);
	/* In the middle of a free range: splits it. */
	assert_int_equal(dmki_iova_alloc_at(&a, 32 * K4, K4), 0);
	assert_int_equal(a.n, 2);
	check_sorted(&a);
	/* Outside everything: busy. */
	assert_int_equal(dmki_iova_alloc_at(&a, 1024 * K4, K4), -EBUSY);
	assert_int_equal(dmki_iova_free_bytes(&a, NONE), (63 - 4 - 2 - 1) * K4);
	dmki_iova_fini(&a);
}

static void test_exclude(void **state)
{
	struct dmki_iova a;
	uint64_t x;

	(void)state;
	dmki_iova_init(&a);
	assert_int_equal(dmki_iova_free(&a, K4, DMKI_IOVA_MAX_END - K4), 0);
	assert_int_equal(dmki_iova_alloc(&a, K4, K4, 0, NONE, &x), 0);
	/* The x86 MSI window 0xfee00000..0xfeefffff, then everything above 2^39. */
	assert_int_equal(dmki_iova_exclude(&a, 0xfee00000, 0xfef00000), 0);
	assert_int_equal(dmki_iova_exclude(&a, (uint64_t)1 << 39, UINT64_MAX), 0);
	assert_false(dmki_iova_is_free(&a, 0xfee00000, K4));
	assert_true(dmki_iova_is_free(&a, 0xfed00000, M2 / 2));
	assert_true(dmki_iova_is_free(&a, 0xfef00000, K4));
	assert_false(dmki_iova_is_free(&a, (uint64_t)1 << 39, K4));
	/* Excluding what is allocated leaves it allocated and freeable. */
	assert_int_equal(dmki_iova_exclude(&a, 0, 2 * K4), 0);
	assert_int_equal(dmki_iova_free(&a, x, K4), 0);
	/* Unaligned bounds exclude every page they touch. */
	assert_int_equal(dmki_iova_exclude(&a, 0x10000 + 1, 0x12000 - 1), 0);
	assert_false(dmki_iova_is_free(&a, 0x10000, K4));
	assert_false(dmki_iova_is_free(&a, 0x11000, K4));
	assert_true(dmki_iova_is_free(&a, 0x12000, K4));
	check_sorted(&a);
	assert_int_equal(dmki_iova_free_bytes(&a, NONE),
			 ((uint64_t)1 << 39) - K4 - M2 / 2 - 2 * K4);
	dmki_iova_fini(&a);
}

/* Random allocations and frees against a page bitmap. */
static void test_random_against_bitmap(void **state)
{
	enum { PAGES = 4096 };
	static unsigned char used[PAGES];
	struct { uint64_t at, pages; } live[512];
	size_t nlive = 0;
	struct dmki_iova a;

	(void)state;
	srand(12345);
	dmki_iova_init(&a);
	assert_int_equal(dmki_iova_free(&a, 0, PAGES * K4), 0);
	for (int step = 0; step < 20000; step++) {
		if (nlive < 512 && (rand() % 3 || !nlive)) {
			uint64_t pages = 1 + (uint64_t)(rand() % 64), x;
			uint64_t align = rand() % 4 ? K4 : 16 * K4;
			uint64_t limit = rand() % 2 ? NONE : (uint64_t)(1 + rand() % PAGES) * K4;
			int err = dmki_iova_alloc(&a, pages * K4, align, 0, limit, &x);

			if (err) {
				assert_int_equal(err, -ENOSPC);
				continue;
			}
			assert_true(x % align == 0);
			assert_true(x + pages * K4 <= limit);
			for (uint64_t p = 0; p < pages; p++) {
				assert_int_equal(used[x / K4 + p], 0);
				used[x / K4 + p] = 1;
			}
			live[nlive].at = x;
			live[nlive++].pages = pages;
		} else {
			size_t i = (size_t)rand() % nlive;

			assert_int_equal(dmki_iova_free(&a, live[i].at, live[i].pages * K4), 0);
			for (uint64_t p = 0; p < live[i].pages; p++)
				used[live[i].at / K4 + p] = 0;
			live[i] = live[--nlive];
		}
		if (step % 1000 == 0) {
			uint64_t nfree = 0;

			check_sorted(&a);
			for (size_t p = 0; p < PAGES; p++) {
				nfree += !used[p];
				assert_int_equal(dmki_iova_is_free(&a, p * K4, K4), !used[p]);
			}
			assert_int_equal(dmki_iova_free_bytes(&a, NONE), nfree * K4);
		}
	}
	dmki_iova_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_fit_and_free_merge),
		cmocka_unit_test(test_double_free_and_bad_args),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_superpage_alignment_and_phase),
		cmocka_unit_test(test_alloc_at),
		cmocka_unit_test(test_exclude),
		cmocka_unit_test(test_random_against_bitmap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
