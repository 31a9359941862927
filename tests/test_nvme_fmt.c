/* SPDX-License-Identifier: MIT */
/*
 * Tests for the NVMe PRP and SGL writers: every rule and error path by hand,
 * then random segment lists written and read back through an independent
 * decoder (tests/nvme_fmt_decode.c). The property seed is printed; set
 * DMK_SEED to repeat a run.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <dmakit/error.h>
#include <dmakit/nvme_fmt.h>

#include "nvme_fmt_decode.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define PG (4 * KiB)

/*
 * List pages for the tests: page i of the pool is seen by the device at
 * POOL_DEV + i * POOL_STRIDE + a jitter below the stride, so that mapping a
 * device address back is a division, not a search.
 */
#define POOL_PAGES 512
#define POOL_PAGE_MAX (16 * KiB)
#define POOL_DEV UINT64_C(0x7f0000000000)
#define POOL_STRIDE MiB

struct pool {
	uint8_t *mem;			/* POOL_PAGES * POOL_PAGE_MAX bytes */
	uint64_t dev[POOL_PAGES];	/* where the device sees page i */
	size_t size;			/* bytes of each page in use now */
};

static struct pool pool;

static uint8_t *pool_va(size_t i)
{
	return pool.mem + i * POOL_PAGE_MAX;
}

/* Pool page i at its plain, page-aligned device address. */
static void pool_reset(size_t size)
{
	pool.size = size;
	for (size_t i = 0; i < POOL_PAGES; i++)
		pool.dev[i] = POOL_DEV + i * POOL_STRIDE;
}

static const void *pool_map(void *ctx, uint64_t dev, size_t len)
{
	struct pool *p = ctx;
	uint64_t i, off;

	if (dev < POOL_DEV)
		return NULL;
	i = (dev - POOL_DEV) / POOL_STRIDE;
	if (i >= POOL_PAGES || dev < p->dev[i])
		return NULL;
	off = dev - p->dev[i];
	if (off + len > p->size)
		return NULL;
	return pool_va(i) + off;
}

/* struct dmk_list_page for pool pages idx[0..n). */
static void pool_pages(struct dmk_list_page *pages, const size_t *idx, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		pages[k].va = pool_va(idx[k]);
		pages[k].dev = pool.dev[idx[k]];
	}
}

static void pool_first(struct dmk_list_page *pages, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		pages[k].va = pool_va(k);
		pages[k].dev = pool.dev[k];
	}
}

static int group_setup(void **state)
{
	(void)state;
	pool.mem = aligned_alloc(4096, (size_t)POOL_PAGES * POOL_PAGE_MAX);
	if (!pool.mem)
		return -1;
	memset(pool.mem, 0xa5, (size_t)POOL_PAGES * POOL_PAGE_MAX);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(pool.mem);
	return 0;
}

static uint64_t ent(size_t page, size_t slot)
{
	uint64_t v;

	memcpy(&v, pool_va(page) + 8 * slot, 8);
	return le64toh(v);
}

struct desc {
	uint64_t addr;
	uint32_t len;
	uint8_t type;
};

static struct desc rd_desc(const uint8_t *p)
{
	struct desc d;
	uint64_t a;
	uint32_t l;

	memcpy(&a, p, 8);
	memcpy(&l, p + 8, 4);
	d.addr = le64toh(a);
	d.len = le32toh(l);
	/* reserved bytes and the subtype are always zero */
	assert_int_equal(p[12] | p[13] | p[14], 0);
	assert_int_equal(p[15] & 0xf, 0);
	d.type = p[15] >> 4;
	return d;
}

static struct desc slot_desc(size_t page, size_t slot)
{
	return rd_desc(pool_va(page) + 16 * slot);
}

/* Decode PRPs and compare with @segs, byte for byte in order. */
static void check_prp_roundtrip(const struct dmk_seg *segs, size_t n, uint64_t ps,
				const uint64_t prp[2], size_t used)
{
	struct dmk_seg want[64], got[64];
	struct nvme_decoded d = { .ranges = got, .cap = 64 };
	uint64_t total = 0;
	size_t nw;

	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++)
		total += segs[i].len;
	pool.size = ps;
	if (nvme_decode_prp(prp[0], prp[1], ps, total, pool_map, &pool, &d))
		fail_msg("decode: %s", d.why);
	nw = nvme_coalesce(segs, n, want);
	assert_int_equal(d.nranges, nw);
	assert_memory_equal(got, want, nw * sizeof(want[0]));
	assert_int_equal(d.list_pages, used);
}

/* ---- PRP ---- */

