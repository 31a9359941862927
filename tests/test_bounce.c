/* SPDX-License-Identifier: MIT */
/*
 * Bounce pools (include/dmakit/dma.h) on the sim space: only the pieces
 * that break a rule in place go through the pool, the bytes get there and
 * back, the pool's statistics, exhaustion and what a failed prepare gives
 * back, memory behind it that cannot be faulted in. Expected segments are
 * computed from dmk_space_translate() and the rules, never taken from the
 * generator.
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

#include "dma_check.h"
#include "space/space_priv.h"

/* ---- bounce pools ---- */

/* nvme-prp, a buffer off by 2 bytes: nothing can go in place, all of it bounces. */
static void test_bounce_all(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_REVERSED, 1);
	struct dmk_dma_spec s = preset("nvme-prp");
	struct dmk_bounce_pool *pool;
	char *p = pages(3), save[3 * 4096];
	struct dmk_region *r;
	struct dmk_dma *d;
	struct dmk_seg want[2];
	uint64_t cov;

	(void)state;
	assert_int_equal(dmk_bounce_pool_create(sp, &s, 4 * PG, &pool), 0);
	r = reg(sp, p, 3 * PG, DMK_PROT_RW);
	d = cmd(sp, &s, pool);
	assert_int_equal(dmk_dma_prepare_buf(d, p + 2, PG, DMK_TO_DEVICE, &cov), 0);
	assert_int_equal(cov, PG);
	/* reversed pool: chunks are not device neighbours; chunk 0 holds it all */
	want[0] = (struct dmk_seg){ chunk_dev(sp, pool, 0), PG };
	assert_segs(d, want, 1);
	assert_info(d, PG, 1, PG, 1, 1);
	assert_stats(pool, 4 * PG, PG, PG, 0, 1, 0);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	assert_device_reads(sp, d, p + 2, PG);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_CPU), 0);
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_idle(d);
	assert_stats(pool, 4 * PG, 0, PG, PG, 1, 0);

	/* The other way: the device's bytes reach memory at the CPU sync, not before. */
	memcpy(save, p, sizeof(save));
	assert_int_equal(dmk_dma_prepare_buf(d, p + 2, 2 * PG, DMK_FROM_DEVICE, &cov), 0);
	assert_int_equal(cov, 2 * PG);
	want[0] = (struct dmk_seg){ chunk_dev(sp, pool, 1), PG };
	want[1] = (struct dmk_seg){ chunk_dev(sp, pool, 2), PG };
	assert_segs(d, want, 2);
	assert_info(d, 2 * PG, 2, 2 * PG, 2, 1);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	device_writes(sp, d, 77);
	assert_memory_equal(p, save, sizeof(save));
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_CPU), 0);
	assert_written(p + 2, 2 * PG, 77);
	assert_memory_equal(p, save, 2);
	assert_memory_equal(p + 2 * PG + 2, save + 2 * PG + 2, PG - 2);
	assert_stats(pool, 4 * PG, 2 * PG, 2 * PG, PG, 3, 0);
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_stats(pool, 4 * PG, 0, 2 * PG, 3 * PG, 3, 0);

	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 3);
}

/*
 * Bounced foreign memory (dmki_region_register_foreign()) that cannot be
 * faulted in: a shared mapping of a memfd that shrank after the prepare,
 * its pages past the end of the file (a load or store there raises
 * SIGBUS). Both syncs fail with -EFAULT instead. The pieces of more than
 * one kernel copy (65 foreign pieces of an iovec) get there and back, and
 * so do plain pieces among them.
 */
