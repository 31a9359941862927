/* SPDX-License-Identifier: MIT */
/*
 * Spaces, registrations and translation (include/dmakit/{space,region}.h)
 * on the sim space, and the simulated device's accesses and fault log
 * (foreign host memory that cannot be faulted in included).
 * Expected device addresses are computed from the sim's documented layout
 * (contig: one range a registration, handed out from the window's start;
 * reversed: descending pages), never read back from the library.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_fixture.h"
#include "space/space_priv.h"

static void assert_untranslated(struct dmk_space *sp, const void *va)
{
	uint64_t dev = 0xdead;

	assert_int_equal(dmk_space_translate(sp, va, &dev), -EFAULT);
	assert_reason("no page registered");
}

/* ---- space creation ---- */

static void test_sim_create_refuses(void **state)
{
	struct dmk_sim_config ok = { 4096, W, 1 << 20, DMK_SIM_CONTIG, 1 }, c;
	struct dmk_space *sp = (struct dmk_space *)0x1;

	(void)state;
	assert_int_equal(dmk_space_sim_create(&ok, NULL), -EINVAL);

	static const uint64_t bad_pages[] = { 0, 2048, 3 * 4096, UINT64_C(1) << 31, 4097 };
	for (size_t i = 0; i < sizeof(bad_pages) / sizeof(bad_pages[0]); i++) {
		c = ok;
		c.page_size = bad_pages[i];
		assert_int_equal(dmk_space_sim_create(&c, &sp), -EINVAL);
		assert_reason("page size");
	}
	c = ok;
	c.window_base = W + 100;
	assert_int_equal(dmk_space_sim_create(&c, &sp), -EINVAL);
	assert_reason("window");
	c = ok;
	c.window_size = 0;
	assert_int_equal(dmk_space_sim_create(&c, &sp), -EINVAL);
	assert_reason("window");
	c = ok;
	c.window_size = 4096 * 3 + 1;
	assert_int_equal(dmk_space_sim_create(&c, &sp), -EINVAL);
	assert_reason("window");
	c = ok;
	c.window_base = UINT64_MAX - 4095;	/* page aligned */
	c.window_size = 8192;
	assert_int_equal(dmk_space_sim_create(&c, &sp), -EINVAL);
	assert_reason("wraps");
	c = ok;
	c.layout = (enum dmk_sim_layout)3;
	assert_int_equal(dmk_space_sim_create(&c, &sp), -EINVAL);
	assert_reason("layout");
	assert_ptr_equal(sp, (struct dmk_space *)0x1);	/* untouched on failure */

	/* A window may end exactly at 2^64. */
	c = ok;
	c.window_base = 0 - UINT64_C(8192);
	c.window_size = 8192;
	assert_int_equal(dmk_space_sim_create(&c, &sp), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);

	/* The biggest legal page. */
	c = ok;
	c.page_size = UINT64_C(1) << 30;
	c.window_size = UINT64_C(1) << 30;
	c.window_base = UINT64_C(1) << 30;
	assert_int_equal(dmk_space_sim_create(&c, &sp), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

static void test_sim_default_config(void **state)
{
	struct dmk_space *sp = NULL;
	struct dmk_region *r;
	char *p = pages(3);

	(void)state;
	assert_int_equal(dmk_space_sim_create(NULL, &sp), 0);
	assert_string_equal(dmk_space_kind(sp), "sim");
	/* 4 KiB pages, contiguous, window [4 GiB, 2^47): the first range starts at 4 GiB. */
	assert_int_equal(dmk_region_register(sp, p, 3 * PG, DMK_PROT_RW, &r), 0);
	assert_int_equal(tr(sp, p), UINT64_C(1) << 32);
	assert_int_equal(tr(sp, p + 3 * PG - 1), (UINT64_C(1) << 32) + 3 * PG - 1);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	assert_int_equal(dmk_space_destroy(NULL), 0);
	unpages(p, 3);
}

/* ---- registration ---- */

static void test_register_refuses(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, 2 * PG, 1);
	struct dmk_region *r = (struct dmk_region *)0x1;
	char *p = pages(4);

	(void)state;
	assert_int_equal(dmk_region_register(NULL, p, PG, DMK_PROT_RW, &r), -EINVAL);
	assert_int_equal(dmk_region_register(sp, p, PG, DMK_PROT_RW, NULL), -EINVAL);
	assert_int_equal(dmk_region_register(sp, p, 0, DMK_PROT_RW, &r), -EINVAL);
	assert_reason("0 bytes");
	assert_int_equal(dmk_region_register(sp, p, PG, 0, &r), -EINVAL);
	assert_reason("protection");
	assert_int_equal(dmk_region_register(sp, p, PG, 4, &r), -EINVAL);
	assert_reason("protection");
	assert_int_equal(dmk_region_register(sp, p, PG, DMK_PROT_RW | 8, &r), -EINVAL);
	assert_int_equal(dmk_region_register(sp, (void *)(UINTPTR_MAX - 100), 200, DMK_PROT_READ, &r),
			 -EINVAL);
	assert_reason("wraps");
	assert_int_equal(dmk_region_register(sp, (void *)((UINT64_C(1) << 48) - 100), 200, DMK_PROT_READ, &r),
			 -EINVAL);
	/* The window holds two pages: three do not fit; the failure leaves nothing. */
	assert_int_equal(dmk_region_register(sp, p, 3 * PG, DMK_PROT_RW, &r), -ENOSPC);
	assert_reason("no room");
	assert_ptr_equal(r, (struct dmk_region *)0x1);
	assert_untranslated(sp, p);
	assert_int_equal(dmk_space_destroy(sp), 0);

	/* Two pages fit, then nothing more. */
	sp = sim_space(DMK_SIM_CONTIG, PG, 2 * PG, 1);
	struct dmk_region *a, *b;
	assert_int_equal(dmk_region_register(sp, p, 2 * PG, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_register(sp, p + 3 * PG, 1, DMK_PROT_RW, &b), -ENOSPC);
	assert_int_equal(dmk_region_unregister(a), 0);
	/* The freed range is handed out again. */
	assert_int_equal(dmk_region_register(sp, p + 3 * PG, 1, DMK_PROT_RW, &b), 0);
	assert_int_equal(tr(sp, p + 3 * PG), W);
	assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);

	/* Reversed and scattered layouts run out too. */
	sp = sim_space(DMK_SIM_REVERSED, PG, 2 * PG, 1);
	assert_int_equal(dmk_region_register(sp, p, 3 * PG, DMK_PROT_RW, &r), -ENOSPC);
	assert_untranslated(sp, p);
	assert_int_equal(dmk_space_destroy(sp), 0);
	sp = sim_space(DMK_SIM_SCATTERED, PG, 2 * PG, 1);
	assert_int_equal(dmk_region_register(sp, p, 3 * PG, DMK_PROT_RW, &r), -ENOSPC);
	assert_untranslated(sp, p);
	assert_int_equal(dmk_region_register(sp, p, 2 * PG, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	assert_int_equal(dmk_region_unregister(NULL), -EINVAL);
	unpages(p, 4);
}

/* region.h: -EFAULT when the range is not mapped in the process. */
static void test_register_unmapped_is_efault(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, UINT64_C(1) << 30, 1);
	struct dmk_region *r = NULL;
	char *p = pages(2);
	int err;

	(void)state;
	unpages(p, 2);	/* [p - PG, p + 3 PG) is now all unmapped */
	err = dmk_region_register(sp, p, 2 * PG, DMK_PROT_RW, &r);
	if (!err)
		assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	assert_int_equal(err, -EFAULT);
	assert_reason("not mapped");

	/* Partly mapped: the last byte is on the guard page after the buffer. */
	sp = sim_space(DMK_SIM_SCATTERED, PG, UINT64_C(1) << 30, 1);
	p = pages(2);
	r = NULL;
	err = dmk_region_register(sp, p + 10, 2 * PG - 9, DMK_PROT_RW, &r);
	if (!err)
		assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(err, -EFAULT);
	assert_untranslated(sp, p + 10);
	assert_int_equal(dmk_region_register(sp, p + 10, 2 * PG - 10, DMK_PROT_RW, &r), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 2);
}

static void test_contig_translation_and_info(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, UINT64_C(1) << 30, 1);
	struct dmk_region_info info;
	struct dmk_region *r, *r2;
	char *p = pages(4);

	(void)state;
	/* 10,000 bytes from offset 100: pages 0..2 are pinned, page 3 is not. */
	assert_int_equal(dmk_region_register(sp, p + 100, 10000, DMK_PROT_READ, &r), 0);
	assert_int_equal(dmk_region_info(NULL, &info), -EINVAL);
	assert_int_equal(dmk_region_info(r, NULL), -EINVAL);
	assert_int_equal(dmk_region_info(r, &info), 0);
	assert_ptr_equal(info.va, p + 100);
	assert_int_equal(info.len, 10000);
	assert_ptr_equal(info.pinned_va, p);
	assert_int_equal(info.pinned_len, 3 * PG);
	assert_int_equal(info.dev_runs, 1);
	assert_int_equal(info.refs, 1);
	assert_int_equal(info.prot, DMK_PROT_READ);
	/* One device range from the window's start; page granular. */
	static const uint64_t offs[] = { 0, 1, 99, 100, 4095, 4096, 8191, 10099, 3 * 4096 - 1 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		assert_int_equal(tr(sp, p + offs[i]), W + offs[i]);
	assert_untranslated(sp, p + 3 * PG);
	assert_untranslated(sp, p - 1);
	assert_untranslated(sp, NULL);
	assert_untranslated(sp, (void *)(UINT64_C(1) << 48));

	/* A second registration gets the next range, after the first. */
	assert_int_equal(dmk_region_register(sp, p + 3 * PG + 5, 1, DMK_PROT_WRITE, &r2), 0);
	assert_ptr_not_equal(r2, r);
	assert_int_equal(tr(sp, p + 3 * PG), W + 3 * PG);
	assert_int_equal(tr(sp, p + 4 * PG - 1), W + 4 * PG - 1);
	assert_int_equal(dmk_region_info(r2, &info), 0);
	assert_int_equal(info.pinned_len, PG);
	assert_int_equal(info.prot, DMK_PROT_WRITE);

	assert_int_equal(dmk_space_destroy(sp), -EBUSY);
	assert_reason("2 registrations");
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_untranslated(sp, p);
	assert_untranslated(sp, p + 3 * PG - 1);
	assert_int_equal(tr(sp, p + 3 * PG), W + 3 * PG);
	assert_int_equal(dmk_space_destroy(sp), -EBUSY);
	assert_int_equal(dmk_region_unregister(r2), 0);
	assert_untranslated(sp, p + 3 * PG);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 4);
}

/* A sim page bigger than a host page keeps the offset inside the IOMMU page. */
static void test_contig_big_iommu_page(void **state)
{
	const uint64_t M2 = UINT64_C(2) << 20;
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, M2, 64 * M2, 1);
	struct dmk_region *a, *b;
	char *p = pages(8);

	(void)state;
	assert_int_equal(dmk_region_register(sp, p + PG, 2 * PG, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_register(sp, p + 5 * PG, PG, DMK_PROT_RW, &b), 0);
	uint64_t da = tr(sp, p + PG), db = tr(sp, p + 5 * PG);
	assert_int_equal(da % M2, (uintptr_t)(p + PG) % M2);
	assert_int_equal(db % M2, (uintptr_t)(p + 5 * PG) % M2);
	assert_true(da >= W && da + 2 * PG <= W + 64 * M2);
	assert_true(db >= W && db + PG <= W + 64 * M2);
	/* Each registration has its own IOMMU pages. */
	assert_true(da / M2 != db / M2);
	assert_int_equal(tr(sp, p + 3 * PG - 1), da + 2 * PG - 1);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 8);
}

