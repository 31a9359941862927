/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): the NVMe reference driver (<dmakit/nvme.h>)
 * against QEMU's nvme device behind the emulated VT-d IOMMU.
 *
 * Data goes between posix_memalign buffers (4 KiB pages, physically
 * scattered in the guest) and the namespace with zero copy, through PRPs
 * and SGLs; what was written is stated in DMKCHECK lines so that the host
 * checks the backing file after the VM powers off. Patterns are 13 bytes
 * long (a prime): a page landing at the wrong place changes the bytes.
 *
 * Environment: DMK_NVME_BDF (required), DMK_NVME_IMAGE_SIZE.
 * Prints one "PASS name" or "FAIL name: why" line per check; exits 1 when
 * any failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#include "drivers/nvme/debug.h"	/* hold the doorbells: commands that never complete */

#define BUF_LEN (4u * 1024 * 1024)	/* bufa and bufb, registered once */
#include "vmnvme.h"

static struct dmk_space *sp;
static struct dmk_pci *pci;
static struct dmk_nvme_info info;

static void *alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len))
		return NULL;
	memset(p, 0, len);
	return p;
}

static struct dmk_nvme_stats stats(void)
{
	struct dmk_nvme_stats st;

	dmk_nvme_stats(ctrl, &st);
	return st;
}

/* The main buffers: 4 MiB each, registered once. */
static struct dmk_region *rega, *regb;

static void test_identify(void)
{
	const char *env = getenv("DMK_NVME_IMAGE_SIZE");
	uint64_t img = env ? strtoull(env, NULL, 0) : 0;

	printf("  controller %04x '%s' '%s' fw '%s' NVMe %u.%u, MQES %u, DSTRD %u, CAP.TO %u ms\n",
	       info.vid, info.model, info.serial, info.firmware, info.version >> 16,
	       (info.version >> 8) & 0xff, info.mqes, info.dstrd, info.ready_timeout_ms);
	printf("  namespace %u: %" PRIu64 " blocks of %u bytes; MDTS %" PRIu64 " KiB, max transfer %" PRIu64 " KiB, SGL %s, %u I/O queue(s) of %u\n",
	       info.nsid, info.nlba, info.lba_size, info.mdts / KiB, info.max_transfer / KiB,
	       info.sgl ? (info.sgl_dword_aligned ? "yes (dword)" : "yes (byte)") : "no",
	       info.io_queues, info.queue_depth);
	result(info.lba_size == 512 && (!img || info.nlba * info.lba_size == img),
	       "identify-namespace", "LBA size %u, %" PRIu64 " blocks, image %" PRIu64 " bytes",
	       info.lba_size, info.nlba, img);
	result(info.mdts == 512 * KiB && info.max_transfer == 512 * KiB, "identify-mdts",
	       "MDTS %" PRIu64 ", max transfer %" PRIu64 " (QEMU: MDTS 7 = 512 KiB)", info.mdts,
	       info.max_transfer);
	result(info.sgl && !info.sgl_dword_aligned, "identify-sgl",
	       "SGLS says sgl %d dword %d (QEMU: supported, no alignment)", info.sgl,
	       info.sgl_dword_aligned);
}

/* Many LBA ranges, lengths from one block to 1 MiB, PRP and SGL in turn. */
static void test_many_ranges(void)
{
	static const size_t lens[] = {
		512, 4096, 1536, 8192, 12800, 65536, 4608, 131072, 262144, 3584,
		1048576, 520192, 512 * 3, 40960, 200704, 7680,
	};
	struct dmk_nvme_stats s0 = stats(), s1;
	bool ok = true;
	size_t n = sizeof(lens) / sizeof(lens[0]);

	printf("  buffers: %zu and %zu breaks in physical contiguity over %u pages\n",
	       phys_breaks(bufa, BUF_LEN), phys_breaks(bufb, BUF_LEN), BUF_LEN / 4096);
	for (size_t i = 0; i < n && ok; i++) {
		unsigned fl = i % 2 ? DMK_NVME_IO_SGL : DMK_NVME_IO_PRP;

		ok = roundtrip("many-ranges", take_lbas(lens[i]), bufa, bufb, lens[i], 100 + (unsigned)i,
			       fl, fl);
	}
	s1 = stats();
	if (ok)
		result(s1.bounced == s0.bounced && s1.prp_commands > s0.prp_commands &&
		       s1.sgl_commands > s0.sgl_commands, "many-ranges",
		       "bounced %" PRIu64 " bytes, %" PRIu64 " PRP and %" PRIu64 " SGL commands",
		       s1.bounced - s0.bounced, s1.prp_commands - s0.prp_commands,
		       s1.sgl_commands - s0.sgl_commands);
}

