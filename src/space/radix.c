/* SPDX-License-Identifier: MIT */
/* The VA -> device address radix: writers (lookups are inline in radix.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "radix.h"
#include "space_priv.h"

int dmki_radix_init(struct dmk_radix *rx)
{
	/* 2 MiB of pointers; calloc gets zero pages lazily from the kernel. */
	rx->l1 = calloc(DMK_L1_ENTRIES, sizeof(*rx->l1));
	return rx->l1 ? 0 : -ENOMEM;
}

void dmki_radix_fini(struct dmk_radix *rx)
{
	if (!rx->l1)
		return;
	for (size_t i = 0; i < DMK_L1_ENTRIES; i++) {
		struct dmk_radix_table *t2 = atomic_load_explicit(&rx->l1[i], memory_order_relaxed);

		if (!t2)
			continue;
		for (size_t j = 0; j < DMK_L2_ENTRIES; j++) {
			uint64_t w = atomic_load_explicit(&t2->word[j], memory_order_relaxed);

			if (w & DMK_SLOT_TABLE)
				free((void *)(uintptr_t)(w & ~DMK_SLOT_FLAGS));
		}
		free(t2);
	}
	free(rx->l1);
	rx->l1 = NULL;
}

static struct dmk_radix_table *table_new(void)
{
	/* Aligned so that the low bits of its address are free for flags. */
	struct dmk_radix_table *t = aligned_alloc(4096, sizeof(*t));

	if (t)
		memset(t, 0, sizeof(*t));
	return t;
}

static void slot_set(struct dmk_radix_table *t, unsigned i, uint64_t word, struct dmk_region *r)
{
	/*
	 * Region first: a reader that sees the new word may still pair it with
	 * the old region, which is harmless because the DMA path translates
	 * through the region it records, never through the word.
	 */
	atomic_store_explicit(&t->region[i], r, memory_order_release);
	atomic_store_explicit(&t->word[i], word, memory_order_release);
}

/* True when @r translates the whole granule at @gva contiguously. */
static bool region_spans_granule(const struct dmk_region *r, uintptr_t gva)
{
	uint64_t first;

	if (gva < r->pva || gva + DMK_GRANULE > r->pva + r->plen)
		return false;
	if (r->linear)
		return true;
	first = dmk_region_dev(r, gva);
	if (first & (DMK_GRANULE - 1))
		return false;
	for (uint64_t off = DMK_HOST_PAGE; off < DMK_GRANULE; off += DMK_HOST_PAGE)
		if (dmk_region_dev(r, gva + off) != first + off)
			return false;
	return true;
}

int dmki_radix_fill(struct dmk_radix *rx, struct dmk_region *r, uintptr_t va, uint64_t len)
{
	uintptr_t end = va + len;

	while (va < end) {
		uintptr_t gva = align_down(va, DMK_GRANULE);
		uintptr_t gend = min_u64(gva + DMK_GRANULE, end);
		struct dmk_radix_table *t2, *t3;
		unsigned i2;
		uint64_t w;

		t2 = atomic_load_explicit(&rx->l1[va >> DMK_L1_SHIFT], memory_order_relaxed);
		if (!t2) {
			t2 = table_new();
			if (!t2)
				return -ENOMEM;
			atomic_store_explicit(&rx->l1[va >> DMK_L1_SHIFT], t2, memory_order_release);
		}
		i2 = (va >> DMK_L2_SHIFT) & (DMK_L2_ENTRIES - 1);
		w = atomic_load_explicit(&t2->word[i2], memory_order_relaxed);
		if (w & DMK_SLOT_VALID) {
			/* An older registration translates the whole granule. */
			va = gend;
			continue;
		}
		if (!(w & DMK_SLOT_TABLE)) {
			if (va == gva && gend == gva + DMK_GRANULE && region_spans_granule(r, gva)) {
				slot_set(t2, i2, dmk_region_dev(r, gva) | DMK_SLOT_VALID, r);
				va = gend;
				continue;
			}
			t3 = table_new();
			if (!t3)
				return -ENOMEM;
			slot_set(t2, i2, (uint64_t)(uintptr_t)t3 | DMK_SLOT_TABLE, NULL);
		} else {
			t3 = (struct dmk_radix_table *)(uintptr_t)(w & ~DMK_SLOT_FLAGS);
		}
		for (; va < gend; va += DMK_HOST_PAGE) {
			unsigned i3 = (va >> DMK_L3_SHIFT) & (DMK_L3_ENTRIES - 1);

			if (atomic_load_explicit(&t3->word[i3], memory_order_relaxed) & DMK_SLOT_VALID)
				continue;
			slot_set(t3, i3, dmk_region_dev(r, va) | DMK_SLOT_VALID, r);
		}
	}
	return 0;
}

