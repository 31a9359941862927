/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): the edu reference driver (<dmakit/edu.h>)
 * against QEMU's edu behind the emulated VT-d IOMMU.
 *
 * 1. Default open (the space's reach set to 28 bits), completion by
 *    polling: round trips of 1 to 4095 bytes at several buffer and device
 *    offsets; an iovec of separately allocated posix_memalign pieces out,
 *    a differently cut iovec back; a slice.
 * 2. The same with completion by MSI: every edu command interrupts once.
 * 3. What the driver refuses never reaches the device: unregistered memory
 *    (-EFAULT, untouched), a range past offset 4095 (-EINVAL; QEMU 7.2 would
 *    abort the VM), memory unregistered after use (-EFAULT). A 10 ms
 *    timeout against edu's 100 ms: -ETIMEDOUT, the handle refuses more
 *    (-EIO), the memory stays held and close waits for the device.
 * 4. A new space opened with DMK_EDU_NO_REACH: the IOVA space below 2^28 is
 *    filled on purpose (one 2 MiB memfd mapped over and over, so little RAM
 *    is pinned), so the next buffer can only be placed above 2^28. The
 *    driver bounces exactly its pieces through the pool below 2^28, reports
 *    which segments it bounced, and the bytes arrive both ways.
 *
 * Environment: DMK_EDU_BDF (required), DMK_EDU_GROUP, DMK_NVME_BDF (optional:
 * dmk_edu_open() must refuse a device that is not edu).
 *
 * Prints one "PASS name" or "FAIL name: why" line per check; exits 1 when
 * any failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/dma.h>
#include <dmakit/edu.h>
#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#include "vmcheck.h"

#define PAGE		4096u
#define SZ_2M		(2u << 20)
#define R28		(UINT64_C(1) << 28)




static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static uint64_t dev_of(struct dmk_space *sp, const void *va)
{
	uint64_t dev = UINT64_MAX;

	if (dmk_space_translate(sp, va, &dev))
		return UINT64_MAX;
	return dev;
}

/* Print the last transfer's segments; return how many were bounced. */
static size_t show_last(struct dmk_edu *edu, const char *what, struct dmk_edu_xfer *x)
{
	const struct dmk_edu_seg *s;
	size_t n, nb = 0;

	s = dmk_edu_last(edu, x, &n);
	printf("info: %s: %llu bytes, %zu segment(s), %llu bounced in %zu, %llu irq(s):", what,
	       (unsigned long long)x->len, n, (unsigned long long)x->bounced, x->bounce_segs,
	       (unsigned long long)x->irqs);
	for (size_t i = 0; i < n; i++) {
		printf(" [%#llx+%u @%u%s]", (unsigned long long)s[i].addr, s[i].len, s[i].buf_off,
		       s[i].bounced ? " bounced" : "");
		nb += s[i].bounced != 0;
	}
	printf("\n");
	return nb;
}

/* Buffer -> device buffer at @boff -> other buffer, compared, guards kept. */
static void roundtrip(struct dmk_edu *edu, const char *name, uint8_t *src, uint8_t *dst,
		      uint32_t boff, size_t len)
{
	uint8_t before = dst[-1], after = dst[len];
	struct dmk_edu_xfer x;
	int err;

	fill(src, len, (unsigned)(len + boff));
	memset(dst, 0, len);
	err = dmk_edu_write(edu, boff, src, len);
	if (err) {
		result(false, name, "write of %zu bytes at %u: %d", len, boff, err);
		return;
	}
	err = dmk_edu_read(edu, boff, dst, len);
	show_last(edu, name, &x);
	result(!err && !memcmp(src, dst, len) && dst[-1] == before && dst[len] == after &&
	       x.len == len, name, "read %d, %s", err,
	       memcmp(src, dst, len) ? "bytes differ" : "guard bytes or length wrong");
}

/* iovec pieces (separate posix_memalign allocations) out, other pieces back. */
static void iovecs(struct dmk_space *sp, struct dmk_edu *edu, const char *name, bool msi)
{
	static const size_t out_len[4] = { 1, 1000, 2000, 1094 };	/* 4095 */
	static const size_t in_len[3] = { 2048, 7, 2040 };
	struct dmk_region *reg[7] = { 0 };
	struct iovec out[4], in[3];
	struct dmk_mem *mo = NULL, *mi = NULL;
	struct dmk_edu_xfer xw, xr;
	uint8_t want[4095], got[4095];
	size_t at = 0, nsegs_w;
	char label[64];
	int err = 0, k = 0;

	for (int i = 0; i < 4 && !err; i++) {
		void *p = NULL;

		if (posix_memalign(&p, 64, out_len[i] + 100)) {
			err = -ENOMEM;
			break;
		}
		out[i] = (struct iovec){ (char *)p + 3 + i, out_len[i] };
		err = dmk_region_register(sp, p, out_len[i] + 100, DMK_PROT_RW, &reg[k]);
		k += !err;
		fill(out[i].iov_base, out_len[i], (unsigned)i + 40);
		memcpy(want + at, out[i].iov_base, out_len[i]);
		at += out_len[i];
	}
	for (int i = 0; i < 3 && !err; i++) {
		void *p = NULL;

		if (posix_memalign(&p, PAGE, in_len[i] + PAGE)) {
			err = -ENOMEM;
			break;
		}
		in[i] = (struct iovec){ (char *)p + PAGE - 1000 + i, in_len[i] };
		err = dmk_region_register(sp, p, in_len[i] + PAGE, DMK_PROT_RW, &reg[k]);
		k += !err;
		memset(in[i].iov_base, 0, in_len[i]);
	}
	if (!err)
		err = dmk_mem_create(out, 4, DMK_TO_DEVICE, &mo);
	if (!err)
		err = dmk_mem_create(in, 3, DMK_FROM_DEVICE, &mi);
	if (err) {
		result(false, name, "set-up: %d", err);
		goto out;
	}
	err = dmk_edu_write_mem(edu, 0, mo, 0, 4095);
	snprintf(label, sizeof(label), "%s out", name);
	show_last(edu, label, &xw);
	nsegs_w = xw.nsegs;
	if (!err)
		err = dmk_edu_read_mem(edu, 0, mi, 0, 4095);
	snprintf(label, sizeof(label), "%s back", name);
	show_last(edu, label, &xr);
	at = 0;
	for (int i = 0; i < 3; i++) {
		memcpy(got + at, in[i].iov_base, in_len[i]);
		at += in_len[i];
	}
	result(!err && !memcmp(want, got, sizeof(want)) && nsegs_w >= 2 && xr.nsegs >= 2 &&
	       (!msi || (xw.irqs == xw.nsegs && xr.irqs == xr.nsegs)), name,
	       "err %d, %s, %zu/%zu segments, irqs %llu/%llu", err,
	       memcmp(want, got, sizeof(want)) ? "bytes differ" : "bytes equal", nsegs_w,
	       xr.nsegs, (unsigned long long)xw.irqs, (unsigned long long)xr.irqs);

	/* A slice of the descriptor: 100 bytes from its offset 1500, back into piece 0. */
	if (!msi) {
		memset(got, 0, 100);
		err = dmk_edu_write_mem(edu, 3000, mo, 1500, 100);
		if (!err)
			err = dmk_edu_read(edu, 3000, in[0].iov_base, 100);
		result(!err && !memcmp(in[0].iov_base, want + 1500, 100), "edu-slice",
		       "err %d", err);
	}
out:
	dmk_mem_destroy(mo);
	dmk_mem_destroy(mi);
	for (int i = 0; i < k; i++)
		dmk_region_unregister(reg[i]);
	/* The allocations leak on purpose: the test ends soon. */
}

/* Everything the driver refuses, without the device being touched. */
static void refusals(struct dmk_space *sp, struct dmk_edu *edu, uint8_t *reg_buf)
{
	struct dmk_region *r;
	uint8_t *p;
	bool untouched = true;
	int err;

	if (posix_memalign((void **)&p, PAGE, 2 * PAGE)) {
		result(false, "edu-refusals", "no memory");
		return;
	}
	memset(p, 0xcc, 2 * PAGE);
	err = dmk_edu_read(edu, 0, p + 10, 3000);
	for (unsigned i = 0; i < 2 * PAGE; i++)
		untouched &= p[i] == 0xcc;
	result(err == -EFAULT && untouched, "edu-unregistered-refused-untouched",
	       "got %d, %s", err, untouched ? "untouched" : "the memory changed");

	err = dmk_edu_write(edu, 1, reg_buf, 4095);
	result(err == -EINVAL, "edu-range-past-4095-refused", "got %d", err);
	err = dmk_edu_write(edu, 0, reg_buf, 4096);
	result(err == -EINVAL, "edu-4096-refused", "got %d", err);
	err = dmk_edu_write(edu, 0, reg_buf, 0);
	result(err == -EINVAL, "edu-zero-refused", "got %d", err);

	/* Registered, used, unregistered: the driver refuses it again. */
	err = dmk_region_register(sp, p, 2 * PAGE, DMK_PROT_RW, &r);
	if (!err)
		err = dmk_edu_read(edu, 0, p + 10, 3000);
	if (!err)
		err = dmk_region_unregister(r);
	result(!err, "edu-read-registered", "got %d", err);
	memset(p, 0xcc, 2 * PAGE);
	err = dmk_edu_read(edu, 0, p + 10, 3000);
	untouched = true;
	for (unsigned i = 0; i < 2 * PAGE; i++)
		untouched &= p[i] == 0xcc;
	result(err == -EFAULT && untouched, "edu-after-unregister-refused-untouched", "got %d",
	       err);
	free(p);
}

/* Phase 1-3: the default open. */
static int default_space(const char *bdf, const char *nvme_bdf)
{
	struct dmk_edu_opts msi_opts = { .wait = DMK_EDU_WAIT_MSI, .timeout_ms = 5000 };
	struct dmk_vfio_info vi;
	struct dmk_region *r;
	struct dmk_space *sp;
	struct dmk_pci *dev;
	struct dmk_edu *edu;
	uint8_t *buf;
	double t;
	int err;

	SETUP(dmk_space_vfio_create(&sp), "create");
	SETUP(dmk_pci_open(sp, bdf, &dev), "open");
	err = dmk_edu_open(sp, dev, NULL, &edu);
	result(!err, "edu-open", "got %d", err);
	if (err)
		return 2;
	dmk_vfio_info(sp, &vi);
	result(vi.reach == DMK_EDU_REACH_BITS, "edu-open-sets-reach-28", "reach %u", vi.reach);
	result(dmk_edu_last(edu, NULL, NULL) == NULL, "edu-last-before-transfer", "not NULL");

	SETUP(posix_memalign((void **)&buf, PAGE, 8 * PAGE), "alloc");
	memset(buf, 0, 8 * PAGE);
	SETUP(dmk_region_register(sp, buf, 8 * PAGE, DMK_PROT_RW, &r), "register");
	printf("info: buffer at IOVA %#llx\n", (unsigned long long)dev_of(sp, buf));

	t = now();
	roundtrip(edu, "edu-poll-1-byte", buf + 1, buf + 4 * PAGE + 1, 0, 1);
	roundtrip(edu, "edu-poll-4095-aligned", buf, buf + 4 * PAGE + 8, 0, 4095);
	roundtrip(edu, "edu-poll-4095-across-pages", buf + 3000, buf + 5 * PAGE + 77, 0, 4095);
	roundtrip(edu, "edu-poll-1000-at-3095", buf + 17, buf + 6 * PAGE + 1, 3095, 1000);
	roundtrip(edu, "edu-poll-2-at-4093", buf + PAGE - 1, buf + 7 * PAGE + 1, 4093, 2);
	iovecs(sp, edu, "edu-poll-iovec", false);
	printf("info: polling part took %.2f s\n", now() - t);
	refusals(sp, edu, buf);
	result(!dmk_edu_close(edu), "edu-close", "failed");

	/* MSI completion. */
	err = dmk_edu_open(sp, dev, &msi_opts, &edu);
	result(!err, "edu-open-msi", "got %d", err);
	if (!err) {
		struct dmk_edu_xfer x;

		t = now();
		roundtrip(edu, "edu-msi-4095", buf + 5, buf + 4 * PAGE + 9, 0, 4095);
		dmk_edu_last(edu, &x, NULL);
		result(x.irqs == x.nsegs && x.irqs >= 1, "edu-msi-one-irq-per-command",
		       "%llu irqs for %zu commands", (unsigned long long)x.irqs, x.nsegs);
		roundtrip(edu, "edu-msi-333-at-7", buf + 4000, buf + 6 * PAGE + 3, 7, 333);
		iovecs(sp, edu, "edu-msi-iovec", true);
		printf("info: MSI part took %.2f s\n", now() - t);
		err = dmk_edu_open(sp, dev, &msi_opts, &edu);
		result(err == -EBUSY, "edu-open-twice-msi-busy", "got %d", err);
		result(!dmk_edu_close(edu), "edu-close-msi", "failed");
	}

	/* A command that outlives the timeout: -ETIMEDOUT, then -EIO, close waits. */
	{
		const struct dmk_edu_opts quick = { .timeout_ms = 10 };
		int err2, err3, err4;

		err = dmk_edu_open(sp, dev, &quick, &edu);
		if (!err) {
			err = dmk_edu_write(edu, 0, buf, 4095);
			err2 = dmk_edu_write(edu, 0, buf, 10);
			err3 = dmk_region_unregister(r);	/* the stuck command holds it */
			err4 = dmk_edu_close(edu);		/* edu still runs (100 ms) */
			result(err == -ETIMEDOUT && err2 == -EIO && err3 == -EBUSY &&
			       err4 == -EBUSY, "edu-timeout",
			       "write %d, then %d, unregister %d, close %d", err, err2, err3, err4);
			usleep(500 * 1000);
			err = dmk_edu_close(edu);
			result(!err, "edu-close-after-timeout", "got %d", err);
			if (err)
				return 2;
		} else {
			result(false, "edu-timeout", "open: %d", err);
		}
	}

	if (nvme_bdf && *nvme_bdf) {
		struct dmk_pci *nvme;
		struct dmk_edu *bad;

		err = dmk_pci_open(sp, nvme_bdf, &nvme);
		if (!err) {
			err = dmk_edu_open(sp, nvme, NULL, &bad);
			result(err == -ENODEV, "edu-open-not-edu", "got %d", err);
			dmk_pci_close(nvme);
		}
	}

	SETUP(dmk_region_unregister(r), "unregister");
	free(buf);
	dmk_pci_close(dev);
	result(!dmk_space_destroy(sp), "destroy-1", "failed");
	return 0;
}

/*
 * Fill the free IOVA space below 2^28 with registrations of @fill_va (one
 * 2 MiB memfd mapped again and again), the space's reach set to 28 bits
 * meanwhile so that every filler lands below, then lifted again. Returns the
 * bytes registered.
 */
static uint64_t fill_low(struct dmk_space *sp, uint8_t *fill_va, size_t fill_len,
			 struct dmk_region **regs, size_t *nregs, size_t max)
{
	struct dmk_vfio_info vi;
	uint64_t total = 0;
	size_t at = 0, want = fill_len;
	int err;

	err = dmk_vfio_set_reach(sp, DMK_EDU_REACH_BITS);
	if (err) {
		printf("info: cannot limit the space to 2^28: %d (%s)\n", err, dmk_last_error());
		return 0;
	}
	while (*nregs < max && !dmk_vfio_info(sp, &vi) && vi.free_below_reach) {
		if (want > vi.free_below_reach)
			want = vi.free_below_reach;
		if (at + want > fill_len) {
			printf("info: filler VA exhausted\n");
			break;
		}
		err = dmk_region_register(sp, fill_va + at, want, DMK_PROT_READ, &regs[*nregs]);
		if (err == -ENOSPC && want > PAGE) {
			want = (want / 2) & ~(size_t)(PAGE - 1);
			continue;
		}
		if (err) {
			printf("info: filler registration of %zu bytes: %d (%s)\n", want, err,
			       dmk_last_error());
			break;
		}
		printf("info: filler %zu: %zu bytes at IOVA %#llx\n", *nregs, want,
		       (unsigned long long)dev_of(sp, fill_va + at));
		(*nregs)++;
		at += want;
		total += want;
	}
	dmk_vfio_info(sp, &vi);
	printf("info: %llu bytes left free below 2^28\n", (unsigned long long)vi.free_below_reach);
	dmk_vfio_set_reach(sp, 64);
	return total;
}

/* Phase 4: memory above 2^28, bounced. */
static int high_space(const char *bdf)
{
	const struct dmk_edu_opts opts = { .flags = DMK_EDU_NO_REACH };
	struct dmk_region *fregs[64], *rlo, *rhi;
	struct dmk_bounce_stats st;
	struct dmk_vfio_info vi;
	struct dmk_edu_xfer x;
	struct dmk_space *sp;
	struct dmk_pci *dev;
	struct dmk_edu *edu;
	size_t nf = 0, fill_len = R28, nb;
	uint8_t *lo, *hi, *fill_va, want[3500];
	uint64_t ilo, ihi, filled;
	struct iovec iov[3];
	struct dmk_mem *mem;
	int memfd, err;
	bool ok;

	SETUP(dmk_space_vfio_create(&sp), "create-2");
	SETUP(dmk_pci_open(sp, bdf, &dev), "open-2");
	err = dmk_edu_open(sp, dev, &opts, &edu);
	result(!err, "edu-open-no-reach", "got %d", err);
	if (err)
		return 2;
	dmk_vfio_info(sp, &vi);
	result(vi.reach == 64, "edu-no-reach-leaves-space-unlimited", "reach %u", vi.reach);
	SETUP(posix_memalign((void **)&lo, PAGE, 4 * PAGE), "alloc lo");
	SETUP(posix_memalign((void **)&hi, PAGE, 4 * PAGE), "alloc hi");
	memset(lo, 0, 4 * PAGE);
	memset(hi, 0, 4 * PAGE);
	SETUP(dmk_region_register(sp, lo, 4 * PAGE, DMK_PROT_RW, &rlo), "register lo");
	ilo = dev_of(sp, lo);

	/* The filler: one 2 MiB memfd mapped over 256 MiB of VA. */
	memfd = memfd_create("dmk-edu-filler", 0);
	if (memfd < 0 || ftruncate(memfd, SZ_2M)) {
		printf("FAIL filler: memfd: %s\n", strerror(errno));
		return 2;
	}
	fill_va = mmap(NULL, fill_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		       0);
	if (fill_va == MAP_FAILED) {
		printf("FAIL filler: VA: %s\n", strerror(errno));
		return 2;
	}
	for (size_t off = 0; off < fill_len; off += SZ_2M) {
		if (mmap(fill_va + off, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED |
			 MAP_POPULATE, memfd, 0) == MAP_FAILED) {
			printf("FAIL filler: mmap: %s\n", strerror(errno));
			return 2;
		}
	}
	filled = fill_low(sp, fill_va, fill_len, fregs, &nf, 64);
	printf("info: filled %llu bytes of IOVA below 2^28 in %zu registrations\n",
	       (unsigned long long)filled, nf);

	SETUP(dmk_region_register(sp, hi, 4 * PAGE, DMK_PROT_RW, &rhi), "register hi");
	ihi = dev_of(sp, hi);
	printf("info: low buffer at IOVA %#llx, high buffer at IOVA %#llx\n",
	       (unsigned long long)ilo, (unsigned long long)ihi);
	result(ilo + 4 * PAGE <= R28 && ihi >= R28, "edu-buffer-placed-above-2^28",
	       "low %#llx high %#llx", (unsigned long long)ilo, (unsigned long long)ihi);

	/* Without DMK_EDU_NO_REACH a space holding memory above 2^28 is refused. */
	{
		struct dmk_edu *e2 = NULL;

		err = dmk_edu_open(sp, dev, NULL, &e2);
		dmk_vfio_info(sp, &vi);
		result(err == -ERANGE && !e2 && vi.reach == 64, "edu-open-refuses-memory-above-2^28",
		       "got %d, reach %u", err, vi.reach);
	}

	/* All of a high buffer is bounced. */
	fill(hi + 100, 4095, 5);
	memcpy(want, hi + 100, 3500);
	err = dmk_edu_write(edu, 0, hi + 100, 4095);
	nb = show_last(edu, "edu-high-write", &x);
	ok = !err && x.bounced == 4095 && nb == x.nsegs && nb == x.bounce_segs;
	memset(hi, 0, 4 * PAGE);
	err = err ? err : dmk_edu_read(edu, 0, hi + PAGE + 1, 4095);
	nb = show_last(edu, "edu-high-read", &x);
	fill(want, 3500, 5);	/* the same pattern as written */
	result(ok && !err && x.bounced == 4095 && nb == x.nsegs &&
	       !memcmp(hi + PAGE + 1, want, 3500), "edu-high-buffer-bounced-roundtrip",
	       "err %d, bounced %llu in %zu of %zu segments", err,
	       (unsigned long long)x.bounced, nb, x.nsegs);

	/* An iovec over low and high memory: only the high piece is bounced. */
	iov[0] = (struct iovec){ lo + 10, 1000 };
	iov[1] = (struct iovec){ hi + 2 * PAGE + 5, 2000 };
	iov[2] = (struct iovec){ lo + 2 * PAGE + 3, 500 };
	fill(iov[0].iov_base, 1000, 1);
	fill(iov[1].iov_base, 2000, 2);
	fill(iov[2].iov_base, 500, 3);
	memcpy(want, iov[0].iov_base, 1000);
	memcpy(want + 1000, iov[1].iov_base, 2000);
	memcpy(want + 3000, iov[2].iov_base, 500);
	SETUP(dmk_mem_create(iov, 3, DMK_BIDIRECTIONAL, &mem), "mem");
	err = dmk_edu_write_mem(edu, 500, mem, 0, 3500);
	nb = show_last(edu, "edu-mixed-write", &x);
	ok = !err && x.bounced == 2000 && nb == 1 && x.nsegs == 3 &&
	     !dmk_edu_last(edu, NULL, NULL)[0].bounced && dmk_edu_last(edu, NULL, NULL)[1].bounced;
	for (int i = 0; i < 3; i++)
		memset(iov[i].iov_base, 0, iov[i].iov_len);
	err = err ? err : dmk_edu_read_mem(edu, 500, mem, 0, 3500);
	nb = show_last(edu, "edu-mixed-read", &x);
	ok = ok && !err && x.bounced == 2000 && nb == 1 &&
	     !memcmp(iov[0].iov_base, want, 1000) && !memcmp(iov[1].iov_base, want + 1000, 2000) &&
	     !memcmp(iov[2].iov_base, want + 3000, 500);
	result(ok, "edu-mixed-iovec-only-high-piece-bounced", "err %d, bounced %llu in %zu",
	       err, (unsigned long long)x.bounced, nb);
	dmk_mem_destroy(mem);

	err = dmk_edu_bounce_stats(edu, &st);
	printf("info: bounce pool: %llu bytes, %llu bounced, peak %llu, exhausted %llu\n",
	       (unsigned long long)st.size, (unsigned long long)st.bounced,
	       (unsigned long long)st.peak, (unsigned long long)st.exhausted);
	result(!err && st.bounced == 2 * 4095 + 2 * 2000 && st.in_use == 0, "edu-bounce-stats",
	       "err %d bounced %llu in use %llu", err, (unsigned long long)st.bounced,
	       (unsigned long long)st.in_use);

	result(!dmk_edu_close(edu), "edu-close-no-reach", "failed");
	for (size_t i = 0; i < nf; i++)
		dmk_region_unregister(fregs[i]);
	dmk_region_unregister(rlo);
	dmk_region_unregister(rhi);
	dmk_pci_close(dev);
	result(!dmk_space_destroy(sp), "destroy-2", "failed");
	munmap(fill_va, fill_len);
	close(memfd);
	free(lo);
	free(hi);
	return 0;
}

int main(void)
{
	const char *bdf = getenv("DMK_EDU_BDF"), *group = getenv("DMK_EDU_GROUP");
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!bdf) {
		printf("FAIL setup: DMK_EDU_BDF is not set\n");
		return 2;
	}
	printf("info: edu %s, IOMMU group %s\n", bdf, group ? group : "?");
	rc = default_space(bdf, getenv("DMK_NVME_BDF"));
	if (rc)
		return rc;
	rc = high_space(bdf);
	if (rc)
		return rc;
	printf("%s test_edu: %d failure%s\n", failures ? "FAIL" : "PASS", failures,
	       failures == 1 ? "" : "s");
	return failures ? 1 : 0;
}