/* Buffers not page-aligned: PRP from a dword offset, SGL from odd bytes. */
static void test_unaligned(void)
{
	struct dmk_nvme_stats s0 = stats(), s1;
	bool ok;

	ok = roundtrip("unaligned-prp", take_lbas(3 * 4096 + 512), bufa + 4, bufb + 1028,
		       3 * 4096 + 512, 200, DMK_NVME_IO_PRP, DMK_NVME_IO_PRP);
	ok = ok && roundtrip("unaligned-prp", take_lbas(9 * 512), bufa + 4096 - 12, bufb + 2048 + 4,
			     9 * 512, 201, DMK_NVME_IO_PRP, DMK_NVME_IO_PRP);
	s1 = stats();
	if (ok)
		result(s1.bounced == s0.bounced, "unaligned-prp", "%" PRIu64 " bytes bounced",
		       s1.bounced - s0.bounced);
	s0 = s1;
	ok = roundtrip("unaligned-sgl", take_lbas(5 * 4096 + 1024), bufa + 1, bufb + 4093,
		       5 * 4096 + 1024, 202, DMK_NVME_IO_SGL, DMK_NVME_IO_SGL);
	ok = ok && roundtrip("unaligned-sgl", take_lbas(512), bufa + 4095, bufb + 3, 512, 203,
			     DMK_NVME_IO_SGL, DMK_NVME_IO_SGL);
	s1 = stats();
	if (ok)
		result(s1.bounced == s0.bounced, "unaligned-sgl", "%" PRIu64 " bytes bounced",
		       s1.bounced - s0.bounced);
	/* PRP from an odd address cannot go in place, and there is no pool. */
	{
		int err = dmk_nvme_write_buf(ctrl, 0, take_lbas(512), bufa + 1, 512, DMK_NVME_IO_PRP);

		result(err == -EINVAL, "unaligned-prp-refused",
		       "PRP write from an odd address without a bounce pool -> %d, want -EINVAL", err);
		printf("  (%s)\n", dmk_last_error());
	}
}

static void test_iovecs(void)
{
	/* PRP: the first piece ends on a page, later ones start on one. */
	const struct iovec prp[] = {
		{ bufa + 1024, 3072 },
		{ bufa + 64 * KiB, 8192 },
		{ bufa + 128 * KiB, 1536 },
	};
	/* SGL: any bytes. */
	const struct iovec sgl[] = {
		{ bufa + 256 * KiB + 3, 700 },
		{ bufa + 300 * KiB + 1001, 5000 },
		{ bufa + 400 * KiB + 7, 444 },
	};
	struct iovec many[40];

	test_iovec("iovec-prp", prp, 3, DMK_NVME_IO_PRP, 300);
	test_iovec("iovec-sgl", sgl, 3, DMK_NVME_IO_SGL, 301);
	/* 40 pieces of 512 bytes, one per page, a 1-byte offset each: SGL. */
	for (int i = 0; i < 40; i++) {
		many[i].iov_base = bufa + 512 * KiB + (size_t)i * 8192 + 1 + (size_t)i;
		many[i].iov_len = 512;
	}
	test_iovec("iovec-sgl-40", many, 40, DMK_NVME_IO_SGL, 302);
}

/*
 * 512 pieces of 601 bytes at odd offsets, one a page: more data blocks than
 * one SGL command carries (256), and 256 pieces end inside a block, so the
 * driver cuts each command back to a block boundary.
 */
static void test_iovec_many(void)
{
	enum { N = 512, L = 601 };
	uint8_t *d = alloc((size_t)N * 4096);
	struct dmk_region *r = NULL;
	struct iovec *iov = calloc(N, sizeof(*iov));
	struct dmk_nvme_stats s0, s1;

	if (!d || !iov || dmk_region_register(sp, d, (size_t)N * 4096, DMK_PROT_RW, &r)) {
		result(false, "iovec-sgl-512", "set-up failed");
		goto out;
	}
	for (int i = 0; i < N; i++) {
		iov[i].iov_base = d + (size_t)i * 4096 + (size_t)(i % 61) + 1;
		iov[i].iov_len = L;
	}
	s0 = stats();
	test_iovec("iovec-sgl-512", iov, N, DMK_NVME_IO_SGL, 303);
	s1 = stats();
	/* Write, read contiguous, read scattered: the scattered ones split. */
	result(s1.split - s0.split >= 2, "iovec-sgl-512-split", "%" PRIu64 " transfers split",
	       s1.split - s0.split);
out:
	if (r)
		dmk_region_unregister(r);
	free(iov);
	free(d);
}

/*
 * Pages registered one by one, even pages first: their IOVAs are not
 * contiguous, so the controller gets a real PRP list (and an SGL) of
 * scattered device pages, in the buffer's order.
 */