static void test_reversed_translation(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_REVERSED, PG, UINT64_C(1) << 30, 1);
	struct dmk_region_info info;
	struct dmk_region *r;
	const size_t n = 5;
	char *p = pages(n);

	(void)state;
	assert_int_equal(dmk_region_register(sp, p + 10, n * PG - 20, DMK_PROT_RW, &r), 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t want = W + (n - 1 - i) * PG;

		assert_int_equal(tr(sp, p + i * PG), want);
		assert_int_equal(tr(sp, p + i * PG + 1234), want + 1234);
		assert_int_equal(tr(sp, p + i * PG + PG - 1), want + PG - 1);
	}
	assert_int_equal(dmk_region_info(r, &info), 0);
	assert_int_equal(info.dev_runs, n);
	assert_int_equal(info.pinned_len, n * PG);
	assert_int_equal(dmk_region_unregister(r), 0);
	for (size_t i = 0; i < n; i++)
		assert_untranslated(sp, p + i * PG);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, n);
}

/* IOMMU pages of 64 KiB: host pages inside one keep their order and offset. */
static void test_big_iommu_page_layouts(void **state)
{
	const uint64_t P = 64 * 1024;
	char *map = mmap(NULL, 5 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;
	struct dmk_region_info info;
	struct dmk_region *r;
	struct dmk_space *sp;

	(void)state;
	assert_true(map != MAP_FAILED);
	p = (char *)(((uintptr_t)map + P - 1) & ~(uintptr_t)(P - 1));

	/* reversed: from p + 3 host pages over 2 IOMMU pages and a bit of a third */
	sp = sim_space(DMK_SIM_REVERSED, P, 64 * P, 1);
	assert_int_equal(dmk_region_register(sp, p + 3 * PG + 5, 2 * P, DMK_PROT_RW, &r), 0);
	/* IOMMU page i of the registration (0..2) at W + (2 - i) P, offsets kept */
	for (uint64_t off = 3 * PG; off < 2 * P + 4 * PG; off += PG) {
		uint64_t i = off / P;

		assert_int_equal(tr(sp, p + off + 9), W + (2 - i) * P + off % P + 9);
	}
	assert_untranslated(sp, p + 2 * PG);
	assert_untranslated(sp, p + 2 * P + 4 * PG);
	assert_int_equal(dmk_region_info(r, &info), 0);
	assert_int_equal(info.dev_runs, 3);
	assert_int_equal(info.pinned_len, 2 * P + PG);
	/* the device sees the bytes through those addresses */
	char b[16];
	assert_int_equal(dmk_sim_dma_read(sp, W + 2 * P + 3 * PG + 5, b, sizeof(b)), 0);
	assert_memory_equal(b, p + 3 * PG + 5, sizeof(b));
	assert_int_equal(dmk_sim_dma_read(sp, W + 2 * P + 2 * PG, b, 1), -EFAULT);	/* before the first host page */
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_sim_dma_read(sp, W + 2 * P + 3 * PG + 5, b, 1), -EFAULT);
	assert_int_equal(dmk_space_destroy(sp), 0);

	/* scattered: each IOMMU page somewhere on a 64 KiB line, host pages inside it in order */
	sp = sim_space(DMK_SIM_SCATTERED, P, 64 * P, 5);
	assert_int_equal(dmk_region_register(sp, p + PG, 3 * P, DMK_PROT_RW, &r), 0);
	for (uint64_t i = 0; i < 4; i++) {
		uint64_t first = i ? i * P : PG, base = tr(sp, p + first) - first % P;

		assert_int_equal(base % P, 0);
		assert_true(base >= W && base + P <= W + 64 * P);
		for (uint64_t off = first; off < (i + 1) * P && off < 3 * P + PG; off += PG)
			assert_int_equal(tr(sp, p + off), base + off % P);
	}
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	assert_int_equal(munmap(map, 5 * P), 0);
}

