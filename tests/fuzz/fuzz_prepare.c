/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes become DMA rules (struct dmk_dma_spec),
 * a sim space (any layout and page, its window anywhere up to the last byte
 * of the 64-bit space), a bounce pool or none, an iovec over registered
 * memory and a slice of it; the slice is prepared, resumed from *covered
 * until it is all done. On every prepare that succeeds:
 *  - every rule of the spec holds on every segment;
 *  - the segments cover exactly *covered bytes; a device reading them in
 *    order (through the sim IOMMU, which faults outside registrations)
 *    reads the slice's bytes, and one writing them changes the slice and
 *    nothing else;
 *  - less than the rest is covered only when a count or transfer limit says
 *    so;
 *  - both PRP writers agree on PRP-ruled segments.
 * A refusal must be a documented errno with a reason. Nothing may leak.
 *
 *	CC=clang meson setup build-fuzz -Dfuzz=true
 *	ninja -C build-fuzz tests/fuzz/fuzz_prepare
 *	build-fuzz/tests/fuzz/fuzz_prepare -max_total_time=20
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <dmakit/dma.h>
#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

#include "../seg_rules.h"

#define ARENA (512u << 10)
#define MAX_IOV 4
#define MAX_SLICE (32u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "fuzz_prepare: %s: ", #cond);           \
			fprintf(stderr, __VA_ARGS__);                           \
			fprintf(stderr, " (last error: %s)\n", dmk_last_error()); \
			abort();                                                \
		}                                                               \
	} while (0)