static void test_scattered_iova(void)
{
	enum { PAGES = 256 };
	uint8_t *c = alloc((size_t)(PAGES + 1) * 4096);
	struct dmk_region *regs[PAGES + 1] = { 0 };
	size_t len = (size_t)PAGES * 4096 - 512, breaks = 0;
	uint64_t prev = 0;
	bool ok = c != NULL;

	for (int pass = 0; pass < 2 && ok; pass++)
		for (int i = pass; i <= PAGES && ok; i += 2)
			ok = !dmk_region_register(sp, c + (size_t)i * 4096, 4096, DMK_PROT_RW, &regs[i]);
	for (int i = 0; ok && i <= PAGES; i++) {
		uint64_t dev = 0;

		dmk_space_translate(sp, c + (size_t)i * 4096, &dev);
		if (i && dev != prev + 4096)
			breaks++;
		prev = dev;
	}
	printf("  scattered: %zu of %d page steps are not IOVA-contiguous\n", breaks, PAGES);
	if (!ok || breaks < PAGES / 4) {
		result(false, "scattered-iova", "set-up: registered %s, %zu breaks",
		       ok ? "all" : "not all", breaks);
	} else {
		struct dmk_nvme_stats s0 = stats(), s1;

		ok = roundtrip("scattered-iova-prp", take_lbas(len), c + 256, bufb, len, 800,
			       DMK_NVME_IO_PRP, DMK_NVME_IO_PRP) &&
		     roundtrip("scattered-iova-sgl", take_lbas(len), bufa, c + 3, len, 801,
			       DMK_NVME_IO_SGL, DMK_NVME_IO_SGL) &&
		     roundtrip("scattered-iova-mixed", take_lbas(len), c + 4, bufb + 1, len, 802,
			       DMK_NVME_IO_PRP, DMK_NVME_IO_SGL);
		s1 = stats();
		if (ok)
			result(s1.segments - s0.segments > 3 * (uint64_t)breaks && s1.bounced == s0.bounced,
			       "scattered-iova", "%" PRIu64 " segments, %" PRIu64 " bounced",
			       s1.segments - s0.segments, s1.bounced - s0.bounced);
	}
	for (int i = 0; i <= PAGES; i++)
		if (regs[i])
			dmk_region_unregister(regs[i]);
	free(c);
}

/* More than MDTS: split into several commands; exactly the largest: one. */
static void test_big(void)
{
	struct dmk_nvme_stats s0 = stats(), s1;
	size_t big = 3 * MiB + 4096 + 512;

	if (roundtrip("above-mdts", take_lbas(big), bufa, bufb, big, 400, DMK_NVME_IO_PRP,
		      DMK_NVME_IO_SGL)) {
		s1 = stats();
		/* 3 MiB + 4.5 KiB at 512 KiB a command: 7 writes and 7 reads. */
		result(s1.commands - s0.commands == 14 && s1.split - s0.split == 2, "above-mdts",
		       "%" PRIu64 " commands, %" PRIu64 " split, want 14 and 2",
		       s1.commands - s0.commands, s1.split - s0.split);
	}
	s0 = stats();
	if (roundtrip("largest-transfer", take_lbas(info.max_transfer), bufa + 8, bufb + 12,
		      info.max_transfer, 401, DMK_NVME_IO_PRP, DMK_NVME_IO_PRP)) {
		s1 = stats();
		result(s1.commands - s0.commands == 2 && s1.split == s0.split, "largest-transfer",
		       "%" PRIu64 " bytes took %" PRIu64 " commands, want 2 (one each way)",
		       (uint64_t)info.max_transfer, s1.commands - s0.commands);
	}
}

/* The same data through SGL and through PRP. */
static void test_sgl_prp(void)
{
	size_t len = 96 * KiB + 512;
	uint64_t lba = take_lbas(len);
	uint8_t *c = bufb + 2 * MiB;

	if (!roundtrip("sgl-then-prp", lba, bufa, bufb, len, 500, DMK_NVME_IO_SGL, DMK_NVME_IO_PRP))
		return;
	memset(c, 0, len);
	if (dmk_nvme_read_buf(ctrl, 0, lba, c, len, DMK_NVME_IO_SGL) || memcmp(c, bufa, len)) {
		result(false, "sgl-and-prp-same", "SGL read differs from the PRP read");
		return;
	}
	result(true, "sgl-and-prp-same", "-");
}

