/* SPDX-License-Identifier: MIT */
/*
 * Test helpers on the sim space shared by the unit tests: guarded pages
 * with a pattern, pages of a memfd, a sim space, a translation and a registration that must
 * succeed, and assert_reason() on dmk_last_error(). cmocka's asserts.
 * Include after <cmocka.h>.
 */
#ifndef DMK_TESTS_SIM_FIXTURE_H
#define DMK_TESTS_SIM_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

#define PG ((uint64_t)4096)
#define W ((uint64_t)1 << 32)	/* our sims' window base */

#define assert_reason(word)                                                          \
	do {                                                                          \
		if (!strstr(dmk_last_error(), (word)))                                \
			fail_msg("reason '%s' does not contain '%s'", dmk_last_error(), (word)); \
	} while (0)

/* @n pages with an unmapped guard page on each side, filled with a pattern. */
static inline char *pages(size_t n)
{
	char *p = mmap(NULL, (n + 2) * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(munmap(p, PG), 0);
	assert_int_equal(munmap(p + (n + 1) * PG, PG), 0);
	for (size_t i = 0; i < n * PG; i++)
		p[PG + i] = (char)(i * 13 + (i >> 12) + 1);
	return p + PG;
}

static inline void unpages(char *p, size_t n)
{
	assert_int_equal(munmap(p, n * PG), 0);
}

/* @n pages of a memfd (in *@fd, unsealed: it may still shrink), mapped
 * shared and filled with @byte; free with unpages() and close(). */
static inline char *memfd_pages(size_t n, int byte, int *fd)
{
	char *p;

	*fd = memfd_create("dmakit-test", MFD_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)(n * PG)), 0);
	p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(p != MAP_FAILED);
	memset(p, byte, n * PG);
	return p;
}

static inline struct dmk_space *sim_space(enum dmk_sim_layout layout, uint64_t page,
					   uint64_t size, uint64_t seed)
{
	struct dmk_sim_config c = { .page_size = page, .window_base = W, .window_size = size,
				    .layout = layout, .seed = seed };
	struct dmk_space *sp = NULL;

	assert_int_equal(dmk_space_sim_create(&c, &sp), 0);
	return sp;
}

static inline uint64_t tr(struct dmk_space *sp, const void *va)
{
	uint64_t dev = 0;

	assert_int_equal(dmk_space_translate(sp, va, &dev), 0);
	return dev;
}

static inline struct dmk_region *reg(struct dmk_space *sp, void *va, size_t len, unsigned prot)
{
	struct dmk_region *r = NULL;

	assert_int_equal(dmk_region_register(sp, va, len, prot, &r), 0);
	return r;
}

#endif