static void scattered_addrs(uint64_t seed, char *p, size_t n, uint64_t *out, size_t *runs)
{
	struct dmk_space *sp = sim_space(DMK_SIM_SCATTERED, PG, UINT64_C(1) << 24, seed);
	struct dmk_region_info info;
	struct dmk_region *r;

	assert_int_equal(dmk_region_register(sp, p, n * PG, DMK_PROT_RW, &r), 0);
	for (size_t i = 0; i < n; i++) {
		out[i] = tr(sp, p + i * PG);
		assert_int_equal(out[i] % PG, 0);
		assert_true(out[i] >= W && out[i] + PG <= W + (UINT64_C(1) << 24));
		assert_int_equal(tr(sp, p + i * PG + 77), out[i] + 77);
		for (size_t j = 0; j < i; j++)
			assert_true(out[j] != out[i]);
	}
	assert_int_equal(dmk_region_info(r, &info), 0);
	*runs = info.dev_runs;
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

static void test_scattered_translation(void **state)
{
	enum { N = 64 };
	uint64_t a[N], b[N], c[N];
	size_t ra, rb, rc, want = 1;
	char *p = pages(N);

	(void)state;
	scattered_addrs(42, p, N, a, &ra);
	scattered_addrs(42, p, N, b, &rb);
	scattered_addrs(43, p, N, c, &rc);
	assert_memory_equal(a, b, sizeof(a));	/* same seed, same addresses */
	assert_int_equal(ra, rb);
	assert_true(memcmp(a, c, sizeof(a)) != 0);
	for (size_t i = 1; i < N; i++)
		want += a[i] != a[i - 1] + PG;
	assert_int_equal(ra, want);
	unpages(p, N);
}

static void test_refs_and_containment(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, UINT64_C(1) << 30, 1);
	struct dmk_region *a, *s1, *s2, *s3, *w, *big;
	struct dmk_region_info info;
	char *p = pages(6);

	(void)state;
	assert_int_equal(dmk_region_register(sp, p + 16, 4 * PG - 32, DMK_PROT_READ, &a), 0);
	/* Inside, with the same or fewer rights: one more reference, nothing mapped. */
	assert_int_equal(dmk_region_register(sp, p + 16, 4 * PG - 32, DMK_PROT_READ, &s1), 0);
	assert_ptr_equal(s1, a);
	assert_int_equal(dmk_region_register(sp, p + PG, 100, DMK_PROT_READ, &s2), 0);
	assert_ptr_equal(s2, a);
	assert_int_equal(dmk_region_info(a, &info), 0);
	assert_int_equal(info.refs, 3);
	assert_ptr_equal(info.va, p + 16);	/* the first registration's range */
	/* More rights than the container: a registration of its own. */
	assert_int_equal(dmk_region_register(sp, p + PG, 100, DMK_PROT_RW, &w), 0);
	assert_ptr_not_equal(w, a);
	/* Sticking out by one byte (still inside the pinned pages): its own too. */
	assert_int_equal(dmk_region_register(sp, p + 16, 4 * PG - 31, DMK_PROT_READ, &big), 0);
	assert_ptr_not_equal(big, a);
	assert_ptr_not_equal(big, w);
	assert_int_equal(dmk_region_register(sp, p + 8, 20, DMK_PROT_READ, &s3), 0);
	assert_ptr_not_equal(s3, a);
	/* The oldest keeps translating shared pages. */
	assert_int_equal(tr(sp, p + PG + 5), W + PG + 5);

	assert_int_equal(dmk_region_unregister(s1), 0);
	assert_int_equal(dmk_region_unregister(s2), 0);
	assert_int_equal(dmk_region_info(a, &info), 0);
	assert_int_equal(info.refs, 1);
	assert_int_equal(tr(sp, p + PG + 5), W + PG + 5);
	assert_int_equal(dmk_region_unregister(a), 0);
	/* Now through a younger one: w (page 1 at W + 4 pages) or big (from W + 5 pages). */
	uint64_t d1 = tr(sp, p + PG + 5);
	assert_true(d1 == W + 4 * PG + 5 || d1 == W + 5 * PG + PG + 5);
	assert_int_equal(tr(sp, p + 2 * PG), W + 5 * PG + 2 * PG);
	assert_int_equal(dmk_region_unregister(w), 0);
	assert_int_equal(dmk_region_unregister(s3), 0);
	/* big (4 pages from W + 5 pages) is left. */
	assert_int_equal(tr(sp, p + PG + 5), W + 5 * PG + PG + 5);
	assert_int_equal(tr(sp, p), W + 5 * PG);
	assert_int_equal(dmk_region_unregister(big), 0);
	for (size_t i = 0; i < 4; i++)
		assert_untranslated(sp, p + i * PG);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 6);
}