static void test_refusals(void)
{
	uint8_t *u = alloc(64 * KiB);
	uint32_t cmd[16] = { 0 };
	int err;

	err = dmk_nvme_read_buf(ctrl, 0, 0, u, 8192, 0);
	result(err == -EFAULT, "unregistered-refused", "read into unregistered memory -> %d, want -EFAULT", err);
	printf("  (%s)\n", dmk_last_error());
	err = dmk_nvme_read_buf(ctrl, 0, info.nlba - 1, bufb, 1024, 0);
	result(err == -ERANGE, "beyond-namespace", "read past the end -> %d, want -ERANGE", err);
	err = dmk_nvme_read_buf(ctrl, 0, 0, bufb, 700, 0);
	result(err == -EINVAL, "partial-block", "read of 700 bytes -> %d, want -EINVAL", err);
	/* The device's own answer: a raw read past the end. */
	cmd[0] = 0x02;
	cmd[1] = info.nsid;
	{
		uint64_t dev = 0;

		dmk_space_translate(sp, bufb, &dev);
		cmd[6] = (uint32_t)dev;
		cmd[7] = (uint32_t)(dev >> 32);
	}
	cmd[10] = (uint32_t)info.nlba;
	cmd[11] = (uint32_t)(info.nlba >> 32);
	err = dmk_nvme_passthru(ctrl, 0, cmd, 0, NULL);
	result(err == -EIO && strstr(dmk_last_error(), "LBA Out of Range"), "status-decoded",
	       "raw read past the end -> %d", err);
	printf("  (%s)\n", dmk_last_error());
	free(u);
}

/* /dev/kmsg at its end, to see the IOMMU's fault reports. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static bool kmsg_fault(int fd, uint64_t iova)
{
	char want[64], rec[2048];
	struct timespec t0, t;

	snprintf(want, sizeof(want), "fault addr 0x%" PRIx64, iova);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 3)
			return false;
		if (n < 0) {
			if (errno == EAGAIN)
				usleep(20000);
			else if (errno != EPIPE)
				return false;
			continue;
		}
		rec[n] = 0;
		if (strstr(rec, "DMAR"))
			printf("  kmsg: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
		if (strstr(rec, want))
			return true;
	}
}

/* A raw Read of @nlb blocks at LBA 64 (written by many-ranges). */
static void raw_read(uint32_t cmd[16], unsigned nlb)
{
	memset(cmd, 0, 16 * sizeof(uint32_t));
	cmd[0] = 0x02;
	cmd[1] = info.nsid;
	cmd[10] = 64;
	cmd[12] = nlb - 1;
}

static void set64(uint32_t *dw, uint64_t v)
{
	dw[0] = (uint32_t)v;
	dw[1] = (uint32_t)(v >> 32);
}

/* No byte of bufb's first 3 pages but those of page @skip (or none: 3) changed from 0x5a. */
static bool guard_ok(int skip)
{
	for (size_t i = 0; i < 3 * 4096; i++)
		if ((int)(i / 4096) != skip && bufb[i] != 0x5a)
			return false;
	return true;
}

/*
 * Make the device DMA to IOVAs that are not mapped, with raw commands: data
 * pages unmapped (the IOMMU refuses the writes; QEMU's nvme does not check
 * data DMA and completes with success, so the evidence is the IOMMU's
 * fault record and the untouched buffer), and a PRP list or an SGL segment
 * that the controller must fetch from an unmapped IOVA (it fails the
 * command: an NVMe status). Nothing hangs, no byte outside what the command
 * names changes, and the queue goes on working.
 */