static void slot_clear_if(struct dmk_radix_table *t, unsigned i, const struct dmk_region *r)
{
	if (atomic_load_explicit(&t->region[i], memory_order_relaxed) != r)
		return;
	atomic_store_explicit(&t->word[i], 0, memory_order_release);
	atomic_store_explicit(&t->region[i], NULL, memory_order_release);
}

void dmki_radix_clear(struct dmk_radix *rx, const struct dmk_region *r, uintptr_t va,
		      uint64_t len)
{
	uintptr_t end = va + len;

	while (va < end) {
		uintptr_t gend = min_u64(align_down(va, DMK_GRANULE) + DMK_GRANULE, end);
		struct dmk_radix_table *t2, *t3;
		unsigned i2;
		uint64_t w;

		t2 = atomic_load_explicit(&rx->l1[va >> DMK_L1_SHIFT], memory_order_relaxed);
		if (!t2) {
			va = gend;
			continue;
		}
		i2 = (va >> DMK_L2_SHIFT) & (DMK_L2_ENTRIES - 1);
		w = atomic_load_explicit(&t2->word[i2], memory_order_relaxed);
		if (!(w & DMK_SLOT_TABLE)) {
			slot_clear_if(t2, i2, r);
			va = gend;
			continue;
		}
		t3 = (struct dmk_radix_table *)(uintptr_t)(w & ~DMK_SLOT_FLAGS);
		for (; va < gend; va += DMK_HOST_PAGE)
			slot_clear_if(t3, (va >> DMK_L3_SHIFT) & (DMK_L3_ENTRIES - 1), r);
	}
}

/*
 * Split a granule slot of @old into an L3 table with the same translations,
 * so that single pages can change hands without a moment untranslated.
 */
static struct dmk_radix_table *split_granule(struct dmk_radix_table *t2, unsigned i2,
					     struct dmk_region *old)
{
	uint64_t base = atomic_load_explicit(&t2->word[i2], memory_order_relaxed) & ~DMK_SLOT_FLAGS;
	struct dmk_radix_table *t3 = table_new();

	if (!t3)
		return NULL;
	for (unsigned i = 0; i < DMK_L3_ENTRIES; i++) {
		atomic_init(&t3->word[i], (base + ((uint64_t)i << DMK_L3_SHIFT)) | DMK_SLOT_VALID);
		atomic_init(&t3->region[i], old);
	}
	slot_set(t2, i2, (uint64_t)(uintptr_t)t3 | DMK_SLOT_TABLE, NULL);
	return t3;
}

int dmki_radix_replace(struct dmk_radix *rx, const struct dmk_region *old, struct dmk_region *r,
		       uintptr_t va, uint64_t len)
{
	uintptr_t end = va + len;

	while (va < end) {
		uintptr_t gva = align_down(va, DMK_GRANULE);
		uintptr_t gend = min_u64(gva + DMK_GRANULE, end);
		struct dmk_radix_table *t2, *t3;
		unsigned i2;
		uint64_t w;

		t2 = atomic_load_explicit(&rx->l1[va >> DMK_L1_SHIFT], memory_order_relaxed);
		if (!t2) {
			va = gend;
			continue;
		}
		i2 = (va >> DMK_L2_SHIFT) & (DMK_L2_ENTRIES - 1);
		w = atomic_load_explicit(&t2->word[i2], memory_order_relaxed);
		if (!(w & DMK_SLOT_TABLE)) {
			if (!(w & DMK_SLOT_VALID) ||
			    atomic_load_explicit(&t2->region[i2], memory_order_relaxed) != old) {
				va = gend;
				continue;
			}
			if (va == gva && gend == gva + DMK_GRANULE && region_spans_granule(r, gva)) {
				slot_set(t2, i2, dmk_region_dev(r, gva) | DMK_SLOT_VALID, r);
				va = gend;
				continue;
			}
			t3 = split_granule(t2, i2, (struct dmk_region *)old);
			if (!t3)
				return -ENOMEM;
		} else {
			t3 = (struct dmk_radix_table *)(uintptr_t)(w & ~DMK_SLOT_FLAGS);
		}
		for (; va < gend; va += DMK_HOST_PAGE) {
			unsigned i3 = (va >> DMK_L3_SHIFT) & (DMK_L3_ENTRIES - 1);

			if (atomic_load_explicit(&t3->region[i3], memory_order_relaxed) == old)
				slot_set(t3, i3, dmk_region_dev(r, va) | DMK_SLOT_VALID, r);
		}
	}
	return 0;
}
