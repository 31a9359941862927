/* SPDX-License-Identifier: MIT */
/*
 * Property test of the segment generator: random rules, random iovecs over
 * random registrations, random slices, in sim spaces of every layout.
 * For every case:
 *  - the segments obey every rule of the spec;
 *  - a device reading the segments in order (through the sim IOMMU) reads
 *    exactly the slice's bytes, bounced ones included, after a sync;
 *  - a device writing the segments fills exactly the slice, nothing else;
 *  - the covered prefix is the whole slice unless a count limit stopped it,
 *    and resuming from there covers the rest;
 *  - with rules that allow anything, nothing is bounced.
 * Cases draw from the extremes of the 64-bit space: sim windows at 0, at
 * 2^63, across 2^63 and ending exactly at 2^64 (filled to the top), taken
 * in turn by case number so that every run of 8 cases or more has each;
 * boundaries up to 2^63, segments as small as the alignment allows and
 * maximum transfers near 2^64.
 * The seed is printed; DMK_SEED repeats a run, DMK_CASES sets the count.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <dmakit/dma.h>
#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

#include "seg_rules.h"

#define ARENA (4u << 20)
#define MAX_IOV 8

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t pow2_upto(unsigned max_shift)
{
	return UINT64_C(1) << below(max_shift + 1);
}

struct scase {
	struct dmk_dma_spec spec;
	struct dmk_sim_config sim;
	bool pool;
	bool pool_last;		/* the pool is registered after the buffers */
	bool whole;		/* one registration over the whole arena */
	struct iovec iov[MAX_IOV];
	int iovcnt;
	uint64_t total, offset, length;
	enum dmk_dir dir;
};

static unsigned char *arena, *shadow;

static void random_spec(struct dmk_dma_spec *s, const struct dmk_sim_config *sim)
{
	dmk_dma_spec_init(s);
	s->addr_align = pow2_upto(below(4) ? 3 : 12);
	s->len_align = pow2_upto(below(4) ? 2 : 9);
	if (below(3) == 0) {
		s->flags = DMK_SPEC_PAGE_LIST;
		s->addr_align = s->addr_align > 4096 ? 4096 : s->addr_align;
		s->len_align = s->len_align > 4096 ? 4096 : s->len_align;
	}
	if (below(2))
		s->max_seg_size = below(2) ? 4096 * (1 + below(8)) : 1 + below(20000);
	if (below(3) == 0) {
		static const unsigned top[] = { 63, 63, 62, 32 };

		s->boundary = UINT64_C(1) << (below(2) ? 12 + below(6) : top[below(4)]);
	}
	if (below(3) == 0)
		s->max_segs = 1 + below(8);
	if (below(3) == 0)
		s->max_transfer = below(2) ? 512 + below(100000) : UINT64_MAX - below(1u << 20);
	if (below(3) == 0) {
		/* A window that leaves some registrations out of reach (capped at 2^64 - 1). */
		uint64_t reach = (UINT64_C(1) << (16 + below(8))) - 1;

		s->addr_low = sim->window_base;
		s->addr_high = reach > UINT64_MAX - sim->window_base ? UINT64_MAX : sim->window_base + reach;
	}
	/* Make the random rules consistent the way a driver author would. */
	uint64_t a = s->addr_align > s->len_align ? s->addr_align : s->len_align;
	/* Tiny segments: the alignment, or a few times it. */
	if (below(6) == 0)
		s->max_seg_size = a * (1 + below(3));
	if (s->max_seg_size && s->max_seg_size < a)
		s->max_seg_size = a;
	if (s->flags & DMK_SPEC_PAGE_LIST && s->max_seg_size && s->max_seg_size < 4096)
		s->max_seg_size = 4096;
	if (s->boundary && s->boundary < a)
		s->boundary = a;
	if (s->max_transfer) {
		/* Rounded down: one near 2^64 must not round up past it. */
		s->max_transfer &= ~(s->len_align - 1);
		if (s->max_transfer < a)
			s->max_transfer = a;
	}
}

/*
 * Where the sim hands out addresses, by @kind (0 to 7): at 0, at 2^63,
 * across 2^63 (a few pages below it), ending at 2^64 (two kinds in
 * eight), or the usual window. One ending at 2^64 is just big enough for
 * what the case registers (twice that when scattered, so that random pages
 * still find room), so that contiguous and reversed layouts reach its last
 * byte; the pool's memory may straddle one sim page more than its size
 * when sim pages exceed 4 KiB.
 */
