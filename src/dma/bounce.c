/* SPDX-License-Identifier: MIT */
/*
 * Bounce pools: memory registered once, handed out a device page at a
 * time to pieces of transfers that cannot go in place. Bounded: when it is
 * full a prepare fails with -ENOBUFS and the count is visible in the stats.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/dma.h>
#include <dmakit/region.h>

#include "../core/error_priv.h"
#include "../space/space_priv.h"
#include "dma_priv.h"

uint64_t dmki_bounce_dev(const struct dmk_bounce_pool *p, size_t chunk)
{
	return dmk_region_dev(p->region, (uintptr_t)p->mem + chunk * p->chunk);
}

int dmki_bounce_in_window(const struct dmk_bounce_pool *p, const struct dmk_dma_spec *spec)
{
	for (size_t c = 0; c < p->nchunks; c++) {
		uint64_t dev = dmki_bounce_dev(p, c);

		if (dev < spec->addr_low || dev + p->chunk - 1 > spec->addr_high)
			return dmki_fail(-ERANGE, "bounce chunk %zu at %#" PRIx64 " lies outside the window [%#" PRIx64 ", %#" PRIx64 "]",
					 c, dev, spec->addr_low, spec->addr_high);
	}
	return 0;
}

/* Check that every chunk is contiguous on the device, aligned, and obeys @spec. */
static int check_chunks(const struct dmk_bounce_pool *p, const struct dmk_dma_spec *spec)
{
	for (size_t c = 0; c < p->nchunks; c++) {
		uint64_t dev = dmki_bounce_dev(p, c);

		for (uint64_t off = DMK_HOST_PAGE; off < p->chunk; off += DMK_HOST_PAGE)
			if (dmk_region_dev(p->region, (uintptr_t)p->mem + c * p->chunk + off) != dev + off)
				return dmki_fail(-ERANGE, "bounce chunk %zu (%" PRIu64 " bytes) is not contiguous on the device",
						 c, p->chunk);
		if (dev & (p->chunk - 1))
			return dmki_fail(-ERANGE, "bounce chunk %zu at %#" PRIx64 " is not aligned to its size", c, dev);
	}
	return dmki_bounce_in_window(p, spec);
}

int dmk_bounce_pool_create(struct dmk_space *sp, const struct dmk_dma_spec *spec, size_t size,
			   struct dmk_bounce_pool **out)
{
	struct dmk_bounce_pool *p;
	int err;

	if (!sp || !out)
		return dmki_fail(-EINVAL, "no space or no place for the pool");
	err = dmk_dma_spec_check(spec);
	if (err)
		return err;
	if (!size)
		return dmki_fail(-EINVAL, "a bounce pool of 0 bytes");
	p = calloc(1, sizeof(*p));
	if (!p)
		return dmki_fail(-ENOMEM, "out of memory for a bounce pool");
	p->space = sp;
	p->chunk = max_u64(spec->dev_page_size, DMK_HOST_PAGE);
	p->nchunks = align_up(size, p->chunk) / p->chunk;
	p->used = calloc((p->nchunks + 63) / 64, sizeof(uint64_t));
	if (posix_memalign((void **)&p->mem, p->chunk, p->nchunks * p->chunk))
		p->mem = NULL;
	if (!p->used || !p->mem) {
		err = dmki_fail(-ENOMEM, "out of memory for a bounce pool of %zu bytes", size);
		goto fail;
	}
	/* Touch it now so that no page fault lands in a transfer. */
	memset(p->mem, 0, p->nchunks * p->chunk);
	err = dmk_region_register(sp, p->mem, p->nchunks * p->chunk, DMK_PROT_RW, &p->region);
	if (err)
		goto fail;
	err = check_chunks(p, spec);
	if (err) {
		dmk_region_unregister(p->region);
		goto fail;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->stats.size = p->nchunks * p->chunk;
	p->stats.chunk = p->chunk;
	*out = p;
	return 0;
fail:
	free(p->mem);
	free(p->used);
	free(p);
	return err;
}

int dmk_bounce_pool_destroy(struct dmk_bounce_pool *p)
{
	int err;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->users) {
		size_t n = p->users;

		pthread_mutex_unlock(&p->lock);
		return dmki_fail(-EBUSY, "bounce pool still serves %zu DMA commands", n);
	}
	pthread_mutex_unlock(&p->lock);
	err = dmk_region_unregister(p->region);
	if (err)
		return err;
	pthread_mutex_destroy(&p->lock);
	free(p->mem);
	free(p->used);
	free(p);
	return 0;
}

int dmk_bounce_pool_stats(struct dmk_bounce_pool *p, struct dmk_bounce_stats *stats)
{
	if (!p || !stats)
		return dmki_fail(-EINVAL, "no pool or no place for its statistics");
	pthread_mutex_lock(&p->lock);
	*stats = p->stats;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static bool chunk_used(const struct dmk_bounce_pool *p, size_t c)
{
	return p->used[c / 64] & (1ull << (c % 64));
}

static void mark(struct dmk_bounce_pool *p, size_t first, size_t n, bool used)
{
	for (size_t c = first; c < first + n; c++) {
		if (used)
			p->used[c / 64] |= 1ull << (c % 64);
		else
			p->used[c / 64] &= ~(1ull << (c % 64));
	}
}

long dmki_bounce_take(struct dmk_bounce_pool *p, size_t want, long prefer, size_t *got)
{
	size_t start = SIZE_MAX, n = 0;

	pthread_mutex_lock(&p->lock);
	if (prefer >= 0 && (size_t)prefer < p->nchunks && !chunk_used(p, prefer)) {
		start = prefer;
	} else {
		for (size_t i = 0; i < p->nchunks; i++) {
			size_t c = (p->hint + i) % p->nchunks;

			if (!chunk_used(p, c)) {
				start = c;
				break;
			}
		}
	}
	if (start == SIZE_MAX) {
		p->stats.exhausted++;
		pthread_mutex_unlock(&p->lock);
		*got = 0;
		return -1;
	}
	while (n < want && start + n < p->nchunks && !chunk_used(p, start + n))
		n++;
	mark(p, start, n, true);
	p->hint = (start + n) % p->nchunks;
	p->stats.in_use += n * p->chunk;
	p->stats.peak = max_u64(p->stats.peak, p->stats.in_use);
	p->stats.allocs++;
	pthread_mutex_unlock(&p->lock);
	*got = n;
	return (long)start;
}

void dmki_bounce_give(struct dmk_bounce_pool *p, size_t first, size_t n)
{
	pthread_mutex_lock(&p->lock);
	mark(p, first, n, false);
	p->stats.in_use -= n * p->chunk;
	pthread_mutex_unlock(&p->lock);
}

void dmki_bounce_note(struct dmk_bounce_pool *p, uint64_t bytes)
{
	pthread_mutex_lock(&p->lock);
	p->stats.bounced += bytes;
	pthread_mutex_unlock(&p->lock);
}
