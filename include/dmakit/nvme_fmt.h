/* SPDX-License-Identifier: MIT */
/*
 * dmakit: NVMe data pointers (PRP and SGL) written from prepared segments.
 *
 * The writers take the segments of a prepared command and the pages the
 * caller set aside for lists (memory the device can read, with their device
 * addresses), and write what the controller reads, little-endian.
 */
#ifndef DMAKIT_NVME_FMT_H
#define DMAKIT_NVME_FMT_H

#include <stddef.h>
#include <stdint.h>

#include <dmakit/dma.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct dmk_list_page - one page the device reads a list from
 * @va: where the CPU writes it, 8-byte aligned: @page_size bytes for a PRP
 *	list, @list_size bytes for an SGL segment.
 * @dev: where the device reads it; aligned to the page size for PRP lists,
 *	to 16 bytes for SGL segments (the writers refuse others).
 */
struct dmk_list_page {
	void *va;
	uint64_t dev;
};

/**
 * dmk_nvme_prp_write() - write PRP1, PRP2 and PRP lists for segments
 * @segs: segments in transfer order.
 * @nsegs: how many; at least 1.
 * @page_size: the controller's memory page size (CC.MPS), a power of two
 *	from 4 KiB to 128 MiB.
 * @pages: pages for PRP lists, used in order; may be NULL when @npages is 0.
 * @npages: how many.
 * @prp: receives PRP1 in [0] and PRP2 in [1], as the command's DPTR wants
 *	them (host order; the command writer stores them little-endian).
 * @pages_used: receives how many of @pages hold lists.
 *
 * PRP1 points at the first byte; PRP2 is 0, the second page, or a PRP list
 * when more than two pages are needed. A list that does not fit in one
 * page continues in the next, the last entry of a full page pointing at
 * it (only while more than one entry is left: a list that fills a page
 * exactly ends there). Entries are little-endian. A segment may span many
 * pages; each page is one entry.
 *
 * Thread safety: safe on distinct @pages.
 *
 * Return: 0; -EINVAL when a segment breaks a PRP rule (first offset not a
 * multiple of 4, a later segment not starting on a page, an earlier one not
 * ending on one, a zero length, a range that wraps past 2^64) with the
 * segment named in dmk_last_error(), for no segments, a bad @page_size, or
 * a list page whose @dev is not page-aligned; -ENOSPC when @npages is too
 * few (dmk_last_error() says how many are needed). On error nothing is
 * written: not @prp, @pages_used nor any page.
 */
int dmk_nvme_prp_write(const struct dmk_seg *segs, size_t nsegs, uint64_t page_size,
		       const struct dmk_list_page *pages, size_t npages, uint64_t prp[2],
		       size_t *pages_used);

/**
 * dmk_nvme_prp_write_dma() - write PRP1, PRP2 and PRP lists for a prepared command
 * @dma: a prepared command whose rules guarantee PRP's: %DMK_SPEC_PAGE_LIST,
 *	a device page of @page_size and an address alignment of at least 4
 *	(the "nvme-prp" preset).
 * @page_size: the controller's memory page size (CC.MPS).
 * @pages: pages for PRP lists, used in order.
 * @npages: how many.
 * @prp: receives PRP1 in [0] and PRP2 in [1].
 * @pages_used: receives how many of @pages hold lists.
 *
 * The same output as dmk_nvme_prp_write() on dmk_dma_segs(), without
 * checking every segment again: the command's rules already made them
 * legal. The path of every I/O of a PRP driver.
 *
 * Thread safety: safe on distinct @pages; not with other uses of @dma.
 *
 * Return: 0; -EINVAL when @dma is not prepared or its rules do not
 * guarantee PRP's; -ENOSPC when @npages is too few.
 */
int dmk_nvme_prp_write_dma(const struct dmk_dma *dma, uint64_t page_size,
			   const struct dmk_list_page *pages, size_t npages, uint64_t prp[2],
			   size_t *pages_used);

/**
 * dmk_nvme_prp_pages_needed() - list pages a transfer's PRPs need
 * @segs: segments in transfer order.
 * @nsegs: how many.
 * @page_size: the controller's memory page size.
 *
 * Return: how many list pages dmk_nvme_prp_write() will use (0 when PRP1
 * and PRP2 suffice, and for no segments, a bad @page_size, or a zero-length
 * or wrapping segment). The alignment rules are not checked here.
 */
size_t dmk_nvme_prp_pages_needed(const struct dmk_seg *segs, size_t nsegs, uint64_t page_size);

/* NVMe SGL descriptor types (bits 7:4 of byte 15). */
#define DMK_NVME_SGL_DATA_BLOCK 0x0
#define DMK_NVME_SGL_SEGMENT 0x2
#define DMK_NVME_SGL_LAST_SEGMENT 0x3

/**
 * dmk_nvme_sgl_write() - write SGL1 and SGL segments for segments
 * @segs: segments in transfer order; each at most 4 GiB - 1.
 * @nsegs: how many; at least 1.
 * @list_size: bytes of each list page, a multiple of 16, at least 32 (so
 *	that a page that chains on still carries a data block, as QEMU wants).
 * @pages: pages for SGL segments, used in order.
 * @npages: how many.
 * @sgl1: receives the 16-byte descriptor for the command's DPTR, already
 *	little-endian.
 * @pages_used: receives how many of @pages hold descriptors.
 *
 * One segment is one data block descriptor in SGL1. More are data block
 * descriptors in list pages: SGL1 is a Last Segment descriptor when they
 * fit in one page, otherwise a Segment descriptor, and each full page ends
 * with a descriptor pointing at the next (Last Segment for the final one).
 * A pointer's length is the bytes of descriptors used in the page it points
 * at. The command must say SGL in its PSDT field (CDW0 bits 15:14 = 01b).
 *
 * Thread safety: safe on distinct @pages.
 *
 * Return: 0; -EINVAL for no segments, a segment of length 0 or of 4 GiB
 * and more, or whose end does not fit in 64 bits, a bad @list_size, or a
 * list page whose @dev is not 16-byte aligned; -ENOSPC when @npages is too
 * few (dmk_last_error() says how many are needed). On error nothing is
 * written.
 */
int dmk_nvme_sgl_write(const struct dmk_seg *segs, size_t nsegs, size_t list_size,
		       const struct dmk_list_page *pages, size_t npages, uint8_t sgl1[16],
		       size_t *pages_used);

/**
 * dmk_nvme_sgl_pages_needed() - list pages a transfer's SGL needs
 * @nsegs: segments.
 * @list_size: bytes of each list page.
 *
 * Return: how many list pages dmk_nvme_sgl_write() will use (0 for one
 * segment or fewer, and for a bad @list_size).
 */
size_t dmk_nvme_sgl_pages_needed(size_t nsegs, size_t list_size);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_NVME_FMT_H */