static void random_window(struct scase *c, unsigned kind)
{
	uint64_t page = c->sim.page_size, need = 0;

	if (c->whole)
		need = span_pages(arena, ARENA, page);
	else
		for (int i = 0; i < c->iovcnt; i++)
			if (c->iov[i].iov_len)
				need += span_pages(c->iov[i].iov_base, c->iov[i].iov_len, page);
	if (c->pool)
		need += (64 * 4096 + page - 1) / page + (page > 4096);
	c->sim.window_base = UINT64_C(1) << 32;
	c->sim.window_size = UINT64_C(1) << 40;
	switch (kind) {
	case 0:
		c->sim.window_base = 0;
		break;
	case 1:
		c->sim.window_base = UINT64_C(1) << 63;
		break;
	case 2:
		c->sim.window_base = (UINT64_C(1) << 63) - page * (1 + below(need));
		break;
	case 3:
	case 4:
		c->sim.window_size = need * page * (c->sim.layout == DMK_SIM_SCATTERED ? 2 : 1);
		c->sim.window_base = 0 - c->sim.window_size;
		break;
	default:
		break;
	}
}

static void random_case(struct scase *c, unsigned long idx)
{
	static const uint64_t pages[] = { 4096, 8192, 65536, 2u << 20 };
	uint64_t used = 0;

	memset(c, 0, sizeof(*c));
	c->sim.page_size = pages[below(4)];
	c->sim.layout = (enum dmk_sim_layout)below(3);
	c->sim.seed = rnd();
	c->pool = below(3) != 0;
	c->pool_last = below(2);
	c->whole = below(4) == 0;
	c->dir = (enum dmk_dir)(1 + below(3));
	c->iovcnt = 1 + (int)below(MAX_IOV);
	/* Disjoint ranges of the arena, in a shuffled order. */
	uint64_t room = ARENA / c->iovcnt;
	for (int i = 0; i < c->iovcnt; i++) {
		uint64_t len = below(3) == 0 ? 1 + below(64) : 1 + below(room / 2);
		uint64_t start = i * room + below(room - len);

		/* Some end on a page, so that a window's last byte is in a slice. */
		if (below(4) == 0) {
			uint64_t end = (start + len) & ~UINT64_C(4095);

			if (end >= i * room + len)
				start = end - len;
		}

		c->iov[i].iov_base = arena + start;
		c->iov[i].iov_len = below(10) == 0 ? 0 : len;
		used += c->iov[i].iov_len;
	}
	for (int i = c->iovcnt - 1; i > 0; i--) {
		int j = (int)below(i + 1);
		struct iovec t = c->iov[i];

		c->iov[i] = c->iov[j];
		c->iov[j] = t;
	}
	c->total = used;
	random_window(c, (unsigned)(idx % 8));
	random_spec(&c->spec, &c->sim);
}

static struct dmk_bounce_pool *make_pool(struct scase *c, struct dmk_space *sp)
{
	struct dmk_bounce_pool *pool = NULL;
	int err = dmk_bounce_pool_create(sp, &c->spec, 64 * 4096, &pool);

	if (err == -ERANGE) {
		/* Scattered pool pages fell outside a narrow window. */
		c->spec.addr_low = 0;
		c->spec.addr_high = UINT64_MAX;
		err = dmk_bounce_pool_create(sp, &c->spec, 64 * 4096, &pool);
	}
	if (err)
		fail_msg("bounce pool: %d: %s", err, dmk_last_error());
	return pool;
}