static void test_bounce_host_faults(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("nvme-prp");
	struct dmk_bounce_pool *pool;
	struct iovec iov[67];
	struct dmk_region *r, *plain;
	struct dmk_dma *d;
	struct dmk_mem *m;
	uint64_t cov;
	char *p, *q;
	int fd;

	(void)state;
	p = memfd_pages(2, 3, &fd);
	assert_int_equal(dmk_bounce_pool_create(sp, &s, 4 * PG, &pool), 0);
	assert_int_equal(dmki_region_register_foreign(sp, p, 2 * PG, DMK_PROT_RW, &r), 0);
	d = cmd(sp, &s, pool);
	assert_int_equal(dmk_dma_prepare_buf(d, p + 2, PG, DMK_BIDIRECTIONAL, &cov), 0);
	assert_info(d, PG, 1, PG, 1, 1);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), -EFAULT);
	assert_reason("could not be faulted in");
	device_writes(sp, d, 9);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_CPU), -EFAULT);
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	unpages(p, 2);
	close(fd);

	q = pages(3);
	assert_int_equal(dmki_region_register_foreign(sp, q, 2 * PG, DMK_PROT_RW, &r), 0);
	plain = reg(sp, q + 2 * PG, PG, DMK_PROT_RW);
	for (int i = 0; i < 65; i++)
		iov[i] = (struct iovec){ q + 1 + i * 100, 48 };	/* none aligned: each bounces */
	iov[65] = (struct iovec){ q + 2 * PG + 1, 48 };
	iov[66] = (struct iovec){ q + 2 * PG + 101, 48 };
	assert_int_equal(dmk_mem_create(iov, 67, DMK_BIDIRECTIONAL, &m), 0);
	assert_int_equal(dmk_dma_prepare(d, m, 0, 67 * 48, &cov), 0);
	assert_int_equal(cov, 67 * 48);
	assert_int_equal(d->ncopies, 67);
	assert_false(d->copies[66].foreign);
	assert_true(d->copies[64].foreign);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	for (int i = 0; i < 67; i++)
		assert_memory_equal(d->copies[i].bounce, iov[i].iov_base, 48);
	for (int i = 0; i < 67; i++)
		memset(d->copies[i].bounce, i + 1, 48);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_CPU), 0);
	for (int i = 0; i < 67; i++)
		for (int k = 0; k < 48; k++)
			assert_int_equal(((char *)iov[i].iov_base)[k], i + 1);
	assert_int_equal(dmk_dma_complete(d), 0);
	dmk_mem_destroy(m);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_region_unregister(plain), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(q, 3);
}

/* Only the piece that breaks a rule bounces; the rest goes in place. */
static void test_bounce_only_the_piece(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("any");
	struct dmk_bounce_pool *pool;
	char *p = pages(2);
	struct dmk_region *r;
	struct dmk_dma *d;
	struct dmk_mem *m;
	uint64_t cov, U;

	(void)state;
	s.addr_align = 4;	/* addresses on a dword, lengths free */
	assert_int_equal(dmk_bounce_pool_create(sp, &s, 2 * PG, &pool), 0);	/* W, W + PG */
	r = reg(sp, p, 2 * PG, DMK_PROT_RW);
	U = tr(sp, p);
	assert_int_equal(U, W + 2 * PG);
	d = cmd(sp, &s, pool);
	/* The second entry starts 1 byte past a dword: 3 bytes bounce, then in place. */
	struct iovec iov[2] = { { p, PG }, { p + PG + 1, PG - 1 } };
	assert_int_equal(dmk_mem_create(iov, 2, DMK_BIDIRECTIONAL, &m), 0);
	assert_int_equal(dmk_dma_prepare(d, m, 0, 2 * PG - 1, &cov), 0);
	assert_int_equal(cov, 2 * PG - 1);
	struct dmk_seg want[3] = { { U, PG }, { W, 3 }, { U + PG + 4, PG - 4 } };
	assert_segs(d, want, 3);
	assert_info(d, 2 * PG - 1, 3, 3, 1, 1);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	char flat[2 * 4096];
	memcpy(flat, p, PG);
	memcpy(flat + PG, p + PG + 1, PG - 1);
	assert_device_reads(sp, d, flat, 2 * PG - 1);
	device_writes(sp, d, 5);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_CPU), 0);
	assert_written(p, PG, 5);
	for (uint64_t k = PG; k < 2 * PG - 1; k++)
		assert_int_equal(p[k + 1], (char)(k * 31 + 5));
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_stats(pool, 2 * PG, 0, PG, 3, 1, 0);

	/* nvme-prp: an entry that ends inside a page shifts everything after it into the pool. */
	dmk_mem_destroy(m);
	assert_int_equal(dmk_dma_destroy(d), 0);
	struct dmk_dma_spec prp = preset("nvme-prp");
	d = cmd(sp, &prp, pool);
	struct iovec mid[3] = { { p, PG }, { p + PG, 100 }, { p + PG + 200, 2000 } };
	assert_int_equal(dmk_mem_create(mid, 3, DMK_TO_DEVICE, &m), 0);
	assert_int_equal(dmk_dma_prepare(d, m, 0, PG + 2100, &cov), 0);
	want[0] = (struct dmk_seg){ U, PG };
	want[1] = (struct dmk_seg){ W + PG, 2100 };	/* the pool hands out the next chunk */
	assert_segs(d, want, 2);
	assert_info(d, PG + 2100, 2, 2100, 1, 1);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	memcpy(flat, p, PG + 100);
	memcpy(flat + PG + 100, p + PG + 200, 2000);
	assert_device_reads(sp, d, flat, PG + 2100);
	assert_int_equal(dmk_dma_complete(d), 0);

	dmk_mem_destroy(m);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 2);
}

