/* SPDX-License-Identifier: MIT */
/*
 * Guest test for the no-IOMMU boot (testbed/run --no-iommu): the NVMe
 * reference driver on QEMU's nvme bound to uio_pci_generic, opened with
 * dmk_pci_open_uio() in a phys space. The controller sees physical
 * addresses: posix_memalign buffers (4 KiB pages, physically scattered)
 * go out as PRP lists and SGLs of their frames; the driver's queues lie in
 * one 2 MiB huge page. Completions are polled (no interrupts through uio).
 *
 * What was written is stated in DMKCHECK lines for the host to check in
 * the backing file. Patterns are 13 bytes long (a prime), so a page that
 * lands at the wrong place changes the bytes.
 *
 * Environment: DMK_NVME_BDF (required), DMK_NVME_IMAGE_SIZE.
 * Prints "PASS name" or "FAIL name: why" per check; exits 1 when any
 * failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/mem.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

#define BUF_LEN (2u * 1024 * 1024)	/* bufa and bufb */
#include "vmnvme.h"

static struct dmk_space *sp;
static struct dmk_pci *pci;
static struct dmk_nvme_info info;

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* The driver's queues need one 2 MiB huge page in a phys space. */
static void reserve_huge_page(void)
{
	const char *nr = "/proc/sys/vm/nr_hugepages";
	long have = read_long(nr);
	long free_pages = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	FILE *f;

	if (free_pages >= 1)
		return;
	f = fopen(nr, "w");
	if (f) {
		fprintf(f, "%ld\n", have + 1);
		fclose(f);
	}
	printf("  vm.nr_hugepages %ld -> %ld\n", have, read_long(nr));
}

/* What a uio device offers and refuses, before the driver takes it. */
static void test_uio_device(void)
{
	unsigned n = 1;
	int efd = -1;
	void *bar;
	size_t len = 0;
	uint16_t ids[2] = { 0, 0 };
	int err;

	err = dmk_pci_config_read(pci, 0, ids, sizeof(ids));
	result(!err && ids[0] == 0x1b36 && ids[1] == 0x0010, "uio-config",
	       "vendor:device %04x:%04x -> %d", ids[0], ids[1], err);
	err = dmk_pci_map_bar(pci, 0, &bar, &len);
	result(!err && len >= 0x2000, "uio-bar0", "BAR0 %zu bytes -> %d", len, err);
	err = dmk_pci_irq_count(pci, DMK_PCI_IRQ_MSIX, &n);
	result(!err && n == 0, "uio-no-msix", "%u MSI-X vectors -> %d", n, err);
	err = dmk_pci_irq_enable(pci, DMK_PCI_IRQ_MSIX, 1, &efd);
	result(err == -ENOTSUP, "uio-msix-refused", "dmk_pci_irq_enable -> %d", err);
	err = dmk_pci_reset(pci);
	result(err == -ENOTSUP, "uio-reset-refused", "dmk_pci_reset -> %d", err);
	err = dmk_pci_set_reach(pci, 64);
	result(!err, "uio-reach", "dmk_pci_set_reach(64) -> %d", err);
}

/* Refused opens: MSI-X through uio, a space that is not phys. */
static void test_open_refused(void)
{
	struct dmk_nvme_opts o;
	struct dmk_nvme *c = NULL;
	struct dmk_space *sim = NULL;
	int err;

	dmk_nvme_opts_init(&o);
	o.use_msix = 1;
	err = dmk_nvme_open(sp, pci, &o, &c);
	result(err == -ENOTSUP && !c, "open-msix-refused", "use_msix -> %d", err);
	if (dmk_space_sim_create(NULL, &sim) == 0) {
		err = dmk_nvme_open(sim, pci, NULL, &c);
		result(err == -EINVAL && !c, "open-sim-space-refused", "sim space -> %d", err);
		dmk_space_destroy(sim);
	}
}

static void test_ranges(void)
{
	static const size_t lens[] = {
		512, 4096, 1536, 8192, 12800, 65536, 4608, 131072, 3584, 1048576, 520192, 7680,
	};
	size_t ba = phys_breaks(bufa, BUF_LEN), bb = phys_breaks(bufb, BUF_LEN);
	bool ok = true;

	printf("  buffers: %zu and %zu breaks in physical contiguity over %u pages\n", ba, bb,
	       BUF_LEN / 4096);
	if (!ba && !bb)
		printf("  note: both buffers are physically contiguous this time; PRP lists still list every page\n");
	/* PRP and SGL in turn, each buffer the source in turn. */
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]) && ok; i++)
		ok = roundtrip("ranges", take_lbas(lens[i]), i % 4 < 2 ? bufa : bufb,
			       i % 4 < 2 ? bufb : bufa, lens[i], 100 + (unsigned)i,
			       i % 2 ? DMK_NVME_IO_SGL : DMK_NVME_IO_PRP,
			       i % 2 ? DMK_NVME_IO_SGL : DMK_NVME_IO_PRP);
	if (ok)
		result(true, "ranges", "-");
}