/* The input, read as little-endian numbers; zeros once it runs out. */
struct input {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct input *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

struct fcase {
	struct dmk_dma_spec spec;
	struct dmk_sim_config sim;
	bool pool, pool_last;
	size_t pool_size;
	struct iovec iov[MAX_IOV];
	bool registered[MAX_IOV];
	int iovcnt;
	bool all_registered;
	uint64_t total, offset, length;
	enum dmk_dir dir;
};

static unsigned char *arena, *shadow, *want, *got;

/* The sim window: ending at 2^64, at 2^63, across 2^63, at 0, anywhere, or the usual. */
static void decode_window(struct input *in, struct fcase *c)
{
	uint64_t page = c->sim.page_size, need = 0;

	for (int i = 0; i < c->iovcnt; i++)
		if (c->registered[i] && c->iov[i].iov_len)
			need += span_pages(c->iov[i].iov_base, c->iov[i].iov_len, page);
	if (c->pool)
		need += (c->pool_size + page - 1) / page + 1;
	need += take(in, 1) % 4 + !need;	/* some slack, or none; one page at least */
	if (c->sim.layout == DMK_SIM_SCATTERED)
		need *= 2;
	c->sim.window_base = UINT64_C(1) << 32;
	c->sim.window_size = UINT64_C(1) << 40;
	/* The extremes first, so that zero bytes pick the window ending at 2^64. */
	switch (take(in, 1) % 6) {
	case 0:
		c->sim.window_size = need * page;
		c->sim.window_base = 0 - c->sim.window_size;
		break;
	case 1:
		c->sim.window_base = UINT64_C(1) << 63;
		break;
	case 2:
		c->sim.window_base = (UINT64_C(1) << 63) - page * (1 + take(in, 2) % need);
		break;
	case 3:
		c->sim.window_base = 0;
		break;
	case 4:
		/* Anywhere it fits, page aligned. */
		c->sim.window_size = need * page;
		c->sim.window_base = take(in, 8) & ~(page - 1);
		if (c->sim.window_base > 0 - c->sim.window_size)
			c->sim.window_base = 0 - c->sim.window_size;
		break;
	default:
		break;
	}
}

static uint64_t pow2(struct input *in, unsigned max_shift)
{
	return UINT64_C(1) << (take(in, 1) % (max_shift + 1));
}

/*
 * The rules, made consistent as a driver author would (what the checker
 * refuses is test_spec.c's). A window "from the sim window's start" is
 * left for decode_window() to place: *@reach is its size - 1, else 0.
 */
static void decode_spec(struct input *in, struct fcase *c, uint64_t *reach)
{
	struct dmk_dma_spec *s = &c->spec;
	uint64_t a, least, v;

	dmk_dma_spec_init(s);
	*reach = 0;
	s->addr_align = pow2(in, 13);
	s->len_align = pow2(in, 13);
	s->dev_page_size = UINT64_C(1) << (9 + take(in, 1) % 8);
	if (take(in, 1) & 1)
		s->flags = DMK_SPEC_PAGE_LIST;
	a = s->addr_align > s->len_align ? s->addr_align : s->len_align;
	if ((s->flags & DMK_SPEC_PAGE_LIST) && s->dev_page_size < a)
		s->dev_page_size = a;
	least = (s->flags & DMK_SPEC_PAGE_LIST) ? s->dev_page_size : a;
	switch (take(in, 1) % 5) {
	case 1:
		s->max_seg_size = least * (1 + take(in, 1) % 4);	/* tiny */
		break;
	case 2:
		s->max_seg_size = take(in, 4);
		break;
	case 3:
		s->max_seg_size = UINT64_MAX - take(in, 2);
		break;
	default:
		break;
	}
	if (s->max_seg_size && s->max_seg_size < least)
		s->max_seg_size = least;
	s->max_segs = (uint32_t)(take(in, 1) % 10);
	switch (take(in, 1) % 4) {
	case 1:
		s->max_transfer = take(in, 3);
		break;
	case 2:
		s->max_transfer = UINT64_MAX - take(in, 2);	/* near 2^64 */
		break;
	default:
		break;
	}
	s->max_transfer &= ~(s->len_align - 1);
	if (s->max_transfer && s->max_transfer < a)
		s->max_transfer = a;
	/* A boundary two times in three, 2^63 for a zero byte. */
	v = take(in, 1);
	if (v % 3 != 2)
		s->boundary = UINT64_C(1) << (63 - (v / 3) % 64);
	if (s->boundary && s->boundary < least)
		s->boundary = least;
	switch (take(in, 1) % 4) {
	case 1:
		*reach = (UINT64_C(1) << (12 + take(in, 1) % 52)) - 1;
		break;
	case 2:
		s->addr_low = take(in, 8);
		s->addr_high = take(in, 8);
		break;
	case 3:
		s->addr_high = (UINT64_C(1) << 63) - 1;
		break;
	default:
		break;
	}
}

static bool decode(const uint8_t *data, size_t size, struct fcase *c)
{
	static const uint64_t pages[] = { 4096, 8192, 65536, 2u << 20 };
	struct input in = { data, size };
	uint64_t reach;

	memset(c, 0, sizeof(*c));
	c->sim.page_size = pages[take(&in, 1) % 4];
	c->sim.layout = (enum dmk_sim_layout)(take(&in, 1) % 3);
	c->sim.seed = take(&in, 2);
	c->pool = take(&in, 1) & 1;
	c->pool_last = take(&in, 1) & 1;
	c->dir = (enum dmk_dir)(1 + take(&in, 1) % 3);
	c->iovcnt = 1 + (int)(take(&in, 1) % MAX_IOV);
	c->all_registered = true;
	for (int i = 0; i < c->iovcnt; i++) {
		uint64_t off = take(&in, 3), len = take(&in, 2) % (MAX_SLICE + 1);

		/* Disjoint: entry i lives in its own quarter of the arena. */
		off = i * (ARENA / MAX_IOV) + off % (ARENA / MAX_IOV - MAX_SLICE);
		c->iov[i] = (struct iovec){ arena + off, len };
		c->registered[i] = take(&in, 1) % 16 != 0;
		c->all_registered &= c->registered[i] || !len;
		c->total += len;
	}
	if (!c->total)
		return false;
	decode_spec(&in, c, &reach);
	c->pool_size = (1 + take(&in, 1) % 16) * (c->spec.dev_page_size > 4096 ? c->spec.dev_page_size : 4096);
	decode_window(&in, c);
	if (reach) {
		/* From the sim window's start, capped at 2^64 - 1. */
		c->spec.addr_low = c->sim.window_base;
		c->spec.addr_high = reach > UINT64_MAX - c->sim.window_base ? UINT64_MAX : c->sim.window_base + reach;
	}
	if (dmk_dma_spec_check(&c->spec))
		return false;
	c->offset = take(&in, 3) % c->total;
	c->length = 1 + take(&in, 3) % (c->total - c->offset);
	if (c->length > MAX_SLICE)
		c->length = MAX_SLICE;
	/* Tiny segments: a few thousand at most. */
	if (c->spec.max_seg_size && c->spec.max_seg_size < 8 && c->length > 2048 * c->spec.max_seg_size)
		c->length = 2048 * c->spec.max_seg_size;
	c->length &= ~(c->spec.len_align - 1);
	return c->length > 0;
}

/* One prepare from @done; returns the bytes covered, 0 when refused. */
static uint64_t one_prepare(struct fcase *c, struct dmk_space *sp, struct dmk_dma *dma,
			    struct dmk_mem *mem, bool pool, uint64_t done, unsigned salt)
{
	uint64_t covered = 0, pos = 0, rest = c->length - done;
	const struct dmk_seg *seg;
	struct dmk_dma_info info;
	const char *broken;
	size_t n, bad;
	int err = dmk_dma_prepare(dma, mem, c->offset + done, rest, &covered);