/* Memory outside the device's window goes through the pool; a full pool is -ENOBUFS. */
static void test_bounce_window_and_exhaustion(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("any");
	struct dmk_bounce_pool *pool;
	char *p = pages(3);
	struct dmk_region *r;
	struct dmk_dma *d, *d2, *plain;
	uint64_t cov = 0;

	(void)state;
	s.addr_high = W + 2 * PG - 1;	/* the pool, first in the window, fits; nothing else */
	assert_int_equal(dmk_bounce_pool_create(sp, &s, 2 * PG, &pool), 0);
	r = reg(sp, p, 3 * PG, DMK_PROT_RW);
	assert_int_equal(tr(sp, p), W + 2 * PG);
	plain = cmd(sp, &s, NULL);
	assert_int_equal(dmk_dma_prepare_buf(plain, p, 10, DMK_TO_DEVICE, &cov), -ERANGE);
	assert_reason("window");
	assert_idle(plain);

	d = cmd(sp, &s, pool);
	d2 = cmd(sp, &s, pool);
	assert_int_equal(dmk_dma_prepare_buf(d, p + 100, 6000, DMK_TO_DEVICE, &cov), 0);
	assert_int_equal(cov, 6000);
	struct dmk_seg one = { W, 6000 };
	assert_segs(d, &one, 1);
	assert_info(d, 6000, 1, 6000, 1, 1);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	assert_device_reads(sp, d, p + 100, 6000);
	assert_stats(pool, 2 * PG, 2 * PG, 2 * PG, 0, 2, 0);

	/* The pool is full: the second command gets -ENOBUFS and holds nothing. */
	cov = 555;
	assert_int_equal(dmk_dma_prepare_buf(d2, p, 8, DMK_TO_DEVICE, &cov), -ENOBUFS);
	assert_reason("bounce pool full");
	assert_int_equal(cov, 555);
	assert_idle(d2);
	assert_stats(pool, 2 * PG, 2 * PG, 2 * PG, 0, 2, 1);
	assert_int_equal(dmk_bounce_pool_destroy(pool), -EBUSY);

	/* After the first completes, the second fits. */
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_stats(pool, 2 * PG, 0, 2 * PG, 6000, 2, 1);
	assert_int_equal(dmk_dma_prepare_buf(d2, p, 8, DMK_FROM_DEVICE, &cov), 0);
	assert_int_equal(cov, 8);
	assert_info(d2, 8, 1, 8, 1, 1);
	device_writes(sp, d2, 1);
	assert_int_equal(dmk_dma_sync(d2, DMK_SYNC_FOR_CPU), 0);
	assert_written(p, 8, 1);
	assert_stats(pool, 2 * PG, PG, 2 * PG, 6000, 3, 1);

	assert_int_equal(dmk_dma_complete(d2), 0);
	assert_stats(pool, 2 * PG, 0, 2 * PG, 6008, 3, 1);

	assert_int_equal(dmk_dma_destroy(plain), 0);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_dma_destroy(d2), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 3);
}

/*
 * region.h: -EBUSY "when a prepared command still uses the memory". A
 * command whose bytes go through the pool uses the memory too: sync copies
 * from and to it.
 */