/*
 * A = pages [0, 2), B = pages [1, 3). Page 1 translates through A while it
 * lives, then through B.
 */
static void test_overlap_handoff(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, UINT64_C(1) << 30, 1);
	struct dmk_region *a, *b;
	char *p = pages(3);

	(void)state;
	assert_int_equal(dmk_region_register(sp, p, 2 * PG, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_register(sp, p + PG, 2 * PG, DMK_PROT_RW, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(tr(sp, p), W);
	assert_int_equal(tr(sp, p + PG + 9), W + PG + 9);
	assert_int_equal(tr(sp, p + 2 * PG + 9), W + 2 * PG + PG + 9);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_untranslated(sp, p);
	assert_int_equal(tr(sp, p + PG + 9), W + 2 * PG + 9);
	assert_int_equal(tr(sp, p + 2 * PG + 9), W + 3 * PG + 9);
	assert_int_equal(dmk_region_unregister(b), 0);
	assert_untranslated(sp, p + PG);
	assert_untranslated(sp, p + 2 * PG);

	/* The other order: the younger goes first, the older keeps its pages. */
	assert_int_equal(dmk_region_register(sp, p, 2 * PG, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_register(sp, p + PG, 2 * PG, DMK_PROT_RW, &b), 0);
	uint64_t a0 = tr(sp, p);
	assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(tr(sp, p + PG), a0 + PG);
	assert_untranslated(sp, p + 2 * PG);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 3);
}

/*
 * region.h: a range inside an existing registration with at least @prot
 * takes a reference on it, also when its first page translates through an
 * older registration that does not contain it.
 */
static void test_register_inside_younger_overlap(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, UINT64_C(1) << 30, 1);
	struct dmk_region *a, *b, *c;
	char *p = pages(3);

	(void)state;
	assert_int_equal(dmk_region_register(sp, p, 2 * PG, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_register(sp, p + PG, 2 * PG, DMK_PROT_RW, &b), 0);
	assert_int_equal(dmk_region_register(sp, p + PG + 10, PG, DMK_PROT_RW, &c), 0);
	if (c != b)
		assert_int_equal(dmk_region_unregister(c), 0);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_int_equal(dmk_region_unregister(b), 0);
	if (c == b)
		assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 3);
	assert_ptr_equal(c, b);
}

/* Registrations that touch inside one host page, and a sub-page one. */
static void test_shared_host_page(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_REVERSED, PG, UINT64_C(1) << 30, 1);
	struct dmk_region *a, *b;
	struct dmk_region_info info;
	char *p = pages(2);

	(void)state;
	assert_int_equal(dmk_region_register(sp, p + PG - 5, 10, DMK_PROT_RW, &a), 0);
	assert_int_equal(dmk_region_info(a, &info), 0);
	assert_ptr_equal(info.pinned_va, p);
	assert_int_equal(info.pinned_len, 2 * PG);
	assert_int_equal(info.dev_runs, 2);
	/* reversed: page 0 at W + PG, page 1 at W; every byte of both translates */
	assert_int_equal(tr(sp, p), W + PG);
	assert_int_equal(tr(sp, p + PG - 1), W + 2 * PG - 1);
	assert_int_equal(tr(sp, p + PG), W);
	assert_int_equal(tr(sp, p + 2 * PG - 1), W + PG - 1);
	assert_int_equal(dmk_region_register(sp, p + PG + 5, 10, DMK_PROT_RW, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(dmk_region_unregister(a), 0);
	assert_untranslated(sp, p);
	/* b's page: b was reversed alone into [W + 2 PG, W + 3 PG) */
	assert_int_equal(tr(sp, p + PG + 5), W + 2 * PG + 5);
	assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 2);
}

/* ---- the simulated device ---- */

static void take_faults(struct dmk_space *sp, struct dmk_sim_fault *f, size_t max, size_t want)
{
	size_t n = 12345;

	assert_int_equal(dmk_sim_faults(sp, f, max, &n), 0);
	assert_int_equal(n, want);
}

static void assert_fault(const struct dmk_sim_fault *f, uint64_t addr, uint64_t len, int write,
			 const char *reason)
{
	assert_int_equal(f->addr, addr);
	assert_int_equal(f->len, len);
	assert_int_equal(f->write, write);
	assert_non_null(f->reason);
	assert_string_equal(f->reason, reason);
}

static void test_sim_device_access(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, UINT64_C(1) << 30, 1);
	struct dmk_region *rw, *ro, *wo;
	struct dmk_sim_fault f[4];
	char *p = pages(6), buf[3 * 4096], before[3 * 4096];

	(void)state;
	take_faults(sp, f, 4, 0);
	assert_int_equal(dmk_region_register(sp, p, 2 * PG, DMK_PROT_RW, &rw), 0);	/* W */
	assert_int_equal(dmk_region_register(sp, p + 2 * PG, PG, DMK_PROT_READ, &ro), 0);	/* W+2PG */
	assert_int_equal(dmk_region_register(sp, p + 4 * PG, PG, DMK_PROT_WRITE, &wo), 0);	/* W+3PG */

	/* The device writes and reads through the IOMMU, across pages. */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i ^ 0x5a);
	assert_int_equal(dmk_sim_dma_write(sp, W + 100, buf, 5000), 0);
	assert_memory_equal(p + 100, buf, 5000);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(dmk_sim_dma_read(sp, W + 2 * PG + 7, buf, 100), 0);
	assert_memory_equal(buf, p + 2 * PG + 7, 100);
	/* Device-contiguous neighbours (rw then ro) read as one. */
	assert_int_equal(dmk_sim_dma_read(sp, W + PG, buf, 2 * PG), 0);
	assert_memory_equal(buf, p + PG, 2 * PG);
	assert_int_equal(dmk_sim_dma_write(sp, W + 3 * PG, "xyz", 3), 0);
	assert_memory_equal(p + 4 * PG, "xyz", 3);
	assert_int_equal(dmk_sim_dma_read(sp, W, buf, 0), 0);
	take_faults(sp, f, 4, 0);

	/* Refused accesses move nothing and are logged, oldest first. */
	memcpy(before, p, 3 * PG);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(dmk_sim_dma_write(sp, W + 2 * PG + 1, buf, 10), -EFAULT);
	assert_reason("no write permission");
	/* Starts in writable memory and runs into read-only: nothing written. */
	assert_int_equal(dmk_sim_dma_write(sp, W + PG, buf, PG + 1), -EFAULT);
	assert_memory_equal(p, before, 3 * PG);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(dmk_sim_dma_read(sp, W + 3 * PG + 8, buf, 4), -EFAULT);
	assert_reason("no read permission");
	assert_int_equal(dmk_sim_dma_read(sp, W - 1, buf, 2), -EFAULT);
	assert_reason("not mapped");
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(buf[i], 0);
	take_faults(sp, f, 4, 4);
	assert_fault(&f[0], W + 2 * PG + 1, 10, 1, "no write permission");
	assert_fault(&f[1], W + PG, PG + 1, 1, "no write permission");
	assert_fault(&f[2], W + 3 * PG + 8, 4, 0, "no read permission");
	assert_fault(&f[3], W - 1, 2, 0, "not mapped");
	take_faults(sp, f, 4, 0);	/* they left the log */

	/* Past the last mapping, and an access that wraps the address space. */
	assert_int_equal(dmk_sim_dma_read(sp, W + 4 * PG, buf, 1), -EFAULT);
	assert_int_equal(dmk_sim_dma_write(sp, W + 4 * PG - 1, buf, 2), -EFAULT);
	assert_int_equal(dmk_sim_dma_read(sp, UINT64_MAX - 1, buf, 4), -EFAULT);
	/* Taken in parts. */
	take_faults(sp, f, 2, 2);
	assert_fault(&f[0], W + 4 * PG, 1, 0, "not mapped");
	assert_fault(&f[1], W + 4 * PG - 1, 2, 1, "not mapped");
	assert_int_equal(dmk_sim_faults(sp, NULL, 0, &(size_t){ 9 }), 0);
	take_faults(sp, f, 4, 1);
	assert_fault(&f[0], UINT64_MAX - 1, 4, 0, "not mapped");

	/* After unregistering, the device addresses fault. */
	assert_int_equal(dmk_region_unregister(rw), 0);
	assert_int_equal(dmk_sim_dma_read(sp, W, buf, 1), -EFAULT);
	assert_int_equal(dmk_sim_dma_write(sp, W + PG, buf, 1), -EFAULT);
	take_faults(sp, f, 4, 2);
	assert_fault(&f[0], W, 1, 0, "not mapped");
	assert_fault(&f[1], W + PG, 1, 1, "not mapped");
	assert_int_equal(dmk_region_unregister(ro), 0);
	assert_int_equal(dmk_region_unregister(wo), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 6);
}

