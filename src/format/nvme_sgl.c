/* SPDX-License-Identifier: MIT */
/*
 * NVMe SGL writer: SGL1 and chained SGL segments from prepared segments.
 *
 * One segment goes in SGL1 as a data block. More go as data blocks into list
 * pages (SGL segments): SGL1 points at the first with a Last Segment
 * descriptor when one page holds them all, else with a Segment descriptor;
 * a full page whose list goes on ends with a descriptor pointing at the next
 * page, of type Last Segment when that page is the final one. A pointer's
 * length is the bytes of descriptors used in the page it points at.
 *
 * That is what QEMU's nvme_map_sgl() walks: a segment whose last descriptor
 * is a data block ends the list, a Last Segment may not point further, and
 * each segment must map at least one data block before chaining on.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <dmakit/nvme_fmt.h>

#include "core/bits.h"
#include "core/error_priv.h"

#define DMKI_SGL_DESC 16u
/* Two slots at least, so a page that chains on still carries a data block. */
#define DMKI_SGL_LIST_MIN (2 * DMKI_SGL_DESC)
/* Data block and segment lengths are 32-bit. */
#define DMKI_SGL_LEN_MAX UINT32_MAX

/*
 * Bytes 0-7 address, 8-11 length, 12-14 reserved, 15 type << 4 | subtype
 * (subtype 0: address). The second little-endian qword is therefore the
 * length with the type byte on top, so a descriptor is two 8-byte stores.
 */
static inline void dmki_sgl_desc(void *dst, uint64_t addr, uint64_t len, unsigned int type)
{
	const uint64_t q[2] = {
		htole64(addr),
		htole64(len | (uint64_t)(type << 4) << 56),
	};

	memcpy(dst, q, sizeof(q));
}

static inline bool dmki_sgl_list_size_ok(size_t list_size)
{
	return list_size >= DMKI_SGL_LIST_MIN && !(list_size % DMKI_SGL_DESC) &&
	       list_size <= DMKI_SGL_LEN_MAX;
}

/*
 * Pages for @nsegs data blocks, @per slots a page: every page but the last
 * gives one slot to the pointer at the next, and a pointer is only needed
 * when more than one descriptor is left for the last slot.
 */
static inline size_t dmki_sgl_list_pages(size_t nsegs, size_t per)
{
	if (nsegs <= per)
		return 1;
	return 1 + (nsegs - per + (per - 2)) / (per - 1);
}

size_t dmk_nvme_sgl_pages_needed(size_t nsegs, size_t list_size)
{
	/* A bad list size needs nothing here; the write will say why. */
	if (nsegs <= 1 || !dmki_sgl_list_size_ok(list_size))
		return 0;
	return dmki_sgl_list_pages(nsegs, list_size / DMKI_SGL_DESC);
}

int dmk_nvme_sgl_write(const struct dmk_seg *segs, size_t nsegs, size_t list_size,
		       const struct dmk_list_page *pages, size_t npages, uint8_t sgl1[16],
		       size_t *pages_used)
{
	size_t per, need, done;

	if (unlikely(!nsegs))
		return dmki_fail(-EINVAL, "SGL write of no segments");
	if (unlikely(!dmki_sgl_list_size_ok(list_size)))
		return dmki_fail(-EINVAL, "SGL list size %zu is not a multiple of 16 from 32 to 4 GiB - 16",
				 list_size);
	for (size_t i = 0; i < nsegs; i++) {
		const struct dmk_seg *s = &segs[i];

		if (unlikely(!s->len || s->len > DMKI_SGL_LEN_MAX))
			return dmki_fail(-EINVAL, "segment %zu at %#llx has length %#llx, not 1 to 4 GiB - 1",
					 i, (unsigned long long)s->addr,
					 (unsigned long long)s->len);
		/*
		 * QEMU refuses a data block whose end does not fit in 64 bits,
		 * one that ends exactly at 2^64 too (UINT64_MAX - addr < len).
		 */
		if (unlikely(s->len > UINT64_MAX - s->addr))
			return dmki_fail(-EINVAL, "segment %zu at %#llx, %#llx bytes, ends at or past 2^64: a data block's end address must fit in 64 bits",
					 i, (unsigned long long)s->addr,
					 (unsigned long long)s->len);
	}

	if (likely(nsegs == 1)) {
		dmki_sgl_desc(sgl1, segs[0].addr, segs[0].len, DMK_NVME_SGL_DATA_BLOCK);
		*pages_used = 0;
		return 0;
	}

	per = list_size / DMKI_SGL_DESC;
	need = dmki_sgl_list_pages(nsegs, per);
	if (unlikely(need > npages))
		return dmki_fail(-ENOSPC, "SGL of %zu data blocks in %zu-byte segments needs %zu pages, %zu given",
				 nsegs, list_size, need, npages);
	for (size_t p = 0; p < need; p++)
		if (unlikely(pages[p].dev & (DMKI_SGL_DESC - 1)))
			return dmki_fail(-EINVAL, "SGL list page %zu at %#llx is not 16-byte aligned",
					 p, (unsigned long long)pages[p].dev);

	if (need == 1)
		dmki_sgl_desc(sgl1, pages[0].dev, nsegs * DMKI_SGL_DESC, DMK_NVME_SGL_LAST_SEGMENT);
	else
		dmki_sgl_desc(sgl1, pages[0].dev, list_size, DMK_NVME_SGL_SEGMENT);

	done = 0;
	for (size_t p = 0; p < need; p++) {
		uint8_t *d = pages[p].va;
		size_t n = p + 1 < need ? per - 1 : nsegs - done;

		for (size_t k = 0; k < n; k++)
			dmki_sgl_desc(d + k * DMKI_SGL_DESC, segs[done + k].addr, segs[done + k].len,
				      DMK_NVME_SGL_DATA_BLOCK);
		done += n;
		if (p + 1 < need) {
			/* the next page is full unless it is the final one */
			bool last = p + 2 == need;
			size_t len = last ? (nsegs - done) * DMKI_SGL_DESC : list_size;

			dmki_sgl_desc(d + n * DMKI_SGL_DESC, pages[p + 1].dev, len,
				      last ? DMK_NVME_SGL_LAST_SEGMENT : DMK_NVME_SGL_SEGMENT);
		}
	}

	*pages_used = need;
	return 0;
}