static void test_unregister_bounced_memory_busy(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("nvme-prp");
	struct dmk_bounce_pool *pool;
	char *p = pages(2);
	struct dmk_region *a, *b;
	struct dmk_dma *d;
	uint64_t cov;
	int err_a, err_b;

	(void)state;
	assert_int_equal(dmk_bounce_pool_create(sp, &s, 2 * PG, &pool), 0);
	a = reg(sp, p, PG, DMK_PROT_RW);
	b = reg(sp, p + PG, PG, DMK_PROT_RW);
	d = cmd(sp, &s, pool);
	/* Off by one byte: every byte, of both registrations, goes through the pool. */
	assert_int_equal(dmk_dma_prepare_buf(d, p + 1, PG + 100, DMK_FROM_DEVICE, &cov), 0);
	assert_int_equal(cov, PG + 100);
	device_writes(sp, d, 11);
	err_a = dmk_region_unregister(a);
	err_b = dmk_region_unregister(b);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_CPU), 0);
	assert_written(p + 1, PG + 100, 11);
	assert_int_equal(dmk_dma_complete(d), 0);
	if (err_a == -EBUSY)
		assert_int_equal(dmk_region_unregister(a), 0);
	if (err_b == -EBUSY)
		assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 2);
	assert_int_equal(err_a, -EBUSY);
	assert_int_equal(err_b, -EBUSY);
}

/*
 * A piece that cannot end legally is cut back to its last legal end and
 * only the rest goes through the pool: length alignment 512 on pages that
 * are never neighbours, a first piece of 600 bytes.
 */
static void test_bounce_after_cut_back(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_REVERSED, 1);
	struct dmk_dma_spec s = preset("any");
	struct dmk_bounce_pool *pool;
	char *p = pages(2);
	struct dmk_region *r;
	struct dmk_dma *d;
	uint64_t cov;

	(void)state;
	s.len_align = 512;
	assert_int_equal(dmk_bounce_pool_create(sp, &s, PG, &pool), 0);
	r = reg(sp, p, 2 * PG, DMK_PROT_RW);
	d = cmd(sp, &s, NULL);
	assert_int_equal(dmk_dma_prepare_buf(d, p + PG - 600, 1024, DMK_TO_DEVICE, &cov), -EINVAL);
	assert_reason("multiple of the length alignment");
	assert_int_equal(dmk_dma_destroy(d), 0);
	d = cmd(sp, &s, pool);
	assert_int_equal(dmk_dma_prepare_buf(d, p + PG - 600, 1024, DMK_TO_DEVICE, &cov), 0);
	assert_int_equal(cov, 1024);
	struct dmk_seg want[2] = { { tr(sp, p + PG - 600), 512 }, { chunk_dev(sp, pool, 0), 512 } };
	assert_segs(d, want, 2);
	assert_info(d, 1024, 2, 512, 1, 1);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	assert_device_reads(sp, d, p + PG - 600, 1024);
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 2);
}

/*
 * Whole 2 MiB granules (one radix slot each) and registrations that
 * overlap them; segments run across registrations that are neighbours on
 * the device.
 */
