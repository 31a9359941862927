/* SPDX-License-Identifier: MIT */
/*
 * The edu driver's device-independent half (src/drivers/edu/plan.c) on the
 * sim space, with a software edu that behaves like QEMU 7.2's: one range
 * per command, addresses masked to 28 bits, a 4 KiB buffer at 0x40000
 * whose range check aborts (here: fails the test) on a transfer ending at
 * its very end. Transfers split into one command per segment, bounced
 * pieces above 2^28, the log of which segments were bounced, refusals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <cmocka.h>

#include <dmakit/dma.h>
#include <dmakit/edu.h>
#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/spec.h>

#include "drivers/edu/edu_priv.h"

#define PG ((uint64_t)4096)
#define R28 ((uint64_t)1 << 28)

/* A software edu on a sim space. */
struct soft_edu {
	struct dmk_space *sp;
	uint8_t buf[DMK_EDU_BUF_SIZE];
	size_t ncmds;
	size_t fail_at;		/* return -ETIMEDOUT at this command (SIZE_MAX: never) */
	struct dmki_edu_cmd last;
};

static int soft_run(void *ctx, const struct dmki_edu_cmd *c)
{
	struct soft_edu *e = ctx;
	bool to_ram = c->cmd & DMKI_EDU_CMD_TO_RAM;
	uint64_t bufaddr = to_ram ? c->src : c->dst;
	uint64_t ram = (to_ram ? c->dst : c->src) & (R28 - 1);

	if (e->ncmds++ == e->fail_at)
		return -ETIMEDOUT;
	e->last = *c;
	assert_true(c->cmd & DMKI_EDU_CMD_RUN);
	assert_int_equal(c->cmd & ~(DMKI_EDU_CMD_RUN | DMKI_EDU_CMD_TO_RAM | DMKI_EDU_CMD_IRQ), 0);
	/* QEMU 7.2: start inside, end strictly before the buffer's end. */
	assert_true(c->cnt > 0);
	assert_true(bufaddr >= DMKI_EDU_BUF_BASE);
	assert_true(bufaddr + c->cnt < DMKI_EDU_BUF_BASE + DMK_EDU_BUF_SIZE);
	/* The real device would clamp; the driver must never need it. */
	assert_int_equal(ram, to_ram ? c->dst : c->src);
	if (to_ram)
		return dmk_sim_dma_write(e->sp, ram, e->buf + (bufaddr - DMKI_EDU_BUF_BASE), c->cnt);
	return dmk_sim_dma_read(e->sp, ram, e->buf + (bufaddr - DMKI_EDU_BUF_BASE), c->cnt);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 7));
}

static char *map_pages(size_t n)
{
	char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 0, n * PG);
	return p;
}

struct bed {
	struct dmk_space *sp;
	struct dmk_bounce_pool *pool;
	struct dmk_dma *dma;
	struct soft_edu edu;
	struct dmki_edu_log log;
};

static void bed_init(struct bed *b, const struct dmk_sim_config *cfg)
{
	struct dmk_dma_spec spec;

	memset(b, 0, sizeof(*b));
	assert_int_equal(dmk_space_sim_create(cfg, &b->sp), 0);
	assert_int_equal(dmk_dma_spec_preset(&spec, "edu"), 0);
	assert_int_equal(dmk_bounce_pool_create(b->sp, &spec, 64 << 10, &b->pool), 0);
	assert_int_equal(dmk_dma_create(b->sp, &spec, b->pool, &b->dma), 0);
	b->edu.sp = b->sp;
	b->edu.fail_at = SIZE_MAX;
}

static void bed_fini(struct bed *b)
{
	dmki_edu_log_free(&b->log);
	assert_int_equal(dmk_dma_destroy(b->dma), 0);
	assert_int_equal(dmk_bounce_pool_destroy(b->pool), 0);
	assert_int_equal(dmk_space_destroy(b->sp), 0);
}