static void test_prp_one_page(void **state)
{
	struct dmk_seg s = { 0x123456000, PG };
	uint64_t prp[2] = { 1, 1 };
	size_t used = 99;

	(void)state;
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, NULL, 0, prp, &used), 0);
	assert_int_equal(prp[0], 0x123456000);
	assert_int_equal(prp[1], 0);
	assert_int_equal(used, 0);
	assert_int_equal(dmk_nvme_prp_pages_needed(&s, 1, PG), 0);

	/* an offset, ending within the page */
	s = (struct dmk_seg){ 0x123456ffc, 4 };
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, NULL, 0, prp, &used), 0);
	assert_int_equal(prp[0], 0x123456ffc);
	assert_int_equal(prp[1], 0);
	check_prp_roundtrip(&s, 1, PG, prp, used);
}

static void test_prp_two_pages(void **state)
{
	struct dmk_seg s = { 0x200000, 2 * PG };
	struct dmk_seg two[2] = { { 0x10000 + 0x800, 0x800 }, { 0x90000, 0x200 } };
	uint64_t prp[2];
	size_t used;

	(void)state;
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, NULL, 0, prp, &used), 0);
	assert_int_equal(prp[0], 0x200000);
	assert_int_equal(prp[1], 0x201000);
	assert_int_equal(used, 0);

	/* 4 KiB at an offset spans two pages: PRP2 is the second, offset 0 */
	s = (struct dmk_seg){ 0x200200, PG };
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, NULL, 0, prp, &used), 0);
	assert_int_equal(prp[0], 0x200200);
	assert_int_equal(prp[1], 0x201000);
	check_prp_roundtrip(&s, 1, PG, prp, used);

	/* two segments of one page each: PRP2 is the second segment */
	assert_int_equal(dmk_nvme_prp_write(two, 2, PG, NULL, 0, prp, &used), 0);
	assert_int_equal(prp[0], 0x10800);
	assert_int_equal(prp[1], 0x90000);
	assert_int_equal(used, 0);
	assert_int_equal(dmk_nvme_prp_pages_needed(two, 2, PG), 0);
	check_prp_roundtrip(two, 2, PG, prp, used);
}

static void test_prp_list_small(void **state)
{
	struct dmk_seg s = { 0x300010, 3 * PG - 0x10 };
	struct dmk_list_page pages[2];
	uint64_t prp[2];
	size_t used;

	(void)state;
	pool_reset(PG);
	pool_first(pages, 2);
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 2, prp, &used), 0);
	assert_int_equal(prp[0], 0x300010);
	assert_int_equal(prp[1], pool.dev[0]);
	assert_int_equal(used, 1);
	assert_int_equal(ent(0, 0), 0x301000);
	assert_int_equal(ent(0, 1), 0x302000);
	check_prp_roundtrip(&s, 1, PG, prp, used);
}

static void test_prp_1mib(void **state)
{
	struct dmk_seg s = { 0x40000000, MiB };
	struct dmk_list_page page;
	uint64_t prp[2];
	size_t used;

	(void)state;
	pool_reset(PG);
	pool_first(&page, 1);
	assert_int_equal(dmk_nvme_prp_pages_needed(&s, 1, PG), 1);
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, &page, 1, prp, &used), 0);
	assert_int_equal(prp[0], 0x40000000);
	assert_int_equal(prp[1], pool.dev[0]);
	assert_int_equal(used, 1);
	/* 256 pages: PRP1 and 255 list entries, little-endian in memory */
	for (size_t i = 0; i < 255; i++)
		assert_int_equal(ent(0, i), 0x40000000 + (i + 1) * PG);
	assert_int_equal(pool_va(0)[8], 0x00);
	assert_int_equal(pool_va(0)[9], 0x20);
	assert_int_equal(pool_va(0)[11], 0x40);
	check_prp_roundtrip(&s, 1, PG, prp, used);
}

/* A list that fills one page exactly chains nowhere: 1 + 512 pages. */
static void test_prp_list_fills_one_page(void **state)
{
	struct dmk_seg s = { 0x80000000, 513 * PG };
	struct dmk_list_page pages[2];
	uint64_t prp[2];
	size_t used;

	(void)state;
	pool_reset(PG);
	pool_first(pages, 2);
	assert_int_equal(dmk_nvme_prp_pages_needed(&s, 1, PG), 1);
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 1, prp, &used), 0);
	assert_int_equal(used, 1);
	assert_int_equal(ent(0, 511), 0x80000000 + 512 * PG);
	check_prp_roundtrip(&s, 1, PG, prp, used);

	/* one page more: the last slot points at a second list page */
	s.len += PG;
	assert_int_equal(dmk_nvme_prp_pages_needed(&s, 1, PG), 2);
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 2, prp, &used), 0);
	assert_int_equal(used, 2);
	assert_int_equal(ent(0, 510), 0x80000000 + 511 * PG);
	assert_int_equal(ent(0, 511), pool.dev[1]);
	assert_int_equal(ent(1, 0), 0x80000000 + 512 * PG);
	assert_int_equal(ent(1, 1), 0x80000000 + 513 * PG);
	check_prp_roundtrip(&s, 1, PG, prp, used);
}