static void test_granules_and_neighbours(void **state)
{
	const uint64_t M2 = UINT64_C(2) << 20, M1 = UINT64_C(1) << 20;
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("any");
	char *map = mmap(NULL, 4 * M2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *g;
	struct dmk_region *a, *b, *c;
	struct dmk_dma *d = cmd(sp, &s, NULL);
	uint64_t cov;

	(void)state;
	assert_true(map != MAP_FAILED);
	g = (char *)(((uintptr_t)map + M2 - 1) & ~(uintptr_t)(M2 - 1));
	a = reg(sp, g, M2, DMK_PROT_RW);		/* [W, W + 2M) */
	b = reg(sp, g + M1, M2, DMK_PROT_RW);	/* [W + 2M, W + 4M) */
	assert_int_equal(tr(sp, g), W);
	assert_int_equal(tr(sp, g + M2 - 1), W + M2 - 1);
	assert_int_equal(tr(sp, g + M1 + 5), W + M1 + 5);		/* a, the older */
	assert_int_equal(tr(sp, g + M2 + 5), W + M2 + M1 + 5);	/* only b */
	/* A transfer over the shared part and on into b's own: a's then b's addresses. */
	assert_int_equal(dmk_dma_prepare_buf(d, g + M2 - 100, 200, DMK_TO_DEVICE, &cov), 0);
	struct dmk_seg want[2] = { { W + M2 - 100, 100 }, { W + M2 + M1, 100 } };
	assert_segs(d, want, 2);
	assert_info(d, 200, 2, 0, 0, 2);
	assert_int_equal(dmk_region_unregister(a), -EBUSY);
	assert_int_equal(dmk_region_unregister(b), -EBUSY);
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_int_equal(dmk_region_unregister(a), 0);
	/* The shared half now goes through b. */
	assert_int_equal(tr(sp, g + M1 + 5), W + M2 + 5);
	assert_int_equal(tr(sp, g + M2 - 1), W + M2 + M1 - 1);
	uint64_t dev;
	assert_int_equal(dmk_space_translate(sp, g + M1 - 1, &dev), -EFAULT);
	/* And one segment over it all: b is contiguous on the device. */
	assert_int_equal(dmk_dma_prepare_buf(d, g + M1, M2, DMK_BIDIRECTIONAL, &cov), 0);
	want[0] = (struct dmk_seg){ W + M2, M2 };
	assert_segs(d, want, 1);
	assert_int_equal(dmk_dma_complete(d), 0);

	/* Two registrations that are neighbours in memory and on the device: one segment. */
	c = reg(sp, g + 3 * M1, M1, DMK_PROT_RW);	/* [W + 4M, W + 5M) follows b's end */
	assert_int_equal(tr(sp, g + 3 * M1), W + 2 * M2);
	assert_int_equal(dmk_dma_prepare_buf(d, g + 3 * M1 - 10, 20, DMK_TO_DEVICE, &cov), 0);
	want[0] = (struct dmk_seg){ W + 2 * M2 - 10, 20 };
	assert_segs(d, want, 1);
	assert_info(d, 20, 1, 0, 0, 2);
	assert_device_reads(sp, d, g + 3 * M1 - 10, 20);
	assert_int_equal(dmk_dma_complete(d), 0);

	assert_int_equal(dmk_region_unregister(b), 0);
	assert_int_equal(dmk_region_unregister(c), 0);
	assert_int_equal(dmk_space_translate(sp, g + M1 + 5, &dev), -EFAULT);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	assert_int_equal(munmap(map, 4 * M2), 0);
}

/* Bytes below the window's low end bounce; from the low end on, in place. */
static void test_bounce_below_window(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("any");
	struct dmk_bounce_pool *pool;
	char *p = pages(4);
	struct dmk_region *r = reg(sp, p, 4 * PG, DMK_PROT_RW);	/* [W, W + 4 PG) */
	struct dmk_dma *d;
	uint64_t cov;

	(void)state;
	s.addr_low = W + 2 * PG;
	assert_int_equal(dmk_bounce_pool_create(sp, &s, 2 * PG, &pool), 0);	/* [W + 4 PG, W + 6 PG) */
	assert_int_equal(chunk_dev(sp, pool, 0), W + 4 * PG);
	d = cmd(sp, &s, pool);
	assert_int_equal(dmk_dma_prepare_buf(d, p, 4 * PG, DMK_TO_DEVICE, &cov), 0);
	assert_int_equal(cov, 4 * PG);
	struct dmk_seg want[2] = { { W + 4 * PG, 2 * PG }, { W + 2 * PG, 2 * PG } };
	assert_segs(d, want, 2);
	assert_info(d, 4 * PG, 2, 2 * PG, 1, 1);
	assert_int_equal(dmk_dma_sync(d, DMK_SYNC_FOR_DEVICE), 0);
	assert_device_reads(sp, d, p, 4 * PG);
	assert_int_equal(dmk_dma_complete(d), 0);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 4);
}