static int xfer_buf(struct bed *b, void *buf, size_t len, bool to_ram, uint64_t buf_off)
{
	bool stuck = true;
	int err = dmki_edu_transfer(b->dma, b->pool, NULL, buf, 0, len, to_ram, buf_off, 0,
				    soft_run, &b->edu, &b->log, &stuck);

	assert_false(stuck);
	return err;
}

static void test_check_range(void **state)
{
	(void)state;
	assert_int_equal(dmki_edu_check_range(0, DMK_EDU_BUF_END), 0);
	assert_int_equal(dmki_edu_check_range(DMK_EDU_BUF_END - 1, 1), 0);
	assert_int_equal(dmki_edu_check_range(0, DMK_EDU_BUF_SIZE), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "QEMU 7.2"));
	assert_int_equal(dmki_edu_check_range(DMK_EDU_BUF_END, 1), -EINVAL);
	assert_int_equal(dmki_edu_check_range(100, DMK_EDU_BUF_END - 99), -EINVAL);
	assert_int_equal(dmki_edu_check_range(0, 0), -EINVAL);
	assert_int_equal(dmki_edu_check_range(UINT64_MAX, 2), -EINVAL);
}

static void test_plan(void **state)
{
	const struct dmk_seg segs[3] = {
		{ 0x1000, 100 }, { 0x7000, 2000 }, { R28 - 995, 995 },
	};
	struct dmki_edu_cmd c[3];

	(void)state;
	assert_int_equal(dmki_edu_plan(segs, 3, 10, false, 0, c), 0);
	assert_int_equal(c[0].src, 0x1000);
	assert_int_equal(c[0].dst, DMKI_EDU_BUF_BASE + 10);
	assert_int_equal(c[0].cnt, 100);
	assert_int_equal(c[0].cmd, DMKI_EDU_CMD_RUN);
	assert_int_equal(c[1].dst, DMKI_EDU_BUF_BASE + 110);
	assert_int_equal(c[2].dst, DMKI_EDU_BUF_BASE + 2110);
	assert_int_equal(c[2].src, R28 - 995);

	assert_int_equal(dmki_edu_plan(segs, 3, 0, true, DMKI_EDU_CMD_IRQ, c), 0);
	assert_int_equal(c[1].src, DMKI_EDU_BUF_BASE + 100);
	assert_int_equal(c[1].dst, 0x7000);
	assert_int_equal(c[1].cmd, DMKI_EDU_CMD_RUN | DMKI_EDU_CMD_TO_RAM | DMKI_EDU_CMD_IRQ);

	/* 100 + 2000 + 995 = 3095 bytes: from offset 1000 the last ends at 4095. */
	assert_int_equal(dmki_edu_plan(segs, 3, 1000, false, 0, c), 0);
	assert_int_equal(dmki_edu_plan(segs, 3, 1001, false, 0, c), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "segment 2"));
}

static void test_plan_refuses(void **state)
{
	struct dmk_seg s = { 0x1000, 4096 };
	struct dmki_edu_cmd c;

	(void)state;
	assert_int_equal(dmki_edu_plan(&s, 1, 0, false, 0, &c), -EINVAL);
	s.len = 0;
	assert_int_equal(dmki_edu_plan(&s, 1, 0, false, 0, &c), -EINVAL);
	s = (struct dmk_seg){ R28 - 10, 11 };
	assert_int_equal(dmki_edu_plan(&s, 1, 0, false, 0, &c), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "reach"));
	s = (struct dmk_seg){ R28, 1 };
	assert_int_equal(dmki_edu_plan(&s, 1, 0, false, 0, &c), -EINVAL);
	s = (struct dmk_seg){ 0x1000, 1 };
	assert_int_equal(dmki_edu_plan(&s, 1, 0, false, 0x8, &c), -EINVAL);
	assert_int_equal(dmki_edu_plan(&s, 0, 0, false, 0, &c), -EINVAL);
}