/* Several segments over four list pages, pages handed in a shuffled order. */
static void test_prp_chain_many_pages(void **state)
{
	const size_t idx[5] = { 7, 3, 11, 5, 9 };
	struct dmk_seg segs[4] = {
		{ 0x1000000 + 0xe00, 0x200 },		/* 1 page */
		{ 0x5000000, 600 * PG },		/* 600 */
		{ 0x9000000, 700 * PG },		/* 700 */
		{ 0xd000000, 250 * PG + 12 },		/* 251 */
	};
	struct dmk_list_page pages[5];
	uint64_t prp[2];
	size_t used;

	(void)state;
	pool_reset(PG);
	pool_pages(pages, idx, 5);
	/* 1551 list entries: 511 + 511 + 511 + 18 */
	assert_int_equal(dmk_nvme_prp_pages_needed(segs, 4, PG), 4);
	assert_int_equal(dmk_nvme_prp_write(segs, 4, PG, pages, 5, prp, &used), 0);
	assert_int_equal(used, 4);
	assert_int_equal(prp[0], 0x1000e00);
	assert_int_equal(prp[1], pool.dev[7]);
	assert_int_equal(ent(7, 0), 0x5000000);
	assert_int_equal(ent(7, 511), pool.dev[3]);
	assert_int_equal(ent(3, 511), pool.dev[11]);
	assert_int_equal(ent(11, 511), pool.dev[5]);
	assert_int_equal(ent(5, 17), 0xd000000 + 250 * PG);
	check_prp_roundtrip(segs, 4, PG, prp, used);
}

static void test_prp_big_page(void **state)
{
	const uint64_t ps = 16 * KiB;
	struct dmk_seg segs[2] = { { 0x100000 + 0x3ffc, 4 }, { 0x400000, 3 * ps } };
	struct dmk_list_page page;
	uint64_t prp[2];
	size_t used;

	(void)state;
	pool_reset(ps);
	pool_first(&page, 1);
	/* ending on a 4 KiB page that is not a 16 KiB page is refused */
	segs[0].addr = 0x100000 + 0x2ffc;
	assert_int_equal(dmk_nvme_prp_write(segs, 2, ps, &page, 1, prp, &used), -EINVAL);
	segs[0].addr = 0x100000 + 0x3ffc;
	assert_int_equal(dmk_nvme_prp_write(segs, 2, ps, &page, 1, prp, &used), 0);
	assert_int_equal(used, 1);
	assert_int_equal(ent(0, 0), 0x400000);
	assert_int_equal(ent(0, 2), 0x400000 + 2 * ps);
	check_prp_roundtrip(segs, 2, ps, prp, used);
}

static void test_prp_errors(void **state)
{
	struct dmk_list_page pages[3];
	uint64_t prp[2];
	size_t used = 42;
	struct dmk_seg s;
	struct dmk_seg mid[3] = {
		{ 0x10000, PG }, { 0x20800, PG }, { 0x30000, 0x10 },
	};
	struct dmk_seg end[2] = { { 0x10000, 0x800 }, { 0x20000, PG } };

	(void)state;
	pool_reset(PG);
	pool_first(pages, 3);

	/* PRP1 offset not dword aligned */
	s = (struct dmk_seg){ 0x10002, 0x100 };
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "segment 0 at 0x10002"));
	assert_int_equal(used, 42);

	/* a later segment not starting on a page */
	assert_int_equal(dmk_nvme_prp_write(mid, 3, PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "segment 1 at 0x20800"));

	/* an earlier segment not ending on a page */
	assert_int_equal(dmk_nvme_prp_write(end, 2, PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "segment 0 at 0x10000"));
	assert_non_null(strstr(dmk_last_error(), "does not end"));

	/* zero length, first or later */
	s = (struct dmk_seg){ 0x10000, 0 };
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "length 0"));
	end[1].len = 0;
	end[0].len = PG;
	assert_int_equal(dmk_nvme_prp_write(end, 2, PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "segment 1"));

	/* wrapping the address space */
	s = (struct dmk_seg){ UINT64_MAX - 0xfff, 0x2000 };
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "wraps"));
	/* ending exactly at 2^64 does not wrap */
	s = (struct dmk_seg){ UINT64_MAX - 0xfff, 0x1000 };
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 3, prp, &used), 0);
	/* not even for a segment in the middle (its end, 2^64, is page aligned) */
	struct dmk_seg top[3] = { { 0x10000, PG }, { 0 - 2 * PG, 2 * PG }, { 0x20000, 0x10 } };
	assert_int_equal(dmk_nvme_prp_write(top, 3, PG, pages, 3, prp, &used), 0);
	assert_int_equal(prp[0], 0x10000);
	assert_int_equal(prp[1], pool.dev[0]);
	assert_int_equal(ent(0, 0), 0 - 2 * PG);
	assert_int_equal(ent(0, 1), 0 - PG);
	assert_int_equal(ent(0, 2), 0x20000);
	check_prp_roundtrip(top, 3, PG, prp, used);

	/* no segments, bad page sizes */
	assert_int_equal(dmk_nvme_prp_write(&s, 0, PG, pages, 3, prp, &used), -EINVAL);
	assert_int_equal(dmk_nvme_prp_write(&s, 1, 2048, pages, 3, prp, &used), -EINVAL);
	assert_int_equal(dmk_nvme_prp_write(&s, 1, 3 * PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "page size"));
	assert_int_equal(dmk_nvme_prp_pages_needed(&s, 1, 3 * PG), 0);

	/* too few pages: the message says how many are needed */
	s = (struct dmk_seg){ 0x100000, 1200 * PG };
	assert_int_equal(dmk_nvme_prp_pages_needed(&s, 1, PG), 3);
	used = 42;
	prp[0] = prp[1] = 7;
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 2, prp, &used), -ENOSPC);
	assert_non_null(strstr(dmk_last_error(), "needs 3 pages, 2 given"));
	/* nothing written on error */
	assert_int_equal(used, 42);
	assert_int_equal(prp[0], 7);
	assert_int_equal(prp[1], 7);
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, NULL, 0, prp, &used), -ENOSPC);
	assert_non_null(strstr(dmk_last_error(), "needs 3 pages, 0 given"));

	/* a list page the device would read at an offset */
	pages[1].dev += 8;
	assert_int_equal(dmk_nvme_prp_write(&s, 1, PG, pages, 3, prp, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "list page 1"));
}

