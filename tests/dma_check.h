/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for DMA commands and bounce pools on the sim space
 * (test_dma.c, test_bounce.c): expected segments computed from
 * dmk_space_translate(), checks of segments, info and pool statistics that
 * name the caller's line, and a simulated device reading and writing
 * through a command's segments.
 * Include after <cmocka.h>.
 */
#ifndef DMK_TESTS_DMA_CHECK_H
#define DMK_TESTS_DMA_CHECK_H

#include <stdlib.h>
#include <sys/uio.h>

#include <dmakit/dma.h>
#include <dmakit/mem.h>

#include "dma/dma_priv.h"
#include "sim_fixture.h"

/* A sim space of 4 KiB pages over a 4 GiB window. */
static inline struct dmk_space *sim(enum dmk_sim_layout layout, uint64_t seed)
{
	return sim_space(layout, PG, UINT64_C(1) << 32, seed);
}

static inline struct dmk_dma *cmd(struct dmk_space *sp, const struct dmk_dma_spec *spec,
			   struct dmk_bounce_pool *pool)
{
	struct dmk_dma *d = NULL;

	assert_int_equal(dmk_dma_create(sp, spec, pool, &d), 0);
	return d;
}

static inline struct dmk_dma_spec preset(const char *name)
{
	struct dmk_dma_spec s;

	assert_int_equal(dmk_dma_spec_preset(&s, name), 0);
	return s;
}

/* Device address of chunk @c of a pool (from the pool's memory, translated). */
static inline uint64_t chunk_dev(struct dmk_space *sp, const struct dmk_bounce_pool *pool, size_t c)
{
	return tr(sp, pool->mem + c * pool->chunk);
}

/*
 * The segments a spec without limits gives a slice of an iovec: one per
 * device-contiguous run, split nowhere else.
 */
static inline size_t expect_plain(struct dmk_space *sp, const struct iovec *iov, int cnt, uint64_t off,
			   uint64_t len, struct dmk_seg *out, size_t max)
{
	size_t n = 0;

	for (int i = 0; i < cnt && len; i++) {
		uint64_t l = iov[i].iov_len;
		char *va = iov[i].iov_base;

		if (off >= l) {
			off -= l;
			continue;
		}
		va += off;
		l -= off;
		off = 0;
		while (l && len) {
			uint64_t piece = PG - ((uintptr_t)va & (PG - 1)), dev;

			if (piece > l)
				piece = l;
			if (piece > len)
				piece = len;
			dev = tr(sp, va);
			if (n && out[n - 1].addr + out[n - 1].len == dev) {
				out[n - 1].len += piece;
			} else {
				assert_true(n < max);
				out[n++] = (struct dmk_seg){ dev, piece };
			}
			va += piece;
			l -= piece;
			len -= piece;
		}
	}
	return n;
}

#define assert_segs(d, want, n) check_segs(__LINE__, d, want, n)
static inline void check_segs(int line, struct dmk_dma *d, const struct dmk_seg *want, size_t n)
{
	size_t got_n = 999;
	const struct dmk_seg *got = dmk_dma_segs(d, &got_n);

	assert_non_null(got);
	if (got_n != n) {
		for (size_t i = 0; i < got_n; i++)
			print_message("got seg %zu: %#llx + %llu\n", i, (unsigned long long)got[i].addr,
				      (unsigned long long)got[i].len);
		for (size_t i = 0; i < n; i++)
			print_message("want seg %zu: %#llx + %llu\n", i, (unsigned long long)want[i].addr,
				      (unsigned long long)want[i].len);
	}
	if (got_n != n)
		fail_msg("line %d: %zu segments, want %zu", line, got_n, n);
	for (size_t i = 0; i < n; i++) {
		if (got[i].addr != want[i].addr || got[i].len != want[i].len)
			fail_msg("line %d: segment %zu: got %#llx + %llu, want %#llx + %llu", line, i,
				 (unsigned long long)got[i].addr, (unsigned long long)got[i].len,
				 (unsigned long long)want[i].addr, (unsigned long long)want[i].len);
	}
}

