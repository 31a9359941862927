/* SPDX-License-Identifier: MIT */
/*
 * Test support: read NVMe PRPs and SGLs back the way a controller does, to
 * check what dmk_nvme_prp_write() and dmk_nvme_sgl_write() wrote.
 *
 * The decoders are strict: besides what a controller needs they refuse what
 * dmakit promises never to write (a nonzero PRP2 for a one-page transfer, a
 * list page not page-aligned, a Segment pointing at the final SGL segment,
 * nonzero reserved bytes), so that a test catches it.
 */
#ifndef DMK_TEST_NVME_FMT_DECODE_H
#define DMK_TEST_NVME_FMT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <dmakit/dma.h>

/*
 * Where the CPU can read @len bytes the device would read at @dev, or NULL
 * when no list page holds all of them.
 */
typedef const void *(*nvme_decode_map_fn)(void *ctx, uint64_t dev, size_t len);

/*
 * struct nvme_decoded - what a decoder found
 * @ranges: byte ranges in transfer order, adjacent ones merged.
 * @nranges: how many.
 * @cap: room in @ranges.
 * @list_pages: list pages (PRP lists or SGL segments) it read.
 * @why: the reason when it fails.
 */
struct nvme_decoded {
	struct dmk_seg *ranges;
	size_t nranges;
	size_t cap;
	size_t list_pages;
	char why[160];
};

/*
 * nvme_decode_prp() - walk PRP1/PRP2 for a transfer of @total bytes
 *
 * Return: 0, or -1 with @out->why set.
 */
int nvme_decode_prp(uint64_t prp1, uint64_t prp2, uint64_t page_size, uint64_t total,
		    nvme_decode_map_fn map, void *ctx, struct nvme_decoded *out);

/*
 * nvme_decode_sgl() - walk SGL1 (16 bytes, little-endian) for @total bytes
 *
 * Return: 0, or -1 with @out->why set.
 */
int nvme_decode_sgl(const uint8_t sgl1[16], uint64_t total, nvme_decode_map_fn map, void *ctx,
		    struct nvme_decoded *out);

/*
 * nvme_coalesce() - @segs with adjacent ones merged, into @out (room for
 * @n); returns how many.
 */
size_t nvme_coalesce(const struct dmk_seg *segs, size_t n, struct dmk_seg *out);

#endif