/* Scattered pages below 2^28: several segments, one command each, no bouncing. */
static void test_scattered_roundtrips(void **state)
{
	const struct dmk_sim_config cfg = {
		.page_size = PG, .window_base = 1 << 20, .window_size = R28 - (1 << 20),
		.layout = DMK_SIM_SCATTERED, .seed = 7,
	};
	static const size_t sizes[] = { 1, 2, 100, 4095, 3000, 4094 };
	static const size_t offs[] = { 0, 4095, 17, 1, 4000, 8191 };
	static const uint64_t boffs[] = { 0, 4093, 1000, 0, 95, 1 };
	struct dmk_region *r;
	struct bed b;
	uint8_t *src, *dst;
	char *mem;

	(void)state;
	bed_init(&b, &cfg);
	mem = map_pages(6);
	assert_int_equal(dmk_region_register(b.sp, mem, 6 * PG, DMK_PROT_RW, &r), 0);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k];
		const struct dmk_edu_seg *ls = NULL;
		uint64_t sum = 0;

		src = (uint8_t *)mem + offs[k];
		dst = (uint8_t *)mem + 3 * PG + offs[k] % PG;
		fill(src, len, (unsigned)k);
		b.edu.ncmds = 0;
		assert_int_equal(xfer_buf(&b, src, len, false, boffs[k]), 0);
		assert_int_equal(b.log.x.len, len);
		assert_int_equal(b.log.x.nsegs, b.edu.ncmds);
		assert_int_equal(b.log.x.bounced, 0);
		/* A buffer crossing a page is as many segments as pages it touches. */
		assert_int_equal(b.log.nsegs,
				 ((uintptr_t)src + len - 1) / PG - (uintptr_t)src / PG + 1);
		ls = b.log.segs;
		for (size_t i = 0; i < b.log.nsegs; i++) {
			assert_int_equal(ls[i].buf_off, boffs[k] + sum);
			assert_false(ls[i].bounced);
			sum += ls[i].len;
		}
		assert_memory_equal(b.edu.buf + boffs[k], src, len);
		memset(dst, 0, len);
		assert_int_equal(xfer_buf(&b, dst, len, true, boffs[k]), 0);
		assert_memory_equal(dst, src, len);
	}
	assert_int_equal(dmk_region_unregister(r), 0);
	munmap(mem, 6 * PG);
	bed_fini(&b);
}

/*
 * A window straddling 2^28: the pool and one buffer land below, the next
 * buffer above. An iovec over both: only the high piece is bounced, the log
 * says which, and the bytes arrive both ways.
 */
