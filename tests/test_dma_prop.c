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
#include <dmakit/nvme_fmt.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

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
	if (below(3) == 0)
		s->boundary = UINT64_C(1) << (12 + below(6));
	if (below(3) == 0)
		s->max_segs = 1 + below(8);
	if (below(3) == 0)
		s->max_transfer = 512 + below(100000);
	if (below(3) == 0) {
		/* A window that leaves some registrations out of reach. */
		s->addr_low = sim->window_base;
		s->addr_high = sim->window_base + (UINT64_C(1) << (16 + below(8))) - 1;
	}
	/* Make the random rules consistent the way a driver author would. */
	if (s->flags & DMK_SPEC_PAGE_LIST) {
		if (s->max_seg_size && s->max_seg_size < 4096)
			s->max_seg_size = 4096;
	}
	uint64_t a = s->addr_align > s->len_align ? s->addr_align : s->len_align;
	if (s->max_seg_size && s->max_seg_size < a)
		s->max_seg_size = a;
	if (s->boundary && s->boundary < a)
		s->boundary = a;
	if (s->max_transfer) {
		s->max_transfer = (s->max_transfer + s->len_align - 1) & ~(s->len_align - 1);
		if (s->max_transfer < a)
			s->max_transfer = a;
	}
}

static void random_case(struct scase *c)
{
	static const uint64_t pages[] = { 4096, 8192, 65536, 2u << 20 };
	uint64_t used = 0;

	memset(c, 0, sizeof(*c));
	c->sim.page_size = pages[below(4)];
	c->sim.window_base = UINT64_C(1) << 32;
	c->sim.window_size = UINT64_C(1) << 40;
	c->sim.layout = (enum dmk_sim_layout)below(3);
	c->sim.seed = rnd();
	random_spec(&c->spec, &c->sim);
	c->pool = below(3) != 0;
	c->dir = (enum dmk_dir)(1 + below(3));
	c->iovcnt = 1 + (int)below(MAX_IOV);
	/* Disjoint ranges of the arena, in a shuffled order. */
	uint64_t room = ARENA / c->iovcnt;
	for (int i = 0; i < c->iovcnt; i++) {
		uint64_t len = below(3) == 0 ? 1 + below(64) : 1 + below(room / 2);
		uint64_t start = i * room + below(room - len);

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
}

static uint64_t dev_page_of(const struct dmk_dma_spec *s)
{
	return s->dev_page_size;
}

/* Every rule of @s on the segments of one prepared command. */
static void check_rules(const struct dmk_dma_spec *s, const struct dmk_seg *seg, size_t n,
			uint64_t covered)
{
	uint64_t sum = 0, pg = dev_page_of(s);

	assert_true(n > 0);
	if (s->max_segs)
		assert_true(n <= s->max_segs);
	if (s->max_transfer)
		assert_true(covered <= s->max_transfer);
	for (size_t i = 0; i < n; i++) {
		assert_true(seg[i].len > 0);
		assert_true(seg[i].addr >= s->addr_low);
		assert_true(seg[i].addr + seg[i].len - 1 <= s->addr_high);
		if (s->max_seg_size)
			assert_true(seg[i].len <= s->max_seg_size);
		if (s->boundary)
			assert_true(seg[i].addr / s->boundary == (seg[i].addr + seg[i].len - 1) / s->boundary);
		assert_int_equal(seg[i].addr % s->addr_align, 0);
		assert_int_equal(seg[i].len % s->len_align, 0);
		if (s->flags & DMK_SPEC_PAGE_LIST) {
			if (i > 0)
				assert_int_equal(seg[i].addr % pg, 0);
			if (i + 1 < n)
				assert_int_equal((seg[i].addr + seg[i].len) % pg, 0);
		}
		sum += seg[i].len;
	}
	assert_int_equal(sum, covered);
}

/* The descriptor's bytes [off, off + len) gathered into @out. */
static void gather(const struct scase *c, uint64_t off, uint64_t len, unsigned char *out)
{
	for (int i = 0; i < c->iovcnt && len; i++) {
		uint64_t l = c->iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		uint64_t n = l - off < len ? l - off : len;
		memcpy(out, (unsigned char *)c->iov[i].iov_base + off, n);
		out += n;
		len -= n;
		off = 0;
	}
}

/*
 * A command prepared under PRP's rules: the writer that trusts it writes
 * exactly what the writer that checks every segment writes.
 */
static void check_prp_writers(const struct dmk_dma *dma, const struct dmk_seg *seg, size_t n,
			      unsigned long idx)
{
	enum { NP = 4 };
	static uint64_t la[NP][512] __attribute__((aligned(4096))), lb[NP][512] __attribute__((aligned(4096)));
	struct dmk_list_page pa[NP], pb[NP];
	uint64_t prpa[2], prpb[2];
	size_t ua, ub;
	int ea, eb;

	for (int i = 0; i < NP; i++) {
		pa[i] = (struct dmk_list_page){ la[i], UINT64_C(0x7000000000) + i * 4096 };
		pb[i] = (struct dmk_list_page){ lb[i], UINT64_C(0x7000000000) + i * 4096 };
	}
	memset(la, 0, sizeof(la));
	memset(lb, 0, sizeof(lb));
	ea = dmk_nvme_prp_write(seg, n, 4096, pa, NP, prpa, &ua);
	eb = dmk_nvme_prp_write_dma(dma, 4096, pb, NP, prpb, &ub);
	if (ea != eb)
		fail_msg("case %lu: PRP writers disagree: %d and %d", idx, ea, eb);
	if (ea)
		return;
	if (prpa[0] != prpb[0] || prpa[1] != prpb[1] || ua != ub || memcmp(la, lb, sizeof(la)))
		fail_msg("case %lu: PRP writers wrote different PRPs", idx);
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
	c->length = (c->length / c->spec.len_align) * c->spec.len_align;
	if (!c->length)
		return 0;
	assert_int_equal(dmk_space_sim_create(&c->sim, &sp), 0);
	if (c->pool) {
		err = dmk_bounce_pool_create(sp, &c->spec, 64 * 4096, &pool);
		if (err == -ERANGE) {
			/* Scattered pool pages fell outside a narrow window. */
			c->spec.addr_low = 0;
			c->spec.addr_high = UINT64_MAX;
			err = dmk_bounce_pool_create(sp, &c->spec, 64 * 4096, &pool);
		}
		assert_int_equal(err, 0);
	}
	/* Register per entry, or one range over the whole arena. */
	if (below(4) == 0) {
		assert_int_equal(dmk_region_register(sp, arena, ARENA, DMK_PROT_RW, &regs[nregs++]), 0);
	} else {
		for (int i = 0; i < c->iovcnt; i++)
			if (c->iov[i].iov_len)
				assert_int_equal(dmk_region_register(sp, c->iov[i].iov_base, c->iov[i].iov_len,
								     DMK_PROT_RW, &regs[nregs++]), 0);
	}
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
			printf("case %lu layout %d page %" PRIu64 " pool %d dir %d: %s\n", idx, c->sim.layout,
			       c->sim.page_size, pool != NULL, c->dir, buf);
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
			printf("case %lu layout %d page %" PRIu64 " pool %d dir %d: %s\n", idx, c->sim.layout,
			       c->sim.page_size, pool != NULL, c->dir, buf);
			for (int i = 0; i < c->iovcnt; i++)
				printf("  iov %d: %p + %zu\n", i, c->iov[i].iov_base, c->iov[i].iov_len);
			printf("  slice %" PRIu64 " + %" PRIu64 " (done %" PRIu64 "): covered %" PRIu64 "\n",
			       c->offset, c->length, done, covered);
			for (size_t i = 0; i < n; i++)
				printf("  seg %zu: %#" PRIx64 " + %" PRIu64 "\n", i, seg[i].addr, seg[i].len);
		}
		check_rules(&c->spec, seg, n, covered);
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
			check_prp_writers(dma, seg, n, idx);
		if (c->dir & DMK_TO_DEVICE) {
			/* The device reads: it must see exactly the slice. */
			uint64_t pos = 0;

			gather(c, c->offset + done, covered, want);
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
			uint64_t off = c->offset + done, len = covered, gp = 0;
			for (int i = 0; i < c->iovcnt && len; i++) {
				uint64_t l = c->iov[i].iov_len;

				if (off >= l) {
					off -= l;
					continue;
				}
				uint64_t k = l - off < len ? l - off : len;
				memcpy(shadow + ((unsigned char *)c->iov[i].iov_base - arena) + off, got + gp, k);
				gp += k;
				len -= k;
				off = 0;
			}
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
		random_case(&c);
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
