/* SPDX-License-Identifier: MIT */
/*
 * Test support: NVMe PRP and SGL decoders. Written from the NVMe base spec
 * independently of src/format, so that a misreading in the writers does not
 * repeat itself here.
 */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <dmakit/nvme_fmt.h>

#include "nvme_fmt_decode.h"

static int fail(struct nvme_decoded *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct nvme_decoded *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
	return -1;
}

static int add(struct nvme_decoded *out, uint64_t addr, uint64_t len)
{
	struct dmk_seg *last = out->nranges ? &out->ranges[out->nranges - 1] : NULL;

	if (last && last->addr + last->len == addr) {
		last->len += len;
		return 0;
	}
	if (out->nranges == out->cap)
		return fail(out, "more than %zu ranges", out->cap);
	out->ranges[out->nranges].addr = addr;
	out->ranges[out->nranges].len = len;
	out->nranges++;
	return 0;
}

static uint64_t rd64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void reset(struct nvme_decoded *out)
{
	out->nranges = 0;
	out->list_pages = 0;
	out->why[0] = '\0';
}

int nvme_decode_prp(uint64_t prp1, uint64_t prp2, uint64_t page_size, uint64_t total,
		    nvme_decode_map_fn map, void *ctx, struct nvme_decoded *out)
{
	const uint64_t mask = page_size - 1;
	const uint64_t per = page_size / 8;
	uint64_t first, rem, list;

	reset(out);
	if (!total)
		return fail(out, "zero-length transfer");
	if (prp1 & 3)
		return fail(out, "PRP1 %#llx is not dword aligned", (unsigned long long)prp1);
	first = page_size - (prp1 & mask);
	if (first > total)
		first = total;
	if (add(out, prp1, first))
		return -1;
	rem = total - first;
	if (!rem) {
		if (prp2)
			return fail(out, "one page but PRP2 is %#llx", (unsigned long long)prp2);
		return 0;
	}
	if (rem <= page_size) {
		if (prp2 & mask)
			return fail(out, "PRP2 %#llx is not page aligned", (unsigned long long)prp2);
		return add(out, prp2, rem);
	}

	/* A PRP list; the spec allows an offset in PRP2, dmakit never uses one. */
	list = prp2;
	while (rem) {
		const uint8_t *e;

		if (list & mask)
			return fail(out, "PRP list %#llx is not page aligned", (unsigned long long)list);
		e = map(ctx, list, page_size);
		if (!e)
			return fail(out, "PRP list %#llx is in no list page", (unsigned long long)list);
		out->list_pages++;
		list = 0;
		for (uint64_t i = 0; i < per && rem; i++) {
			uint64_t ent = rd64(e + 8 * i);

			if (i == per - 1 && rem > page_size) {
				/* the last slot chains on while more than one page is left */
				list = ent;
				break;
			}
			if (ent & mask)
				return fail(out, "PRP entry %llu of list page %zu, %#llx, has an offset",
					    (unsigned long long)i, out->list_pages - 1,
					    (unsigned long long)ent);
			if (add(out, ent, rem < page_size ? rem : page_size))
				return -1;
			rem -= rem < page_size ? rem : page_size;
		}
		if (rem && !list)
			return fail(out, "PRP list page %zu ends with %llu bytes left",
				    out->list_pages - 1, (unsigned long long)rem);
	}
	return 0;
}

struct sgld {
	uint64_t addr;
	uint32_t len;
	unsigned int type;
};

/*
 * Every field of @d is filled in before any check, so that it is defined on
 * every path: gcc does not inline the variadic fail() and so cannot see that
 * it never returns 0, and at -O3 it warned that a caller might read
 * d->type after a refused descriptor.
 */