/* ---- SGL ---- */

static void test_sgl_one(void **state)
{
	struct dmk_seg s = { 0x123456789a, 0x1235 };
	uint8_t sgl1[16];
	const uint8_t want[16] = {
		0x9a, 0x78, 0x56, 0x34, 0x12, 0, 0, 0,
		0x35, 0x12, 0, 0, 0, 0, 0, 0x00,
	};
	size_t used = 9;

	(void)state;
	assert_int_equal(dmk_nvme_sgl_write(&s, 1, 4096, NULL, 0, sgl1, &used), 0);
	assert_memory_equal(sgl1, want, 16);
	assert_int_equal(used, 0);
	assert_int_equal(dmk_nvme_sgl_pages_needed(1, 4096), 0);

	/* 4 GiB - 1 is the longest a data block says */
	s.len = UINT32_MAX;
	assert_int_equal(dmk_nvme_sgl_write(&s, 1, 4096, NULL, 0, sgl1, &used), 0);
	assert_int_equal(rd_desc(sgl1).len, UINT32_MAX);
}

static void check_sgl_roundtrip(const struct dmk_seg *segs, size_t n, size_t list_size,
				const uint8_t sgl1[16], size_t used)
{
	struct dmk_seg *want = calloc(n, sizeof(*want));
	struct dmk_seg *got = calloc(n, sizeof(*got));
	struct nvme_decoded d = { .ranges = got, .cap = n };
	uint64_t total = 0;
	size_t nw;

	assert_non_null(want);
	assert_non_null(got);
	for (size_t i = 0; i < n; i++)
		total += segs[i].len;
	pool.size = list_size;
	if (nvme_decode_sgl(sgl1, total, pool_map, &pool, &d))
		fail_msg("decode: %s", d.why);
	nw = nvme_coalesce(segs, n, want);
	assert_int_equal(d.nranges, nw);
	assert_memory_equal(got, want, nw * sizeof(want[0]));
	assert_int_equal(d.list_pages, used);
	free(want);
	free(got);
}

static void fill_segs(struct dmk_seg *segs, size_t n)
{
	/* gaps between them, so that nothing coalesces */
	for (size_t i = 0; i < n; i++)
		segs[i] = (struct dmk_seg){ 0x10000000 + i * 0x10000 + i, 0x100 + i };
}

static void test_sgl_one_page(void **state)
{
	struct dmk_seg segs[3];
	struct dmk_list_page page;
	uint8_t sgl1[16];
	struct desc d;
	size_t used;

	(void)state;
	pool_reset(4096);
	pool_first(&page, 1);
	fill_segs(segs, 3);
	assert_int_equal(dmk_nvme_sgl_pages_needed(3, 4096), 1);
	assert_int_equal(dmk_nvme_sgl_write(segs, 3, 4096, &page, 1, sgl1, &used), 0);
	assert_int_equal(used, 1);
	d = rd_desc(sgl1);
	assert_int_equal(d.type, DMK_NVME_SGL_LAST_SEGMENT);
	assert_int_equal(sgl1[15], 0x30);
	assert_int_equal(d.addr, pool.dev[0]);
	assert_int_equal(d.len, 48);
	for (size_t i = 0; i < 3; i++) {
		d = slot_desc(0, i);
		assert_int_equal(d.type, DMK_NVME_SGL_DATA_BLOCK);
		assert_int_equal(d.addr, segs[i].addr);
		assert_int_equal(d.len, segs[i].len);
	}
	check_sgl_roundtrip(segs, 3, 4096, sgl1, used);
}

