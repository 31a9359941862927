/* SPDX-License-Identifier: MIT */
/*
 * DMA commands: their life (create, sync, complete, destroy) and what they
 * hold. Preparing, the segment generator, is prepare.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/dma.h>

#include "../core/error_priv.h"
#include "../core/nofault_priv.h"
#include "../space/space_priv.h"
#include "dma_priv.h"

int dmki_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

int dmk_dma_create(struct dmk_space *sp, const struct dmk_dma_spec *spec,
		   struct dmk_bounce_pool *pool, struct dmk_dma **out)
{
	struct dmk_dma *d;
	int err;

	if (!sp || !out)
		return dmki_fail(-EINVAL, "no space or no place for the command");
	err = dmk_dma_spec_check(spec);
	if (err)
		return err;
	if (pool && pool->space != sp)
		return dmki_fail(-EINVAL, "the bounce pool belongs to another space");
	if (pool) {
		uint64_t chunk = pool->chunk;

		if (chunk < max_u64(spec->addr_align, spec->len_align) ||
		    (spec->boundary && spec->boundary < chunk) ||
		    ((spec->flags & DMK_SPEC_PAGE_LIST) && chunk != spec->dev_page_size))
			return dmki_fail(-EINVAL, "bounce chunks of %" PRIu64 " bytes cannot obey these rules (alignment, boundary or device page)",
					 chunk);
		err = dmki_bounce_in_window(pool, spec);
		if (err)
			return err;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return dmki_fail(-ENOMEM, "out of memory for a DMA command");
	d->space = sp;
	d->spec = *spec;
	d->pool = pool;
	d->G = spec->addr_align;
	d->E = spec->len_align;
	d->max_seg = spec->max_seg_size ? spec->max_seg_size : UINT64_MAX;
	d->unbounded = !spec->boundary && !spec->addr_low && spec->addr_high == UINT64_MAX;
	if (spec->flags & DMK_SPEC_PAGE_LIST) {
		d->G = max_u64(d->G, spec->dev_page_size);
		d->E = max_u64(d->E, spec->dev_page_size);
	}
	if (dmki_grow((void **)&d->segs, &d->cap, spec->max_segs && spec->max_segs < 16 ? spec->max_segs : 16,
		      sizeof(*d->segs))) {
		free(d);
		return dmki_fail(-ENOMEM, "out of memory for a DMA command");
	}
	if (pool) {
		pthread_mutex_lock(&pool->lock);
		pool->users++;
		pthread_mutex_unlock(&pool->lock);
	}
	dmki_space_add_hold(sp, &d->hold);
	*out = d;
	return 0;
}

int dmk_dma_destroy(struct dmk_dma *d)
{
	if (!d)
		return 0;
	if (d->prepared)
		return dmki_fail(-EBUSY, "the DMA command is prepared; complete it first");
	dmki_space_del_hold(d->space, &d->hold);
	if (d->pool) {
		pthread_mutex_lock(&d->pool->lock);
		d->pool->users--;
		pthread_mutex_unlock(&d->pool->lock);
	}
	free(d->segs);
	free(d->bidx);
	free(d->copies);
	free(d->runs);
	free(d);
	return 0;
}


void dmki_dma_release(struct dmk_dma *d)
{
	for (size_t i = 0; i < d->nruns; i++)
		dmki_bounce_give(d->pool, d->runs[i].first, d->runs[i].n);
	if (d->bounced)
		dmki_bounce_note(d->pool, d->bounced);
	d->nruns = 0;
	d->ncopies = 0;
	d->nsegs = 0;
	d->nb = 0;
	d->covered = 0;
	d->bounced = 0;
	atomic_store_explicit(&d->hold.n, 0, memory_order_release);
}


const struct dmk_seg *dmk_dma_segs(const struct dmk_dma *d, size_t *nsegs)
{
	if (!d->prepared) {
		*nsegs = 0;
		return NULL;
	}
	*nsegs = d->nsegs;
	return d->segs;
}

/*
 * The bounce copies, into the pool (@to_pool) or back into the caller's
 * memory: with memcpy(), or with the kernel for foreign memory
 * (dmki_region_register_foreign(): a client's file the driver daemon maps),
 * whose pages may be gone, so that such a page fails the sync instead of
 * raising SIGBUS here. Up to DMKI_NOFAULT_IOV pieces a kernel copy.
 */
static int copy_pieces(struct iovec *host, struct iovec *pool, unsigned k, bool to_pool)
{
	return to_pool ? dmki_copy_nofault(pool, k, host, k) : dmki_copy_nofault(host, k, pool, k);
}

static int bounce_copy(struct dmk_dma *d, bool to_pool)
{
	struct iovec host[DMKI_NOFAULT_IOV], pool[DMKI_NOFAULT_IOV];
	unsigned k = 0;
	int rc = 0;

	for (size_t i = 0; i < d->ncopies && !rc; i++) {
		const struct copy *c = &d->copies[i];

		if (!c->foreign) {
			if (to_pool)
				memcpy(c->bounce, c->host, c->len);
			else
				memcpy(c->host, c->bounce, c->len);
			continue;
		}
		host[k] = (struct iovec){ c->host, (size_t)c->len };
		pool[k] = (struct iovec){ c->bounce, (size_t)c->len };
		if (++k == DMKI_NOFAULT_IOV) {
			rc = copy_pieces(host, pool, k, to_pool);
			k = 0;
		}
	}
	if (k && !rc)
		rc = copy_pieces(host, pool, k, to_pool);
	return rc;
}

int dmk_dma_sync(struct dmk_dma *d, enum dmk_sync when)
{
	if (unlikely(!d || !d->prepared))
		return dmki_fail(-EINVAL, "the DMA command is not prepared");
	if (when != DMK_SYNC_FOR_DEVICE && when != DMK_SYNC_FOR_CPU)
		return dmki_fail(-EINVAL, "unknown sync point %d", (int)when);
	if (likely(!d->ncopies))
		return 0;
	if (when == DMK_SYNC_FOR_DEVICE && (d->dir & DMK_TO_DEVICE))
		return bounce_copy(d, true);
	if (when == DMK_SYNC_FOR_CPU && (d->dir & DMK_FROM_DEVICE))
		return bounce_copy(d, false);
	return 0;
}

int dmk_dma_complete(struct dmk_dma *d)
{
	if (unlikely(!d || !d->prepared))
		return dmki_fail(-EINVAL, "the DMA command is not prepared");
	if (unlikely(d->nruns))
		dmki_dma_release(d);
	else
		atomic_store_explicit(&d->hold.n, 0, memory_order_release);
	d->nsegs = 0;
	d->prepared = false;
	return 0;
}

int dmk_dma_info(const struct dmk_dma *d, struct dmk_dma_info *info)
{
	if (!d || !info)
		return dmki_fail(-EINVAL, "no command or no place for its description");
	memset(info, 0, sizeof(*info));
	if (!d->prepared)
		return 0;
	info->covered = d->covered;
	info->nsegs = d->nsegs;
	info->bounced = d->bounced;
	info->bounce_segs = d->nb;
	info->regions = atomic_load_explicit(&d->hold.n, memory_order_relaxed);
	return 0;
}

const struct dmk_dma_spec *dmki_dma_spec(const struct dmk_dma *d)
{
	return &d->spec;
}
