/* SPDX-License-Identifier: MIT */
/*
 * An allocator of device (IO virtual) addresses: see iova.h.
 *
 * The free list is a sorted array. Lookups are binary searches; first fit
 * scans from the bottom, which is what keeps mappings low, under the reach
 * of narrow devices. Registration (pinning and an ioctl) costs far more than
 * moving the array's tail, so an array beats a tree at the sizes VFIO allows
 * (65,535 mappings a container by default).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/bits.h"
#include "iova.h"

void dmki_iova_init(struct dmki_iova *a)
{
	a->free = NULL;
	a->n = 0;
	a->cap = 0;
}

void dmki_iova_fini(struct dmki_iova *a)
{
	free(a->free);
	dmki_iova_init(a);
}

static bool range_ok(uint64_t start, uint64_t size)
{
	return size && !(start & (DMK_HOST_PAGE - 1)) && !(size & (DMK_HOST_PAGE - 1)) &&
	       start <= DMKI_IOVA_MAX_END && size <= DMKI_IOVA_MAX_END - start;
}

/* Index of the first free range whose end lies above @x (n when none). */
static size_t first_above(const struct dmki_iova *a, uint64_t x)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->free[mid].end > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int reserve_one(struct dmki_iova *a)
{
	struct dmki_iova_range *f;
	size_t cap;

	if (a->n < a->cap)
		return 0;
	cap = a->cap ? a->cap * 2 : 16;
	f = realloc(a->free, cap * sizeof(*f));
	if (!f)
		return -ENOMEM;
	a->free = f;
	a->cap = cap;
	return 0;
}

static void insert_at(struct dmki_iova *a, size_t i, uint64_t start, uint64_t end)
{
	memmove(&a->free[i + 1], &a->free[i], (a->n - i) * sizeof(a->free[0]));
	a->free[i].start = start;
	a->free[i].end = end;
	a->n++;
}

static void remove_at(struct dmki_iova *a, size_t i)
{
	memmove(&a->free[i], &a->free[i + 1], (a->n - i - 1) * sizeof(a->free[0]));
	a->n--;
}

/* Carve [start, end) out of free range @i, which contains it. */
static int take(struct dmki_iova *a, size_t i, uint64_t start, uint64_t end)
{
	struct dmki_iova_range *f = &a->free[i];

	if (f->start == start && f->end == end) {
		remove_at(a, i);
	} else if (f->start == start) {
		f->start = end;
	} else if (f->end == end) {
		f->end = start;
	} else {
		uint64_t tail = f->end;

		if (reserve_one(a))
			return -ENOMEM;
		f = &a->free[i];
		f->end = start;
		insert_at(a, i + 1, end, tail);
	}
	return 0;
}

int dmki_iova_free(struct dmki_iova *a, uint64_t start, uint64_t size)
{
	uint64_t end;
	size_t i;
	bool left, right;

	if (!range_ok(start, size))
		return -EINVAL;
	end = start + size;
	i = first_above(a, start);
	if (i < a->n && a->free[i].start < end)
		return -EINVAL;		/* part of it is free already */
	left = i > 0 && a->free[i - 1].end == start;
	right = i < a->n && a->free[i].start == end;
	if (left && right) {
		a->free[i - 1].end = a->free[i].end;
		remove_at(a, i);
	} else if (left) {
		a->free[i - 1].end = end;
	} else if (right) {
		a->free[i].start = start;
	} else {
		if (reserve_one(a))
			return -ENOMEM;
		insert_at(a, i, start, end);
	}
	return 0;
}

bool dmki_iova_is_free(const struct dmki_iova *a, uint64_t start, uint64_t size)
{
	size_t i;

	if (!size || size > UINT64_MAX - start)
		return false;
	i = first_above(a, start);
	return i < a->n && a->free[i].start <= start && a->free[i].end >= start + size;
}

int dmki_iova_alloc_at(struct dmki_iova *a, uint64_t start, uint64_t size)
{
	if (!range_ok(start, size))
		return -EINVAL;
	if (!dmki_iova_is_free(a, start, size))
		return -EBUSY;
	return take(a, first_above(a, start), start, start + size);
}

int dmki_iova_alloc(struct dmki_iova *a, uint64_t size, uint64_t align, uint64_t phase,
		    uint64_t limit, uint64_t *out)
{
	if (!range_ok(0, size) || align < DMK_HOST_PAGE || !is_pow2(align) || phase >= align ||
	    (phase & (DMK_HOST_PAGE - 1)))
		return -EINVAL;

	for (size_t i = 0; i < a->n; i++) {
		const struct dmki_iova_range *f = &a->free[i];
		uint64_t c = align_down(f->start, align) + phase;

		if (f->start >= limit)
			break;
		if (c < f->start) {
			if (c > UINT64_MAX - align)
				break;
			c += align;
		}
		if (c >= f->end || size > f->end - c || size > limit || c > limit - size)
			continue;
		if (take(a, i, c, c + size))
			return -ENOMEM;
		*out = c;
		return 0;
	}
	return -ENOSPC;
}

int dmki_iova_exclude(struct dmki_iova *a, uint64_t start, uint64_t end)
{
	size_t i;

	start = align_down(start, DMK_HOST_PAGE);
	end = end > DMKI_IOVA_MAX_END ? UINT64_MAX : align_up(end, DMK_HOST_PAGE);
	while (start < end && (i = first_above(a, start)) < a->n && a->free[i].start < end) {
		const struct dmki_iova_range *f = &a->free[i];

		if (take(a, i, max_u64(f->start, start), min_u64(f->end, end)))
			return -ENOMEM;
	}
	return 0;
}

uint64_t dmki_iova_free_bytes(const struct dmki_iova *a, uint64_t limit)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < a->n && a->free[i].start < limit; i++)
		sum += min_u64(a->free[i].end, limit) - a->free[i].start;
	return sum;
}
