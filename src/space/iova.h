/* SPDX-License-Identifier: MIT */
/*
 * Internal: an allocator of device (IO virtual) addresses.
 *
 * It keeps the free parts of the address space as a sorted array of
 * disjoint, non-touching [start, end) ranges, page aligned. Allocation is
 * first fit from the bottom, under a limit (a device's reach) and with an
 * alignment and phase (so that a region can keep its host address's offset
 * inside a 2 MiB superpage). No locking: the owner serialises.
 */
#ifndef DMK_IOVA_H
#define DMK_IOVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ends are exclusive; the highest usable end is the last page boundary. */
#define DMKI_IOVA_MAX_END (UINT64_MAX & ~(uint64_t)0xfff)

struct dmki_iova_range {
	uint64_t start;
	uint64_t end;	/* exclusive */
};

struct dmki_iova {
	struct dmki_iova_range *free;	/* sorted, disjoint, never touching */
	size_t n;
	size_t cap;
};

void dmki_iova_init(struct dmki_iova *a);
void dmki_iova_fini(struct dmki_iova *a);

/*
 * dmki_iova_free() - give [@start, @start + @size) back (or add it first)
 *
 * The range must be page aligned and must not overlap free space (a double
 * free is -EINVAL, nothing changes). Touching free ranges are merged.
 * Return: 0, -EINVAL, -ENOMEM.
 */
int dmki_iova_free(struct dmki_iova *a, uint64_t start, uint64_t size);

/*
 * dmki_iova_alloc() - take the lowest free range that fits
 * @size: bytes, a multiple of 4 KiB, more than 0.
 * @align: a power of two, at least 4 KiB.
 * @phase: the result is congruent to @phase modulo @align (@phase < @align,
 *	page aligned); 0 for plain alignment.
 * @limit: the whole range must end at or below @limit (exclusive).
 * Return: 0 with *@out set; -ENOSPC when nothing fits; -EINVAL; -ENOMEM.
 */
int dmki_iova_alloc(struct dmki_iova *a, uint64_t size, uint64_t align, uint64_t phase,
		    uint64_t limit, uint64_t *out);

/*
 * dmki_iova_alloc_at() - take exactly [@start, @start + @size) if all free
 * Return: 0; -EBUSY when any of it is not free; -EINVAL; -ENOMEM.
 */
int dmki_iova_alloc_at(struct dmki_iova *a, uint64_t start, uint64_t size);

/*
 * dmki_iova_exclude() - make [@start, @end) unavailable wherever it is free
 *
 * For address ranges the kernel stops offering (a device joining with
 * reserved regions). @start and @end need no alignment: the pages they
 * touch are excluded. Allocated parts stay allocated.
 * Return: 0; -ENOMEM (then part may be excluded).
 */
int dmki_iova_exclude(struct dmki_iova *a, uint64_t start, uint64_t end);

/* Whether every byte of [@start, @start + @size) is free. */
bool dmki_iova_is_free(const struct dmki_iova *a, uint64_t start, uint64_t size);

/* Free bytes below @limit. */
uint64_t dmki_iova_free_bytes(const struct dmki_iova *a, uint64_t limit);

#endif