static void test_bounce_above_reach(void **state)
{
	const struct dmk_sim_config cfg = {
		.page_size = PG, .window_base = R28 - (128 << 10), .window_size = 1 << 30,
		.layout = DMK_SIM_CONTIG,
	};
	struct dmk_region *rlo, *rhi;
	struct dmk_bounce_stats st;
	struct dmk_mem *mem;
	struct iovec iov[3];
	uint64_t dlo, dhi;
	uint8_t want[3500];
	struct bed b;
	char *lo, *hi;
	bool stuck;

	(void)state;
	bed_init(&b, &cfg);
	lo = map_pages(16);
	hi = map_pages(2);
	assert_int_equal(dmk_region_register(b.sp, lo, 16 * PG, DMK_PROT_RW, &rlo), 0);
	assert_int_equal(dmk_region_register(b.sp, hi, 2 * PG, DMK_PROT_RW, &rhi), 0);
	assert_int_equal(dmk_space_translate(b.sp, lo, &dlo), 0);
	assert_int_equal(dmk_space_translate(b.sp, hi, &dhi), 0);
	assert_true(dlo + 16 * PG <= R28);
	assert_true(dhi >= R28);

	iov[0] = (struct iovec){ lo + 5 * PG + 10, 1000 };
	iov[1] = (struct iovec){ hi + 100, 2000 };
	iov[2] = (struct iovec){ lo + 9 * PG, 500 };
	fill((uint8_t *)iov[0].iov_base, 1000, 1);
	fill((uint8_t *)iov[1].iov_base, 2000, 2);
	fill((uint8_t *)iov[2].iov_base, 500, 3);
	memcpy(want, iov[0].iov_base, 1000);
	memcpy(want + 1000, iov[1].iov_base, 2000);
	memcpy(want + 3000, iov[2].iov_base, 500);

	assert_int_equal(dmk_mem_create(iov, 3, DMK_BIDIRECTIONAL, &mem), 0);
	assert_int_equal(dmki_edu_transfer(b.dma, b.pool, mem, NULL, 0, 3500, false, 300, 0,
					   soft_run, &b.edu, &b.log, &stuck), 0);
	assert_memory_equal(b.edu.buf + 300, want, 3500);
	assert_int_equal(b.log.nsegs, 3);
	assert_false(b.log.segs[0].bounced);
	assert_true(b.log.segs[1].bounced);
	assert_false(b.log.segs[2].bounced);
	assert_int_equal(b.log.x.bounced, 2000);
	assert_int_equal(b.log.x.bounce_segs, 1);
	assert_true(b.log.segs[1].addr < R28);

	/* Back: clear the memory, read it from the buffer. */
	for (int i = 0; i < 3; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	assert_int_equal(dmki_edu_transfer(b.dma, b.pool, mem, NULL, 0, 3500, true, 300, 0,
					   soft_run, &b.edu, &b.log, &stuck), 0);
	assert_memory_equal(iov[0].iov_base, want, 1000);
	assert_memory_equal(iov[1].iov_base, want + 1000, 2000);
	assert_memory_equal(iov[2].iov_base, want + 3000, 500);
	assert_true(b.log.segs[1].bounced);
	assert_int_equal(dmk_bounce_pool_stats(b.pool, &st), 0);
	assert_int_equal(st.bounced, 4000);
	assert_int_equal(st.in_use, 0);

	/* A slice of the descriptor: only its part of the high piece. */
	assert_int_equal(dmki_edu_transfer(b.dma, b.pool, mem, NULL, 1500, 100, false, 0, 0,
					   soft_run, &b.edu, &b.log, &stuck), 0);
	assert_memory_equal(b.edu.buf, want + 1500, 100);
	assert_int_equal(b.log.nsegs, 1);
	assert_true(b.log.segs[0].bounced);

	/* The wrong direction for a descriptor is refused. */
	dmk_mem_destroy(mem);
	assert_int_equal(dmk_mem_create(iov, 3, DMK_TO_DEVICE, &mem), 0);
	assert_int_equal(dmki_edu_transfer(b.dma, b.pool, mem, NULL, 0, 10, true, 0, 0,
					   soft_run, &b.edu, &b.log, &stuck), -EINVAL);
	dmk_mem_destroy(mem);

	assert_int_equal(dmk_region_unregister(rlo), 0);
	assert_int_equal(dmk_region_unregister(rhi), 0);
	munmap(lo, 16 * PG);
	munmap(hi, 2 * PG);
	bed_fini(&b);
}

/* Unregistered memory: -EFAULT, no command issued, the buffer untouched. */
static void test_unregistered_refused(void **state)
{
	struct bed b;
	char *mem;

	(void)state;
	bed_init(&b, &(struct dmk_sim_config){ .page_size = PG, .window_base = 1 << 20,
					       .window_size = 1 << 26 });
	mem = map_pages(1);
	memset(mem, 0xcc, PG);
	memset(b.edu.buf, 0x11, sizeof(b.edu.buf));
	assert_int_equal(xfer_buf(&b, mem, 100, true, 0), -EFAULT);
	assert_int_equal(b.edu.ncmds, 0);
	for (size_t i = 0; i < PG; i++)
		assert_int_equal((uint8_t)mem[i], 0xcc);
	assert_int_equal(xfer_buf(&b, mem, 4095, false, 1), -EINVAL);
	assert_int_equal(b.edu.ncmds, 0);
	munmap(mem, PG);
	bed_fini(&b);
}

/* Memory only above 2^28: everything is bounced, and right. */
static void test_all_bounced(void **state)
{
	struct dmk_region *r;
	struct bed b;
	char *mem;

	(void)state;
	/* The pool must lie below 2^28: a sim window that starts low for it. */
	bed_init(&b, &(struct dmk_sim_config){ .page_size = PG, .window_base = R28 - (64 << 10),
					       .window_size = 1 << 30 });
	mem = map_pages(3);
	assert_int_equal(dmk_region_register(b.sp, mem, 3 * PG, DMK_PROT_RW, &r), 0);
	fill((uint8_t *)mem + 4000, 4095, 9);
	assert_int_equal(xfer_buf(&b, mem + 4000, 4095, false, 0), 0);
	assert_int_equal(b.log.x.bounced, 4095);
	assert_int_equal(b.log.x.bounce_segs, b.log.nsegs);
	for (size_t i = 0; i < b.log.nsegs; i++)
		assert_true(b.log.segs[i].bounced);
	assert_memory_equal(b.edu.buf, mem + 4000, 4095);
	memset(mem, 0, 3 * PG);
	assert_int_equal(xfer_buf(&b, mem + 1, 4095, true, 0), 0);
	assert_memory_equal(mem + 1, b.edu.buf, 4095);
	assert_int_equal(dmk_region_unregister(r), 0);
	munmap(mem, 3 * PG);
	bed_fini(&b);
}

/* A command that does not finish leaves the DMA command prepared (stuck). */
static void test_timeout_keeps_prepared(void **state)
{
	struct dmk_dma_info info;
	struct dmk_region *r;
	struct bed b;
	bool stuck = false;
	char *mem;

	(void)state;
	bed_init(&b, &(struct dmk_sim_config){ .page_size = PG, .window_base = 1 << 20,
					       .window_size = 1 << 26,
					       .layout = DMK_SIM_REVERSED });
	mem = map_pages(2);
	assert_int_equal(dmk_region_register(b.sp, mem, 2 * PG, DMK_PROT_RW, &r), 0);
	b.edu.fail_at = 1;
	assert_int_equal(dmki_edu_transfer(b.dma, b.pool, NULL, mem + 3000, 0, 2000, false, 0, 0,
					   soft_run, &b.edu, &b.log, &stuck), -ETIMEDOUT);
	assert_true(stuck);
	assert_int_equal(b.log.nsegs, 1);	/* the first one finished */
	dmk_dma_info(b.dma, &info);
	assert_int_equal(info.covered, 2000);
	assert_int_equal(dmk_region_unregister(r), -EBUSY);
	assert_int_equal(dmk_dma_complete(b.dma), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	munmap(mem, 2 * PG);
	bed_fini(&b);
}

/* The public entry points refuse what they cannot use, without a device. */
static void test_api_refusals(void **state)
{
	struct dmk_bounce_stats st;
	struct dmk_space *sp;
	struct dmk_edu *edu = NULL;
	struct dmk_edu_xfer x;
	size_t n = 1;
	char byte;

	(void)state;
	assert_int_equal(dmk_space_sim_create(NULL, &sp), 0);
	assert_int_equal(dmk_edu_open(sp, NULL, NULL, &edu), -EINVAL);
	assert_int_equal(dmk_edu_open(NULL, NULL, NULL, &edu), -EINVAL);
	assert_null(edu);
	assert_int_equal(dmk_edu_write(NULL, 0, &byte, 1), -EINVAL);
	assert_int_equal(dmk_edu_read(NULL, 0, &byte, 1), -EINVAL);
	assert_int_equal(dmk_edu_write_mem(NULL, 0, NULL, 0, 1), -EINVAL);
	assert_int_equal(dmk_edu_read_mem(NULL, 0, NULL, 0, 1), -EINVAL);
	assert_null(dmk_edu_last(NULL, &x, &n));
	assert_int_equal(n, 0);
	assert_int_equal(x.len, 0);
	assert_int_equal(dmk_edu_bounce_stats(NULL, &st), -EINVAL);
	assert_int_equal(dmk_edu_close(NULL), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_range),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_refuses),
		cmocka_unit_test(test_scattered_roundtrips),
		cmocka_unit_test(test_bounce_above_reach),
		cmocka_unit_test(test_unregistered_refused),
		cmocka_unit_test(test_all_bounced),
		cmocka_unit_test(test_timeout_keeps_prepared),
		cmocka_unit_test(test_api_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
