/* SPDX-License-Identifier: MIT */
/*
 * What the NVMe guest tests share (test_nvme.c through VFIO, test_nvme_uio.c
 * through uio_pci_generic): the controller and two buffers of BUF_LEN
 * bytes (the test defines BUF_LEN before including this), block ranges
 * handed out once each, how scattered a buffer's frames are, and the
 * round trips (a buffer, an iovec) checked byte for byte and stated in
 * DMKCHECK lines for the host. For one-file test programs: all static.
 */
#ifndef DMK_VMNVME_H
#define DMK_VMNVME_H

#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dmakit/mem.h>
#include <dmakit/nvme.h>

#include "vmcheck.h"
#include "vmpattern.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static struct dmk_nvme *ctrl;
static uint32_t bs;
static uint8_t *bufa, *bufb;

/* LBAs handed out to tests, each range once, so DMKCHECK lines never overlap. */
static uint64_t next_lba = 64;

static uint64_t take_lbas(size_t len)
{
	uint64_t lba = next_lba;

	next_lba += (len + bs - 1) / bs + 8;	/* a gap of 8 blocks */
	return lba;
}

/* How many physical frames of @p's pages are not after the previous one. */
static size_t phys_breaks(const void *p, size_t len)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t breaks = 0;
	uint64_t prev = 0;

	if (fd < 0)
		return 0;
	for (size_t off = 0; off < len; off += 4096) {
		uint64_t e = 0;
		uintptr_t va = (uintptr_t)p + off;

		if (pread(fd, &e, 8, (off_t)(va / 4096 * 8)) != 8)
			break;
		e &= (UINT64_C(1) << 55) - 1;
		if (off && e != prev + 1)
			breaks++;
		prev = e;
	}
	close(fd);
	return breaks;
}

/*
 * Write @len bytes at @lba from @src (pattern @seed) with @wflags, read them
 * back into @dst with @rflags, compare, and state them for the host.
 */
static bool roundtrip(const char *name, uint64_t lba, uint8_t *src, uint8_t *dst, size_t len,
		      unsigned seed, unsigned wflags, unsigned rflags)
{
	uint8_t pat[PAT_LEN];
	int err;

	pattern(pat, seed);
	fill_pat(src, len, pat);
	memset(dst, 0xee, len);
	err = dmk_nvme_write_buf(ctrl, 0, lba, src, len, wflags);
	if (err) {
		result(false, name, "write of LBA %" PRIu64 "+%zu bytes -> %d", lba, len, err);
		return false;
	}
	err = dmk_nvme_read_buf(ctrl, 0, lba, dst, len, rflags);
	if (err) {
		result(false, name, "read of LBA %" PRIu64 "+%zu bytes -> %d", lba, len, err);
		return false;
	}
	if (memcmp(src, dst, len)) {
		size_t i = 0;

		while (src[i] == dst[i])
			i++;
		result(false, name, "LBA %" PRIu64 "+%zu bytes: byte %zu read back %#x, wrote %#x", lba,
		       len, i, dst[i], src[i]);
		return false;
	}
	dmkcheck_pat(lba * bs, len, pat);
	return true;
}

/* An iovec of three pieces out, a contiguous buffer back, and the reverse. */
static void test_iovec(const char *name, const struct iovec *iov, int n, unsigned flags,
		       unsigned seed)
{
	struct dmk_mem *mw = NULL, *mr = NULL;
	uint8_t *back = bufb + BUF_LEN / 2;
	size_t total = 0, off = 0;
	uint8_t pat[PAT_LEN];
	uint64_t lba;
	int err;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	lba = take_lbas(total);
	pattern(pat, seed);
	for (int i = 0; i < n; i++) {
		for (size_t j = 0; j < iov[i].iov_len; j++)
			((uint8_t *)iov[i].iov_base)[j] = pat[(off + j) % PAT_LEN];
		off += iov[i].iov_len;
	}
	if (dmk_mem_create(iov, n, DMK_TO_DEVICE, &mw) || dmk_mem_create(iov, n, DMK_FROM_DEVICE, &mr)) {
		result(false, name, "dmk_mem_create failed");
		goto out;
	}
	err = dmk_nvme_write(ctrl, 0, lba, mw, flags);
	if (err) {
		result(false, name, "write of %d pieces, %zu bytes -> %d", n, total, err);
		goto out;
	}
	/* Back into one contiguous buffer (the second half of bufb). */
	memset(back, 0, total);
	err = dmk_nvme_read_buf(ctrl, 0, lba, back, total, flags);
	for (size_t j = 0; !err && j < total; j++)
		if (back[j] != pat[j % PAT_LEN]) {
			result(false, name, "byte %zu of %zu read back contiguous is wrong", j, total);
			goto out;
		}
	/* And scattered again: clear the pieces, read into them. */
	for (int i = 0; !err && i < n; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	if (!err)
		err = dmk_nvme_read(ctrl, 0, lba, mr, flags);
	off = 0;
	for (int i = 0; !err && i < n; i++) {
		for (size_t j = 0; j < iov[i].iov_len; j++)
			if (((uint8_t *)iov[i].iov_base)[j] != pat[(off + j) % PAT_LEN]) {
				result(false, name, "piece %d byte %zu read back wrong", i, j);
				goto out;
			}
		off += iov[i].iov_len;
	}
	result(!err, name, "%zu bytes in %d pieces -> %d", total, n, err);
	if (!err)
		dmkcheck_pat(lba * bs, total, pat);
out:
	dmk_mem_destroy(mw);
	dmk_mem_destroy(mr);
}

#endif