	if (err) {
		CHECK(dmk_last_error()[0] != '\0', "refused (%d) without a reason", err);
		CHECK(err == -ENOBUFS || (err == -EFAULT && !c->all_registered) ||
		      (!pool && (err == -EINVAL || err == -ERANGE)),
		      "prepare refused a legal transfer: %d", err);
		return 0;
	}
	CHECK(covered > 0 && covered <= rest, "covered %" PRIu64 " of %" PRIu64, covered, rest);
	seg = dmk_dma_segs(dma, &n);
	broken = seg_rules_broken(&c->spec, seg, n, covered, &bad);
	CHECK(!broken, "segment %zu (%#" PRIx64 " + %" PRIu64 ") of %zu: %s", bad, n ? seg[bad].addr : 0,
	      n ? seg[bad].len : 0, n, broken);
	dmk_dma_info(dma, &info);
	CHECK(info.covered == covered && info.nsegs == n, "dmk_dma_info disagrees");
	if (covered < rest) {
		const struct dmk_dma_spec *s = &c->spec;

		CHECK((s->max_segs && n == s->max_segs) ||
		      (s->max_transfer && covered + s->len_align > s->max_transfer),
		      "covered %" PRIu64 " of %" PRIu64 " in %zu segments with no limit reached", covered, rest, n);
	}
	if ((c->spec.flags & DMK_SPEC_PAGE_LIST) && c->spec.dev_page_size == 4096 && c->spec.addr_align >= 4)
		CHECK(!(broken = prp_writers_disagree(dma, seg, n)), "%s", broken);
	if (c->dir & DMK_TO_DEVICE) {
		/* The device reads exactly the slice, bounced bytes included. */
		slice_copy(c->iov, c->iovcnt, c->offset + done, covered, want, arena, NULL);
		CHECK(dmk_dma_sync(dma, DMK_SYNC_FOR_DEVICE) == 0, "sync for the device");
		for (size_t i = 0; i < n; pos += seg[i].len, i++)
			CHECK(dmk_sim_dma_read(sp, seg[i].addr, got + pos, seg[i].len) == 0,
			      "segment %zu (%#" PRIx64 " + %" PRIu64 ") unreadable", i, seg[i].addr, seg[i].len);
		CHECK(!memcmp(got, want, covered), "the device read other bytes than the slice's");
	}
	if (c->dir & DMK_FROM_DEVICE) {
		/* The device writes: exactly the slice changes (checked by the caller). */
		for (uint64_t i = 0; i < covered; i++)
			got[i] = (unsigned char)(i * 131 + salt + (i >> 8));
		pos = 0;
		for (size_t i = 0; i < n; pos += seg[i].len, i++)
			CHECK(dmk_sim_dma_write(sp, seg[i].addr, got + pos, seg[i].len) == 0,
			      "segment %zu (%#" PRIx64 " + %" PRIu64 ") unwritable", i, seg[i].addr, seg[i].len);
		CHECK(dmk_dma_sync(dma, DMK_SYNC_FOR_CPU) == 0, "sync for the CPU");
		slice_copy(c->iov, c->iovcnt, c->offset + done, covered, got, arena, shadow);
	}
	CHECK(dmk_dma_complete(dma) == 0, "complete");
	return covered;
}

static struct dmk_bounce_pool *make_pool(struct fcase *c, struct dmk_space *sp)
{
	struct dmk_bounce_pool *pool = NULL;

