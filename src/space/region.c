/* SPDX-License-Identifier: MIT */
/*
 * Registrations: pin and map once, translate without locks, and refuse to
 * go away while a DMA command uses them.
 *
 * The protocol between a prepare (reader, no lock, no atomic read-modify-
 * write) and dmk_region_unregister() (writer, under the space lock):
 *
 *   prepare                           unregister
 *   hold->seq = odd                   r->state = DYING
 *   look up slot -> r                 barrier on every thread (membarrier)
 *   hold->region[n++] = r             any hold naming r? -> LIVE, -EBUSY
 *   (barrier from unregister)         clear r's radix slots
 *   r->state == LIVE? else give up    barrier on every thread
 *   ... emit segments ...             wait for every odd hold->seq to move
 *   hold->seq = even                  unmap, free r
 *
 * Either the prepare sees DYING, or unregister sees the hold: the barrier
 * that membarrier forces on the reader's thread orders its store before its
 * load (Dekker). The second wait makes sure no walk still holds a pointer
 * to r from a slot read before the clearing.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>

#include <dmakit/region.h>

#include "../core/error_priv.h"
#include "space_priv.h"

static void list_add(struct dmk_space *sp, struct dmk_region *r)
{
	r->prev = NULL;
	r->next = sp->regions;
	if (sp->regions)
		sp->regions->prev = r;
	sp->regions = r;
	sp->nregions++;
}

static void list_del(struct dmk_space *sp, struct dmk_region *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		sp->regions = r->next;
	if (r->next)
		r->next->prev = r->prev;
	sp->nregions--;
}

/* An existing registration containing [va, va + len) with @prot, as
 * @foreign as asked, or NULL. */
static struct dmk_region *find_container(struct dmk_space *sp, uintptr_t va, size_t len,
					 unsigned prot, bool foreign)
{
	struct dmk_region *r;
	uint64_t dev;

	if (!dmki_radix_lookup(&sp->radix, va, &dev, &r))
		return NULL;
	if (r && va >= r->va && va + len <= r->va + r->len && (r->prot & prot) == prot &&
	    r->foreign == foreign)
		return r;
	/*
	 * The page translates through an older registration that does not
	 * hold the range; a younger one sharing the page may. Only ranges on
	 * pages shared by registrations get here: others never search.
	 */
	for (r = sp->regions; r; r = r->next)
		if (va >= r->va && va + len <= r->va + r->len && (r->prot & prot) == prot &&
		    r->foreign == foreign)
			return r;
	return NULL;
}

/* True when some page of [va, va + len) already translates. */
static bool range_has_slots(struct dmk_space *sp, uintptr_t va, size_t len)
{
	uint64_t dev;

	for (uintptr_t p = va; p < va + len; p += DMK_HOST_PAGE)
		if (dmki_radix_lookup(&sp->radix, p, &dev, NULL))
			return true;
	return false;
}

/* Mark as overlapping every live region that shares pages with @r. */
static void mark_overlaps(struct dmk_space *sp, struct dmk_region *r)
{
	for (struct dmk_region *o = sp->regions; o; o = o->next) {
		if (o != r && o->pva < r->pva + r->plen && r->pva < o->pva + o->plen) {
			o->overlaps = true;
			r->overlaps = true;
		}
	}
}

static int region_register(struct dmk_space *sp, void *va, size_t len, unsigned prot,
			   bool foreign, struct dmk_region **out)
{
	uintptr_t start = (uintptr_t)va;
	struct dmk_region *r;
	int err;

	if (!sp || !out)
		return dmki_fail(-EINVAL, "no space or no place for the registration");
	if (!len)
		return dmki_fail(-EINVAL, "cannot register 0 bytes at %p", va);
	if (!prot || (prot & ~DMK_PROT_RW))
		return dmki_fail(-EINVAL, "protection %#x is not DMK_PROT_READ and/or DMK_PROT_WRITE", prot);
	if (start + len < start || ((start + len - 1) >> DMK_VA_BITS))
		return dmki_fail(-EINVAL, "range %p + %zu wraps or leaves the 48-bit user address space",
				 va, len);

	pthread_mutex_lock(&sp->lock);
	r = find_container(sp, start, len, prot, foreign);
	if (r) {
		r->refs++;
		pthread_mutex_unlock(&sp->lock);
		*out = r;
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&sp->lock);
		return dmki_fail(-ENOMEM, "out of memory for a registration");
	}
	r->space = sp;
	r->va = start;
	r->len = len;
	r->pva = align_down(start, DMK_HOST_PAGE);
	r->plen = align_up(start + len, DMK_HOST_PAGE) - r->pva;
	r->prot = prot;
	r->foreign = foreign;
	r->refs = 1;
	atomic_init(&r->state, DMK_REGION_LIVE);
	err = sp->ops->map(sp, r);
	if (err) {
		pthread_mutex_unlock(&sp->lock);
		free(r);
		return err;
	}
	if (range_has_slots(sp, r->pva, r->plen)) {
		list_add(sp, r);
		mark_overlaps(sp, r);
	} else {
		list_add(sp, r);
	}
	if (dmki_radix_fill(&sp->radix, r, r->pva, r->plen)) {
		dmki_radix_clear(&sp->radix, r, r->pva, r->plen);
		list_del(sp, r);
		dmki_writer_barrier(sp);
		sp->ops->unmap(sp, r);
		pthread_mutex_unlock(&sp->lock);
		free(r->pages);
		free(r);
		return dmki_fail(-ENOMEM, "out of memory for the translation table of %p + %zu", va, len);
	}
	pthread_mutex_unlock(&sp->lock);
	*out = r;
	return 0;
}

