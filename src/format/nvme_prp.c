/* SPDX-License-Identifier: MIT */
/*
 * NVMe PRP writer: PRP1, PRP2 and chained PRP lists from prepared segments.
 *
 * The transfer is seen as one stream of page entries: PRP1 (the only one
 * that may carry an offset) followed by one page-aligned entry per further
 * page. Two entries fit in the command; more go to list pages, PRP2
 * pointing at the first. A full list page whose stream goes on gives its
 * last slot to a pointer at the next list page.
 *
 * This runs for every I/O, so the one- and two-page cases return straight
 * after the checks, and a segment spanning many pages is written as an
 * arithmetic run in a loop the compiler turns into vector stores.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <dmakit/nvme_fmt.h>

#include "core/bits.h"
#include "core/error_priv.h"
#include "dma/dma_priv.h"

/* NVMe: PRP1's offset must be dword aligned (bits 1:0 clear). */
#define DMKI_PRP_OFFSET_ALIGN 4u

/* CC.MPS: 2^(12 + MPS), MPS a 4-bit field. */
#define DMKI_PRP_PAGE_MIN ((uint64_t)1 << 12)
#define DMKI_PRP_PAGE_MAX ((uint64_t)1 << 27)

/* Pages the bytes [addr, addr + len) touch; len > 0 and the range does not wrap. */
static inline uint64_t dmki_prp_seg_pages(const struct dmk_seg *s, unsigned int shift)
{
	return ((s->addr + (s->len - 1)) >> shift) - (s->addr >> shift) + 1;
}

/*
 * List pages for @entries list entries, @per slots a page: every page but
 * the last gives one slot to the pointer at the next, and a pointer is
 * only needed when more than one entry is left for the last slot.
 */
static inline uint64_t dmki_prp_list_pages(uint64_t entries, uint64_t per)
{
	if (entries <= per)
		return 1;
	return 1 + (entries - per + (per - 2)) / (per - 1);
}

/*
 * Write @n entries base, base + step, ... little-endian. GCC 12 at -O2
 * vectorises only loops with a known trip count (the "very cheap" cost
 * model), so on little-endian hosts the two-lane vectors are spelled out;
 * the scalar tail (and big-endian hosts) take the plain loop.
 */
static inline void dmki_prp_run(uint64_t *e, uint64_t base, uint64_t step, uint64_t n)
{
	uint64_t i = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	typedef uint64_t dmki_v2u64 __attribute__((vector_size(16)));
	dmki_v2u64 a = { base, base + step };
	dmki_v2u64 b = { base + 2 * step, base + 3 * step };
	const dmki_v2u64 inc = { 4 * step, 4 * step };

	for (; i + 4 <= n; i += 4) {
		/* memcpy: list pages are only promised 8-byte alignment */
		memcpy(e + i, &a, sizeof(a));
		memcpy(e + i + 2, &b, sizeof(b));
		a += inc;
		b += inc;
	}
#endif
	for (; i < n; i++)
		e[i] = htole64(base + i * step);
}

/* Where the list stream is being written. */
struct dmki_prp_list {
	const struct dmk_list_page *pages;
	size_t last;		/* index of the final list page */
	size_t p;		/* index of the page being written */
	uint64_t *e;		/* its next free slot */
	uint64_t room;		/* entry slots left in it, pointer slot excluded */
	uint64_t per;		/* slots in a page */
};

static inline void dmki_prp_emit(struct dmki_prp_list *l, uint64_t base, uint64_t step,
				 uint64_t n)
{
	while (n) {
		uint64_t k;

		if (!l->room) {
			/*
			 * Page full and entries left, so this is not the final
			 * page (the page count was sized for exactly this
			 * stream): its last slot chains to the next.
			 */
			*l->e = htole64(l->pages[l->p + 1].dev);
			l->p++;
			l->e = l->pages[l->p].va;
			l->room = l->p == l->last ? l->per : l->per - 1;
		}
		k = min_u64(n, l->room);
		dmki_prp_run(l->e, base, step, k);
		l->e += k;
		l->room -= k;
		base += k * step;
		n -= k;
	}
}

static uint64_t dmki_prp_entries(const struct dmk_seg *segs, size_t nsegs, unsigned int shift)
{
	uint64_t total = 0;

	for (size_t i = 0; i < nsegs; i++)
		total += dmki_prp_seg_pages(&segs[i], shift);
	return total;
}

static inline bool dmki_prp_page_size_ok(uint64_t page_size)
{
	return is_pow2(page_size) && page_size >= DMKI_PRP_PAGE_MIN &&
	       page_size <= DMKI_PRP_PAGE_MAX;
}