/* A prepare that fails half-way gives back the chunks it took. */
static void test_failed_prepare_releases_chunks(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("nvme-prp");
	struct dmk_bounce_pool *pool;
	char *p = pages(3);
	struct dmk_region *r;
	struct dmk_dma *d;
	uint64_t cov;

	(void)state;
	assert_int_equal(dmk_bounce_pool_create(sp, &s, 4 * PG, &pool), 0);
	r = reg(sp, p, 2 * PG, DMK_PROT_RW);	/* page 2 is not registered */
	d = cmd(sp, &s, pool);
	assert_int_equal(dmk_dma_prepare_buf(d, p + 1, 3 * PG - 4, DMK_TO_DEVICE, &cov), -EFAULT);
	assert_reason("no registered page");
	assert_idle(d);
	assert_stats(pool, 4 * PG, 0, 2 * PG, 0, 2, 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 3);
}

/*
 * More registrations than a command records (64): the command covers a
 * legal prefix and says so; resuming covers the rest.
 */
static void test_many_registrations_partial(void **state)
{
	enum { N = 70 };
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("any");
	char *p = pages(N);
	struct dmk_region *r[N];
	struct dmk_dma *d = cmd(sp, &s, NULL);
	struct dmk_dma_info info;
	uint64_t cov, off = 0;
	int rounds = 0;

	(void)state;
	for (int i = 0; i < N; i++)
		r[i] = reg(sp, p + i * PG, PG, DMK_PROT_RW);	/* W + i PG: one device range */
	while (off < N * PG) {
		assert_int_equal(dmk_dma_prepare_buf(d, p + off, N * PG - off, DMK_TO_DEVICE, &cov), 0);
		assert_true(cov > 0);
		struct dmk_seg one = { W + off, cov };
		assert_segs(d, &one, 1);
		assert_int_equal(dmk_dma_info(d, &info), 0);
		assert_int_equal(info.regions, cov / PG);
		/* every region in it is busy */
		assert_int_equal(dmk_region_unregister(r[off / PG]), -EBUSY);
		assert_int_equal(dmk_dma_complete(d), 0);
		off += cov;
		rounds++;
	}
	assert_int_equal(rounds, 2);
	assert_int_equal(off, N * PG);
	for (int i = 0; i < N; i++)
		assert_int_equal(dmk_region_unregister(r[i]), 0);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, N);
}

/*
 * dma.h: the pool's @bounced counts "bytes of transfers ever routed through
 * the pool". A prepare that fails with -ENOBUFS moved no transfer; the
 * chunks it took for a while are not bytes of a transfer.
 */
static void test_failed_prepare_not_counted_as_bounced(void **state)
{
	struct dmk_space *sp = sim(DMK_SIM_CONTIG, 1);
	struct dmk_dma_spec s = preset("nvme-prp");
	struct dmk_bounce_pool *pool;
	struct dmk_bounce_stats st;
	char *p = pages(3);
	struct dmk_region *r;
	struct dmk_dma *d;
	uint64_t cov;

	(void)state;
	assert_int_equal(dmk_bounce_pool_create(sp, &s, PG, &pool), 0);
	r = reg(sp, p, 3 * PG, DMK_PROT_RW);
	d = cmd(sp, &s, pool);
	/* Misaligned: all of it must bounce, 2 chunks; the pool has 1. */
	assert_int_equal(dmk_dma_prepare_buf(d, p + 1, 2 * PG, DMK_TO_DEVICE, &cov), -ENOBUFS);
	assert_reason("bounce pool full");
	assert_idle(d);
	assert_int_equal(dmk_bounce_pool_stats(pool, &st), 0);
	assert_int_equal(dmk_dma_destroy(d), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_bounce_pool_destroy(pool), 0);
	assert_int_equal(dmk_space_destroy(sp), 0);
	unpages(p, 3);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.exhausted, 1);
	assert_int_equal(st.allocs, 1);
	assert_int_equal(st.bounced, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounce_all),
		cmocka_unit_test(test_bounce_only_the_piece),
		cmocka_unit_test(test_bounce_host_faults),
		cmocka_unit_test(test_bounce_window_and_exhaustion),
		cmocka_unit_test(test_bounce_after_cut_back),
		cmocka_unit_test(test_granules_and_neighbours),
		cmocka_unit_test(test_bounce_below_window),
		cmocka_unit_test(test_failed_prepare_releases_chunks),
		cmocka_unit_test(test_many_registrations_partial),
		cmocka_unit_test(test_failed_prepare_not_counted_as_bounced),
		cmocka_unit_test(test_unregister_bounced_memory_busy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