/* Exactly as many blocks as slots: one page, no pointer. */
static void test_sgl_fills_one_page(void **state)
{
	struct dmk_seg segs[5];
	struct dmk_list_page pages[2];
	uint8_t sgl1[16];
	struct desc d;
	size_t used;

	(void)state;
	pool_reset(64);
	pool_first(pages, 2);
	fill_segs(segs, 5);
	assert_int_equal(dmk_nvme_sgl_pages_needed(4, 64), 1);
	assert_int_equal(dmk_nvme_sgl_write(segs, 4, 64, pages, 1, sgl1, &used), 0);
	assert_int_equal(used, 1);
	d = rd_desc(sgl1);
	assert_int_equal(d.type, DMK_NVME_SGL_LAST_SEGMENT);
	assert_int_equal(d.len, 64);
	assert_int_equal(slot_desc(0, 3).type, DMK_NVME_SGL_DATA_BLOCK);
	check_sgl_roundtrip(segs, 4, 64, sgl1, used);

	/* one more: Segment, 3 blocks and a Last Segment of 2 */
	assert_int_equal(dmk_nvme_sgl_pages_needed(5, 64), 2);
	assert_int_equal(dmk_nvme_sgl_write(segs, 5, 64, pages, 2, sgl1, &used), 0);
	assert_int_equal(used, 2);
	d = rd_desc(sgl1);
	assert_int_equal(d.type, DMK_NVME_SGL_SEGMENT);
	assert_int_equal(sgl1[15], 0x20);
	assert_int_equal(d.len, 64);
	d = slot_desc(0, 3);
	assert_int_equal(d.type, DMK_NVME_SGL_LAST_SEGMENT);
	assert_int_equal(d.addr, pool.dev[1]);
	assert_int_equal(d.len, 32);
	assert_int_equal(slot_desc(1, 1).addr, segs[4].addr);
	check_sgl_roundtrip(segs, 5, 64, sgl1, used);
}

/* 2 slots a page: every page but the last holds one block and a pointer. */
static void test_sgl_chain(void **state)
{
	const size_t idx[6] = { 4, 2, 8, 1, 6, 3 };
	struct dmk_seg segs[7];
	struct dmk_list_page pages[6];
	uint8_t sgl1[16];
	struct desc d;
	size_t used;

	(void)state;
	pool_reset(32);
	/* segments need only 16-byte alignment */
	for (size_t k = 0; k < 6; k++)
		pool.dev[idx[k]] += 16 * k;
	pool_pages(pages, idx, 6);
	fill_segs(segs, 7);
	assert_int_equal(dmk_nvme_sgl_pages_needed(7, 32), 6);
	assert_int_equal(dmk_nvme_sgl_write(segs, 7, 32, pages, 6, sgl1, &used), 0);
	assert_int_equal(used, 6);
	d = rd_desc(sgl1);
	assert_int_equal(d.type, DMK_NVME_SGL_SEGMENT);
	assert_int_equal(d.addr, pool.dev[4]);
	assert_int_equal(d.len, 32);
	for (size_t k = 0; k < 5; k++) {
		assert_int_equal(slot_desc(idx[k], 0).addr, segs[k].addr);
		d = slot_desc(idx[k], 1);
		assert_int_equal(d.addr, pool.dev[idx[k + 1]]);
		assert_int_equal(d.len, 32);
		assert_int_equal(d.type, k == 4 ? DMK_NVME_SGL_LAST_SEGMENT : DMK_NVME_SGL_SEGMENT);
	}
	assert_int_equal(slot_desc(3, 0).addr, segs[5].addr);
	assert_int_equal(slot_desc(3, 1).addr, segs[6].addr);
	check_sgl_roundtrip(segs, 7, 32, sgl1, used);

	/* three 4 KiB pages: 255 + 255 + 10 blocks, the last pointer's length 160 */
	{
		struct dmk_seg *many = calloc(520, sizeof(*many));

		assert_non_null(many);
		pool_reset(4096);
		pool_first(pages, 3);
		fill_segs(many, 520);
		assert_int_equal(dmk_nvme_sgl_pages_needed(520, 4096), 3);
		assert_int_equal(dmk_nvme_sgl_write(many, 520, 4096, pages, 3, sgl1, &used), 0);
		assert_int_equal(used, 3);
		assert_int_equal(rd_desc(sgl1).len, 4096);
		d = slot_desc(0, 255);
		assert_int_equal(d.type, DMK_NVME_SGL_SEGMENT);
		assert_int_equal(d.len, 4096);
		d = slot_desc(1, 255);
		assert_int_equal(d.type, DMK_NVME_SGL_LAST_SEGMENT);
		assert_int_equal(d.len, 160);
		check_sgl_roundtrip(many, 520, 4096, sgl1, used);
		free(many);
	}
}