/*
 * A window that ends exactly at 2^64: every layout hands out its top page,
 * the device reaches the last byte of the space, an access past it faults,
 * and a full window says so instead of wrapping to address 0.
 */
static void test_sim_window_ends_at_2_64(void **state)
{
	static const enum dmk_sim_layout layouts[] = { DMK_SIM_CONTIG, DMK_SIM_SCATTERED, DMK_SIM_REVERSED };
	const uint64_t base = 0 - 4 * PG;
	char *p = pages(6), buf[4096];

	(void)state;
	for (size_t l = 0; l < 3; l++) {
		struct dmk_sim_config c = { PG, base, 4 * PG, layouts[l], 7 };
		struct dmk_region *a, *b, *x;
		struct dmk_space *sp;
		unsigned seen = 0;
		size_t top = 99;

		assert_int_equal(dmk_space_sim_create(&c, &sp), 0);
		a = reg(sp, p, 2 * PG, DMK_PROT_RW);
		b = reg(sp, p + 2 * PG, 2 * PG, DMK_PROT_RW);
		for (size_t i = 0; i < 4; i++) {
			uint64_t dev = tr(sp, p + i * PG);

			assert_true(dev >= base && !(dev % PG));
			seen |= 1u << ((dev - base) / PG);
			if (dev == 0 - PG)
				top = i;
		}
		assert_int_equal(seen, 0xf);
		assert_int_equal(tr(sp, p + top * PG + PG - 1), UINT64_MAX);
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)(i * 7 + l);
		assert_int_equal(dmk_sim_dma_write(sp, 0 - PG, buf, PG), 0);
		assert_memory_equal(p + top * PG, buf, PG);
		assert_int_equal(dmk_sim_dma_read(sp, UINT64_MAX, buf, 1), 0);
		assert_int_equal(buf[0], p[top * PG + PG - 1]);
		assert_int_equal(dmk_sim_dma_read(sp, UINT64_MAX, buf, 2), -EFAULT);
		assert_reason("not mapped");
		assert_int_equal(dmk_region_register(sp, p + 4 * PG, 1, DMK_PROT_RW, &x), -ENOSPC);
		assert_reason("no room");
		if (layouts[l] == DMK_SIM_CONTIG) {
			/* The last registration ends at 2^64: nothing after it, the gap before it. */
			assert_int_equal(tr(sp, p + 2 * PG), base + 2 * PG);
			assert_int_equal(dmk_region_unregister(a), 0);
			a = reg(sp, p + 4 * PG, PG, DMK_PROT_RW);
			assert_int_equal(tr(sp, p + 4 * PG), base);
			x = reg(sp, p + 5 * PG, PG, DMK_PROT_RW);
			assert_int_equal(tr(sp, p + 5 * PG), base + PG);
			assert_int_equal(dmk_region_unregister(x), 0);
		}
		assert_int_equal(dmk_region_unregister(a), 0);
		assert_int_equal(dmk_region_unregister(b), 0);
		/* Empty again: the top is handed out again. */
		b = reg(sp, p, 4 * PG, DMK_PROT_RW);
		assert_int_equal(dmk_region_unregister(b), 0);
		assert_int_equal(dmk_space_destroy(sp), 0);
	}
	unpages(p, 6);
}