static void test_unaligned(void)
{
	bool ok;

	ok = roundtrip("unaligned-prp", take_lbas(3 * 4096 + 512), bufa + 4, bufb + 1028,
		       3 * 4096 + 512, 200, DMK_NVME_IO_PRP, DMK_NVME_IO_PRP);
	if (ok)
		result(true, "unaligned-prp", "-");
	ok = roundtrip("unaligned-sgl", take_lbas(5 * 4096 + 1024), bufa + 1, bufb + 4093,
		       5 * 4096 + 1024, 201, DMK_NVME_IO_SGL, DMK_NVME_IO_SGL);
	if (ok)
		result(true, "unaligned-sgl", "-");
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

	test_iovec("iovec-prp", prp, 3, DMK_NVME_IO_PRP, 300);
	test_iovec("iovec-sgl", sgl, 3, DMK_NVME_IO_SGL, 301);
}

/* Memory not registered is refused, never handed to the controller. */
static void test_unregistered(void)
{
	uint8_t *p = NULL;
	int err;

	if (posix_memalign((void **)&p, 4096, 8192))
		return;
	memset(p, 0, 8192);
	err = dmk_nvme_read_buf(ctrl, 0, 0, p, 4096, 0);
	result(err == -EFAULT, "unregistered-refused", "read into unregistered memory -> %d", err);
	free(p);
}

int main(void)
{
	const char *bdf = getenv("DMK_NVME_BDF");
	struct dmk_region *rega, *regb;
	struct dmk_nvme_opts o;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!bdf) {
		printf("FAIL setup: DMK_NVME_BDF is not set\n");
		return 2;
	}
	reserve_huge_page();
	SETUP(dmk_space_phys_create(&sp), "setup");
	SETUP(dmk_pci_open_uio(bdf, &pci), "setup");
	test_uio_device();
	test_open_refused();
	dmk_nvme_opts_init(&o);
	o.queue_depth = 32;
	SETUP(dmk_nvme_open(sp, pci, &o, &ctrl), "open");
	dmk_nvme_info(ctrl, &info);
	bs = info.lba_size;
	printf("  controller %04x '%s' NVMe %u.%u, %" PRIu64 " blocks of %u bytes, MDTS %" PRIu64 " KiB, SGL %s, %u queue(s) of %u, %s\n",
	       info.vid, info.model, info.version >> 16, (info.version >> 8) & 0xff, info.nlba,
	       info.lba_size, info.mdts / KiB, info.sgl ? "yes" : "no", info.io_queues,
	       info.queue_depth, info.msix ? "MSI-X" : "polled");
	result(!info.msix && bs == 512, "open", "msix %d, LBA size %u", info.msix, bs);
	if (posix_memalign((void **)&bufa, 4096, BUF_LEN) ||
	    posix_memalign((void **)&bufb, 4096, BUF_LEN))
		return 2;
	memset(bufa, 0, BUF_LEN);
	memset(bufb, 0, BUF_LEN);
	SETUP(dmk_region_register(sp, bufa, BUF_LEN, DMK_PROT_RW, &rega), "setup");
	SETUP(dmk_region_register(sp, bufb, BUF_LEN, DMK_PROT_RW, &regb), "setup");

	test_ranges();
	test_unaligned();
	test_iovecs();
	test_unregistered();

	{
		struct dmk_nvme_stats s;

		dmk_nvme_stats(ctrl, &s);
		printf("  totals: %" PRIu64 " commands, %" PRIu64 " errors, %" PRIu64 " bytes, %" PRIu64 " PRP / %" PRIu64 " SGL, %" PRIu64 " split, %" PRIu64 " segments\n",
		       s.commands, s.errors, s.bytes, s.prp_commands, s.sgl_commands, s.split,
		       s.segments);
		result(s.errors == 0 && s.prp_commands && s.sgl_commands, "stats",
		       "%" PRIu64 " errors", s.errors);
	}
	result(dmk_nvme_close(ctrl) == 0, "close", "-");
	result(dmk_region_unregister(rega) == 0 && dmk_region_unregister(regb) == 0,
	       "unregister", "-");
	dmk_pci_close(pci);
	result(dmk_space_destroy(sp) == 0, "space-destroy", "regions or commands left");
	free(bufa);
	free(bufb);
	printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