static void test_faults(void)
{
	const uint64_t bad = UINT64_C(0x3000000000);	/* 192 GiB: nothing is mapped there */
	uint32_t cmd[16];
	uint64_t dev = 0;
	int kfd = kmsg_open(), err;

	memset(bufb, 0x5a, 3 * 4096);
	raw_read(cmd, 8);
	set64(&cmd[6], bad);
	err = dmk_nvme_passthru(ctrl, 0, cmd, 5000, NULL);
	printf("  read to unmapped PRP1 %#" PRIx64 " -> %d (%s)\n", bad, err,
	       err ? dmk_last_error() : "the controller reports success: QEMU does not check data DMA");
	result((err == 0 || err == -EIO) && guard_ok(3), "fault-unmapped-data",
	       "-> %d, buffer %s", err, guard_ok(3) ? "untouched" : "CHANGED");
	if (kfd >= 0)
		result(kmsg_fault(kfd, bad), "fault-iommu-logged",
		       "no DMAR fault for %#" PRIx64 " in /dev/kmsg", bad);

	/* PRP1: the second page of bufb; PRP2: an unmapped data page. */
	memset(bufb, 0x5a, 3 * 4096);
	dmk_space_translate(sp, bufb + 4096, &dev);
	raw_read(cmd, 16);
	set64(&cmd[6], dev);
	set64(&cmd[8], bad + 4096);
	err = dmk_nvme_passthru(ctrl, 0, cmd, 5000, NULL);
	result((err == 0 || err == -EIO) && guard_ok(1) && bufb[4096] != 0x5a,
	       "fault-unmapped-prp2", "-> %d, bytes around the page %s", err,
	       guard_ok(1) ? "untouched" : "CHANGED");

	/* Three pages: PRP2 is a PRP list, at an unmapped IOVA. */
	memset(bufb, 0x5a, 3 * 4096);
	raw_read(cmd, 24);
	set64(&cmd[6], dev);
	set64(&cmd[8], bad + 8192);
	err = dmk_nvme_passthru(ctrl, 0, cmd, 5000, NULL);
	result(err == -EIO && guard_ok(1), "fault-prp-list-unmapped",
	       "PRP list at an unmapped IOVA -> %d (want -EIO), bytes around %s", err,
	       guard_ok(1) ? "untouched" : "CHANGED");
	printf("  (%s)\n", dmk_last_error());

	/* SGL1: a Last Segment descriptor pointing at an unmapped IOVA. */
	if (info.sgl) {
		memset(bufb, 0x5a, 3 * 4096);
		raw_read(cmd, 16);
		cmd[0] |= 1u << 14;	/* PSDT 01b: SGL */
		set64(&cmd[6], bad + 12288);
		cmd[8] = 32;		/* two descriptors */
		cmd[9] = 0x30u << 24;	/* type 3: Last Segment */
		err = dmk_nvme_passthru(ctrl, 0, cmd, 5000, NULL);
		result(err == -EIO && guard_ok(3), "fault-sgl-segment-unmapped",
		       "SGL segment at an unmapped IOVA -> %d (want -EIO), buffer %s", err,
		       guard_ok(3) ? "untouched" : "CHANGED");
		printf("  (%s)\n", dmk_last_error());
	}
	/* And the queue still works. */
	result(roundtrip("after-fault", take_lbas(8192), bufa, bufb, 8192, 600, 0, 0), "after-fault",
	       "-");
	if (kfd >= 0)
		close(kfd);
}