#define FIELD(got, want)                                                               \
	do {                                                                            \
		if ((uint64_t)(got) != (uint64_t)(want))                                \
			fail_msg("line %d: %s is %llu, want %llu", line, #got,          \
				 (unsigned long long)(got), (unsigned long long)(want)); \
	} while (0)

#define assert_info(d, ...) check_info(__LINE__, d, __VA_ARGS__)
static inline void check_info(int line, struct dmk_dma *d, uint64_t covered, size_t nsegs, uint64_t bounced,
		       size_t bounce_segs, size_t regions)
{
	struct dmk_dma_info i;

	memset(&i, 0xee, sizeof(i));
	assert_int_equal(dmk_dma_info(d, &i), 0);
	FIELD(i.covered, covered);
	FIELD(i.nsegs, nsegs);
	FIELD(i.bounced, bounced);
	FIELD(i.bounce_segs, bounce_segs);
	FIELD(i.regions, regions);
}

#define assert_idle(d) check_idle(__LINE__, d)
static inline void check_idle(int line, struct dmk_dma *d)
{
	size_t n = 7;

	if (dmk_dma_segs(d, &n) || n)
		fail_msg("line %d: the command is still prepared (%zu segments)", line, n);
	check_info(line, d, 0, 0, 0, 0, 0);
}

/* The device reads every segment: the bytes are those of @src, in order. */
static inline void assert_device_reads(struct dmk_space *sp, struct dmk_dma *d, const char *src, uint64_t len)
{
	size_t n;
	const struct dmk_seg *s = dmk_dma_segs(d, &n);
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		char *b = malloc(s[i].len);

		assert_non_null(b);
		assert_int_equal(dmk_sim_dma_read(sp, s[i].addr, b, s[i].len), 0);
		assert_true(x + s[i].len <= len);
		if (memcmp(b, src + x, s[i].len))
			fail_msg("segment %zu (%#llx + %llu) does not hold bytes %llu.. of the transfer", i,
				 (unsigned long long)s[i].addr, (unsigned long long)s[i].len,
				 (unsigned long long)x);
		free(b);
		x += s[i].len;
	}
	assert_int_equal(x, len);
}

/* The device writes (byte k of the transfer = f(k)) into every segment. */
static inline void device_writes(struct dmk_space *sp, struct dmk_dma *d, unsigned char salt)
{
	size_t n;
	const struct dmk_seg *s = dmk_dma_segs(d, &n);
	uint64_t x = 0;

	for (size_t i = 0; i < n; i++) {
		char *b = malloc(s[i].len);

		assert_non_null(b);
		for (uint64_t k = 0; k < s[i].len; k++)
			b[k] = (char)((x + k) * 31 + salt);
		assert_int_equal(dmk_sim_dma_write(sp, s[i].addr, b, s[i].len), 0);
		free(b);
		x += s[i].len;
	}
}

static inline void assert_written(const char *va, uint64_t len, unsigned char salt)
{
	for (uint64_t k = 0; k < len; k++)
		if (va[k] != (char)(k * 31 + salt))
			fail_msg("byte %llu of the transfer was not written back", (unsigned long long)k);
}

#define assert_stats(p, ...) check_stats(__LINE__, p, __VA_ARGS__)
static inline void check_stats(int line, struct dmk_bounce_pool *p, uint64_t size, uint64_t in_use,
			uint64_t peak, uint64_t bounced, uint64_t allocs, uint64_t exhausted)
{
	struct dmk_bounce_stats s;

	memset(&s, 0xee, sizeof(s));
	assert_int_equal(dmk_bounce_pool_stats(p, &s), 0);
	FIELD(s.size, size);
	FIELD(s.chunk, PG);
	FIELD(s.in_use, in_use);
	FIELD(s.peak, peak);
	FIELD(s.bounced, bounced);
	FIELD(s.allocs, allocs);
	FIELD(s.exhausted, exhausted);
}

#endif
