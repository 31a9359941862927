/* SPDX-License-Identifier: MIT */
/* DMA rules: defaults, named presets, consistency. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <dmakit/spec.h>

#include "bits.h"
#include "error_priv.h"

void dmk_dma_spec_init(struct dmk_dma_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->addr_low = 0;
	spec->addr_high = UINT64_MAX;
	spec->addr_align = 1;
	spec->len_align = 1;
	spec->dev_page_size = 4096;
}

int dmk_dma_spec_preset(struct dmk_dma_spec *spec, const char *name)
{
	struct dmk_dma_spec s;

	dmk_dma_spec_init(&s);
	if (!name)
		return dmki_fail(-ENOENT, "no preset name given");
	if (!strcmp(name, "any")) {
		/* the defaults */
	} else if (!strcmp(name, "nvme-prp")) {
		/* PRP entries: dword-aligned first offset, whole pages after. */
		s.addr_align = 4;
		s.len_align = 4;
		s.flags = DMK_SPEC_PAGE_LIST;
	} else if (!strcmp(name, "nvme-sgl")) {
		/* Data block descriptors: byte granular, 32-bit lengths. */
		s.max_seg_size = UINT32_MAX;
	} else if (!strcmp(name, "edu")) {
		/*
		 * QEMU's edu masks DMA addresses to 28 bits, and its 4 KiB
		 * buffer refuses a transfer that ends exactly at its end.
		 */
		s.addr_high = (UINT64_C(1) << 28) - 1;
		s.max_seg_size = 4095;
	} else {
		return dmki_fail(-ENOENT, "no DMA rule preset named '%s' (known: any, nvme-prp, nvme-sgl, edu)",
				 name);
	}
	*spec = s;
	return 0;
}

int dmk_dma_spec_check(const struct dmk_dma_spec *s)
{
	uint64_t align;

	if (!s)
		return dmki_fail(-EINVAL, "no DMA rules given");
	align = max_u64(s->addr_align, s->len_align);
	if (s->flags & ~DMK_SPEC_PAGE_LIST)
		return dmki_fail(-EINVAL, "unknown DMA rule flags %#x", s->flags & ~DMK_SPEC_PAGE_LIST);
	if (s->addr_high < s->addr_low)
		return dmki_fail(-EINVAL, "address window [%#" PRIx64 ", %#" PRIx64 "] is empty",
				 s->addr_low, s->addr_high);
	if (!is_pow2(s->addr_align))
		return dmki_fail(-EINVAL, "address alignment %" PRIu64 " is not a power of two",
				 s->addr_align);
	if (!is_pow2(s->len_align))
		return dmki_fail(-EINVAL, "length alignment %" PRIu64 " is not a power of two",
				 s->len_align);
	if (!is_pow2(s->dev_page_size))
		return dmki_fail(-EINVAL, "device page size %" PRIu64 " is not a power of two",
				 s->dev_page_size);
	if (s->boundary && !is_pow2(s->boundary))
		return dmki_fail(-EINVAL, "boundary %#" PRIx64 " is not a power of two", s->boundary);
	if (s->boundary && s->boundary < align)
		return dmki_fail(-EINVAL, "boundary %#" PRIx64 " is smaller than the alignment %" PRIu64
				 ": no segment could start after one", s->boundary, align);
	if (s->max_seg_size && s->max_seg_size < align)
		return dmki_fail(-EINVAL, "max segment size %" PRIu64 " is smaller than the alignment %" PRIu64,
				 s->max_seg_size, align);
	if (s->max_transfer && s->max_transfer < align)
		return dmki_fail(-EINVAL, "max transfer %" PRIu64 " is smaller than the alignment %" PRIu64,
				 s->max_transfer, align);
	if (s->max_transfer && s->max_transfer % s->len_align)
		return dmki_fail(-EINVAL, "max transfer %" PRIu64 " is not a multiple of the length alignment %" PRIu64,
				 s->max_transfer, s->len_align);
	/* The window must hold at least one aligned unit. */
	if (align_up(s->addr_low, s->addr_align) < s->addr_low ||
	    align_up(s->addr_low, s->addr_align) > s->addr_high ||
	    s->addr_high - align_up(s->addr_low, s->addr_align) < s->len_align - 1)
		return dmki_fail(-EINVAL, "address window [%#" PRIx64 ", %#" PRIx64 "] holds no aligned segment",
				 s->addr_low, s->addr_high);
	if (s->flags & DMK_SPEC_PAGE_LIST) {
		if (s->dev_page_size < align)
			return dmki_fail(-EINVAL, "page-list rule: device page %" PRIu64 " is smaller than the alignment %" PRIu64,
					 s->dev_page_size, align);
		if (s->max_seg_size && s->max_seg_size < s->dev_page_size)
			return dmki_fail(-EINVAL, "page-list rule: max segment size %" PRIu64 " is smaller than the device page %" PRIu64,
					 s->max_seg_size, s->dev_page_size);
		if (s->boundary && s->boundary < s->dev_page_size)
			return dmki_fail(-EINVAL, "page-list rule: boundary %#" PRIx64 " is smaller than the device page %" PRIu64,
					 s->boundary, s->dev_page_size);
	}
	return 0;
}

int dmk_dma_spec_format(const struct dmk_dma_spec *s, char *buf, size_t len)
{
	return snprintf(buf, len,
			"window=[%#" PRIx64 ",%#" PRIx64 "] max_seg=%" PRIu64 " max_segs=%u max_transfer=%" PRIu64
			" boundary=%#" PRIx64 " addr_align=%" PRIu64 " len_align=%" PRIu64 " page=%" PRIu64 "%s",
			s->addr_low, s->addr_high, s->max_seg_size, s->max_segs, s->max_transfer, s->boundary,
			s->addr_align, s->len_align, s->dev_page_size,
			(s->flags & DMK_SPEC_PAGE_LIST) ? " page-list" : "");
}