/* A command that never completes (Asynchronous Event Request): -ETIMEDOUT. */
static void test_timeout(void)
{
	uint32_t cmd[16] = { 0 };
	struct timespec t0, t1;
	double ms;
	int err;

	cmd[0] = 0x0c;	/* Asynchronous Event Request */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = dmk_nvme_passthru(ctrl, -1, cmd, 300, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	result(err == -ETIMEDOUT && ms >= 290 && ms < 2000, "timeout",
	       "AER with a 300 ms timeout -> %d after %.0f ms", err, ms);
	printf("  (%s)\n", dmk_last_error());
	/* The admin queue still works: Identify Controller through passthrough. */
	{
		uint64_t dev = 0;

		dmk_space_translate(sp, bufb, &dev);
		memset(cmd, 0, sizeof(cmd));
		cmd[0] = 0x06;
		cmd[6] = (uint32_t)dev;
		cmd[7] = (uint32_t)(dev >> 32);
		cmd[10] = 1;
		memset(bufb, 0, 4096);
		err = dmk_nvme_passthru(ctrl, -1, cmd, 0, NULL);
		result(!err && bufb[0] == (info.vid & 0xff), "after-timeout",
		       "Identify after a timeout -> %d, VID byte %#x", err, bufb[0]);
	}
}

/* Unregistering a buffer while a read into it is in flight: -EBUSY. */
struct bg {
	uint8_t *buf;
	size_t len;
	volatile int started;
	int err;
};

static void *bg_read(void *arg)
{
	struct bg *b = arg;

	b->started = 1;
	b->err = dmk_nvme_read_buf(ctrl, 0, 0, b->buf, b->len, 0);
	return NULL;
}

static void test_unregister_busy(void)
{
	size_t len = 16 * MiB;
	uint8_t *buf = alloc(len);
	struct dmk_region *r = NULL;
	int busy = 0, tries;

	for (tries = 0; tries < 20 && !busy && buf; tries++) {
		struct bg b = { .buf = buf, .len = len };
		pthread_t th;
		int err = 0;

		if (dmk_region_register(sp, buf, len, DMK_PROT_RW, &r))
			break;
		pthread_create(&th, NULL, bg_read, &b);
		while (!b.started)
			;
		for (int i = 0; i < 1000000; i++) {
			err = dmk_region_unregister(r);
			if (err != -EBUSY)
				break;
			busy++;
			usleep(100);
		}
		pthread_join(th, NULL);
		if (busy) {
			result(err == 0 && b.err == 0, "unregister-busy",
			       "refused %d times while in flight, then %d; the read -> %d", busy, err, b.err);
			printf("  (refused %d times; the read of %zu MiB %s)\n", busy, len / MiB,
			       b.err ? "failed" : "completed");
			r = NULL;
		} else if (err) {
			dmk_region_unregister(r);
		}
	}
	if (!busy)
		result(false, "unregister-busy", "never saw -EBUSY in %d tries", tries);
	free(buf);
}

/*
 * Asynchronous commands: a queue filled with 4 KiB reads in reverse order,
 * -EAGAIN when it is full, every tag back once, the bytes right; a buffer
 * with a command not yet reaped cannot be unregistered (-EBUSY).
 */
static void test_async(void)
{
	enum { CH = 4096 };
	unsigned slots = info.queue_depth - 1, n = 0, seen = 0;
	size_t len = (size_t)slots * CH;
	uint64_t lba = take_lbas(len);
	struct dmk_nvme_done done[64];
	uint8_t pat[PAT_LEN];
	uint8_t *x = alloc(CH);
	struct dmk_region *rx = NULL;
	bool tags_ok = true;
	int err;

	pattern(pat, 900);
	fill_pat(bufa, len, pat);
	if (dmk_nvme_write_buf(ctrl, 0, lba, bufa, len, 0)) {
		result(false, "async-qd", "write of the reference data failed");
		return;
	}
	dmkcheck_pat(lba * bs, len, pat);
	memset(bufb, 0, len);
	for (unsigned i = 0; i < slots; i++) {
		unsigned k = slots - 1 - i;

		err = dmk_nvme_submit_buf(ctrl, 0, DMK_NVME_OP_READ, lba + (uint64_t)k * CH / bs,
					  bufb + (size_t)k * CH, CH, i % 2 ? DMK_NVME_IO_SGL : DMK_NVME_IO_PRP, k);
		if (err) {
			result(false, "async-qd", "submit %u of %u -> %d", i, slots, err);
			return;
		}
	}
	err = dmk_nvme_submit_buf(ctrl, 0, DMK_NVME_OP_READ, lba, bufb, CH, 0, 999);
	result(err == -EAGAIN, "async-full", "submit into a full queue -> %d, want -EAGAIN", err);
	while (seen < slots) {
		if (dmk_nvme_reap(ctrl, 0, done, 64, slots - seen, &n) || !n)
			break;
		for (unsigned i = 0; i < n; i++) {
			if (done[i].err || done[i].tag >= slots)
				tags_ok = false;
		}
		seen += n;
	}
	result(seen == slots && tags_ok && !memcmp(bufa, bufb, len), "async-qd",
	       "%u of %u reaped, tags %s, data %s", seen, slots, tags_ok ? "ok" : "wrong",
	       memcmp(bufa, bufb, len) ? "differs" : "same");
	err = dmk_nvme_submit_buf(ctrl, 0, DMK_NVME_OP_READ, lba, bufb, 2 * info.max_transfer, 0, 1);
	result(err == -E2BIG, "async-too-big", "submit of twice the largest transfer -> %d", err);

	/* Unregister while a read into the buffer is not reaped: -EBUSY. */
	if (!x || dmk_region_register(sp, x, CH, DMK_PROT_RW, &rx)) {
		result(false, "unregister-busy-async", "set-up failed");
		return;
	}
	err = dmk_nvme_submit_buf(ctrl, 0, DMK_NVME_OP_READ, lba, x, CH, 0, 7);
	if (!err) {
		int busy = dmk_region_unregister(rx), after;

		printf("  (unregister with a read in flight: %d, %s)\n", busy, dmk_last_error());
		dmk_nvme_reap(ctrl, 0, done, 1, 1, &n);
		after = dmk_region_unregister(rx);
		result(busy == -EBUSY && n == 1 && !done[0].err && after == 0 &&
		       !memcmp(x, bufa, CH), "unregister-busy-async",
		       "unregister in flight -> %d, reaped %u (%d), then unregister -> %d", busy, n,
		       n ? done[0].err : 0, after);
	} else {
		result(false, "unregister-busy-async", "submit -> %d", err);
		dmk_region_unregister(rx);
	}
	free(x);
}

/* Reopen with MSI-X and a bounce pool: completions by eventfd; PRP from an odd address bounces. */
static int test_msix(void)
{
	struct dmk_nvme_opts o;
	struct dmk_nvme_stats s0, s1;

	dmk_nvme_close(ctrl);
	ctrl = NULL;
	dmk_nvme_opts_init(&o);
	o.use_msix = 1;
	o.io_queues = 2;
	o.queue_depth = 16;
	o.bounce_size = 256 * KiB;
	SETUP(dmk_nvme_open(sp, pci, &o, &ctrl), "reopen-msix");
	dmk_nvme_info(ctrl, &info);
	s0 = stats();
	if (roundtrip("msix", take_lbas(1 * MiB), bufa, bufb, 1 * MiB, 700, 0, 0)) {
		s1 = stats();
		result(info.msix && s1.interrupts > s0.interrupts && info.io_queues == 2, "msix",
		       "msix %d, %" PRIu64 " interrupts, %u queues", info.msix,
		       s1.interrupts - s0.interrupts, info.io_queues);
	}
	s0 = stats();
	if (roundtrip("bounce-prp", take_lbas(3 * 4096), bufa + 1, bufb + 3, 3 * 4096, 701,
		      DMK_NVME_IO_PRP, DMK_NVME_IO_PRP)) {
		s1 = stats();
		result(s1.bounced > s0.bounced, "bounce-prp", "%" PRIu64 " bytes bounced",
		       s1.bounced - s0.bounced);
		printf("  (%" PRIu64 " bytes bounced for an odd-address PRP transfer, visibly)\n",
		       s1.bounced - s0.bounced);
	}
	/* Queue 1 too. */
	{
		uint8_t pat[PAT_LEN];
		uint64_t lba = take_lbas(64 * KiB);
		int err;

		pattern(pat, 702);
		fill_pat(bufa, 64 * KiB, pat);
		err = dmk_nvme_write_buf(ctrl, 1, lba, bufa, 64 * KiB, 0);
		if (!err)
			err = dmk_nvme_read_buf(ctrl, 1, lba, bufb, 64 * KiB, 0);
		result(!err && !memcmp(bufa, bufb, 64 * KiB), "second-queue", "-> %d", err);
		if (!err)
			dmkcheck_pat(lba * bs, 64 * KiB, pat);
	}
	return 0;
}

/* Two threads, each on its own I/O queue, at the same time. */
struct qthread {
	unsigned queue;
	uint64_t lba;
	uint8_t *src, *dst;
	size_t len;
	unsigned seed;
	int err;
	bool same;
};

static void *qthread_run(void *arg)
{
	struct qthread *t = arg;
	uint8_t pat[PAT_LEN];

	pattern(pat, t->seed);
	for (int round = 0; round < 8 && !t->err; round++) {
		fill_pat(t->src, t->len, pat);
		memset(t->dst, 0, t->len);
		t->err = dmk_nvme_write_buf(ctrl, t->queue, t->lba, t->src, t->len, 0);
		if (!t->err)
			t->err = dmk_nvme_read_buf(ctrl, t->queue, t->lba, t->dst, t->len, 0);
	}
	t->same = !t->err && !memcmp(t->src, t->dst, t->len);
	return NULL;
}

static void test_threads(void)
{
	struct qthread t[2];
	pthread_t th[2];

	for (unsigned i = 0; i < 2; i++) {
		t[i] = (struct qthread){ .queue = i, .len = 256 * KiB, .seed = 1000 + i };
		t[i].lba = take_lbas(t[i].len);
		t[i].src = bufa + (size_t)i * MiB;
		t[i].dst = bufb + (size_t)i * MiB;
		pthread_create(&th[i], NULL, qthread_run, &t[i]);
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	result(t[0].same && t[1].same, "two-queues-two-threads", "queue 0: %d %s, queue 1: %d %s",
	       t[0].err, t[0].same ? "same" : "differs", t[1].err, t[1].same ? "same" : "differs");
	for (unsigned i = 0; i < 2; i++)
		if (t[i].same) {
			uint8_t pat[PAT_LEN];

			pattern(pat, t[i].seed);
			dmkcheck_pat(t[i].lba * bs, t[i].len, pat);
		}
}

/* A controller opened with PRPs as its default uses them when a call does not choose. */
static int test_default_prp(void)
{
	struct dmk_nvme_opts o;
	struct dmk_nvme_stats s0, s1;
	int err;

	dmk_nvme_close(ctrl);
	ctrl = NULL;
	dmk_nvme_opts_init(&o);
	o.dptr = DMK_NVME_DPTR_PRP;
	SETUP(dmk_nvme_open(sp, pci, &o, &ctrl), "reopen-prp");
	dmk_nvme_info(ctrl, &info);
	s0 = stats();
	if (roundtrip("default-prp", take_lbas(40960), bufa + 16, bufb, 40960, 1100, 0, 0)) {
		s1 = stats();
		result(info.dptr == DMK_NVME_DPTR_PRP && s1.prp_commands - s0.prp_commands == 2 &&
		       s1.sgl_commands == s0.sgl_commands, "default-prp",
		       "dptr %d, %" PRIu64 " PRP and %" PRIu64 " SGL commands", (int)info.dptr,
		       s1.prp_commands - s0.prp_commands, s1.sgl_commands - s0.sgl_commands);
	}
	err = dmk_nvme_flush(ctrl, 0);
	result(!err, "flush", "-> %d", err);
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * I/O commands that never complete (the doorbells held back): a read fails
 * with -ETIMEDOUT after the controller's timeout, its buffer stays held
 * (unregister refuses it), an asynchronous read ends with -ETIMEDOUT too;
 * once the doorbell rings again the controller completes them, the driver
 * lets the buffer go, and the queue works on.
 */
static int test_io_timeout(void)
{
	struct dmk_nvme_opts o;
	struct dmk_nvme_done d;
	struct dmk_region *rx = NULL;
	struct timespec t0;
	uint8_t *x = alloc(8192);
	unsigned n = 0;
	double ms;
	int err, busy, after = -1;

	dmk_nvme_close(ctrl);
	ctrl = NULL;
	dmk_nvme_opts_init(&o);
	o.timeout_ms = 300;
	o.queue_depth = 8;
	SETUP(dmk_nvme_open(sp, pci, &o, &ctrl), "reopen-timeout");
	dmk_nvme_info(ctrl, &info);
	if (!x || dmk_region_register(sp, x, 8192, DMK_PROT_RW, &rx)) {
		result(false, "io-timeout", "set-up failed");
		return 0;
	}
	dmki_nvme_debug_hold_doorbells(true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = dmk_nvme_read_buf(ctrl, 0, 64, x, 8192, 0);
	ms = ms_since(&t0);
	result(err == -ETIMEDOUT && ms >= 290 && ms < 3000 &&
	       strstr(dmk_last_error(), "did not complete within 300 ms"), "io-timeout",
	       "read whose doorbell never rang -> %d after %.0f ms", err, ms);
	printf("  (%s)\n", dmk_last_error());
	busy = dmk_region_unregister(rx);
	result(busy == -EBUSY, "io-timeout-buffer-held",
	       "unregister of the buffer of a command given up on -> %d, want -EBUSY", busy);
	err = dmk_nvme_submit_buf(ctrl, 0, DMK_NVME_OP_READ, 64, bufb, 4096, 0, 42);
	if (!err)
		err = dmk_nvme_reap(ctrl, 0, &d, 1, 1, &n);
	result(!err && n == 1 && d.tag == 42 && d.err == -ETIMEDOUT, "async-timeout",
	       "submit/reap with the doorbell held -> %d, %u done, tag %" PRIu64 " err %d", err, n,
	       n ? d.tag : 0, n ? d.err : 0);
	dmki_nvme_debug_hold_doorbells(false);
	/* The next doorbell hands the lost commands over with the new one. */
	result(roundtrip("after-io-timeout", take_lbas(4096), bufa, bufb + 8192, 4096, 1200, 0, 0),
	       "after-io-timeout", "-");
	for (int i = 0; i < 50 && after; i++) {
		after = dmk_region_unregister(rx);
		if (after)
			dmk_nvme_flush(ctrl, 0);	/* waits on the queue: reaps late completions */
	}
	result(after == 0, "io-timeout-released",
	       "unregister after the lost commands completed -> %d", after);
	free(x);
	return 0;
}

int main(void)
{
	const char *bdf = getenv("DMK_NVME_BDF");
	struct dmk_nvme_opts o;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!bdf) {
		printf("FAIL setup: DMK_NVME_BDF is not set\n");
		return 2;
	}
	SETUP(dmk_space_vfio_create(&sp), "setup");
	SETUP(dmk_pci_open(sp, bdf, &pci), "setup");
	dmk_nvme_opts_init(&o);
	o.queue_depth = 32;
	SETUP(dmk_nvme_open(sp, pci, &o, &ctrl), "open");
	dmk_nvme_info(ctrl, &info);
	bs = info.lba_size;
	result(true, "open", "-");
	bufa = alloc(BUF_LEN);
	bufb = alloc(BUF_LEN);
	if (!bufa || !bufb)
		return 2;
	SETUP(dmk_region_register(sp, bufa, BUF_LEN, DMK_PROT_RW, &rega), "setup");
	SETUP(dmk_region_register(sp, bufb, BUF_LEN, DMK_PROT_RW, &regb), "setup");

	test_identify();
	test_many_ranges();
	test_unaligned();
	test_iovecs();
	test_iovec_many();
	test_scattered_iova();
	test_big();
	test_sgl_prp();
	test_refusals();
	test_faults();
	test_timeout();
	test_unregister_busy();
	test_async();
	if (test_msix())
		return 2;
	test_threads();
	if (test_default_prp())
		return 2;
	if (test_io_timeout())
		return 2;

	{
		struct dmk_nvme_stats s = stats();

		printf("  totals: %" PRIu64 " commands, %" PRIu64 " errors, %" PRIu64 " MiB, %" PRIu64 " PRP / %" PRIu64 " SGL, %" PRIu64 " split, %" PRIu64 " bytes bounced\n",
		       s.commands, s.errors, s.bytes / MiB, s.prp_commands, s.sgl_commands, s.split,
		       s.bounced);
	}
	result(dmk_nvme_close(ctrl) == 0, "close", "-");
	dmk_region_unregister(rega);
	dmk_region_unregister(regb);
	dmk_pci_close(pci);
	result(dmk_space_destroy(sp) == 0, "space-destroy", "regions or commands left");
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