int dmk_region_register(struct dmk_space *sp, void *va, size_t len, unsigned prot,
			struct dmk_region **out)
{
	return region_register(sp, va, len, prot, false, out);
}

int dmki_region_register_foreign(struct dmk_space *sp, void *va, size_t len, unsigned prot,
				 struct dmk_region **out)
{
	return region_register(sp, va, len, prot, true, out);
}

static bool held_by_a_command(struct dmk_space *sp, const struct dmk_region *r)
{
	for (struct dmki_hold *h = sp->holds; h; h = h->next) {
		unsigned n = atomic_load_explicit(&h->n, memory_order_acquire);

		for (unsigned i = 0; i < n && i < DMKI_HOLD_MAX; i++)
			if (atomic_load_explicit(&h->region[i], memory_order_relaxed) == r)
				return true;
	}
	return false;
}

/* Wait until every radix walk that was under way has finished. */
static void wait_for_walks(struct dmk_space *sp)
{
	for (struct dmki_hold *h = sp->holds; h; h = h->next) {
		unsigned seq = atomic_load_explicit(&h->seq, memory_order_acquire);

		if (!(seq & 1))
			continue;
		while (atomic_load_explicit(&h->seq, memory_order_acquire) == seq)
			sched_yield();
	}
}

int dmk_region_unregister(struct dmk_region *r)
{
	struct dmk_space *sp;

	if (!r)
		return dmki_fail(-EINVAL, "no registration given");
	sp = r->space;
	pthread_mutex_lock(&sp->lock);
	if (r->refs > 1) {
		r->refs--;
		pthread_mutex_unlock(&sp->lock);
		return 0;
	}
	/* Before the barrier: a command's cached region hint dies here. */
	atomic_store_explicit(&sp->unregs, atomic_load_explicit(&sp->unregs, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&r->state, DMK_REGION_DYING, memory_order_relaxed);
	dmki_writer_barrier(sp);
	if (held_by_a_command(sp, r)) {
		atomic_store_explicit(&r->state, DMK_REGION_LIVE, memory_order_relaxed);
		pthread_mutex_unlock(&sp->lock);
		return dmki_fail(-EBUSY, "registration %#" PRIxPTR " + %zu is used by a prepared DMA command",
				 r->va, r->len);
	}
	list_del(sp, r);
	if (r->overlaps) {
		/*
		 * Pages r translated may still be registered by others: hand
		 * them over slot by slot before clearing, so that they never
		 * stop translating. Out of memory for a table leaves pages
		 * untranslated after the clearing, and the fill below retries;
		 * a prepare meanwhile fails with -EFAULT, which is safe where a
		 * wrong translation would not be.
		 */
		for (struct dmk_region *o = sp->regions; o; o = o->next) {
			uintptr_t lo = max_u64(o->pva, r->pva);
			uintptr_t hi = min_u64(o->pva + o->plen, r->pva + r->plen);

			if (lo < hi)
				(void)dmki_radix_replace(&sp->radix, r, o, lo, hi - lo);
		}
	}
	dmki_radix_clear(&sp->radix, r, r->pva, r->plen);
	if (r->overlaps) {
		for (struct dmk_region *o = sp->regions; o; o = o->next) {
			uintptr_t lo = max_u64(o->pva, r->pva);
			uintptr_t hi = min_u64(o->pva + o->plen, r->pva + r->plen);

			if (lo < hi)
				(void)dmki_radix_fill(&sp->radix, o, lo, hi - lo);
		}
	}
	dmki_writer_barrier(sp);
	wait_for_walks(sp);
	sp->ops->unmap(sp, r);
	pthread_mutex_unlock(&sp->lock);
	free(r->pages);
	free(r);
	return 0;
}

int dmk_region_info(const struct dmk_region *r, struct dmk_region_info *info)
{
	if (!r || !info)
		return dmki_fail(-EINVAL, "no registration or no place for its description");
	info->va = (void *)r->va;
	info->len = r->len;
	info->pinned_va = (void *)r->pva;
	info->pinned_len = r->plen;
	info->dev_runs = r->dev_runs;
	info->refs = r->refs;
	info->prot = r->prot;
	return 0;
}