size_t dmk_nvme_prp_pages_needed(const struct dmk_seg *segs, size_t nsegs, uint64_t page_size)
{
	unsigned int shift;
	uint64_t total;

	/* Nothing a write would accept needs pages here; it will say why. */
	if (!nsegs || !dmki_prp_page_size_ok(page_size))
		return 0;
	for (size_t i = 0; i < nsegs; i++)
		if (!segs[i].len || segs[i].len - 1 > UINT64_MAX - segs[i].addr)
			return 0;
	shift = (unsigned int)__builtin_ctzll(page_size);
	total = dmki_prp_entries(segs, nsegs, shift);
	if (total <= 2)
		return 0;
	return (size_t)dmki_prp_list_pages(total - 1, page_size / sizeof(uint64_t));
}

/*
 * Every PRP rule on every segment, with the reason for the first broken one.
 * The writer's own pass checks the same rules with fewer branches and calls
 * this only to say which rule failed.
 */
static __attribute__((cold, noinline)) int dmki_prp_check(const struct dmk_seg *segs, size_t nsegs,
							   unsigned int shift)
{
	const uint64_t page_size = UINT64_C(1) << shift, mask = page_size - 1;
	uint64_t total = 0;

	for (size_t i = 0; i < nsegs; i++) {
		const struct dmk_seg *s = &segs[i];

		if (unlikely(!s->len))
			return dmki_fail(-EINVAL, "segment %zu at %#llx has length 0", i,
					 (unsigned long long)s->addr);
		if (unlikely(s->len - 1 > UINT64_MAX - s->addr))
			return dmki_fail(-EINVAL, "segment %zu at %#llx, %#llx bytes, wraps the address space",
					 i, (unsigned long long)s->addr,
					 (unsigned long long)s->len);
		if (i == 0) {
			if (unlikely(s->addr & (DMKI_PRP_OFFSET_ALIGN - 1)))
				return dmki_fail(-EINVAL, "segment 0 at %#llx: PRP1 offset is not a multiple of 4",
						 (unsigned long long)s->addr);
		} else if (unlikely(s->addr & mask)) {
			return dmki_fail(-EINVAL, "segment %zu at %#llx does not start on a %#llx-byte page",
					 i, (unsigned long long)s->addr,
					 (unsigned long long)page_size);
		}
		/* addr + len may be 2^64 and wrap to 0, which is page-aligned */
		if (unlikely(i + 1 < nsegs && ((s->addr + s->len) & mask)))
			return dmki_fail(-EINVAL, "segment %zu at %#llx, %#llx bytes, does not end on a %#llx-byte page and is not the last",
					 i, (unsigned long long)s->addr,
					 (unsigned long long)s->len,
					 (unsigned long long)page_size);
		total += dmki_prp_seg_pages(s, shift);
	}
	(void)total;

	return dmki_fail(-EPROTO, "internal: PRP segments refused without a reason");
}

/*
 * The writer, inlined twice: once with the page shift a constant (4 KiB,
 * what every controller supports and drivers use), so that the per-segment
 * arithmetic has no variable shifts, and once for any page size.
 */