static int parse(struct nvme_decoded *out, const uint8_t *p, struct sgld *d)
{
	uint32_t len;

	d->addr = rd64(p);
	memcpy(&len, p + 8, 4);
	d->len = le32toh(len);
	d->type = p[15] >> 4;
	if (p[12] || p[13] || p[14])
		return fail(out, "SGL descriptor reserved bytes %02x %02x %02x", p[12], p[13], p[14]);
	if (p[15] & 0xf)
		return fail(out, "SGL descriptor subtype %u", p[15] & 0xf);
	return 0;
}

static int data_block(struct nvme_decoded *out, const struct sgld *d, uint64_t *rem)
{
	if (!d->len)
		return fail(out, "empty data block at %#llx", (unsigned long long)d->addr);
	if (d->len > *rem)
		return fail(out, "data block of %u bytes, %llu left", d->len,
			    (unsigned long long)*rem);
	if (UINT64_MAX - d->addr < d->len)
		return fail(out, "data block at %#llx wraps", (unsigned long long)d->addr);
	*rem -= d->len;
	return add(out, d->addr, d->len);
}

int nvme_decode_sgl(const uint8_t sgl1[16], uint64_t total, nvme_decode_map_fn map, void *ctx,
		    struct nvme_decoded *out)
{
	struct sgld cur;
	uint64_t rem = total;

	reset(out);
	if (parse(out, sgl1, &cur))
		return -1;
	if (cur.type == DMK_NVME_SGL_DATA_BLOCK) {
		if (data_block(out, &cur, &rem))
			return -1;
		goto out;
	}

	for (;;) {
		const uint8_t *seg;
		size_t n;
		struct sgld last;

		if (cur.type != DMK_NVME_SGL_SEGMENT && cur.type != DMK_NVME_SGL_LAST_SEGMENT)
			return fail(out, "SGL segment pointer of type %u", cur.type);
		if (!cur.len || cur.len % 16)
			return fail(out, "SGL segment length %u", cur.len);
		if (cur.addr & 15)
			return fail(out, "SGL segment %#llx not 16-byte aligned",
				    (unsigned long long)cur.addr);
		seg = map(ctx, cur.addr, cur.len);
		if (!seg)
			return fail(out, "SGL segment %#llx+%u is in no list page",
				    (unsigned long long)cur.addr, cur.len);
		out->list_pages++;
		n = cur.len / 16;
		for (size_t i = 0; i + 1 < n; i++) {
			struct sgld d;

			if (parse(out, seg + 16 * i, &d))
				return -1;
			if (d.type != DMK_NVME_SGL_DATA_BLOCK)
				return fail(out, "descriptor %zu of segment %zu has type %u", i,
					    out->list_pages - 1, d.type);
			if (data_block(out, &d, &rem))
				return -1;
		}
		if (parse(out, seg + 16 * (n - 1), &last))
			return -1;
		if (last.type == DMK_NVME_SGL_DATA_BLOCK) {
			/* the spec's last segment must be reached by a Last Segment */
			if (cur.type != DMK_NVME_SGL_LAST_SEGMENT)
				return fail(out, "final segment %zu reached by a Segment descriptor",
					    out->list_pages - 1);
			if (data_block(out, &last, &rem))
				return -1;
			break;
		}
		if (cur.type == DMK_NVME_SGL_LAST_SEGMENT)
			return fail(out, "Last Segment %zu points further", out->list_pages - 1);
		/* QEMU refuses a segment that maps nothing before chaining on */
		if (n < 2)
			return fail(out, "segment %zu holds only a pointer", out->list_pages - 1);
		cur = last;
	}
out:
	if (rem)
		return fail(out, "SGL covers %llu of %llu bytes",
			    (unsigned long long)(total - rem), (unsigned long long)total);
	return 0;
}

size_t nvme_coalesce(const struct dmk_seg *segs, size_t n, struct dmk_seg *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (k && out[k - 1].addr + out[k - 1].len == segs[i].addr) {
			out[k - 1].len += segs[i].len;
			continue;
		}
		out[k++] = segs[i];
	}
	return k;
}
