/* SPDX-License-Identifier: MIT */
/*
 * Internal: the VA -> device address radix of a space.
 *
 * Three levels over the 48-bit user address space: L1 by VA[47:30] (1 GiB),
 * L2 by VA[29:21] (2 MiB granules), L3 by VA[20:12] (4 KiB pages). An L2
 * slot either translates its whole granule (a registration covering it with
 * contiguous device addresses: a huge page, or any IOMMU mapping) or points
 * at an L3 table. Each slot holds the device address of its first byte and
 * the region that provides it, so a lookup touches two or three cache lines
 * and never the region itself.
 *
 * Readers take no lock: slots are written with atomic stores and tables are
 * only freed with the space. Writers are serialised by the space's lock.
 */
#ifndef DMK_RADIX_H
#define DMK_RADIX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define DMK_VA_BITS 48
#define DMK_L1_SHIFT 30
#define DMK_L2_SHIFT 21
#define DMK_L3_SHIFT 12
#define DMK_L1_ENTRIES (1u << (DMK_VA_BITS - DMK_L1_SHIFT))
#define DMK_L2_ENTRIES (1u << (DMK_L1_SHIFT - DMK_L2_SHIFT))
#define DMK_L3_ENTRIES (1u << (DMK_L2_SHIFT - DMK_L3_SHIFT))
#define DMK_GRANULE ((uint64_t)1 << DMK_L2_SHIFT)

/* Low bits of a slot's word: device addresses are page aligned. */
#define DMK_SLOT_VALID 1ull
#define DMK_SLOT_TABLE 2ull /* L2 only: the word is an L3 table pointer */
#define DMK_SLOT_FLAGS 0xfffull

struct dmk_region;

/*
 * A table of 512 slots. Words and regions are kept apart so that a plain
 * lookup, which reads only words, touches half the cache lines.
 */
struct dmk_radix_table {
	_Atomic uint64_t word[DMK_L2_ENTRIES];			/* device address | flags, or table */
	_Atomic(struct dmk_region *) region[DMK_L2_ENTRIES];	/* provider of the translation */
};

struct dmk_radix {
	_Atomic(struct dmk_radix_table *) *l1;		/* DMK_L1_ENTRIES */
};

int dmki_radix_init(struct dmk_radix *rx);
void dmki_radix_fini(struct dmk_radix *rx);

/*
 * Make every page of [va, va + len) (page aligned) that has no translation
 * translate through @r. Returns 0 or -ENOMEM (slots filled so far stay).
 */
int dmki_radix_fill(struct dmk_radix *rx, struct dmk_region *r, uintptr_t va, uint64_t len);

/*
 * Make the pages of [va, va + len) that translate through @old translate
 * through @r instead, each slot changing in one step so that a reader never
 * finds them untranslated. Returns 0 or -ENOMEM (pages not handed over keep
 * @old's translation).
 */
int dmki_radix_replace(struct dmk_radix *rx, const struct dmk_region *old, struct dmk_region *r,
		       uintptr_t va, uint64_t len);

/* Forget every translation of [va, va + len) that goes through @r. */
void dmki_radix_clear(struct dmk_radix *rx, const struct dmk_region *r, uintptr_t va,
		      uint64_t len);

/*
 * Translate @va: true, with *@dev its device address and, when @region is
 * not NULL, *@region the registration that provides it; false when no
 * registered page holds @va.
 */
static inline bool dmki_radix_lookup(const struct dmk_radix *rx, uintptr_t va, uint64_t *dev,
				     struct dmk_region **region)
{
	const struct dmk_radix_table *t;
	unsigned i;
	uint64_t w;

	if (__builtin_expect(va >> DMK_VA_BITS, 0))
		return false;
	t = atomic_load_explicit(&rx->l1[va >> DMK_L1_SHIFT], memory_order_acquire);
	if (__builtin_expect(!t, 0))
		return false;
	i = (va >> DMK_L2_SHIFT) & (DMK_L2_ENTRIES - 1);
	w = atomic_load_explicit(&t->word[i], memory_order_acquire);
	if (w & DMK_SLOT_TABLE) {
		t = (const struct dmk_radix_table *)(uintptr_t)(w & ~DMK_SLOT_FLAGS);
		i = (va >> DMK_L3_SHIFT) & (DMK_L3_ENTRIES - 1);
		w = atomic_load_explicit(&t->word[i], memory_order_acquire);
		if (__builtin_expect(!(w & DMK_SLOT_VALID), 0))
			return false;
		*dev = (w & ~DMK_SLOT_FLAGS) + (va & ((1u << DMK_L3_SHIFT) - 1));
	} else {
		if (__builtin_expect(!(w & DMK_SLOT_VALID), 0))
			return false;
		*dev = (w & ~DMK_SLOT_FLAGS) + (va & (DMK_GRANULE - 1));
	}
	if (region)
		*region = atomic_load_explicit(&t->region[i], memory_order_acquire);
	return true;
}

#endif
