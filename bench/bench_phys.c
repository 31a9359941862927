/* SPDX-License-Identifier: MIT */
/*
 * Registration cost per page in a phys space, for dmakit-bench.
 *
 * The buffer is written once before timing. A never-touched buffer would
 * be faulted in by the first registration's mlock (zeroing fresh frames,
 * about 1.6 us a page here), and only by the first: every later round
 * would see present pages anyway. Touching first makes every round measure
 * the same thing, what dmakit adds: mlock of present pages, the pagemap
 * read and the bookkeeping. Applications register buffers they use.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dmakit/region.h>
#include <dmakit/space.h>

#include "bench_util.h"

#define BENCH_PHYS_BYTES (64ul << 20)
#define BENCH_PHYS_ROUNDS 9

/*
 * dmki_bench_phys_register() - median cost of registering a 64 MiB buffer
 * @ns_per_page: receives nanoseconds per 4 KiB page of dmk_region_register()
 *	(unregistering is not counted).
 *
 * Return: 0; -EPERM when this process may not have a phys space (not
 * root); another negative errno from the library otherwise.
 */
int dmki_bench_phys_register(double *ns_per_page);

int dmki_bench_phys_register(double *ns_per_page)
{
	double t[BENCH_PHYS_ROUNDS];
	struct dmk_space *sp;
	struct dmk_region *r;
	void *buf = NULL;
	int err, i;

	err = dmk_space_phys_create(&sp);
	if (err)
		return err;
	if (posix_memalign(&buf, 4096, BENCH_PHYS_BYTES)) {
		dmk_space_destroy(sp);
		return -ENOMEM;
	}
	memset(buf, 0x5a, BENCH_PHYS_BYTES);
	for (i = 0; i < BENCH_PHYS_ROUNDS; i++) {
		double t0 = bench_now_ns();

		err = dmk_region_register(sp, buf, BENCH_PHYS_BYTES, DMK_PROT_RW, &r);
		t[i] = bench_now_ns() - t0;
		if (err)
			break;
		err = dmk_region_unregister(r);
		if (err)
			break;
	}
	free(buf);
	dmk_space_destroy(sp);
	if (err)
		return err;
	*ns_per_page = bench_median(t, BENCH_PHYS_ROUNDS) / (double)(BENCH_PHYS_BYTES / 4096);
	return 0;
}