static void test_sgl_errors(void **state)
{
	struct dmk_seg segs[40];
	struct dmk_list_page pages[3];
	uint8_t sgl1[16];
	size_t used = 42;

	(void)state;
	pool_reset(4096);
	pool_first(pages, 3);
	fill_segs(segs, 40);

	/* 4 GiB does not fit a data block's length */
	segs[1].len = 4 * GiB;
	assert_int_equal(dmk_nvme_sgl_write(segs, 3, 4096, pages, 3, sgl1, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "segment 1"));
	assert_int_equal(used, 42);
	segs[1].len = 0;
	assert_int_equal(dmk_nvme_sgl_write(segs, 3, 4096, pages, 3, sgl1, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "length 0"));
	segs[1] = (struct dmk_seg){ UINT64_MAX - 10, 11 };
	assert_int_equal(dmk_nvme_sgl_write(segs, 3, 4096, pages, 3, sgl1, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "ends at or past 2^64"));
	fill_segs(segs, 40);

	/* bad list sizes, no segments */
	assert_int_equal(dmk_nvme_sgl_write(segs, 3, 16, pages, 3, sgl1, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "list size 16"));
	assert_int_equal(dmk_nvme_sgl_write(segs, 3, 40, pages, 3, sgl1, &used), -EINVAL);
	assert_int_equal(dmk_nvme_sgl_pages_needed(3, 40), 0);
	assert_int_equal(dmk_nvme_sgl_write(segs, 0, 4096, pages, 3, sgl1, &used), -EINVAL);

	/* too few pages: 40 blocks of 8 a page need 6 */
	assert_int_equal(dmk_nvme_sgl_pages_needed(40, 128), 6);
	assert_int_equal(dmk_nvme_sgl_write(segs, 40, 128, pages, 3, sgl1, &used), -ENOSPC);
	assert_non_null(strstr(dmk_last_error(), "needs 6 pages, 3 given"));
	assert_int_equal(used, 42);

	/* a list page not 16-byte aligned */
	pages[0].dev += 8;
	assert_int_equal(dmk_nvme_sgl_write(segs, 2, 4096, pages, 1, sgl1, &used), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "16-byte"));
}

/* ---- properties ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(0x2545f4914f6cdd1d);
}

/* Uniform enough in [lo, hi]. */
static uint64_t rnd_in(uint64_t lo, uint64_t hi)
{
	return lo + rnd() % (hi - lo + 1);
}

static uint64_t seed;

static int seed_setup(void **state)
{
	const char *env = getenv("DMK_SEED");

	(void)state;
	if (seed)
		return 0;	/* one seed for both property tests */
	seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (!seed)
		seed = 1;
	printf("nvme_fmt property seed: %" PRIu64 " (DMK_SEED=%" PRIu64 " repeats it)\n",
	       seed, seed);
	fflush(stdout);
	return 0;
}

#define CASES 10000
#define PRP_MAX_SEGS 12
#define POISON UINT64_C(0xa5a5a5a5a5a5a5a5)

/* Fewest list pages for @entries, counted by filling them one by one. */
static size_t prp_pages_model(uint64_t entries, uint64_t per)
{
	size_t p = 1;

	while (entries > per) {
		entries -= per - 1;
		p++;
	}
	return p;
}

/* Poisoned 8-byte slots changed in the pages handed over. */
static size_t written_slots(const struct dmk_list_page *pages, size_t n, size_t bytes)
{
	size_t w = 0;

	for (size_t k = 0; k < n; k++) {
		const uint8_t *p = pages[k].va;

		for (size_t o = 0; o < bytes; o += 8) {
			uint64_t v;

			memcpy(&v, p + o, 8);
			w += v != POISON;
		}
	}
	return w;
}

