/* SPDX-License-Identifier: MIT */
/*
 * dmakit: DMA rules, everything a device can say about what it reaches.
 *
 * One value merges FreeBSD busdma's tag (window, boundary, maxsegsz,
 * nsegments, maxsize) with IODMACommand's alignments and NVMe's page-list
 * rule. A spec is a plain value: copy it, keep it on the stack, share it.
 */
#ifndef DMAKIT_SPEC_H
#define DMAKIT_SPEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * DMK_SPEC_PAGE_LIST - the device reads a list of pages (NVMe PRP): every
 * segment but the first starts on a @dev_page_size boundary and every
 * segment but the last ends on one.
 */
#define DMK_SPEC_PAGE_LIST (1u << 0)

/**
 * struct dmk_dma_spec - the rules every segment handed to a device obeys
 * @addr_low: lowest device address the device can reach.
 * @addr_high: highest device address the device can reach (inclusive); a
 *	segment lies wholly inside [@addr_low, @addr_high].
 * @max_seg_size: largest segment in bytes; 0 means no limit.
 * @max_segs: most segments one command may carry; 0 means no limit. A
 *	transfer needing more is prepared partially and says how much it
 *	covered.
 * @max_transfer: most bytes one command may move; 0 means no limit.
 * @boundary: a power of two no segment may cross (busdma's boundary,
 *	Linux's segment_boundary_mask + 1); 0 means none.
 * @addr_align: power of two every segment's device address is a multiple of.
 * @len_align: power of two every segment's length is a multiple of (and so
 *	the length of every transfer).
 * @dev_page_size: the device's page size, a power of two; used by
 *	%DMK_SPEC_PAGE_LIST and by page-list writers.
 * @flags: %DMK_SPEC_PAGE_LIST or 0.
 *
 * Addresses and sizes may reach the top of the 64-bit space (a window up
 * to 2^64 - 1, a boundary of 2^63, sizes near 2^64): a segment may end on
 * the last byte, 2^64 - 1, and nothing wraps.
 *
 * Use dmk_dma_spec_init() or dmk_dma_spec_preset() to start from sane
 * values, then change fields. dmk_dma_spec_check() says whether a spec is
 * consistent; every function taking a spec checks it.
 */
struct dmk_dma_spec {
	uint64_t addr_low;
	uint64_t addr_high;
	uint64_t max_seg_size;
	uint32_t max_segs;
	uint32_t flags;
	uint64_t max_transfer;
	uint64_t boundary;
	uint64_t addr_align;
	uint64_t len_align;
	uint64_t dev_page_size;
};

/**
 * dmk_dma_spec_init() - fill a spec with rules that allow anything
 * @spec: the spec to fill.
 *
 * The whole 64-bit window, no limits, byte alignment, 4 KiB device pages,
 * no flags.
 *
 * Thread safety: safe.
 */
void dmk_dma_spec_init(struct dmk_dma_spec *spec);

/**
 * dmk_dma_spec_preset() - fill a spec with a named device's rules
 * @spec: the spec to fill.
 * @name: "nvme-prp" (dword-aligned, PRP page list, 4 KiB pages),
 *	"nvme-sgl" (byte-aligned data blocks), "edu" (QEMU's edu device: 28-bit
 *	reach, at most 4095 bytes a transfer), or "any".
 *
 * Thread safety: safe.
 *
 * Return: 0, or -ENOENT when @name is not a preset (the spec is untouched).
 */
int dmk_dma_spec_preset(struct dmk_dma_spec *spec, const char *name);

/**
 * dmk_dma_spec_check() - say whether a spec is consistent
 * @spec: the spec.
 *
 * Refuses a boundary, alignment or page size that is not a power of two, an
 * alignment larger than the largest segment or transfer, a boundary smaller
 * than an alignment, an empty window, a page-list spec whose page is
 * smaller than its alignments, and so on; dmk_last_error() names the rule.
 *
 * Thread safety: safe.
 *
 * Return: 0 when consistent, -EINVAL otherwise.
 */
int dmk_dma_spec_check(const struct dmk_dma_spec *spec);

/**
 * dmk_dma_spec_format() - write a spec as one human-readable line
 * @spec: the spec.
 * @buf: where to write; always NUL-terminated when @len > 0.
 * @len: size of @buf.
 *
 * Thread safety: safe.
 *
 * Return: the number of characters the whole line needs, like snprintf.
 */
int dmk_dma_spec_format(const struct dmk_dma_spec *spec, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_SPEC_H */