/*
 * Foreign memory (dmki_region_register_foreign()) behind registered device
 * pages that cannot be faulted in: a shared mapping of a memfd that then
 * shrank, its last pages past the end of the file (a load or store there
 * raises SIGBUS). The simulated device's access fails, logged; the pages
 * before move. Foreign and plain registrations of the same memory are two.
 * And an access of more pieces than one kernel copy takes (reversed
 * layout: a piece a page), and one that ends at 2^64.
 */
static void test_sim_host_page_faults(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_REVERSED, PG, UINT64_C(1) << 30, 1);
	struct dmk_sim_fault f[2];
	struct dmk_region *r, *plain;
	char *p, buf[3 * 4096], *big, *back;
	uint64_t dev;
	int fd;

	(void)state;
	p = memfd_pages(3, 1, &fd);
	plain = reg(sp, p, 3 * PG, DMK_PROT_RW);
	assert_int_equal(dmki_region_register_foreign(sp, p, 3 * PG, DMK_PROT_RW, &r), 0);
	assert_ptr_not_equal(r, plain);
	assert_int_equal(dmk_region_unregister(plain), 0);
	assert_int_equal(ftruncate(fd, PG), 0);	/* pages 1 and 2: past the end */

	memset(buf, 0x5a, sizeof(buf));
	dev = tr(sp, p + PG);	/* reversed: page 1 then page 0 */
	assert_int_equal(dmk_sim_dma_write(sp, dev, buf, 2 * PG), -EFAULT);
	assert_reason("could not be faulted in");
	assert_int_equal(dmk_sim_dma_read(sp, tr(sp, p + 2 * PG) + 8, buf, 8), -EFAULT);
	take_faults(sp, f, 2, 2);
	assert_fault(&f[0], dev, 2 * PG, 1, "host page faulted");
	assert_fault(&f[1], tr(sp, p + 2 * PG) + 8, 8, 0, "host page faulted");
	/* the page within the file still moves */
	assert_int_equal(dmk_sim_dma_write(sp, tr(sp, p), buf, PG), 0);
	assert_memory_equal(p, buf, PG);
	assert_int_equal(dmk_region_unregister(r), 0);
	unpages(p, 3);
	close(fd);

	/* 100 pieces, in two kernel copies, each byte where it belongs */
	big = pages(100);
	back = malloc(100 * PG);
	assert_non_null(back);
	assert_int_equal(dmki_region_register_foreign(sp, big, 100 * PG, DMK_PROT_RW, &r), 0);
	dev = tr(sp, big + 99 * PG);
	assert_int_equal(dmk_sim_dma_read(sp, dev, back, 100 * PG), 0);
	for (size_t i = 0; i < 100; i++)
		assert_memory_equal(back + i * PG, big + (99 - i) * PG, PG);
	for (size_t i = 0; i < 100 * PG; i++)
		back[i] = (char)(i * 7);
	assert_int_equal(dmk_sim_dma_write(sp, dev, back, 100 * PG), 0);
	for (size_t i = 0; i < 100; i++)
		assert_memory_equal(big + (99 - i) * PG, back + i * PG, PG);
	take_faults(sp, f, 2, 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);

	/* foreign memory at the top of the device's space, an access ending at 2^64 */
	sp = NULL;
	assert_int_equal(dmk_space_sim_create(&(struct dmk_sim_config){ PG, 0 - 2 * PG, 2 * PG,
								  DMK_SIM_CONTIG, 1 }, &sp), 0);
	assert_int_equal(dmki_region_register_foreign(sp, big, 2 * PG, DMK_PROT_RW, &r), 0);
	assert_int_equal(tr(sp, big), 0 - 2 * PG);
	assert_int_equal(dmk_sim_dma_write(sp, 0 - 2 * PG, back, 2 * PG), 0);
	assert_memory_equal(big, back, 2 * PG);
	assert_int_equal(dmk_sim_dma_read(sp, UINT64_MAX, buf, 1), 0);
	assert_int_equal(buf[0], big[2 * PG - 1]);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	free(back);
	unpages(big, 100);
}