static int run_case(struct scase *c, unsigned long idx)
{
	struct dmk_region *regs[MAX_IOV + 1];
	struct dmk_bounce_pool *pool = NULL;
	struct dmk_space *sp;
	struct dmk_dma *dma;
	struct dmk_mem *mem;
	int nregs = 0, err;
	unsigned char *want, *got;

	if (!c->total)
		return 0;
	c->offset = below(c->total);
	c->length = 1 + below(c->total - c->offset);
	if (c->length > (256u << 10))
		c->length = 1 + below(256u << 10);
	/* Tiny segments: a few thousand at most, for the run time. */
	if (c->spec.max_seg_size && c->spec.max_seg_size < 64 && c->length > 4096 * c->spec.max_seg_size)
		c->length = 1 + below(4096 * c->spec.max_seg_size);
	c->length = (c->length / c->spec.len_align) * c->spec.len_align;
	if (!c->length)
		return 0;
	assert_int_equal(dmk_space_sim_create(&c->sim, &sp), 0);
	if (c->pool && !c->pool_last)
		pool = make_pool(c, sp);
	/* Register per entry, or one range over the whole arena. */
	if (c->whole) {
		assert_int_equal(dmk_region_register(sp, arena, ARENA, DMK_PROT_RW, &regs[nregs++]), 0);
	} else {
		for (int i = 0; i < c->iovcnt; i++)
			if (c->iov[i].iov_len)
				assert_int_equal(dmk_region_register(sp, c->iov[i].iov_base, c->iov[i].iov_len,
								     DMK_PROT_RW, &regs[nregs++]), 0);
	}
	if (c->pool && c->pool_last)
		pool = make_pool(c, sp);
	err = dmk_dma_create(sp, &c->spec, pool, &dma);
	if (err == -EINVAL && pool) {
		/* Chunks that cannot obey these rules: run without a pool. */
		dmk_bounce_pool_destroy(pool);
		pool = NULL;
		err = dmk_dma_create(sp, &c->spec, NULL, &dma);
	}
	assert_int_equal(err, 0);
	assert_int_equal(dmk_mem_create(c->iov, c->iovcnt, c->dir, &mem), 0);

	want = malloc(c->length);
	got = malloc(c->length);
	for (uint64_t i = 0; i < c->length; i++)
		want[i] = (unsigned char)rnd();

	uint64_t done = 0;
	int rounds = 0;
	if (c->dir & DMK_FROM_DEVICE)
		memcpy(shadow, arena, ARENA);
	while (done < c->length) {
		uint64_t covered = 0;
		const struct dmk_seg *seg;
		size_t n;

		err = dmk_dma_prepare(dma, mem, c->offset + done, c->length - done, &covered);
		if (err && getenv("DMK_VERBOSE")) {
			char buf[256];

			dmk_dma_spec_format(&c->spec, buf, sizeof(buf));
			printf("case %lu layout %d page %" PRIu64 " window %#" PRIx64 " + %#" PRIx64 " pool %d dir %d: %s\n",
			       idx, c->sim.layout, c->sim.page_size, c->sim.window_base, c->sim.window_size,
			       pool != NULL, c->dir, buf);
			for (int i = 0; i < c->iovcnt; i++)
				printf("  iov %d: %p + %zu\n", i, c->iov[i].iov_base, c->iov[i].iov_len);
			printf("  slice %" PRIu64 " + %" PRIu64 " (done %" PRIu64 "): error %d\n",
			       c->offset, c->length, done, err);
		}
		if (err) {
			/* Only a missing or full pool may refuse a legal transfer. */
			if (!(err == -EINVAL || err == -ERANGE || err == -ENOBUFS))
				fail_msg("case %lu: prepare failed %d: %s", idx, err, dmk_last_error());
			if (pool && err != -ENOBUFS)
				fail_msg("case %lu: with a pool, prepare failed %d: %s", idx, err,
					 dmk_last_error());
			break;
		}
		assert_true(covered > 0 && covered <= c->length - done);
		seg = dmk_dma_segs(dma, &n);
		if (getenv("DMK_VERBOSE")) {
			char buf[256];

			dmk_dma_spec_format(&c->spec, buf, sizeof(buf));
			printf("case %lu layout %d page %" PRIu64 " window %#" PRIx64 " + %#" PRIx64 " pool %d dir %d: %s\n",
			       idx, c->sim.layout, c->sim.page_size, c->sim.window_base, c->sim.window_size,
			       pool != NULL, c->dir, buf);
			for (int i = 0; i < c->iovcnt; i++)
				printf("  iov %d: %p + %zu\n", i, c->iov[i].iov_base, c->iov[i].iov_len);
			printf("  slice %" PRIu64 " + %" PRIu64 " (done %" PRIu64 "): covered %" PRIu64 "\n",
			       c->offset, c->length, done, covered);
			for (size_t i = 0; i < n; i++)
				printf("  seg %zu: %#" PRIx64 " + %" PRIu64 "\n", i, seg[i].addr, seg[i].len);
		}
		size_t bad;
		const char *broken = seg_rules_broken(&c->spec, seg, n, covered, &bad);

		if (broken)
			fail_msg("case %lu: segment %zu (%#" PRIx64 " + %" PRIu64 ") of %zu: %s", idx, bad,
				 seg[bad].addr, seg[bad].len, n, broken);
		if (covered < c->length - done) {
			bool limited = (c->spec.max_segs && n == c->spec.max_segs) ||
				       (c->spec.max_transfer && covered + c->spec.len_align > c->spec.max_transfer) ||
				       (c->spec.max_transfer && covered == c->spec.max_transfer);
			struct dmk_dma_info info;

			dmk_dma_info(dma, &info);
			if (!limited && info.regions < 64)
				fail_msg("case %lu: covered %" PRIu64 " of %" PRIu64 " with no limit reached",
					 idx, covered, c->length - done);
		}
		if ((c->spec.flags & DMK_SPEC_PAGE_LIST) && c->spec.dev_page_size == 4096 &&
		    c->spec.addr_align >= 4)
			if ((broken = prp_writers_disagree(dma, seg, n)))
				fail_msg("case %lu: %s", idx, broken);
		if (c->dir & DMK_TO_DEVICE) {
			/* The device reads: it must see exactly the slice. */
			uint64_t pos = 0;

			slice_copy(c->iov, c->iovcnt, c->offset + done, covered, want, arena, NULL);
			assert_int_equal(dmk_dma_sync(dma, DMK_SYNC_FOR_DEVICE), 0);
			for (size_t i = 0; i < n; i++) {
				if (dmk_sim_dma_read(sp, seg[i].addr, got + pos, seg[i].len))
					fail_msg("case %lu: segment %zu unreadable: %s", idx, i, dmk_last_error());
				pos += seg[i].len;
			}
			if (memcmp(got, want, covered))
				fail_msg("case %lu: device read the wrong bytes", idx);
		}
		if (c->dir & DMK_FROM_DEVICE) {
			/* The device writes: exactly the slice changes. */
			uint64_t pos = 0;

			for (uint64_t i = 0; i < covered; i++)
				got[i] = (unsigned char)rnd();
			for (size_t i = 0; i < n; i++) {
				if (dmk_sim_dma_write(sp, seg[i].addr, got + pos, seg[i].len))
					fail_msg("case %lu: segment %zu unwritable: %s", idx, i, dmk_last_error());
				pos += seg[i].len;
			}
			assert_int_equal(dmk_dma_sync(dma, DMK_SYNC_FOR_CPU), 0);
			/* Expected arena: the shadow with the slice replaced. */
			slice_copy(c->iov, c->iovcnt, c->offset + done, covered, got, arena, shadow);
		}
		if (c->spec.addr_align == 1 && c->spec.len_align == 1 && !c->spec.flags &&
		    c->spec.addr_low == 0 && c->spec.addr_high == UINT64_MAX) {
			struct dmk_dma_info info;

			dmk_dma_info(dma, &info);
			assert_int_equal(info.bounced, 0);
		}
		assert_int_equal(dmk_dma_complete(dma), 0);
		done += covered;
		/* Every prepare covers at least one byte. */
		if (++rounds > (int)c->length)
			fail_msg("case %lu: no end to resuming", idx);
	}
	/* Device writes: the arena is the old one with exactly the slice replaced. */
	if ((c->dir & DMK_FROM_DEVICE) && memcmp(shadow, arena, ARENA))
		fail_msg("case %lu: device writes landed outside the slice or wrong", idx);
	free(want);
	free(got);
	dmk_mem_destroy(mem);
	assert_int_equal(dmk_dma_destroy(dma), 0);
	if (pool) {
		struct dmk_bounce_stats st;

		dmk_bounce_pool_stats(pool, &st);
		assert_int_equal(st.in_use, 0);
		assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	}
	for (int i = nregs - 1; i >= 0; i--)
		assert_int_equal(dmk_region_unregister(regs[i]), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	return 1;
}

static void test_property(void **state)
{
	unsigned long cases = 10000, ran = 0;
	const char *e = getenv("DMK_CASES");
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);

	(void)state;
	if (getenv("DMK_SEED"))
		seed = strtoull(getenv("DMK_SEED"), NULL, 0);
	if (e)
		cases = strtoul(e, NULL, 0);
	printf("# dma property test: seed %" PRIu64 " (DMK_SEED=%" PRIu64 " repeats it), %lu cases\n",
	       seed, seed, cases);
	assert_int_equal(posix_memalign((void **)&arena, 2u << 20, ARENA), 0);
	shadow = malloc(ARENA);
	for (unsigned long i = 0; i < cases; i++) {
		struct scase c;

		rng = seed + i * 0x632be59bd9b4e019ull;
		random_case(&c, i);
		ran += run_case(&c, i);
	}
	printf("# %lu cases ran (the others had nothing to move)\n", ran);
	assert_true(ran > cases / 2);
	free(arena);
	free(shadow);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_property),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