/* Shuffled pool pages with device addresses jittered by multiples of @align. */
static void random_pages(struct dmk_list_page *pages, size_t n, size_t size, uint64_t align)
{
	static size_t perm[POOL_PAGES];

	for (size_t i = 0; i < POOL_PAGES; i++)
		perm[i] = i;
	for (size_t i = 0; i < n; i++) {
		size_t j = i + rnd() % (POOL_PAGES - i);
		size_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	pool.size = size;
	for (size_t i = 0; i < POOL_PAGES; i++)
		pool.dev[i] = POOL_DEV + i * POOL_STRIDE +
			      align * rnd_in(0, (POOL_STRIDE - size) / align);
	pool_pages(pages, perm, n);
	for (size_t k = 0; k < n; k++)
		memset(pages[k].va, 0xa5, size);
}

static void test_prp_property(void **state)
{
	static struct dmk_seg ranges[4 * 2048 + 64];
	struct dmk_list_page pages[8];
	size_t hist[6] = { 0 };

	(void)state;
	rng_state = seed;
	for (unsigned int c = 0; c < CASES; c++) {
		const uint64_t ps = rnd() % 4 ? PG : PG << rnd_in(1, 2);
		const unsigned int shift = (unsigned int)__builtin_ctzll(ps);
		const uint64_t per = ps / 8;
		struct dmk_seg segs[PRP_MAX_SEGS], want[PRP_MAX_SEGS];
		struct nvme_decoded d = { .ranges = ranges, .cap = sizeof(ranges) / sizeof(ranges[0]) };
		uint64_t T, left, total = 0, prp[2], off, next;
		size_t n, nw, need, used = 0, extra;
		int rc;

		/* how many pages: around every boundary the format has */
		switch (rnd() % 6) {
		case 0: T = rnd_in(1, 2); break;
		case 1: T = rnd_in(3, 40); break;
		case 2: T = rnd_in(per - 1, per + 3); break;
		case 3: T = rnd_in(2 * per - 2, 2 * per + 2); break;
		case 4: T = rnd_in(2 * per + 1, 4 * per); break;
		default: T = rnd_in(1, 300); break;
		}
		n = (size_t)rnd_in(1, T < PRP_MAX_SEGS ? T : PRP_MAX_SEGS);

		/* split T pages over n segments, each at least one */
		left = T;
		off = rnd() % 3 ? 4 * rnd_in(0, ps / 4 - 1) : 0;
		next = rnd_in(1, UINT64_C(1) << 30) << shift;
		for (size_t i = 0; i < n; i++) {
			uint64_t pg = i + 1 == n ? left : rnd_in(1, left - (n - 1 - i));
			uint64_t start = i == 0 ? next + off : next;
			uint64_t first_off = i == 0 ? off : 0;
			uint64_t len;

			left -= pg;
			if (i + 1 < n)
				len = pg * ps - first_off;
			else
				len = rnd_in(pg == 1 ? 1 : (pg - 1) * ps - first_off + 1,
					     pg * ps - first_off);
			segs[i] = (struct dmk_seg){ start, len };
			total += len;
			/* a third of the time the next segment follows on */
			next = rnd() % 3 ? rnd_in(1, UINT64_C(1) << 30) << shift :
					   start + len;
		}

		need = T <= 2 ? 0 : prp_pages_model(T - 1, per);
		hist[need < 5 ? need : 5]++;
		if (dmk_nvme_prp_pages_needed(segs, n, ps) != need)
			fail_msg("case %u: pages_needed %zu, want %zu (T %" PRIu64 ")", c,
				 dmk_nvme_prp_pages_needed(segs, n, ps), need, T);
		extra = (size_t)rnd_in(0, 2);
		random_pages(pages, need + extra, ps, ps);

		if (need) {
			rc = dmk_nvme_prp_write(segs, n, ps, pages, need - 1, prp, &used);
			if (rc != -ENOSPC)
				fail_msg("case %u: %zu of %zu pages gave %d", c, need - 1, need, rc);
		}
		rc = dmk_nvme_prp_write(segs, n, ps, pages, need + extra, prp, &used);
		if (rc)
			fail_msg("case %u: write %d: %s", c, rc, dmk_last_error());
		if (used != need)
			fail_msg("case %u: used %zu pages, want %zu", c, used, need);
		if (nvme_decode_prp(prp[0], prp[1], ps, total, pool_map, &pool, &d))
			fail_msg("case %u (seed %" PRIu64 ", ps %" PRIu64 ", T %" PRIu64 ", %zu segs): %s",
				 c, seed, ps, T, n, d.why);
		nw = nvme_coalesce(segs, n, want);
		if (d.nranges != nw || memcmp(ranges, want, nw * sizeof(want[0])))
			fail_msg("case %u (seed %" PRIu64 "): decoded %zu ranges, want %zu",
				 c, seed, d.nranges, nw);
		if (d.list_pages != used)
			fail_msg("case %u: decoder read %zu pages, writer used %zu", c,
				 d.list_pages, used);
		/* nothing written but the entries and the chain pointers */
		if (need && written_slots(pages, need + extra, ps) != T - 1 + need - 1)
			fail_msg("case %u: %zu slots written, want %" PRIu64, c,
				 written_slots(pages, need + extra, ps), T - 1 + need - 1);
	}
	printf("prp: %d cases; by list pages 0/1/2/3/4/5+: %zu/%zu/%zu/%zu/%zu/%zu\n", CASES,
	       hist[0], hist[1], hist[2], hist[3], hist[4], hist[5]);
}

#define SGL_MAX_SEGS 400

static size_t sgl_pages_model(size_t n, size_t per)
{
	size_t p = 1;

	if (n <= 1)
		return 0;
	while (n > per) {
		n -= per - 1;
		p++;
	}
	return p;
}

static void test_sgl_property(void **state)
{
	static struct dmk_seg segs[SGL_MAX_SEGS], want[SGL_MAX_SEGS], ranges[SGL_MAX_SEGS];
	static struct dmk_list_page pages[POOL_PAGES];
	size_t hist[5] = { 0 };

	(void)state;
	rng_state = seed ^ UINT64_C(0x9e3779b97f4a7c15);
	for (unsigned int c = 0; c < CASES; c++) {
		const size_t list_size = rnd() % 4 ? 16 * (size_t)rnd_in(2, 32) : 4096;
		const size_t per = list_size / 16;
		struct nvme_decoded d = { .ranges = ranges, .cap = SGL_MAX_SEGS };
		uint64_t total = 0, next;
		uint8_t sgl1[16];
		size_t n, nw, need, used = 0, extra, cap;
		int rc;

		/* cap the count so that even 2 slots a page fit the pool */
		cap = SGL_MAX_SEGS;
		switch (rnd() % 6) {
		case 0: n = 1; break;
		case 1: n = (size_t)rnd_in(2, per); break;
		case 2: n = per + (size_t)rnd_in(0, 1); break;
		case 3: n = 2 * per - 1 + (size_t)rnd_in(0, 2); break;
		default: n = (size_t)rnd_in(2, cap); break;
		}
		if (n > cap)
			n = cap;

		next = rnd() & ((UINT64_C(1) << 52) - 1);
		for (size_t i = 0; i < n; i++) {
			uint64_t len = rnd() % 50 ? rnd_in(1, 65536) : rnd_in(1, UINT32_MAX);

			segs[i] = (struct dmk_seg){ next, len };
			total += len;
			next = rnd() % 4 ? rnd() & ((UINT64_C(1) << 52) - 1) : next + len;
		}

		need = sgl_pages_model(n, per);
		hist[need < 4 ? need : 4]++;
		if (dmk_nvme_sgl_pages_needed(n, list_size) != need)
			fail_msg("case %u: pages_needed %zu, want %zu", c,
				 dmk_nvme_sgl_pages_needed(n, list_size), need);
		extra = (size_t)rnd_in(0, 2);
		random_pages(pages, need + extra, list_size, 16);

		if (need) {
			rc = dmk_nvme_sgl_write(segs, n, list_size, pages, need - 1, sgl1, &used);
			if (rc != -ENOSPC)
				fail_msg("case %u: %zu of %zu pages gave %d", c, need - 1, need, rc);
		}
		rc = dmk_nvme_sgl_write(segs, n, list_size, pages, need + extra, sgl1, &used);
		if (rc)
			fail_msg("case %u: write %d: %s", c, rc, dmk_last_error());
		if (used != need)
			fail_msg("case %u: used %zu pages, want %zu", c, used, need);
		if (nvme_decode_sgl(sgl1, total, pool_map, &pool, &d))
			fail_msg("case %u (seed %" PRIu64 ", list %zu, %zu segs): %s", c, seed,
				 list_size, n, d.why);
		nw = nvme_coalesce(segs, n, want);
		if (d.nranges != nw || memcmp(ranges, want, nw * sizeof(want[0])))
			fail_msg("case %u (seed %" PRIu64 "): decoded %zu ranges, want %zu",
				 c, seed, d.nranges, nw);
		if (d.list_pages != used)
			fail_msg("case %u: decoder read %zu pages, writer used %zu", c,
				 d.list_pages, used);
		/* every descriptor is two 8-byte slots; blocks plus pointers */
		if (need && written_slots(pages, need + extra, list_size) != 2 * (n + need - 1))
			fail_msg("case %u: %zu slots written, want %zu", c,
				 written_slots(pages, need + extra, list_size), 2 * (n + need - 1));
	}
	printf("sgl: %d cases; by list pages 0/1/2/3/4+: %zu/%zu/%zu/%zu/%zu\n", CASES,
	       hist[0], hist[1], hist[2], hist[3], hist[4]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prp_one_page),
		cmocka_unit_test(test_prp_two_pages),
		cmocka_unit_test(test_prp_list_small),
		cmocka_unit_test(test_prp_1mib),
		cmocka_unit_test(test_prp_list_fills_one_page),
		cmocka_unit_test(test_prp_chain_many_pages),
		cmocka_unit_test(test_prp_big_page),
		cmocka_unit_test(test_prp_errors),
		cmocka_unit_test(test_sgl_one),
		cmocka_unit_test(test_sgl_one_page),
		cmocka_unit_test(test_sgl_fills_one_page),
		cmocka_unit_test(test_sgl_chain),
		cmocka_unit_test(test_sgl_errors),
		cmocka_unit_test_setup(test_prp_property, seed_setup),
		cmocka_unit_test_setup(test_sgl_property, seed_setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