static void test_sim_fault_log_keeps_newest(void **state)
{
	struct dmk_space *sp = sim_space(DMK_SIM_CONTIG, PG, UINT64_C(1) << 30, 1);
	static struct dmk_sim_fault f[300];
	char b;

	(void)state;
	for (uint64_t i = 0; i < 300; i++)
		assert_int_equal(dmk_sim_dma_read(sp, 0x1000 + i, &b, 1), -EFAULT);
	take_faults(sp, f, 300, 256);
	for (uint64_t i = 0; i < 256; i++)
		assert_fault(&f[i], 0x1000 + 44 + i, 1, 0, "not mapped");
	take_faults(sp, f, 300, 0);
	assert_int_equal(dmk_sim_faults(sp, f, 1, NULL), -EINVAL);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

/* A space of another kind, from the backend interface. */
static int fake_map(struct dmk_space *sp, struct dmk_region *r)
{
	(void)sp;
	r->linear = true;
	r->dev_base = 0x10000;
	r->dev_runs = 1;
	return 0;
}

static void fake_unmap(struct dmk_space *sp, struct dmk_region *r)
{
	(void)sp;
	(void)r;
}

static const struct dmk_space_ops fake_ops = { .kind = "fake", .map = fake_map, .unmap = fake_unmap };

static void test_sim_calls_on_other_spaces(void **state)
{
	struct dmk_space *sp;
	struct dmk_sim_fault f[1];
	size_t n = 7;
	char b = 0;

	(void)state;
	assert_int_equal(dmki_space_new(&fake_ops, NULL, &sp), 0);
	assert_string_equal(dmk_space_kind(sp), "fake");
	assert_int_equal(dmk_sim_dma_write(sp, 0x10000, &b, 1), -EINVAL);
	assert_reason("not a sim space");
	assert_int_equal(dmk_sim_dma_read(sp, 0x10000, &b, 1), -EINVAL);
	assert_int_equal(dmk_sim_faults(sp, f, 1, &n), -EINVAL);
	assert_int_equal(dmk_sim_dma_read(NULL, 0x10000, &b, 1), -EINVAL);
	assert_int_equal(dmk_sim_faults(NULL, f, 1, &n), -EINVAL);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_create_refuses),
		cmocka_unit_test(test_sim_window_ends_at_2_64),
		cmocka_unit_test(test_sim_default_config),
		cmocka_unit_test(test_register_refuses),
		cmocka_unit_test(test_register_unmapped_is_efault),
		cmocka_unit_test(test_contig_translation_and_info),
		cmocka_unit_test(test_contig_big_iommu_page),
		cmocka_unit_test(test_reversed_translation),
		cmocka_unit_test(test_scattered_translation),
		cmocka_unit_test(test_big_iommu_page_layouts),
		cmocka_unit_test(test_refs_and_containment),
		cmocka_unit_test(test_overlap_handoff),
		cmocka_unit_test(test_register_inside_younger_overlap),
		cmocka_unit_test(test_shared_host_page),
		cmocka_unit_test(test_sim_device_access),
		cmocka_unit_test(test_sim_host_page_faults),
		cmocka_unit_test(test_sim_fault_log_keeps_newest),
		cmocka_unit_test(test_sim_calls_on_other_spaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