	/* A pool the window or the rules refuse: go on without one. */
	if (dmk_bounce_pool_create(sp, &c->spec, c->pool_size, &pool))
		return NULL;
	return pool;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmk_region *regs[MAX_IOV];
	struct dmk_bounce_pool *pool = NULL;
	struct dmk_space *sp;
	struct dmk_dma *dma;
	struct dmk_mem *mem;
	struct fcase c;
	int nregs = 0;

	if (!arena) {
		if (posix_memalign((void **)&arena, 2u << 20, ARENA))
			arena = NULL;
		shadow = malloc(ARENA);
		want = malloc(MAX_SLICE);
		got = malloc(MAX_SLICE);
		CHECK(arena && shadow && want && got, "out of memory");
		for (size_t i = 0; i < ARENA; i++)
			arena[i] = (unsigned char)(i * 7 + (i >> 9) * 13 + (i >> 17));
	}
	if (!decode(data, size, &c))
		return 0;
	CHECK(dmk_space_sim_create(&c.sim, &sp) == 0, "a sim window [%#" PRIx64 ", +%#" PRIx64 ") refused",
	      c.sim.window_base, c.sim.window_size);
	if (c.pool && !c.pool_last)
		pool = make_pool(&c, sp);
	for (int i = 0; i < c.iovcnt; i++)
		if (c.registered[i] && c.iov[i].iov_len)
			CHECK(dmk_region_register(sp, c.iov[i].iov_base, c.iov[i].iov_len, DMK_PROT_RW,
						  &regs[nregs++]) == 0, "registering entry %d", i);
	if (c.pool && c.pool_last)
		pool = make_pool(&c, sp);
	if (dmk_dma_create(sp, &c.spec, pool, &dma)) {
		CHECK(pool, "the spec passed its check, yet no command: %s", dmk_last_error());
		dmk_bounce_pool_destroy(pool);
		pool = NULL;
		CHECK(dmk_dma_create(sp, &c.spec, NULL, &dma) == 0, "command without a pool");
	}
	CHECK(dmk_mem_create(c.iov, c.iovcnt, c.dir, &mem) == 0, "descriptor");
	memcpy(shadow, arena, ARENA);
	for (uint64_t done = 0, rounds = 0, k; done < c.length; done += k) {
		k = one_prepare(&c, sp, dma, mem, pool != NULL, done, (unsigned)rounds);
		if (!k)
			break;
		CHECK(++rounds <= c.length, "no end to resuming");
	}
	CHECK(!memcmp(shadow, arena, ARENA), "device writes landed outside the slice");
	dmk_mem_destroy(mem);
	CHECK(dmk_dma_destroy(dma) == 0, "destroying the command");
	if (pool) {
		struct dmk_bounce_stats st;

		dmk_bounce_pool_stats(pool, &st);
		CHECK(st.in_use == 0, "%" PRIu64 " pool bytes still in use", st.in_use);
		CHECK(dmk_bounce_pool_destroy(pool) == 0, "destroying the pool");
	}
	while (nregs)
		CHECK(dmk_region_unregister(regs[--nregs]) == 0, "unregistering");
	CHECK(dmk_space_destroy(sp) == 0, "destroying the space");
	return 0;
}