static inline __attribute__((always_inline)) int
dmki_prp_write(const struct dmk_seg *segs, size_t nsegs, unsigned int shift,
	       const struct dmk_list_page *pages, size_t npages, uint64_t prp[2],
	       size_t *pages_used, bool trusted)
{
	const uint64_t page_size = UINT64_C(1) << shift, mask = page_size - 1;
	struct dmki_prp_list l;
	uint64_t total = 0, first, need;

	const struct dmk_seg *s0 = &segs[0], *sl = &segs[nsegs - 1];

	if (trusted) {
		/* Segments of a command prepared under PRP's rules: only count. */
		total = dmki_prp_seg_pages(s0, shift);
		for (size_t i = 1; i + 1 < nsegs; i++)
			total += segs[i].len >> shift;
		if (nsegs > 1)
			total += dmki_prp_seg_pages(sl, shift);
		goto checked;
	}

	/*
	 * The rules in few branches (dmki_prp_check() names a broken one):
	 * the first segment dword aligned, every segment non-empty and not
	 * wrapping (a segment may end exactly at 2^64), every segment after the
	 * first page aligned at its start, every one before the last at its
	 * end. Middle segments are whole pages, so their count is a shift.
	 */
	if (unlikely(!s0->len || s0->len - 1 > UINT64_MAX - s0->addr ||
		     (s0->addr & (DMKI_PRP_OFFSET_ALIGN - 1)) ||
		     (nsegs > 1 && ((s0->addr + s0->len) & mask))))
		return dmki_prp_check(segs, nsegs, shift);
	total = dmki_prp_seg_pages(s0, shift);
	for (size_t i = 1; i + 1 < nsegs; i++) {
		/*
		 * Address and length on pages puts the end on one; by length,
		 * not end address, since a segment may end at 2^64 (which wraps
		 * to 0) with more after it elsewhere.
		 */
		uint64_t a = segs[i].addr, n = segs[i].len;

		if (unlikely(((a | n) & mask) || !n || n - 1 > UINT64_MAX - a))
			return dmki_prp_check(segs, nsegs, shift);
		total += n >> shift;
	}
	if (nsegs > 1) {
		if (unlikely(!sl->len || sl->len - 1 > UINT64_MAX - sl->addr || (sl->addr & mask)))
			return dmki_prp_check(segs, nsegs, shift);
		total += dmki_prp_seg_pages(sl, shift);
	}

checked:
	if (likely(total == 1)) {
		prp[0] = segs[0].addr;
		prp[1] = 0;
		*pages_used = 0;
		return 0;
	}

	/* The second page: the first segment's next page, or the second segment. */
	first = dmki_prp_seg_pages(&segs[0], shift);
	if (total == 2) {
		prp[0] = segs[0].addr;
		prp[1] = first > 1 ? align_down(segs[0].addr, page_size) + page_size : segs[1].addr;
		*pages_used = 0;
		return 0;
	}

	l.per = page_size / sizeof(uint64_t);
	need = dmki_prp_list_pages(total - 1, l.per);
	if (unlikely(need > npages))
		return dmki_fail(-ENOSPC, "PRP list of %llu entries needs %llu pages, %zu given",
				 (unsigned long long)(total - 1), (unsigned long long)need,
				 npages);
	for (size_t p = 0; p < need; p++)
		if (unlikely(pages[p].dev & mask))
			return dmki_fail(-EINVAL, "PRP list page %zu at %#llx is not aligned to the %#llx-byte page",
					 p, (unsigned long long)pages[p].dev,
					 (unsigned long long)page_size);

	l.pages = pages;
	l.last = (size_t)need - 1;
	l.p = 0;
	l.e = pages[0].va;
	l.room = need == 1 ? l.per : l.per - 1;

	dmki_prp_emit(&l, align_down(segs[0].addr, page_size) + page_size, page_size, first - 1);
	for (size_t i = 1; i < nsegs; i++) {
		/* Checked above: all but the last are whole pages. */
		uint64_t n = i + 1 < nsegs ? segs[i].len >> shift : dmki_prp_seg_pages(&segs[i], shift);

		/* Physically scattered memory: one page a segment, one store. */
		if (n == 1 && l.room) {
			*l.e++ = htole64(segs[i].addr);
			l.room--;
			continue;
		}
		dmki_prp_emit(&l, segs[i].addr, page_size, n);
	}

	prp[0] = segs[0].addr;
	prp[1] = pages[0].dev;
	*pages_used = (size_t)need;
	return 0;
}

int dmk_nvme_prp_write(const struct dmk_seg *segs, size_t nsegs, uint64_t page_size,
		       const struct dmk_list_page *pages, size_t npages, uint64_t prp[2],
		       size_t *pages_used)
{
	if (unlikely(!nsegs))
		return dmki_fail(-EINVAL, "PRP write of no segments");
	if (unlikely(!dmki_prp_page_size_ok(page_size)))
		return dmki_fail(-EINVAL, "PRP page size %#llx is not a power of two from 4 KiB to 128 MiB",
				 (unsigned long long)page_size);
	if (likely(page_size == 4096))
		return dmki_prp_write(segs, nsegs, 12, pages, npages, prp, pages_used, false);
	return dmki_prp_write(segs, nsegs, (unsigned int)__builtin_ctzll(page_size), pages, npages,
			      prp, pages_used, false);
}

int dmk_nvme_prp_write_dma(const struct dmk_dma *dma, uint64_t page_size,
			   const struct dmk_list_page *pages, size_t npages, uint64_t prp[2],
			   size_t *pages_used)
{
	const struct dmk_dma_spec *spec;
	const struct dmk_seg *segs;
	size_t nsegs;

	if (unlikely(!dma || !prp || !pages_used))
		return dmki_fail(-EINVAL, "no command, or no place for PRP1/PRP2 or the page count");
	segs = dmk_dma_segs(dma, &nsegs);
	if (unlikely(!nsegs))
		return dmki_fail(-EINVAL, "the DMA command is not prepared");
	spec = dmki_dma_spec(dma);
	if (unlikely(!(spec->flags & DMK_SPEC_PAGE_LIST) || spec->dev_page_size != page_size ||
		     spec->addr_align < DMKI_PRP_OFFSET_ALIGN || !dmki_prp_page_size_ok(page_size)))
		return dmki_fail(-EINVAL, "the command's rules do not guarantee PRP's (page-list rule, a device page of %#llx bytes, dword alignment): use dmk_nvme_prp_write()",
				 (unsigned long long)page_size);
	if (likely(page_size == 4096))
		return dmki_prp_write(segs, nsegs, 12, pages, npages, prp, pages_used, true);
	return dmki_prp_write(segs, nsegs, (unsigned int)__builtin_ctzll(page_size), pages, npages,
			      prp, pages_used, true);
}
