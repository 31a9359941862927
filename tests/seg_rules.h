/* SPDX-License-Identifier: MIT */
/*
 * Test helpers shared by the segment generator's property test
 * (test_dma_prop.c) and its libFuzzer target (fuzz/fuzz_prepare.c), free
 * of any test framework: every rule of a spec checked on prepared
 * segments, the two PRP writers compared, a slice of an iovec copied
 * out of or into a copy of the memory it lies in, and the sim pages a
 * buffer spans. Checks return NULL or the broken rule; the caller fails
 * its own way.
 */
#ifndef DMK_TESTS_SEG_RULES_H
#define DMK_TESTS_SEG_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <dmakit/dma.h>
#include <dmakit/nvme_fmt.h>
#include <dmakit/spec.h>

/*
 * Every rule of @s on the @n segments of one prepared command that covers
 * @covered bytes; *@bad receives the segment that broke it. Last bytes,
 * never end addresses: a segment may end at 2^64.
 */
static inline const char *seg_rules_broken(const struct dmk_dma_spec *s, const struct dmk_seg *seg,
					   size_t n, uint64_t covered, size_t *bad)
{
	uint64_t sum = 0, pg = s->dev_page_size;

	*bad = 0;
	if (!n)
		return "no segments";
	if (s->max_segs && n > s->max_segs)
		return "more segments than max_segs";
	if (s->max_transfer && covered > s->max_transfer)
		return "covered more than max_transfer";
	for (size_t i = 0; i < n; i++) {
		uint64_t a = seg[i].addr, l = seg[i].len;

		*bad = i;
		if (!l)
			return "an empty segment";
		if (l - 1 > UINT64_MAX - a)
			return "a segment wraps past 2^64";
		if (a < s->addr_low || a + (l - 1) > s->addr_high)
			return "a segment outside the window";
		if (s->max_seg_size && l > s->max_seg_size)
			return "a segment longer than max_seg_size";
		if (s->boundary && a / s->boundary != (a + (l - 1)) / s->boundary)
			return "a segment crosses a boundary";
		if (a % s->addr_align)
			return "a segment's address is not aligned";
		if (l % s->len_align)
			return "a segment's length is not aligned";
		if ((s->flags & DMK_SPEC_PAGE_LIST) && i > 0 && a % pg)
			return "page-list: a segment after the first starts off a device page";
		if ((s->flags & DMK_SPEC_PAGE_LIST) && i + 1 < n && (a + l) % pg)
			return "page-list: a segment before the last ends off a device page";
		sum += l;
	}
	return sum == covered ? NULL : "the segments do not add up to the covered length";
}

/*
 * A command prepared under PRP's rules: the writer that trusts it writes
 * exactly what the writer that checks every segment writes.
 */
static inline const char *prp_writers_disagree(const struct dmk_dma *dma, const struct dmk_seg *seg,
					       size_t n)
{
	enum { NP = 4 };
	static uint64_t la[NP][512] __attribute__((aligned(4096))), lb[NP][512] __attribute__((aligned(4096)));
	struct dmk_list_page pa[NP], pb[NP];
	uint64_t prpa[2], prpb[2];
	size_t ua, ub;
	int ea, eb;

	for (int i = 0; i < NP; i++) {
		pa[i] = (struct dmk_list_page){ la[i], UINT64_C(0x7000000000) + i * 4096 };
		pb[i] = (struct dmk_list_page){ lb[i], UINT64_C(0x7000000000) + i * 4096 };
	}
	memset(la, 0, sizeof(la));
	memset(lb, 0, sizeof(lb));
	ea = dmk_nvme_prp_write(seg, n, 4096, pa, NP, prpa, &ua);
	eb = dmk_nvme_prp_write_dma(dma, 4096, pb, NP, prpb, &ub);
	if (ea != eb)
		return "the PRP writers disagree on success";
	if (!ea && (prpa[0] != prpb[0] || prpa[1] != prpb[1] || ua != ub || memcmp(la, lb, sizeof(la))))
		return "the PRP writers wrote different PRPs";
	return NULL;
}

/*
 * The bytes [@off, @off + @len) of the descriptor @iov (@cnt entries, all
 * inside @mem): copied into @buf, or, when @copy is not NULL, copied from
 * @buf into @copy at their offsets in @mem (a copy of @mem the size of it).
 */
static inline void slice_copy(const struct iovec *iov, int cnt, uint64_t off, uint64_t len,
			      unsigned char *buf, const unsigned char *mem, unsigned char *copy)
{
	for (int i = 0; i < cnt && len; i++) {
		uint64_t l = iov[i].iov_len, k;
		unsigned char *at;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = l - off < len ? l - off : len;
		at = (unsigned char *)iov[i].iov_base + off;
		if (copy)
			memcpy(copy + (at - mem), buf, k);
		else
			memcpy(buf, at, k);
		buf += k;
		len -= k;
		off = 0;
	}
}

/* Sim pages of @page bytes that the bytes [@va, @va + @len) span. */
static inline uint64_t span_pages(const void *va, uint64_t len, uint64_t page)
{
	uintptr_t a = (uintptr_t)va;

	return (a + len + page - 1) / page - a / page;
}

#endif
